// SHIELD on the real model (vdit/shield.h), on the wan_small fixture: the recorded trace's
// lifetimes follow the cost model and the op order; standard refresh at a short t_REF leaves
// the output bit-identical to the error-free run; under SHIELD no sign or exponent bit fails
// on the real trace while mantissa bits do; the injection flips exactly the bits the
// retention model says fail (recomputed here cell by cell) and nothing else; a two-pass
// workload counts two passes and twice the energy; a KV cache stretches K and V; the lifecycle
// policy keeps its protected mantissa bits; K/V to their last read and one sample per pass
// give the lifetimes they say.
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vdit/num.h"
#include "vdit/shield.h"

typedef struct fixture {
  vdit_model_weights w;
  vdit_safetensors *inputs;
  vdit_tensor video, timesteps, context;
  int passes; // forward passes per workload call
} fixture;

static int fixture_open(fixture *f) {
  memset(f, 0, sizeof *f);
  f->passes = 1;
  const char *data = getenv("VDIT_TEST_DATA");
  char model[1024], config[1024], inputs[1024];
  snprintf(model, sizeof model, "%s/wan_small/model_diffusers.safetensors", data ? data : "tests/data");
  snprintf(config, sizeof config, "%s/wan_small/config_diffusers.json", data ? data : "tests/data");
  snprintf(inputs, sizeof inputs, "%s/wan_small/inputs.safetensors", data ? data : "tests/data");
  CHECK_OK(vdit_model_load(model, config, &f->w));
  CHECK_OK(vdit_safetensors_open(inputs, &f->inputs));
  if (!f->w.data || !f->inputs) return 0;
  CHECK_OK(vdit_safetensors_tensor(f->inputs, "hidden_states", &f->video));
  CHECK_OK(vdit_safetensors_tensor(f->inputs, "timestep", &f->timesteps));
  CHECK_OK(vdit_safetensors_tensor(f->inputs, "encoder_hidden_states", &f->context));
  return 1;
}

static vdit_status workload(void *user, const vdit_model_run_options *hooks, vdit_tensor *output) {
  fixture *f = user;
  for (int p = 0; p < f->passes; p++)
    VDIT_TRY(vdit_model_forward(&f->w, hooks, &f->video, &f->timesteps, &f->context, output, NULL));
  return VDIT_OK;
}

// A workload that ignores the hooks.
static vdit_status deaf_workload(void *user, const vdit_model_run_options *hooks, vdit_tensor *output) {
  (void)hooks;
  fixture *f = user;
  return vdit_model_forward(&f->w, NULL, &f->video, &f->timesteps, &f->context, output, NULL);
}

// Wraps the shield's tamper: checks each call's flips against the retention model.
typedef struct flip_check {
  fixture *f;
  const vdit_shield_trace *trace;
  const vdit_sim_retention *retention;
  const vdit_sim_policy *policy;
  vdit_model_tamper inner;
  void *inner_user;
  uint64_t flipped[VDIT_SIM_SEGMENT_COUNT]; // bits that differ after the tamper
  uint64_t expected[VDIT_SIM_SEGMENT_COUNT];
  uint64_t wrong;                           // cells whose flip disagrees with the model
  uint64_t flipped_protected;               // flips in protected mantissa bits
  int calls;
} flip_check;

