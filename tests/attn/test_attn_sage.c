// VDIT_ATTN_SAGE on the CPU (the emulation of the GPU's quantization, attn_sage.h):
//  - the acceptance on plain inputs through the check harness (forward cosine >=
//    0.999 and rel L1 <= 0.02 with 16-bit P V; FP8 P V: cosine >= 0.999; gradients cosine
//    >= 0.99), over granularities, layouts, masks, dtypes, key lengths and empty rows;
//  - the quantization contract on a hand-made head: K-smoothing leaves O unchanged when every
//    key is shifted by one vector, and the LSE is the unsmoothed one;
//  - the dK mean projection: the keys' dK sum to ~0 per channel;
//  - bad sage options are refused by the plan;
//  - the channel split (split=auto): the rule on hand-made K (threshold, the 16-channel cap),
//    the whole acceptance on K-outlier inputs with 16-bit P V at block and thread granularity
//    (forward and gradients; split=off misses it on the same inputs), and plain inputs giving
//    today's bits (nothing splits).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attn/attn_check.h"
#include "attn/attn_sage.h"
#include "check.h"
#include "vdit/vdit.h"

static vdit_attn_check_spec sage_spec(vdit_attn_sage_granularity gran, vdit_attn_sage_pv pv, int smooth_q) {
  vdit_attn_check_spec spec;
  memset(&spec, 0, sizeof spec);
  spec.config.method = VDIT_ATTN_SAGE;
  spec.config.sage.granularity = gran;
  spec.config.sage.pv = pv;
  spec.config.sage.smooth_q = smooth_q;
  spec.device = VDIT_CPU;
  spec.dtype = VDIT_DTYPE_BF16;
  spec.inputs = VDIT_ATTN_INPUTS_PLAIN;
  spec.backward = 1;
  return spec;
}

static void report(const char *what, const vdit_attn_check_spec *spec, const vdit_attn_check_result *r) {
  CHECK_FAIL_("%s: S=%lld Sk=%lld D=%lld gran=%d pv=%d sq=%d mask=%d dtype=%s: o %.3g/%.6f lse %.3g dq %.3g/%.5f "
              "dk %.3g/%.5f dv %.3g/%.5f (rel_l1/cos)",
              what, (long long)spec->shape.seq_q, (long long)spec->shape.seq_k, (long long)spec->shape.head_dim,
              (int)spec->config.sage.granularity, (int)spec->config.sage.pv, spec->config.sage.smooth_q,
              (int)spec->config.mask, vdit_dtype_name(spec->dtype), r->o.rel_l1, r->o.cos, r->lse.max_err,
              r->dq.rel_l1, r->dq.cos, r->dk.rel_l1, r->dk.cos, r->dv.rel_l1, r->dv.cos);
}

static void test_acceptance_grid(void) {
  const vdit_attn_mask masks[] = {VDIT_ATTN_MASK_NONE, VDIT_ATTN_MASK_CAUSAL, VDIT_ATTN_MASK_BLOCK_CAUSAL};
  const vdit_dtype dtypes[] = {VDIT_DTYPE_BF16, VDIT_DTYPE_F16, VDIT_DTYPE_F32};
  uint64_t seed = 11;
  for (int g = 0; g < VDIT_ATTN_SAGE_GRANULARITY_COUNT; g++)
    for (int pv = 0; pv < VDIT_ATTN_SAGE_PV_COUNT; pv++)
      for (int mi = 0; mi < 3; mi++) {
        vdit_attn_check_spec spec = sage_spec((vdit_attn_sage_granularity)g, (vdit_attn_sage_pv)pv, mi == 1);
        spec.config.mask = masks[mi];
        spec.config.mask_block_length = 96;
        spec.config.layout = mi == 2 ? VDIT_ATTN_LAYOUT_BHSD : VDIT_ATTN_LAYOUT_BSHD;
        spec.shape = (vdit_attn_shape){1, 2, mi == 0 ? 300 : 384, 384, (g + mi) % 2 ? 128 : 64};
        spec.dtype = dtypes[(g + pv + mi) % 3];
        spec.seed = seed++;
        vdit_attn_check_result r;
        CHECK_OK(vdit_attn_check_run(&spec, &r));
        const vdit_attn_tolerance fwd = r.forward_tolerance, bwd = r.backward_tolerance;
        CHECK(fwd.min_cos == 0.999 && fwd.rel_l1 == 0.02 && bwd.min_cos == 0.99);
        // 16-bit P V meets the whole acceptance; FP8 P V its cosine (rel L1 ~0.035 on i.i.d.
        // N(0, 1) V: 3 mantissa bits on both P and V, see docs/attention.md)
        int ok = r.lse.max_err <= fwd.max_err && r.o.cos >= fwd.min_cos && r.dq.cos >= bwd.min_cos &&
                 r.dk.cos >= bwd.min_cos && r.dv.cos >= bwd.min_cos && r.o.nonfinite == 0 && r.dq.nonfinite == 0 &&
                 r.dk.nonfinite == 0 && r.dv.nonfinite == 0;
        if (pv == VDIT_ATTN_SAGE_PV_HALF) ok = ok && r.passed;
        if (!ok) report("acceptance", &spec, &r);
      }
}

