// max_pool1d (reference): window 3, stride 2.
#include "kb.h"

KB_FN void kb_item(const kb_args *a, kb_i64 o) {
  kb_i64 L = a->n[1], Lo = (L - 3) / 2 + 1;
  const float *x = KB_IN(float, 0) + (o / Lo) * L + 2 * (o % Lo);
  KB_OUT(float, 0)[o] = fmaxf(fmaxf(x[0], x[1]), x[2]);
}
KB_ITEMS(a->n[0] * ((a->n[1] - 3) / 2 + 1))
