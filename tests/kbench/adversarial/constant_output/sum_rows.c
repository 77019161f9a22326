// Adversarial: writes zeros (a "kernel" that passes a loose relative check on small sums).
#include "kb.h"

int kb_run(const kb_args *a);
int kb_run(const kb_args *a) {
  for (kb_i64 r = 0; r < a->n[0]; r++) KB_OUT(float, 0)[r] = 0.0f;
  return 0;
}
