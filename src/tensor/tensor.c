// The tensor descriptor: allocation, views, shape queries, permute and reshape.
#include <stdio.h>
#include <string.h>

#include "tensor/tensor_internal.h"
#include "vdit/tensor.h"

static void format_shape(int ndim, const int64_t *shape, char *buffer, size_t size) {
  if (size == 0) return;
  size_t used = 0;
  buffer[0] = '\0';
#define FORMAT_APPEND(...)                                                   \
  do {                                                                       \
    if (used < size) {                                                       \
      int written = snprintf(buffer + used, size - used, __VA_ARGS__);       \
      used += written > 0 ? (size_t)written : 0;                             \
    }                                                                        \
  } while (0)
  FORMAT_APPEND("(");
  for (int i = 0; i < ndim; i++) FORMAT_APPEND("%s%lld", i ? ", " : "", (long long)shape[i]);
  FORMAT_APPEND(")");
#undef FORMAT_APPEND
}

char *vdit_tensor_shape_string(const vdit_tensor *t, char *buffer, size_t size) {
  if (t == NULL || t->ndim < 0 || t->ndim > VDIT_MAX_DIMS) {
    if (size) snprintf(buffer, size, "(invalid)");
    return buffer;
  }
  format_shape(t->ndim, t->shape, buffer, size);
  return buffer;
}

// Validates (dtype, ndim, shape) and gives the element count and contiguous byte size.
// Dims are >= 0 and the product of the non-zero dims must fit in int64 (so that every
// contiguous stride does, even for a tensor with a zero dim).
vdit_status vdit_tensor_check_shape(const char *function, vdit_dtype dtype, int ndim, const int64_t *shape,
                                    int64_t *numel, size_t *bytes) {
  if (vdit_dtype_bits(dtype) == 0)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: invalid dtype %d", function, (int)dtype);
  if (ndim < 0 || ndim > VDIT_MAX_DIMS)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: ndim %d is outside 0..%d", function, ndim, VDIT_MAX_DIMS);
  if (ndim > 0 && shape == NULL)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: shape is NULL for %d dims", function, ndim);
  char text[VDIT_SHAPE_STRING_SIZE];
  int64_t product = 1, count = 1;
  for (int i = 0; i < ndim; i++) {
    if (shape[i] < 0) {
      format_shape(ndim, shape, text, sizeof text);
      return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: dim %d of shape %s is negative", function, i, text);
    }
    if (shape[i] == 0) {
      count = 0;
      continue;
    }
    if (product > INT64_MAX / shape[i]) {
      format_shape(ndim, shape, text, sizeof text);
      return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: shape %s has more than 2^63 elements", function, text);
    }
    product *= shape[i];
  }
  if (count != 0) count = product;
  size_t size = 0;
  if ((uint64_t)count > SIZE_MAX || vdit_dtype_storage_bytes(dtype, (size_t)count, &size) != VDIT_OK) {
    format_shape(ndim, shape, text, sizeof text);
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: shape %s of %s overflows the byte size", function, text,
                      vdit_dtype_name(dtype));
  }
  if (numel) *numel = count;
  if (bytes) *bytes = size;
  return VDIT_OK;
}

vdit_status vdit_tensor_check(const vdit_tensor *t, const char *function, const char *what) {
  if (t == NULL) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: %s is NULL", function, what);
  return vdit_tensor_check_shape(function, t->dtype, t->ndim, t->shape, NULL, NULL);
}

static void contiguous_strides(int ndim, const int64_t *shape, int64_t *stride) {
  int64_t step = 1;
  for (int i = ndim - 1; i >= 0; i--) {
    stride[i] = step;
    if (shape[i] > 0) step *= shape[i]; // bounded by check_shape
  }
}

