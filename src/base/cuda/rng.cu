// Philox streams on the GPU (the CPU twin is src/base/rng.c). One thread draws one Philox
// block (four stream elements) and stores the ones inside [offset, offset + n), so an
// offset or a count that is not a multiple of 4 needs no special case.
#include "base/cuda/rng_cuda.h"

#include "base/cuda_check.h"
#include "base/philox.h"

#define RNG_THREADS 256
#define RNG_MAX_GRID 65536 // blocks; the kernel strides over the rest

static __global__ void rng_kernel(uint64_t seed, uint64_t offset, uint64_t n, uint64_t first_block,
                                  uint64_t block_count, int normal, float *out) {
  uint64_t step = (uint64_t)gridDim.x * blockDim.x;
  for (uint64_t j = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x; j < block_count; j += step) {
    uint64_t block = (first_block + j) & (UINT64_MAX >> 2); // elements wrap modulo 2^64, blocks modulo 2^62
    float values[4];
    vdit_philox_draw_block(seed, block, normal, values);
    for (int lane = 0; lane < 4; lane++) {
      uint64_t element = 4 * block + (uint64_t)lane;
      // Unsigned: also false for element < offset.
      if (element - offset < n) out[element - offset] = values[lane];
    }
  }
}

static vdit_status rng_launch(uint64_t seed, uint64_t offset, size_t n, int normal, float *device_out) {
  if (n == 0) return VDIT_OK;
  if (device_out == NULL) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_cuda_rng: output is NULL");
  // Blocks spanned by elements offset .. offset + n - 1 (modulo 2^64, as on the CPU).
  uint64_t first_block = offset / 4;
  uint64_t block_count = (offset % 4 + (uint64_t)n + 3) / 4;
  uint64_t grid = (block_count + RNG_THREADS - 1) / RNG_THREADS;
  if (grid > RNG_MAX_GRID) grid = RNG_MAX_GRID;
  rng_kernel<<<(unsigned)grid, RNG_THREADS>>>(seed, offset, (uint64_t)n, first_block, block_count, normal, device_out);
  VDIT_CUDA_TRY_LAUNCH();
  return VDIT_OK;
}

extern "C" vdit_status vdit_cuda_rng_uniform(uint64_t seed, uint64_t offset, size_t n, float *device_out) {
  return rng_launch(seed, offset, n, 0, device_out);
}

extern "C" vdit_status vdit_cuda_rng_normal(uint64_t seed, uint64_t offset, size_t n, float *device_out) {
  return rng_launch(seed, offset, n, 1, device_out);
}
