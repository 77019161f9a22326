// Adversarial: a "w8a8" linear that never quantizes the activations.
#include "kb.h"

KB_FN void kb_item(const kb_args *a, kb_i64 i) {
  kb_i64 N = a->n[1], K = a->n[2], m = i / N, n = i % N;
  float acc = 0;
  for (kb_i64 k = 0; k < K; k++) acc += KB_IN(float, 0)[m * K + k] * (float)KB_IN(kb_i8, 1)[n * K + k];
  KB_OUT(float, 0)[i] = acc * KB_IN(float, 2)[n] + KB_IN(float, 3)[n];
}
KB_ITEMS(a->n[0] * a->n[1])
