// Block quantizers on the GPU: one thread per block for quantizing (a block is 16 or 32
// consecutive floats), one per element for dequantizing, one thread block per row for INT8
// per row. Each block runs num/block_quant.h, the code the CPU runs, so the bits agree;
// e4m3 and e5m2 go through the cvt instructions (vdit_num_encode_e4m3/e5m2 in device code).
#include <cuda_runtime.h>
#include <stdint.h>

#include "base/cuda_check.h"
#include "num/block_quant.h"
#include "num/checks_internal.h"
#include "vdit/num.h"

enum { QUANT_THREADS = 256, QUANT_MAX_BLOCKS = 8192, ROW_THREADS = 256, ROW_MAX_BLOCKS = 65535 };

static int grid_for(size_t work) {
  size_t blocks = (work + QUANT_THREADS - 1) / QUANT_THREADS;
  if (blocks == 0) blocks = 1;
  return (int)(blocks < QUANT_MAX_BLOCKS ? blocks : QUANT_MAX_BLOCKS);
}

#define GRID_STRIDE(index, count)                                                          \
  for (size_t index = (size_t)blockIdx.x * blockDim.x + threadIdx.x; index < (count); \
       index += (size_t)gridDim.x * blockDim.x)

// ---------------------------------------------------------------- NVFP4
// amax over the bits of |x| into *amax_bits (zeroed before): per-thread max, warp max, one
// atomicMax per warp. Unsigned max is order independent, so the result equals the CPU's.
static __global__ void amax_bits_kernel(size_t n, const float *x, unsigned int *amax_bits) {
  uint32_t local = 0;
  GRID_STRIDE(i, n) local = vdit_quant_max_u32(local, vdit_quant_abs_bits(x[i]));
  local = __reduce_max_sync(0xffffffffu, local);
  if ((threadIdx.x & 31) == 0 && local) atomicMax(amax_bits, local);
}

// One thread: the amax bits in *scale become the tensor scale, in place.
static __global__ void nvfp4_tensor_scale_kernel(float *scale) {
  *scale = vdit_quant_nvfp4_tensor_scale(vdit_float_bits(*scale));
}

static __global__ void nvfp4_quantize_kernel(size_t block_count, const float *x, const float *tensor_scale,
                                             vdit_block_nvfp4 *blocks) {
  float scale = *tensor_scale;
  GRID_STRIDE(b, block_count) vdit_quant_nvfp4_block(x + b * VDIT_NVFP4_BLOCK, scale, &blocks[b]);
}

static __global__ void nvfp4_dequantize_kernel(size_t n, const vdit_block_nvfp4 *blocks, const float *tensor_scale,
                                               float *y) {
  float scale = *tensor_scale;
  GRID_STRIDE(i, n) y[i] = vdit_dequant_nvfp4_element(&blocks[i / VDIT_NVFP4_BLOCK], scale, (int)(i % VDIT_NVFP4_BLOCK));
}

extern "C" vdit_status vdit_cuda_quantize_nvfp4(size_t rows, size_t cols, const float *x, vdit_block_nvfp4 *blocks,
                                                float *tensor_scale) {
  size_t n;
  VDIT_TRY(vdit_quant_check_shape("vdit_cuda_quantize_nvfp4", rows, cols, VDIT_NVFP4_BLOCK, x, blocks, &n));
  if (!tensor_scale) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_cuda_quantize_nvfp4: null tensor_scale");
  // The tensor scale's own 4 bytes hold the amax bits until the scale replaces them.
  VDIT_CUDA_TRY(cudaMemsetAsync(tensor_scale, 0, sizeof(float), 0));
  if (n > 0) {
    amax_bits_kernel<<<grid_for(n), QUANT_THREADS>>>(n, x, (unsigned int *)tensor_scale);
    VDIT_CUDA_TRY_LAUNCH();
  }
  nvfp4_tensor_scale_kernel<<<1, 1>>>(tensor_scale);
  VDIT_CUDA_TRY_LAUNCH();
  if (n == 0) return VDIT_OK;
  size_t block_count = n / VDIT_NVFP4_BLOCK;
  nvfp4_quantize_kernel<<<grid_for(block_count), QUANT_THREADS>>>(block_count, x, tensor_scale, blocks);
  VDIT_CUDA_TRY_LAUNCH();
  return VDIT_OK;
}

