// Bulk conversions between float and each element format on the GPU. Each thread handles a
// pair of elements (the e4m3x2/e5m2x2 instructions and the fp4 byte take two); the
// arithmetic is num/format_convert.h, the code the CPU runs, with cvt instructions where
// sm_90 has them unless the software path is asked for.
#include <cuda_runtime.h>
#include <stdint.h>

#include "base/cuda_check.h"
#include "num/checks_internal.h"
#include "num/cuda/num_cuda.h"
#include "num/format_convert.h"
#include "vdit/num.h"

enum { CONVERT_THREADS = 256, CONVERT_MAX_BLOCKS = 8192 };

static __device__ __forceinline__ uint16_t encode_16(vdit_dtype dtype, int hardware, float x) {
  if (dtype == VDIT_DTYPE_F16) return hardware ? vdit_num_encode_f16(x) : vdit_num_encode_f16_sw(x);
  return hardware ? vdit_num_encode_bf16(x) : vdit_num_encode_bf16_sw(x);
}

// Two fp8 codes: x0 in bits 0-7, x1 in bits 8-15.
static __device__ __forceinline__ uint16_t encode_fp8_pair(vdit_dtype dtype, int hardware, float x0, float x1) {
#if defined(VDIT_NUM_HAVE_CVT_FP8)
  if (hardware) return dtype == VDIT_DTYPE_F8_E4M3 ? vdit_num_cvt_e4m3x2(x0, x1) : vdit_num_cvt_e5m2x2(x0, x1);
#endif
  if (dtype == VDIT_DTYPE_F8_E4M3)
    return (uint16_t)(vdit_num_encode_e4m3_sw(x0) | (vdit_num_encode_e4m3_sw(x1) << 8));
  return (uint16_t)(vdit_num_encode_e5m2_sw(x0) | (vdit_num_encode_e5m2_sw(x1) << 8));
}

// in: n floats; out: the dtype's storage. Pair p covers elements 2p and 2p + 1 (< n).
static __global__ void encode_kernel(vdit_dtype dtype, int hardware, size_t n, const float *in, void *out) {
  size_t pairs = (n + 1) / 2;
  for (size_t p = (size_t)blockIdx.x * blockDim.x + threadIdx.x; p < pairs; p += (size_t)gridDim.x * blockDim.x) {
    size_t i = 2 * p;
    int second = i + 1 < n;
    float x0 = in[i], x1 = second ? in[i + 1] : 0.0f;
    switch (dtype) {
      case VDIT_DTYPE_F16:
      case VDIT_DTYPE_BF16: {
        uint16_t *o = (uint16_t *)out;
        o[i] = encode_16(dtype, hardware, x0);
        if (second) o[i + 1] = encode_16(dtype, hardware, x1);
        break;
      }
      case VDIT_DTYPE_F8_E4M3:
      case VDIT_DTYPE_F8_E5M2: {
        uint8_t *o = (uint8_t *)out;
        uint16_t pair = encode_fp8_pair(dtype, hardware, x0, x1);
        o[i] = (uint8_t)pair;
        if (second) o[i + 1] = (uint8_t)(pair >> 8);
        break;
      }
      case VDIT_DTYPE_F4_E2M1: {
        uint8_t high = second ? vdit_num_encode_e2m1(x1) : 0;
        ((uint8_t *)out)[p] = (uint8_t)(vdit_num_encode_e2m1(x0) | (high << 4));
        break;
      }
      case VDIT_DTYPE_E8M0: {
        uint8_t *o = (uint8_t *)out;
        o[i] = vdit_num_encode_e8m0(x0);
        if (second) o[i + 1] = vdit_num_encode_e8m0(x1);
        break;
      }
      case VDIT_DTYPE_I8: {
        int8_t *o = (int8_t *)out;
        o[i] = hardware ? vdit_num_encode_i8(x0) : vdit_num_encode_i8_sw(x0);
        if (second) o[i + 1] = hardware ? vdit_num_encode_i8(x1) : vdit_num_encode_i8_sw(x1);
        break;
      }
      default: break;
    }
  }
}

