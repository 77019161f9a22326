// SLA2 on the CPU:
//  1. forward and backward (O, LSE, dQ, dK, dV, router matrices, alpha) against the fp64
//     reference on the router's map, and the reference's gradients against finite
//     differences of its relaxed forward (softmax and elu features, both layouts, Sq != Sk,
//     ragged blocks, B = 2, random routers);
//     sla(sage=1), the low-bit sparse branch (bf16 inputs, 128-token blocks): on plain inputs
//     sage's FP8 P V acceptance (O cosine >= 0.999, LSE within 0.1, gradients of the 16-bit
//     backward cosine >= 0.99); on K-outlier inputs, where plain sage itself reaches only ~0.99,
//     O's cosine at least plain sage's on the same inputs less 0.002;
//  2. alpha = 1 with every block kept is dense attention bit for bit (forward and backward), and
//     with sage=1 plain sage's forward bit for bit;
//  3. the router keeps ceil(topk kb) blocks per row, ties to the lower block;
//  4. the fitting check: the block-mass objective (default) lowers the output error to 0.6x of
//     the untrained router's on the fitted and the held-out inputs and from SLA's pooled-score
//     router never ends worse than its start on validation; the output objective (Adam on the
//     router and alpha through SLA2's backward) lowers the fitted error.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attn/attn_check.h"
#include "attn/attn_kernels.h"
#include "attn/sla_fit.h"
#include "check.h"
#include "vdit/vdit.h"

#define TEST_NAME "test_attn_sla"

static float *random_params(int64_t H, int64_t D, int32_t Dr, uint64_t seed) {
  const int64_t n = H * D * Dr;
  float *p = malloc((size_t)(2 * n + H) * sizeof *p);
  vdit_rng_normal(seed, 1ull << 45, (size_t)(2 * n + H), p);
  for (int64_t i = 0; i < 2 * n; i++) p[i] /= sqrtf((float)D);
  return p;
}

