// Block quantizers on the CPU: OpenMP over blocks, each block by the code in
// num/block_quant.h that the CUDA kernels share. The plain reference is quant_reference.c.
#include <string.h>

#include "num/block_quant.h"
#include "num/checks_internal.h"
#include "vdit/num.h"

#define QUANT_PARALLEL_MIN 16384 // elements below which threads cost more than they give

static vdit_status check_shape_only(const char *what, size_t rows, size_t cols, int block, size_t *count) {
  if (cols == 0) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: the last dimension is 0", what);
  if (block > 0 && cols % (size_t)block != 0)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT,
                      "%s: the last dimension (%zu) must be a multiple of the %d-element block", what, cols, block);
  if (!vdit_size_mul(rows, cols, count))
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: %zu x %zu elements overflow the address space", what, rows, cols);
  return VDIT_OK;
}

vdit_status vdit_quant_check_shape(const char *what, size_t rows, size_t cols, int block, const void *in,
                                   const void *out, size_t *count) {
  *count = 0;
  VDIT_TRY(check_shape_only(what, rows, cols, block, count));
  if (*count > 0 && (!in || !out)) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: null pointer", what);
  return VDIT_OK;
}

vdit_status vdit_quant_mxfp8_element_kind(const char *what, vdit_dtype element, int *is_e5m2) {
  if (element == VDIT_DTYPE_F8_E4M3) *is_e5m2 = 0;
  else if (element == VDIT_DTYPE_F8_E5M2) *is_e5m2 = 1;
  else
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: MXFP8 elements are f8_e4m3 or f8_e5m2, not %s", what,
                      vdit_dtype_name(element));
  return VDIT_OK;
}

// ---------------------------------------------------------------- NVFP4
vdit_status vdit_quantize_nvfp4(size_t rows, size_t cols, const float *x, vdit_block_nvfp4 *blocks,
                                float *tensor_scale) {
  size_t n;
  VDIT_TRY(vdit_quant_check_shape("vdit_quantize_nvfp4", rows, cols, VDIT_NVFP4_BLOCK, x, blocks, &n));
  if (!tensor_scale) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_quantize_nvfp4: null tensor_scale");
  long long count = (long long)n;
  uint32_t amax = 0;
#pragma omp parallel for schedule(static) reduction(max : amax) if (n > QUANT_PARALLEL_MIN)
  for (long long i = 0; i < count; i++) amax = vdit_quant_max_u32(amax, vdit_quant_abs_bits(x[i]));
  float scale = vdit_quant_nvfp4_tensor_scale(amax);
  *tensor_scale = scale;
  long long block_count = count / VDIT_NVFP4_BLOCK;
#pragma omp parallel for schedule(static) if (n > QUANT_PARALLEL_MIN)
  for (long long b = 0; b < block_count; b++) vdit_quant_nvfp4_block(x + b * VDIT_NVFP4_BLOCK, scale, &blocks[b]);
  return VDIT_OK;
}

vdit_status vdit_dequantize_nvfp4(size_t rows, size_t cols, const vdit_block_nvfp4 *blocks,
                                  const float *tensor_scale, float *y) {
  size_t n;
  VDIT_TRY(vdit_quant_check_shape("vdit_dequantize_nvfp4", rows, cols, VDIT_NVFP4_BLOCK, blocks, y, &n));
  if (!tensor_scale) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_dequantize_nvfp4: null tensor_scale");
  float scale = *tensor_scale;
  long long block_count = (long long)(n / VDIT_NVFP4_BLOCK);
#pragma omp parallel for schedule(static) if (n > QUANT_PARALLEL_MIN)
  for (long long b = 0; b < block_count; b++)
    for (int i = 0; i < VDIT_NVFP4_BLOCK; i++)
      y[b * VDIT_NVFP4_BLOCK + i] = vdit_dequant_nvfp4_element(&blocks[b], scale, i);
  return VDIT_OK;
}

// ---------------------------------------------------------------- MX
vdit_status vdit_quantize_mxfp4(size_t rows, size_t cols, const float *x, vdit_block_mxfp4 *blocks) {
  size_t n;
  VDIT_TRY(vdit_quant_check_shape("vdit_quantize_mxfp4", rows, cols, VDIT_MX_BLOCK, x, blocks, &n));
  long long block_count = (long long)(n / VDIT_MX_BLOCK);
#pragma omp parallel for schedule(static) if (n > QUANT_PARALLEL_MIN)
  for (long long b = 0; b < block_count; b++) vdit_quant_mxfp4_block(x + b * VDIT_MX_BLOCK, &blocks[b]);
  return VDIT_OK;
}

