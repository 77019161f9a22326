// min_rows (reference): y (n0) from each row of x (n0, n1).
#include "kb.h"

KB_FN void kb_item(const kb_args *a, kb_i64 r) {
  kb_i64 cols = a->n[1];
  const float *x = KB_IN(float, 0) + r * cols;
  float *y = KB_OUT(float, 0);
  float best = x[0];
  for (kb_i64 c = 1; c < cols; c++) best = fminf(best, x[c]);
  y[r] = best;
}
KB_ITEMS(a->n[0])