static vdit_status checking_tamper(void *user, const char *name, vdit_tensor *t) {
  flip_check *c = user;
  int n;
  char kind_char;
  if (sscanf(name, "blocks.%d.attn1.%c", &n, &kind_char) != 2) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "bad name");
  int kind = kind_char == 'q' ? 0 : kind_char == 'k' ? 1 : kind_char == 'v' ? 2 : 3;
  const vdit_sim_tensor *x = &c->trace->tensors[n * VDIT_SHIELD_KIND_COUNT + kind];
  const size_t words = (size_t)vdit_tensor_numel(t);
  uint16_t *before = malloc(words * sizeof *before);
  double *seconds = malloc(words * 16 * sizeof *seconds);
  if (!before || !seconds) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "test: no memory");
  const float *v = t->data;
  for (size_t i = 0; i < words; i++) before[i] = vdit_bf16_from_float(v[i]);
  VDIT_TRY(c->inner(c->inner_user, name, t));
  VDIT_TRY(vdit_sim_retention_times(c->retention, x->word_address * 16, words * 16, seconds));
  double exposure[2];
  for (int s = 0; s < 2; s++) exposure[s] = vdit_sim_unrefreshed_interval(c->policy, x, (vdit_sim_segment)s);
  for (size_t i = 0; i < words; i++) {
    uint16_t after = vdit_bf16_from_float(v[i]);
    if (vdit_bf16_to_float(after) != v[i]) c->wrong++; // the tensor must hold bf16 values now
    const int first_protected = 7 - c->policy->protected_mantissa_bits[x->lifetime_class];
    for (int b = 0; b < 16; b++) {
      int segment = b >= 7 ? 0 : 1;                    // the field
      int storage = b >= first_protected ? 0 : 1;      // the sub-array, so the refresh interval
      int stored = (before[i] >> b) & 1;
      int expect = stored == c->retention->leaking_value && seconds[i * 16 + (size_t)b] < exposure[storage];
      int flip = ((before[i] ^ after) >> b) & 1;
      c->flipped[segment] += (uint64_t)flip;
      if (segment == 1 && storage == 0) c->flipped_protected += (uint64_t)flip;
      c->expected[segment] += (uint64_t)expect;
      c->wrong += (uint64_t)(flip != expect);
    }
  }
  c->calls++;
  free(before);
  free(seconds);
  return VDIT_OK;
}

static vdit_status checking_workload(void *user, const vdit_model_run_options *hooks, vdit_tensor *output) {
  flip_check *c = user;
  c->inner = hooks->tamper;
  c->inner_user = hooks->tamper_user;
  vdit_model_run_options mine = *hooks;
  mine.tamper = checking_tamper;
  mine.tamper_user = c;
  return workload(c->f, &mine, output);
}

