// transpose (reference): (n0, n1) -> (n1, n0), one item per output.
#include "kb.h"

KB_FN void kb_item(const kb_args *a, kb_i64 i) {
  kb_i64 rows = a->n[0], cols = a->n[1], j = i / rows, r = i % rows;
  KB_OUT(float, 0)[i] = KB_IN(float, 0)[r * cols + j];
}
KB_ITEMS(a->n[0] * a->n[1])
