// vdit tensor layer: the tensor descriptor (dtype, device, up to 5 dims, strides), host and
// device memory, arenas, copies between devices, test fills (Philox, NaN poison), and
// safetensors files.
#ifndef VDIT_TENSOR_H
#define VDIT_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "vdit/base.h"
#include "vdit/num.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VDIT_MAX_DIMS 5

typedef enum vdit_device_type { VDIT_DEVICE_CPU = 0, VDIT_DEVICE_CUDA = 1 } vdit_device_type;

typedef struct vdit_device {
  vdit_device_type type;
  int index; // GPU ordinal for VDIT_DEVICE_CUDA, 0 for the CPU
} vdit_device;

#define VDIT_CPU ((vdit_device){VDIT_DEVICE_CPU, 0})
#define VDIT_CUDA(i) ((vdit_device){VDIT_DEVICE_CUDA, (i)})

// A view of memory. `stride` is in elements (for fp4: the innermost stride must be 1 and
// shapes are in elements). `allocation` is non-NULL when the tensor owns its memory
// (vdit_tensor_alloc); vdit_tensor_free releases it. Views and arena tensors own nothing.
typedef struct vdit_tensor {
  void *data;
  vdit_dtype dtype;
  vdit_device device;
  int ndim;
  int64_t shape[VDIT_MAX_DIMS];
  int64_t stride[VDIT_MAX_DIMS];
  void *allocation;
} vdit_tensor;

#ifdef __cplusplus
}
#endif

#endif // VDIT_TENSOR_H