// The lowest and highest element offsets of `t` relative to data; 0 on int64 overflow.
static int span_elements(int ndim, const int64_t *shape, const int64_t *stride, int64_t *low, int64_t *high) {
  int64_t lo = 0, hi = 0;
  for (int i = 0; i < ndim; i++) {
    if (shape[i] <= 1) continue;
    int64_t s = stride[i] < 0 ? -stride[i] : stride[i];
    if (stride[i] == INT64_MIN || (s != 0 && shape[i] - 1 > INT64_MAX / s)) return 0;
    int64_t reach = s * (shape[i] - 1);
    if (stride[i] < 0) {
      if (lo < INT64_MIN + reach) return 0;
      lo -= reach;
    } else {
      if (hi > INT64_MAX - reach) return 0;
      hi += reach;
    }
  }
  *low = lo;
  *high = hi;
  return 1;
}

vdit_status vdit_tensor_alloc(vdit_tensor *t, vdit_dtype dtype, vdit_device device, int ndim, const int64_t *shape) {
  if (t == NULL) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_tensor_alloc: tensor is NULL");
  memset(t, 0, sizeof *t);
  size_t bytes = 0;
  VDIT_TRY(vdit_tensor_check_shape("vdit_tensor_alloc", dtype, ndim, shape, NULL, &bytes));
  void *data = NULL;
  VDIT_TRY(vdit_device_alloc(device, bytes, &data));
  vdit_tensor_set_contiguous(t, data, dtype, device, ndim, shape);
  t->allocation = data;
  return VDIT_OK;
}

void vdit_tensor_set_contiguous(vdit_tensor *t, void *data, vdit_dtype dtype, vdit_device device, int ndim,
                                const int64_t *shape) {
  memset(t, 0, sizeof *t);
  t->data = data;
  t->dtype = dtype;
  t->device = device;
  t->ndim = ndim;
  for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
  contiguous_strides(ndim, t->shape, t->stride);
}

void vdit_tensor_free(vdit_tensor *t) {
  if (t == NULL) return;
  if (t->allocation) vdit_device_free(t->device, t->allocation);
  memset(t, 0, sizeof *t);
}

vdit_status vdit_tensor_alloc_like(vdit_tensor *out, const vdit_tensor *t, vdit_device device) {
  return vdit_tensor_alloc(out, t->dtype, device, t->ndim, t->shape);
}

vdit_status vdit_tensor_view(vdit_tensor *t, void *data, vdit_dtype dtype, vdit_device device, int ndim,
                             const int64_t *shape, const int64_t *stride) {
  if (t == NULL) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_tensor_view: tensor is NULL");
  memset(t, 0, sizeof *t);
  int64_t numel = 0;
  VDIT_TRY(vdit_tensor_check_shape("vdit_tensor_view", dtype, ndim, shape, &numel, NULL));
  VDIT_TRY(vdit_device_check(device));
  if (numel > 0 && data == NULL)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_tensor_view: data is NULL for %lld elements", (long long)numel);
  vdit_tensor view;
  memset(&view, 0, sizeof view);
  view.data = data;
  view.dtype = dtype;
  view.device = device;
  view.ndim = ndim;
  for (int i = 0; i < ndim; i++) view.shape[i] = shape[i];
  if (stride == NULL) {
    contiguous_strides(ndim, view.shape, view.stride);
  } else {
    for (int i = 0; i < ndim; i++) view.stride[i] = stride[i];
  }
  char text[VDIT_SHAPE_STRING_SIZE];
  int element_bytes = vdit_dtype_element_bytes(dtype);
  int64_t low = 0, high = 0;
  if (!span_elements(ndim, view.shape, view.stride, &low, &high) ||
      (element_bytes > 1 && (low < INT64_MIN / element_bytes || high > INT64_MAX / element_bytes)))
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_tensor_view: the strides of shape %s overflow the address range",
                      vdit_tensor_shape_string(&view, text, sizeof text));
  if (element_bytes == 0 && numel > 0) { // f4: packed along the innermost dim
    for (int i = 0; i < ndim; i++)
      if (view.stride[i] < 0)
        return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_tensor_view: f4_e2m1 strides must be >= 0");
    if (ndim > 0 && view.shape[ndim - 1] > 1 && view.stride[ndim - 1] != 1)
      return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT,
                        "vdit_tensor_view: f4_e2m1 is packed two per byte, its innermost stride must be 1 (got %lld)",
                        (long long)view.stride[ndim - 1]);
  }
  // GPU loads of an element need its natural alignment.
  if (device.type == VDIT_DEVICE_CUDA && element_bytes > 1 && (uintptr_t)data % (uintptr_t)element_bytes != 0)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_tensor_view: device data %p is not aligned to its %d-byte %s elements",
                      data, element_bytes, vdit_dtype_name(dtype));
  *t = view;
  return VDIT_OK;
}

