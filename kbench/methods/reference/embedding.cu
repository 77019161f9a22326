// embedding (reference): one item per output element.
#include "kb.h"

KB_FN void kb_item(const kb_args *a, kb_i64 o) {
  kb_i64 D = a->n[1];
  KB_OUT(float, 0)[o] = KB_IN(float, 0)[(kb_i64)KB_IN(kb_i32, 1)[o / D] * D + o % D];
}
KB_ITEMS(a->n[0] * a->n[1])
