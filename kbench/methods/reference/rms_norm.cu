// rms_norm (reference): RMS norm per row, weight w, eps f0.
#include "kb.h"

KB_FN void kb_item(const kb_args *a, kb_i64 r) {
  kb_i64 cols = a->n[1];
  const float *x = KB_IN(float, 0) + r * cols, *w = KB_IN(float, 1);
  float *y = KB_OUT(float, 0) + r * cols;
  float acc = 0.0f;
  for (kb_i64 c = 0; c < cols; c++) acc += x[c] * x[c];
  float rstd = 1.0f / sqrtf(acc / (float)cols + a->f[0]);
  for (kb_i64 c = 0; c < cols; c++) y[c] = x[c] * rstd * w[c];
}
KB_ITEMS(a->n[0])
