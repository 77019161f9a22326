// log: y = f(x) elementwise over n0 * n1 floats, one item per element.
#include "kb.h"

KB_FN float kb_op(float x, const kb_args *a) {
  (void)a;
  return logf(x);
}

KB_UNARY_TASK()
