// w8a8_attention (reference): stage 0 quantizes and dequantizes each (token, head) row of q and k into the work buffer; stage 1 attention.
#include "kb.h"

#define Q_PTR ((const float *)a->work)
#define K_PTR ((const float *)a->work + a->n[0] * a->n[1] * a->n[3] * a->n[4])
#define CAUSAL 0
#define ATTN_ITEM kb_item1
// Rows of q first, then rows of k: int8 per row (scale = amax / 127), stored dequantized.
KB_FN void kb_item0(const kb_args *a, kb_i64 row) {
  kb_i64 D = a->n[4], q_rows = a->n[0] * a->n[1] * a->n[3];
  const float *x = row < q_rows ? KB_IN(float, 0) + row * D : KB_IN(float, 1) + (row - q_rows) * D;
  float *y = (float *)a->work + row * D;
  kb_u32 amax = 0;
  for (kb_i64 d = 0; d < D; d++) {
    kb_u32 bits = kb_bits(x[d]) & 0x7fffffffu;
    amax = bits > amax ? bits : amax;
  }
  float scale = KB_FDIV(kb_float(amax), 127.0f);
  for (kb_i64 d = 0; d < D; d++)
    y[d] = scale > 0.0f ? KB_FMUL((float)kb_round_clamp(KB_FDIV(x[d], scale), -127.0f, 127.0f), scale) : 0.0f;
}

// One item per (b, query i, head h): scores, softmax and the weighted sum of v, q/k from Q_PTR/K_PTR.
KB_FN void ATTN_ITEM(const kb_args *a, kb_i64 item) {
  kb_i64 Sq = a->n[1], Sk = a->n[2], H = a->n[3], D = a->n[4];
  kb_i64 h = item % H, i = (item / H) % Sq, b = item / (H * Sq);
  const float *q = Q_PTR + ((b * Sq + i) * H + h) * D, *k = K_PTR, *v = KB_IN(float, 2);
  kb_i64 last = CAUSAL ? i + Sk - Sq : Sk - 1;
  float acc[128], best = -KB_INF, sum = 0.0f;
  for (kb_i64 d = 0; d < D; d++) acc[d] = 0.0f;
  for (kb_i64 j = 0; j <= last && j < Sk; j++) {
    const float *kj = k + ((b * Sk + j) * H + h) * D, *vj = v + ((b * Sk + j) * H + h) * D;
    float s = 0.0f;
    for (kb_i64 d = 0; d < D; d++) s += q[d] * kj[d];
    s *= a->f[0];
    float next = fmaxf(best, s), correction = expf(best - next), p = expf(s - next);
    sum = sum * correction + p;
    for (kb_i64 d = 0; d < D; d++) acc[d] = acc[d] * correction + p * vj[d];
    best = next;
  }
  float *o = KB_OUT(float, 0) + ((b * Sq + i) * H + h) * D;
  for (kb_i64 d = 0; d < D; d++) o[d] = acc[d] / sum;
}
KB_ITEMS2(a->n[0] * (a->n[1] + a->n[2]) * a->n[3], a->n[0] * a->n[1] * a->n[3])
