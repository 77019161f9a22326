// Reference quantizers: the specification of docs/formats.md as plain loops. Block maxima
// come from fabsf and isfinite, conversions from the search-based reference (reference.c),
// powers of two from ldexp, and elements are rounded from the exact double x / scale where
// the specification says "x / scale" for a power-of-two scale. The fp32 divisions that the
// specification names (amax / 2688, amax / 6 / tensor_scale, x / s, amax / 127, x / scale)
// are written as float divisions, which C evaluates with one rounding (FLT_EVAL_METHOD 0).
#include <float.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "num/reference.h"

static float nan_float(void) {
  uint32_t bits = 0x7fffffffu;
  float value;
  memcpy(&value, &bits, sizeof value);
  return value;
}

// Largest |x| of n values, or -1 when one of them is inf or NaN.
static float block_amax(const float *x, size_t n) {
  float amax = 0.0f;
  for (size_t i = 0; i < n; i++) {
    if (!isfinite(x[i])) return -1.0f;
    if (fabsf(x[i]) > amax) amax = fabsf(x[i]);
  }
  return amax;
}

static uint8_t nibble(const uint8_t *packed, size_t i) { return (uint8_t)((packed[i / 2] >> ((i % 2) * 4)) & 0xf); }

static void set_nibble(uint8_t *packed, size_t i, uint32_t code) {
  if (i % 2 == 0) packed[i / 2] = (uint8_t)((packed[i / 2] & 0xf0) | (code & 0xf));
  else packed[i / 2] = (uint8_t)((packed[i / 2] & 0x0f) | ((code & 0xf) << 4));
}

// ---------------------------------------------------------------- NVFP4
void vdit_reference_quantize_nvfp4(size_t rows, size_t cols, const float *x, vdit_block_nvfp4 *blocks,
                                   float *tensor_scale) {
  size_t n = rows * cols;
  float amax = block_amax(x, n);
  float s_tensor;
  if (amax < 0) {
    s_tensor = nan_float();
  } else {
    s_tensor = amax / 2688.0f;
    if (s_tensor < FLT_MIN) s_tensor = FLT_MIN;
  }
  *tensor_scale = s_tensor;
  for (size_t b = 0; b < n / 16; b++) {
    const float *xb = x + b * 16;
    vdit_block_nvfp4 *block = &blocks[b];
    memset(block->elements, 0, sizeof block->elements);
    float block_max = block_amax(xb, 16);
    if (block_max < 0 || isnan(s_tensor)) {
      block->scale = 0x7f;
      continue;
    }
    float wanted = (block_max / 6.0f) / s_tensor;
    block->scale = (uint8_t)vdit_reference_from_double(VDIT_DTYPE_F8_E4M3, wanted);
    float factor = (float)vdit_reference_to_double(VDIT_DTYPE_F8_E4M3, block->scale) * s_tensor;
    if (factor == 0.0f) continue;
    for (size_t i = 0; i < 16; i++)
      set_nibble(block->elements, i, vdit_reference_from_double(VDIT_DTYPE_F4_E2M1, xb[i] / factor));
  }
}

void vdit_reference_dequantize_nvfp4(size_t rows, size_t cols, const vdit_block_nvfp4 *blocks,
                                     const float *tensor_scale, float *y) {
  size_t n = rows * cols;
  for (size_t i = 0; i < n; i++) {
    const vdit_block_nvfp4 *block = &blocks[i / 16];
    double scale_value = vdit_reference_to_double(VDIT_DTYPE_F8_E4M3, block->scale);
    if (isnan(scale_value) || isnan(*tensor_scale)) {
      y[i] = nan_float();
      continue;
    }
    float factor = (float)scale_value * *tensor_scale;
    y[i] = (float)vdit_reference_to_double(VDIT_DTYPE_F4_E2M1, nibble(block->elements, i % 16)) * factor;
  }
}

// ---------------------------------------------------------------- MX
// Scale exponent floor(log2 amax) - emax, clamped to [-127, 127]; -128 marks a NaN block.
static int mx_scale_exponent(float amax, int emax) {
  if (amax < 0) return -128;
  if (amax == 0) return -127;
  int exponent = ilogb(amax) - emax; // ilogb is floor(log2) for any finite nonzero float
  return exponent < -127 ? -127 : exponent;
}

