// vdit shield: runs eDRAM refresh policies (standard, SHIELD, custom) on a synthetic attention
// trace and prints refresh energy, failed bits per segment and the error of the corrupted
// tensors. The trace: `layers` layers, each writing Q, K, V (tokens x dim bf16) at the end of
// its QKV projection and O at the end of attention; op durations come from FLOP counts at a
// fixed throughput (docs/shield.md). With --model the same policies run on a real model pass
// instead (tools/shield_model.c).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "shield_model.h"
#include "vdit/num.h"
#include "vdit/sim.h"

enum { KIND_Q = 0, KIND_K, KIND_V, KIND_O, KIND_COUNT };
static const char *const kind_names[KIND_COUNT] = {"q", "k", "v", "o"};

typedef struct options {
  int64_t tokens, dim, layers, seed, array_seed;
  double tops, t_ref_us, relaxed_us, temperature_c, vrt_fraction;
  double custom_us[VDIT_SIM_LIFETIME_CLASS_COUNT][VDIT_SIM_SEGMENT_COUNT]; // < 0: t_REF (lifecycle: its default)
  int64_t protect[VDIT_SIM_LIFETIME_CLASS_COUNT]; // protected mantissa bits; < 0: the policy's default
  int spread;
  const char *policy, *sweep_policy;
  int json;
  const char *bins;                  // --bins: binned persistent mantissas (us list), or NULL
  double bins_us[VDIT_SIM_MAX_BINS];
  int bin_count;
  double bin_guard;
  int64_t bin_profiles;
  int64_t alternate_words;           // --alternate-words: retention.alternate_block_words
  int64_t bin_tolerate;              // --bin-tolerate: tolerated cells per binned row
  int64_t kind_tolerate[KIND_COUNT]; // --k-bin-tolerate, --v-bin-tolerate; -1: --bin-tolerate
  const char *kind_planes[KIND_COUNT]; // --q-planes, --k-planes, --v-planes, or NULL
} options;

// --k-planes etc.: tolerated cells per mantissa bit plane, top bit first ("0,0,4,u,u,u,u"; u or
// -1: that plane uniform at the kind's mantissa interval), `count` values; planes[b] by bit (0 = LSB).
static int parse_planes(const char *text, int count, int planes[VDIT_SIM_MANTISSA_BITS]) {
  for (int b = 0; b < VDIT_SIM_MANTISSA_BITS; b++) planes[b] = -1;
  const char *c = text;
  for (int i = 0; i < count; i++) {
    int value;
    if (*c == 'u') value = -1, c++;
    else {
      char *end;
      long v = strtol(c, &end, 10);
      if (end == c || v < -1 || v > 255) return -1;
      value = (int)v, c = end;
    }
    planes[count - 1 - i] = value;
    if (i + 1 < count && *c++ != ',') return -1;
  }
  return *c == 0 ? 0 : -1;
}

// The lifecycle policy's defaults (docs/shield.md, "Lifecycle-aware policy", says how they were chosen).
#define LIFECYCLE_TRANSIENT_MANTISSA_US 0.0 // never: Q and O die within a few retention tails
#define LIFECYCLE_PROTECT_TRANSIENT 1
#define LIFECYCLE_PROTECT_PERSISTENT 0

// --bins: the persistent mantissas of a shield, lifecycle or custom policy refreshed per row
// at binned intervals (vdit_sim_policy.binned), rows of the energy model's size.
static vdit_sim_policy with_bins(const options *o, vdit_sim_policy p) {
  if (!o->bins || p.kind == VDIT_SIM_POLICY_STANDARD) return p;
  p.binned[VDIT_SIM_LIFETIME_PERSISTENT] = 1;
  p.bin_count = o->bin_count;
  for (int b = 0; b < o->bin_count; b++) p.bin_intervals_s[b] = o->bins_us[b] * 1e-6;
  p.bin_guard = o->bin_guard;
  p.bin_row_bits = vdit_sim_energy_model_default().row_bits;
  p.bin_profile_rounds = (int)o->bin_profiles;
  p.bin_tolerated_cells = (int)o->bin_tolerate;
  return p;
}

static vdit_sim_policy policy_from_options_unbinned(const options *o, int k, double relaxed_us);

// The policy of kind k from the options (relaxed_us: SHIELD's and lifecycle's persistent mantissa interval).
static vdit_sim_policy policy_from_options(const options *o, int k, double relaxed_us) {
  return with_bins(o, policy_from_options_unbinned(o, k, relaxed_us));
}