int main(void) {
  fixture f;
  if (!fixture_open(&f)) {
    vdit_safetensors_close(f.inputs);
    vdit_model_weights_free(&f.w);
    return check_finish("test_shield_model");
  }
  const vdit_model_config *c = &f.w.config;
  const int64_t B = 2, L = 24, D = c->dim;
  vdit_tensor reference, output;
  const int64_t shape[5] = {2, 4, 3, 4, 8};
  CHECK_OK(vdit_tensor_alloc(&reference, VDIT_DTYPE_F32, VDIT_CPU, 5, shape));
  CHECK_OK(vdit_tensor_alloc(&output, VDIT_DTYPE_F32, VDIT_CPU, 5, shape));

  // Cost model at 0.001 TOPS: the attention (4 B L^2 D FLOPs) and the output projection
  // (2 B L D^2) are compute-bound, so Q lives 4 B L^2 D / 1e9 s and O 2 B L D^2 / 1e9 s.
  vdit_shield_timing timing = vdit_shield_timing_default();
  timing.tops = 0.001;
  vdit_shield_trace trace;
  CHECK_OK(vdit_shield_trace_record(c, &timing, workload, &f, &reference, &trace));
  CHECK_EQ_INT(trace.layers, 2);
  const double q_life = 4.0 * B * L * L * D / 1e9, o_life = 2.0 * B * L * D * D / 1e9;
  for (int64_t n = 0; n < trace.layers && trace.tensors; n++) {
    const vdit_sim_tensor *t = &trace.tensors[n * 4];
    CHECK_NEAR(t[0].t_read_s - t[0].t_write_s, q_life, 1e-12);
    CHECK_NEAR(t[3].t_read_s - t[3].t_write_s, o_life, 1e-12);
    CHECK(t[0].t_read_s == t[3].t_write_s);
    CHECK(t[1].t_write_s == t[0].t_write_s && t[2].t_write_s == t[0].t_write_s);
    CHECK(t[1].t_read_s == trace.step_s && t[2].t_read_s == trace.step_s);
    CHECK_EQ_INT(t[0].lifetime_class, VDIT_SIM_LIFETIME_TRANSIENT);
    CHECK_EQ_INT(t[1].lifetime_class, VDIT_SIM_LIFETIME_PERSISTENT);
    CHECK_EQ_INT(t[3].lifetime_class, VDIT_SIM_LIFETIME_TRANSIENT);
    for (int k = 0; k < 4; k++) {
      CHECK_EQ_INT(t[k].word_count, B * L * D);
      CHECK_EQ_INT(t[k].word_address, (uint64_t)((n * 4 + k) * B * L * D));
    }
    if (n > 0) CHECK(t[0].t_write_s > trace.tensors[(n - 1) * 4 + 3].t_read_s);
  }
  // The reference holds bf16 Q, K, V, O: it differs from the plain fp32 run, slightly.
  CHECK_OK(vdit_model_forward(&f.w, NULL, &f.video, &f.timesteps, &f.context, &output, NULL));
  double bf16_error = vdit_shield_rel_l1(&output, &reference);
  CHECK(bf16_error > 0 && bf16_error < 2e-2);

  vdit_sim_retention retention = vdit_sim_retention_default();
  vdit_sim_energy_model energy = vdit_sim_energy_model_default();

  // Standard refresh at 20 us: no cell of this array fails that fast, the output is identical.
  vdit_sim_policy standard = vdit_sim_policy_standard(20e-6);
  vdit_shield_result r;
  CHECK_OK(vdit_shield_run(&trace, &retention, &standard, &energy, workload, &f, &reference, &output, &r));
  CHECK_EQ_INT(r.report.failed_bits[0] + r.report.failed_bits[1], 0);
  CHECK(isinf(r.output_psnr_db) && r.output_rel_l1 == 0);
  CHECK_EQ_INT(r.passes, 1);
  CHECK_EQ_INT(r.report.bits[0], (uint64_t)(8 * B * L * D * 9));
  vdit_sim_report standard_energy;
  memset(&standard_energy, 0, sizeof standard_energy);
  CHECK_OK(vdit_shield_trace_energy(&trace, &standard, &energy, &standard_energy));
  CHECK_NEAR(vdit_sim_report_refresh_pj(&standard_energy), vdit_sim_report_refresh_pj(&r.report), 1e-9);

  // SHIELD: never-refreshed transient mantissas, K/V mantissas every 1 ms. Sign and exponent
  // never fail on the real trace; mantissas do, and each flip is the one the model predicts.
  vdit_sim_policy shield = vdit_sim_policy_shield(20e-6, 1e-3);
  flip_check check = {.f = &f, .trace = &trace, .retention = &retention, .policy = &shield};
  CHECK_OK(vdit_shield_run(&trace, &retention, &shield, &energy, checking_workload, &check, &reference, &output, &r));
  CHECK_EQ_INT(check.calls, 8);
  CHECK_EQ_INT(check.wrong, 0);
  CHECK_EQ_INT(r.report.failed_bits[VDIT_SIM_SEGMENT_SIGN_EXPONENT], 0);
  CHECK_EQ_INT(check.flipped[VDIT_SIM_SEGMENT_SIGN_EXPONENT], 0);
  CHECK(r.report.failed_bits[VDIT_SIM_SEGMENT_MANTISSA] > 0);
  CHECK_EQ_INT(check.flipped[VDIT_SIM_SEGMENT_MANTISSA], r.report.failed_bits[VDIT_SIM_SEGMENT_MANTISSA]);
  CHECK_EQ_INT(check.expected[VDIT_SIM_SEGMENT_MANTISSA], r.report.failed_bits[VDIT_SIM_SEGMENT_MANTISSA]);
  for (int k = 0; k < 4; k++) CHECK_EQ_INT(r.per_kind[k].failed_bits[0], 0);
  CHECK(r.output_rel_l1 > 0 && isfinite(r.output_psnr_db) && r.output_psnr_db > 20);
  CHECK(vdit_sim_report_refresh_pj(&r.report) < vdit_sim_report_refresh_pj(&standard_energy));
  // mantissa flips keep sign and exponent, so each value moves by less than its magnitude
  for (int k = 0; k < 4; k++) CHECK(r.tensor_rel_l1[k] < 1);
  CHECK(r.tensor_rel_l1[1] > 0 && r.tensor_rel_l1[2] > 0);
  if (getenv("VDIT_TEST_VERBOSE"))
    printf("shield: %llu mantissa bits failed, rel L1 q %.3g k %.3g v %.3g o %.3g, output rel L1 %.3g, PSNR %.2f dB\n",
           (unsigned long long)r.report.failed_bits[1], r.tensor_rel_l1[0], r.tensor_rel_l1[1], r.tensor_rel_l1[2],
           r.tensor_rel_l1[3], r.output_rel_l1, r.output_psnr_db);

  // The same run again: the same cells, the same data, the same output bits.
  vdit_tensor again;
  CHECK_OK(vdit_tensor_alloc(&again, VDIT_DTYPE_F32, VDIT_CPU, 5, shape));
  vdit_shield_result r2;
  CHECK_OK(vdit_shield_run(&trace, &retention, &shield, &energy, workload, &f, &reference, &again, &r2));
  CHECK(memcmp(again.data, output.data, vdit_tensor_bytes(&output)) == 0);
  CHECK_EQ_INT(r2.report.failed_bits[1], r.report.failed_bits[1]);

  // Two passes per workload call (a sampler's steps): two passes counted, twice the energy
  // and the failures (same data, same cells).
  f.passes = 2;
  CHECK_OK(vdit_shield_run(&trace, &retention, &shield, &energy, workload, &f, &reference, &again, &r2));
  CHECK_EQ_INT(r2.passes, 2);
  CHECK_NEAR(vdit_sim_report_refresh_pj(&r2.report), 2 * vdit_sim_report_refresh_pj(&r.report), 1e-6);
  CHECK_EQ_INT(r2.report.failed_bits[1], 2 * r.report.failed_bits[1]);
  f.passes = 1;

  // Lifecycle: Q/O mantissas never refreshed but their top 2 bits kept with sign+exponent,
  // K/V's top bit likewise and the rest spread over each lifetime at 1 ms; two passes, so the
  // second reuses the weak cells drawn on the first. Sign, exponent and protected bits never
  // fail; every other flip is the model's.
  vdit_sim_policy lifecycle = vdit_sim_policy_lifecycle(20e-6, 0, 1e-3, 2, 1);
  flip_check lc = {.f = &f, .trace = &trace, .retention = &retention, .policy = &lifecycle};
  f.passes = 2;
  CHECK_OK(vdit_shield_run(&trace, &retention, &lifecycle, &energy, checking_workload, &lc, &reference, &again, &r2));
  f.passes = 1;
  CHECK_EQ_INT(lc.calls, 16);
  CHECK_EQ_INT(lc.wrong, 0);
  CHECK_EQ_INT(lc.flipped[VDIT_SIM_SEGMENT_SIGN_EXPONENT], 0);
  CHECK_EQ_INT(lc.flipped_protected, 0);
  CHECK(lc.flipped[VDIT_SIM_SEGMENT_MANTISSA] > 0);
  CHECK_EQ_INT(lc.flipped[VDIT_SIM_SEGMENT_MANTISSA], r2.report.failed_bits[VDIT_SIM_SEGMENT_MANTISSA]);
  for (int b = 5; b < 16; b++) CHECK_EQ_INT(r2.per_kind[VDIT_SHIELD_Q].failed_by_bit[b], 0);
  for (int b = 6; b < 16; b++) CHECK_EQ_INT(r2.per_kind[VDIT_SHIELD_K].failed_by_bit[b], 0);
  CHECK(vdit_sim_report_refresh_pj(&r2.report) < 2 * vdit_sim_report_refresh_pj(&standard_energy));

  // A policy per kind: standard everywhere but K's mantissa every 1 ms. Only K fails, K's
  // refresh energy is its relaxed policy's, V's is standard refresh's.
  {
    vdit_sim_policy k_relaxed = vdit_sim_policy_standard(20e-6);
    k_relaxed.kind = VDIT_SIM_POLICY_CUSTOM;
    k_relaxed.refresh_interval_s[VDIT_SIM_LIFETIME_PERSISTENT][VDIT_SIM_SEGMENT_MANTISSA] = 1e-3;
    const vdit_sim_policy *kinds[VDIT_SHIELD_KIND_COUNT] = {&standard, &k_relaxed, &standard, &standard};
    vdit_shield_result rk;
    CHECK_OK(vdit_shield_run_kinds(&trace, &retention, kinds, &energy, workload, &f, &reference, &again, &rk));
    CHECK(rk.per_kind[VDIT_SHIELD_K].failed_bits[VDIT_SIM_SEGMENT_MANTISSA] > 0);
    CHECK_EQ_INT(rk.per_kind[VDIT_SHIELD_K].failed_bits[VDIT_SIM_SEGMENT_SIGN_EXPONENT], 0);
    for (int k = 0; k < VDIT_SHIELD_KIND_COUNT; k++)
      if (k != VDIT_SHIELD_K) CHECK_EQ_INT(rk.per_kind[k].failed_bits[0] + rk.per_kind[k].failed_bits[1], 0);
    vdit_sim_report k_energy, v_energy;
    memset(&k_energy, 0, sizeof k_energy);
    memset(&v_energy, 0, sizeof v_energy);
    for (int64_t n = 0; n < trace.layers; n++) {
      CHECK_OK(vdit_sim_tensor_energy(&k_relaxed, &energy, &trace.tensors[n * 4 + VDIT_SHIELD_K], &k_energy));
      CHECK_OK(vdit_sim_tensor_energy(&standard, &energy, &trace.tensors[n * 4 + VDIT_SHIELD_V], &v_energy));
    }
    CHECK_NEAR(vdit_sim_report_refresh_pj(&rk.per_kind[VDIT_SHIELD_K]), vdit_sim_report_refresh_pj(&k_energy), 1e-6);
    CHECK_NEAR(vdit_sim_report_refresh_pj(&rk.per_kind[VDIT_SHIELD_V]), vdit_sim_report_refresh_pj(&v_energy), 1e-6);
    CHECK(vdit_sim_report_refresh_pj(&k_energy) < vdit_sim_report_refresh_pj(&v_energy));
    CHECK(rk.tensor_rel_l1[VDIT_SHIELD_K] > 0 && rk.tensor_rel_l1[VDIT_SHIELD_V] == 0);
  }

  // A KV cache held for 3 steps: K and V live to 3x the step; Q and O are unchanged.
  vdit_shield_timing cached = timing;
  cached.kv_steps = 3;
  vdit_shield_trace kv;
  CHECK_OK(vdit_shield_trace_record(c, &cached, workload, &f, &again, &kv));
  if (kv.tensors && trace.tensors) {
    CHECK_NEAR(kv.tensors[1].t_read_s, 3 * kv.step_s, 1e-12);
    CHECK(kv.tensors[0].t_read_s == trace.tensors[0].t_read_s);
  }
  vdit_shield_trace_free(&kv);

  // K and V to their last read (no KV cache): they die with Q at the end of the attention
  // and are transient.
  cached.kv_steps = 0;
  CHECK_OK(vdit_shield_trace_record(c, &cached, workload, &f, &again, &kv));
  for (int64_t n = 0; kv.tensors && n < kv.layers; n++) {
    const vdit_sim_tensor *t = &kv.tensors[n * 4];
    CHECK(t[1].t_read_s == t[0].t_read_s && t[2].t_read_s == t[0].t_read_s);
    CHECK_EQ_INT(t[1].lifetime_class, VDIT_SIM_LIFETIME_TRANSIENT);
    CHECK_EQ_INT(t[2].lifetime_class, VDIT_SIM_LIFETIME_TRANSIENT);
  }
  vdit_shield_trace_free(&kv);

  // One sample per pass: the ops of batch 1, so Q (compute-bound attention) lives half as
  // long; the tensors still hold the whole batch.
  vdit_shield_timing per_sample = timing;
  per_sample.per_sample = 1;
  CHECK_OK(vdit_shield_trace_record(c, &per_sample, workload, &f, &again, &kv));
  for (int64_t n = 0; kv.tensors && n < kv.layers; n++) {
    const vdit_sim_tensor *t = &kv.tensors[n * 4];
    CHECK_NEAR(t[0].t_read_s - t[0].t_write_s, q_life / B, 1e-12);
    CHECK_EQ_INT(t[0].word_count, B * L * D);
  }
  CHECK(kv.step_s < trace.step_s);
  vdit_shield_trace_free(&kv);

  // The wall clock: positive, ordered lifetimes.
  vdit_shield_timing measured = vdit_shield_timing_default();
  measured.clock = VDIT_SHIELD_CLOCK_MEASURED;
  measured.time_scale = 1000;
  CHECK_OK(vdit_shield_trace_record(c, &measured, workload, &f, &again, &kv));
  for (int64_t i = 0; kv.tensors && i < kv.layers * 4; i++)
    CHECK(kv.tensors[i].t_read_s >= kv.tensors[i].t_write_s && kv.tensors[i].t_write_s > 0);
  CHECK(kv.step_s > 0);
  vdit_shield_trace_free(&kv);

  // A workload that drops the hooks is caught; so is a changed shape.
  CHECK_STATUS(vdit_shield_trace_record(c, &timing, deaf_workload, &f, &again, &kv), VDIT_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(vdit_last_error(), "no forward pass with the hooks"));
  vdit_shield_trace small = trace;
  small.tensors = malloc((size_t)trace.layers * 4 * sizeof *small.tensors);
  if (small.tensors && trace.tensors) {
    memcpy(small.tensors, trace.tensors, (size_t)trace.layers * 4 * sizeof *small.tensors);
    small.tensors[0].word_count--;
    CHECK_STATUS(vdit_shield_run(&small, &retention, &shield, &energy, workload, &f, &reference, &again, &r2),
                 VDIT_ERROR_INVALID_ARGUMENT);
    CHECK(strstr(vdit_last_error(), "the workload's shapes changed"));
  }
  free(small.tensors);

  // PSNR and rel L1 by hand.
  {
    float a[4] = {0, 1, 2, 4}, b[4] = {0, 1, 2, 5};
    vdit_tensor ta, tb;
    CHECK_OK(vdit_tensor_view(&ta, a, VDIT_DTYPE_F32, VDIT_CPU, 1, (int64_t[]){4}, NULL));
    CHECK_OK(vdit_tensor_view(&tb, b, VDIT_DTYPE_F32, VDIT_CPU, 1, (int64_t[]){4}, NULL));
    CHECK_NEAR(vdit_shield_psnr_db(&ta, &tb), 10 * log10(16.0 / 0.25), 1e-9);
    CHECK_NEAR(vdit_shield_rel_l1(&ta, &tb), 1.0 / 7.0, 1e-12);
  }

  vdit_shield_trace_free(&trace);
  vdit_tensor_free(&again);
  vdit_tensor_free(&reference);
  vdit_tensor_free(&output);
  vdit_safetensors_close(f.inputs);
  vdit_model_weights_free(&f.w);
  return check_finish("test_shield_model");
}
