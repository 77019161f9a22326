// diag_scale (reference): y[i, j] = d[i] A[i, j] e[j].
#include "kb.h"

KB_FN void kb_item(const kb_args *a, kb_i64 i) {
  kb_i64 cols = a->n[1];
  KB_OUT(float, 0)[i] = KB_IN(float, 0)[i / cols] * KB_IN(float, 1)[i] * KB_IN(float, 2)[i % cols];
}
KB_ITEMS(a->n[0] * a->n[1])
