// mse_loss (reference): stage 0: a partial sum per row in the work buffer; stage 1: the mean.
#include "kb.h"

KB_FN void kb_item0(const kb_args *a, kb_i64 r) {
  kb_i64 cols = a->n[1];
  const float *x = KB_IN(float, 0) + r * cols, *t = KB_IN(float, 1) + r * cols;
  float acc = 0.0f;
  for (kb_i64 c = 0; c < cols; c++) {
    float d = x[c] - t[c];
    acc += d * d;
  }
  ((float *)a->work)[r] = acc;
}
KB_FN void kb_item1(const kb_args *a, kb_i64 i) {
  float total = 0.0f;
  for (kb_i64 r = 0; r < a->n[0]; r++) total += ((const float *)a->work)[r];
  KB_OUT(float, 0)[i] = total / (float)(a->n[0] * a->n[1]);
}
KB_ITEMS2(a->n[0], 1)
