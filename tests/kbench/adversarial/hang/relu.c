// Adversarial: never returns (the evaluator's time limit must end it).
#include "kb.h"

int kb_run(const kb_args *a);
int kb_run(const kb_args *a) {
  volatile kb_i64 spin = a->n[0];
  while (spin >= 0) spin = spin + 1 > 0 ? spin + 1 : 0;
  return 0;
}