vdit_status vdit_dequantize_mxfp4(size_t rows, size_t cols, const vdit_block_mxfp4 *blocks, float *y) {
  size_t n;
  VDIT_TRY(vdit_quant_check_shape("vdit_dequantize_mxfp4", rows, cols, VDIT_MX_BLOCK, blocks, y, &n));
  long long block_count = (long long)(n / VDIT_MX_BLOCK);
#pragma omp parallel for schedule(static) if (n > QUANT_PARALLEL_MIN)
  for (long long b = 0; b < block_count; b++)
    for (int i = 0; i < VDIT_MX_BLOCK; i++) y[b * VDIT_MX_BLOCK + i] = vdit_dequant_mxfp4_element(&blocks[b], i);
  return VDIT_OK;
}

vdit_status vdit_quantize_mxfp8(vdit_dtype element, size_t rows, size_t cols, const float *x,
                                vdit_block_mxfp8 *blocks) {
  size_t n;
  int is_e5m2;
  VDIT_TRY(vdit_quant_mxfp8_element_kind("vdit_quantize_mxfp8", element, &is_e5m2));
  VDIT_TRY(vdit_quant_check_shape("vdit_quantize_mxfp8", rows, cols, VDIT_MX_BLOCK, x, blocks, &n));
  long long block_count = (long long)(n / VDIT_MX_BLOCK);
#pragma omp parallel for schedule(static) if (n > QUANT_PARALLEL_MIN)
  for (long long b = 0; b < block_count; b++) vdit_quant_mxfp8_block(x + b * VDIT_MX_BLOCK, is_e5m2, &blocks[b]);
  return VDIT_OK;
}

vdit_status vdit_dequantize_mxfp8(vdit_dtype element, size_t rows, size_t cols,
                                  const vdit_block_mxfp8 *blocks, float *y) {
  size_t n;
  int is_e5m2;
  VDIT_TRY(vdit_quant_mxfp8_element_kind("vdit_dequantize_mxfp8", element, &is_e5m2));
  VDIT_TRY(vdit_quant_check_shape("vdit_dequantize_mxfp8", rows, cols, VDIT_MX_BLOCK, blocks, y, &n));
  long long block_count = (long long)(n / VDIT_MX_BLOCK);
#pragma omp parallel for schedule(static) if (n > QUANT_PARALLEL_MIN)
  for (long long b = 0; b < block_count; b++)
    for (int i = 0; i < VDIT_MX_BLOCK; i++)
      y[b * VDIT_MX_BLOCK + i] = vdit_dequant_mxfp8_element(&blocks[b], is_e5m2, i);
  return VDIT_OK;
}

// ---------------------------------------------------------------- INT8
vdit_status vdit_quantize_int8_rows(size_t rows, size_t cols, const float *x, int8_t *q, float *row_scales) {
  size_t n;
  VDIT_TRY(vdit_quant_check_shape("vdit_quantize_int8_rows", rows, cols, 0, x, q, &n));
  if (n > 0 && !row_scales) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_quantize_int8_rows: null row_scales");
  long long row_count = (long long)rows;
#pragma omp parallel for schedule(static) if (n > QUANT_PARALLEL_MIN)
  for (long long r = 0; r < row_count; r++) {
    const float *xr = x + (size_t)r * cols;
    uint32_t amax = 0;
    for (size_t c = 0; c < cols; c++) amax = vdit_quant_max_u32(amax, vdit_quant_abs_bits(xr[c]));
    float scale = vdit_quant_int8_scale(amax);
    row_scales[r] = scale;
    for (size_t c = 0; c < cols; c++) q[(size_t)r * cols + c] = vdit_quant_int8_element(xr[c], scale);
  }
  return VDIT_OK;
}

