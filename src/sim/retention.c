// The retention model of include/vdit/sim.h: per-cell log-normal retention, a temperature
// derating and optional variable retention time, all drawn from Philox so that a cell's
// retention depends only on (array seed, bit address[, VRT epoch]).
#include <math.h>

#include "vdit/sim.h"

// Independent Philox streams for one array: the normal deviate, VRT membership and VRT state.
enum { STREAM_NORMAL = 0, STREAM_VRT_MEMBER = 1, STREAM_VRT_STATE = 2 };

// splitmix64 finaliser: turns (seed, stream[, epoch]) into an unrelated Philox seed.
static uint64_t mix_seed(uint64_t seed, uint64_t stream, uint64_t epoch) {
  uint64_t x = seed ^ (stream * 0x9E3779B97F4A7C15ull) ^ (epoch * 0xD1B54A32D192ED03ull);
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

vdit_sim_retention vdit_sim_retention_default(void) {
  vdit_sim_retention r = {
      .seed = 1,
      .median_s = 1e-3,
      .sigma = 0.5,
      .temperature_c = 25.0,
      .reference_temperature_c = 25.0,
      .halving_c = 10.0,
      .vrt_fraction = 0.0,
      .vrt_low_ratio = 0.1,
      .vrt_epoch = 0,
      .leaking_value = 1,
  };
  return r;
}

vdit_status vdit_sim_retention_check(const vdit_sim_retention *r) {
  if (!r) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "retention model is NULL");
  if (!(r->median_s > 0) || !isfinite(r->median_s))
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "retention median must be > 0 s, got %g", r->median_s);
  if (!(r->sigma >= 0) || !isfinite(r->sigma))
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "retention sigma must be >= 0, got %g", r->sigma);
  if (!(r->halving_c > 0) || !isfinite(r->temperature_c) || !isfinite(r->reference_temperature_c))
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT,
                      "temperature derating needs finite temperatures and halving_c > 0, got %g", r->halving_c);
  if (!(r->vrt_fraction >= 0 && r->vrt_fraction <= 1))
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vrt_fraction must be in [0, 1], got %g", r->vrt_fraction);
  if (!(r->vrt_low_ratio > 0 && r->vrt_low_ratio <= 1))
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vrt_low_ratio must be in (0, 1], got %g", r->vrt_low_ratio);
  if (r->leaking_value != 0 && r->leaking_value != 1)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "leaking_value must be 0 or 1, got %d", r->leaking_value);
  return VDIT_OK;
}

vdit_status vdit_sim_retention_times(const vdit_sim_retention *r, uint64_t first_bit_address, size_t n,
                                     double *out_seconds) {
  VDIT_TRY(vdit_sim_retention_check(r));
  if (n == 0) return VDIT_OK;
  if (!out_seconds) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "retention output is NULL");
  double scale = r->median_s * exp2(-(r->temperature_c - r->reference_temperature_c) / r->halving_c);
  enum { CHUNK = 1024 };
  float z[CHUNK], member[CHUNK], state[CHUNK];
  uint64_t normal_seed = mix_seed(r->seed, STREAM_NORMAL, 0);
  uint64_t member_seed = mix_seed(r->seed, STREAM_VRT_MEMBER, 0);
  uint64_t state_seed = mix_seed(r->seed, STREAM_VRT_STATE, r->vrt_epoch);
  for (size_t start = 0; start < n; start += CHUNK) {
    size_t count = n - start < CHUNK ? n - start : CHUNK;
    uint64_t address = first_bit_address + start;
    vdit_rng_normal(normal_seed, address, count, z);
    if (r->vrt_fraction > 0) {
      vdit_rng_uniform(member_seed, address, count, member);
      vdit_rng_uniform(state_seed, address, count, state);
    }
    for (size_t i = 0; i < count; i++) {
      double t = scale * exp(r->sigma * (double)z[i]);
      if (r->vrt_fraction > 0 && member[i] < r->vrt_fraction && state[i] < 0.5f) t *= r->vrt_low_ratio;
      out_seconds[start + i] = t;
    }
  }
  return VDIT_OK;
}
