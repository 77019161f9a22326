// bmm (reference): C (n3, n0, n1) = A (n3, n0, n2) B (n3, n2, n1).
#include "kb.h"

KB_FN void kb_item(const kb_args *a, kb_i64 i) {
  kb_i64 M = a->n[0], N = a->n[1], K = a->n[2], b = i / (M * N), m = (i / N) % M, n = i % N;
  const float *A = KB_IN(float, 0) + b * M * K, *B = KB_IN(float, 1) + b * K * N;
  float acc = 0.0f;
  for (kb_i64 k = 0; k < K; k++) acc += A[m * K + k] * B[k * N + n];
  KB_OUT(float, 0)[i] = acc;
}
KB_ITEMS(a->n[3] * a->n[0] * a->n[1])
