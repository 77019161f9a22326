// The fp32 CPU attention kernels against the fp64 reference on raw (B, H, S, D) arrays, and
// the reference backward against finite differences of L = sum(dO * O).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attn/attn_kernels.h"
#include "check.h"
#include "vdit/num.h"

typedef struct case_spec {
  int64_t batch, heads, seq_q, seq_k, dim;
  vdit_attn_mask mask;
  int64_t block;
  int ragged; // per-batch key lengths, the last batch element with none
} case_spec;

static double *to_double(const float *x, size_t n) {
  double *out = malloc(n * sizeof *out);
  for (size_t i = 0; i < n; i++) out[i] = x[i];
  return out;
}

static void poison(float *x, size_t n) {
  for (size_t i = 0; i < n; i++) x[i] = NAN;
}

static void run_case(const case_spec *c, uint64_t seed) {
  const vdit_attn_shape shape = {c->batch, c->heads, c->seq_q, c->seq_k, c->dim};
  const size_t nq = (size_t)(c->batch * c->heads * c->seq_q * c->dim);
  const size_t nk = (size_t)(c->batch * c->heads * c->seq_k * c->dim);
  const size_t nl = (size_t)(c->batch * c->heads * c->seq_q);
  int64_t key_lengths[8];
  for (int64_t b = 0; b < c->batch; b++) key_lengths[b] = (b == c->batch - 1) ? 0 : c->seq_k - 3 * b;
  vdit_attn_problem problem = {shape, 1.0f / sqrtf((float)c->dim), {0}, NULL, NULL, {0}};
  problem.config.mask = c->mask;
  problem.config.mask_block_length = c->block;
  problem.config.key_lengths = c->ragged ? key_lengths : NULL;

  float *q = malloc(nq * 4), *k = malloc(nk * 4), *v = malloc(nk * 4), *d_o = malloc(nq * 4);
  float *o = malloc(nq * 4), *lse = malloc(nl * 4), *dq = malloc(nq * 4), *dk = malloc(nk * 4), *dv = malloc(nk * 4);
  vdit_rng_normal(seed, 0, nq, q);
  vdit_rng_normal(seed, nq, nk, k);
  vdit_rng_normal(seed, nq + nk, nk, v);
  vdit_rng_normal(seed, nq + 2 * nk, nq, d_o);
  // Outlier channels in K (a few channels 10-50x larger, as real K has).
  for (size_t i = 0; i < nk; i++)
    if (i % (size_t)c->dim == 3) k[i] *= 20.0f;
  poison(o, nq); poison(lse, nl); poison(dq, nq); poison(dk, nk); poison(dv, nk);
  CHECK_OK(vdit_attn_cpu_dense_forward(&problem, q, k, v, o, lse));
  CHECK_OK(vdit_attn_cpu_dense_backward(&problem, q, k, v, o, lse, d_o, dq, dk, dv));

  double *qd = to_double(q, nq), *kd = to_double(k, nk), *vd = to_double(v, nk), *dod = to_double(d_o, nq);
  double *o_ref = malloc(nq * 8), *lse_ref = malloc(nl * 8), *dq_ref = malloc(nq * 8);
  double *dk_ref = malloc(nk * 8), *dv_ref = malloc(nk * 8);
  CHECK_OK(vdit_attn_reference_forward(&problem, qd, kd, vd, o_ref, lse_ref));
  CHECK_OK(vdit_attn_reference_backward(&problem, qd, kd, vd, dod, dq_ref, dk_ref, dv_ref));

  const struct { const char *name; const float *x; const double *ref; size_t n; } outputs[] = {
      {"o", o, o_ref, nq}, {"dq", dq, dq_ref, nq}, {"dk", dk, dk_ref, nk}, {"dv", dv, dv_ref, nk}};
  for (int t = 0; t < 4; t++) {
    vdit_error_stats e = vdit_error_stats_f32(outputs[t].n, outputs[t].x, outputs[t].ref);
    if (!(e.nonfinite == 0 && e.rel_l1 < 2e-5 && e.max_err < 2e-4)) {
      CHECK_FAIL_("%s B=%lld H=%lld Sq=%lld Sk=%lld D=%lld mask=%d ragged=%d: rel_l1 %.3g max_err %.3g nonfinite %lld",
                  outputs[t].name, (long long)c->batch, (long long)c->heads, (long long)c->seq_q,
                  (long long)c->seq_k, (long long)c->dim, (int)c->mask, c->ragged, e.rel_l1, e.max_err,
                  (long long)e.nonfinite);
    }
  }
  // LSE: -inf exactly where the reference has no key, else close.
  for (size_t i = 0; i < nl; i++) {
    if (isinf(lse_ref[i])) CHECK(isinf(lse[i]) && lse[i] < 0);
    else CHECK_NEAR(lse[i], lse_ref[i], 1e-4 * (1 + fabs(lse_ref[i])));
  }
  free(q); free(k); free(v); free(d_o); free(o); free(lse); free(dq); free(dk); free(dv);
  free(qd); free(kd); free(vd); free(dod); free(o_ref); free(lse_ref); free(dq_ref); free(dk_ref); free(dv_ref);
}