// 1.
static void test_against_reference(void) {
  const struct {
    int64_t B, H, Sq, Sk, D;
    int32_t block, Dr;
    float topk;
    vdit_attn_layout layout;
    vdit_attn_sla_feature feature;
    vdit_attn_inputs inputs;
    int32_t sage; // 1: the low-bit sparse branch, bf16 inputs
  } cases[] = {
      {2, 2, 300, 260, 16, 64, 8, 0.5f, VDIT_ATTN_LAYOUT_BSHD, VDIT_ATTN_SLA_SOFTMAX, VDIT_ATTN_INPUTS_VIDEO, 0},
      {1, 3, 200, 333, 32, 32, 4, 0.3f, VDIT_ATTN_LAYOUT_BHSD, VDIT_ATTN_SLA_ELU, VDIT_ATTN_INPUTS_PLAIN, 0},
      {2, 1, 256, 256, 8, 64, 16, 0.75f, VDIT_ATTN_LAYOUT_BSHD, VDIT_ATTN_SLA_SOFTMAX, VDIT_ATTN_INPUTS_OUTLIER, 0},
      {1, 2, 500, 500, 16, 128, 8, 0.5f, VDIT_ATTN_LAYOUT_BHSD, VDIT_ATTN_SLA_SOFTMAX, VDIT_ATTN_INPUTS_VIDEO, 0},
      {1, 2, 320, 320, 64, 128, 8, 0.5f, VDIT_ATTN_LAYOUT_BSHD, VDIT_ATTN_SLA_SOFTMAX, VDIT_ATTN_INPUTS_PLAIN, 1},
      {2, 1, 300, 420, 64, 128, 8, 0.4f, VDIT_ATTN_LAYOUT_BHSD, VDIT_ATTN_SLA_ELU, VDIT_ATTN_INPUTS_OUTLIER, 1},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    vdit_attn_check_spec spec;
    memset(&spec, 0, sizeof spec);
    float *params = random_params(cases[c].H, cases[c].D, cases[c].Dr, 31 + c);
    const int64_t np = cases[c].H * cases[c].D * cases[c].Dr;
    spec.config.method = VDIT_ATTN_SLA;
    spec.config.layout = cases[c].layout;
    spec.config.sla = (vdit_attn_sla_config){cases[c].topk, cases[c].block, cases[c].Dr, cases[c].feature,
                                             params, params + np, params + 2 * np, NULL, NULL, NULL, 0, cases[c].sage};
    spec.shape = (vdit_attn_shape){cases[c].B, cases[c].H, cases[c].Sq, cases[c].Sk, cases[c].D};
    spec.dtype = cases[c].sage ? VDIT_DTYPE_BF16 : VDIT_DTYPE_F32;
    spec.device = VDIT_CPU;
    spec.inputs = cases[c].inputs;
    spec.seed = 5 + c;
    spec.backward = 1;
    spec.target_sparsity = -1;
    vdit_attn_check_result r;
    CHECK_OK(vdit_attn_check_run(&spec, &r));
    printf("case %zu%s: sparsity %.3f; cos o %.6f; rel_l1 o %.1e dq %.1e dk %.1e dv %.1e dWq %.1e dWk %.1e dalpha %.1e; fd %d entries, "
           "worst %.1e\n",
           c, cases[c].sage ? " (sage)" : "", r.sparsity, r.o.cos, r.o.rel_l1, r.dq.rel_l1, r.dk.rel_l1, r.dv.rel_l1, r.d_wq.rel_l1, r.d_wk.rel_l1, r.d_alpha.rel_l1,
           r.fd_checked, r.fd_max_rel);
    if (!cases[c].sage) {
      CHECK(r.passed);
    } else if (cases[c].inputs != VDIT_ATTN_INPUTS_OUTLIER) {
      const vdit_error_stats *g[5] = {&r.dq, &r.dk, &r.dv, &r.d_wq, &r.d_wk};
      int ok = !r.o.nonfinite && r.o.cos >= 0.999 && r.lse.max_err <= 0.1;
      for (int i = 0; i < 5; i++) ok = ok && !g[i]->nonfinite && g[i]->cos >= 0.99;
      CHECK(ok);
    } else { // K-outlier inputs: plain sage on the same inputs is the bar
      vdit_attn_check_spec plain = spec;
      plain.config.method = VDIT_ATTN_SAGE;
      plain.backward = 0;
      vdit_attn_check_result rs;
      CHECK_OK(vdit_attn_check_run(&plain, &rs));
      printf("case %zu: plain sage on the same inputs: o cos %.6f rel_l1 %.1e\n", c, rs.o.cos, rs.o.rel_l1);
      CHECK(!r.o.nonfinite && r.o.cos >= rs.o.cos - 2e-3 && r.lse.max_err <= 0.1);
    }
    CHECK(r.fd_checked > 10);
    CHECK(r.sparsity > 0.0);
    free(params);
  }
}

// f32 (B, S, H, D) tensors over the arrays, forward (and backward) with `config`.
static void run(const vdit_attn_config *config, const int64_t shape[4], float *x, float *o, float *lse, float *grads) {
  const int64_t n = shape[0] * shape[1] * shape[2] * shape[3];
  const int64_t lse_shape[3] = {shape[0], shape[2], shape[1]};
  vdit_tensor q, k, v, to, tl, d_o, dq, dk, dv;
  CHECK_OK(vdit_tensor_view(&q, x, VDIT_DTYPE_F32, VDIT_CPU, 4, shape, NULL));
  CHECK_OK(vdit_tensor_view(&k, x + n, VDIT_DTYPE_F32, VDIT_CPU, 4, shape, NULL));
  CHECK_OK(vdit_tensor_view(&v, x + 2 * n, VDIT_DTYPE_F32, VDIT_CPU, 4, shape, NULL));
  CHECK_OK(vdit_tensor_view(&d_o, x + 3 * n, VDIT_DTYPE_F32, VDIT_CPU, 4, shape, NULL));
  CHECK_OK(vdit_tensor_view(&to, o, VDIT_DTYPE_F32, VDIT_CPU, 4, shape, NULL));
  CHECK_OK(vdit_tensor_view(&tl, lse, VDIT_DTYPE_F32, VDIT_CPU, 3, lse_shape, NULL));
  CHECK_OK(vdit_tensor_view(&dq, grads, VDIT_DTYPE_F32, VDIT_CPU, 4, shape, NULL));
  CHECK_OK(vdit_tensor_view(&dk, grads + n, VDIT_DTYPE_F32, VDIT_CPU, 4, shape, NULL));
  CHECK_OK(vdit_tensor_view(&dv, grads + 2 * n, VDIT_DTYPE_F32, VDIT_CPU, 4, shape, NULL));
  vdit_attn_plan *plan = NULL;
  CHECK_OK(vdit_attn_plan_create(&plan, config, &q, &k, &v));
  CHECK_OK(vdit_attn_forward(plan, &q, &k, &v, &to, &tl));
  CHECK_OK(vdit_attn_backward(plan, &q, &k, &v, &to, &tl, &d_o, &dq, &dk, &dv));
  vdit_attn_plan_free(plan);
}

