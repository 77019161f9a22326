// masked_fill (reference): mask ? f0 : x.
#include "kb.h"

KB_FN void kb_item(const kb_args *a, kb_i64 o) {
  KB_OUT(float, 0)[o] = KB_IN(kb_u8, 1)[o] ? a->f[0] : KB_IN(float, 0)[o];
}
KB_ITEMS(a->n[0] * a->n[1])