static void test_ragged_and_empty_rows(void) {
  int64_t key_lengths[3] = {200, 0, 37};
  vdit_attn_check_spec spec = sage_spec(VDIT_ATTN_SAGE_PER_THREAD, VDIT_ATTN_SAGE_PV_HALF, 0);
  spec.config.key_lengths = key_lengths;
  spec.config.mask = VDIT_ATTN_MASK_CAUSAL;
  spec.shape = (vdit_attn_shape){3, 2, 190, 200, 64};
  spec.seed = 5;
  vdit_attn_check_result r;
  CHECK_OK(vdit_attn_check_run(&spec, &r));
  if (!r.passed) report("ragged", &spec, &r);
}

// One head through the public API on f32 tensors: O, LSE and the gradients.
typedef struct head_run {
  float o[256 * 64], lse[256], dq[256 * 64], dk[256 * 64], dv[256 * 64];
} head_run;

static void run_head(const vdit_attn_config *config, const float *q, const float *k, const float *v, const float *d_o,
                     head_run *out) {
  int64_t shape[4] = {1, 256, 1, 64}, lse_shape[3] = {1, 1, 256};
  vdit_tensor tq, tk, tv, to, tl, tdo, tdq, tdk, tdv;
  CHECK_OK(vdit_tensor_view(&tq, (float *)q, VDIT_DTYPE_F32, VDIT_CPU, 4, shape, NULL));
  CHECK_OK(vdit_tensor_view(&tk, (float *)k, VDIT_DTYPE_F32, VDIT_CPU, 4, shape, NULL));
  CHECK_OK(vdit_tensor_view(&tv, (float *)v, VDIT_DTYPE_F32, VDIT_CPU, 4, shape, NULL));
  CHECK_OK(vdit_tensor_view(&tdo, (float *)d_o, VDIT_DTYPE_F32, VDIT_CPU, 4, shape, NULL));
  CHECK_OK(vdit_tensor_view(&to, out->o, VDIT_DTYPE_F32, VDIT_CPU, 4, shape, NULL));
  CHECK_OK(vdit_tensor_view(&tl, out->lse, VDIT_DTYPE_F32, VDIT_CPU, 3, lse_shape, NULL));
  CHECK_OK(vdit_tensor_view(&tdq, out->dq, VDIT_DTYPE_F32, VDIT_CPU, 4, shape, NULL));
  CHECK_OK(vdit_tensor_view(&tdk, out->dk, VDIT_DTYPE_F32, VDIT_CPU, 4, shape, NULL));
  CHECK_OK(vdit_tensor_view(&tdv, out->dv, VDIT_DTYPE_F32, VDIT_CPU, 4, shape, NULL));
  vdit_attn_plan *plan = NULL;
  CHECK_OK(vdit_attn_plan_create(&plan, config, &tq, &tk, &tv));
  CHECK_OK(vdit_attn_forward(plan, &tq, &tk, &tv, &to, &tl));
  CHECK_OK(vdit_attn_backward(plan, &tq, &tk, &tv, &to, &tl, &tdo, &tdq, &tdk, &tdv));
  vdit_attn_plan_free(plan);
}