// 2.
static void test_full_map_is_dense(void) {
  const int64_t shape[4] = {2, 300, 2, 32}, n = 2 * 300 * 2 * 32, nl = 2 * 2 * 300;
  float *x = malloc((size_t)(4 * n) * sizeof *x), *out = malloc((size_t)(2 * (n + nl + 3 * n)) * sizeof *out);
  vdit_rng_normal(17, 0, (size_t)(4 * n), x);
  float *o = out, *l = o + n, *g = l + nl, *od = g + 3 * n, *ld = od + n, *gd = ld + nl;
  float logits[2] = {40.0f, 40.0f}, gq[2 * 32 * 8], gk[2 * 32 * 8], ga[2];
  vdit_attn_config sla, dense;
  memset(&sla, 0, sizeof sla);
  memset(&dense, 0, sizeof dense);
  sla.method = VDIT_ATTN_SLA;
  sla.sla.topk = 1.0f;
  sla.sla.router_dim = 8;
  sla.sla.alpha_logit = logits;
  sla.sla.grad_wq = gq, sla.sla.grad_wk = gk, sla.sla.grad_alpha_logit = ga;
  run(&sla, shape, x, o, l, g);
  run(&dense, shape, x, od, ld, gd);
  CHECK(memcmp(o, od, (size_t)n * sizeof *o) == 0);
  CHECK(memcmp(l, ld, (size_t)nl * sizeof *l) == 0);
  CHECK(memcmp(g, gd, (size_t)(3 * n) * sizeof *g) == 0);
  CHECK(ga[0] == 0.0f && ga[1] == 0.0f); // alpha's sigmoid is flat at 1 in fp32
  free(x), free(out);
}

// 2, sage=1: alpha = 1, every block kept: plain sage's forward (O, LSE) bit
// for bit (the sparse branch is the sage emulation on a full map; O_l is 0 and weighs 0).
static void test_full_map_is_sage(void) {
  const int64_t shape[4] = {1, 300, 2, 64}, n = 300 * 2 * 64, nl = 2 * 300;
  float *x = malloc((size_t)(4 * n) * sizeof *x), *out = malloc((size_t)(2 * (n + nl + 3 * n)) * sizeof *out);
  vdit_rng_normal(19, 0, (size_t)(4 * n), x);
  float *o = out, *l = o + n, *g = l + nl, *os = g + 3 * n, *ls = os + n, *gs = ls + nl;
  float logits[2] = {40.0f, 40.0f};
  vdit_attn_config sla, sage;
  memset(&sla, 0, sizeof sla);
  memset(&sage, 0, sizeof sage);
  sla.method = VDIT_ATTN_SLA;
  sla.sla.topk = 1.0f;
  sla.sla.router_dim = 8;
  sla.sla.alpha_logit = logits;
  sla.sla.sage = 1;
  sage.method = VDIT_ATTN_SAGE;
  run(&sla, shape, x, o, l, g);
  run(&sage, shape, x, os, ls, gs);
  CHECK(memcmp(o, os, (size_t)n * sizeof *o) == 0);
  CHECK(memcmp(l, ls, (size_t)nl * sizeof *l) == 0);
  free(x), free(out);
}

