// Fills of contiguous device tensors: a repeated bit pattern (NaN poison) and the Philox
// uniform/normal fills, whose formula (src/tensor/fill_philox.h) is shared with the CPU.
#include "tensor/cuda/tensor_cuda.h"

#include "base/cuda_check.h"

#define FILL_THREADS 256
#define FILL_MAX_GRID 65536 // blocks; the kernels stride over the rest

static unsigned fill_grid(uint64_t work_items) {
  uint64_t grid = (work_items + FILL_THREADS - 1) / FILL_THREADS;
  return (unsigned)(grid > FILL_MAX_GRID ? FILL_MAX_GRID : grid);
}

static __global__ void fill_pattern_kernel(void *dst, uint64_t count, int element_bytes, uint64_t pattern) {
  uint64_t step = (uint64_t)gridDim.x * blockDim.x;
  for (uint64_t i = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x; i < count; i += step) {
    switch (element_bytes) { // uniform across the grid
      case 1: ((uint8_t *)dst)[i] = (uint8_t)pattern; break;
      case 2: ((uint16_t *)dst)[i] = (uint16_t)pattern; break;
      case 4: ((uint32_t *)dst)[i] = (uint32_t)pattern; break;
      default: ((uint64_t *)dst)[i] = pattern; break;
    }
  }
}

extern "C" vdit_status vdit_cuda_fill_pattern(void *dst, size_t count, int element_bytes, uint64_t pattern) {
  if (count == 0) return VDIT_OK;
  if (element_bytes != 1 && element_bytes != 2 && element_bytes != 4 && element_bytes != 8)
    return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "vdit_cuda_fill_pattern: %d-byte elements are not supported",
                      element_bytes);
  fill_pattern_kernel<<<fill_grid(count), FILL_THREADS>>>(dst, (uint64_t)count, element_bytes, pattern);
  VDIT_CUDA_TRY_LAUNCH();
  return VDIT_OK;
}

// One thread per Philox block; lanes outside [offset, offset + n) are skipped, as in
// fill_philox_host (src/tensor/fill.c).
static __global__ void fill_philox_kernel(void *dst, int is_f64, uint64_t n, uint64_t seed, uint64_t offset,
                                          uint64_t first_block, uint64_t block_count, vdit_philox_fill fill) {
  uint64_t step = (uint64_t)gridDim.x * blockDim.x;
  for (uint64_t j = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x; j < block_count; j += step) {
    uint64_t block = (first_block + j) & (UINT64_MAX >> 2); // elements wrap modulo 2^64, blocks modulo 2^62
    if (is_f64) {
      double values[4];
      vdit_philox_fill_block_f64(&fill, seed, block, values);
      for (int lane = 0; lane < 4; lane++) {
        uint64_t index = 4 * block + (uint64_t)lane - offset; // modulo 2^64
        if (index < n) ((double *)dst)[index] = values[lane];
      }
    } else {
      float values[4];
      vdit_philox_fill_block_f32(&fill, seed, block, values);
      for (int lane = 0; lane < 4; lane++) {
        uint64_t index = 4 * block + (uint64_t)lane - offset;
        if (index < n) ((float *)dst)[index] = values[lane];
      }
    }
  }
}

extern "C" vdit_status vdit_cuda_fill_philox(void *dst, int is_f64, size_t n, uint64_t seed, uint64_t offset,
                                             const vdit_philox_fill *fill) {
  if (n == 0) return VDIT_OK;
  uint64_t first_block = offset / 4;
  uint64_t block_count = (offset % 4 + (uint64_t)n + 3) / 4;
  fill_philox_kernel<<<fill_grid(block_count), FILL_THREADS>>>(dst, is_f64, (uint64_t)n, seed, offset, first_block,
                                                               block_count, *fill);
  VDIT_CUDA_TRY_LAUNCH();
  return VDIT_OK;
}
