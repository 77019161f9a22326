// The index arithmetic of a strided element-wise walk over two tensors of one shape, shared
// by the host loops and the CUDA kernels (plain C struct, passed to kernels by value).
#ifndef VDIT_TENSOR_LAYOUT_H
#define VDIT_TENSOR_LAYOUT_H

#include <stdint.h>

#include "vdit/tensor.h"

// Strides in elements. Dims of size 1 are dropped and neighbours that are contiguous in
// both tensors merged, so a contiguous pair has one dim and a transposed matrix two.
typedef struct vdit_copy_layout {
  int ndim;     // 0 only for one element (a scalar)
  int64_t numel;
  int64_t shape[VDIT_MAX_DIMS];
  int64_t dst_stride[VDIT_MAX_DIMS];
  int64_t src_stride[VDIT_MAX_DIMS];
} vdit_copy_layout;

#endif // VDIT_TENSOR_LAYOUT_H