vdit_status vdit_dequantize_int8_rows(size_t rows, size_t cols, const int8_t *q, const float *row_scales,
                                      float *y) {
  size_t n;
  VDIT_TRY(vdit_quant_check_shape("vdit_dequantize_int8_rows", rows, cols, 0, q, y, &n));
  if (n > 0 && !row_scales) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_dequantize_int8_rows: null row_scales");
  long long row_count = (long long)rows;
#pragma omp parallel for schedule(static) if (n > QUANT_PARALLEL_MIN)
  for (long long r = 0; r < row_count; r++)
    for (size_t c = 0; c < cols; c++)
      y[(size_t)r * cols + c] = vdit_dequant_int8_element(q[(size_t)r * cols + c], row_scales[r]);
  return VDIT_OK;
}

vdit_status vdit_quantize_int8_blocks(size_t rows, size_t cols, const float *x, vdit_block_int8 *blocks) {
  size_t n;
  VDIT_TRY(vdit_quant_check_shape("vdit_quantize_int8_blocks", rows, cols, VDIT_INT8_BLOCK, x, blocks, &n));
  long long block_count = (long long)(n / VDIT_INT8_BLOCK);
#pragma omp parallel for schedule(static) if (n > QUANT_PARALLEL_MIN)
  for (long long b = 0; b < block_count; b++) vdit_quant_int8_block(x + b * VDIT_INT8_BLOCK, &blocks[b]);
  return VDIT_OK;
}

vdit_status vdit_dequantize_int8_blocks(size_t rows, size_t cols, const vdit_block_int8 *blocks, float *y) {
  size_t n;
  VDIT_TRY(vdit_quant_check_shape("vdit_dequantize_int8_blocks", rows, cols, VDIT_INT8_BLOCK, blocks, y, &n));
  long long block_count = (long long)(n / VDIT_INT8_BLOCK);
#pragma omp parallel for schedule(static) if (n > QUANT_PARALLEL_MIN)
  for (long long b = 0; b < block_count; b++)
    for (int i = 0; i < VDIT_INT8_BLOCK; i++)
      y[b * VDIT_INT8_BLOCK + i] = vdit_dequant_int8_element(blocks[b].elements[i], blocks[b].scale);
  return VDIT_OK;
}

// ---------------------------------------------------------------- schemes by name
typedef struct scheme_entry {
  const char *name;
  int block;
} scheme_entry;

static const scheme_entry scheme_table[VDIT_QUANT_COUNT] = {
    [VDIT_QUANT_NVFP4] = {"nvfp4", VDIT_NVFP4_BLOCK},         [VDIT_QUANT_MXFP4] = {"mxfp4", VDIT_MX_BLOCK},
    [VDIT_QUANT_MXFP8_E4M3] = {"mxfp8_e4m3", VDIT_MX_BLOCK},  [VDIT_QUANT_MXFP8_E5M2] = {"mxfp8_e5m2", VDIT_MX_BLOCK},
    [VDIT_QUANT_INT8_ROW] = {"int8_row", 0},                  [VDIT_QUANT_INT8_BLOCK] = {"int8_block", VDIT_INT8_BLOCK},
};

static int scheme_valid(vdit_quant_scheme scheme) { return (unsigned)scheme < VDIT_QUANT_COUNT; }

const char *vdit_quant_scheme_name(vdit_quant_scheme scheme) {
  return scheme_valid(scheme) ? scheme_table[scheme].name : "invalid";
}

vdit_status vdit_quant_scheme_parse(const char *name, vdit_quant_scheme *scheme) {
  for (int i = 0; i < VDIT_QUANT_COUNT; i++)
    if (strcmp(name, scheme_table[i].name) == 0) {
      *scheme = (vdit_quant_scheme)i;
      return VDIT_OK;
    }
  return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT,
                    "unknown quantizer '%s' (one of nvfp4, mxfp4, mxfp8_e4m3, mxfp8_e5m2, int8_row, int8_block)", name);
}

int vdit_quant_block_size(vdit_quant_scheme scheme) { return scheme_valid(scheme) ? scheme_table[scheme].block : 0; }

