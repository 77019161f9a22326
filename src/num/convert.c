// Scalar and bulk conversions between float and each element format on the CPU. The
// arithmetic lives in num/format_convert.h, shared with the CUDA kernels.
#include <string.h>

#include "num/checks_internal.h"
#include "num/format_convert.h"
#include "vdit/num.h"

uint16_t vdit_bf16_from_float(float x) { return vdit_num_encode_bf16(x); }
float vdit_bf16_to_float(uint16_t code) { return vdit_num_decode_bf16(code); }
uint16_t vdit_f16_from_float(float x) { return vdit_num_encode_f16(x); }
float vdit_f16_to_float(uint16_t code) { return vdit_num_decode_f16(code); }
uint8_t vdit_f8_e4m3_from_float(float x) { return vdit_num_encode_e4m3(x); }
float vdit_f8_e4m3_to_float(uint8_t code) { return vdit_num_decode_e4m3(code); }
uint8_t vdit_f8_e5m2_from_float(float x) { return vdit_num_encode_e5m2(x); }
float vdit_f8_e5m2_to_float(uint8_t code) { return vdit_num_decode_e5m2(code); }
uint8_t vdit_f4_e2m1_from_float(float x) { return vdit_num_encode_e2m1(x); }
float vdit_f4_e2m1_to_float(uint8_t code) { return vdit_num_decode_e2m1(code); }
uint8_t vdit_e8m0_from_float(float x) { return vdit_num_encode_e8m0(x); }
float vdit_e8m0_to_float(uint8_t code) { return vdit_num_decode_e8m0(code); }
int8_t vdit_i8_from_float(float x) { return vdit_num_encode_i8(x); }
float vdit_i8_to_float(int8_t value) { return vdit_num_decode_i8(value); }

// Parallel only when the work pays for the threads.
#define CONVERT_PARALLEL_MIN 65536

vdit_status vdit_convert_check_arguments(const char *what, vdit_dtype dtype, size_t n, const void *in, const void *out,
                                         size_t *bytes) {
  *bytes = 0;
  switch (dtype) {
    case VDIT_DTYPE_F32: case VDIT_DTYPE_F16: case VDIT_DTYPE_BF16: case VDIT_DTYPE_F8_E4M3:
    case VDIT_DTYPE_F8_E5M2: case VDIT_DTYPE_F4_E2M1: case VDIT_DTYPE_E8M0: case VDIT_DTYPE_I8: break;
    default:
      return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED,
                        "%s: no conversion for dtype %s (f32, f16, bf16, f8_e4m3, f8_e5m2, f4_e2m1, e8m0, i8)",
                        what, vdit_dtype_name(dtype));
  }
  if (n > 0 && (!in || !out)) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: null pointer for %zu elements", what, n);
  return vdit_dtype_storage_bytes(dtype, n, bytes);
}

vdit_status vdit_convert_from_float(vdit_dtype dtype, size_t n, const float *in, void *out) {
  size_t bytes;
  VDIT_TRY(vdit_convert_check_arguments("vdit_convert_from_float", dtype, n, in, out, &bytes));
  if (n == 0) return VDIT_OK;
  long long count = (long long)n;
  switch (dtype) {
    case VDIT_DTYPE_F32: memmove(out, in, bytes); break;
    case VDIT_DTYPE_F16: {
      uint16_t *o = (uint16_t *)out;
#pragma omp parallel for schedule(static) if (n > CONVERT_PARALLEL_MIN)
      for (long long i = 0; i < count; i++) o[i] = vdit_num_encode_f16(in[i]);
      break;
    }
    case VDIT_DTYPE_BF16: {
      uint16_t *o = (uint16_t *)out;
#pragma omp parallel for schedule(static) if (n > CONVERT_PARALLEL_MIN)
      for (long long i = 0; i < count; i++) o[i] = vdit_num_encode_bf16(in[i]);
      break;
    }
    case VDIT_DTYPE_F8_E4M3: {
      uint8_t *o = (uint8_t *)out;
#pragma omp parallel for schedule(static) if (n > CONVERT_PARALLEL_MIN)
      for (long long i = 0; i < count; i++) o[i] = vdit_num_encode_e4m3(in[i]);
      break;
    }
    case VDIT_DTYPE_F8_E5M2: {
      uint8_t *o = (uint8_t *)out;
#pragma omp parallel for schedule(static) if (n > CONVERT_PARALLEL_MIN)
      for (long long i = 0; i < count; i++) o[i] = vdit_num_encode_e5m2(in[i]);
      break;
    }
    case VDIT_DTYPE_F4_E2M1: {
      uint8_t *o = (uint8_t *)out;
      long long pairs = count / 2;
#pragma omp parallel for schedule(static) if (n > CONVERT_PARALLEL_MIN)
      for (long long i = 0; i < pairs; i++)
        o[i] = (uint8_t)(vdit_num_encode_e2m1(in[2 * i]) | (vdit_num_encode_e2m1(in[2 * i + 1]) << 4));
      if (count & 1) o[pairs] = vdit_num_encode_e2m1(in[count - 1]);
      break;
    }
    case VDIT_DTYPE_E8M0: {
      uint8_t *o = (uint8_t *)out;
#pragma omp parallel for schedule(static) if (n > CONVERT_PARALLEL_MIN)
      for (long long i = 0; i < count; i++) o[i] = vdit_num_encode_e8m0(in[i]);
      break;
    }
    case VDIT_DTYPE_I8: {
      int8_t *o = (int8_t *)out;
#pragma omp parallel for schedule(static) if (n > CONVERT_PARALLEL_MIN)
      for (long long i = 0; i < count; i++) o[i] = vdit_num_encode_i8(in[i]);
      break;
    }
    default: return VDIT_ERROR(VDIT_ERROR_INTERNAL, "unhandled dtype %s", vdit_dtype_name(dtype));
  }
  return VDIT_OK;
}

