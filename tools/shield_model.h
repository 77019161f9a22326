// `vdit shield --model`: refresh policies on a real model run (vdit/shield.h): lifetimes from
// a recorded forward pass, failures injected into its Q, K, V, O, output quality against the
// error-free run, and an optional sweep of SHIELD's relaxed K/V mantissa interval.
#ifndef VDIT_TOOLS_SHIELD_MODEL_H
#define VDIT_TOOLS_SHIELD_MODEL_H

#include "model_source.h"
#include "vdit/shield.h"
#include "vdit/sim.h"

typedef struct shield_model_flags {
  const char *clock;      // "model" or "measured"
  const char *sweep;      // relaxed intervals in us, "100,200,400", or NULL
  const char *svg;        // the sweep's plot, or NULL
  const char *attention;  // attention policy spec
  double tops, bandwidth_gbs, time_scale, t_ref_us;
  int64_t kv_steps;
  int per_sample;
  int json;
  vdit_sim_policy sweep_base; // the policy --sweep varies
  const char *sweep_param;    // what it varies: "persistent-us" (the persistent mantissa
                              // interval, default), "transient-us", "protect" (the protected
                              // mantissa bits of both classes), "k-us" / "v-us" (K's or V's
                              // mantissa interval alone), "guard" (the bin guard band) or
                              // "k-guard" / "v-guard" (K's or V's alone) or "profiles"
                              // (the bins' profile rounds)
  double kind_mantissa_us[VDIT_SHIELD_KIND_COUNT]; // per kind: its class's mantissa interval
                                                   // in us (0 = never); < 0: the policy's
  double kind_bin_guard[VDIT_SHIELD_KIND_COUNT];   // per kind: the --bins guard; < 0: the policy's
  int kind_bin_tolerate[VDIT_SHIELD_KIND_COUNT];   // per kind: tolerated cells per binned row; < 0: the policy's
  int kind_bit_planes[VDIT_SHIELD_KIND_COUNT];     // per kind: 1: bit-plane rows with kind_planes
  int kind_planes[VDIT_SHIELD_KIND_COUNT][VDIT_SIM_MANTISSA_BITS]; // tolerated cells by mantissa bit
                                                   // (0 = LSB); -1: that plane uniform
} shield_model_flags;

// The policy of each tensor kind: `policy` with the mantissa interval of kind_us[k] >= 0
// (both classes' mantissa intervals set, binning of that kind's class off).
// kind_guard[k] >= 0 sets kind k's bin guard instead.
void shield_kind_policies(const vdit_sim_policy *policy, const double kind_us[VDIT_SHIELD_KIND_COUNT],
                          const double kind_guard[VDIT_SHIELD_KIND_COUNT], vdit_sim_policy out[VDIT_SHIELD_KIND_COUNT]);
// flags->kind_mantissa_us and kind_bin_guard with the sweep's value applied (sweep-param k-us,
// v-us, k-guard, v-guard).
void shield_sweep_kinds(const shield_model_flags *flags, double value, double kind_us[VDIT_SHIELD_KIND_COUNT],
                        double kind_guard[VDIT_SHIELD_KIND_COUNT]);
// JSON fields of the per-kind overrides: ", \"kind_mantissa_us\": {...}, \"kind_bin_guard\": {...}"
// (each only when set).
void shield_print_kind_json(const double kind_us[VDIT_SHIELD_KIND_COUNT], const double kind_guard[VDIT_SHIELD_KIND_COUNT]);

// The per-kind binned layouts on top of shield_kind_policies: kind k with kind_bit_planes[k]
// gets its class binned (the --bins of `out[k]`) in bit planes of kind_planes[k]; with
// kind_bin_tolerate[k] >= 0 its binned rows tolerate that many cells. value (NAN for none) is
// the sweep's: sweep-param k-tolerate / v-tolerate sets K's or V's tolerated cells.
void shield_kind_layouts(const shield_model_flags *flags, double value, vdit_sim_policy out[VDIT_SHIELD_KIND_COUNT]);
// JSON fields of the binned layouts that differ from `policy`'s:
// ", \"kind_layout\": {\"v\": {\"tolerated_cells\": 4, \"bit_planes\": [0, 0, 8, ...]}}" (planes top bit first).
void shield_print_kind_layout_json(const vdit_sim_policy *policy, const vdit_sim_policy by_kind[VDIT_SHIELD_KIND_COUNT]);

// flags->sweep_base with the swept parameter set to value.
vdit_sim_policy shield_sweep_policy(const shield_model_flags *flags, double value);
// "shield@200us", "lifecycle@t100us", "lifecycle@p2": the sweep point's name.
void shield_sweep_name(const shield_model_flags *flags, double value, char *name, size_t size);
// Checks --sweep-param and the values; prints the usage error and returns its exit code, or -1.
int shield_sweep_check(const shield_model_flags *flags, const double *values, int count);
// The sweep point's JSON fields: "sweep_param", "sweep_value" (and "relaxed_us" for persistent-us).
void shield_sweep_print_json(const shield_model_flags *flags, double value);

// Runs the policies (count of them) on the model; returns an exit code.
int shield_model_main(const model_source_flags *source, const shield_model_flags *flags,
                      const vdit_sim_policy *policies, int count, const vdit_sim_retention *retention,
                      const vdit_sim_energy_model *energy);

// Shared by the --model and --bundle reports.
void shield_print_number(double x); // %.6g, or null when not finite
// 1 - refresh energy of the run / (its passes x standard_pj), standard_pj one pass's standard refresh.
double shield_saving(const vdit_shield_result *r, double standard_pj);
// One policy's JSON object without its closing brace (the caller may add fields).
void shield_print_policy_json(const vdit_sim_policy *policy, const vdit_shield_result *r, double standard_pj);
// "100,200,400" into values (at most max, each >= 0); the count, or -1.
int shield_parse_list(const char *text, double *values, int max);

// `vdit shield --bundle`: the policies on a generated clip of a model bundle and on a
// held-out velocity loss (tools/shield_bundle.c, docs/shield.md).
typedef struct shield_bundle_flags {
  const char *path;   // the bundle (file or folder)
  const char *prompt;
  int64_t seed, steps, eval_clips, data_seed;
  double cfg;         // < 0: the bundle's default
  int fp32_floor;     // also compare an fp32 generation (no bf16 rounding) with the reference
} shield_bundle_flags;

int shield_bundle_main(const shield_bundle_flags *bundle, const shield_model_flags *flags,
                       const vdit_sim_policy *policies, int count, const vdit_sim_retention *retention,
                       const vdit_sim_energy_model *energy);

#endif
