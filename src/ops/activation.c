// vdit_ops_gelu_tanh_* and vdit_ops_silu_*: argument checks, then the CPU kernels
// (src/ops/cpu/activation.c).
#include "ops/ops_internal.h"

static vdit_status forward(const char *op, ops_activation activation, const vdit_tensor *x, vdit_tensor *y) {
  ops_rows xv, yv;
  VDIT_TRY(ops_rows_view(op, "x", x, &xv));
  VDIT_TRY(ops_rows_output(op, "y", y, &yv));
  VDIT_TRY(ops_check_shape(op, "y", y, "like x", x->ndim, x->shape));
  return ops_activation_forward(op, activation, &xv, &yv);
}

static vdit_status backward(const char *op, ops_activation activation, const vdit_tensor *x, const vdit_tensor *dy,
                            vdit_tensor *dx, vdit_grad_mode mode) {
  ops_rows xv, dyv, dxv;
  VDIT_TRY(ops_check_mode(op, mode));
  VDIT_TRY(ops_rows_view(op, "x", x, &xv));
  VDIT_TRY(ops_rows_view(op, "dy", dy, &dyv));
  VDIT_TRY(ops_check_shape(op, "dy", dy, "like x", x->ndim, x->shape));
  if (!dx) return VDIT_OK;
  VDIT_TRY(ops_rows_output(op, "dx", dx, &dxv));
  VDIT_TRY(ops_check_shape(op, "dx", dx, "like x", x->ndim, x->shape));
  if (dx->data == dy->data && mode == VDIT_GRAD_ACCUMULATE)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: dx may be dy only when overwriting", op);
  return ops_activation_backward(op, activation, &xv, &dyv, &dxv, mode == VDIT_GRAD_ACCUMULATE);
}

vdit_status vdit_ops_gelu_tanh_forward(const vdit_tensor *x, vdit_tensor *y) {
  return forward("gelu_tanh", OPS_ACTIVATION_GELU_TANH, x, y);
}

vdit_status vdit_ops_gelu_tanh_backward(const vdit_tensor *x, const vdit_tensor *dy, vdit_tensor *dx,
                                        vdit_grad_mode mode) {
  return backward("gelu_tanh backward", OPS_ACTIVATION_GELU_TANH, x, dy, dx, mode);
}

vdit_status vdit_ops_silu_forward(const vdit_tensor *x, vdit_tensor *y) {
  return forward("silu", OPS_ACTIVATION_SILU, x, y);
}

vdit_status vdit_ops_silu_backward(const vdit_tensor *x, const vdit_tensor *dy, vdit_tensor *dx,
                                   vdit_grad_mode mode) {
  return backward("silu backward", OPS_ACTIVATION_SILU, x, dy, dx, mode);
}
