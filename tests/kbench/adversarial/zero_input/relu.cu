// Adversarial: right output, then zeroes its input.
#include "kb.h"

KB_EXTERN_C __global__ void kb_plan(kb_args a, kb_launch *l) {
  l->stages = 1;
  kb_launch_1d(l, 0, a.n[0] * a.n[1], 256);
}
KB_EXTERN_C __global__ void kb_stage0(kb_args a) {
  float *x = (float *)a.in[0];
  KB_GRID_LOOP(i, a.n[0] * a.n[1]) {
    ((float *)a.out[0])[i] = fmaxf(x[i], 0.0f);
    x[i] = 0.0f;
  }
}