extern "C" vdit_status vdit_cuda_dequantize_nvfp4(size_t rows, size_t cols, const vdit_block_nvfp4 *blocks,
                                                  const float *tensor_scale, float *y) {
  size_t n;
  VDIT_TRY(vdit_quant_check_shape("vdit_cuda_dequantize_nvfp4", rows, cols, VDIT_NVFP4_BLOCK, blocks, y, &n));
  if (!tensor_scale) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_cuda_dequantize_nvfp4: null tensor_scale");
  if (n == 0) return VDIT_OK;
  nvfp4_dequantize_kernel<<<grid_for(n), QUANT_THREADS>>>(n, blocks, tensor_scale, y);
  VDIT_CUDA_TRY_LAUNCH();
  return VDIT_OK;
}

// ---------------------------------------------------------------- MX
static __global__ void mxfp4_quantize_kernel(size_t block_count, const float *x, vdit_block_mxfp4 *blocks) {
  GRID_STRIDE(b, block_count) vdit_quant_mxfp4_block(x + b * VDIT_MX_BLOCK, &blocks[b]);
}

static __global__ void mxfp4_dequantize_kernel(size_t n, const vdit_block_mxfp4 *blocks, float *y) {
  GRID_STRIDE(i, n) y[i] = vdit_dequant_mxfp4_element(&blocks[i / VDIT_MX_BLOCK], (int)(i % VDIT_MX_BLOCK));
}

static __global__ void mxfp8_quantize_kernel(size_t block_count, int is_e5m2, const float *x, vdit_block_mxfp8 *blocks) {
  GRID_STRIDE(b, block_count) vdit_quant_mxfp8_block(x + b * VDIT_MX_BLOCK, is_e5m2, &blocks[b]);
}

static __global__ void mxfp8_dequantize_kernel(size_t n, int is_e5m2, const vdit_block_mxfp8 *blocks, float *y) {
  GRID_STRIDE(i, n) y[i] = vdit_dequant_mxfp8_element(&blocks[i / VDIT_MX_BLOCK], is_e5m2, (int)(i % VDIT_MX_BLOCK));
}

extern "C" vdit_status vdit_cuda_quantize_mxfp4(size_t rows, size_t cols, const float *x, vdit_block_mxfp4 *blocks) {
  size_t n;
  VDIT_TRY(vdit_quant_check_shape("vdit_cuda_quantize_mxfp4", rows, cols, VDIT_MX_BLOCK, x, blocks, &n));
  if (n == 0) return VDIT_OK;
  size_t block_count = n / VDIT_MX_BLOCK;
  mxfp4_quantize_kernel<<<grid_for(block_count), QUANT_THREADS>>>(block_count, x, blocks);
  VDIT_CUDA_TRY_LAUNCH();
  return VDIT_OK;
}

extern "C" vdit_status vdit_cuda_dequantize_mxfp4(size_t rows, size_t cols, const vdit_block_mxfp4 *blocks, float *y) {
  size_t n;
  VDIT_TRY(vdit_quant_check_shape("vdit_cuda_dequantize_mxfp4", rows, cols, VDIT_MX_BLOCK, blocks, y, &n));
  if (n == 0) return VDIT_OK;
  mxfp4_dequantize_kernel<<<grid_for(n), QUANT_THREADS>>>(n, blocks, y);
  VDIT_CUDA_TRY_LAUNCH();
  return VDIT_OK;
}

extern "C" vdit_status vdit_cuda_quantize_mxfp8(vdit_dtype element, size_t rows, size_t cols, const float *x,
                                                vdit_block_mxfp8 *blocks) {
  size_t n;
  int is_e5m2;
  VDIT_TRY(vdit_quant_mxfp8_element_kind("vdit_cuda_quantize_mxfp8", element, &is_e5m2));
  VDIT_TRY(vdit_quant_check_shape("vdit_cuda_quantize_mxfp8", rows, cols, VDIT_MX_BLOCK, x, blocks, &n));
  if (n == 0) return VDIT_OK;
  size_t block_count = n / VDIT_MX_BLOCK;
  mxfp8_quantize_kernel<<<grid_for(block_count), QUANT_THREADS>>>(block_count, is_e5m2, x, blocks);
  VDIT_CUDA_TRY_LAUNCH();
  return VDIT_OK;
}

