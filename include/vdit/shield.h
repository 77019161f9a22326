// vdit shield: the eDRAM simulator (vdit/sim.h) driven by a real model run. A forward pass is
// recorded once to time its ops and derive each self-attention tensor's lifetime (Q, K, V, O
// of every block); then the same workload runs again with a refresh policy's retention
// failures injected into those tensors in place (the model's tamper hook), so the effect is
// measured on the model output. The workload is a callback, so the same measurement runs over
// one forward pass or a whole sampled clip. docs/shield.md has the models and numbers.
#ifndef VDIT_SHIELD_H
#define VDIT_SHIELD_H

#include <stdint.h>

#include "vdit/model.h"
#include "vdit/sim.h"

#ifdef __cplusplus
extern "C" {
#endif

// The self-attention tensors of a block; each is (B, L, nh, d) = B L D bf16 words.
typedef enum vdit_shield_kind {
  VDIT_SHIELD_Q = 0, // transient: written by the QKV projection, last read by the attention
  VDIT_SHIELD_K,     // persistent: written with Q, held to the end of the step (or rollout)
  VDIT_SHIELD_V,     // persistent, like K
  VDIT_SHIELD_O,     // transient: written by the attention, last read by the output projection
  VDIT_SHIELD_KIND_COUNT
} vdit_shield_kind;

const char *vdit_shield_kind_name(vdit_shield_kind kind); // "q", "k", "v", "o"

// How the recorded pass is timed.
typedef enum vdit_shield_clock {
  // Each op's time is max(FLOPs / tops, bytes / bandwidth) on a stated accelerator
  // (docs/shield.md lists the ops and their FLOP and byte counts).
  VDIT_SHIELD_CLOCK_COST_MODEL = 0,
  // Wall-clock time of each op of the CPU run (between the model's observer calls), times
  // time_scale (the target's seconds per CPU second).
  VDIT_SHIELD_CLOCK_MEASURED,
} vdit_shield_clock;

typedef struct vdit_shield_timing {
  vdit_shield_clock clock;
  double tops;           // cost model: sustained throughput in 10^12 op/s (default 8, an edge NPU)
  double bandwidth_gbs;  // cost model: memory bandwidth in GB/s (default 64)
  int bytes_per_element; // cost model: bytes per weight and activation (default 2, bf16)
  double time_scale;     // measured: target seconds per measured second (default 1)
  int64_t kv_steps;      // K and V live to the end of the step (1, default) or, as a KV cache,
                         // for kv_steps steps of the recorded pass's length; 0: to their last
                         // read in the pass, the end of their block's attention, and are then
                         // transient (a model without a KV cache reads them nowhere else)
  int per_sample;        // cost model: a batch of B runs as B passes of one sample each (the
                         // op times of batch 1; every sample's tensors get those lifetimes);
                         // 0 (default): the whole batch in every op, as the engine runs it
} vdit_shield_timing;

vdit_shield_timing vdit_shield_timing_default(void);

// The workload a measurement runs: one forward pass or several (a sampler). It must pass
// `hooks->observe`, `observe_user`, `tamper` and `tamper_user` into the
// vdit_model_run_options of every vdit_model_forward it makes (keeping its own
// self_attn), and leave its result in `output` (the same shape on every call).
typedef vdit_status (*vdit_shield_workload)(void *user, const vdit_model_run_options *hooks, vdit_tensor *output);

// The attention tensors of one recorded forward pass, laid out one after another in the
// eDRAM array (block-major, then Q, K, V, O).
typedef struct vdit_shield_trace {
  int64_t layers;
  vdit_sim_tensor *tensors;  // layers * VDIT_SHIELD_KIND_COUNT: [layer * 4 + kind]
  double step_s;             // the pass's length on the target
  double attention_s;        // sum over blocks of the self-attention ops' time (Q's lifetimes)
  int64_t ops;               // timed segments (observer calls) in the pass
  vdit_shield_clock clock;
} vdit_shield_trace;

// Runs the workload once and records its first forward pass: every op timed (cost model for
// `config`, or the wall clock) and each block's Q, K, V, O given its write and last-read
// time and its array address. During this run Q, K, V and O are rounded to bf16 where the
// tamper hook sees them (as a bf16 activation memory holds them, without failures), so
// `reference` is the error-free output the injected runs are compared with.
vdit_status vdit_shield_trace_record(const vdit_model_config *config, const vdit_shield_timing *timing,
                                     vdit_shield_workload workload, void *user, vdit_tensor *reference,
                                     vdit_shield_trace *trace);
void vdit_shield_trace_free(vdit_shield_trace *trace);

// Energy only: adds one pass of the trace under `policy` to *report.
vdit_status vdit_shield_trace_energy(const vdit_shield_trace *trace, const vdit_sim_policy *policy,
                                     const vdit_sim_energy_model *energy, vdit_sim_report *report);

typedef struct vdit_shield_result {
  int64_t passes;                                    // forward passes the workload made
  vdit_sim_report report;                            // every tensor of every pass
  vdit_sim_report per_kind[VDIT_SHIELD_KIND_COUNT];
  double tensor_rel_l1[VDIT_SHIELD_KIND_COUNT];      // corrupted vs bf16 tensors, over all passes
  double output_rel_l1;                              // sum |out - ref| / sum |ref|
  double output_psnr_db;                             // 10 log10(peak^2 / MSE), peak = max(ref) - min(ref); inf when equal
  double output_max_abs_error;
} vdit_shield_result;

// Runs the workload with the policy's failures injected: each Q, K, V, O the tamper hook sees
// is rounded to bf16 and corrupted (vdit_sim_inject_f32) with the lifetime and address the
// trace gives it, in place, before the model reads it. Every pass of a multi-pass workload
// uses the same trace (the same cells, the same lifetimes). `output` gets the corrupted
// output; the result compares it with `reference` (from vdit_shield_trace_record).
vdit_status vdit_shield_run(const vdit_shield_trace *trace, const vdit_sim_retention *retention,
                            const vdit_sim_policy *policy, const vdit_sim_energy_model *energy,
                            vdit_shield_workload workload, void *user, const vdit_tensor *reference,
                            vdit_tensor *output, vdit_shield_result *result);

// The same with a policy per tensor kind (policies[VDIT_SHIELD_Q] .. [VDIT_SHIELD_O]): K and V,
// both persistent, can get different mantissa intervals or bins. vdit_shield_run is this with
// one policy for every kind.
vdit_status vdit_shield_run_kinds(const vdit_shield_trace *trace, const vdit_sim_retention *retention,
                                  const vdit_sim_policy *const policies[VDIT_SHIELD_KIND_COUNT],
                                  const vdit_sim_energy_model *energy, vdit_shield_workload workload, void *user,
                                  const vdit_tensor *reference, vdit_tensor *output, vdit_shield_result *result);

// Output quality of x against ref (f32, same shape, contiguous).
double vdit_shield_psnr_db(const vdit_tensor *reference, const vdit_tensor *x);
double vdit_shield_rel_l1(const vdit_tensor *reference, const vdit_tensor *x);

#ifdef __cplusplus
}
#endif

#endif // VDIT_SHIELD_H