static vdit_sim_policy policy_from_options_unbinned(const options *o, int k, double relaxed_us) {
  vdit_sim_policy p;
  const double t_ref = o->t_ref_us * 1e-6;
  if (k == VDIT_SIM_POLICY_STANDARD) return vdit_sim_policy_standard(t_ref);
  if (k == VDIT_SIM_POLICY_SHIELD) return vdit_sim_policy_shield(t_ref, relaxed_us * 1e-6);
  if (k == VDIT_SIM_POLICY_LIFECYCLE) {
    const double transient_us = o->custom_us[0][1] >= 0 ? o->custom_us[0][1] : LIFECYCLE_TRANSIENT_MANTISSA_US;
    p = vdit_sim_policy_lifecycle(t_ref, transient_us * 1e-6, relaxed_us * 1e-6,
                                  o->protect[0] >= 0 ? (int)o->protect[0] : LIFECYCLE_PROTECT_TRANSIENT,
                                  o->protect[1] >= 0 ? (int)o->protect[1] : LIFECYCLE_PROTECT_PERSISTENT);
    return p;
  }
  p = vdit_sim_policy_standard(t_ref);
  p.kind = VDIT_SIM_POLICY_CUSTOM;
  for (int c = 0; c < VDIT_SIM_LIFETIME_CLASS_COUNT; c++) {
    for (int s = 0; s < VDIT_SIM_SEGMENT_COUNT; s++)
      if (o->custom_us[c][s] >= 0) p.refresh_interval_s[c][s] = o->custom_us[c][s] * 1e-6;
    p.protected_mantissa_bits[c] = o->protect[c] >= 0 ? (int)o->protect[c] : 0;
  }
  p.spread_refreshes = o->spread;
  return p;
}

// Op times of one layer (seconds) from the cost model: FLOPs / (tops * 1e12).
typedef struct trace_times {
  double qkv, attention, out_projection, ffn, layer, step;
} trace_times;

static trace_times cost_model(const options *o) {
  double s = (double)o->tokens, d = (double)o->dim, rate = o->tops * 1e12;
  trace_times t;
  t.qkv = 2 * s * d * 3 * d / rate;        // x (S, D) @ W_qkv (D, 3D)
  t.attention = 4 * s * s * d / rate;      // QK^T and PV
  t.out_projection = 2 * s * d * d / rate; // O (S, D) @ W_o (D, D)
  t.ffn = 2 * 2 * s * d * 4 * d / rate;    // D -> 4D -> D
  t.layer = t.qkv + t.attention + t.out_projection + t.ffn;
  t.step = t.layer * (double)o->layers;
  return t;
}

// Tensor k of layer l: transient Q (QKV end .. attention end) and O (attention end .. out
// projection end); persistent K and V (QKV end .. end of the step).
static vdit_sim_tensor trace_tensor(const options *o, const trace_times *t, int64_t layer, int kind) {
  size_t words = (size_t)(o->tokens * o->dim);
  double start = (double)layer * t->layer, written = start + t->qkv, attended = written + t->attention;
  vdit_sim_tensor x = {.word_address = (uint64_t)(layer * KIND_COUNT + kind) * words, .word_count = words};
  switch (kind) {
  case KIND_Q:
    x.t_write_s = written, x.t_read_s = attended, x.lifetime_class = VDIT_SIM_LIFETIME_TRANSIENT;
    break;
  case KIND_O:
    x.t_write_s = attended, x.t_read_s = attended + t->out_projection, x.lifetime_class = VDIT_SIM_LIFETIME_TRANSIENT;
    break;
  default:
    x.t_write_s = written, x.t_read_s = t->step, x.lifetime_class = VDIT_SIM_LIFETIME_PERSISTENT;
    break;
  }
  return x;
}

typedef struct policy_result {
  vdit_sim_policy policy;
  vdit_sim_report report;
  double abs_error[KIND_COUNT], abs_sum[KIND_COUNT];
} policy_result;

static vdit_status run_policy(const options *o, const trace_times *t, const vdit_sim_retention *retention,
                              const vdit_sim_energy_model *energy, uint16_t *clean, uint16_t *dirty,
                              policy_result *result) {
  size_t words = (size_t)(o->tokens * o->dim);
  float *normals = malloc(words * sizeof *normals);
  if (!normals) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "no memory for %zu activations", words);
  vdit_status status = VDIT_OK;
  for (int64_t layer = 0; layer < o->layers && status == VDIT_OK; layer++)
    for (int kind = 0; kind < KIND_COUNT && status == VDIT_OK; kind++) {
      vdit_sim_tensor x = trace_tensor(o, t, layer, kind);
      // activations: Philox normals, element i of tensor (layer, kind) at stream offset address + i
      vdit_rng_normal((uint64_t)o->seed, x.word_address, words, normals);
      for (size_t i = 0; i < words; i++) clean[i] = vdit_bf16_from_float(normals[i]);
      status = vdit_sim_inject_bf16(retention, &result->policy, energy, &x, clean, dirty, &result->report);
      for (size_t i = 0; i < words && status == VDIT_OK; i++) {
        double a = vdit_bf16_to_float(clean[i]), b = vdit_bf16_to_float(dirty[i]);
        result->abs_error[kind] += fabs(b - a);
        result->abs_sum[kind] += fabs(a);
      }
    }
  free(normals);
  return status;
}