// Shifting every key by one vector c changes the scores by a per-row constant q . c: O and
// the gradients stay (K-smoothing removes c before quantizing, up to the rounding of K - mu),
// and the LSE moves by exactly scale * q . c.
static void test_smoothing_invariance(void) {
  static float q[256 * 64], k[256 * 64], k2[256 * 64], v[256 * 64], d_o[256 * 64], c[64];
  static head_run a, b;
  vdit_rng_normal(3, 0, 256 * 64, q);
  vdit_rng_normal(3, 1u << 20, 256 * 64, k);
  vdit_rng_normal(3, 2u << 20, 256 * 64, v);
  vdit_rng_normal(3, 3u << 20, 256 * 64, d_o);
  vdit_rng_normal(3, 4u << 20, 64, c);
  for (int j = 0; j < 256; j++)
    for (int d = 0; d < 64; d++) k2[j * 64 + d] = k[j * 64 + d] + 8.0f * c[d]; // a large shared bias
  vdit_attn_config config;
  memset(&config, 0, sizeof config);
  config.method = VDIT_ATTN_SAGE;
  run_head(&config, q, k, v, d_o, &a);
  run_head(&config, q, k2, v, d_o, &b);
  double max_do = 0, max_dlse = 0, max_ddk = 0, max_dk = 0;
  for (int i = 0; i < 256 * 64; i++) {
    max_do = fmax(max_do, fabs(a.o[i] - b.o[i]));
    max_ddk = fmax(max_ddk, fabs(a.dk[i] - b.dk[i]));
    max_dk = fmax(max_dk, fabs(a.dk[i]));
  }
  const float scale = 0.125f;
  for (int i = 0; i < 256; i++) {
    double qc = 0;
    for (int d = 0; d < 64; d++) qc += q[i * 64 + d] * 8.0 * c[d];
    max_dlse = fmax(max_dlse, fabs((b.lse[i] - a.lse[i]) - scale * qc));
  }
  // K - mu rounds in fp32 (|K| ~ 8 |c|: ulp ~ 1e-6), which can flip a rare INT8 code
  CHECK(max_do < 2e-3);
  CHECK(max_dlse < 1e-4);
  CHECK(max_ddk < 2e-3 * fmax(1.0, max_dk));
  // the mean projection: per channel the keys' dK sum to zero up to fp32 rounding
  for (int d = 0; d < 64; d++) {
    double sum = 0;
    for (int j = 0; j < 256; j++) sum += a.dk[j * 64 + d];
    CHECK(fabs(sum) < 1e-4 * 256 * fmax(1.0, max_dk));
  }
}

static void test_bad_options(void) {
  int64_t shape[4] = {1, 8, 2, 64};
  vdit_tensor q;
  CHECK_OK(vdit_tensor_alloc(&q, VDIT_DTYPE_BF16, VDIT_CPU, 4, shape));
  vdit_attn_config config;
  memset(&config, 0, sizeof config);
  config.method = VDIT_ATTN_SAGE;
  config.sage.granularity = VDIT_ATTN_SAGE_GRANULARITY_COUNT;
  vdit_attn_plan *plan = NULL;
  CHECK_STATUS(vdit_attn_plan_create(&plan, &config, &q, &q, &q), VDIT_ERROR_INVALID_ARGUMENT);
  config.sage.granularity = VDIT_ATTN_SAGE_PER_WARP;
  config.sage.pv = (vdit_attn_sage_pv)7;
  CHECK_STATUS(vdit_attn_plan_create(&plan, &config, &q, &q, &q), VDIT_ERROR_INVALID_ARGUMENT);
  vdit_attn_sage_granularity g;
  vdit_attn_sage_pv pv;
  CHECK_OK(vdit_attn_sage_granularity_parse("thread", &g));
  CHECK(g == VDIT_ATTN_SAGE_PER_THREAD);
  CHECK_OK(vdit_attn_sage_pv_parse("half", &pv));
  CHECK(pv == VDIT_ATTN_SAGE_PV_HALF);
  CHECK_STATUS(vdit_attn_sage_pv_parse("fp4", &pv), VDIT_ERROR_INVALID_ARGUMENT);
  config.sage.pv = VDIT_ATTN_SAGE_PV_HALF;
  config.sage.split = VDIT_ATTN_SAGE_SPLIT_COUNT;
  CHECK_STATUS(vdit_attn_plan_create(&plan, &config, &q, &q, &q), VDIT_ERROR_INVALID_ARGUMENT);
  vdit_attn_sage_split split;
  CHECK_OK(vdit_attn_sage_split_parse("auto", &split));
  CHECK(split == VDIT_ATTN_SAGE_SPLIT_AUTO && strcmp(vdit_attn_sage_split_name(split), "auto") == 0);
  CHECK_STATUS(vdit_attn_sage_split_parse("on", &split), VDIT_ERROR_INVALID_ARGUMENT);
  vdit_attn_method_config m;
  char text[128];
  CHECK_OK(vdit_attn_method_config_parse("sage(split=auto,pv=half)", &m));
  CHECK(m.sage.split == VDIT_ATTN_SAGE_SPLIT_AUTO && m.sage.pv == VDIT_ATTN_SAGE_PV_HALF);
  CHECK(strcmp(vdit_attn_method_config_describe(&m, text, sizeof text), "sage(pv=half,split=auto)") == 0);
  CHECK_STATUS(vdit_attn_method_config_parse("sage(split=1)", &m), VDIT_ERROR_INVALID_ARGUMENT);
  vdit_tensor_free(&q);
}

