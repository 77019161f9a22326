// Sparge's map on the SageAttention INT8 path (sparge(sage=1)) on a GPU:
//  1. CUDA against the CPU emulation on the same inputs (the predicted maps are identical):
//     O within 4e-3 relative L1 and the LSE within 2e-3 (as test_attn_sage_gpu); the
//     gradients (each from its own forward) within 5e-2 relative L1;
//  2. a full map (topk = 1) reproduces plain sage: O, LSE and dV bit for bit; dQ and dK
//     within 1e-3 relative L1 (fp32 atomics in completion order);
//  3. every row empty (topk = 0, theta = -2): O = 0, LSE = -inf, zero gradients, no NaN;
//  4. the check harness against the fp64 reference on the kept blocks (masks identical CPU vs
//     GPU): 16-bit P V within the sage tolerance, FP8 P V by sage's cosine acceptance.
// Skips (exit 77) without the CUDA backend or without a GPU.
#include <stdio.h>

#include "sparge_sage_run.h"

#define TEST_NAME "test_attn_sparge_sage_gpu"

#ifdef VDIT_HAVE_CUDA
#define GPU VDIT_CUDA(0)

static const vdit_attn_shape SHAPE = {1, 2, 1000, 1000, 128};

static double rel_l1(const float *x, const float *ref, size_t n) {
  double diff = 0, norm = 0;
  for (size_t i = 0; i < n; i++) {
    diff += isfinite(x[i]) ? fabs((double)x[i] - ref[i]) : INFINITY;
    norm += fabs((double)ref[i]);
  }
  return norm > 0 ? diff / norm : diff;
}

static void test_against_cpu(void) {
  float *in[4];
  float *block = inputs_alloc(SHAPE, 31, in);
  CHECK(block != NULL);
  if (!block) return;
  const vdit_attn_config c = sparge_sage_config(0.3f, 0.0f);
  run_out cpu = {0}, gpu = {0};
  CHECK_OK(run_plan(VDIT_CPU, &c, SHAPE, (const float *const *)in, &cpu));
  CHECK_OK(run_plan(GPU, &c, SHAPE, (const float *const *)in, &gpu));
  const size_t n = (size_t)(SHAPE.batch * SHAPE.heads * SHAPE.seq_q * SHAPE.head_dim), nl = n / (size_t)SHAPE.head_dim;
  if (cpu.o && gpu.o) {
    double lse_err = 0;
    size_t bad = 0;
    for (size_t i = 0; i < nl; i++) {
      if (isinf(cpu.lse[i])) bad += !(isinf(gpu.lse[i]) && gpu.lse[i] < 0);
      else if (!isfinite(gpu.lse[i])) bad++;
      else lse_err = fmax(lse_err, fabs((double)gpu.lse[i] - cpu.lse[i]) / fmax(1.0, fabs((double)cpu.lse[i])));
    }
    const double o = rel_l1(gpu.o, cpu.o, n), dq = rel_l1(gpu.dq, cpu.dq, n), dk = rel_l1(gpu.dk, cpu.dk, n),
                 dv = rel_l1(gpu.dv, cpu.dv, n);
    printf("%s: cuda vs cpu: O %.3g LSE %.3g dQ %.3g dK %.3g dV %.3g (rel L1), %zu bad LSE\n", TEST_NAME, o, lse_err, dq, dk, dv, bad);
    CHECK(bad == 0 && o <= 4e-3 && lse_err <= 2e-3);
    CHECK(dq <= 5e-2 && dk <= 5e-2 && dv <= 5e-2);
  }
  run_out_free(&cpu);
  run_out_free(&gpu);
  free(block);
}

