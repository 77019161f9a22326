// flip (reference): reverse each row.
#include "kb.h"

KB_FN void kb_item(const kb_args *a, kb_i64 o) {
  kb_i64 L = a->n[1];
  KB_OUT(float, 0)[o] = KB_IN(float, 0)[(o / L) * L + L - 1 - o % L];
}
KB_ITEMS(a->n[0] * a->n[1])
