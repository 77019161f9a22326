// Helpers shared by the files of the tensor layer (not part of the public API).
#ifndef VDIT_TENSOR_INTERNAL_H
#define VDIT_TENSOR_INTERNAL_H

#include <stdint.h>
#include <string.h>

#include "tensor/layout.h"
#include "vdit/tensor.h"

// Bytes per element; 0 for the packed f4_e2m1 (two per byte) and for an invalid dtype.
int vdit_tensor_element_bytes(vdit_dtype dtype);

// Validates (dtype, ndim, shape) and gives the element count and contiguous byte size
// (either pointer may be NULL). Dims are >= 0, the product of the non-zero dims fits in
// int64 and the byte size in size_t.
vdit_status vdit_tensor_check_shape(const char *function, vdit_dtype dtype, int ndim, const int64_t *shape,
                                    int64_t *numel, size_t *bytes);

// Fills the descriptor of a contiguous tensor over `data` (owning nothing); the shape must
// have passed vdit_tensor_check_shape.
void vdit_tensor_set_contiguous(vdit_tensor *t, void *data, vdit_dtype dtype, vdit_device device, int ndim,
                                const int64_t *shape);

// A descriptor that can be read: non-NULL, a valid dtype, 0..5 dims, shape >= 0.
// `what` names the argument in the message ("dst", "src", ...).
vdit_status vdit_tensor_check(const vdit_tensor *t, const char *function, const char *what);

// 1 if two elements of `t` might share an address (a zero or interleaved stride); such a
// tensor cannot be written element by element.
int vdit_tensor_may_self_overlap(const vdit_tensor *t);

// 1 if the bytes that `a` and `b` touch intersect (on the same device).
int vdit_tensor_ranges_overlap(const vdit_tensor *a, const vdit_tensor *b);

// A contiguous tensor of t's dtype and shape on `device` (a staging buffer).
vdit_status vdit_tensor_alloc_like(vdit_tensor *out, const vdit_tensor *t, vdit_device device);

// The walk over dst and src (same shape), simplified (see layout.h).
void vdit_copy_layout_init(vdit_copy_layout *layout, const vdit_tensor *dst, const vdit_tensor *src);

// Element-by-element copy between two host tensors of one dtype and shape, any strides.
void vdit_host_strided_copy(vdit_tensor *dst, const vdit_tensor *src);

// f4_e2m1 nibble access by element index (element 2i in the low nibble of byte i).
static inline unsigned vdit_f4_get(const void *data, int64_t element) {
  uint8_t byte = ((const uint8_t *)data)[element >> 1];
  return (element & 1) ? (unsigned)(byte >> 4) : (unsigned)(byte & 0x0fu);
}
static inline void vdit_f4_set(void *data, int64_t element, unsigned nibble) {
  uint8_t *byte = (uint8_t *)data + (element >> 1);
  *byte = (element & 1) ? (uint8_t)((*byte & 0x0fu) | ((nibble & 0x0fu) << 4))
                        : (uint8_t)((*byte & 0xf0u) | (nibble & 0x0fu));
}

#ifdef VDIT_HAVE_CUDA
// Makes GPU `device.index` current for the calls that follow, remembering the previous one;
// vdit_cuda_device_leave restores it and returns `status` (or its own failure if `status`
// was VDIT_OK), so a caller ends with `return vdit_cuda_device_leave(previous, status);`.
vdit_status vdit_cuda_device_enter(vdit_device device, int *previous);
vdit_status vdit_cuda_device_leave(int previous, vdit_status status);
#endif

#endif // VDIT_TENSOR_INTERNAL_H
