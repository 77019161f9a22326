// Copies between tensors on any pair of devices with any strides (dtype conversion is
// convert.c).
//
// vdit_tensor_copy picks the cheapest correct path:
//   both contiguous                 -> one vdit_memcpy (cudaMemcpy / cudaMemcpyPeer / memmove)
//   both on the CPU                 -> the strided host loop below
//   both on one GPU                 -> the strided copy kernel (src/tensor/cuda/copy.cu)
//   different devices, one strided  -> through a contiguous staging tensor on each side
//                                      that needs one, so each step is one of the above.
#include <stdio.h>
#include <string.h>

#include "tensor/tensor_internal.h"
#include "vdit/tensor.h"

#ifdef VDIT_HAVE_CUDA
#include "tensor/cuda/tensor_cuda.h"
#endif

void vdit_copy_layout_init(vdit_copy_layout *layout, const vdit_tensor *dst, const vdit_tensor *src) {
  memset(layout, 0, sizeof *layout);
  layout->numel = vdit_tensor_numel(dst);
  int n = 0;
  for (int i = 0; i < dst->ndim; i++) {
    if (dst->shape[i] == 1) continue;
    // Merge into the previous (outer) dim when it steps exactly over this one in both.
    if (n > 0 && layout->dst_stride[n - 1] == dst->stride[i] * dst->shape[i] &&
        layout->src_stride[n - 1] == src->stride[i] * src->shape[i]) {
      layout->shape[n - 1] *= dst->shape[i];
      layout->dst_stride[n - 1] = dst->stride[i];
      layout->src_stride[n - 1] = src->stride[i];
      continue;
    }
    layout->shape[n] = dst->shape[i];
    layout->dst_stride[n] = dst->stride[i];
    layout->src_stride[n] = src->stride[i];
    n++;
  }
  layout->ndim = n;
}

void vdit_copy_layout_row_offsets(const vdit_copy_layout *layout, int64_t row, int64_t *dst_offset,
                                  int64_t *src_offset) {
  int64_t rest = row, d = 0, s = 0;
  for (int k = layout->ndim - 2; k >= 0; k--) {
    int64_t coordinate = rest % layout->shape[k];
    rest /= layout->shape[k];
    d += coordinate * layout->dst_stride[k];
    s += coordinate * layout->src_stride[k];
  }
  *dst_offset = d;
  *src_offset = s;
}

void vdit_host_copy_row(char *dst, int64_t dst_offset, int64_t dst_step, const char *src, int64_t src_offset,
                        int64_t src_step, int64_t count, int element_bytes) {
  if (element_bytes == 0) {
    for (int64_t j = 0; j < count; j++)
      vdit_f4_set(dst, dst_offset + j * dst_step, vdit_f4_get(src, src_offset + j * src_step));
    return;
  }
  char *d = dst + dst_offset * element_bytes;
  const char *s = src + src_offset * element_bytes;
  if (dst_step == 1 && src_step == 1) {
    memcpy(d, s, (size_t)count * (size_t)element_bytes);
    return;
  }
  int64_t ds = dst_step * element_bytes, ss = src_step * element_bytes;
  switch (element_bytes) { // fixed-size memcpy: one load and store, no alignment assumed
    case 1: for (int64_t j = 0; j < count; j++) d[j * ds] = s[j * ss]; break;
    case 2: for (int64_t j = 0; j < count; j++) memcpy(d + j * ds, s + j * ss, 2); break;
    case 4: for (int64_t j = 0; j < count; j++) memcpy(d + j * ds, s + j * ss, 4); break;
    case 8: for (int64_t j = 0; j < count; j++) memcpy(d + j * ds, s + j * ss, 8); break;
    default:
      for (int64_t j = 0; j < count; j++) memcpy(d + j * ds, s + j * ss, (size_t)element_bytes);
      break;
  }
}

void vdit_host_strided_copy(vdit_tensor *dst, const vdit_tensor *src) {
  vdit_copy_layout layout;
  vdit_copy_layout_init(&layout, dst, src);
  if (layout.numel == 0) return;
  int element_bytes = vdit_dtype_element_bytes(dst->dtype);
  if (layout.ndim == 0) {
    vdit_host_copy_row(dst->data, 0, 1, src->data, 0, 1, 1, element_bytes);
    return;
  }
  int last = layout.ndim - 1;
  int64_t row_length = layout.shape[last];
  int64_t rows = layout.numel / row_length;
  // f4 rows may share a byte at their ends, so they are written by one thread.
#pragma omp parallel for schedule(static) if (layout.numel > (1 << 18) && element_bytes > 0)
  for (int64_t row = 0; row < rows; row++) {
    int64_t dst_offset, src_offset;
    vdit_copy_layout_row_offsets(&layout, row, &dst_offset, &src_offset);
    vdit_host_copy_row(dst->data, dst_offset, layout.dst_stride[last], src->data, src_offset, layout.src_stride[last],
                       row_length, element_bytes);
  }
}

