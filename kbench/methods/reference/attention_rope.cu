// attention_rope (reference): stage 0 rotates q and k (Wan 3D RoPE) into the work buffer; stage 1 attention.
#include "kb.h"

#define Q_PTR ((const float *)a->work)
#define K_PTR ((const float *)a->work + a->n[0] * a->n[1] * a->n[3] * a->n[4])
#define CAUSAL 0
#define ATTN_ITEM kb_item1

// Wan's 3D RoPE of one (token s, head) row of D channels in place, grid (F, Hh, Ww) = n5..n7.
KB_FN void kb_rope_row(float *x, kb_i64 s, kb_i64 D, kb_i64 Hh, kb_i64 Ww) {
  kb_i64 hw = 2 * (D / 6), parts[3] = {D - 2 * hw, hw, hw}, pos[3] = {s / (Hh * Ww), (s / Ww) % Hh, s % Ww};
  kb_i64 c = 0;
  for (int part = 0; part < 3; part++)
    for (kb_i64 i = 0; i < parts[part] / 2; i++, c += 2) {
      double angle = (double)pos[part] * pow(10000.0, -2.0 * (double)i / (double)parts[part]);
      float co = (float)cos(angle), si = (float)sin(angle), x0 = x[c], x1 = x[c + 1];
      x[c] = x0 * co - x1 * si;
      x[c + 1] = x0 * si + x1 * co;
    }
}

KB_FN void kb_item0(const kb_args *a, kb_i64 row) {
  kb_i64 H = a->n[3], D = a->n[4], S = a->n[1], q_rows = a->n[0] * S * H;
  const float *x = row < q_rows ? KB_IN(float, 0) + row * D : KB_IN(float, 1) + (row - q_rows) * D;
  float *y = (float *)a->work + row * D;
  for (kb_i64 d = 0; d < D; d++) y[d] = x[d];
  kb_rope_row(y, ((row < q_rows ? row : row - q_rows) / H) % S, D, a->n[6], a->n[7]);
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