static void test_full_map(void) {
  float *in[4];
  float *block = inputs_alloc(SHAPE, 32, in);
  CHECK(block != NULL);
  if (!block) return;
  vdit_attn_config sage;
  memset(&sage, 0, sizeof sage);
  sage.method = VDIT_ATTN_SAGE;
  const vdit_attn_config sparse = sparge_sage_config(1.0f, 0.0f);
  run_out a = {0}, b = {0};
  CHECK_OK(run_plan(GPU, &sage, SHAPE, (const float *const *)in, &a));
  CHECK_OK(run_plan(GPU, &sparse, SHAPE, (const float *const *)in, &b));
  const size_t n = (size_t)(SHAPE.batch * SHAPE.heads * SHAPE.seq_q * SHAPE.head_dim), nl = n / (size_t)SHAPE.head_dim;
  if (a.o && b.o) {
    const size_t o = bits_differ(a.o, b.o, n), l = bits_differ(a.lse, b.lse, nl), v = bits_differ(a.dv, b.dv, n);
    const double dq = rel_l1(b.dq, a.dq, n), dk = rel_l1(b.dk, a.dk, n);
    printf("%s: full map vs sage: %zu O, %zu LSE, %zu dV values differ; dQ %.3g dK %.3g rel L1\n", TEST_NAME, o, l, v, dq, dk);
    CHECK(o == 0 && l == 0 && v == 0);
    CHECK(dq <= 1e-3 && dk <= 1e-3);
  }
  run_out_free(&a);
  run_out_free(&b);
  free(block);
}

static void test_empty_rows(void) {
  float *in[4];
  float *block = inputs_alloc(SHAPE, 33, in);
  CHECK(block != NULL);
  if (!block) return;
  const vdit_attn_config empty = sparge_sage_config(0.0f, -2.0f);
  run_out r = {0};
  CHECK_OK(run_plan(GPU, &empty, SHAPE, (const float *const *)in, &r));
  const size_t n = (size_t)(SHAPE.batch * SHAPE.heads * SHAPE.seq_q * SHAPE.head_dim), nl = n / (size_t)SHAPE.head_dim;
  size_t bad = 0;
  for (size_t i = 0; r.o && i < n; i++) bad += r.o[i] != 0.0f || r.dq[i] != 0.0f || r.dk[i] != 0.0f || r.dv[i] != 0.0f;
  for (size_t i = 0; r.lse && i < nl; i++) bad += !(isinf(r.lse[i]) && r.lse[i] < 0);
  printf("%s: empty rows: %zu bad values\n", TEST_NAME, bad);
  CHECK(bad == 0);
  run_out_free(&r);
  free(block);
}

static void test_check_harness(void) {
  const int64_t seqs[] = {2048, 1000};
  for (int c = 0; c < 2; c++) {
    vdit_attn_check_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.config = sparge_sage_config(c ? 0.5f : 0.2f, 0.0f);
    spec.config.sage.pv = c == 0 ? VDIT_ATTN_SAGE_PV_HALF : VDIT_ATTN_SAGE_PV_FP8;
    spec.shape = (vdit_attn_shape){1, 2, seqs[c], seqs[c], 128};
    spec.dtype = VDIT_DTYPE_BF16;
    spec.device = GPU;
    spec.inputs = VDIT_ATTN_INPUTS_VIDEO;
    spec.seed = 40 + (uint64_t)c;
    spec.backward = 1;
    spec.target_sparsity = -1;
    vdit_attn_check_result r;
    CHECK_OK(vdit_attn_check_run(&spec, &r));
    const int grads = r.dq.cos >= 0.99 && r.dk.cos >= 0.99 && r.dv.cos >= 0.99 && !r.dq.nonfinite && !r.dk.nonfinite && !r.dv.nonfinite;
    printf("%s: check S=%lld pv=%s sparsity %.3g masks %s: O %.3g/%.5f dQ %.3g/%.5f dK %.3g/%.5f dV %.3g/%.5f (rel L1/cos)\n",
           TEST_NAME, (long long)seqs[c], c ? "fp8" : "half", r.sparsity, r.masks_identical ? "same" : "DIFFER", r.o.rel_l1,
           r.o.cos, r.dq.rel_l1, r.dq.cos, r.dk.rel_l1, r.dk.cos, r.dv.rel_l1, r.dv.cos);
    CHECK(r.masks_compared && r.masks_identical);
    CHECK(c == 0 ? r.passed : (r.o.cos >= 0.999 && r.lse.max_err <= 0.1 && !r.o.nonfinite && grads));
  }
}

int main(void) {
  int count = 0;
  if (vdit_gpu_count(&count) != VDIT_OK || count == 0) return check_skip(TEST_NAME, "no CUDA GPU");
  test_against_cpu();
  test_full_map();
  test_empty_rows();
  test_check_harness();
  return check_finish(TEST_NAME);
}
#else
int main(void) { return check_skip(TEST_NAME, "built without CUDA"); }
#endif
