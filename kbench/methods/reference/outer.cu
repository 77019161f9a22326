// outer (reference): u (n0) v (n1) -> (n0, n1).
#include "kb.h"

KB_FN void kb_item(const kb_args *a, kb_i64 i) {
  kb_i64 cols = a->n[1];
  KB_OUT(float, 0)[i] = KB_IN(float, 0)[i / cols] * KB_IN(float, 1)[i % cols];
}
KB_ITEMS(a->n[0] * a->n[1])
