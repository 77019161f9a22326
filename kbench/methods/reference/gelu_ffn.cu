// gelu_ffn (reference): stage 0: hidden (M, Hd) = gelu_tanh(x W1^T + b1) in the work buffer; stage 1: y = hidden W2^T + b2.
#include "kb.h"
KB_FN float kb_gelu_tanh(float x) {
  float inner = 0.7978845608028654f * (x + 0.044715f * x * x * x);
  return 0.5f * x * (1.0f + tanhf(inner));
}
KB_FN void kb_item0(const kb_args *a, kb_i64 i) {
  kb_i64 C = a->n[1], Hd = a->n[2], m = i / Hd, j = i % Hd;
  const float *x = KB_IN(float, 0) + m * C, *w1 = KB_IN(float, 1) + j * C;
  float acc = 0.0f;
  for (kb_i64 k = 0; k < C; k++) acc += x[k] * w1[k];
  ((float *)a->work)[i] = kb_gelu_tanh(acc + KB_IN(float, 2)[j]);
}
KB_FN void kb_item1(const kb_args *a, kb_i64 i) {
  kb_i64 C = a->n[1], Hd = a->n[2], m = i / C, n = i % C;
  const float *h = (const float *)a->work + m * Hd, *w2 = KB_IN(float, 3) + n * Hd;
  float acc = 0.0f;
  for (kb_i64 j = 0; j < Hd; j++) acc += h[j] * w2[j];
  KB_OUT(float, 0)[i] = acc + KB_IN(float, 4)[n];
}
KB_ITEMS2(a->n[0] * a->n[2], a->n[0] * a->n[1])