static __device__ __forceinline__ float decode_one(vdit_dtype dtype, int hardware, const void *in, size_t i) {
  switch (dtype) {
    case VDIT_DTYPE_F16: {
      uint16_t c = ((const uint16_t *)in)[i];
      return hardware ? vdit_num_decode_f16(c) : vdit_num_decode_f16_sw(c);
    }
    case VDIT_DTYPE_BF16: return vdit_num_decode_bf16(((const uint16_t *)in)[i]);
    case VDIT_DTYPE_F8_E4M3: {
      uint8_t c = ((const uint8_t *)in)[i];
      return hardware ? vdit_num_decode_e4m3(c) : vdit_num_decode_e4m3_sw(c);
    }
    case VDIT_DTYPE_F8_E5M2: {
      uint8_t c = ((const uint8_t *)in)[i];
      return hardware ? vdit_num_decode_e5m2(c) : vdit_num_decode_e5m2_sw(c);
    }
    case VDIT_DTYPE_F4_E2M1: return vdit_num_decode_e2m1((uint8_t)(((const uint8_t *)in)[i / 2] >> ((i & 1) * 4)));
    case VDIT_DTYPE_E8M0: return vdit_num_decode_e8m0(((const uint8_t *)in)[i]);
    case VDIT_DTYPE_I8: return vdit_num_decode_i8(((const int8_t *)in)[i]);
    default: return 0.0f;
  }
}

static __global__ void decode_kernel(vdit_dtype dtype, int hardware, size_t n, const void *in, float *out) {
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
    out[i] = decode_one(dtype, hardware, in, i);
}

static int grid_for(size_t work) {
  size_t blocks = (work + CONVERT_THREADS - 1) / CONVERT_THREADS;
  return (int)(blocks < CONVERT_MAX_BLOCKS ? blocks : CONVERT_MAX_BLOCKS);
}

static vdit_status convert_from_float(const char *what, vdit_dtype dtype, int hardware, size_t n, const float *in,
                                      void *out) {
  size_t bytes;
  VDIT_TRY(vdit_convert_check_arguments(what, dtype, n, in, out, &bytes));
  if (n == 0) return VDIT_OK;
  if (dtype == VDIT_DTYPE_F32) {
    VDIT_CUDA_TRY(cudaMemcpyAsync(out, in, bytes, cudaMemcpyDeviceToDevice, 0));
    return VDIT_OK;
  }
  encode_kernel<<<grid_for((n + 1) / 2), CONVERT_THREADS>>>(dtype, hardware, n, in, out);
  VDIT_CUDA_TRY_LAUNCH();
  return VDIT_OK;
}

static vdit_status convert_to_float(const char *what, vdit_dtype dtype, int hardware, size_t n, const void *in,
                                    float *out) {
  size_t bytes;
  VDIT_TRY(vdit_convert_check_arguments(what, dtype, n, in, out, &bytes));
  if (n == 0) return VDIT_OK;
  if (dtype == VDIT_DTYPE_F32) {
    VDIT_CUDA_TRY(cudaMemcpyAsync(out, in, bytes, cudaMemcpyDeviceToDevice, 0));
    return VDIT_OK;
  }
  decode_kernel<<<grid_for(n), CONVERT_THREADS>>>(dtype, hardware, n, in, out);
  VDIT_CUDA_TRY_LAUNCH();
  return VDIT_OK;
}

extern "C" vdit_status vdit_cuda_convert_from_float(vdit_dtype dtype, size_t n, const float *in, void *out) {
  return convert_from_float("vdit_cuda_convert_from_float", dtype, 1, n, in, out);
}

extern "C" vdit_status vdit_cuda_convert_to_float(vdit_dtype dtype, size_t n, const void *in, float *out) {
  return convert_to_float("vdit_cuda_convert_to_float", dtype, 1, n, in, out);
}

extern "C" vdit_status vdit_cuda_convert_from_float_software(vdit_dtype dtype, size_t n, const float *in, void *out) {
  return convert_from_float("vdit_cuda_convert_from_float_software", dtype, 0, n, in, out);
}

extern "C" vdit_status vdit_cuda_convert_to_float_software(vdit_dtype dtype, size_t n, const void *in, float *out) {
  return convert_to_float("vdit_cuda_convert_to_float_software", dtype, 0, n, in, out);
}
