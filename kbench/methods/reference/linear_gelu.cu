// linear_gelu (reference): gelu_tanh(x W^T + b), one item per output.
#include "kb.h"
KB_FN float kb_gelu_tanh(float x) {
  float inner = 0.7978845608028654f * (x + 0.044715f * x * x * x);
  return 0.5f * x * (1.0f + tanhf(inner));
}
KB_FN void kb_item(const kb_args *a, kb_i64 i) {
  kb_i64 N = a->n[1], K = a->n[2], m = i / N, n = i % N;
  const float *x = KB_IN(float, 0), *w = KB_IN(float, 1);
  float acc = 0.0f;
  for (kb_i64 k = 0; k < K; k++) acc += x[m * K + k] * w[n * K + k];
  KB_OUT(float, 0)[i] = kb_gelu_tanh(acc + KB_IN(float, 2)[n]);
}
KB_ITEMS(a->n[0] * a->n[1])
