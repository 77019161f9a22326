// Sage attention on a GPU (src/attn/cuda/attn_sage_forward.cu through vdit_attn_forward):
//  1. CUDA against the CPU emulation on the same inputs (same scales, codes and tiles, so they
//     agree up to accumulation order and exp2): every granularity, FP8 and 16-bit P V, bf16
//     and fp16, both layouts, every mask, Sq != Sk, ragged key lengths with an empty batch
//     element, plain and outlier inputs;
//  2. the acceptance against the fp64 reference through the check harness on plain
//     inputs at S = 1000 and 4096 (forward; the CUDA backward is the dense kernel's);
//  3. the plan's one-line errors (head dim 64, Q-smoothing).
// Skips (exit 77) without the CUDA backend or without a GPU.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attn/attn_check.h"
#include "attn/attn_kernels.h"
#include "check.h"
#include "vdit/vdit.h"

#define TEST_NAME "test_attn_sage_gpu"

#ifdef VDIT_HAVE_CUDA
#define GPU VDIT_CUDA(0)

typedef struct case_spec {
  vdit_attn_config config;
  vdit_attn_shape shape;
  vdit_dtype dtype;
  vdit_attn_inputs inputs;
  uint64_t seed;
} case_spec;

static void dims(const case_spec *c, int64_t seq, int64_t out[4]) {
  const int bshd = c->config.layout == VDIT_ATTN_LAYOUT_BSHD;
  out[0] = c->shape.batch;
  out[1] = bshd ? seq : c->shape.heads;
  out[2] = bshd ? c->shape.heads : seq;
  out[3] = c->shape.head_dim;
}

// Forward on `device` from (B, H, S, D) fp32 values; O and LSE back as fp32 arrays.
static vdit_status forward_on(const case_spec *c, vdit_device device, const float *q, const float *k, const float *v,
                              float *o, float *lse) {
  const vdit_attn_shape s = c->shape;
  int64_t qd[4], kd[4], ld[3] = {s.batch, s.heads, s.seq_q};
  dims(c, s.seq_q, qd);
  dims(c, s.seq_k, kd);
  vdit_tensor hq, hk, hv, ho, hl, tq = {0}, tk = {0}, tv = {0}, to = {0}, tl = {0};
  VDIT_TRY(vdit_tensor_alloc(&hq, c->dtype, VDIT_CPU, 4, qd));
  VDIT_TRY(vdit_tensor_alloc(&hk, c->dtype, VDIT_CPU, 4, kd));
  VDIT_TRY(vdit_tensor_alloc(&hv, c->dtype, VDIT_CPU, 4, kd));
  VDIT_TRY(vdit_tensor_alloc(&ho, c->dtype, VDIT_CPU, 4, qd));
  VDIT_TRY(vdit_tensor_alloc(&hl, VDIT_DTYPE_F32, VDIT_CPU, 3, ld));
  vdit_status st = vdit_attn_tensor_from_bhsd(q, c->config.layout, &hq);
  if (st == VDIT_OK) st = vdit_attn_tensor_from_bhsd(k, c->config.layout, &hk);
  if (st == VDIT_OK) st = vdit_attn_tensor_from_bhsd(v, c->config.layout, &hv);
  if (st == VDIT_OK) st = vdit_tensor_alloc(&tq, c->dtype, device, 4, qd);
  if (st == VDIT_OK) st = vdit_tensor_alloc(&tk, c->dtype, device, 4, kd);
  if (st == VDIT_OK) st = vdit_tensor_alloc(&tv, c->dtype, device, 4, kd);
  if (st == VDIT_OK) st = vdit_tensor_alloc(&to, c->dtype, device, 4, qd);
  if (st == VDIT_OK) st = vdit_tensor_alloc(&tl, VDIT_DTYPE_F32, device, 3, ld);
  if (st == VDIT_OK) st = vdit_tensor_poison(&to);
  if (st == VDIT_OK) st = vdit_tensor_copy(&tq, &hq);
  if (st == VDIT_OK) st = vdit_tensor_copy(&tk, &hk);
  if (st == VDIT_OK) st = vdit_tensor_copy(&tv, &hv);
  vdit_attn_plan *plan = NULL;
  if (st == VDIT_OK) st = vdit_attn_plan_create(&plan, &c->config, &tq, &tk, &tv);
  if (st == VDIT_OK) st = vdit_attn_forward(plan, &tq, &tk, &tv, &to, &tl);
  if (st == VDIT_OK) st = vdit_tensor_copy(&ho, &to);
  if (st == VDIT_OK) st = vdit_tensor_copy(&hl, &tl);
  if (st == VDIT_OK) st = vdit_attn_tensor_to_bhsd(&ho, c->config.layout, o);
  if (st == VDIT_OK) memcpy(lse, hl.data, (size_t)(s.batch * s.heads * s.seq_q) * sizeof(float));
  vdit_attn_plan_free(plan);
  vdit_tensor *all[] = {&hq, &hk, &hv, &ho, &hl, &tq, &tk, &tv, &to, &tl};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) vdit_tensor_free(all[i]);
  return st;
}

