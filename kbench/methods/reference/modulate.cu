// modulate (reference): y = x (1 + scale) + shift, scale and shift per (batch, channel).
#include "kb.h"

KB_FN void kb_item(const kb_args *a, kb_i64 i) {
  kb_i64 S = a->n[1], C = a->n[2], bc = (i / (S * C)) * C + i % C;
  KB_OUT(float, 0)[i] = KB_IN(float, 0)[i] * (1.0f + KB_IN(float, 1)[bc]) + KB_IN(float, 2)[bc];
}
KB_ITEMS(a->n[0] * a->n[1] * a->n[2])
