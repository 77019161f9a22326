// linear (reference): y (n0, n1) = x (n0, n2) W (n1, n2)^T + b.
#include "kb.h"

KB_FN void kb_item(const kb_args *a, kb_i64 i) {
  kb_i64 N = a->n[1], K = a->n[2], m = i / N, n = i % N;
  const float *x = KB_IN(float, 0), *w = KB_IN(float, 1), *b = KB_IN(float, 2);
  float acc = 0.0f;
  for (kb_i64 k = 0; k < K; k++) acc += x[m * K + k] * w[n * K + k];
  KB_OUT(float, 0)[i] = acc + b[n];
}
KB_ITEMS(a->n[0] * a->n[1])