// 1. CUDA against the CPU emulation.
static void compare_case(const case_spec *c) {
  const vdit_attn_shape s = c->shape;
  const size_t nq = (size_t)(s.batch * s.heads * s.seq_q * s.head_dim), nk = (size_t)(s.batch * s.heads * s.seq_k * s.head_dim);
  const size_t nl = (size_t)(s.batch * s.heads * s.seq_q);
  float *q = malloc(nq * 4), *k = malloc(nk * 4), *v = malloc(nk * 4), *o[2] = {malloc(nq * 4), malloc(nq * 4)},
        *lse[2] = {malloc(nl * 4), malloc(nl * 4)};
  CHECK(q && k && v && o[0] && o[1] && lse[0] && lse[1]);
  CHECK_OK(vdit_attn_inputs_fill(c->inputs, c->seed, &s, q, k, v));
  CHECK_OK(forward_on(c, VDIT_CPU, q, k, v, o[0], lse[0]));
  vdit_status st = forward_on(c, GPU, q, k, v, o[1], lse[1]);
  CHECK_OK(st);
  if (st == VDIT_OK) {
    double diff = 0, norm = 0, lse_err = 0;
    int64_t bad = 0;
    for (size_t i = 0; i < nq; i++) {
      if (!isfinite(o[1][i])) bad++;
      diff += fabs((double)o[1][i] - o[0][i]);
      norm += fabs((double)o[0][i]);
    }
    for (size_t i = 0; i < nl; i++) {
      if (isinf(lse[0][i])) bad += !(isinf(lse[1][i]) && lse[1][i] < 0);
      else if (!isfinite(lse[1][i])) bad++;
      else lse_err = fmax(lse_err, fabs((double)lse[1][i] - lse[0][i]) / fmax(1.0, fabs((double)lse[0][i])));
    }
    const double rel = norm > 0 ? diff / norm : diff;
    // same codes up to rare flips where the two exp2 (or the mean's summation order) straddle
    // a rounding boundary of an fp8 P or an INT8 K code; the 16-bit outputs round too (2^-9
    // relative). A flipped K code moves a score by up to 127 integer steps, so the LSE is
    // compared relative to its magnitude (peaked outlier rows have |LSE| ~ 10-30).
    if (bad || rel > 4e-3 || lse_err > 2e-3)
      CHECK_FAIL_("cuda vs cpu: B=%lld H=%lld Sq=%lld Sk=%lld %s %s gran=%s pv=%s mask=%d inputs=%s lengths=%s: "
                  "O rel L1 %.3g, LSE max rel err %.3g, %lld non-finite",
                  (long long)s.batch, (long long)s.heads, (long long)s.seq_q, (long long)s.seq_k,
                  c->config.layout == VDIT_ATTN_LAYOUT_BSHD ? "bshd" : "bhsd", vdit_dtype_name(c->dtype),
                  vdit_attn_sage_granularity_name(c->config.sage.granularity), vdit_attn_sage_pv_name(c->config.sage.pv),
                  (int)c->config.mask, vdit_attn_inputs_name(c->inputs), c->config.key_lengths ? "ragged" : "full", rel,
                  lse_err, (long long)bad);
  }
  free(q), free(k), free(v), free(o[0]), free(o[1]), free(lse[0]), free(lse[1]);
}

static void test_against_cpu(void) {
  const int64_t seqs[][2] = {{1, 1}, {100, 100}, {300, 257}, {127, 1000}, {1000, 1000}};
  const vdit_attn_mask masks[] = {VDIT_ATTN_MASK_NONE, VDIT_ATTN_MASK_CAUSAL, VDIT_ATTN_MASK_BLOCK_CAUSAL};
  uint64_t seed = 100;
  for (int g = 0; g < VDIT_ATTN_SAGE_GRANULARITY_COUNT; g++)
    for (int pv = 0; pv < VDIT_ATTN_SAGE_PV_COUNT; pv++)
      for (int si = 0; si < 5; si++) {
        case_spec c;
        memset(&c, 0, sizeof c);
        c.config.method = VDIT_ATTN_SAGE;
        c.config.sage.granularity = (vdit_attn_sage_granularity)g;
        c.config.sage.pv = (vdit_attn_sage_pv)pv;
        c.config.mask = masks[(g + si) % 3];
        c.config.mask_block_length = 96;
        c.config.layout = (si + pv) % 2 ? VDIT_ATTN_LAYOUT_BHSD : VDIT_ATTN_LAYOUT_BSHD;
        c.shape = (vdit_attn_shape){si < 3 ? 2 : 1, 2, seqs[si][0], seqs[si][1], 128};
        c.dtype = (g + pv + si) % 2 ? VDIT_DTYPE_F16 : VDIT_DTYPE_BF16;
        c.inputs = si % 2 ? VDIT_ATTN_INPUTS_OUTLIER : VDIT_ATTN_INPUTS_PLAIN;
        c.seed = seed++;
        compare_case(&c);
      }
  int64_t lengths[3] = {300, 0, 77};
  case_spec c;
  memset(&c, 0, sizeof c);
  c.config.method = VDIT_ATTN_SAGE;
  c.config.sage.granularity = VDIT_ATTN_SAGE_PER_THREAD;
  c.config.key_lengths = lengths;
  c.config.mask = VDIT_ATTN_MASK_CAUSAL;
  c.shape = (vdit_attn_shape){3, 2, 290, 300, 128};
  c.dtype = VDIT_DTYPE_BF16;
  c.inputs = VDIT_ATTN_INPUTS_VIDEO;
  c.seed = 9;
  compare_case(&c);
}