vdit_status vdit_quant_storage_bytes(vdit_quant_scheme scheme, size_t rows, size_t cols, size_t *bytes) {
  *bytes = 0;
  if (!scheme_valid(scheme)) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "invalid quantizer %d", (int)scheme);
  size_t n;
  VDIT_TRY(check_shape_only(scheme_table[scheme].name, rows, cols, scheme_table[scheme].block, &n));
  size_t block_bytes = 0, extra = 0;
  switch (scheme) {
    case VDIT_QUANT_NVFP4: block_bytes = sizeof(vdit_block_nvfp4); extra = sizeof(float); break;
    case VDIT_QUANT_MXFP4: block_bytes = sizeof(vdit_block_mxfp4); break;
    case VDIT_QUANT_MXFP8_E4M3: case VDIT_QUANT_MXFP8_E5M2: block_bytes = sizeof(vdit_block_mxfp8); break;
    case VDIT_QUANT_INT8_BLOCK: block_bytes = sizeof(vdit_block_int8); break;
    case VDIT_QUANT_INT8_ROW:
      if (!vdit_size_mul(rows, sizeof(float), &extra) || !vdit_size_add(n, extra, bytes))
        return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "int8_row: %zu x %zu overflows", rows, cols);
      return VDIT_OK;
    default: break;
  }
  size_t total;
  if (!vdit_size_mul(n / (size_t)scheme_table[scheme].block, block_bytes, &total) || !vdit_size_add(total, extra, bytes))
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: %zu x %zu overflows", scheme_table[scheme].name, rows, cols);
  return VDIT_OK;
}

vdit_status vdit_quant_round_trip(vdit_quant_scheme scheme, size_t rows, size_t cols, const float *x, float *y) {
  size_t bytes, n;
  VDIT_TRY(vdit_quant_storage_bytes(scheme, rows, cols, &bytes));
  VDIT_TRY(vdit_quant_check_shape("vdit_quant_round_trip", rows, cols, scheme_table[scheme].block, x, y, &n));
  if (n == 0) return VDIT_OK;
  // The blocks first, then (NVFP4) the tensor scale or (INT8_ROW) the row scales, each aligned.
  size_t scales_offset = (bytes / VDIT_HOST_ALIGNMENT + 1) * VDIT_HOST_ALIGNMENT, scale_bytes, total;
  if (!vdit_size_mul(rows + 1, sizeof(float), &scale_bytes) || !vdit_size_add(scales_offset, scale_bytes, &total))
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_quant_round_trip: %zu rows overflow", rows);
  uint8_t *buffer = (uint8_t *)vdit_host_alloc(total, VDIT_HOST_ALIGNMENT);
  if (!buffer) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "vdit_quant_round_trip: no memory for %zu bytes", total);
  float *scales = (float *)(buffer + scales_offset);
  vdit_status status = VDIT_OK;
  switch (scheme) {
    case VDIT_QUANT_NVFP4:
      status = vdit_quantize_nvfp4(rows, cols, x, (vdit_block_nvfp4 *)buffer, scales);
      if (status == VDIT_OK) status = vdit_dequantize_nvfp4(rows, cols, (vdit_block_nvfp4 *)buffer, scales, y);
      break;
    case VDIT_QUANT_MXFP4:
      status = vdit_quantize_mxfp4(rows, cols, x, (vdit_block_mxfp4 *)buffer);
      if (status == VDIT_OK) status = vdit_dequantize_mxfp4(rows, cols, (vdit_block_mxfp4 *)buffer, y);
      break;
    case VDIT_QUANT_MXFP8_E4M3:
    case VDIT_QUANT_MXFP8_E5M2: {
      vdit_dtype element = scheme == VDIT_QUANT_MXFP8_E4M3 ? VDIT_DTYPE_F8_E4M3 : VDIT_DTYPE_F8_E5M2;
      status = vdit_quantize_mxfp8(element, rows, cols, x, (vdit_block_mxfp8 *)buffer);
      if (status == VDIT_OK) status = vdit_dequantize_mxfp8(element, rows, cols, (vdit_block_mxfp8 *)buffer, y);
      break;
    }
    case VDIT_QUANT_INT8_ROW:
      status = vdit_quantize_int8_rows(rows, cols, x, (int8_t *)buffer, scales);
      if (status == VDIT_OK) status = vdit_dequantize_int8_rows(rows, cols, (int8_t *)buffer, scales, y);
      break;
    case VDIT_QUANT_INT8_BLOCK:
      status = vdit_quantize_int8_blocks(rows, cols, x, (vdit_block_int8 *)buffer);
      if (status == VDIT_OK) status = vdit_dequantize_int8_blocks(rows, cols, (vdit_block_int8 *)buffer, y);
      break;
    default: status = VDIT_ERROR(VDIT_ERROR_INTERNAL, "unhandled quantizer %d", (int)scheme); break;
  }
  vdit_host_free(buffer);
  return status;
}
