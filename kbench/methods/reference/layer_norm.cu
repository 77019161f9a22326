// layer_norm (reference): layer norm per row, affine (w, b), eps f0.
#include "kb.h"

KB_FN void kb_item(const kb_args *a, kb_i64 r) {
  kb_i64 cols = a->n[1];
  const float *x = KB_IN(float, 0) + r * cols, *w = KB_IN(float, 1), *b = KB_IN(float, 2);
  float *y = KB_OUT(float, 0) + r * cols;
  float mean = 0.0f, var = 0.0f;
  for (kb_i64 c = 0; c < cols; c++) mean += x[c];
  mean /= (float)cols;
  for (kb_i64 c = 0; c < cols; c++) var += (x[c] - mean) * (x[c] - mean);
  float rstd = 1.0f / sqrtf(var / (float)cols + a->f[0]);
  for (kb_i64 c = 0; c < cols; c++) y[c] = (x[c] - mean) * rstd * w[c] + b[c];
}
KB_ITEMS(a->n[0])