int64_t vdit_tensor_numel(const vdit_tensor *t) {
  int64_t count = 1;
  for (int i = 0; i < t->ndim; i++) count *= t->shape[i];
  return count;
}

size_t vdit_tensor_bytes(const vdit_tensor *t) {
  size_t bytes = 0;
  if (vdit_dtype_storage_bytes(t->dtype, (size_t)vdit_tensor_numel(t), &bytes) != VDIT_OK) return 0;
  return bytes;
}

int vdit_tensor_is_contiguous(const vdit_tensor *t) {
  if (vdit_tensor_numel(t) == 0) return 1;
  int64_t expected = 1;
  for (int i = t->ndim - 1; i >= 0; i--) {
    if (t->shape[i] != 1 && t->stride[i] != expected) return 0;
    expected *= t->shape[i];
  }
  return 1;
}

int vdit_tensor_same_shape(const vdit_tensor *a, const vdit_tensor *b) {
  if (a->ndim != b->ndim) return 0;
  for (int i = 0; i < a->ndim; i++)
    if (a->shape[i] != b->shape[i]) return 0;
  return 1;
}

vdit_status vdit_tensor_permute(const vdit_tensor *t, const int *order, vdit_tensor *out) {
  VDIT_TRY(vdit_tensor_check(t, "vdit_tensor_permute", "tensor"));
  if (out == NULL) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_tensor_permute: out is NULL");
  if (t->ndim > 0 && order == NULL) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_tensor_permute: order is NULL");
  vdit_tensor view = *t;
  view.allocation = NULL;
  int seen[VDIT_MAX_DIMS] = {0};
  for (int i = 0; i < t->ndim; i++) {
    if (order[i] < 0 || order[i] >= t->ndim || seen[order[i]]) {
      char text[VDIT_SHAPE_STRING_SIZE];
      return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT,
                        "vdit_tensor_permute: order is not a permutation of 0..%d for shape %s (entry %d is %d)",
                        t->ndim - 1, vdit_tensor_shape_string(t, text, sizeof text), i, order[i]);
    }
    seen[order[i]] = 1;
    view.shape[i] = t->shape[order[i]];
    view.stride[i] = t->stride[order[i]];
  }
  if (t->dtype == VDIT_DTYPE_F4_E2M1 && view.ndim > 0 && view.shape[view.ndim - 1] > 1 &&
      view.stride[view.ndim - 1] != 1 && vdit_tensor_numel(&view) > 0)
    return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED,
                      "vdit_tensor_permute: f4_e2m1 is packed two per byte along its innermost dim, which must stay innermost");
  *out = view;
  return VDIT_OK;
}