// L(q, k, v) = sum dO * O; its gradient is what the backward computes.
static double loss(const vdit_attn_problem *p, const double *q, const double *k, const double *v,
                   const double *d_o, size_t nq, size_t nl) {
  double *o = malloc(nq * 8), *lse = malloc(nl * 8);
  vdit_attn_reference_forward(p, q, k, v, o, lse);
  double sum = 0;
  for (size_t i = 0; i < nq; i++) sum += d_o[i] * o[i];
  free(o);
  free(lse);
  return sum;
}

static void test_finite_differences(vdit_attn_mask mask) {
  const vdit_attn_shape shape = {1, 2, 5, 7, 4};
  vdit_attn_problem problem = {shape, 0.5f, {0}, NULL, NULL, {0}};
  problem.config.mask = mask;
  problem.config.mask_block_length = 3;
  const size_t nq = 1 * 2 * 5 * 4, nk = 1 * 2 * 7 * 4, nl = 10;
  double q[40], k[56], v[56], d_o[40], dq[40], dk[56], dv[56];
  float draw[192];
  vdit_rng_normal(99, 0, 192, draw);
  for (size_t i = 0; i < nq; i++) q[i] = draw[i], d_o[i] = draw[100 + i];
  for (size_t i = 0; i < nk; i++) k[i] = draw[40 + i] * 0.7, v[i] = draw[136 + i % 56];
  CHECK_OK(vdit_attn_reference_backward(&problem, q, k, v, d_o, dq, dk, dv));
  const double eps = 1e-6;
  double *tensors[3] = {q, k, v}, *grads[3] = {dq, dk, dv};
  size_t sizes[3] = {nq, nk, nk};
  for (int t = 0; t < 3; t++)
    for (size_t i = 0; i < sizes[t]; i++) {
      double saved = tensors[t][i];
      tensors[t][i] = saved + eps;
      double plus = loss(&problem, q, k, v, d_o, nq, nl);
      tensors[t][i] = saved - eps;
      double minus = loss(&problem, q, k, v, d_o, nq, nl);
      tensors[t][i] = saved;
      CHECK_NEAR(grads[t][i], (plus - minus) / (2 * eps), 1e-7 * (1 + fabs(grads[t][i])));
    }
}

int main(void) {
  const case_spec cases[] = {
      {1, 1, 1, 1, 8, VDIT_ATTN_MASK_NONE, 0, 0},
      {2, 3, 63, 63, 64, VDIT_ATTN_MASK_NONE, 0, 0},
      {1, 2, 127, 127, 128, VDIT_ATTN_MASK_CAUSAL, 0, 0},
      {2, 2, 100, 257, 64, VDIT_ATTN_MASK_BLOCK_CAUSAL, 48, 0},
      {3, 1, 70, 130, 96, VDIT_ATTN_MASK_NONE, 0, 1},
      {1, 1, 200, 50, 32, VDIT_ATTN_MASK_CAUSAL, 0, 0},  // Sq > Sk: leading rows see nothing
      {1, 2, 300, 300, 256, VDIT_ATTN_MASK_CAUSAL, 0, 1},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(&cases[i], 1000 + i);
  test_finite_differences(VDIT_ATTN_MASK_NONE);
  test_finite_differences(VDIT_ATTN_MASK_CAUSAL);
  test_finite_differences(VDIT_ATTN_MASK_BLOCK_CAUSAL);
  return check_finish("test_attn_cpu_kernels");
}
