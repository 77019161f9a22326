// Softmax over the last dim on the CPU (rows split over threads):
//   forward:  m = max x, e = exp(x - m) (float, ops_exp), y = e / sum e (sum in double)
//   backward: dx = y (dy - sum(dy y))   (in double, rounded once)
// A row of -inf everywhere gives NaN, as torch does.
#include "ops/ops_internal.h"

void vdit_ops_cpu_softmax_forward(const ops_rows *x, const ops_rows *y) {
  const int64_t cols = x->cols;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < x->rows; r++) {
    const float *xr = ops_row(x, r);
    float *yr = ops_row(y, r); // may be xr
    float m = -INFINITY;
    for (int64_t j = 0; j < cols; j++) m = xr[j] > m ? xr[j] : m;
    for (int64_t j = 0; j < cols; j++) yr[j] = ops_exp(xr[j] - m);
    const float inverse = (float)(1.0 / ops_sum(yr, cols));
    for (int64_t j = 0; j < cols; j++) yr[j] *= inverse;
  }
}

void vdit_ops_cpu_softmax_backward(const ops_rows *y, const ops_rows *dy, const ops_rows *dx, int accumulate) {
  const int64_t cols = y->cols;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < y->rows; r++) {
    const float *yr = ops_row(y, r), *dyr = ops_row(dy, r);
    float *dxr = ops_row(dx, r); // may be dyr
    const double dot = ops_dot(dyr, yr, cols);
    for (int64_t j = 0; j < cols; j++) {
      // In double: for a near one-hot row dy - dot cancels, and a float dot would leave
      // its rounding in the result.
      const float v = (float)((double)yr[j] * ((double)dyr[j] - dot));
      dxr[j] = accumulate ? dxr[j] + v : v;
    }
  }
}
