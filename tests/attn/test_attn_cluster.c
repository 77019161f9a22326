// Clustered attention (ear, svg) on the CPU:
//  1. the whole budget is dense attention (O against fp64 dense), forward and backward exact
//     against the method's fp64 reference;
//  2. a zero budget is the centroid formula (O against its fp64 evaluation);
//  3. at budgets in between the method executes its routing exactly (O, LSE, dQ, dK, dV
//     against the fp64 reference on the routing), with ragged lengths and Sq != Sk;
//  4. the error against dense falls strictly as the budget grows (0, 1/8, 1/4, 1/2, 3/4, 1);
//  5. EAR's error is below SVG2's at budgets 1/2 and 3/4 on video-like inputs;
//  6. warm start: a second forward warm-starts and keeps the quality;
//  7. bad configurations get errors.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attn/attn_check.h"
#include "attn/cluster.h"
#include "check.h"
#include "vdit/vdit.h"

#define TEST_NAME "test_attn_cluster"

static vdit_attn_check_spec spec_of(vdit_attn_method method, vdit_attn_shape shape, float budget, uint64_t seed) {
  vdit_attn_check_spec spec;
  memset(&spec, 0, sizeof spec);
  spec.config.method = method;
  spec.config.cluster.budget = budget;
  spec.config.cluster.seed = seed;
  spec.shape = shape;
  spec.dtype = VDIT_DTYPE_F32;
  spec.device = VDIT_CPU;
  spec.inputs = VDIT_ATTN_INPUTS_VIDEO_HEADS;
  spec.seed = seed;
  spec.backward = 1;
  spec.target_sparsity = -1;
  return spec;
}

static vdit_attn_check_result run(const vdit_attn_check_spec *spec, const char *what) {
  vdit_attn_check_result r;
  memset(&r, 0, sizeof r);
  vdit_status status = vdit_attn_check_run(spec, &r);
  CHECK_OK(status);
  if (status == VDIT_OK && !r.passed)
    CHECK_FAIL_("%s %s budget %.3g S=%lld/%lld: o %.3g lse %.3g dq %.3g dk %.3g dv %.3g, dense %.3g", what,
                vdit_attn_method_name(spec->config.method), (double)spec->config.cluster.budget,
                (long long)spec->shape.seq_q, (long long)spec->shape.seq_k, r.o.rel_l1, r.lse.max_err, r.dq.rel_l1,
                r.dk.rel_l1, r.dv.rel_l1, r.o_dense.rel_l1);
  return r;
}

static const vdit_attn_method methods[] = {VDIT_ATTN_EAR, VDIT_ATTN_SVG};

static void test_full_budget_is_dense(void) {
  for (int m = 0; m < 2; m++) {
    vdit_attn_check_spec spec = spec_of(methods[m], (vdit_attn_shape){1, 2, 640, 640, 64}, 1.0f, 11 + m);
    vdit_attn_check_result r = run(&spec, "full budget");
    CHECK(r.o_dense.rel_l1 < 1e-5);
    CHECK(r.o_dense.cos > 0.99999);
    CHECK_NEAR(r.cluster.budget_used, 1.0, 0.0);
  }
}

static void test_zero_budget_is_centroid_formula(void) {
  for (int m = 0; m < 2; m++) {
    vdit_attn_check_spec spec = spec_of(methods[m], (vdit_attn_shape){2, 1, 500, 500, 64}, 0.0f, 21 + m);
    vdit_attn_check_result r = run(&spec, "zero budget");
    CHECK(r.o_centroid.rel_l1 < 1e-5);
    CHECK(r.o_centroid.nonfinite == 0);
    CHECK_NEAR(r.cluster.budget_used, 0.0, 0.0);
    CHECK(r.o_dense.rel_l1 > 0.05); // the centroid formula is not dense attention here
  }
}

static void test_routing_executed_exactly(void) {
  const vdit_attn_shape shapes[] = {{1, 2, 700, 600, 64}, {1, 1, 300, 1000, 32}, {2, 2, 384, 384, 128}};
  const float budgets[] = {0.3f, 0.6f, 0.45f};
  for (int c = 0; c < 3; c++)
    for (int m = 0; m < 2; m++) {
      vdit_attn_check_spec spec = spec_of(methods[m], shapes[c], budgets[c], 31 + c);
      if (c == 2) spec.config.layout = VDIT_ATTN_LAYOUT_BHSD;
      vdit_attn_check_result r = run(&spec, "routing");
      CHECK(r.cluster.budget_used <= budgets[c] + 1e-12);
      CHECK(r.cluster.budget_used > 0.0);
    }
}

static void test_error_falls_with_budget(void) {
  const float budgets[] = {0.0f, 0.125f, 0.25f, 0.5f, 0.75f, 1.0f};
  for (int m = 0; m < 2; m++) {
    double previous = INFINITY;
    for (int b = 0; b < 6; b++) {
      vdit_attn_check_spec spec = spec_of(methods[m], (vdit_attn_shape){1, 2, 1024, 1024, 64}, budgets[b], 41);
      spec.backward = 0;
      vdit_attn_check_result r = run(&spec, "sweep");
      if (!(r.o_dense.rel_l1 < previous))
        CHECK_FAIL_("%s: error %.4g at budget %.3g is not below %.4g", vdit_attn_method_name(methods[m]), r.o_dense.rel_l1,
                    (double)budgets[b], previous);
      previous = r.o_dense.rel_l1;
    }
  }
}

