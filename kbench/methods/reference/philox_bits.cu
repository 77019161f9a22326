// philox_bits (reference): raw 32-bit Philox outputs.
#include "kb.h"

KB_FN void kb_item(const kb_args *a, kb_i64 e) {
  KB_OUT(kb_u32, 0)[e] = kb_philox_u32((kb_u64)a->i[0], (kb_u64)(a->i[1] + e));
}
KB_ITEMS(a->n[0] * a->n[1])