// 3.
static void test_router(void) {
  const vdit_attn_shape s = {1, 2, 1000, 700, 16};
  const int64_t nq = 2 * 1000 * 16, nk = 2 * 700 * 16;
  float *x = malloc((size_t)(nq + nk) * sizeof *x);
  vdit_rng_normal(3, 0, (size_t)(nq + nk), x);
  vdit_attn_sla_config c;
  memset(&c, 0, sizeof c);
  c.topk = 0.3f;
  c.block = 64;
  c.router_dim = 4;
  float zeros[2 * 2 * 16 * 4];
  memset(zeros, 0, sizeof zeros);
  for (int ties = 0; ties < 2; ties++) {
    c.router_wq = ties ? zeros : NULL;
    c.router_wk = ties ? zeros + 2 * 16 * 4 : NULL;
    vdit_attn_sla_weights w;
    CHECK_OK(vdit_attn_sla_weights_init(&w, &c, 2, 16, 128));
    vdit_attn_block_map map;
    CHECK_OK(vdit_attn_block_map_alloc(&map, VDIT_CPU, 1, 2, 1000, 700, 64, 64));
    vdit_attn_problem problem = {s, 0.25f, {0}, NULL, NULL, {0}};
    CHECK_OK(vdit_attn_sla_route_cpu(&problem, &w, x, x + nq, &map));
    CHECK_OK(vdit_attn_block_map_validate(&map));
    const int keep = (int)ceil(0.3 * 11); // 11 key blocks of 64
    for (int64_t r = 0; r < 2 * map.q_blocks; r++) {
      CHECK_EQ_INT(map.row_offsets[r + 1] - map.row_offsets[r], keep);
      if (ties)
        for (int e = 0; e < keep; e++) CHECK_EQ_INT(map.col_index[map.row_offsets[r] + e], e);
    }
    vdit_attn_block_map_free(&map);
    vdit_attn_sla_weights_free(&w);
  }
  free(x);
}

// 4.
static void test_fit(void) {
  for (int objective = 0; objective < 3; objective++) { // mass, mass from the pooled-score router, output
    vdit_attn_sla_fit_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.shape = (vdit_attn_shape){1, 2, 1024, 1024, 32};
    spec.inputs = VDIT_ATTN_INPUTS_VIDEO;
    spec.seed = 0;
    spec.device = VDIT_CPU;
    spec.dtype = VDIT_DTYPE_F32;
    spec.sparsity = 0.75;
    spec.router_dim = 16;
    spec.steps = 40;
    spec.eval_every = 5;
    spec.learning_rate = 0.01f;
    spec.objective = objective == 2 ? VDIT_ATTN_SLA_FIT_OUTPUT : VDIT_ATTN_SLA_FIT_MASS;
    spec.init_identity = objective == 1;
    vdit_attn_sla_fit_result r;
    float losses[40];
    r.losses = losses;
    CHECK_OK(vdit_attn_sla_fit_run(&spec, &r));
    printf("fit (%s%s): rel_l1 untrained %.4f -> trained %.4f (held out %.4f -> %.4f; alpha alone %.4f), validation %.4f -> "
           "%.4f at step %d, loss %.4g -> %.4g\n",
           objective == 2 ? "output" : "mass", objective == 1 ? ", pooled-score start" : "", r.untrained, r.trained,
           r.held_untrained, r.held_trained, r.alpha_only, r.validation_start, r.validation_best, r.best_step,
           (double)losses[0], (double)losses[39]);
    CHECK(losses[39] < losses[0]);
    CHECK(r.validation_best <= r.validation_start);
    if (objective == 0) {
      CHECK(r.trained <= 0.6 * r.untrained);
      CHECK(r.held_trained <= 0.6 * r.held_untrained);
      CHECK(r.alpha_only >= 0 && r.trained < r.alpha_only);
    } else if (objective == 1) {
      CHECK(r.trained < r.untrained);
      CHECK(r.held_trained < r.held_untrained);
    } else {
      CHECK(r.trained < 0.9 * r.untrained);
      CHECK(r.alpha_only == -1.0);
    }
  }
}

int main(void) {
  double start = vdit_time_seconds();
  test_router();
  test_full_map_is_dense();
  test_full_map_is_sage();
  printf("%s: router, full map done (%.1f s)\n", TEST_NAME, vdit_time_seconds() - start);
  test_against_reference();
  printf("%s: reference checks done (%.1f s)\n", TEST_NAME, vdit_time_seconds() - start);
  test_fit();
  printf("%s: fit done (%.1f s)\n", TEST_NAME, vdit_time_seconds() - start);
  return check_finish(TEST_NAME);
}
