// Helpers shared by the files of the tensor layer (not part of the public API).
#ifndef VDIT_TENSOR_INTERNAL_H
#define VDIT_TENSOR_INTERNAL_H

#include <stdint.h>
#include <string.h>

#include "tensor/layout.h"
#include "vdit/tensor.h"

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

// Checks a (dst, src) pair for vdit_tensor_copy (same_dtype 1) or vdit_tensor_convert:
// valid descriptors, the same shape, usable devices, data set, a dst that can be written
// element by element. `function` names the caller in messages.
vdit_status vdit_tensor_check_pair(const char *function, vdit_tensor *dst, const vdit_tensor *src, int same_dtype);

// 1 if two elements of `t` might share an address (a zero or interleaved stride); such a
// tensor cannot be written element by element.
int vdit_tensor_may_self_overlap(const vdit_tensor *t);

// 1 if the bytes that `a` and `b` touch intersect (on the same device).
int vdit_tensor_ranges_overlap(const vdit_tensor *a, const vdit_tensor *b);

// A contiguous tensor of t's dtype and shape on `device` (a staging buffer).
vdit_status vdit_tensor_alloc_like(vdit_tensor *out, const vdit_tensor *t, vdit_device device);

// The walk over dst and src (same shape), simplified (see layout.h).
void vdit_copy_layout_init(vdit_copy_layout *layout, const vdit_tensor *dst, const vdit_tensor *src);

// Offsets (in elements) of the first element of row `row` of the walk in dst and src; a
// row runs along the walk's last dim (layout->ndim >= 1).
void vdit_copy_layout_row_offsets(const vdit_copy_layout *layout, int64_t row, int64_t *dst_offset,
                                  int64_t *src_offset);

// Element-by-element copy between two host tensors of one dtype and shape, any strides.
void vdit_host_strided_copy(vdit_tensor *dst, const vdit_tensor *src);

// One row of a strided host copy: `count` elements, element j from src element
// src_offset + j * src_step to dst element dst_offset + j * dst_step (offsets and steps in
// elements). element_bytes is vdit_dtype_element_bytes: 0 for f4, copied nibble by nibble.
void vdit_host_copy_row(char *dst, int64_t dst_offset, int64_t dst_step, const char *src, int64_t src_offset,
                        int64_t src_step, int64_t count, int element_bytes);

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
