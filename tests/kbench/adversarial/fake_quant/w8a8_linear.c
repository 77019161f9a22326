// Adversarial: a "w8a8" linear that never quantizes the activations (fp32 x times the
// dequantized int8 weights): accurate-looking, but not the contract.
#include "kb.h"

int kb_run(const kb_args *a);
int kb_run(const kb_args *a) {
  kb_i64 M = a->n[0], N = a->n[1], K = a->n[2];
  for (kb_i64 m = 0; m < M; m++)
    for (kb_i64 n = 0; n < N; n++) {
      float acc = 0;
      for (kb_i64 k = 0; k < K; k++) acc += KB_IN(float, 0)[m * K + k] * (float)KB_IN(kb_i8, 1)[n * K + k];
      KB_OUT(float, 0)[m * N + n] = acc * KB_IN(float, 2)[n] + KB_IN(float, 3)[n];
    }
  return 0;
}
