// l2_normalize (reference): y = x / max(||x||, f0) per row.
#include "kb.h"

KB_FN void kb_item(const kb_args *a, kb_i64 r) {
  kb_i64 cols = a->n[1];
  const float *x = KB_IN(float, 0) + r * cols;
  float *y = KB_OUT(float, 0) + r * cols;
  float acc = 0.0f;
  for (kb_i64 c = 0; c < cols; c++) acc += x[c] * x[c];
  float norm = fmaxf(sqrtf(acc), a->f[0]);
  for (kb_i64 c = 0; c < cols; c++) y[c] = x[c] / norm;
}
KB_ITEMS(a->n[0])