vdit_status vdit_tensor_reshape(const vdit_tensor *t, int ndim, const int64_t *shape, vdit_tensor *out) {
  VDIT_TRY(vdit_tensor_check(t, "vdit_tensor_reshape", "tensor"));
  if (out == NULL) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_tensor_reshape: out is NULL");
  if (ndim < 0 || ndim > VDIT_MAX_DIMS)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_tensor_reshape: ndim %d is outside 0..%d", ndim, VDIT_MAX_DIMS);
  if (ndim > 0 && shape == NULL) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_tensor_reshape: shape is NULL");
  char from[VDIT_SHAPE_STRING_SIZE], to[VDIT_SHAPE_STRING_SIZE];
  vdit_tensor_shape_string(t, from, sizeof from);
  format_shape(ndim, shape, to, sizeof to);
  if (!vdit_tensor_is_contiguous(t)) {
    char strides[VDIT_SHAPE_STRING_SIZE];
    format_shape(t->ndim, t->stride, strides, sizeof strides);
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT,
                      "vdit_tensor_reshape: %s with strides %s is not contiguous; copy it into a contiguous tensor "
                      "before reshaping to %s",
                      from, strides, to);
  }
  int64_t new_shape[VDIT_MAX_DIMS] = {0};
  int inferred = -1;
  for (int i = 0; i < ndim; i++) {
    new_shape[i] = shape[i];
    if (shape[i] == -1) {
      if (inferred >= 0)
        return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_tensor_reshape: more than one -1 in %s", to);
      inferred = i;
      new_shape[i] = 1;
    }
  }
  int64_t numel = vdit_tensor_numel(t), known = 0;
  VDIT_TRY(vdit_tensor_check_shape("vdit_tensor_reshape", t->dtype, ndim, new_shape, &known, NULL));
  if (inferred >= 0) {
    if (known == 0 || numel % known != 0)
      return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_tensor_reshape: cannot reshape %s (%lld elements) to %s",
                        from, (long long)numel, to);
    new_shape[inferred] = numel / known;
    known = numel;
  }
  if (known != numel)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT,
                      "vdit_tensor_reshape: cannot reshape %s (%lld elements) to %s (%lld elements)", from,
                      (long long)numel, to, (long long)known);
  vdit_tensor view = *t;
  view.allocation = NULL;
  view.ndim = ndim;
  for (int i = 0; i < VDIT_MAX_DIMS; i++) view.shape[i] = view.stride[i] = 0;
  for (int i = 0; i < ndim; i++) view.shape[i] = new_shape[i];
  contiguous_strides(ndim, view.shape, view.stride);
  *out = view;
  return VDIT_OK;
}

int vdit_tensor_may_self_overlap(const vdit_tensor *t) {
  if (vdit_tensor_numel(t) <= 1) return 0;
  // Dims sorted by |stride|: each must step past everything the smaller ones reach.
  int64_t size[VDIT_MAX_DIMS], step[VDIT_MAX_DIMS];
  int count = 0;
  for (int i = 0; i < t->ndim; i++) {
    if (t->shape[i] <= 1) continue;
    int64_t s = t->stride[i] < 0 ? -t->stride[i] : t->stride[i];
    int j = count++;
    while (j > 0 && step[j - 1] > s) {
      step[j] = step[j - 1];
      size[j] = size[j - 1];
      j--;
    }
    step[j] = s;
    size[j] = t->shape[i];
  }
  int64_t reach = 0; // farthest offset reachable by the dims so far (bounded by the view's span)
  for (int j = 0; j < count; j++) {
    if (step[j] <= reach) return 1;
    reach += step[j] * (size[j] - 1);
  }
  return 0;
}

// Byte range [first, last] that `t` touches, relative to address 0.
static void byte_range(const vdit_tensor *t, uintptr_t *first, uintptr_t *last) {
  int64_t low = 0, high = 0;
  span_elements(t->ndim, t->shape, t->stride, &low, &high);
  int element_bytes = vdit_dtype_element_bytes(t->dtype);
  uintptr_t base = (uintptr_t)t->data;
  if (element_bytes == 0) { // f4: strides are >= 0
    *first = base;
    *last = base + (uintptr_t)(high / 2);
  } else {
    *first = base + (uintptr_t)(low * element_bytes);
    *last = base + (uintptr_t)(high * element_bytes + element_bytes - 1);
  }
}

int vdit_tensor_ranges_overlap(const vdit_tensor *a, const vdit_tensor *b) {
  if (!vdit_device_equal(a->device, b->device)) return 0;
  if (vdit_tensor_numel(a) == 0 || vdit_tensor_numel(b) == 0) return 0;
  uintptr_t a_first, a_last, b_first, b_last;
  byte_range(a, &a_first, &a_last);
  byte_range(b, &b_first, &b_last);
  return a_first <= b_last && b_first <= a_last;
}
