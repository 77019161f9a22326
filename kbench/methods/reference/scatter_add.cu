// scatter_add (reference): deterministic: each output element sums its source rows in index order.
#include "kb.h"

KB_FN void kb_item(const kb_args *a, kb_i64 o) {
  kb_i64 D = a->n[1], v = o / D, d = o % D;
  float acc = 0.0f;
  for (kb_i64 i = 0; i < a->n[0]; i++)
    if (KB_IN(kb_i32, 1)[i] == v) acc += KB_IN(float, 0)[i * D + d];
  KB_OUT(float, 0)[o] = acc;
}
KB_ITEMS(a->n[2] * a->n[1])
