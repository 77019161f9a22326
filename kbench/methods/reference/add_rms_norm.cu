// add_rms_norm (reference): one item per row: r = x + h (out 1), y = rms_norm(r) w (out 0).
#include "kb.h"

KB_FN void kb_item(const kb_args *a, kb_i64 row) {
  kb_i64 C = a->n[1];
  const float *x = KB_IN(float, 0) + row * C, *h = KB_IN(float, 1) + row * C, *w = KB_IN(float, 2);
  float *y = KB_OUT(float, 0) + row * C, *r = KB_OUT(float, 1) + row * C;
  float acc = 0.0f;
  for (kb_i64 c = 0; c < C; c++) {
    r[c] = x[c] + h[c];
    acc += r[c] * r[c];
  }
  float rstd = 1.0f / sqrtf(acc / (float)C + a->f[0]);
  for (kb_i64 c = 0; c < C; c++) y[c] = r[c] * rstd * w[c];
}
KB_ITEMS(a->n[0])
