// global_avg_pool (reference): mean of each row.
#include "kb.h"

KB_FN void kb_item(const kb_args *a, kb_i64 r) {
  const float *x = KB_IN(float, 0) + r * a->n[1];
  float acc = 0.0f;
  for (kb_i64 i = 0; i < a->n[1]; i++) acc += x[i];
  KB_OUT(float, 0)[r] = acc / (float)a->n[1];
}
KB_ITEMS(a->n[0])
