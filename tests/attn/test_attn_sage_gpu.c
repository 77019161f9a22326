// Sage attention on a GPU (src/attn/cuda/attn_sage_forward_tma.cu, attn_sage_forward.cu and
// attn_sage_backward.cu through vdit_attn_forward / vdit_attn_backward):
//  1. CUDA against the CPU emulation on the same inputs (same scales, codes and tiles, so they
//     agree up to accumulation order and exp2): every granularity, FP8 and 16-bit P V, bf16
//     and fp16, both layouts, every mask, Sq != Sk, ragged key lengths with an empty batch
//     element, plain and outlier inputs; once with the default forward (version 3 for FP8 P
//     V) and once with version 2 (VDIT_SAGE_FWD=v2), then longer key sequences on version 3;
//  2. the SageBwd backward against the CPU emulation on the same Q, K, V, O (the CPU forward's),
//     LSE and dO: masks, layouts, dtypes, Sq != Sk, ragged lengths, plain and outlier inputs,
//     with dQ added by bulk tensor reductions (default) and by float2 atomics
//     (VDIT_SAGE_BWD=atomic, also the path without a tensor-map encoder);
//  3. the acceptance against the fp64 reference through the check harness on plain
//     inputs at S = 1000 and 4096 (forward and the SageBwd gradients: cosine >= 0.99);
//  3b. split=auto (CPU only so far): refused on outlier inputs, split=off's results on plain ones;
//  4. the plan's one-line errors (head dim 64, Q-smoothing);
//  5. the backward's branch-free 127 / amax against the IEEE division on all 2^32 inputs.
// Measured errors are printed (one line per case) so a device log records them.
// Skips (exit 77) without the CUDA backend or without a GPU.
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attn/attn_check.h"
#include "attn/attn_kernels.h"
#ifdef VDIT_HAVE_CUDA
#include "attn/cuda/attn_sage_cuda.h"
#endif
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
    const char *path = getenv("VDIT_SAGE_FWD");
    printf("forward cuda vs cpu (%s): B=%lld H=%lld Sq=%lld Sk=%lld gran=%s pv=%s mask=%d inputs=%s: O rel L1 %.3g, LSE %.3g\n",
           path ? path : "default", (long long)s.batch, (long long)s.heads, (long long)s.seq_q, (long long)s.seq_k,
           vdit_attn_sage_granularity_name(c->config.sage.granularity), vdit_attn_sage_pv_name(c->config.sage.pv),
           (int)c->config.mask, vdit_attn_inputs_name(c->inputs), rel, lse_err);
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

// Backward on `device` from (B, H, S, D) fp32 values of Q, K, V, O, dO and the LSE; the
// gradients back as fp32 (B, H, S, D) arrays.
static vdit_status backward_on(const case_spec *c, vdit_device device, const float *const in[5], const float *lse,
                               float *const out[3]) {
  const vdit_attn_shape s = c->shape;
  int64_t qd[4], kd[4], ld[3] = {s.batch, s.heads, s.seq_q};
  dims(c, s.seq_q, qd);
  dims(c, s.seq_k, kd);
  // host and device tensors: q, k, v, o, dO, dq, dk, dv, then the LSE
  vdit_tensor h[9], t[9];
  memset(h, 0, sizeof h);
  memset(t, 0, sizeof t);
  const int64_t *shape_of[9] = {qd, kd, kd, qd, qd, qd, kd, kd, ld};
  vdit_status st = VDIT_OK;
  for (int i = 0; i < 9 && st == VDIT_OK; i++) {
    const vdit_dtype dt = i == 8 ? VDIT_DTYPE_F32 : c->dtype;
    st = vdit_tensor_alloc(&h[i], dt, VDIT_CPU, i == 8 ? 3 : 4, shape_of[i]);
    if (st == VDIT_OK) st = vdit_tensor_alloc(&t[i], dt, device, i == 8 ? 3 : 4, shape_of[i]);
  }
  for (int i = 0; i < 5 && st == VDIT_OK; i++) st = vdit_attn_tensor_from_bhsd(in[i], c->config.layout, &h[i]);
  if (st == VDIT_OK) memcpy(h[8].data, lse, (size_t)(s.batch * s.heads * s.seq_q) * sizeof(float));
  for (int i = 0; i < 9 && st == VDIT_OK; i++)
    if (i < 5 || i == 8) st = vdit_tensor_copy(&t[i], &h[i]);
  for (int i = 5; i < 8 && st == VDIT_OK; i++) st = vdit_tensor_poison(&t[i]);
  vdit_attn_plan *plan = NULL;
  if (st == VDIT_OK) st = vdit_attn_plan_create(&plan, &c->config, &t[0], &t[1], &t[2]);
  if (st == VDIT_OK) st = vdit_attn_backward(plan, &t[0], &t[1], &t[2], &t[3], &t[8], &t[4], &t[5], &t[6], &t[7]);
  for (int i = 5; i < 8 && st == VDIT_OK; i++) st = vdit_tensor_copy(&h[i], &t[i]);
  for (int i = 5; i < 8 && st == VDIT_OK; i++) st = vdit_attn_tensor_to_bhsd(&h[i], c->config.layout, out[i - 5]);
  vdit_attn_plan_free(plan);
  for (int i = 0; i < 9; i++) vdit_tensor_free(&h[i]), vdit_tensor_free(&t[i]);
  return st;
}