vdit_status vdit_tensor_check_pair(const char *function, vdit_tensor *dst, const vdit_tensor *src, int same_dtype) {
  VDIT_TRY(vdit_tensor_check(dst, function, "dst"));
  VDIT_TRY(vdit_tensor_check(src, function, "src"));
  char dst_shape[VDIT_SHAPE_STRING_SIZE], src_shape[VDIT_SHAPE_STRING_SIZE];
  if (same_dtype && dst->dtype != src->dtype)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: dtype mismatch: dst is %s, src is %s (use vdit_tensor_convert)",
                      function, vdit_dtype_name(dst->dtype), vdit_dtype_name(src->dtype));
  if (!vdit_tensor_same_shape(dst, src))
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: shape mismatch: dst %s, src %s", function,
                      vdit_tensor_shape_string(dst, dst_shape, sizeof dst_shape),
                      vdit_tensor_shape_string(src, src_shape, sizeof src_shape));
  VDIT_TRY(vdit_device_check(dst->device));
  VDIT_TRY(vdit_device_check(src->device));
  if (vdit_tensor_numel(dst) == 0) return VDIT_OK;
  if (dst->data == NULL || src->data == NULL)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: %s data is NULL", function, dst->data == NULL ? "dst" : "src");
  if (vdit_tensor_may_self_overlap(dst))
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT,
                      "%s: dst %s has strides under which two elements may share an address (a broadcast view?)",
                      function, vdit_tensor_shape_string(dst, dst_shape, sizeof dst_shape));
  return VDIT_OK;
}

static int same_layout(const vdit_tensor *a, const vdit_tensor *b) {
  if (a->data != b->data || !vdit_device_equal(a->device, b->device)) return 0;
  for (int i = 0; i < a->ndim; i++)
    if (a->shape[i] > 1 && a->stride[i] != b->stride[i]) return 0;
  return 1;
}

// A strided copy within one device.
static vdit_status copy_same_device(vdit_tensor *dst, const vdit_tensor *src) {
  if (dst->device.type == VDIT_DEVICE_CPU) {
    vdit_host_strided_copy(dst, src);
    return VDIT_OK;
  }
#ifdef VDIT_HAVE_CUDA
  int element_bytes = vdit_dtype_element_bytes(dst->dtype);
  if (element_bytes == 0)
    return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED,
                      "vdit_tensor_copy: strided f4_e2m1 copies on a GPU are not implemented (copy contiguous tensors)");
  vdit_copy_layout layout;
  vdit_copy_layout_init(&layout, dst, src);
  int previous = 0;
  VDIT_TRY(vdit_cuda_device_enter(dst->device, &previous));
  vdit_status status = vdit_cuda_strided_copy(dst->data, src->data, &layout, element_bytes);
  return vdit_cuda_device_leave(previous, status);
#else
  return VDIT_ERROR(VDIT_ERROR_INTERNAL, "vdit_tensor_copy: unreachable");
#endif
}

vdit_status vdit_tensor_copy(vdit_tensor *dst, const vdit_tensor *src) {
  VDIT_TRY(vdit_tensor_check_pair("vdit_tensor_copy", dst, src, 1));
  if (vdit_tensor_numel(dst) == 0) return VDIT_OK;
  if (same_layout(dst, src)) return VDIT_OK; // copying onto itself
  if (vdit_tensor_ranges_overlap(dst, src))
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_tensor_copy: dst and src overlap in memory");
  int dst_contiguous = vdit_tensor_is_contiguous(dst), src_contiguous = vdit_tensor_is_contiguous(src);
  if (dst_contiguous && src_contiguous)
    return vdit_memcpy(dst->device, dst->data, src->device, src->data, vdit_tensor_bytes(src));
  if (vdit_device_equal(dst->device, src->device)) return copy_same_device(dst, src);

  // Different devices and at least one strided side: make each side contiguous on its own
  // device, move the bytes once, then scatter.
  vdit_tensor src_staged, dst_staged;
  memset(&src_staged, 0, sizeof src_staged);
  memset(&dst_staged, 0, sizeof dst_staged);
  const vdit_tensor *from = src;
  vdit_tensor *to = dst;
  vdit_status status = VDIT_OK;
  if (!src_contiguous) {
    status = vdit_tensor_alloc_like(&src_staged, src, src->device);
    if (status == VDIT_OK) status = copy_same_device(&src_staged, src);
    from = &src_staged;
  }
  if (status == VDIT_OK && !dst_contiguous) {
    status = vdit_tensor_alloc_like(&dst_staged, dst, dst->device);
    to = &dst_staged;
  }
  if (status == VDIT_OK) status = vdit_memcpy(to->device, to->data, from->device, from->data, vdit_tensor_bytes(src));
  if (status == VDIT_OK && to != dst) status = copy_same_device(dst, to);
  vdit_tensor_free(&src_staged);
  vdit_tensor_free(&dst_staged);
  return status;
}
