// Arithmetic of SpargeAttention2's mask prediction with the same bits on the CPU and the GPU
// (internal): an exp built from exactly rounded operations, and the order every dot product
// is summed in. The CPU predictor (sparge_mask.c) is the specification; the CUDA kernels
// (cuda/sparge_mask.cu) perform the same operations in the same order, so both select the
// same blocks, ties included (ties break towards the lower key block).
//
// Dot products of length D: lane l (0..31) of a warp sums a[d] * b[d] for d = l, l + 32, ...
// in that order; the 32 partial sums are then combined by a butterfly, partial[l] +=
// partial[l ^ off] for off = 16, 8, 4, 2, 1; the result is lane 0's (every lane's) value.
#ifndef VDIT_ATTN_SPARGE_EXACT_H
#define VDIT_ATTN_SPARGE_EXACT_H

#include <math.h>

#include "base/fp_exact.h"

// e^x for x <= 0 (0 below -87): Cody-Waite reduction x = n ln2 + r, a degree-6 Taylor
// polynomial for e^r on |r| <= ln2 / 2 (relative error < 2e-7), times 2^n built from bits.
VDIT_HOST_DEVICE float sparge_exp(float x) {
  if (!(x > -87.0f)) return 0.0f;
  const float n = rintf(VDIT_FMUL(x, 1.44269504f));
  float r = VDIT_FSUB(x, VDIT_FMUL(n, 0.693145751953125f));
  r = VDIT_FSUB(r, VDIT_FMUL(n, 1.42860677e-06f));
  float p = 1.0f / 720.0f;
  p = VDIT_FADD(VDIT_FMUL(p, r), 1.0f / 120.0f);
  p = VDIT_FADD(VDIT_FMUL(p, r), 1.0f / 24.0f);
  p = VDIT_FADD(VDIT_FMUL(p, r), 1.0f / 6.0f);
  p = VDIT_FADD(VDIT_FMUL(p, r), 0.5f);
  p = VDIT_FADD(VDIT_FMUL(p, r), 1.0f);
  p = VDIT_FADD(VDIT_FMUL(p, r), 1.0f);
  return VDIT_FMUL(p, vdit_bits_float((uint32_t)((int)n + 127) << 23));
}

// Mean cosine term of one token: dot / (|x| |mean|), 1 when either norm is 0.
VDIT_HOST_DEVICE float sparge_cosine(float dot, float norm2_x, float norm2_mean) {
  if (norm2_x == 0.0f || norm2_mean == 0.0f) return 1.0f;
  return VDIT_FDIV(dot, VDIT_FMUL(VDIT_FSQRT(norm2_x), VDIT_FSQRT(norm2_mean)));
}

// Key blocks Top-k keeps out of n: ceil(topk * n), computed in double, within 0..n.
VDIT_HOST_DEVICE int sparge_topk_count(float topk, int n) {
  double c = ceil((double)topk * (double)n - 1e-9);
  if (c < 0) c = 0;
  if (c > n) c = n;
  return (int)c;
}

#endif // VDIT_ATTN_SPARGE_EXACT_H
