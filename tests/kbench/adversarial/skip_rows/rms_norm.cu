// Adversarial: only the first 4 rows get computed.
#include "kb.h"

KB_EXTERN_C __global__ void kb_plan(kb_args a, kb_launch *l) {
  l->stages = 1;
  kb_launch_1d(l, 0, 4, 4);
}
KB_EXTERN_C __global__ void kb_stage0(kb_args a) {
  kb_i64 cols = a.n[1], r = threadIdx.x;
  if (r >= a.n[0]) return;
  const float *x = (const float *)a.in[0] + r * cols, *w = (const float *)a.in[1];
  float acc = 0;
  for (kb_i64 c = 0; c < cols; c++) acc += x[c] * x[c];
  float rstd = 1.0f / sqrtf(acc / (float)cols + a.f[0]);
  for (kb_i64 c = 0; c < cols; c++) ((float *)a.out[0])[r * cols + c] = x[c] * rstd * w[c];
}
