// vdit_ops_rope_3d_*: argument checks, then the CPU kernel (src/ops/cpu/rope_3d.c).
#include <math.h>

#include "ops/ops_internal.h"

static vdit_status check(const char *op, const vdit_rope_3d *rope, const vdit_tensor *x, const char *name,
                         ops_rows *v) {
  if (!rope) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: rope is NULL", op);
  VDIT_TRY(ops_rows_view(op, name, x, v));
  if (x->ndim != 4)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: %s must be (B, S, H, D), got %d dims", op, name, x->ndim);
  if (rope->frames < 0 || rope->height < 0 || rope->width < 0 || rope->frame_offset < 0)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: grid %lld x %lld x %lld (frame offset %lld) must not be negative",
                      op, (long long)rope->frames, (long long)rope->height, (long long)rope->width,
                      (long long)rope->frame_offset);
  size_t grid = 0;
  if (!vdit_size_mul((size_t)rope->frames, (size_t)rope->height, &grid) ||
      !vdit_size_mul(grid, (size_t)rope->width, &grid) || grid != (size_t)x->shape[1])
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: %s has S = %lld tokens, not frames x height x width = %lld x %lld x %lld",
                      op, name, (long long)x->shape[1], (long long)rope->frames, (long long)rope->height,
                      (long long)rope->width);
  if (x->shape[3] % 2 != 0)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: head dim D = %lld must be even", op, (long long)x->shape[3]);
  if (!(rope->theta >= 0) || !isfinite(rope->theta))
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: theta must be finite and >= 0 (0 = 10000), got %g", op,
                      rope->theta);
  return VDIT_OK;
}

vdit_status vdit_ops_rope_3d_forward(const vdit_rope_3d *rope, const vdit_tensor *x, vdit_tensor *y) {
  static const char op[] = "rope_3d";
  ops_rows xv, yv;
  VDIT_TRY(check(op, rope, x, "x", &xv));
  VDIT_TRY(ops_rows_output(op, "y", y, &yv));
  VDIT_TRY(ops_check_shape(op, "y", y, "like x", 4, x->shape));
  if (xv.rows == 0 || xv.cols == 0) return VDIT_OK;
  return ops_rope_3d(op, rope, x->shape[2], &xv, &yv, 0, 0);
}

vdit_status vdit_ops_rope_3d_backward(const vdit_rope_3d *rope, const vdit_tensor *dy, vdit_tensor *dx,
                                      vdit_grad_mode mode) {
  static const char op[] = "rope_3d backward";
  ops_rows dyv, dxv;
  VDIT_TRY(ops_check_mode(op, mode));
  VDIT_TRY(check(op, rope, dy, "dy", &dyv));
  VDIT_TRY(ops_rows_output(op, "dx", dx, &dxv));
  VDIT_TRY(ops_check_shape(op, "dx", dx, "like dy", 4, dy->shape));
  if (dx->data == dy->data && mode == VDIT_GRAD_ACCUMULATE)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: dx may be dy only when overwriting", op);
  if (dyv.rows == 0 || dyv.cols == 0) return VDIT_OK;
  return ops_rope_3d(op, rope, dy->shape[2], &dyv, &dxv, 1, mode == VDIT_GRAD_ACCUMULATE);
}

// (B, S, H, D) with contiguous (H, D) as (B, S, H * D).
static vdit_status flat_heads(const char *op, const char *name, const vdit_tensor *t, vdit_tensor *flat) {
  if (t->stride[2] != t->shape[3] && t->shape[2] > 1)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: %s needs contiguous heads (stride of H = D)", op, name);
  *flat = *t;
  flat->ndim = 3;
  flat->shape[2] = t->shape[2] * t->shape[3];
  flat->stride[2] = 1;
  flat->allocation = NULL;
  return VDIT_OK;
}

vdit_status vdit_ops_rms_norm_rope_forward(const vdit_tensor *x, const vdit_tensor *weight, float eps,
                                           const vdit_rope_3d *rope, vdit_tensor *y) {
  static const char op[] = "rms_norm_rope";
  ops_rows xv, yv;
  VDIT_TRY(check(op, rope, x, "x", &xv));
  VDIT_TRY(ops_rows_output(op, "y", y, &yv));
  VDIT_TRY(ops_check_shape(op, "y", y, "like x", 4, x->shape));
  VDIT_TRY(ops_check_eps(op, eps));
  vdit_tensor xf, yf;
  VDIT_TRY(flat_heads(op, "x", x, &xf));
  VDIT_TRY(flat_heads(op, "y", y, &yf));
  if (xv.rows == 0 || xv.cols == 0) return VDIT_OK;
  if (x->device.type == VDIT_DEVICE_CUDA && vdit_tensor_is_contiguous(x) && vdit_tensor_is_contiguous(y)) {
    ops_rows xr, yr;
    VDIT_TRY(ops_rows_view(op, "x", &xf, &xr));
    VDIT_TRY(ops_rows_output(op, "y", &yf, &yr));
    VDIT_TRY(ops_check_shape(op, "weight", weight, "(H * D)", 1, &xr.cols));
    return ops_rms_norm_rope(op, rope, x->shape[2], &xr, weight, eps, &yr);
  }
  // The two ops in turn (the CPU, or strided GPU tensors).
  VDIT_TRY(vdit_ops_rms_norm_forward(&xf, weight, eps, &yf));
  return vdit_ops_rope_3d_forward(rope, y, y);
}