static void print_number_json(double x) {
  if (isfinite(x)) printf("%.6g", x);
  else printf("null");
}

static void print_results(const options *o, const trace_times *t, const vdit_sim_retention *retention,
                          const vdit_sim_energy_model *energy, const policy_result *results, int count,
                          double standard_refresh_pj) {
  if (o->json) {
    printf("{\"trace\": {\"tokens\": %lld, \"dim\": %lld, \"layers\": %lld, \"tops\": %g, \"seed\": %lld, "
           "\"q_lifetime_us\": %.6g, \"o_lifetime_us\": %.6g, \"step_us\": %.6g}, ",
           (long long)o->tokens, (long long)o->dim, (long long)o->layers, o->tops, (long long)o->seed,
           t->attention * 1e6, t->out_projection * 1e6, t->step * 1e6);
    printf("\"retention\": {\"median_us\": %.6g, \"sigma\": %g, \"temperature_c\": %g, \"vrt_fraction\": %g, "
           "\"array_seed\": %llu, \"leaking_value\": %d}, ",
           retention->median_s * 1e6, retention->sigma, retention->temperature_c, retention->vrt_fraction,
           (unsigned long long)retention->seed, retention->leaking_value);
    printf("\"energy_model\": {\"node_nm\": %d, \"row_bits\": %d, \"refresh_pj_per_row\": %g, "
           "\"read_pj_per_bit\": %g, \"write_pj_per_bit\": %g}, \"policies\": [",
           energy->node_nm, energy->row_bits, energy->refresh_pj_per_row, energy->read_pj_per_bit,
           energy->write_pj_per_bit);
    for (int p = 0; p < count; p++) {
      const policy_result *r = &results[p];
      double refresh = vdit_sim_report_refresh_pj(&r->report);
      printf("%s{\"policy\": \"%s\", \"intervals_us\": {", p ? ", " : "", vdit_sim_policy_name(r->policy.kind));
      for (int c = 0; c < VDIT_SIM_LIFETIME_CLASS_COUNT; c++)
        printf("%s\"%s\": {\"sign_exponent\": %g, \"mantissa\": %g}", c ? ", " : "",
               vdit_sim_lifetime_class_name((vdit_sim_lifetime_class)c), r->policy.refresh_interval_s[c][0] * 1e6,
               r->policy.refresh_interval_s[c][1] * 1e6);
      printf("}, \"refresh_pj\": %.6g, \"refresh_saving\": ", refresh);
      print_number_json(standard_refresh_pj > 0 ? 1 - refresh / standard_refresh_pj : 0);
      printf(", \"access_pj\": %.6g, \"bits\": {\"sign_exponent\": %llu, \"mantissa\": %llu}, "
             "\"failed_bits\": {\"sign_exponent\": %llu, \"mantissa\": %llu}, \"rel_l1\": {",
             r->report.access_pj, (unsigned long long)r->report.bits[0], (unsigned long long)r->report.bits[1],
             (unsigned long long)r->report.failed_bits[0], (unsigned long long)r->report.failed_bits[1]);
      for (int k = 0; k < KIND_COUNT; k++) {
        printf("%s\"%s\": ", k ? ", " : "", kind_names[k]);
        print_number_json(r->abs_error[k] / r->abs_sum[k]);
      }
      printf("}}");
    }
    printf("]}\n");
    return;
  }
  printf("vdit shield: synthetic trace, %lld layers x (Q, K, V, O) of %lld x %lld bf16 at %g TOPS\n",
         (long long)o->layers, (long long)o->tokens, (long long)o->dim, o->tops);
  printf("lifetimes: Q %.3g us, O %.3g us (transient); K, V up to %.3g us (persistent, the step)\n",
         t->attention * 1e6, t->out_projection * 1e6, (t->step - t->qkv) * 1e6);
  printf("retention: log-normal, median %.4g us, sigma %g, %g C, VRT fraction %g; a stored %d leaks\n",
         retention->median_s * 1e6, retention->sigma, retention->temperature_c, retention->vrt_fraction,
         retention->leaking_value);
  printf("energy: %d nm, %d-bit rows, %.4g pJ per row refresh, %.3g/%.3g pJ per bit read/write (assumed)\n\n",
         energy->node_nm, energy->row_bits, energy->refresh_pj_per_row, energy->read_pj_per_bit,
         energy->write_pj_per_bit);
  printf("%-9s %12s %7s %10s %14s %12s %10s %10s %10s %10s\n", "policy", "refresh_nJ", "saving", "access_nJ",
         "failed_sign_exp", "failed_mant", "rel_l1_Q", "rel_l1_K", "rel_l1_V", "rel_l1_O");
  for (int p = 0; p < count; p++) {
    const policy_result *r = &results[p];
    double refresh = vdit_sim_report_refresh_pj(&r->report);
    printf("%-9s %12.4g %6.2f%% %10.4g %14llu %12llu", vdit_sim_policy_name(r->policy.kind), refresh * 1e-3,
           standard_refresh_pj > 0 ? 100 * (1 - refresh / standard_refresh_pj) : 0.0, r->report.access_pj * 1e-3,
           (unsigned long long)r->report.failed_bits[0], (unsigned long long)r->report.failed_bits[1]);
    for (int k = 0; k < KIND_COUNT; k++) printf(" %10.3g", r->abs_error[k] / r->abs_sum[k]);
    printf("\n");
  }
}

