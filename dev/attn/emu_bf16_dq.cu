// Host-only: dQ of a bf16 causal problem (B = H = 1, S = 4096) against the fp64 reference, computed
// with the roundings the kernels make (O stored in bf16 -> Delta = rowsum(dO * O); dS rounded to
// bf16 before dS K; dQ rounded to bf16), and with an exact Delta. Inputs as main.cu's case 21 draws
// them (Philox seed 1000 + 17 * 21), K channels 10-50x on about 4 in D when outlier is 1.
//   nvcc -O3 -I. -I../../src -o bin/emu_bf16_dq emu_bf16_dq.cu -lpthread && bin/emu_bf16_dq 16 1
#include <cuda_bf16.h>
#include <string.h>
#include "base/philox.h"
#include "ref.h"
static double rb(double x) { return (double)__bfloat162float(__float2bfloat16_rn((float)x)); } // round to bf16
int main(int argc, char **argv) {
  int ci = 21, B = 1, H = 1, S = 4096, D = argc > 1 ? atoi(argv[1]) : 16; int outlier = argc > 2 ? atoi(argv[2]) : 1;
  uint64_t seed = 1000 + 17 * (uint64_t)ci;
  double chan[256];
  for (int d = 0; d < D; d++) { chan[d] = 1; if (outlier && (vdit_philox_uniform_at(seed + 7, d) < 4.0f / D || d == (int)(seed % D))) chan[d] = 10 + 40.0 * vdit_philox_uniform_at(seed + 8, d); }
  int n = S * D; double *q = (double*)malloc(8*n), *k = (double*)malloc(8*n), *v = (double*)malloc(8*n), *dO = (double*)malloc(8*n);
  for (int i = 0; i < n; i++) { q[i] = rb(vdit_philox_normal_at(seed+1, i)); k[i] = rb(vdit_philox_normal_at(seed+2, i) * (float)chan[i % D]); v[i] = rb(vdit_philox_normal_at(seed+3, i)); dO[i] = rb(vdit_philox_normal_at(seed+4, i)); }
  ref_problem p = {B, H, S, S, D, (double)(float)(1.0/sqrt(D)), 1, 0, NULL};
  double *o = (double*)malloc(8*n), *lse = (double*)malloc(8*S), *dq = (double*)malloc(8*n), *dk = (double*)malloc(8*n), *dv = (double*)malloc(8*n);
  ref_forward(&p, q, k, v, o, lse); ref_backward(&p, q, k, v, o, lse, dO, dq, dk, dv);
  // emulated dq: Delta from bf16 O, dS rounded to bf16
  ref_err_acc a1, a2; memset(&a1, 0, sizeof a1); memset(&a2, 0, sizeof a2);
  for (int i = 0; i < S; i++) {
    double delta_b = 0, delta = 0; for (int d = 0; d < D; d++) { delta_b += dO[i*D+d] * rb(o[i*D+d]); delta += dO[i*D+d]*o[i*D+d]; }
    double r1[256] = {0}, r2[256] = {0};
    for (int j = 0; j <= i; j++) {
      double s = 0, dp = 0; for (int d = 0; d < D; d++) { s += q[i*D+d]*k[j*D+d]; dp += dO[i*D+d]*v[j*D+d]; }
      double pij = exp(p.scale * s - lse[i]);
      double ds1 = rb(pij * (dp - delta_b)), ds2 = rb(pij * (dp - delta));
      for (int d = 0; d < D; d++) { r1[d] += p.scale * ds1 * k[j*D+d]; r2[d] += p.scale * ds2 * k[j*D+d]; }
    }
    for (int d = 0; d < D; d++) { ref_err_add(&a1, rb(r1[d]), dq[i*D+d]); ref_err_add(&a2, rb(r2[d]), dq[i*D+d]); }
  }
  ref_err e1 = ref_err_finish(&a1), e2 = ref_err_finish(&a2);
  printf("D=%d outlier=%d  emulated dQ (Delta from bf16 O, dS bf16): rel_l1 %.2e cos %.7f | (exact Delta, dS bf16): rel_l1 %.2e cos %.7f\n", D, outlier, e1.rel_l1, e1.cos, e2.rel_l1, e2.cos);
}