// 2. Acceptance against fp64 (forward).
static void test_acceptance(void) {
  const int64_t seqs[] = {1000, 4096};
  for (int si = 0; si < 2; si++)
    for (int pv = 0; pv < 2; pv++) {
      vdit_attn_check_spec spec;
      memset(&spec, 0, sizeof spec);
      spec.config.method = VDIT_ATTN_SAGE;
      spec.config.sage.pv = (vdit_attn_sage_pv)pv;
      spec.config.sage.granularity = si ? VDIT_ATTN_SAGE_PER_THREAD : VDIT_ATTN_SAGE_PER_BLOCK;
      spec.shape = (vdit_attn_shape){1, 2, seqs[si], seqs[si], 128};
      spec.dtype = VDIT_DTYPE_BF16;
      spec.device = GPU;
      spec.inputs = VDIT_ATTN_INPUTS_PLAIN;
      spec.seed = 40 + (uint64_t)si;
      vdit_attn_check_result r;
      CHECK_OK(vdit_attn_check_run(&spec, &r));
      const int ok = pv == VDIT_ATTN_SAGE_PV_HALF ? r.passed : (r.o.cos >= 0.999 && r.lse.max_err <= 0.1 && !r.o.nonfinite);
      if (!ok)
        CHECK_FAIL_("acceptance S=%lld pv=%d: o rel L1 %.3g cos %.6f, lse %.3g", (long long)seqs[si], pv, r.o.rel_l1, r.o.cos,
                    r.lse.max_err);
    }
}

// 3. Errors.
static void test_errors(void) {
  int64_t shape[4] = {1, 64, 2, 64};
  vdit_tensor q, o, lse;
  int64_t lse_shape[3] = {1, 2, 64};
  CHECK_OK(vdit_tensor_alloc(&q, VDIT_DTYPE_BF16, GPU, 4, shape));
  CHECK_OK(vdit_tensor_alloc(&o, VDIT_DTYPE_BF16, GPU, 4, shape));
  CHECK_OK(vdit_tensor_alloc(&lse, VDIT_DTYPE_F32, GPU, 3, lse_shape));
  vdit_attn_config config;
  memset(&config, 0, sizeof config);
  config.method = VDIT_ATTN_SAGE;
  vdit_attn_plan *plan = NULL;
  CHECK_OK(vdit_attn_plan_create(&plan, &config, &q, &q, &q));
  CHECK_STATUS(vdit_attn_forward(plan, &q, &q, &q, &o, &lse), VDIT_ERROR_UNSUPPORTED);
  CHECK(strstr(vdit_last_error(), "head dim 128") != NULL);
  vdit_attn_plan_free(plan);
  vdit_tensor_free(&q), vdit_tensor_free(&o), vdit_tensor_free(&lse);
  shape[3] = 128;
  CHECK_OK(vdit_tensor_alloc(&q, VDIT_DTYPE_BF16, GPU, 4, shape));
  CHECK_OK(vdit_tensor_alloc(&o, VDIT_DTYPE_BF16, GPU, 4, shape));
  CHECK_OK(vdit_tensor_alloc(&lse, VDIT_DTYPE_F32, GPU, 3, lse_shape));
  config.sage.smooth_q = 1;
  CHECK_OK(vdit_attn_plan_create(&plan, &config, &q, &q, &q));
  CHECK_STATUS(vdit_attn_forward(plan, &q, &q, &q, &o, &lse), VDIT_ERROR_UNSUPPORTED);
  vdit_attn_plan_free(plan);
  vdit_tensor_free(&q), vdit_tensor_free(&o), vdit_tensor_free(&lse);
}
#endif

int main(void) {
#ifndef VDIT_HAVE_CUDA
  return check_skip(TEST_NAME, "built without CUDA");
#else
  int count = 0;
  if (vdit_gpu_count(&count) != VDIT_OK || count == 0) return check_skip(TEST_NAME, "no CUDA GPU");
  test_against_cpu();
  test_acceptance();
  test_errors();
  return check_finish(TEST_NAME);
#endif
}
