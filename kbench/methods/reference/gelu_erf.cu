// gelu_erf: y = f(x) elementwise over n0 * n1 floats, one item per element.
#include "kb.h"

KB_FN float kb_op(float x, const kb_args *a) {
  (void)a;
  return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
}

KB_UNARY_TASK()
