// vdit_ops_softmax_*: argument checks, then the CPU kernels (src/ops/cpu/softmax.c). No GPU
// kernel (the model does not call softmax; attention has its own).
#include "ops/ops_internal.h"

// Every tensor on the CPU: GPU tensors are refused.
static vdit_status cpu_only(const char *op, int count, const ops_rows *const *rows) {
  for (int i = 0; i < count; i++)
    if (rows[i]->device.type != VDIT_DEVICE_CPU)
      return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "%s: there is no GPU softmax (use CPU tensors)", op);
  return VDIT_OK;
}

vdit_status vdit_ops_softmax_forward(const vdit_tensor *x, vdit_tensor *y) {
  static const char op[] = "softmax";
  ops_rows xv, yv;
  VDIT_TRY(ops_rows_view(op, "x", x, &xv));
  VDIT_TRY(ops_rows_output(op, "y", y, &yv));
  VDIT_TRY(ops_check_shape(op, "y", y, "like x", x->ndim, x->shape));
  VDIT_TRY(cpu_only(op, 2, (const ops_rows *const[]){&xv, &yv}));
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
  VDIT_TRY(cpu_only(op, 3, (const ops_rows *const[]){&yv, &dyv, &dxv}));
  vdit_ops_cpu_softmax_backward(&yv, &dyv, &dxv, mode == VDIT_GRAD_ACCUMULATE);
  return VDIT_OK;
}
