// Adaptive modulation and the gated residual on the CPU. Token views have B * S rows of C,
// parameter views B rows of C; token row r belongs to batch element r / S.
//   modulate:       y = x (1 + scale) + shift;   dx = dy (1 + scale),
//                   dscale = sum over S of dy x, dshift = sum over S of dy
//   gated residual: y = x + gate h;              dx = dy, dh = dy gate, dgate = sum over S of dy h
// Sums over S are in double (ops_column_sums).
#include <string.h>

#include "ops/ops_internal.h"

void vdit_ops_cpu_modulate_forward(const ops_rows *x, const ops_rows *scale, const ops_rows *shift,
                                   int64_t tokens_per_batch, const ops_rows *y) {
  const int64_t cols = x->cols;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < x->rows; r++) {
    const int64_t b = r / tokens_per_batch;
    const float *xr = ops_row(x, r), *sc = ops_row(scale, b), *sh = ops_row(shift, b);
    float *yr = ops_row(y, r); // may be xr
    for (int64_t j = 0; j < cols; j++) yr[j] = xr[j] * (1.0f + sc[j]) + sh[j];
  }
}

void vdit_ops_cpu_modulate_backward(const ops_rows *x, const ops_rows *scale, const ops_rows *dy,
                                    int64_t tokens_per_batch, const ops_rows *dx, const ops_rows *dscale,
                                    const ops_rows *dshift, int accumulate) {
  const int64_t cols = dy->cols, batch = dscale ? dscale->rows : dshift ? dshift->rows : 0;
  if (dx) {
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < dy->rows; r++) {
      const float *dyr = ops_row(dy, r), *sc = ops_row(scale, r / tokens_per_batch);
      float *dxr = ops_row(dx, r);
      for (int64_t j = 0; j < cols; j++) {
        const float v = dyr[j] * (1.0f + sc[j]);
        dxr[j] = accumulate ? dxr[j] + v : v;
      }
    }
  }
  for (int64_t b = 0; b < batch; b++) {
    if (dscale) ops_column_sums(dy, x, b * tokens_per_batch, tokens_per_batch, ops_row(dscale, b), accumulate);
    if (dshift) ops_column_sums(dy, NULL, b * tokens_per_batch, tokens_per_batch, ops_row(dshift, b), accumulate);
  }
}

void vdit_ops_cpu_gated_residual_forward(const ops_rows *x, const ops_rows *gate, const ops_rows *h,
                                         int64_t tokens_per_batch, const ops_rows *y) {
  const int64_t cols = x->cols;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < x->rows; r++) {
    const float *xr = ops_row(x, r), *g = ops_row(gate, r / tokens_per_batch), *hr = ops_row(h, r);
    float *yr = ops_row(y, r); // may be xr
    for (int64_t j = 0; j < cols; j++) yr[j] = xr[j] + g[j] * hr[j];
  }
}

void vdit_ops_cpu_gated_residual_backward(const ops_rows *gate, const ops_rows *h, const ops_rows *dy,
                                          int64_t tokens_per_batch, const ops_rows *dx, const ops_rows *dgate,
                                          const ops_rows *dh, int accumulate) {
  const int64_t cols = dy->cols, batch = dgate ? dgate->rows : 0;
  if (dx || dh) {
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < dy->rows; r++) {
      const float *dyr = ops_row(dy, r);
      if (dx) {
        float *dxr = ops_row(dx, r);
        if (accumulate)
          for (int64_t j = 0; j < cols; j++) dxr[j] += dyr[j];
        else if (dxr != dyr)
          memcpy(dxr, dyr, (size_t)cols * sizeof(float));
      }
      if (dh) {
        const float *g = ops_row(gate, r / tokens_per_batch);
        float *dhr = ops_row(dh, r);
        for (int64_t j = 0; j < cols; j++) {
          const float v = dyr[j] * g[j];
          dhr[j] = accumulate ? dhr[j] + v : v;
        }
      }
    }
  }
  if (dgate)
    for (int64_t b = 0; b < batch; b++)
      ops_column_sums(dy, h, b * tokens_per_batch, tokens_per_batch, ops_row(dgate, b), accumulate);
}
