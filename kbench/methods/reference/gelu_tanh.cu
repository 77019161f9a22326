// gelu_tanh: y = f(x) elementwise over n0 * n1 floats, one item per element.
#include "kb.h"

KB_FN float kb_op(float x, const kb_args *a) {
  (void)a;
  float inner = 0.7978845608028654f * (x + 0.044715f * x * x * x);
  return 0.5f * x * (1.0f + tanhf(inner));
}

KB_UNARY_TASK()