// The split rule: a_d / median(a) > SAGE_SPLIT_RATIO, at most SAGE_SPLIT_MAX, the largest kept.
static void test_split_rule(void) {
  enum { N = 8, DIM = 64 };
  static float k[N * DIM];
  float mu[DIM];
  int channels[SAGE_SPLIT_MAX];
  // every channel alternates +-1 around 0 (a_d = 1), channel 7 +-(R + 0.5), channel 9 +-R exactly
  for (int j = 0; j < N; j++)
    for (int d = 0; d < DIM; d++) k[j * DIM + d] = (j % 2 ? 1.0f : -1.0f) * (d == 7 ? SAGE_SPLIT_RATIO + 0.5f : d == 9 ? SAGE_SPLIT_RATIO : 1.0f);
  for (int d = 0; d < DIM; d++) mu[d] = 0.0f;
  int count = sage_split_channels(k, N, DIM, mu, channels);
  CHECK(count == 1 && channels[0] == 7); // strictly above the ratio
  // a shift is smoothed away first: channel 3 shifted by 100 does not split
  for (int j = 0; j < N; j++) k[j * DIM + 3] += 100.0f;
  mu[3] = 100.0f;
  CHECK(sage_split_channels(k, N, DIM, mu, channels) == 1);
  // 20 candidates: the 16 largest, ascending
  for (int j = 0; j < N; j++)
    for (int d = 20; d < 40; d++) k[j * DIM + d] = (j % 2 ? 1.0f : -1.0f) * (SAGE_SPLIT_RATIO + 1.0f + (float)((d * 7) % 20));
  count = sage_split_channels(k, N, DIM, mu, channels);
  CHECK(count == SAGE_SPLIT_MAX);
  for (int c = 0; c < count; c++) {
    const int d = channels[c];
    CHECK(d >= 20 && d < 40 && (d * 7) % 20 >= 4); // the four smallest (values 0..3) and channel 7 left out
    if (c > 0) CHECK(channels[c - 1] < d);
  }
  // too few keys, or all keys equal: nothing splits
  CHECK(sage_split_channels(k, SAGE_SPLIT_MIN_KEYS, DIM, mu, channels) == SAGE_SPLIT_MAX);
  CHECK(sage_split_channels(k, SAGE_SPLIT_MIN_KEYS - 1, DIM, mu, channels) == 0);
  CHECK(sage_split_channels(k, 0, DIM, mu, channels) == 0);
  for (int i = 0; i < N * DIM; i++) k[i] = 2.0f;
  for (int d = 0; d < DIM; d++) mu[d] = 2.0f;
  CHECK(sage_split_channels(k, N, DIM, mu, channels) == 0);
}

// The split on the harness's K-outlier inputs (four K channels 10-50x, shifted): the whole
// acceptance with 16-bit P V at block and thread granularity, forward and gradients; split=off
// misses it on the same inputs (so the test can fail); FP8 P V keeps its cosines and its e4m3
// floor on rel L1 (plain inputs 0.037; at most 0.04 here, measured 0.026: not the split's to fix).
static void test_split_outlier(void) {
  uint64_t seed = 41;
  for (int gi = 0; gi < 2; gi++)
    for (int pv = 0; pv < VDIT_ATTN_SAGE_PV_COUNT; pv++) {
      const vdit_attn_sage_granularity gran = gi ? VDIT_ATTN_SAGE_PER_THREAD : VDIT_ATTN_SAGE_PER_BLOCK;
      vdit_attn_check_spec spec = sage_spec(gran, (vdit_attn_sage_pv)pv, 0);
      spec.inputs = VDIT_ATTN_INPUTS_OUTLIER;
      spec.shape = (vdit_attn_shape){1, 2, 384, 384, 128};
      spec.config.mask = pv ? VDIT_ATTN_MASK_NONE : VDIT_ATTN_MASK_CAUSAL;
      spec.dtype = gi ? VDIT_DTYPE_F16 : VDIT_DTYPE_BF16;
      spec.seed = seed++;
      vdit_attn_check_result off, on;
      CHECK_OK(vdit_attn_check_run(&spec, &off));
      spec.config.sage.split = VDIT_ATTN_SAGE_SPLIT_AUTO;
      CHECK_OK(vdit_attn_check_run(&spec, &on));
      const vdit_attn_tolerance fwd = on.forward_tolerance, bwd = on.backward_tolerance;
      CHECK(!off.passed && off.o.rel_l1 > 0.05);
      const int cosines = on.o.cos >= fwd.min_cos && on.dq.cos >= bwd.min_cos && on.dk.cos >= bwd.min_cos &&
                          on.dv.cos >= bwd.min_cos && on.lse.max_err <= fwd.max_err;
      if (pv == VDIT_ATTN_SAGE_PV_HALF ? !on.passed : !cosines || on.o.rel_l1 > 0.04) report("split outlier", &spec, &on);
    }
}

