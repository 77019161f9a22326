// Sparge's map on the SageAttention INT8 path (sparge(sage=1)), CPU emulation:
//  1. a full map (topk = 1) reproduces plain sage bit for bit: O, LSE, dQ, dK, dV;
//  2. rows with no block (topk = 0, theta = -2: every row empty) give O = 0, LSE = -inf and
//     zero gradients, no NaN;
//  3. the check harness: O and the gradients against the fp64 reference on the kept blocks,
//     at topk 0.3 and 0.6 (ragged last blocks), with sage's acceptance as its GPU test states
//     it: 16-bit P V within the sage tolerance, FP8 P V cosines (O >= 0.999, gradients >= 0.99);
//  4. the text form sparge(topk=0.1,sage=1) round-trips, and the plan's errors.
#include "sparge_sage_run.h"

#define TEST_NAME "test_attn_sparge_sage"

static const vdit_attn_shape SHAPE = {1, 2, 600, 600, 64};

static void test_full_map(void) {
  float *in[4];
  float *block = inputs_alloc(SHAPE, 11, in);
  CHECK(block != NULL);
  if (!block) return;
  vdit_attn_config sage;
  memset(&sage, 0, sizeof sage);
  sage.method = VDIT_ATTN_SAGE;
  const vdit_attn_config sparse = sparge_sage_config(1.0f, 0.0f);
  run_out a = {0}, b = {0};
  CHECK_OK(run_plan(VDIT_CPU, &sage, SHAPE, (const float *const *)in, &a));
  CHECK_OK(run_plan(VDIT_CPU, &sparse, SHAPE, (const float *const *)in, &b));
  const size_t n = (size_t)(SHAPE.batch * SHAPE.heads * SHAPE.seq_q * SHAPE.head_dim), nl = n / (size_t)SHAPE.head_dim;
  if (a.o && b.o) {
    CHECK(bits_differ(a.o, b.o, n) == 0);
    CHECK(bits_differ(a.lse, b.lse, nl) == 0);
    CHECK(bits_differ(a.dq, b.dq, n) == 0);
    CHECK(bits_differ(a.dk, b.dk, n) == 0);
    CHECK(bits_differ(a.dv, b.dv, n) == 0);
  }
  run_out_free(&a);
  run_out_free(&b);
  free(block);
}

static void test_empty_rows(void) {
  float *in[4];
  float *block = inputs_alloc(SHAPE, 12, in);
  CHECK(block != NULL);
  if (!block) return;
  const vdit_attn_config empty = sparge_sage_config(0.0f, -2.0f);
  run_out r = {0};
  CHECK_OK(run_plan(VDIT_CPU, &empty, SHAPE, (const float *const *)in, &r));
  const size_t n = (size_t)(SHAPE.batch * SHAPE.heads * SHAPE.seq_q * SHAPE.head_dim), nl = n / (size_t)SHAPE.head_dim;
  size_t bad = 0;
  for (size_t i = 0; r.o && i < n; i++) bad += r.o[i] != 0.0f || r.dq[i] != 0.0f || r.dk[i] != 0.0f || r.dv[i] != 0.0f;
  for (size_t i = 0; r.lse && i < nl; i++) bad += !(isinf(r.lse[i]) && r.lse[i] < 0);
  CHECK(bad == 0);
  run_out_free(&r);
  free(block);
}

static void test_check_harness(void) {
  const float topks[] = {0.3f, 0.6f};
  for (int c = 0; c < 2; c++) {
    vdit_attn_check_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.config = sparge_sage_config(topks[c], 0.0f);
    spec.config.sage.pv = c == 0 ? VDIT_ATTN_SAGE_PV_HALF : VDIT_ATTN_SAGE_PV_FP8;
    spec.shape = (vdit_attn_shape){1, 2, 700, 700, 64};
    spec.dtype = VDIT_DTYPE_BF16;
    spec.device = VDIT_CPU;
    spec.inputs = VDIT_ATTN_INPUTS_VIDEO;
    spec.seed = 20 + (uint64_t)c;
    spec.backward = 1;
    spec.target_sparsity = -1;
    vdit_attn_check_result r;
    CHECK_OK(vdit_attn_check_run(&spec, &r));
    const int grads = r.dq.cos >= 0.99 && r.dk.cos >= 0.99 && r.dv.cos >= 0.99 && !r.dq.nonfinite && !r.dk.nonfinite && !r.dv.nonfinite;
    CHECK(c == 0 ? r.passed : (r.o.cos >= 0.999 && r.lse.max_err <= 0.1 && !r.o.nonfinite && grads));
    CHECK(r.sparsity > 0.2);
    printf("%s: topk %.1f sparsity %.3f: O rel L1 %.3g, dQ %.3g dK %.3g dV %.3g (cos %.5f %.5f %.5f)\n", TEST_NAME, topks[c],
           r.sparsity, r.o.rel_l1, r.dq.rel_l1, r.dk.rel_l1, r.dv.rel_l1, r.dq.cos, r.dk.cos, r.dv.cos);
  }
}

static void test_text_and_errors(void) {
  vdit_attn_method_config m;
  CHECK_OK(vdit_attn_method_config_parse("sparge(topk=0.1,sage=1)", &m));
  CHECK(m.sparge.sage == 1);
  char text[128];
  CHECK(strstr(vdit_attn_method_config_describe(&m, text, sizeof text), "sage=1") != NULL);
  CHECK(vdit_attn_method_config_parse("sparge(sage=2)", &m) == VDIT_ERROR_INVALID_ARGUMENT);
  // no PV threshold on the sage path
  float *in[4];
  float *block = inputs_alloc(SHAPE, 13, in);
  vdit_attn_config c = sparge_sage_config(0.5f, 0.0f);
  c.sparge.params.pv_threshold = 4.0f;
  run_out r = {0};
  CHECK(run_plan(VDIT_CPU, &c, SHAPE, (const float *const *)in, &r) == VDIT_ERROR_UNSUPPORTED);
  run_out_free(&r);
  free(block);
}

int main(void) {
  test_full_map();
  test_empty_rows();
  test_check_harness();
  test_text_and_errors();
  return check_finish(TEST_NAME);
}
