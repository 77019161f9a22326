// log_softmax (reference): row log-softmax.
#include "kb.h"

KB_FN void kb_item(const kb_args *a, kb_i64 r) {
  kb_i64 cols = a->n[1];
  const float *x = KB_IN(float, 0) + r * cols;
  float *y = KB_OUT(float, 0) + r * cols;
  float best = x[0], sum = 0.0f;
  for (kb_i64 c = 1; c < cols; c++) best = fmaxf(best, x[c]);
  for (kb_i64 c = 0; c < cols; c++) sum += expf(x[c] - best);
  float lse = logf(sum);
  for (kb_i64 c = 0; c < cols; c++) y[c] = (x[c] - best) - lse;
}
KB_ITEMS(a->n[0])