// 2. The CUDA SageBwd against the CPU emulation, on the CPU forward's O and LSE.
static void compare_backward_case(const case_spec *c) {
  const vdit_attn_shape s = c->shape;
  const size_t nq = (size_t)(s.batch * s.heads * s.seq_q * s.head_dim), nk = (size_t)(s.batch * s.heads * s.seq_k * s.head_dim);
  const size_t nl = (size_t)(s.batch * s.heads * s.seq_q);
  float *q = malloc(nq * 4), *k = malloc(nk * 4), *v = malloc(nk * 4), *o = malloc(nq * 4), *d_o = malloc(nq * 4),
        *lse = malloc(nl * 4);
  float *grad[2][3];
  for (int dev = 0; dev < 2; dev++) grad[dev][0] = malloc(nq * 4), grad[dev][1] = malloc(nk * 4), grad[dev][2] = malloc(nk * 4);
  CHECK(q && k && v && o && d_o && lse && grad[0][0] && grad[0][1] && grad[0][2] && grad[1][0] && grad[1][1] && grad[1][2]);
  CHECK_OK(vdit_attn_inputs_fill(c->inputs, c->seed, &s, q, k, v));
  vdit_rng_normal(c->seed + 1000, 0, (uint64_t)nq, d_o);
  CHECK_OK(forward_on(c, VDIT_CPU, q, k, v, o, lse));
  const float *in[5] = {q, k, v, o, d_o};
  CHECK_OK(backward_on(c, VDIT_CPU, in, lse, grad[0]));
  vdit_status st = backward_on(c, GPU, in, lse, grad[1]);
  CHECK_OK(st);
  if (st == VDIT_OK) {
    const char *names[3] = {"dq", "dk", "dv"};
    const size_t counts[3] = {nq, nk, nk};
    double rel[3];
    int64_t bad = 0;
    for (int g = 0; g < 3; g++) {
      double diff = 0, norm = 0;
      for (size_t i = 0; i < counts[g]; i++) {
        if (!isfinite(grad[1][g][i])) bad++;
        diff += fabs((double)grad[1][g][i] - grad[0][g][i]);
        norm += fabs((double)grad[0][g][i]);
      }
      rel[g] = norm > 0 ? diff / norm : diff;
    }
    const char *kernel = getenv("VDIT_SAGE_BWD");
    printf("backward cuda vs cpu: B=%lld H=%lld Sq=%lld Sk=%lld %s %s mask=%d inputs=%s lengths=%s kernel=%s: rel L1 "
           "dq %.3g dk %.3g dv %.3g, %lld non-finite\n",
           (long long)s.batch, (long long)s.heads, (long long)s.seq_q, (long long)s.seq_k,
           c->config.layout == VDIT_ATTN_LAYOUT_BSHD ? "bshd" : "bhsd", vdit_dtype_name(c->dtype), (int)c->config.mask,
           vdit_attn_inputs_name(c->inputs), c->config.key_lengths ? "ragged" : "full", kernel ? kernel : "default", rel[0], rel[1],
           rel[2], (long long)bad);
    // same codes up to rare flips where the GPU's exp2, its dP summation order or the fp32
    // atomics' order straddle a rounding boundary; the 16-bit gradients round too (2^-9)
    for (int g = 0; g < 3; g++)
      if (rel[g] > 5e-3) CHECK_FAIL_("backward cuda vs cpu: %s rel L1 %.3g (case above)", names[g], rel[g]);
    if (bad) CHECK_FAIL_("backward cuda vs cpu: %lld non-finite gradients", (long long)bad);
  }
  free(q), free(k), free(v), free(o), free(d_o), free(lse);
  for (int dev = 0; dev < 2; dev++) free(grad[dev][0]), free(grad[dev][1]), free(grad[dev][2]);
}

