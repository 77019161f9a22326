// Adversarial: only the first 4 rows get computed (a loop bound bug that a check of the
// first rows would not see).
#include <math.h>

#include "kb.h"

int kb_run(const kb_args *a);
int kb_run(const kb_args *a) {
  kb_i64 cols = a->n[1], rows = a->n[0] < 4 ? a->n[0] : 4;
  for (kb_i64 r = 0; r < rows; r++) {
    const float *x = KB_IN(float, 0) + r * cols, *w = KB_IN(float, 1);
    float acc = 0;
    for (kb_i64 c = 0; c < cols; c++) acc += x[c] * x[c];
    float rstd = 1.0f / sqrtf(acc / (float)cols + a->f[0]);
    for (kb_i64 c = 0; c < cols; c++) KB_OUT(float, 0)[r * cols + c] = x[c] * rstd * w[c];
  }
  return 0;
}
