// Arithmetic of SpargeAttention2's mask prediction with the same bits on the CPU and the GPU
// (internal): an exp built from exactly rounded operations, and the order every dot product
// is summed in. The CPU predictor (sparge_mask.c) is the specification; the CUDA kernels
// (cuda/sparge_mask.cu) perform the same operations in the same order, so both select the
// same blocks, ties included (ties break towards the lower key block).
//
// Every sum has a fixed order, chosen for coalesced 16-byte loads on the GPU (eight channels per
// lane, several tokens per warp):
//  - dot products of length D (sparge_dot in sparge_mask.c): chunk c = channels 8c .. 8c + 7
//    summed in order (a[d] * b[d], each product rounded), for c = 0 .. L - 1 with L the power
//    of two >= ceil(D / 8) (missing chunks are 0); the L chunk sums are then added as a
//    pairwise tree, level by level: part[c] += part[c + w] for w = 1, 2, 4, ... (a butterfly
//    over L lanes with ascending offsets gives the same value on every lane);
//  - per-channel block sums and the sum of a block's token cosines: SPARGE_SLOTS slots, slot r
//    sums the block's tokens r, r + 8, r + 16, ... in order, then the 8 slot sums are added as
//    the same pairwise tree ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7));
//  - K's global mean: the block sums in block order, divided by Sk;
//  - Top-p's mass: exp(s - max) summed in rank order.
#ifndef VDIT_ATTN_SPARGE_EXACT_H
#define VDIT_ATTN_SPARGE_EXACT_H

#include <math.h>

#include "base/fp_exact.h"

#define SPARGE_SLOTS 8 // token slots of the block sums (see above)

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

// Pairwise tree over part[0 .. n - 1], n a power of two: part[c] += part[c + w] for w = 1, 2,
// 4, ...; the sum is part[0] (part is overwritten).
VDIT_HOST_DEVICE float sparge_tree(float *part, int n) {
  for (int w = 1; w < n; w <<= 1)
    for (int c = 0; c + w < n; c += 2 * w) part[c] = VDIT_FADD(part[c], part[c + w]);
  return part[0];
}

// Chunks of a dot product of length D: the power of two >= ceil(D / 8).
VDIT_HOST_DEVICE int sparge_chunks(int64_t D) {
  int n = 1;
  while (8 * (int64_t)n < D) n <<= 1;
  return n;
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
