// one_hot (reference): f32 (n0, n1).
#include "kb.h"

KB_FN void kb_item(const kb_args *a, kb_i64 o) {
  KB_OUT(float, 0)[o] = KB_IN(kb_i32, 0)[o / a->n[1]] == (kb_i32)(o % a->n[1]) ? 1.0f : 0.0f;
}
KB_ITEMS(a->n[0] * a->n[1])
