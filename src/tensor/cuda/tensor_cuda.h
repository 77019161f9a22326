// The CUDA kernels of the tensor layer, called from the C files of src/tensor. Each runs on
// the current CUDA device (the caller selects it) in the default stream. Internal to vdit.
#ifndef VDIT_TENSOR_CUDA_H
#define VDIT_TENSOR_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include "tensor/fill_philox.h"
#include "tensor/layout.h"
#include "vdit/base.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifdef VDIT_HAVE_CUDA
// dst[layout] = src[layout] for elements of 1, 2, 4 or 8 bytes; dst and src on this device.
vdit_status vdit_cuda_strided_copy(void *dst, const void *src, const vdit_copy_layout *layout, int element_bytes);

// The `count` contiguous elements of dst (1, 2, 4 or 8 bytes each) set to the low
// element_bytes bytes of `pattern`.
vdit_status vdit_cuda_fill_pattern(void *dst, size_t count, int element_bytes, uint64_t pattern);

// dst[i] = a + b * v(offset + i) for i < n, f32 or f64 (see fill_philox.h).
vdit_status vdit_cuda_fill_philox(void *dst, int is_f64, size_t n, uint64_t seed, uint64_t offset,
                                  const vdit_philox_fill *fill);
#endif

#ifdef __cplusplus
}
#endif

#endif // VDIT_TENSOR_CUDA_H
