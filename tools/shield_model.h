// `vdit shield --model`: refresh policies on a real model run (vdit/shield.h): lifetimes from
// a recorded forward pass, failures injected into its Q, K, V, O, output quality against the
// error-free run, and an optional sweep of SHIELD's relaxed K/V mantissa interval.
#ifndef VDIT_TOOLS_SHIELD_MODEL_H
#define VDIT_TOOLS_SHIELD_MODEL_H

#include "model_source.h"
#include "vdit/sim.h"

typedef struct shield_model_flags {
  const char *clock;      // "model" or "measured"
  const char *sweep;      // relaxed intervals in us, "100,200,400", or NULL
  const char *svg;        // the sweep's plot, or NULL
  const char *attention;  // attention policy spec
  double tops, bandwidth_gbs, time_scale, t_ref_us;
  int64_t kv_steps;
  int json;
} shield_model_flags;

// Runs the policies (count of them) on the model; returns an exit code.
int shield_model_main(const model_source_flags *source, const shield_model_flags *flags,
                      const vdit_sim_policy *policies, int count, const vdit_sim_retention *retention,
                      const vdit_sim_energy_model *energy);

#endif
