// modulate_layer_norm (reference): one item per token: layer norm (no affine, eps f0), then (1 + scale) and shift.
#include "kb.h"

KB_FN void kb_item(const kb_args *a, kb_i64 r) {
  kb_i64 S = a->n[1], C = a->n[2], b = r / S;
  const float *x = KB_IN(float, 0) + r * C, *scale = KB_IN(float, 1) + b * C, *shift = KB_IN(float, 2) + b * C;
  float *y = KB_OUT(float, 0) + r * C;
  float mean = 0.0f, var = 0.0f;
  for (kb_i64 c = 0; c < C; c++) mean += x[c];
  mean /= (float)C;
  for (kb_i64 c = 0; c < C; c++) var += (x[c] - mean) * (x[c] - mean);
  float rstd = 1.0f / sqrtf(var / (float)C + a->f[0]);
  for (kb_i64 c = 0; c < C; c++) y[c] = (x[c] - mean) * rstd * (1.0f + scale[c]) + shift[c];
}
KB_ITEMS(a->n[0] * a->n[1])