vdit_status vdit_convert_to_float(vdit_dtype dtype, size_t n, const void *in, float *out) {
  size_t bytes;
  VDIT_TRY(vdit_convert_check_arguments("vdit_convert_to_float", dtype, n, in, out, &bytes));
  if (n == 0) return VDIT_OK;
  long long count = (long long)n;
  switch (dtype) {
    case VDIT_DTYPE_F32: memmove(out, in, bytes); break;
    case VDIT_DTYPE_F16: {
      const uint16_t *c = (const uint16_t *)in;
#pragma omp parallel for schedule(static) if (n > CONVERT_PARALLEL_MIN)
      for (long long i = 0; i < count; i++) out[i] = vdit_num_decode_f16(c[i]);
      break;
    }
    case VDIT_DTYPE_BF16: {
      const uint16_t *c = (const uint16_t *)in;
#pragma omp parallel for schedule(static) if (n > CONVERT_PARALLEL_MIN)
      for (long long i = 0; i < count; i++) out[i] = vdit_num_decode_bf16(c[i]);
      break;
    }
    case VDIT_DTYPE_F8_E4M3: {
      const uint8_t *c = (const uint8_t *)in;
#pragma omp parallel for schedule(static) if (n > CONVERT_PARALLEL_MIN)
      for (long long i = 0; i < count; i++) out[i] = vdit_num_decode_e4m3(c[i]);
      break;
    }
    case VDIT_DTYPE_F8_E5M2: {
      const uint8_t *c = (const uint8_t *)in;
#pragma omp parallel for schedule(static) if (n > CONVERT_PARALLEL_MIN)
      for (long long i = 0; i < count; i++) out[i] = vdit_num_decode_e5m2(c[i]);
      break;
    }
    case VDIT_DTYPE_F4_E2M1: {
      const uint8_t *c = (const uint8_t *)in;
#pragma omp parallel for schedule(static) if (n > CONVERT_PARALLEL_MIN)
      for (long long i = 0; i < count; i++) out[i] = vdit_num_decode_e2m1((uint8_t)(c[i / 2] >> ((i & 1) * 4)));
      break;
    }
    case VDIT_DTYPE_E8M0: {
      const uint8_t *c = (const uint8_t *)in;
#pragma omp parallel for schedule(static) if (n > CONVERT_PARALLEL_MIN)
      for (long long i = 0; i < count; i++) out[i] = vdit_num_decode_e8m0(c[i]);
      break;
    }
    case VDIT_DTYPE_I8: {
      const int8_t *c = (const int8_t *)in;
#pragma omp parallel for schedule(static) if (n > CONVERT_PARALLEL_MIN)
      for (long long i = 0; i < count; i++) out[i] = vdit_num_decode_i8(c[i]);
      break;
    }
    default: return VDIT_ERROR(VDIT_ERROR_INTERNAL, "unhandled dtype %s", vdit_dtype_name(dtype));
  }
  return VDIT_OK;
}