extern "C" vdit_status vdit_cuda_dequantize_mxfp8(vdit_dtype element, size_t rows, size_t cols,
                                                  const vdit_block_mxfp8 *blocks, float *y) {
  size_t n;
  int is_e5m2;
  VDIT_TRY(vdit_quant_mxfp8_element_kind("vdit_cuda_dequantize_mxfp8", element, &is_e5m2));
  VDIT_TRY(vdit_quant_check_shape("vdit_cuda_dequantize_mxfp8", rows, cols, VDIT_MX_BLOCK, blocks, y, &n));
  if (n == 0) return VDIT_OK;
  mxfp8_dequantize_kernel<<<grid_for(n), QUANT_THREADS>>>(n, is_e5m2, blocks, y);
  VDIT_CUDA_TRY_LAUNCH();
  return VDIT_OK;
}

// ---------------------------------------------------------------- INT8
// One thread block per row (grid-stride over rows): the row's amax by a shared-memory
// reduction, then every thread quantizes its share of the row with the one scale.
static __global__ void int8_rows_quantize_kernel(size_t rows, size_t cols, const float *x, int8_t *q,
                                                 float *row_scales) {
  __shared__ uint32_t warp_max[ROW_THREADS / 32];
  __shared__ float row_scale;
  for (size_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float *xr = x + r * cols;
    uint32_t local = 0;
    for (size_t c = threadIdx.x; c < cols; c += blockDim.x) local = vdit_quant_max_u32(local, vdit_quant_abs_bits(xr[c]));
    local = __reduce_max_sync(0xffffffffu, local);
    if ((threadIdx.x & 31) == 0) warp_max[threadIdx.x / 32] = local;
    __syncthreads();
    if (threadIdx.x == 0) {
      uint32_t amax = 0;
      for (int w = 0; w < ROW_THREADS / 32; w++) amax = vdit_quant_max_u32(amax, warp_max[w]);
      row_scale = vdit_quant_int8_scale(amax);
      row_scales[r] = row_scale;
    }
    __syncthreads();
    float scale = row_scale;
    for (size_t c = threadIdx.x; c < cols; c += blockDim.x) q[r * cols + c] = vdit_quant_int8_element(xr[c], scale);
    __syncthreads(); // row_scale and warp_max are reused by the next row
  }
}

static __global__ void int8_rows_dequantize_kernel(size_t n, size_t cols, const int8_t *q, const float *row_scales,
                                                   float *y) {
  GRID_STRIDE(i, n) y[i] = vdit_dequant_int8_element(q[i], row_scales[i / cols]);
}

static __global__ void int8_blocks_quantize_kernel(size_t block_count, const float *x, vdit_block_int8 *blocks) {
  GRID_STRIDE(b, block_count) vdit_quant_int8_block(x + b * VDIT_INT8_BLOCK, &blocks[b]);
}

static __global__ void int8_blocks_dequantize_kernel(size_t n, const vdit_block_int8 *blocks, float *y) {
  GRID_STRIDE(i, n) {
    const vdit_block_int8 *block = &blocks[i / VDIT_INT8_BLOCK];
    y[i] = vdit_dequant_int8_element(block->elements[i % VDIT_INT8_BLOCK], block->scale);
  }
}

extern "C" vdit_status vdit_cuda_quantize_int8_rows(size_t rows, size_t cols, const float *x, int8_t *q,
                                                    float *row_scales) {
  size_t n;
  VDIT_TRY(vdit_quant_check_shape("vdit_cuda_quantize_int8_rows", rows, cols, 0, x, q, &n));
  if (n == 0) return VDIT_OK;
  if (!row_scales) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_cuda_quantize_int8_rows: null row_scales");
  int grid = (int)(rows < ROW_MAX_BLOCKS ? rows : ROW_MAX_BLOCKS);
  int8_rows_quantize_kernel<<<grid, ROW_THREADS>>>(rows, cols, x, q, row_scales);
  VDIT_CUDA_TRY_LAUNCH();
  return VDIT_OK;
}

extern "C" vdit_status vdit_cuda_dequantize_int8_rows(size_t rows, size_t cols, const int8_t *q,
                                                      const float *row_scales, float *y) {
  size_t n;
  VDIT_TRY(vdit_quant_check_shape("vdit_cuda_dequantize_int8_rows", rows, cols, 0, q, y, &n));
  if (n == 0) return VDIT_OK;
  if (!row_scales) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_cuda_dequantize_int8_rows: null row_scales");
  int8_rows_dequantize_kernel<<<grid_for(n), QUANT_THREADS>>>(n, cols, q, row_scales, y);
  VDIT_CUDA_TRY_LAUNCH();
  return VDIT_OK;
}

