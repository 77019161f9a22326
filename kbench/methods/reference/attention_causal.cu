// attention_causal (reference): causal (key j <= i + Sk - Sq); online softmax per query row.
#include "kb.h"
#define Q_PTR KB_IN(float, 0)
#define K_PTR KB_IN(float, 1)
#define CAUSAL 1
#define ATTN_ITEM kb_item
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
KB_ITEMS(a->n[0] * a->n[1] * a->n[3])
