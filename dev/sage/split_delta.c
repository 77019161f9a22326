// Where FP8 P V's dQ error comes from on K-outlier inputs with the channel split (split=auto):
// the sage backward (CPU emulation) fed O and LSE from the exact fp32 forward, the FP8 P V forward
// or the 16-bit P V forward, every pairing; dQ, dK, dV (rel L1 / cosine) against the dense fp32
// backward on the exact O and LSE. SageBwd takes Delta = rowsum(dO O) from the O it is given.
// Usage: split_delta [D [S]] (default 64 256; B = 1, H = 2, `outlier` inputs, seed 0, fp32 values).
// Build: gcc -O2 -std=c11 -Iinclude -Ibuild/include -Isrc dev/sage/split_delta.c build/src/libvdit.a -lm -fopenmp
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "attn/attn_inputs.h"
#include "attn/attn_sage.h"
#include "vdit/vdit.h"
static double cosine(const float *a, const float *b, size_t n, double *l1) {
  double ab = 0, aa = 0, bb = 0, e = 0, s = 0;
  for (size_t i = 0; i < n; i++) ab += (double)a[i] * b[i], aa += (double)a[i] * a[i], bb += (double)b[i] * b[i], e += fabs(a[i] - b[i]), s += fabs(b[i]);
  *l1 = e / s;
  return ab / sqrt(aa * bb);
}
int main(int argc, char **argv) {
  const int64_t D = argc > 1 ? atoi(argv[1]) : 64, S = argc > 2 ? atoi(argv[2]) : 256;
  vdit_attn_shape shape = {1, 2, S, S, D};
  const size_t n = 2 * S * D;
  float *q = malloc(n * 4), *k = malloc(n * 4), *v = malloc(n * 4), *dO = malloc(n * 4);
  float *o[3], *l[3], *dq = malloc(n * 4), *dk = malloc(n * 4), *dv = malloc(n * 4), *rq = malloc(n * 4), *rk = malloc(n * 4), *rv = malloc(n * 4);
  for (int i = 0; i < 3; i++) o[i] = malloc(n * 4), l[i] = malloc(2 * S * 4);
  vdit_attn_inputs_fill(VDIT_ATTN_INPUTS_OUTLIER, 0, &shape, q, k, v);
  vdit_rng_normal(5, 0, n, dO);
  vdit_attn_problem p;
  memset(&p, 0, sizeof p);
  p.shape = shape;
  p.scale = 1.0f / sqrtf((float)D);
  p.config.method = VDIT_ATTN_SAGE;
  p.config.sage.split = VDIT_ATTN_SAGE_SPLIT_AUTO;
  vdit_attn_cpu_dense_forward(&p, q, k, v, o[0], l[0]);
  vdit_attn_cpu_dense_backward(&p, q, k, v, o[0], l[0], dO, rq, rk, rv);
  p.config.sage.pv = VDIT_ATTN_SAGE_PV_FP8;
  vdit_attn_cpu_sage_forward(&p, VDIT_DTYPE_BF16, q, k, v, o[1], l[1]);
  p.config.sage.pv = VDIT_ATTN_SAGE_PV_HALF;
  vdit_attn_cpu_sage_forward(&p, VDIT_DTYPE_BF16, q, k, v, o[2], l[2]);
  const char *names[3] = {"exact", "fp8 fwd", "half fwd"};
  for (int io = 0; io < 3; io++)
    for (int il = 0; il < 3; il++) {
      vdit_attn_cpu_sage_backward(&p, VDIT_DTYPE_BF16, q, k, v, o[io], l[il], dO, dq, dk, dv);
      double a, b, c;
      double cq = cosine(dq, rq, n, &a), ck = cosine(dk, rk, n, &b), cv = cosine(dv, rv, n, &c);
      printf("D=%lld S=%lld O from %-8s LSE from %-8s: dq %.4f/%.5f dk %.4f/%.5f dv %.4f/%.5f\n", (long long)D, (long long)S, names[io], names[il], a, cq, b, ck, c, cv);
    }
  double a;
  const double c = cosine(o[1], o[0], n, &a);
  printf("O fp8 vs exact: cos %.5f rel l1 %.4f\n", c, a);
  return 0;
}
