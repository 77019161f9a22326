// Exactly rounded single-precision arithmetic, the same bits on the CPU and the GPU.
// Host code is compiled with -ffp-contract=off (CMakeLists.txt), so a*b+c stays two
// roundings; device code spells each rounding with an intrinsic because nvcc contracts
// by default. Code under a bit-exact CPU/GPU contract (number formats, the RNG) uses these.
#ifndef VDIT_FP_EXACT_H
#define VDIT_FP_EXACT_H

#include <stdint.h>
#include <string.h>

#if defined(__CUDACC__)
#define VDIT_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define VDIT_HOST_DEVICE static inline
#endif

#if defined(__CUDA_ARCH__)
#define VDIT_FMUL(a, b) __fmul_rn((a), (b))
#define VDIT_FADD(a, b) __fadd_rn((a), (b))
#define VDIT_FSUB(a, b) __fsub_rn((a), (b))
#define VDIT_FDIV(a, b) __fdiv_rn((a), (b))
#define VDIT_FSQRT(a) __fsqrt_rn((a))
#else
#include <math.h>
#define VDIT_FMUL(a, b) ((float)(a) * (float)(b))
#define VDIT_FADD(a, b) ((float)(a) + (float)(b))
#define VDIT_FSUB(a, b) ((float)(a) - (float)(b))
#define VDIT_FDIV(a, b) ((float)(a) / (float)(b))
#define VDIT_FSQRT(a) sqrtf((a))
#endif

VDIT_HOST_DEVICE uint32_t vdit_float_bits(float x) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(x);
#else
  uint32_t u;
  memcpy(&u, &x, sizeof u);
  return u;
#endif
}

VDIT_HOST_DEVICE float vdit_bits_float(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float x;
  memcpy(&x, &u, sizeof x);
  return x;
#endif
}

#endif // VDIT_FP_EXACT_H