extern "C" vdit_status vdit_cuda_quantize_int8_blocks(size_t rows, size_t cols, const float *x,
                                                      vdit_block_int8 *blocks) {
  size_t n;
  VDIT_TRY(vdit_quant_check_shape("vdit_cuda_quantize_int8_blocks", rows, cols, VDIT_INT8_BLOCK, x, blocks, &n));
  if (n == 0) return VDIT_OK;
  size_t block_count = n / VDIT_INT8_BLOCK;
  int8_blocks_quantize_kernel<<<grid_for(block_count), QUANT_THREADS>>>(block_count, x, blocks);
  VDIT_CUDA_TRY_LAUNCH();
  return VDIT_OK;
}

extern "C" vdit_status vdit_cuda_dequantize_int8_blocks(size_t rows, size_t cols, const vdit_block_int8 *blocks,
                                                        float *y) {
  size_t n;
  VDIT_TRY(vdit_quant_check_shape("vdit_cuda_dequantize_int8_blocks", rows, cols, VDIT_INT8_BLOCK, blocks, y, &n));
  if (n == 0) return VDIT_OK;
  int8_blocks_dequantize_kernel<<<grid_for(n), QUANT_THREADS>>>(n, blocks, y);
  VDIT_CUDA_TRY_LAUNCH();
  return VDIT_OK;
}

// ---------------------------------------------------------------- round trip
static vdit_status round_trip(vdit_quant_scheme scheme, size_t rows, size_t cols, const float *x, float *y,
                              uint8_t *data, float *scales) {
  switch (scheme) {
    case VDIT_QUANT_NVFP4:
      VDIT_TRY(vdit_cuda_quantize_nvfp4(rows, cols, x, (vdit_block_nvfp4 *)data, scales));
      return vdit_cuda_dequantize_nvfp4(rows, cols, (vdit_block_nvfp4 *)data, scales, y);
    case VDIT_QUANT_MXFP4:
      VDIT_TRY(vdit_cuda_quantize_mxfp4(rows, cols, x, (vdit_block_mxfp4 *)data));
      return vdit_cuda_dequantize_mxfp4(rows, cols, (vdit_block_mxfp4 *)data, y);
    case VDIT_QUANT_MXFP8_E4M3:
    case VDIT_QUANT_MXFP8_E5M2: {
      vdit_dtype element = scheme == VDIT_QUANT_MXFP8_E4M3 ? VDIT_DTYPE_F8_E4M3 : VDIT_DTYPE_F8_E5M2;
      VDIT_TRY(vdit_cuda_quantize_mxfp8(element, rows, cols, x, (vdit_block_mxfp8 *)data));
      return vdit_cuda_dequantize_mxfp8(element, rows, cols, (vdit_block_mxfp8 *)data, y);
    }
    case VDIT_QUANT_INT8_ROW:
      VDIT_TRY(vdit_cuda_quantize_int8_rows(rows, cols, x, (int8_t *)data, scales));
      return vdit_cuda_dequantize_int8_rows(rows, cols, (int8_t *)data, scales, y);
    case VDIT_QUANT_INT8_BLOCK:
      VDIT_TRY(vdit_cuda_quantize_int8_blocks(rows, cols, x, (vdit_block_int8 *)data));
      return vdit_cuda_dequantize_int8_blocks(rows, cols, (vdit_block_int8 *)data, y);
    default: return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "invalid quantizer %d", (int)scheme);
  }
}

extern "C" vdit_status vdit_cuda_quant_round_trip(vdit_quant_scheme scheme, size_t rows, size_t cols, const float *x,
                                                  float *y) {
  size_t bytes, n;
  VDIT_TRY(vdit_quant_storage_bytes(scheme, rows, cols, &bytes));
  VDIT_TRY(vdit_quant_check_shape("vdit_cuda_quant_round_trip", rows, cols, vdit_quant_block_size(scheme), x, y, &n));
  if (n == 0) return VDIT_OK;
  uint8_t *data = NULL;
  float *scales = NULL;
  VDIT_CUDA_TRY(cudaMalloc((void **)&data, bytes));
  cudaError_t error = cudaMalloc((void **)&scales, (rows + 1) * sizeof(float));
  if (error != cudaSuccess) {
    cudaFree(data);
    VDIT_CUDA_TRY(error);
  }
  vdit_status status = round_trip(scheme, rows, cols, x, y, data, scales);
  // cudaFree waits for the kernels that use the scratch memory.
  cudaError_t free_data = cudaFree(data), free_scales = cudaFree(scales);
  VDIT_TRY(status);
  VDIT_CUDA_TRY(free_data);
  VDIT_CUDA_TRY(free_scales);
  return VDIT_OK;
}
