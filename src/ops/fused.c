// The fused entry points and small helpers of include/vdit/ops.h: argument checks, then the
// device dispatch (src/ops/dispatch.c).
#include "ops/ops_internal.h"

// want = t's leading dims followed by `last`.
static void leading_with(const vdit_tensor *t, int64_t last, int64_t *want) {
  for (int d = 0; d < t->ndim - 1; d++) want[d] = t->shape[d];
  want[t->ndim - 1] = last;
}

vdit_status vdit_ops_linear_gelu_forward(const vdit_tensor *x, const vdit_tensor *weight, const vdit_tensor *bias,
                                         vdit_tensor *pre, vdit_tensor *y) {
  static const char op[] = "linear_gelu";
  ops_rows xv, wv, yv, pv, bv;
  VDIT_TRY(ops_rows_view(op, "x", x, &xv));
  VDIT_TRY(ops_rows_view(op, "weight", weight, &wv));
  VDIT_TRY(ops_rows_output(op, "y", y, &yv));
  VDIT_TRY(ops_check_shape(op, "weight", weight, "(out, in)", 2, (int64_t[]){-1, xv.cols}));
  const int64_t out = weight->shape[0];
  if (bias) {
    VDIT_TRY(ops_rows_view(op, "bias", bias, &bv));
    VDIT_TRY(ops_check_shape(op, "bias", bias, "(out)", 1, (int64_t[]){out}));
  }
  int64_t want[VDIT_MAX_DIMS];
  leading_with(x, out, want);
  VDIT_TRY(ops_check_shape(op, "y", y, "(..., out)", x->ndim, want));
  VDIT_TRY(ops_check_matrix(op, "x", &xv));
  VDIT_TRY(ops_check_matrix(op, "y", &yv));
  if (pre) {
    VDIT_TRY(ops_rows_output(op, "pre", pre, &pv));
    VDIT_TRY(ops_check_shape(op, "pre", pre, "(..., out)", x->ndim, want));
    VDIT_TRY(ops_check_matrix(op, "pre", &pv));
  }
  if (yv.rows == 0 || out == 0) return VDIT_OK;
  return ops_linear_gelu_forward(op, &xv, &wv, bias, pre ? &pv : NULL, &yv);
}

vdit_status vdit_ops_linear_dgelu_backward(const vdit_tensor *weight, const vdit_tensor *dy, const vdit_tensor *pre,
                                           vdit_tensor *dx) {
  static const char op[] = "linear_dgelu backward";
  ops_rows wv, dyv, pv, dxv;
  VDIT_TRY(ops_rows_view(op, "dy", dy, &dyv));
  VDIT_TRY(ops_check_matrix(op, "dy", &dyv));
  VDIT_TRY(ops_rows_view(op, "weight", weight, &wv));
  VDIT_TRY(ops_check_shape(op, "weight", weight, "(out, in)", 2, (int64_t[]){dyv.cols, -1}));
  int64_t want[VDIT_MAX_DIMS];
  leading_with(dy, weight->shape[1], want);
  VDIT_TRY(ops_rows_view(op, "pre", pre, &pv));
  VDIT_TRY(ops_check_shape(op, "pre", pre, "(..., in)", dy->ndim, want));
  VDIT_TRY(ops_check_matrix(op, "pre", &pv));
  VDIT_TRY(ops_rows_output(op, "dx", dx, &dxv));
  VDIT_TRY(ops_check_shape(op, "dx", dx, "(..., in)", dy->ndim, want));
  VDIT_TRY(ops_check_matrix(op, "dx", &dxv));
  if (dx->data == pre->data) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: dx must not be pre", op);
  if (dxv.rows == 0 || dxv.cols == 0) return VDIT_OK;
  return ops_linear_dgelu_backward(op, &wv, &dyv, &pv, &dxv);
}

vdit_status vdit_ops_layer_norm_modulate_forward(const vdit_tensor *x, float eps, const vdit_tensor *scale,
                                                 const vdit_tensor *shift, vdit_tensor *y) {
  static const char op[] = "layer_norm_modulate";
  ops_rows xv, yv, scv, shv;
  VDIT_TRY(ops_rows_view(op, "x", x, &xv));
  if (x->ndim != 3)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: x must be (B, S, C), got %d dims", op, x->ndim);
  VDIT_TRY(ops_rows_output(op, "y", y, &yv));
  VDIT_TRY(ops_check_shape(op, "y", y, "like x", 3, x->shape));
  VDIT_TRY(ops_rows_view(op, "scale", scale, &scv));
  VDIT_TRY(ops_check_shape(op, "scale", scale, "(B, C)", 2, (int64_t[]){x->shape[0], x->shape[2]}));
  VDIT_TRY(ops_rows_view(op, "shift", shift, &shv));
  VDIT_TRY(ops_check_shape(op, "shift", shift, "(B, C)", 2, (int64_t[]){x->shape[0], x->shape[2]}));
  VDIT_TRY(ops_check_eps(op, eps));
  return ops_layer_norm_forward(op, &xv, NULL, NULL, eps, &scv, &shv, x->shape[1], &yv);
}

vdit_status vdit_ops_add(const vdit_tensor *a, const vdit_tensor *b, vdit_tensor *y) {
  static const char op[] = "add";
  ops_rows av, bv, yv;
  VDIT_TRY(ops_rows_view(op, "a", a, &av));
  VDIT_TRY(ops_rows_view(op, "b", b, &bv));
  VDIT_TRY(ops_rows_output(op, "y", y, &yv));
  VDIT_TRY(ops_check_shape(op, "y", y, "like a", a->ndim, a->shape));
  const int broadcast = b->ndim == 1 && a->ndim > 1;
  if (broadcast) VDIT_TRY(ops_check_shape(op, "b", b, "(n)", 1, &av.cols));
  else VDIT_TRY(ops_check_shape(op, "b", b, "like a", a->ndim, a->shape));
  return ops_add(op, &av, &bv, broadcast, &yv);
}

vdit_status vdit_ops_sum_rows(const vdit_tensor *x, vdit_tensor *y, vdit_grad_mode mode) {
  static const char op[] = "sum_rows";
  VDIT_TRY(ops_check_mode(op, mode));
  ops_rows xv, yv;
  VDIT_TRY(ops_rows_view(op, "x", x, &xv));
  VDIT_TRY(ops_rows_output(op, "y", y, &yv));
  VDIT_TRY(ops_check_shape(op, "y", y, "(n)", 1, &xv.cols));
  return ops_sum_rows(op, &xv, &yv, mode == VDIT_GRAD_ACCUMULATE);
}

vdit_status vdit_ops_zero(vdit_tensor *t) {
  static const char op[] = "zero";
  ops_rows v;
  VDIT_TRY(ops_rows_output(op, "t", t, &v));
  return ops_zero(op, &v);
}
