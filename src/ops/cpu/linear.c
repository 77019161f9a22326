// Linear layer on the CPU through the fp32 GEMM (gemm.c):
//   forward   y (N, out)  = x (N, in) W^T          gemm(no, trans)  + bias per row
//   backward  dx (N, in)  = dy (N, out) W           gemm(no, no)
//             dW (out, in) = dy^T x                 gemm(trans, no), summed over N in fp32
//             db (out)    = column sums of dy       (double)
#include "ops/ops_internal.h"

vdit_status vdit_ops_cpu_linear_forward(const ops_rows *x, const ops_rows *weight, const float *bias,
                                        const ops_rows *y) {
  const int64_t n = x->rows, in = x->cols, out = weight->rows;
  VDIT_TRY(vdit_ops_cpu_gemm(0, 1, n, out, in, x->data, ops_rows_ld(x), weight->data, ops_rows_ld(weight), y->data,
                             ops_rows_ld(y), 0));
  if (bias) {
    const int64_t ldy = ops_rows_ld(y);
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < n; r++) {
      float *restrict yr = y->data + r * ldy;
      for (int64_t j = 0; j < out; j++) yr[j] += bias[j];
    }
  }
  return VDIT_OK;
}

vdit_status vdit_ops_cpu_linear_backward(const ops_rows *x, const ops_rows *weight, const ops_rows *dy,
                                         const ops_rows *dx, const ops_rows *dweight, float *dbias, int accumulate) {
  const int64_t n = dy->rows, out = dy->cols;
  if (dx)
    VDIT_TRY(vdit_ops_cpu_gemm(0, 0, n, dx->cols, out, dy->data, ops_rows_ld(dy), weight->data, ops_rows_ld(weight),
                               dx->data, ops_rows_ld(dx), accumulate));
  if (dweight)
    VDIT_TRY(vdit_ops_cpu_gemm(1, 0, out, dweight->cols, n, dy->data, ops_rows_ld(dy), x->data, ops_rows_ld(x),
                               dweight->data, ops_rows_ld(dweight), accumulate));
  if (dbias) ops_column_sums(dy, NULL, 0, n, dbias, accumulate);
  return VDIT_OK;
}
