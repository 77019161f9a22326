// vdit_ops_softmax_*: argument checks, then the CPU kernels (src/ops/cpu/softmax.c).
#include "ops/ops_internal.h"

vdit_status vdit_ops_softmax_forward(const vdit_tensor *x, vdit_tensor *y) {
  static const char op[] = "softmax";
  ops_rows xv, yv;
  VDIT_TRY(ops_rows_view(op, "x", x, &xv));
  VDIT_TRY(ops_rows_output(op, "y", y, &yv));
  VDIT_TRY(ops_check_shape(op, "y", y, "like x", x->ndim, x->shape));
  vdit_ops_cpu_softmax_forward(&xv, &yv);
  return VDIT_OK;
}

vdit_status vdit_ops_softmax_backward(const vdit_tensor *y, const vdit_tensor *dy, vdit_tensor *dx,
                                      vdit_grad_mode mode) {
  static const char op[] = "softmax backward";
  ops_rows yv, dyv, dxv;
  VDIT_TRY(ops_check_mode(op, mode));
  VDIT_TRY(ops_rows_view(op, "y", y, &yv));
  VDIT_TRY(ops_rows_view(op, "dy", dy, &dyv));
  VDIT_TRY(ops_check_shape(op, "dy", dy, "like y", y->ndim, y->shape));
  VDIT_TRY(ops_rows_output(op, "dx", dx, &dxv));
  VDIT_TRY(ops_check_shape(op, "dx", dx, "like y", y->ndim, y->shape));
  if (dx->data == dy->data && mode == VDIT_GRAD_ACCUMULATE)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: dx may be dy only when overwriting", op);
  vdit_ops_cpu_softmax_backward(&yv, &dyv, &dxv, mode == VDIT_GRAD_ACCUMULATE);
  return VDIT_OK;
}
