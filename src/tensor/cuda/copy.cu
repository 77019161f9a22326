// Strided copy within one GPU: element i of the (simplified) layout is unravelled into its
// dst and src offsets. The generic loop serves permutes and slices; contiguous pairs never
// come here (they are one cudaMemcpy).
#include "tensor/cuda/tensor_cuda.h"

#include "base/cuda_check.h"

#define COPY_THREADS 256
#define COPY_MAX_GRID 65536 // blocks; the kernel strides over the rest

// The element size is a runtime switch (uniform across the grid, so it costs no divergence).
static __global__ void strided_copy_kernel(void *dst, const void *src, vdit_copy_layout layout, int element_bytes) {
  int64_t step = (int64_t)gridDim.x * blockDim.x;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < layout.numel; i += step) {
    int64_t rest = i, d = 0, s = 0;
    for (int k = layout.ndim - 1; k >= 0; k--) {
      int64_t coordinate = rest % layout.shape[k];
      rest /= layout.shape[k];
      d += coordinate * layout.dst_stride[k];
      s += coordinate * layout.src_stride[k];
    }
    switch (element_bytes) {
      case 1: ((uint8_t *)dst)[d] = ((const uint8_t *)src)[s]; break;
      case 2: ((uint16_t *)dst)[d] = ((const uint16_t *)src)[s]; break;
      case 4: ((uint32_t *)dst)[d] = ((const uint32_t *)src)[s]; break;
      default: ((uint64_t *)dst)[d] = ((const uint64_t *)src)[s]; break;
    }
  }
}

extern "C" vdit_status vdit_cuda_strided_copy(void *dst, const void *src, const vdit_copy_layout *layout,
                                              int element_bytes) {
  if (layout->numel == 0) return VDIT_OK;
  if (element_bytes != 1 && element_bytes != 2 && element_bytes != 4 && element_bytes != 8)
    return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "vdit_cuda_strided_copy: %d-byte elements are not supported",
                      element_bytes);
  int64_t grid = (layout->numel + COPY_THREADS - 1) / COPY_THREADS;
  if (grid > COPY_MAX_GRID) grid = COPY_MAX_GRID;
  strided_copy_kernel<<<(unsigned)grid, COPY_THREADS>>>(dst, src, *layout, element_bytes);
  VDIT_CUDA_TRY_LAUNCH();
  return VDIT_OK;
}
