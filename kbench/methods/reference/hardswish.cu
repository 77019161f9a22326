// hardswish: y = f(x) elementwise over n0 * n1 floats, one item per element.
#include "kb.h"

KB_FN float kb_op(float x, const kb_args *a) {
  (void)a;
  float t = fminf(fmaxf(x + 3.0f, 0.0f), 6.0f);
  return x * t / 6.0f;
}

KB_UNARY_TASK()
