// Sinusoidal timestep embedding on the CPU, with the fp32 steps of diffusers'
// get_timestep_embedding (flip_sin_to_cos=True, downscale_freq_shift=0) each rounded as
// torch rounds them (no multiply-add here for contraction to fuse); exp, cos and sin are
// evaluated in double and rounded once.
#include <math.h>

#include "ops/ops_internal.h"

void vdit_ops_cpu_timestep_embedding(const float *timesteps, const ops_rows *out) {
  const int64_t dim = out->cols, half = dim / 2;
  const float log_period = (float)-log(10000.0); // the Python scalar, cast to the tensor's fp32
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < out->rows; r++) {
    float *row = ops_row(out, r);
    const float t = timesteps[r];
    for (int64_t i = 0; i < half; i++) {
      const float exponent = log_period * (float)i; // rounded to float before the division
      const float scaled = exponent / (float)half;
      const float frequency = (float)exp((double)scaled);
      const float angle = t * frequency;
      row[i] = (float)cos((double)angle);
      row[half + i] = (float)sin((double)angle);
    }
    if (dim % 2) row[dim - 1] = 0.0f;
  }
}
