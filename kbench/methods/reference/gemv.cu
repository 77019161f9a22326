// gemv (reference): y (n0) = A (n0, n1) x (n1).
#include "kb.h"

KB_FN void kb_item(const kb_args *a, kb_i64 r) {
  kb_i64 cols = a->n[1];
  const float *A = KB_IN(float, 0) + r * cols, *x = KB_IN(float, 1);
  float acc = 0.0f;
  for (kb_i64 c = 0; c < cols; c++) acc += A[c] * x[c];
  KB_OUT(float, 0)[r] = acc;
}
KB_ITEMS(a->n[0])
