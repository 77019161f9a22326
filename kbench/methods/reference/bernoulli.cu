// bernoulli (reference): u8 = u < f0.
#include "kb.h"

KB_FN void kb_item(const kb_args *a, kb_i64 e) {
  float u = kb_uniform_from_bits(kb_philox_u32((kb_u64)a->i[0], (kb_u64)(a->i[1] + e)));
  KB_OUT(kb_u8, 0)[e] = u < a->f[0];
}
KB_ITEMS(a->n[0] * a->n[1])
