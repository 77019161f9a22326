// Argument checks and row views shared by every op (src/ops/ops_internal.h).
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ops/ops_internal.h"
#include "tensor/tensor_internal.h"

vdit_status ops_check_tensor(const char *op, const char *name, const vdit_tensor *t) {
  if (!t) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: %s is NULL", op, name);
  VDIT_TRY(vdit_tensor_check(t, op, name));
  if (t->device.type == VDIT_DEVICE_CUDA) {
#ifndef VDIT_HAVE_CUDA
    return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "%s: %s is a CUDA tensor; this build has no CUDA backend", op, name);
#else
    if (t->dtype != VDIT_DTYPE_F32 && t->dtype != VDIT_DTYPE_BF16) {
      if (vdit_dtype_is_float(t->dtype))
        return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "%s: %s is %s; the CUDA ops take bf16 or f32", op, name,
                          vdit_dtype_name(t->dtype));
      return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: %s must be bf16 or f32, got %s", op, name,
                        vdit_dtype_name(t->dtype));
    }
#endif
  } else if (t->device.type != VDIT_DEVICE_CPU) {
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: %s has an invalid device", op, name);
  } else if (t->dtype != VDIT_DTYPE_F32) {
    if (vdit_dtype_is_float(t->dtype))
      return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "%s: %s is %s; the CPU ops take f32 for now", op, name,
                        vdit_dtype_name(t->dtype));
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: %s must be f32, got %s", op, name, vdit_dtype_name(t->dtype));
  }
  if (t->ndim < 1) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: %s must have at least one dim", op, name);
  if (vdit_tensor_numel(t) > 0) {
    if (!t->data) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: %s has no data", op, name);
    if (t->shape[t->ndim - 1] > 1 && t->stride[t->ndim - 1] != 1)
      return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: %s needs a contiguous last dim (stride 1, got %lld)", op,
                        name, (long long)t->stride[t->ndim - 1]);
  }
  return VDIT_OK;
}

vdit_status ops_rows_view(const char *op, const char *name, const vdit_tensor *t, ops_rows *v) {
  memset(v, 0, sizeof *v);
  VDIT_TRY(ops_check_tensor(op, name, t));
  v->data = t->data;
  v->dtype = t->dtype;
  v->device = t->device;
  v->cols = t->shape[t->ndim - 1];
  v->rows = 1;
  // Leading dims, outermost first: drop size-1 dims, merge a dim into the one before it
  // when it is exactly one stride of that one.
  for (int d = 0; d < t->ndim - 1; d++) {
    v->rows *= t->shape[d];
    if (t->shape[d] == 1) continue;
    if (v->lead > 0 && v->stride[v->lead - 1] == t->stride[d] * t->shape[d]) {
      v->shape[v->lead - 1] *= t->shape[d];
      v->stride[v->lead - 1] = t->stride[d];
    } else {
      v->shape[v->lead] = t->shape[d];
      v->stride[v->lead] = t->stride[d];
      v->lead++;
    }
  }
  if (v->rows == 0 || v->cols == 0) v->lead = 0;
  return VDIT_OK;
}

vdit_status ops_rows_output(const char *op, const char *name, const vdit_tensor *t, ops_rows *v) {
  VDIT_TRY(ops_rows_view(op, name, t, v));
  if (vdit_tensor_may_self_overlap(t))
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: output %s maps two elements to one address (a 0 stride?)", op,
                      name);
  return VDIT_OK;
}

vdit_status ops_check_shape(const char *op, const char *name, const vdit_tensor *t, const char *dims, int ndim,
                            const int64_t *want) {
  int same = t->ndim == ndim;
  for (int d = 0; same && d < ndim; d++) same = want[d] < 0 || t->shape[d] == want[d];
  if (same) return VDIT_OK;
  char want_text[VDIT_SHAPE_STRING_SIZE], got_text[VDIT_SHAPE_STRING_SIZE];
  size_t used = (size_t)snprintf(want_text, sizeof want_text, "(");
  for (int d = 0; d < ndim && used < sizeof want_text; d++) {
    if (want[d] < 0) used += (size_t)snprintf(want_text + used, sizeof want_text - used, "%s*", d ? ", " : "");
    else used += (size_t)snprintf(want_text + used, sizeof want_text - used, "%s%lld", d ? ", " : "", (long long)want[d]);
  }
  if (used < sizeof want_text) snprintf(want_text + used, sizeof want_text - used, ")");
  vdit_tensor_shape_string(t, got_text, sizeof got_text);
  return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: %s must be %s = %s, got %s", op, name, dims, want_text, got_text);
}

vdit_status ops_check_matrix(const char *op, const char *name, const ops_rows *v) {
  if (v->lead <= 1) return VDIT_OK;
  return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT,
                    "%s: %s's leading dims must merge into one row stride for the GEMM (copy it to a contiguous tensor)",
                    op, name);
}

vdit_status ops_check_mode(const char *op, vdit_grad_mode mode) {
  if (mode == VDIT_GRAD_OVERWRITE || mode == VDIT_GRAD_ACCUMULATE) return VDIT_OK;
  return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: invalid gradient mode %d (overwrite or accumulate)", op, (int)mode);
}

vdit_status ops_check_eps(const char *op, float eps) {
  if (eps >= 0 && isfinite(eps)) return VDIT_OK;
  return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: eps must be finite and >= 0, got %g", op, (double)eps);
}

vdit_status ops_vector(const char *op, const char *name, const vdit_tensor *t, const char *dims, int64_t n, int output,
                       float **data) {
  *data = NULL;
  if (!t) return VDIT_OK;
  ops_rows v;
  VDIT_TRY(output ? ops_rows_output(op, name, t, &v) : ops_rows_view(op, name, t, &v));
  VDIT_TRY(ops_check_shape(op, name, t, dims, 1, &n));
  *data = v.data;
  return VDIT_OK;
}
