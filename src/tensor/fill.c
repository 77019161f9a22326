// Test fills: NaN poison, NaN count, and Philox uniform/normal fills that give the same
// bits on the CPU and the GPU (src/tensor/fill_philox.h holds the shared formula).
#include <math.h>
#include <string.h>

#include "tensor/fill_philox.h"
#include "tensor/tensor_internal.h"
#include "vdit/tensor.h"

#ifdef VDIT_HAVE_CUDA
#include "tensor/cuda/tensor_cuda.h"
#endif

// The poison element of a dtype in its low `element_bytes` bytes (little endian); f4 and
// the formats without NaN take 0xAA bytes (for f4: the nibble 0xA).
static uint64_t poison_pattern(vdit_dtype dtype) {
  switch (dtype) {
    case VDIT_DTYPE_F64: return 0x7ff8000000000000ull;
    case VDIT_DTYPE_F32: return 0x7fc00000u;
    case VDIT_DTYPE_F16: return 0x7e00u;
    case VDIT_DTYPE_BF16: return 0x7fc0u;
    case VDIT_DTYPE_F8_E4M3: return 0x7fu;
    case VDIT_DTYPE_F8_E5M2: return 0x7eu;
    case VDIT_DTYPE_E8M0: return 0xffu;
    default: return 0xaaaaaaaaaaaaaaaaull;
  }
}

static void fill_pattern_host(void *data, int64_t count, int element_bytes, uint64_t pattern) {
  if (element_bytes == 1) {
    memset(data, (int)(pattern & 0xffu), (size_t)count);
    return;
  }
  char *d = data;
  for (int64_t i = 0; i < count; i++) memcpy(d + i * element_bytes, &pattern, (size_t)element_bytes); // little endian
}

// Fills a contiguous tensor (or, for a strided one, a contiguous staging copy that is then
// scattered into it) with `fill_contiguous`.
typedef vdit_status (*contiguous_fill)(vdit_tensor *t, const void *context);

static vdit_status fill_through_staging(vdit_tensor *t, contiguous_fill fill_contiguous, const void *context) {
  if (vdit_tensor_is_contiguous(t)) return fill_contiguous(t, context);
  vdit_tensor staged;
  VDIT_TRY(vdit_tensor_alloc_like(&staged, t, t->device));
  vdit_status status = fill_contiguous(&staged, context);
  if (status == VDIT_OK) status = vdit_tensor_copy(t, &staged);
  vdit_tensor_free(&staged);
  return status;
}

static vdit_status poison_contiguous(vdit_tensor *t, const void *context) {
  (void)context;
  int64_t n = vdit_tensor_numel(t);
  int element_bytes = vdit_dtype_element_bytes(t->dtype);
  uint64_t pattern = poison_pattern(t->dtype);
  if (element_bytes == 0) { // f4: whole bytes of 0xAA cover every nibble
    element_bytes = 1;
    n = (int64_t)vdit_tensor_bytes(t);
  }
  if (t->device.type == VDIT_DEVICE_CPU) {
    fill_pattern_host(t->data, n, element_bytes, pattern);
    return VDIT_OK;
  }
#ifdef VDIT_HAVE_CUDA
  int previous = 0;
  VDIT_TRY(vdit_cuda_device_enter(t->device, &previous));
  vdit_status status = vdit_cuda_fill_pattern(t->data, (size_t)n, element_bytes, pattern);
  return vdit_cuda_device_leave(previous, status);
#else
  return VDIT_ERROR(VDIT_ERROR_INTERNAL, "vdit_tensor_poison: unreachable");
#endif
}

// A tensor that is about to be written element by element.
static vdit_status check_writable(vdit_tensor *t, const char *function) {
  VDIT_TRY(vdit_tensor_check(t, function, "tensor"));
  VDIT_TRY(vdit_device_check(t->device));
  if (vdit_tensor_numel(t) == 0) return VDIT_OK;
  if (t->data == NULL) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: data is NULL", function);
  if (vdit_tensor_may_self_overlap(t))
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT,
                      "%s: the tensor has strides under which two elements may share an address", function);
  return VDIT_OK;
}

