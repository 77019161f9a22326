// The element formula of vdit_tensor_fill_uniform / _normal, shared by the CPU loop
// (src/tensor/fill.c) and the CUDA kernel (src/tensor/cuda/fill.cu) so that both give the
// same bits: x = a + b * v, v the Philox stream element (uniform or standard normal, a
// float), each operation rounded once (no contraction into an FMA on the GPU).
#ifndef VDIT_TENSOR_FILL_PHILOX_H
#define VDIT_TENSOR_FILL_PHILOX_H

#include <stdint.h>

#include "base/philox.h"

#if defined(__CUDA_ARCH__)
#define VDIT_DMUL(a, b) __dmul_rn((a), (b))
#define VDIT_DADD(a, b) __dadd_rn((a), (b))
#else
#define VDIT_DMUL(a, b) ((double)(a) * (double)(b))
#define VDIT_DADD(a, b) ((double)(a) + (double)(b))
#endif

// Parameters fixed on the host once, then passed to either path.
typedef struct vdit_philox_fill {
  int normal;     // 0: uniform draws, 1: standard normal draws
  float a32, b32; // f32 tensors
  double a64, b64; // f64 tensors
} vdit_philox_fill;

// The four values of Philox block `block` for an f32 or f64 tensor.
VDIT_HOST_DEVICE void vdit_philox_fill_block_f32(const vdit_philox_fill *fill, uint64_t seed, uint64_t block,
                                                 float out[4]) {
  float v[4];
  vdit_philox_draw_block(seed, block, fill->normal, v);
  for (int lane = 0; lane < 4; lane++) out[lane] = VDIT_FADD(fill->a32, VDIT_FMUL(fill->b32, v[lane]));
}

VDIT_HOST_DEVICE void vdit_philox_fill_block_f64(const vdit_philox_fill *fill, uint64_t seed, uint64_t block,
                                                 double out[4]) {
  float v[4];
  vdit_philox_draw_block(seed, block, fill->normal, v);
  for (int lane = 0; lane < 4; lane++) out[lane] = VDIT_DADD(fill->a64, VDIT_DMUL(fill->b64, (double)v[lane]));
}

#endif // VDIT_TENSOR_FILL_PHILOX_H
