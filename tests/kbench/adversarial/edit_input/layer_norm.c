// Adversarial: normalizes its input in place and copies it out (saves a buffer).
#include <math.h>

#include "kb.h"

int kb_run(const kb_args *a);
int kb_run(const kb_args *a) {
  kb_i64 rows = a->n[0], cols = a->n[1];
  const float *w = KB_IN(float, 1), *b = KB_IN(float, 2);
  for (kb_i64 r = 0; r < rows; r++) {
    float *x = (float *)a->in[0] + r * cols, mean = 0, var = 0;
    for (kb_i64 c = 0; c < cols; c++) mean += x[c];
    mean /= (float)cols;
    for (kb_i64 c = 0; c < cols; c++) var += (x[c] - mean) * (x[c] - mean);
    float rstd = 1.0f / sqrtf(var / (float)cols + a->f[0]);
    for (kb_i64 c = 0; c < cols; c++) x[c] = (x[c] - mean) * rstd * w[c] + b[c];
    for (kb_i64 c = 0; c < cols; c++) KB_OUT(float, 0)[r * cols + c] = x[c];
  }
  return 0;
}
