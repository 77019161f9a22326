// linear_bf16 (reference): bf16 x (n0, n2), W (n1, n2); f32 b, y; fp32 accumulation.
#include "kb.h"

KB_FN void kb_item(const kb_args *a, kb_i64 i) {
  kb_i64 N = a->n[1], K = a->n[2], m = i / N, n = i % N;
  const kb_u16 *x = KB_IN(kb_u16, 0), *w = KB_IN(kb_u16, 1);
  float acc = 0.0f;
  for (kb_i64 k = 0; k < K; k++) acc += kb_bf16_to_float(x[m * K + k]) * kb_bf16_to_float(w[n * K + k]);
  KB_OUT(float, 0)[i] = acc + KB_IN(float, 2)[n];
}
KB_ITEMS(a->n[0] * a->n[1])
