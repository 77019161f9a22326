// gather (reference): y[r, k] = x[r, idx[r, k]].
#include "kb.h"

KB_FN void kb_item(const kb_args *a, kb_i64 o) {
  kb_i64 K = a->n[2];
  KB_OUT(float, 0)[o] = KB_IN(float, 0)[(o / K) * a->n[1] + KB_IN(kb_i32, 1)[o]];
}
KB_ITEMS(a->n[0] * a->n[2])
