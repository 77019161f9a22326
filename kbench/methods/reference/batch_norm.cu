// batch_norm (reference): batch norm with running statistics.
#include "kb.h"

KB_FN void kb_item(const kb_args *a, kb_i64 i) {
  kb_i64 C = a->n[1], HW = a->n[2], c = (i / HW) % C;
  const float *mean = KB_IN(float, 1), *var = KB_IN(float, 2), *w = KB_IN(float, 3), *b = KB_IN(float, 4);
  float rstd = 1.0f / sqrtf(var[c] + a->f[0]);
  KB_OUT(float, 0)[i] = (KB_IN(float, 0)[i] - mean[c]) * rstd * w[c] + b[c];
}
KB_ITEMS(a->n[0] * a->n[1] * a->n[2])
