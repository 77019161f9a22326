// vdit_ops_linear_*: argument checks, then the CPU kernels (src/ops/cpu/linear.c).
#include "ops/ops_internal.h"

// want = t's leading dims followed by `last`.
static void leading_with(const vdit_tensor *t, int64_t last, int64_t *want) {
  for (int d = 0; d < t->ndim - 1; d++) want[d] = t->shape[d];
  want[t->ndim - 1] = last;
}

vdit_status vdit_ops_linear_forward(const vdit_tensor *x, const vdit_tensor *weight, const vdit_tensor *bias,
                                    vdit_tensor *y) {
  static const char op[] = "linear";
  ops_rows xv, wv, yv, bv;
  VDIT_TRY(ops_rows_view(op, "x", x, &xv));
  VDIT_TRY(ops_rows_view(op, "weight", weight, &wv));
  VDIT_TRY(ops_rows_output(op, "y", y, &yv));
  const int64_t in = xv.cols;
  VDIT_TRY(ops_check_shape(op, "weight", weight, "(out, in)", 2, (int64_t[]){-1, in}));
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
  if (yv.rows == 0 || out == 0) return VDIT_OK;
  (void)bv;
  return ops_linear_forward(op, &xv, &wv, bias, &yv);
}

vdit_status vdit_ops_linear_backward(const vdit_tensor *x, const vdit_tensor *weight, const vdit_tensor *dy,
                                     vdit_tensor *dx, vdit_tensor *dweight, vdit_tensor *dbias, vdit_grad_mode mode) {
  static const char op[] = "linear backward";
  VDIT_TRY(ops_check_mode(op, mode));
  ops_rows dyv, xv, wv, dxv, dwv, dbv;
  VDIT_TRY(ops_rows_view(op, "dy", dy, &dyv));
  VDIT_TRY(ops_check_matrix(op, "dy", &dyv));
  const int64_t out = dyv.cols;
  int64_t want[VDIT_MAX_DIMS];
  if (dx) {
    if (!weight) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: dx needs weight", op);
    VDIT_TRY(ops_rows_view(op, "weight", weight, &wv));
    VDIT_TRY(ops_check_shape(op, "weight", weight, "(out, in)", 2, (int64_t[]){out, -1}));
    const int64_t in = weight->shape[1];
    VDIT_TRY(ops_rows_output(op, "dx", dx, &dxv));
    leading_with(dy, in, want);
    VDIT_TRY(ops_check_shape(op, "dx", dx, "(..., in)", dy->ndim, want));
    VDIT_TRY(ops_check_matrix(op, "dx", &dxv));
  }
  if (dweight) {
    if (!x) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: dweight needs x", op);
    VDIT_TRY(ops_rows_view(op, "x", x, &xv));
    leading_with(dy, xv.cols, want);
    VDIT_TRY(ops_check_shape(op, "x", x, "(..., in) with dy's leading dims", dy->ndim, want));
    VDIT_TRY(ops_check_matrix(op, "x", &xv));
    VDIT_TRY(ops_rows_output(op, "dweight", dweight, &dwv));
    VDIT_TRY(ops_check_shape(op, "dweight", dweight, "(out, in)", 2, (int64_t[]){out, xv.cols}));
  }
  if (dbias) {
    VDIT_TRY(ops_rows_output(op, "dbias", dbias, &dbv));
    VDIT_TRY(ops_check_shape(op, "dbias", dbias, "(out)", 1, (int64_t[]){out}));
  }
  (void)dbv;
  return ops_linear_backward(op, dweight ? &xv : NULL, dx ? &wv : NULL, &dyv, dx ? &dxv : NULL, dweight ? &dwv : NULL,
                             dbias, mode == VDIT_GRAD_ACCUMULATE);
}