vdit_status vdit_tensor_poison(vdit_tensor *t) {
  VDIT_TRY(check_writable(t, "vdit_tensor_poison"));
  if (vdit_tensor_numel(t) == 0) return VDIT_OK;
  return fill_through_staging(t, poison_contiguous, NULL);
}

static int64_t count_nan_host(const void *data, vdit_dtype dtype, int64_t n) {
  int64_t count = 0;
  const uint8_t *b = data;
  for (int64_t i = 0; i < n; i++) {
    switch (dtype) {
      case VDIT_DTYPE_F64: { double x; memcpy(&x, b + 8 * i, 8); count += isnan(x) != 0; break; }
      case VDIT_DTYPE_F32: { float x; memcpy(&x, b + 4 * i, 4); count += isnan(x) != 0; break; }
      case VDIT_DTYPE_F16: {
        uint16_t h; memcpy(&h, b + 2 * i, 2);
        count += (h & 0x7c00u) == 0x7c00u && (h & 0x03ffu) != 0;
        break;
      }
      case VDIT_DTYPE_BF16: {
        uint16_t h; memcpy(&h, b + 2 * i, 2);
        count += (h & 0x7f80u) == 0x7f80u && (h & 0x007fu) != 0;
        break;
      }
      case VDIT_DTYPE_F8_E4M3: count += (b[i] & 0x7fu) == 0x7fu; break;
      case VDIT_DTYPE_F8_E5M2: count += (b[i] & 0x7cu) == 0x7cu && (b[i] & 0x03u) != 0; break;
      case VDIT_DTYPE_E8M0: count += b[i] == 0xffu; break;
      default: break;
    }
  }
  return count;
}

static int dtype_has_nan(vdit_dtype dtype) {
  return dtype == VDIT_DTYPE_F64 || dtype == VDIT_DTYPE_F32 || dtype == VDIT_DTYPE_F16 || dtype == VDIT_DTYPE_BF16 ||
         dtype == VDIT_DTYPE_F8_E4M3 || dtype == VDIT_DTYPE_F8_E5M2 || dtype == VDIT_DTYPE_E8M0;
}

vdit_status vdit_tensor_count_nan(const vdit_tensor *t, int64_t *count) {
  if (count == NULL) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_tensor_count_nan: count is NULL");
  *count = 0;
  VDIT_TRY(vdit_tensor_check(t, "vdit_tensor_count_nan", "tensor"));
  if (!dtype_has_nan(t->dtype))
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_tensor_count_nan: %s has no NaN encoding",
                      vdit_dtype_name(t->dtype));
  VDIT_TRY(vdit_device_check(t->device));
  int64_t n = vdit_tensor_numel(t);
  if (n == 0) return VDIT_OK;
  if (t->device.type == VDIT_DEVICE_CPU && vdit_tensor_is_contiguous(t)) {
    *count = count_nan_host(t->data, t->dtype, n);
    return VDIT_OK;
  }
  vdit_tensor staged;
  VDIT_TRY(vdit_tensor_alloc_like(&staged, t, VDIT_CPU));
  vdit_status status = vdit_tensor_copy(&staged, t);
  if (status == VDIT_OK) *count = count_nan_host(staged.data, staged.dtype, n);
  vdit_tensor_free(&staged);
  return status;
}

typedef struct philox_fill_request {
  uint64_t seed, offset;
  vdit_philox_fill fill;
} philox_fill_request;

