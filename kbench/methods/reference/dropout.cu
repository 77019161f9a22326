// dropout (reference): keep when u >= f0, scaled by f1.
#include "kb.h"

KB_FN void kb_item(const kb_args *a, kb_i64 e) {
  float u = kb_uniform_from_bits(kb_philox_u32((kb_u64)a->i[0], (kb_u64)(a->i[1] + e)));
  KB_OUT(float, 0)[e] = u >= a->f[0] ? KB_FMUL(KB_IN(float, 0)[e], a->f[1]) : 0.0f;
}
KB_ITEMS(a->n[0] * a->n[1])
