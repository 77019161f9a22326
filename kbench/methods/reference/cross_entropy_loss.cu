// cross_entropy_loss (reference): stage 0: per-row loss; stage 1: the mean.
#include "kb.h"

KB_FN void kb_item0(const kb_args *a, kb_i64 r) {
  kb_i64 cols = a->n[1];
  const float *x = KB_IN(float, 0) + r * cols;
  kb_i32 target = KB_IN(kb_i32, 1)[r];
  float best = x[0], sum = 0.0f;
  for (kb_i64 c = 1; c < cols; c++) best = fmaxf(best, x[c]);
  for (kb_i64 c = 0; c < cols; c++) sum += expf(x[c] - best);
  ((float *)a->work)[r] = logf(sum) + best - x[target];
}
KB_FN void kb_item1(const kb_args *a, kb_i64 i) {
  float total = 0.0f;
  for (kb_i64 r = 0; r < a->n[0]; r++) total += ((const float *)a->work)[r];
  KB_OUT(float, 0)[i] = total / (float)a->n[0];
}
KB_ITEMS2(a->n[0], 1)