// Contiguous element i = formula(stream element offset + i), one Philox block per step.
static void fill_philox_host(void *data, int is_f64, int64_t n, uint64_t seed, uint64_t offset,
                             const vdit_philox_fill *fill) {
  uint64_t first_block = offset / 4;
  int64_t block_count = (int64_t)((offset % 4 + (uint64_t)n + 3) / 4);
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t j = 0; j < block_count; j++) {
    uint64_t block = (first_block + (uint64_t)j) & (UINT64_MAX >> 2); // elements wrap modulo 2^64, blocks modulo 2^62
    float v32[4];
    double v64[4];
    if (is_f64)
      vdit_philox_fill_block_f64(fill, seed, block, v64);
    else
      vdit_philox_fill_block_f32(fill, seed, block, v32);
    for (int lane = 0; lane < 4; lane++) {
      uint64_t index = 4 * block + (uint64_t)lane - offset; // modulo 2^64
      if (index >= (uint64_t)n) continue;
      if (is_f64)
        ((double *)data)[index] = v64[lane];
      else
        ((float *)data)[index] = v32[lane];
    }
  }
}

static vdit_status philox_contiguous(vdit_tensor *t, const void *context) {
  const philox_fill_request *request = context;
  int64_t n = vdit_tensor_numel(t);
  int is_f64 = t->dtype == VDIT_DTYPE_F64;
  if (t->device.type == VDIT_DEVICE_CPU) {
    fill_philox_host(t->data, is_f64, n, request->seed, request->offset, &request->fill);
    return VDIT_OK;
  }
#ifdef VDIT_HAVE_CUDA
  int previous = 0;
  VDIT_TRY(vdit_cuda_device_enter(t->device, &previous));
  vdit_status status =
      vdit_cuda_fill_philox(t->data, is_f64, (size_t)n, request->seed, request->offset, &request->fill);
  return vdit_cuda_device_leave(previous, status);
#else
  return VDIT_ERROR(VDIT_ERROR_INTERNAL, "philox fill: unreachable");
#endif
}

static vdit_status fill_philox(vdit_tensor *t, const char *function, const philox_fill_request *request) {
  VDIT_TRY(check_writable(t, function));
  if (t->dtype != VDIT_DTYPE_F32 && t->dtype != VDIT_DTYPE_F64)
    return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "%s: %s tensors are not supported (f32 or f64; fill one and convert)",
                      function, vdit_dtype_name(t->dtype));
  if (vdit_tensor_numel(t) == 0) return VDIT_OK;
  return fill_through_staging(t, philox_contiguous, request);
}

vdit_status vdit_tensor_fill_uniform(vdit_tensor *t, uint64_t seed, uint64_t offset, double low, double high) {
  if (!isfinite(low) || !isfinite(high) || !(low <= high))
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_tensor_fill_uniform: need finite low <= high (got %g, %g)", low,
                      high);
  philox_fill_request request = {seed, offset, {0, 0.0f, 0.0f, 0.0, 0.0}};
  request.fill.normal = 0;
  request.fill.a32 = (float)low;
  request.fill.b32 = VDIT_FSUB((float)high, (float)low);
  request.fill.a64 = low;
  request.fill.b64 = high - low;
  if (t != NULL && t->dtype == VDIT_DTYPE_F32 && !(isfinite(request.fill.a32) && isfinite(request.fill.b32)))
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_tensor_fill_uniform: [%g, %g] overflows f32", low, high);
  return fill_philox(t, "vdit_tensor_fill_uniform", &request);
}

vdit_status vdit_tensor_fill_normal(vdit_tensor *t, uint64_t seed, uint64_t offset, double mean, double std) {
  if (!isfinite(mean) || !isfinite(std) || std < 0)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_tensor_fill_normal: need finite mean and std >= 0 (got %g, %g)",
                      mean, std);
  philox_fill_request request = {seed, offset, {1, (float)mean, (float)std, mean, std}};
  if (t != NULL && t->dtype == VDIT_DTYPE_F32 && !(isfinite(request.fill.a32) && isfinite(request.fill.b32)))
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_tensor_fill_normal: mean %g or std %g overflows f32", mean, std);
  return fill_philox(t, "vdit_tensor_fill_normal", &request);
}
