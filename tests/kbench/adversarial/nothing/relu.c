// Adversarial: returns success without writing the output.
#include "kb.h"

int kb_run(const kb_args *a);
int kb_run(const kb_args *a) {
  (void)a;
  return 0;
}
