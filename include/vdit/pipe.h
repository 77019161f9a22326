// vdit pipe layer: sampling. The Euler flow-matching sampler with Wan's timestep shift and
// classifier-free guidance, and text-to-video generation with a model bundle
// (vdit/train.h). docs/train.md has the formulas and the measured CPU times.
#ifndef VDIT_PIPE_H
#define VDIT_PIPE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "vdit/attn.h"
#include "vdit/base.h"
#include "vdit/train.h"

#ifdef __cplusplus
extern "C" {
#endif

// The noise levels of an N-step sampler: sigma_i = shift(1 - i / N) for i = 0..N, with
// shift(s) = k s / (1 + (k - 1) s) (vdit_flow_shift). sigmas has steps + 1 entries, from 1 to 0.
void vdit_pipe_sigmas(int64_t steps, double shift, double *sigmas);

// The velocity of the flow x_sigma = (1 - sigma) x0 + sigma noise at x (n floats), written to
// velocity (n floats). `step` is the sampler step (for per-step policies).
typedef vdit_status (*vdit_pipe_velocity_fn)(void *user, int64_t step, double sigma, const float *x, float *velocity,
                                             size_t n);

// Euler from sigma = 1 to 0: x <- x + (sigma_{i+1} - sigma_i) v(x, sigma_i) over the steps.
// x (n floats) holds the start (noise) and receives the result. `progress` may be NULL.
vdit_status vdit_pipe_sample_euler(vdit_pipe_velocity_fn velocity, void *user, float *x, size_t n, int64_t steps,
                                   double shift, vdit_progress *progress);

// Classifier-free guidance: out = uncond + scale (cond - uncond) over n floats.
void vdit_pipe_guidance(const float *cond, const float *uncond, double scale, float *out, size_t n);

typedef struct vdit_generate_options {
  const char *prompt;   // words of the bundle's vocabulary
  uint64_t seed;        // the start noise: Philox normal stream `seed`, element i of (3, F, H, W)
  int64_t steps;        // 0: the bundle's default
  double cfg;           // < 0: the bundle's default; <= 1 runs the conditional model alone
  double shift;         // <= 0: the bundle's default
  // Self-attention method of each block at each step (layer and step conditions, method
  // parameters), or NULL: dense everywhere.
  const vdit_model_attn_policy *attention;
  FILE *progress;       // NULL: no progress display
  double *step_seconds; // NULL, or receives each step's model time (steps entries)
  // NULL, or hooks for every model call of the sampler: its observe, observe_user, tamper
  // and tamper_user are copied into each vdit_model_forward's run options (the sampler's
  // own self-attention methods are kept; `vdit shield --bundle` injects eDRAM failures so).
  const vdit_model_run_options *hooks;
} vdit_generate_options;

void vdit_generate_options_default(vdit_generate_options *options);

// Generates one clip: pixels (3, F, H, W) RGB in [0, 1] (the model's [-1, 1] mapped and
// clamped), F, H, W from the bundle config. Conditional and unconditional (empty caption)
// predictions run as one batch of 2.
vdit_status vdit_pipe_generate(const vdit_bundle *bundle, const vdit_generate_options *options, float *pixels);

#ifdef __cplusplus
}
#endif

#endif // VDIT_PIPE_H