// blocks: n / 32 structs of block_bytes bytes, the scale and the elements at the offsets.
static void mx_quantize(vdit_dtype element, int emax, size_t n, const float *x, uint8_t *blocks,
                        size_t block_bytes, size_t scale_offset, size_t element_offset) {
  size_t element_bytes = element == VDIT_DTYPE_F4_E2M1 ? 16 : 32;
  for (size_t b = 0; b < n / 32; b++) {
    uint8_t *scale = blocks + b * block_bytes + scale_offset;
    uint8_t *codes = blocks + b * block_bytes + element_offset;
    const float *xb = x + b * 32;
    int exponent = mx_scale_exponent(block_amax(xb, 32), emax);
    memset(codes, 0, element_bytes);
    if (exponent == -128) {
      *scale = 0xff;
      continue;
    }
    *scale = (uint8_t)(exponent + 127);
    for (size_t i = 0; i < 32; i++) {
      uint32_t code = vdit_reference_from_double(element, ldexp((double)xb[i], -exponent));
      if (element == VDIT_DTYPE_F4_E2M1) set_nibble(codes, i, code);
      else codes[i] = (uint8_t)code;
    }
  }
}

void vdit_reference_quantize_mxfp4(size_t rows, size_t cols, const float *x, vdit_block_mxfp4 *blocks) {
  mx_quantize(VDIT_DTYPE_F4_E2M1, 2, rows * cols, x, (uint8_t *)blocks, sizeof *blocks,
              offsetof(vdit_block_mxfp4, scale), offsetof(vdit_block_mxfp4, elements));
}

void vdit_reference_quantize_mxfp8(vdit_dtype element, size_t rows, size_t cols, const float *x,
                                   vdit_block_mxfp8 *blocks) {
  int emax = element == VDIT_DTYPE_F8_E5M2 ? 15 : 8;
  mx_quantize(element, emax, rows * cols, x, (uint8_t *)blocks, sizeof *blocks,
              offsetof(vdit_block_mxfp8, scale), offsetof(vdit_block_mxfp8, elements));
}

static float mx_dequantize_one(vdit_dtype element, uint8_t scale, uint32_t code) {
  if (scale == 0xff) return nan_float();
  return (float)ldexp(vdit_reference_to_double(element, code), (int)scale - 127); // exact
}

void vdit_reference_dequantize_mxfp4(size_t rows, size_t cols, const vdit_block_mxfp4 *blocks, float *y) {
  for (size_t i = 0; i < rows * cols; i++)
    y[i] = mx_dequantize_one(VDIT_DTYPE_F4_E2M1, blocks[i / 32].scale, nibble(blocks[i / 32].elements, i % 32));
}

void vdit_reference_dequantize_mxfp8(vdit_dtype element, size_t rows, size_t cols,
                                     const vdit_block_mxfp8 *blocks, float *y) {
  for (size_t i = 0; i < rows * cols; i++)
    y[i] = mx_dequantize_one(element, blocks[i / 32].scale, blocks[i / 32].elements[i % 32]);
}

// ---------------------------------------------------------------- INT8
static float int8_scale(const float *x, size_t n) {
  float amax = block_amax(x, n);
  return amax < 0 ? nan_float() : amax / 127.0f;
}

static int8_t int8_element(float x, float scale) {
  if (isnan(scale) || scale == 0.0f) return 0;
  float v = x / scale;
  if (v > 127.0f) v = 127.0f;
  if (v < -127.0f) v = -127.0f;
  return (int8_t)(uint8_t)vdit_reference_from_double(VDIT_DTYPE_I8, v);
}

static float int8_value(int8_t q, float scale) { return isnan(scale) ? nan_float() : (float)q * scale; }

void vdit_reference_quantize_int8_rows(size_t rows, size_t cols, const float *x, int8_t *q, float *row_scales) {
  for (size_t r = 0; r < rows; r++) {
    row_scales[r] = int8_scale(x + r * cols, cols);
    for (size_t c = 0; c < cols; c++) q[r * cols + c] = int8_element(x[r * cols + c], row_scales[r]);
  }
}

void vdit_reference_dequantize_int8_rows(size_t rows, size_t cols, const int8_t *q, const float *row_scales,
                                         float *y) {
  for (size_t r = 0; r < rows; r++)
    for (size_t c = 0; c < cols; c++) y[r * cols + c] = int8_value(q[r * cols + c], row_scales[r]);
}

void vdit_reference_quantize_int8_blocks(size_t rows, size_t cols, const float *x, vdit_block_int8 *blocks) {
  for (size_t b = 0; b < rows * cols / 32; b++) {
    blocks[b].scale = int8_scale(x + b * 32, 32);
    for (size_t i = 0; i < 32; i++) blocks[b].elements[i] = int8_element(x[b * 32 + i], blocks[b].scale);
  }
}

void vdit_reference_dequantize_int8_blocks(size_t rows, size_t cols, const vdit_block_int8 *blocks, float *y) {
  for (size_t i = 0; i < rows * cols; i++) y[i] = int8_value(blocks[i / 32].elements[i % 32], blocks[i / 32].scale);
}
