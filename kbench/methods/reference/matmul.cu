// matmul (reference): C (n0, n1) = A (n0, n2) B (n2, n1), one item per output.
#include "kb.h"

KB_FN void kb_item(const kb_args *a, kb_i64 i) {
  kb_i64 N = a->n[1], K = a->n[2], m = i / N, n = i % N;
  const float *A = KB_IN(float, 0), *B = KB_IN(float, 1);
  float acc = 0.0f;
  for (kb_i64 k = 0; k < K; k++) acc += A[m * K + k] * B[k * N + n];
  KB_OUT(float, 0)[i] = acc;
}
KB_ITEMS(a->n[0] * a->n[1])
