// argmin_rows (reference): first index of the row extreme, i32.
#include "kb.h"

KB_FN void kb_item(const kb_args *a, kb_i64 r) {
  kb_i64 cols = a->n[1];
  const float *x = KB_IN(float, 0) + r * cols;
  float best = x[0];
  kb_i32 at = 0;
  for (kb_i64 c = 1; c < cols; c++)
    if (x[c] < best) best = x[c], at = (kb_i32)c;
  KB_OUT(kb_i32, 0)[r] = at;
}
KB_ITEMS(a->n[0])
