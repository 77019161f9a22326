// philox_uniform (reference): element e = Philox stream (seed i0) at offset i1 + e.
#include "kb.h"

KB_FN void kb_item(const kb_args *a, kb_i64 e) {
  KB_OUT(float, 0)[e] = kb_uniform_from_bits(kb_philox_u32((kb_u64)a->i[0], (kb_u64)(a->i[1] + e)));
}
KB_ITEMS(a->n[0] * a->n[1])
