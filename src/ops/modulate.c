// vdit_ops_modulate_* and vdit_ops_gated_residual_*: argument checks, then the CPU kernels
// (src/ops/cpu/modulate.c). Tokens are (B, S, C), per-batch parameters (B, C).
#include "ops/ops_internal.h"

// A (B, S, C) token tensor; the first one checked sets *bsc, the others must match it.
static vdit_status tokens_of(const char *op, const char *name, const vdit_tensor *t, int output, int64_t bsc[3],
                             int first, ops_rows *v) {
  VDIT_TRY(output ? ops_rows_output(op, name, t, v) : ops_rows_view(op, name, t, v));
  if (first) {
    if (t->ndim != 3)
      return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: %s must be (B, S, C), got %d dims", op, name, t->ndim);
    for (int d = 0; d < 3; d++) bsc[d] = t->shape[d];
    return VDIT_OK;
  }
  return ops_check_shape(op, name, t, "(B, S, C)", 3, bsc);
}

static vdit_status params_of(const char *op, const char *name, const vdit_tensor *t, int output, const int64_t bsc[3],
                             ops_rows *v) {
  VDIT_TRY(output ? ops_rows_output(op, name, t, v) : ops_rows_view(op, name, t, v));
  return ops_check_shape(op, name, t, "(B, C)", 2, (int64_t[]){bsc[0], bsc[2]});
}

vdit_status vdit_ops_modulate_forward(const vdit_tensor *x, const vdit_tensor *scale, const vdit_tensor *shift,
                                      vdit_tensor *y) {
  static const char op[] = "modulate";
  int64_t bsc[3];
  ops_rows xv, scv, shv, yv;
  VDIT_TRY(tokens_of(op, "x", x, 0, bsc, 1, &xv));
  VDIT_TRY(params_of(op, "scale", scale, 0, bsc, &scv));
  VDIT_TRY(params_of(op, "shift", shift, 0, bsc, &shv));
  VDIT_TRY(tokens_of(op, "y", y, 1, bsc, 0, &yv));
  return ops_modulate_forward(op, &xv, &scv, &shv, bsc[1], &yv);
}

vdit_status vdit_ops_modulate_backward(const vdit_tensor *x, const vdit_tensor *scale, const vdit_tensor *dy,
                                       vdit_tensor *dx, vdit_tensor *dscale, vdit_tensor *dshift,
                                       vdit_grad_mode mode) {
  static const char op[] = "modulate backward";
  VDIT_TRY(ops_check_mode(op, mode));
  int64_t bsc[3];
  ops_rows dyv, xv, scv, dxv, dscv, dshv;
  VDIT_TRY(tokens_of(op, "dy", dy, 0, bsc, 1, &dyv));
  if (dx) {
    if (!scale) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: dx needs scale", op);
    VDIT_TRY(params_of(op, "scale", scale, 0, bsc, &scv));
    VDIT_TRY(tokens_of(op, "dx", dx, 1, bsc, 0, &dxv));
  }
  if (dscale) {
    if (!x) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: dscale needs x", op);
    VDIT_TRY(tokens_of(op, "x", x, 0, bsc, 0, &xv));
    VDIT_TRY(params_of(op, "dscale", dscale, 1, bsc, &dscv));
  }
  if (dshift) VDIT_TRY(params_of(op, "dshift", dshift, 1, bsc, &dshv));
  return ops_modulate_backward(op, dscale ? &xv : NULL, dx ? &scv : NULL, &dyv, bsc[1], dx ? &dxv : NULL,
                               dscale ? &dscv : NULL, dshift ? &dshv : NULL, mode == VDIT_GRAD_ACCUMULATE);
}

vdit_status vdit_ops_gated_residual_forward(const vdit_tensor *x, const vdit_tensor *gate, const vdit_tensor *h,
                                            vdit_tensor *y) {
  static const char op[] = "gated_residual";
  int64_t bsc[3];
  ops_rows xv, gv, hv, yv;
  VDIT_TRY(tokens_of(op, "x", x, 0, bsc, 1, &xv));
  VDIT_TRY(params_of(op, "gate", gate, 0, bsc, &gv));
  VDIT_TRY(tokens_of(op, "h", h, 0, bsc, 0, &hv));
  VDIT_TRY(tokens_of(op, "y", y, 1, bsc, 0, &yv));
  return ops_gated_residual_forward(op, &xv, &gv, &hv, bsc[1], &yv);
}

vdit_status vdit_ops_gated_residual_backward(const vdit_tensor *gate, const vdit_tensor *h, const vdit_tensor *dy,
                                             vdit_tensor *dx, vdit_tensor *dgate, vdit_tensor *dh,
                                             vdit_grad_mode mode) {
  static const char op[] = "gated_residual backward";
  VDIT_TRY(ops_check_mode(op, mode));
  int64_t bsc[3];
  ops_rows dyv, gv, hv, dxv, dgv, dhv;
  VDIT_TRY(tokens_of(op, "dy", dy, 0, bsc, 1, &dyv));
  if (dx) {
    VDIT_TRY(tokens_of(op, "dx", dx, 1, bsc, 0, &dxv));
    if (dx->data == dy->data && mode == VDIT_GRAD_ACCUMULATE)
      return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: dx may be dy only when overwriting", op);
  }
  if (dh) {
    if (!gate) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: dh needs gate", op);
    VDIT_TRY(params_of(op, "gate", gate, 0, bsc, &gv));
    VDIT_TRY(tokens_of(op, "dh", dh, 1, bsc, 0, &dhv));
  }
  if (dgate) {
    if (!h) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: dgate needs h", op);
    VDIT_TRY(tokens_of(op, "h", h, 0, bsc, 0, &hv));
    VDIT_TRY(params_of(op, "dgate", dgate, 1, bsc, &dgv));
  }
  return ops_gated_residual_backward(op, dh ? &gv : NULL, dgate ? &hv : NULL, &dyv, bsc[1], dx ? &dxv : NULL,
                                     dgate ? &dgv : NULL, dh ? &dhv : NULL, mode == VDIT_GRAD_ACCUMULATE);
}
