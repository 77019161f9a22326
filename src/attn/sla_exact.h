// SLA2's router arithmetic with the same bits on the CPU and the GPU (internal): block means
// of q and k, their projections and the block scores, each summed serially in the order given
// here with exactly rounded operations, so the CPU router (sla_cpu.c) and the CUDA one
// (cuda/sla_cuda.cu) keep the same blocks, ties included (towards the lower key block).
#ifndef VDIT_ATTN_SLA_EXACT_H
#define VDIT_ATTN_SLA_EXACT_H

#include <math.h>

#include "base/fp_exact.h"

// Key blocks kept out of n: ceil(topk * n) in double, at least 1, at most n.
VDIT_HOST_DEVICE int sla_topk_count(float topk, int n) {
  double c = ceil((double)topk * (double)n - 1e-9);
  if (c < 1) c = 1;
  if (c > n) c = n;
  return (int)c;
}

// 1 / sqrt(D_r), the score scale.
VDIT_HOST_DEVICE float sla_score_scale(int router_dim) { return VDIT_FDIV(1.0f, VDIT_FSQRT((float)router_dim)); }

// Mean of `count` values summed in order: sum = sum + x_t, then sum / count.
VDIT_HOST_DEVICE float sla_mean_step(float sum, float x) { return VDIT_FADD(sum, x); }
VDIT_HOST_DEVICE float sla_mean_finish(float sum, int count) { return VDIT_FDIV(sum, (float)count); }

// acc + a * b, rounded twice (no FMA), for the projections (over d) and the scores (over r).
VDIT_HOST_DEVICE float sla_madd(float acc, float a, float b) { return VDIT_FADD(acc, VDIT_FMUL(a, b)); }

// Score order: a before b (higher score, then lower index).
VDIT_HOST_DEVICE int sla_ranks_before(float sa, int ja, float sb, int jb) { return sa > sb || (sa == sb && ja < jb); }

#endif // VDIT_ATTN_SLA_EXACT_H
