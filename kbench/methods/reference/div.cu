// div: y = f(x, z) elementwise over n0 * n1 floats.
#include "kb.h"

KB_FN float kb_op2(float x, float z, const kb_args *a) {
  (void)a;
  return x / z;
}

KB_BINARY_TASK()
