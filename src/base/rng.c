// Philox streams on the CPU (the CUDA twin is src/base/cuda/rng.cu).
#include "vdit/base.h"
#include "base/philox.h"

void vdit_philox4x32_10(const uint32_t counter[4], vdit_philox_key key, uint32_t out[4]) {
  vdit_philox_block(counter[0], counter[1], counter[2], counter[3], key.k0, key.k1, out);
}

void vdit_rng_u32(uint64_t seed, uint64_t offset, size_t n, uint32_t *out) {
  for (size_t i = 0; i < n; i++) {
    uint32_t raw[4];
    uint64_t element = offset + i;
    vdit_philox_stream_block(seed, element, raw);
    out[i] = raw[element & 3];
  }
}

void vdit_rng_uniform(uint64_t seed, uint64_t offset, size_t n, float *out) {
#pragma omp parallel for schedule(static) if (n > 65536)
  for (size_t i = 0; i < n; i++) out[i] = vdit_philox_uniform_at(seed, offset + i);
}

void vdit_rng_normal(uint64_t seed, uint64_t offset, size_t n, float *out) {
#pragma omp parallel for schedule(static) if (n > 65536)
  for (size_t i = 0; i < n; i++) out[i] = vdit_philox_normal_at(seed, offset + i);
}
