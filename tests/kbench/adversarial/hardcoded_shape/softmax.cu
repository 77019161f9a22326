// Adversarial: tuned for the standard shape only (16 rows of 256), ignores n[].
#include "kb.h"

KB_EXTERN_C __global__ void kb_plan(kb_args a, kb_launch *l) {
  l->stages = 1;
  kb_launch_1d(l, 0, 16, 16);
}
KB_EXTERN_C __global__ void kb_stage0(kb_args a) {
  int r = threadIdx.x;
  const float *x = (const float *)a.in[0] + r * 256;
  float *y = (float *)a.out[0] + r * 256, best = x[0], sum = 0;
  for (int c = 1; c < 256; c++) best = fmaxf(best, x[c]);
  for (int c = 0; c < 256; c++) sum += expf(x[c] - best);
  for (int c = 0; c < 256; c++) y[c] = expf(x[c] - best) / sum;
}
