// Adversarial: writes through a null pointer (the evaluator must survive it).
#include "kb.h"

int kb_run(const kb_args *a);
int kb_run(const kb_args *a) {
  volatile float *nothing = (volatile float *)(a->n[0] < 0 ? a->out[0] : 0);
  nothing[a->n[1]] = 1.0f;
  return 0;
}