static void test_backward_against_cpu(void) {
  const int64_t seqs[][2] = {{1, 1}, {100, 100}, {300, 257}, {127, 1000}, {1000, 1000}};
  const vdit_attn_mask masks[] = {VDIT_ATTN_MASK_NONE, VDIT_ATTN_MASK_CAUSAL, VDIT_ATTN_MASK_BLOCK_CAUSAL};
  uint64_t seed = 300;
  // path 0: the default (dQ by bulk tensor reductions); 1: dQ by float2 atomics
  const char *kernels[2] = {NULL, "atomic"};
  for (int path = 0; path < 2; path++) {
    if (kernels[path]) setenv("VDIT_SAGE_BWD", kernels[path], 1);
    else unsetenv("VDIT_SAGE_BWD");
    for (int si = 0; si < 5; si++)
      for (int mi = 0; mi < 3; mi++) {
        case_spec c;
        memset(&c, 0, sizeof c);
        c.config.method = VDIT_ATTN_SAGE;
        c.config.mask = masks[(mi + si) % 3];
        c.config.mask_block_length = 96;
        c.config.layout = (si + mi) % 2 ? VDIT_ATTN_LAYOUT_BHSD : VDIT_ATTN_LAYOUT_BSHD;
        c.shape = (vdit_attn_shape){si < 3 ? 2 : 1, 2, seqs[si][0], seqs[si][1], 128};
        c.dtype = (si + mi) % 2 ? VDIT_DTYPE_F16 : VDIT_DTYPE_BF16;
        c.inputs = (si + mi) % 2 ? VDIT_ATTN_INPUTS_OUTLIER : VDIT_ATTN_INPUTS_PLAIN;
        c.seed = seed++;
        compare_backward_case(&c);
      }
    int64_t lengths[3] = {300, 0, 77};
    case_spec c;
    memset(&c, 0, sizeof c);
    c.config.method = VDIT_ATTN_SAGE;
    c.config.key_lengths = lengths;
    c.config.mask = VDIT_ATTN_MASK_CAUSAL;
    c.shape = (vdit_attn_shape){3, 2, 290, 300, 128};
    c.dtype = VDIT_DTYPE_BF16;
    c.inputs = VDIT_ATTN_INPUTS_VIDEO;
    c.seed = 9 + (uint64_t)path;
    compare_backward_case(&c);
  }
  unsetenv("VDIT_SAGE_BWD");
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

// 1b. Version 3's pipeline over more tiles than its stages (entry parity, stage refills by the
// second warpgroup, unmasked and masked steps), one and two tiles, both key orders of the FP8 P
// V path against the CPU emulation.
static void test_against_cpu_long(void) {
  const int64_t seqs[][2] = {{256, 2000}, {200, 129}, {130, 128}, {1, 700}};
  uint64_t seed = 500;
  for (int si = 0; si < 4; si++)
    for (int g = 0; g < VDIT_ATTN_SAGE_GRANULARITY_COUNT; g++) {
      case_spec c;
      memset(&c, 0, sizeof c);
      c.config.method = VDIT_ATTN_SAGE;
      c.config.sage.granularity = (vdit_attn_sage_granularity)g;
      c.config.sage.pv = VDIT_ATTN_SAGE_PV_FP8;
      c.config.mask = si == 1 ? VDIT_ATTN_MASK_CAUSAL : VDIT_ATTN_MASK_NONE;
      c.config.layout = si % 2 ? VDIT_ATTN_LAYOUT_BHSD : VDIT_ATTN_LAYOUT_BSHD;
      c.shape = (vdit_attn_shape){1, 3, seqs[si][0], seqs[si][1], 128};
      c.dtype = g % 2 ? VDIT_DTYPE_F16 : VDIT_DTYPE_BF16;
      c.inputs = (si + g) % 2 ? VDIT_ATTN_INPUTS_OUTLIER : VDIT_ATTN_INPUTS_PLAIN;
      c.seed = seed++;
      compare_case(&c);
    }
}

// 3. Acceptance against fp64 (forward and SageBwd gradients).
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
      spec.backward = si == 0 || pv == VDIT_ATTN_SAGE_PV_FP8; // the fp64 backward at 4096 costs ~10 s
      vdit_attn_check_result r;
      CHECK_OK(vdit_attn_check_run(&spec, &r));
      const int grads = !spec.backward || (r.dq.cos >= 0.99 && r.dk.cos >= 0.99 && r.dv.cos >= 0.99 && !r.dq.nonfinite && !r.dk.nonfinite &&
                                              !r.dv.nonfinite);
      const int ok = pv == VDIT_ATTN_SAGE_PV_HALF ? r.passed : (r.o.cos >= 0.999 && r.lse.max_err <= 0.1 && !r.o.nonfinite && grads);
      printf("acceptance S=%lld pv=%d: o rel L1 %.3g cos %.6f, lse %.3g, dq %.3g/%.5f dk %.3g/%.5f dv %.3g/%.5f (rel L1/cos)\n",
             (long long)seqs[si], pv, r.o.rel_l1, r.o.cos, r.lse.max_err, r.dq.rel_l1, r.dq.cos, r.dk.rel_l1, r.dk.cos,
             r.dv.rel_l1, r.dv.cos);
      if (!ok)
        CHECK_FAIL_("acceptance S=%lld pv=%d: o rel L1 %.3g cos %.6f, lse %.3g, dq cos %.5f dk cos %.5f dv cos %.5f",
                    (long long)seqs[si], pv, r.o.rel_l1, r.o.cos, r.lse.max_err, r.dq.cos, r.dk.cos, r.dv.cos);
    }
}

