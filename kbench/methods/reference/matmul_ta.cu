// matmul_ta (reference): C (n0, n1) = A (n2, n0)^T B (n2, n1).
#include "kb.h"

KB_FN void kb_item(const kb_args *a, kb_i64 i) {
  kb_i64 M = a->n[0], N = a->n[1], K = a->n[2], m = i / N, n = i % N;
  const float *A = KB_IN(float, 0), *B = KB_IN(float, 1);
  float acc = 0.0f;
  for (kb_i64 k = 0; k < K; k++) acc += A[k * M + m] * B[k * N + n];
  KB_OUT(float, 0)[i] = acc;
}
KB_ITEMS(a->n[0] * a->n[1])
