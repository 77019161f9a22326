// Adversarial: right output, then zeroes its input (a later op would read garbage).
#include "kb.h"

int kb_run(const kb_args *a);
int kb_run(const kb_args *a) {
  kb_i64 n = a->n[0] * a->n[1];
  float *x = (float *)a->in[0];
  for (kb_i64 i = 0; i < n; i++) KB_OUT(float, 0)[i] = x[i] > 0 ? x[i] : 0.0f;
  for (kb_i64 i = 0; i < n; i++) x[i] = 0.0f;
  return 0;
}