// 3b. The channel split (split=auto) is CPU-only so far: on CUDA a K whose heads would split is
// refused with `unsupported`; plain inputs split nothing and give split=off's results exactly.
static void test_split_refused(void) {
  vdit_attn_check_spec spec;
  memset(&spec, 0, sizeof spec);
  spec.config.method = VDIT_ATTN_SAGE;
  spec.config.sage.split = VDIT_ATTN_SAGE_SPLIT_AUTO;
  spec.shape = (vdit_attn_shape){1, 2, 512, 512, 128};
  spec.dtype = VDIT_DTYPE_BF16;
  spec.device = GPU;
  spec.inputs = VDIT_ATTN_INPUTS_OUTLIER;
  spec.seed = 44;
  spec.backward = 1;
  vdit_attn_check_result on, off;
  CHECK_STATUS(vdit_attn_check_run(&spec, &on), VDIT_ERROR_UNSUPPORTED);
  CHECK(strstr(vdit_last_error(), "split=auto would split") != NULL);
  spec.inputs = VDIT_ATTN_INPUTS_PLAIN;
  CHECK_OK(vdit_attn_check_run(&spec, &on));
  spec.config.sage.split = VDIT_ATTN_SAGE_SPLIT_OFF;
  CHECK_OK(vdit_attn_check_run(&spec, &off));
  printf("split=auto on plain inputs: o rel L1 %.9g / %.9g, dq %.9g / %.9g, dk %.9g / %.9g, dv %.9g / %.9g (auto / off)\n", on.o.rel_l1,
         off.o.rel_l1, on.dq.rel_l1, off.dq.rel_l1, on.dk.rel_l1, off.dk.rel_l1, on.dv.rel_l1, off.dv.rel_l1);
  // The forward is deterministic: the same kernels give the same bits. The backward's dQ and dK
  // are summed by bulk reductions in whatever order the CTAs finish, so two runs differ by
  // accumulation order (~1e-6 relative, as the CUDA-vs-CPU rows above); a different path would
  // move the errors against fp64 by far more than 1e-4 of themselves.
  CHECK(on.o.rel_l1 == off.o.rel_l1 && on.lse.max_err == off.lse.max_err);
  CHECK(fabs(on.dq.rel_l1 - off.dq.rel_l1) <= 1e-4 * off.dq.rel_l1 && fabs(on.dk.rel_l1 - off.dk.rel_l1) <= 1e-4 * off.dk.rel_l1 &&
        fabs(on.dv.rel_l1 - off.dv.rel_l1) <= 1e-4 * off.dv.rel_l1);
}

// 4. Errors.
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

// 5. The backward's branch-free 127 / amax against the IEEE division, every 32-bit input (the CPU
// emulation divides, so the codes agree bit for bit only if this holds).
static void test_inv127_exhaustive(void) {
  unsigned long long bad = 0;
  unsigned int first = 0;
  const cudaError_t err = vdit_attn_sage_cuda_inv127_check(&bad, &first);
  printf("inv127 exhaustive (2^32 inputs): %s, %llu mismatches, first 0x%08x\n", cudaGetErrorString(err), bad, first);
  CHECK(err == cudaSuccess);
  CHECK(bad == 0);
}
#endif

int main(void) {
#ifndef VDIT_HAVE_CUDA
  return check_skip(TEST_NAME, "built without CUDA");
#else
  int count = 0;
  if (vdit_gpu_count(&count) != VDIT_OK || count == 0) return check_skip(TEST_NAME, "no CUDA GPU");
  test_against_cpu(); // FP8 P V on version 3 (attn_sage_forward_tma.cu), 16-bit P V on version 2
  setenv("VDIT_SAGE_FWD", "v2", 1);
  test_against_cpu(); // every case on version 2 (attn_sage_forward.cu), the fallback
  unsetenv("VDIT_SAGE_FWD");
  test_against_cpu_long();
  test_inv127_exhaustive();
  test_backward_against_cpu();
  test_acceptance();
  test_split_refused();
  test_errors();
  return check_finish(TEST_NAME);
#endif
}
