// The Euler flow-matching sampler and classifier-free guidance.
#include <stdlib.h>

#include "vdit/pipe.h"

void vdit_pipe_sigmas(int64_t steps, double shift, double *sigmas) {
  for (int64_t i = 0; i <= steps; i++) {
    const double s = 1.0 - (double)i / (double)steps;
    sigmas[i] = shift * s / (1.0 + (shift - 1.0) * s);
  }
}

vdit_status vdit_pipe_sample_euler(vdit_pipe_velocity_fn velocity, void *user, float *x, size_t n, int64_t steps,
                                   double shift, vdit_progress *progress) {
  if (!velocity || !x || steps < 1 || !(shift > 0))
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "sampler: needs a velocity, x, steps >= 1 and shift > 0");
  double *sigmas = malloc((size_t)(steps + 1) * sizeof *sigmas);
  float *v = vdit_host_alloc(n * sizeof *v, VDIT_HOST_ALIGNMENT);
  vdit_status status = (!sigmas || (!v && n)) ? VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "sampler: no memory") : VDIT_OK;
  if (status == VDIT_OK) vdit_pipe_sigmas(steps, shift, sigmas);
  for (int64_t i = 0; i < steps && status == VDIT_OK; i++) {
    status = velocity(user, i, sigmas[i], x, v, n);
    const float dt = (float)(sigmas[i + 1] - sigmas[i]);
    for (size_t e = 0; e < n && status == VDIT_OK; e++) x[e] += dt * v[e];
    if (progress) vdit_progress_update(progress, (uint64_t)(i + 1), NULL);
  }
  free(sigmas);
  vdit_host_free(v);
  return status;
}

void vdit_pipe_guidance(const float *cond, const float *uncond, double scale, float *out, size_t n) {
  const float s = (float)scale;
  for (size_t i = 0; i < n; i++) out[i] = uncond[i] + s * (cond[i] - uncond[i]);
}