static void test_ear_below_svg(void) {
  const float budgets[] = {0.5f, 0.75f};
  const vdit_attn_inputs inputs[] = {VDIT_ATTN_INPUTS_VIDEO, VDIT_ATTN_INPUTS_VIDEO_HEADS};
  for (int i = 0; i < 2; i++)
    for (int b = 0; b < 2; b++) {
      double error[2];
      for (int m = 0; m < 2; m++) {
        vdit_attn_check_spec spec = spec_of(methods[m], (vdit_attn_shape){1, 2, 1024, 1024, 64}, budgets[b], 51);
        spec.inputs = inputs[i];
        spec.backward = 0;
        error[m] = run(&spec, "ear vs svg").o_dense.rel_l1;
      }
      if (!(error[0] < error[1]))
        CHECK_FAIL_("%s inputs, budget %.3g: ear %.4g not below svg %.4g", vdit_attn_inputs_name(inputs[i]),
                    (double)budgets[b], error[0], error[1]);
    }
}

static void test_warm_start(void) {
  const vdit_attn_shape s = {1, 2, 512, 512, 64};
  const size_t n = (size_t)(s.heads * s.seq_q * s.head_dim);
  float *x = malloc(3 * n * sizeof *x);
  CHECK(x != NULL);
  if (!x) return;
  CHECK_OK(vdit_attn_inputs_fill(VDIT_ATTN_INPUTS_VIDEO, 61, &s, x, x + n, x + 2 * n));
  const int64_t shape[4] = {1, s.seq_q, s.heads, s.head_dim};
  vdit_tensor q, k, v, o, lse;
  CHECK_OK(vdit_tensor_view(&q, x, VDIT_DTYPE_F32, VDIT_CPU, 4, shape, NULL)); // (B, S, H, D) view of the data: any values do
  CHECK_OK(vdit_tensor_view(&k, x + n, VDIT_DTYPE_F32, VDIT_CPU, 4, shape, NULL));
  CHECK_OK(vdit_tensor_view(&v, x + 2 * n, VDIT_DTYPE_F32, VDIT_CPU, 4, shape, NULL));
  CHECK_OK(vdit_tensor_alloc(&o, VDIT_DTYPE_F32, VDIT_CPU, 4, shape));
  const int64_t lse_shape[3] = {1, s.heads, s.seq_q};
  CHECK_OK(vdit_tensor_alloc(&lse, VDIT_DTYPE_F32, VDIT_CPU, 3, lse_shape));
  vdit_attn_config config;
  memset(&config, 0, sizeof config);
  config.method = VDIT_ATTN_EAR;
  config.cluster.budget = 0.25f;
  config.cluster.warm_start = 1;
  vdit_attn_plan *plan = NULL;
  CHECK_OK(vdit_attn_plan_create(&plan, &config, &q, &k, &v));
  vdit_attn_cluster_stats stats;
  CHECK_STATUS(vdit_attn_plan_cluster_stats(plan, &stats), VDIT_ERROR_INVALID_ARGUMENT); // before a forward
  CHECK_OK(vdit_attn_forward(plan, &q, &k, &v, &o, &lse));
  CHECK_OK(vdit_attn_plan_cluster_stats(plan, &stats));
  CHECK_EQ_INT(stats.warm, 0);
  CHECK_EQ_INT(stats.q_clusters, 4);
  CHECK_EQ_INT(stats.k_clusters, 16);
  const double used = stats.budget_used;
  CHECK_OK(vdit_attn_forward(plan, &q, &k, &v, &o, &lse));
  CHECK_OK(vdit_attn_plan_cluster_stats(plan, &stats));
  CHECK_EQ_INT(stats.warm, 1);
  CHECK(stats.budget_used > 0.5 * used && stats.budget_used <= 0.25 + 1e-12);
  vdit_attn_plan_free(plan);
  vdit_tensor_free(&o);
  vdit_tensor_free(&lse);
  free(x);
}

static void test_bad_configs(void) {
  const int64_t shape[4] = {1, 256, 1, 64};
  vdit_tensor q;
  CHECK_OK(vdit_tensor_alloc(&q, VDIT_DTYPE_F32, VDIT_CPU, 4, shape));
  vdit_attn_config config;
  memset(&config, 0, sizeof config);
  config.method = VDIT_ATTN_EAR;
  config.cluster.budget = -1.0f; // ear needs a budget
  vdit_attn_plan *plan = NULL;
  CHECK_STATUS(vdit_attn_plan_create(&plan, &config, &q, &q, &q), VDIT_ERROR_INVALID_ARGUMENT);
  config.cluster.budget = 1.5f;
  CHECK_STATUS(vdit_attn_plan_create(&plan, &config, &q, &q, &q), VDIT_ERROR_INVALID_ARGUMENT);
  config.cluster.budget = 0.5f;
  config.mask = VDIT_ATTN_MASK_CAUSAL;
  CHECK_STATUS(vdit_attn_plan_create(&plan, &config, &q, &q, &q), VDIT_ERROR_UNSUPPORTED);
  config.mask = VDIT_ATTN_MASK_NONE;
  config.method = VDIT_ATTN_SVG;
  config.cluster.top_p = 1.5f;
  CHECK_STATUS(vdit_attn_plan_create(&plan, &config, &q, &q, &q), VDIT_ERROR_INVALID_ARGUMENT);
  CHECK(plan == NULL);
  vdit_attn_method method;
  CHECK_OK(vdit_attn_method_parse("ear", &method));
  CHECK_EQ_INT(method, VDIT_ATTN_EAR);
  CHECK_OK(vdit_attn_method_parse("svg", &method));
  CHECK_EQ_INT(method, VDIT_ATTN_SVG);
  vdit_tensor_free(&q);
}

int main(void) {
  test_full_budget_is_dense();
  test_zero_budget_is_centroid_formula();
  test_routing_executed_exactly();
  test_error_falls_with_budget();
  test_ear_below_svg();
  test_warm_start();
  test_bad_configs();
  return check_finish(TEST_NAME);
}
