// tril (reference): lower triangle with the diagonal.
#include "kb.h"

KB_FN void kb_item(const kb_args *a, kb_i64 i) {
  kb_i64 cols = a->n[1], r = i / cols, c = i % cols;
  KB_OUT(float, 0)[i] = c <= r ? KB_IN(float, 0)[i] : 0.0f;
}
KB_ITEMS(a->n[0] * a->n[1])
