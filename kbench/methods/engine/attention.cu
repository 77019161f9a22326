// attention (engine, CUDA): a warp per (batch, query, head) row; each lane holds D / 32 of
// the query and the output accumulator; scores by warp reductions, online softmax.
// q, k, v (B, S, H, D) with D <= 128.
#include "kb.h"

#ifndef KB_CAUSAL
#define KB_CAUSAL 0
#endif

KB_EXTERN_C __global__ void kb_plan(kb_args a, kb_launch *l) {
  l->stages = 1;
  kb_i64 rows = a.n[0] * a.n[1] * a.n[3];
  l->grid[0][0] = (kb_u32)((rows + 3) / 4), l->grid[0][1] = 1, l->grid[0][2] = 1;
  l->block[0][0] = 128, l->block[0][1] = 1, l->block[0][2] = 1;
  l->shared_bytes[0] = 0;
}

KB_EXTERN_C __global__ void kb_stage0(kb_args a) {
  kb_i64 Sq = a.n[1], Sk = a.n[2], H = a.n[3], D = a.n[4];
  kb_i64 row = (kb_i64)blockIdx.x * 4 + threadIdx.x / 32;
  if (row >= a.n[0] * Sq * H) return;
  int lane = threadIdx.x & 31;
  kb_i64 h = row % H, i = (row / H) % Sq, b = row / (H * Sq);
  const float *q = (const float *)a.in[0] + row * D;
  const float *k = (const float *)a.in[1] + (b * Sk * H + h) * D, *v = (const float *)a.in[2] + (b * Sk * H + h) * D;
  float qr[4], acc[4];
  for (int j = 0; j < 4; j++) {
    kb_i64 d = lane + 32 * j;
    qr[j] = d < D ? q[d] * a.f[0] : 0.0f;
    acc[j] = 0.0f;
  }
  kb_i64 last = KB_CAUSAL ? i + Sk - Sq : Sk - 1;
  if (last > Sk - 1) last = Sk - 1;
  float best = -KB_INF, sum = 0.0f;
  for (kb_i64 key = 0; key <= last; key++) {
    const float *kj = k + key * H * D, *vj = v + key * H * D;
    float s = 0.0f;
    for (int j = 0; j < 4; j++) {
      kb_i64 d = lane + 32 * j;
      if (d < D) s += qr[j] * kj[d];
    }
    for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    float next = fmaxf(best, s), correction = __expf(best - next), p = __expf(s - next);
    sum = sum * correction + p;
    for (int j = 0; j < 4; j++) {
      kb_i64 d = lane + 32 * j;
      acc[j] = acc[j] * correction + (d < D ? p * vj[d] : 0.0f);
    }
    best = next;
  }
  float inverse = 1.0f / sum;
  float *o = (float *)a.out[0] + row * D;
  for (int j = 0; j < 4; j++) {
    kb_i64 d = lane + 32 * j;
    if (d < D) o[d] = acc[j] * inverse;
  }
}
