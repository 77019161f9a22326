// vdit_ops_rms_norm_*: argument checks, then the CPU kernels (src/ops/cpu/rms_norm.c).
#include "ops/ops_internal.h"

vdit_status vdit_ops_rms_norm_forward(const vdit_tensor *x, const vdit_tensor *weight, float eps, vdit_tensor *y) {
  static const char op[] = "rms_norm";
  ops_rows xv, yv;
  float *w;
  VDIT_TRY(ops_rows_view(op, "x", x, &xv));
  VDIT_TRY(ops_rows_output(op, "y", y, &yv));
  VDIT_TRY(ops_check_shape(op, "y", y, "like x", x->ndim, x->shape));
  VDIT_TRY(ops_vector(op, "weight", weight, "(C)", xv.cols, 0, &w));
  VDIT_TRY(ops_check_eps(op, eps));
  (void)w;
  return ops_rms_norm_forward(op, &xv, weight, eps, &yv);
}

vdit_status vdit_ops_rms_norm_backward(const vdit_tensor *x, const vdit_tensor *weight, float eps,
                                       const vdit_tensor *dy, vdit_tensor *dx, vdit_tensor *dweight,
                                       vdit_grad_mode mode) {
  static const char op[] = "rms_norm backward";
  VDIT_TRY(ops_check_mode(op, mode));
  ops_rows xv, dyv, dxv;
  float *w, *dw;
  VDIT_TRY(ops_rows_view(op, "x", x, &xv));
  VDIT_TRY(ops_rows_view(op, "dy", dy, &dyv));
  VDIT_TRY(ops_check_shape(op, "dy", dy, "like x", x->ndim, x->shape));
  if (dx) {
    VDIT_TRY(ops_rows_output(op, "dx", dx, &dxv));
    VDIT_TRY(ops_check_shape(op, "dx", dx, "like x", x->ndim, x->shape));
  }
  VDIT_TRY(ops_vector(op, "weight", weight, "(C)", xv.cols, 0, &w));
  if (dweight && !weight)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: dweight given for an RMS norm without weight", op);
  VDIT_TRY(ops_vector(op, "dweight", dweight, "(C)", xv.cols, 1, &dw));
  VDIT_TRY(ops_check_eps(op, eps));
  (void)w;
  (void)dw;
  return ops_rms_norm_backward(op, &xv, weight, eps, &dyv, dx ? &dxv : NULL, dweight, mode == VDIT_GRAD_ACCUMULATE);
}