static int run_shield(int argc, char **argv) {
  options o = {.tokens = 256, .dim = 256, .layers = 8, .seed = 1, .array_seed = 1, .tops = 8, .t_ref_us = 50,
               .relaxed_us = 200, .temperature_c = 25, .vrt_fraction = 0, .policy = "all", .sweep_policy = "shield",
               .protect = {-1, -1}};
  for (int c = 0; c < VDIT_SIM_LIFETIME_CLASS_COUNT; c++)
    for (int s = 0; s < VDIT_SIM_SEGMENT_COUNT; s++) o.custom_us[c][s] = -1;
  model_source_flags source;
  model_source_defaults(&source);
  source.seed = 1; // the synthetic trace's default activation seed
  shield_bundle_flags bundle = {.prompt = "a red cube and a blue sphere on a checkered floor, the camera orbits left",
                                .steps = 0, .eval_clips = 8, .data_seed = 1000000, .cfg = -1};
  shield_model_flags model = {.clock = "model", .attention = "dense", .bandwidth_gbs = 64, .time_scale = 1, .kv_steps = 1,
                              .sweep_param = "persistent-us", .kind_mantissa_us = {-1, -1, -1, -1},
                              .kind_bin_guard = {-1, -1, -1, -1}};
  o.bin_guard = 0.8;
  o.bin_profiles = 1;
  for (int k = 0; k < KIND_COUNT; k++) o.kind_tolerate[k] = -1;
  const cli_option own[] = {
      {"policy", CLI_STRING, &o.policy, "standard|shield|lifecycle|custom|all", "refresh policy to run (default all: standard and shield)"},
      {"tokens", CLI_INT, &o.tokens, "N", "synthetic: tokens per tensor (default 256)"},
      {"dim", CLI_INT, &o.dim, "N", "synthetic: model width; Q, K, V, O are tokens x dim (default 256)"},
      {"layers", CLI_INT, &o.layers, "N", "synthetic: layers in the step (default 8)"},
      {"tops", CLI_DOUBLE, &o.tops, "X", "throughput of the cost model in TOPS (default 8)"},
      {"t-ref-us", CLI_DOUBLE, &o.t_ref_us, "X", "standard refresh interval t_REF in us (default 50)"},
      {"relaxed-us", CLI_DOUBLE, &o.relaxed_us, "X", "shield and lifecycle: persistent mantissa interval in us (default 200)"},
      {"transient-exp-us", CLI_DOUBLE, &o.custom_us[0][0], "X", "custom: transient sign+exponent interval, 0 = never (default t_REF)"},
      {"transient-mantissa-us", CLI_DOUBLE, &o.custom_us[0][1], "X", "custom and lifecycle: transient mantissa interval (default t_REF; lifecycle: 0 = never)"},
      {"persistent-exp-us", CLI_DOUBLE, &o.custom_us[1][0], "X", "custom: persistent sign+exponent interval (default t_REF)"},
      {"persistent-mantissa-us", CLI_DOUBLE, &o.custom_us[1][1], "X", "custom: persistent mantissa interval (default t_REF)"},
      {"protect-transient", CLI_INT, &o.protect[0], "N", "custom and lifecycle: top mantissa bits of transient tensors refreshed with sign+exponent, 0..7 (default 0; lifecycle 1)"},
      {"protect-persistent", CLI_INT, &o.protect[1], "N", "custom and lifecycle: the same for persistent tensors (default 0)"},
      {"spread", CLI_FLAG, &o.spread, NULL, "custom: spread each tensor's refreshes evenly over its lifetime (lifecycle always does)"},
      {"k-mantissa-us", CLI_DOUBLE, &model.kind_mantissa_us[VDIT_SHIELD_K], "X", "--model/--bundle: K's mantissa interval alone in us, 0 = never (default: the policy's)"},
      {"v-mantissa-us", CLI_DOUBLE, &model.kind_mantissa_us[VDIT_SHIELD_V], "X", "--model/--bundle: V's mantissa interval alone in us, 0 = never (default: the policy's)"},
      {"bins", CLI_STRING, &o.bins, "LIST", "binned (RAIDR) refresh of the persistent mantissas: bin intervals in us, ascending, the first the default bin, e.g. 50,100,200,400"},
      {"bin-guard", CLI_DOUBLE, &o.bin_guard, "X", "--bins: a row's interval <= X x its weakest profiled cell's retention (default 0.8)"},
      {"k-bin-guard", CLI_DOUBLE, &model.kind_bin_guard[VDIT_SHIELD_K], "X", "--bins with --model/--bundle: K's guard alone (default --bin-guard)"},
      {"v-bin-guard", CLI_DOUBLE, &model.kind_bin_guard[VDIT_SHIELD_V], "X", "--bins with --model/--bundle: V's guard alone (default --bin-guard)"},
      {"bin-tolerate", CLI_INT, &o.bin_tolerate, "N", "--bins: a row's interval from its (N+1)-th weakest profiled cell: at most N cells of a row fail (default 0)"},
      {"k-bin-tolerate", CLI_INT, &o.kind_tolerate[KIND_K], "N", "--bins with --model/--bundle: K's tolerated cells per row alone (default --bin-tolerate)"},
      {"v-bin-tolerate", CLI_INT, &o.kind_tolerate[KIND_V], "N", "--bins with --model/--bundle: V's tolerated cells per row alone (default --bin-tolerate)"},
      {"q-planes", CLI_STRING, &o.kind_planes[KIND_Q], "LIST", "--bins with --model/--bundle: Q's unprotected mantissa in bit-plane rows, binned; tolerated cells per plane, top bit first, u = that plane at Q's uniform mantissa interval (0 = never)"},
      {"k-planes", CLI_STRING, &o.kind_planes[KIND_K], "LIST", "--bins with --model/--bundle: the same for K (u: K's mantissa interval, --k-mantissa-us or the policy's)"},
      {"v-planes", CLI_STRING, &o.kind_planes[KIND_V], "LIST", "--bins with --model/--bundle: the same for V (u: --v-mantissa-us or the policy's)"},
      {"bin-profiles", CLI_INT, &o.bin_profiles, "N", "--bins: profile rounds (VRT epochs) whose shortest retention bins a row (default 1)"},
      {"sweep-policy", CLI_STRING, &o.sweep_policy, "shield|lifecycle|custom", "the policy --sweep varies (default shield)"},
      {"sweep-param", CLI_STRING, &model.sweep_param, "persistent-us|transient-us|protect|k-us|v-us|guard|k-guard|v-guard|profiles|k-tolerate|v-tolerate", "what --sweep varies: the persistent (default) or transient mantissa interval in us, the protected mantissa bits of both classes, K's or V's mantissa interval alone, the --bins guard (of both, K or V), --bin-profiles or K's or V's tolerated cells per binned row"},
      {"temperature", CLI_DOUBLE, &o.temperature_c, "C", "operating temperature; retention halves per 10 C above 25 (default 25)"},
      {"vrt", CLI_DOUBLE, &o.vrt_fraction, "X", "fraction of variable-retention cells, 0..1 (default 0)"},
      {"alternate-words", CLI_INT, &o.alternate_words, "N", "the words of every other block of N words leak the other way (anti cells, or stored inverted): flips of both signs (default 0: off)"},
      {"array-seed", CLI_INT, &o.array_seed, "N", "Philox seed of the cells' retention times (default 1)"},
      {"json", CLI_FLAG, &o.json, NULL, "print one JSON object"},
      {"clock", CLI_STRING, &model.clock, "model|measured", "--model: op times from the cost model (--tops, --bandwidth-gbs) or the CPU wall clock x --time-scale (default model)"},
      {"bandwidth-gbs", CLI_DOUBLE, &model.bandwidth_gbs, "X", "--model cost model: memory bandwidth in GB/s (default 64)"},
      {"time-scale", CLI_DOUBLE, &model.time_scale, "X", "--clock measured: target seconds per CPU second (default 1)"},
      {"kv-steps", CLI_INT, &model.kv_steps, "N", "--model/--bundle: K and V held for N steps, a KV cache (default 1: the step; 0: to their last read, the attention, as transient)"},
      {"per-sample", CLI_FLAG, &model.per_sample, NULL, "--model/--bundle cost model: run a batch as one pass per sample (batch-1 op times and lifetimes)"},
      {"attention", CLI_STRING, &model.attention, "SPEC", "--model: attention policy (docs/model.md; default dense)"},
      {"sweep", CLI_STRING, &model.sweep, "LIST", "--model/--bundle: also run --sweep-policy at these persistent (K/V) mantissa intervals in us, e.g. 100,200,400"},
      {"svg", CLI_STRING, &model.svg, "FILE", "--model/--bundle: plot the --sweep (refresh saving vs output PSNR) as SVG"},
      {"bundle", CLI_STRING, &bundle.path, "PATH", "run on a clip generated by this model bundle (e.g. models/vdit-world-s) and its held-out loss"},
      {"prompt", CLI_STRING, &bundle.prompt, "TEXT", "--bundle: the prompt (default: the README's cube-and-sphere prompt)"},
      {"steps", CLI_INT, &bundle.steps, "N", "--bundle: sampler steps (default 0: the bundle's, 20)"},
      {"cfg", CLI_DOUBLE, &bundle.cfg, "X", "--bundle: guidance scale (default: the bundle's, 4)"},
      {"eval-clips", CLI_INT, &bundle.eval_clips, "N", "--bundle: held-out world clips, even (default 8)"},
      {"data-seed", CLI_INT, &bundle.data_seed, "N", "--bundle: world seed base of the held-out clips (default 1000000, the bundle's training)"},
      {"fp32-floor", CLI_FLAG, &bundle.fp32_floor, NULL, "--bundle: also report an fp32 generation (no bf16 rounding) against the bf16 reference"},
  };
  enum { OWN = sizeof own / sizeof own[0] };
  cli_option table[OWN + MODEL_SOURCE_OPTION_COUNT];
  memcpy(table, own, sizeof own);
  model_source_options(&source, table + OWN);
  for (int i = OWN; i < OWN + MODEL_SOURCE_OPTION_COUNT; i++)
    if (strcmp(table[i].name, "seed") == 0) table[i].help = "Philox seed of the activations (synthetic) or random model inputs (default 1)";
  int code = cli_parse(&cli_command_shield,
                       "Simulates activation memory in gain-cell eDRAM: bf16 words stored as a sign+exponent\n"
                       "segment (9 bits) and a mantissa segment (7 bits) with per-cell log-normal retention.\n"
                       "Runs refresh policies on a synthetic attention trace (Q, K, V, O per layer, lifetimes\n"
                       "from a FLOP cost model, Philox activations) and prints refresh energy, failed bits per\n"
                       "segment and the relative L1 error of the corrupted tensors. standard refreshes every bit\n"
                       "every t_REF; shield refreshes sign+exponent every t_REF, never refreshes transient (Q, O)\n"
                       "mantissas and refreshes persistent (K, V) mantissas every --relaxed-us; lifecycle also\n"
                       "keeps the top mantissa bits (--protect-transient/-persistent) with sign+exponent and\n"
                       "spreads each tensor's refreshes over its lifetime; custom takes the four intervals.\n"
                       "With --model (a checkpoint or random:dim=...,heads=...) the policies run\n"
                       "on a real forward pass instead: its ops are timed (--clock), each block's Q, K, V, O gets\n"
                       "its lifetime, the failures are injected into those tensors as the model runs, and the\n"
                       "output is compared with the error-free (bf16) run: relative L1 and PSNR. --sweep runs\n"
                       "--sweep-policy at several values of --sweep-param (--svg plots energy against quality).\n"
                       "With --bundle the workload is a whole generated clip (--prompt, --seed, --steps) plus a\n"
                       "held-out velocity loss on world clips; it reports the clip's PSNR and the loss change.\n"
                       "docs/shield.md gives the models and their sources.",
                       table, (int)(sizeof table / sizeof table[0]), argc, argv, NULL, 0, NULL);
  if (code >= 0) return code;
  o.seed = source.seed;
  model.tops = o.tops;
  model.t_ref_us = o.t_ref_us;
  model.json = o.json;
  const char *hint = "see 'vdit shield --help'";
  static const char *const policy_names[] = {"standard", "shield", "lifecycle", "custom", "all", NULL};
  int run[VDIT_SIM_POLICY_KIND_COUNT] = {0};
  if (strcmp(o.policy, "all") == 0) run[VDIT_SIM_POLICY_STANDARD] = run[VDIT_SIM_POLICY_SHIELD] = 1;
  else if (strcmp(o.policy, "standard") == 0) run[VDIT_SIM_POLICY_STANDARD] = 1;
  else if (strcmp(o.policy, "shield") == 0) run[VDIT_SIM_POLICY_SHIELD] = 1;
  else if (strcmp(o.policy, "lifecycle") == 0) run[VDIT_SIM_POLICY_LIFECYCLE] = 1;
  else if (strcmp(o.policy, "custom") == 0) run[VDIT_SIM_POLICY_CUSTOM] = 1;
  else return cli_unknown_word("shield", "policy", "", o.policy, policy_names, hint);
  static const char *const sweep_names[] = {"shield", "lifecycle", "custom", NULL};
  int sweep_kind;
  if (strcmp(o.sweep_policy, "shield") == 0) sweep_kind = VDIT_SIM_POLICY_SHIELD;
  else if (strcmp(o.sweep_policy, "lifecycle") == 0) sweep_kind = VDIT_SIM_POLICY_LIFECYCLE;
  else if (strcmp(o.sweep_policy, "custom") == 0) sweep_kind = VDIT_SIM_POLICY_CUSTOM;
  else return cli_unknown_word("shield", "sweep policy", "", o.sweep_policy, sweep_names, hint);
  for (int c = 0; c < VDIT_SIM_LIFETIME_CLASS_COUNT; c++)
    if (o.protect[c] != -1 && (o.protect[c] < 0 || o.protect[c] > VDIT_SIM_MANTISSA_BITS))
      return cli_usage_error("shield", hint, "--protect-transient and --protect-persistent must be in 0..7");
  if (o.tokens < 1 || o.dim < 1 || o.tokens > 65536 || o.dim > 65536 || o.tokens * o.dim > ((int64_t)1 << 24))
    return cli_usage_error("shield", hint, "--tokens and --dim must be in 1..65536 with tokens x dim <= 2^24");
  if (o.layers < 1 || o.layers > 1024) return cli_usage_error("shield", hint, "--layers must be in 1..1024");
  if (!(o.tops > 0) || !isfinite(o.tops)) return cli_usage_error("shield", hint, "--tops must be > 0");
  if (!(o.t_ref_us > 0) || !(o.relaxed_us >= 0))
    return cli_usage_error("shield", hint, "--t-ref-us must be > 0 and --relaxed-us >= 0 (0 = never)");

  for (int c = 0; c < VDIT_SIM_LIFETIME_CLASS_COUNT; c++)
    for (int s = 0; s < VDIT_SIM_SEGMENT_COUNT; s++)
      if (o.custom_us[c][s] < 0 && o.custom_us[c][s] != -1)
        return cli_usage_error("shield", hint, "custom refresh intervals must be >= 0 us (0 = never), got %g",
                               o.custom_us[c][s]);
  if (o.bins) {
    o.bin_count = shield_parse_list(o.bins, o.bins_us, VDIT_SIM_MAX_BINS);
    if (o.bin_count <= 0) return cli_usage_error("shield", hint, "--bins must be a list of 1..%d intervals in us like 50,100,200,400, got '%s'", VDIT_SIM_MAX_BINS, o.bins);
    if (o.bin_profiles < 1 || o.bin_profiles > 64) return cli_usage_error("shield", hint, "--bin-profiles must be in 1..64");
  }
  for (int k = 0; k < VDIT_SHIELD_KIND_COUNT; k++)
    if (model.kind_mantissa_us[k] < 0 && model.kind_mantissa_us[k] != -1)
      return cli_usage_error("shield", hint, "--k-mantissa-us and --v-mantissa-us must be >= 0 us (0 = never)");
  for (int k = 0; k < VDIT_SHIELD_KIND_COUNT; k++)
    if (model.kind_bin_guard[k] != -1 && (!o.bins || !(model.kind_bin_guard[k] > 0)))
      return cli_usage_error("shield", hint, "--k-bin-guard and --v-bin-guard need --bins and must be > 0");
  if (o.bin_tolerate != 0 && (!o.bins || o.bin_tolerate < 0 || o.bin_tolerate > 255))
    return cli_usage_error("shield", hint, "--bin-tolerate needs --bins and must be in 0..255");
  for (int k = 0; k < KIND_COUNT; k++) {
    if (o.kind_tolerate[k] != -1 && (!o.bins || o.kind_tolerate[k] < 0 || o.kind_tolerate[k] > 255))
      return cli_usage_error("shield", hint, "--k-bin-tolerate and --v-bin-tolerate need --bins and must be in 0..255");
    model.kind_bin_tolerate[k] = (int)o.kind_tolerate[k];
    if (!o.kind_planes[k]) continue;
    const int protect = k == KIND_K || k == KIND_V ? (int)o.protect[1] : (int)o.protect[0];
    const int policy_protect = k == KIND_K || k == KIND_V ? LIFECYCLE_PROTECT_PERSISTENT : LIFECYCLE_PROTECT_TRANSIENT;
    const int lifecycle = strcmp(o.policy, "lifecycle") == 0 || strcmp(o.sweep_policy, "lifecycle") == 0;
    const int planes = VDIT_SIM_MANTISSA_BITS - (protect >= 0 ? protect : lifecycle ? policy_protect : 0);
    if (!o.bins || parse_planes(o.kind_planes[k], planes, model.kind_planes[k]) != 0)
      return cli_usage_error("shield", hint, "--%s-planes needs --bins and %d values (one per unprotected mantissa bit, top first), each u, -1 or 0..255, got '%s'",
                             kind_names[k], planes, o.kind_planes[k]);
    model.kind_bit_planes[k] = 1;
  }
  model.sweep_base = policy_from_options(&o, sweep_kind, o.relaxed_us);
  if (o.bins) {
    vdit_status bins_status = vdit_sim_policy_check(&model.sweep_base);
    if (bins_status != VDIT_OK) return cli_report_failure("shield", bins_status);
  }
  vdit_sim_retention retention = vdit_sim_retention_default();
  retention.seed = (uint64_t)o.array_seed;
  retention.temperature_c = o.temperature_c;
  retention.vrt_fraction = o.vrt_fraction;
  if (o.alternate_words < 0) return cli_usage_error("shield", hint, "--alternate-words must be >= 0");
  retention.alternate_block_words = (uint64_t)o.alternate_words;
  vdit_status status = vdit_sim_retention_check(&retention);
  if (status != VDIT_OK) return cli_report_failure("shield", status);
  vdit_sim_energy_model energy = vdit_sim_energy_model_default();
  trace_times times = cost_model(&o);

  policy_result results[VDIT_SIM_POLICY_KIND_COUNT];
  memset(results, 0, sizeof results);
  int count = 0;
  for (int k = 0; k < VDIT_SIM_POLICY_KIND_COUNT; k++) {
    if (!run[k]) continue;
    vdit_sim_policy *p = &results[count++].policy;
    *p = policy_from_options(&o, k, o.relaxed_us);
    status = vdit_sim_policy_check(p);
    if (status != VDIT_OK) return cli_report_failure("shield", status);
  }
  if (bundle.path && source.model) return cli_usage_error("shield", hint, "give --model or --bundle, not both");
  if (bundle.path) {
    bundle.seed = source.seed;
    vdit_sim_policy policies[VDIT_SIM_POLICY_KIND_COUNT];
    for (int p = 0; p < count; p++) policies[p] = results[p].policy;
    return shield_bundle_main(&bundle, &model, policies, count, &retention, &energy);
  }
  if (source.model) {
    vdit_sim_policy policies[VDIT_SIM_POLICY_KIND_COUNT];
    for (int p = 0; p < count; p++) policies[p] = results[p].policy;
    return shield_model_main(&source, &model, policies, count, &retention, &energy);
  }

  // the baseline of "saving": standard refresh of the same trace (energy only)
  vdit_sim_policy standard = vdit_sim_policy_standard(o.t_ref_us * 1e-6);
  vdit_sim_report baseline;
  memset(&baseline, 0, sizeof baseline);
  for (int64_t layer = 0; layer < o.layers && status == VDIT_OK; layer++)
    for (int kind = 0; kind < KIND_COUNT && status == VDIT_OK; kind++) {
      vdit_sim_tensor x = trace_tensor(&o, &times, layer, kind);
      status = vdit_sim_tensor_energy(&standard, &energy, &x, &baseline);
    }
  if (status != VDIT_OK) return cli_report_failure("shield", status);

  size_t words = (size_t)(o.tokens * o.dim);
  uint16_t *clean = malloc(words * sizeof *clean), *dirty = malloc(words * sizeof *dirty);
  if (!clean || !dirty) status = VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "no memory for %zu words", words);
  for (int p = 0; p < count && status == VDIT_OK; p++)
    status = run_policy(&o, &times, &retention, &energy, clean, dirty, &results[p]);
  free(clean);
  free(dirty);
  if (status != VDIT_OK) return cli_report_failure("shield", status);
  print_results(&o, &times, &retention, &energy, results, count, vdit_sim_report_refresh_pj(&baseline));
  return CLI_EXIT_OK;
}

const cli_command cli_command_shield = {
    .name = "shield",
    .summary = "eDRAM refresh policies (standard, SHIELD) on a model run or a synthetic trace",
    .usage = "vdit shield [--model PATH | --bundle PATH] [--policy standard|shield|lifecycle|custom|all] [--sweep LIST --svg FILE] [--json]",
    .run = run_shield,
};
