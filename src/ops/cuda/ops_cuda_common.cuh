// Loads and stores of bf16-or-f32 elements for the CUDA ops' kernels (internal to src/ops/cuda).
// A tensor's dtype is a runtime flag (1: bf16, 0: f32), uniform over a launch, so the branch
// costs nothing measurable in these memory-bound kernels; arithmetic is fp32.
#ifndef VDIT_OPS_CUDA_COMMON_CUH
#define VDIT_OPS_CUDA_COMMON_CUH

#include <cuda_bf16.h>
#include <stdint.h>

__device__ __forceinline__ float load_value(const void *p, int bf16, int64_t i) {
  return bf16 ? __bfloat162float(((const __nv_bfloat16 *)p)[i]) : ((const float *)p)[i];
}

__device__ __forceinline__ void store_value(void *p, int bf16, int64_t i, float v) {
  if (bf16) ((__nv_bfloat16 *)p)[i] = __float2bfloat16_rn(v);
  else ((float *)p)[i] = v;
}

__device__ __forceinline__ float round_bf16(float v) { return __bfloat162float(__float2bfloat16_rn(v)); }

#endif // VDIT_OPS_CUDA_COMMON_CUH
