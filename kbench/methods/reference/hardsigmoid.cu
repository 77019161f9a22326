// hardsigmoid: y = f(x) elementwise over n0 * n1 floats, one item per element.
#include "kb.h"

KB_FN float kb_op(float x, const kb_args *a) {
  (void)a;
  return fminf(fmaxf(x / 6.0f + 0.5f, 0.0f), 1.0f);
}

KB_UNARY_TASK()
