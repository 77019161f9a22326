// Adversarial: sums in a different order on every call (as racing atomics would): right
// within the tolerance, but not reproducible.
#include "kb.h"

int kb_run(const kb_args *a);
int kb_run(const kb_args *a) {
  static unsigned calls;
  kb_i64 cols = a->n[1];
  calls++;
  for (kb_i64 r = 0; r < a->n[0]; r++) {
    const float *x = KB_IN(float, 0) + r * cols;
    float acc = 0;
    if (calls & 1)
      for (kb_i64 c = 0; c < cols; c++) acc += x[c];
    else
      for (kb_i64 c = cols - 1; c >= 0; c--) acc += x[c];
    KB_OUT(float, 0)[r] = acc;
  }
  return 0;
}