// Plain inputs: split=auto finds no channel, so O, LSE and the gradients are today's bits.
static void test_split_plain_bits(void) {
  static float q[256 * 64], k[256 * 64], v[256 * 64], d_o[256 * 64];
  static head_run a, b;
  vdit_rng_normal(9, 0, 256 * 64, q);
  vdit_rng_normal(9, 1u << 20, 256 * 64, k);
  vdit_rng_normal(9, 2u << 20, 256 * 64, v);
  vdit_rng_normal(9, 3u << 20, 256 * 64, d_o);
  vdit_attn_config config;
  memset(&config, 0, sizeof config);
  config.method = VDIT_ATTN_SAGE;
  for (int pv = 0; pv < VDIT_ATTN_SAGE_PV_COUNT; pv++) {
    config.sage.pv = (vdit_attn_sage_pv)pv;
    config.sage.split = VDIT_ATTN_SAGE_SPLIT_OFF;
    run_head(&config, q, k, v, d_o, &a);
    config.sage.split = VDIT_ATTN_SAGE_SPLIT_AUTO;
    run_head(&config, q, k, v, d_o, &b);
    CHECK(memcmp(&a, &b, sizeof a) == 0);
  }
  // and the same K with one channel 40x larger does split, and changes the result
  for (int j = 0; j < 256; j++) k[j * 64 + 5] *= 40.0f;
  config.sage.split = VDIT_ATTN_SAGE_SPLIT_OFF;
  run_head(&config, q, k, v, d_o, &a);
  config.sage.split = VDIT_ATTN_SAGE_SPLIT_AUTO;
  run_head(&config, q, k, v, d_o, &b);
  CHECK(memcmp(a.o, b.o, sizeof a.o) != 0 && memcmp(a.dq, b.dq, sizeof a.dq) != 0);
}

// Group maps of the forward's scales (what the GPU fragments see).
static void test_groups(void) {
  CHECK(sage_q_group(VDIT_ATTN_SAGE_PER_BLOCK, 127) == 0 && sage_q_group(VDIT_ATTN_SAGE_PER_BLOCK, 128) == 1);
  CHECK(sage_q_group(VDIT_ATTN_SAGE_PER_WARP, 31) == 1);
  CHECK(sage_q_group(VDIT_ATTN_SAGE_PER_THREAD, 3) == sage_q_group(VDIT_ATTN_SAGE_PER_THREAD, 11));
  CHECK(sage_q_group(VDIT_ATTN_SAGE_PER_THREAD, 19) == 8 + 3);
  CHECK(sage_k_group(VDIT_ATTN_SAGE_PER_THREAD, 2) == sage_k_group(VDIT_ATTN_SAGE_PER_THREAD, 3 + 120));
  CHECK(sage_k_group(VDIT_ATTN_SAGE_PER_THREAD, 130) == 4 + 1);
  CHECK(sage_k_groups(VDIT_ATTN_SAGE_PER_THREAD, 129) == 8 && sage_q_groups(VDIT_ATTN_SAGE_PER_THREAD, 17) == 16);
  CHECK(sage_int8_scale(127.0f) == 1.0f && sage_fp8_scale(448.0f) == 1.0f);
}

int main(void) {
  test_groups();
  test_acceptance_grid();
  test_ragged_and_empty_rows();
  test_smoothing_invariance();
  test_bad_options();
  test_split_rule();
  test_split_plain_bits();
  test_split_outlier();
  return check_finish("test_attn_sage");
}
