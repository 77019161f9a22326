// Layer norm over the last dim on the CPU. Per row (rows split over threads):
//   mean = sum x / C, var = sum (x - mean)^2 / C (two passes, double), rstd = 1 / sqrt(var + eps)
//   forward:  y = (x - mean) rstd w + b
//   backward: xhat = (x - mean) rstd, g = dy w,
//             dx = rstd (g - sum(g) / C - xhat sum(g xhat) / C)
// then, over columns: dw = sum over rows of dy xhat, db = sum over rows of dy (double).
// The backward recomputes the statistics with the forward's own function.
#include <math.h>

#include "ops/ops_internal.h"

typedef struct row_stats {
  double mean, rstd;
} row_stats;

static row_stats stats_of(const float *x, int64_t cols, float eps) {
  row_stats s;
  s.mean = ops_sum(x, cols) / (double)cols;
  const double var = ops_sum_squared_deviation(x, cols, s.mean) / (double)cols;
  s.rstd = 1.0 / sqrt(var + (double)eps);
  return s;
}

void vdit_ops_cpu_layer_norm_forward(const ops_rows *x, const float *weight, const float *bias, float eps,
                                     const ops_rows *y) {
  const int64_t cols = x->cols;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < x->rows; r++) {
    const float *xr = ops_row(x, r);
    float *yr = ops_row(y, r); // may be xr
    const row_stats s = stats_of(xr, cols, eps);
    const float mean = (float)s.mean, rstd = (float)s.rstd;
    for (int64_t j = 0; j < cols; j++) {
      float v = (xr[j] - mean) * rstd;
      if (weight) v *= weight[j];
      if (bias) v += bias[j];
      yr[j] = v;
    }
  }
}

vdit_status vdit_ops_cpu_layer_norm_backward(const ops_rows *x, const float *weight, float eps, const ops_rows *dy,
                                             const ops_rows *dx, float *dweight, float *dbias, int accumulate) {
  const int64_t rows = x->rows, cols = x->cols;
  row_stats *stats = NULL;
  if (dweight) {
    stats = vdit_host_alloc((size_t)rows * sizeof *stats, VDIT_HOST_ALIGNMENT);
    if (!stats && rows > 0)
      return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "layer_norm backward: no memory for %lld row statistics",
                        (long long)rows);
  }
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    const float *restrict xr = ops_row(x, r);
    const row_stats s = stats_of(xr, cols, eps);
    if (stats) stats[r] = s;
    if (!dx) continue;
    const float *restrict dyr = ops_row(dy, r);
    float *restrict dxr = ops_row(dx, r);
    const float mean = (float)s.mean, rstd = (float)s.rstd;
    // sum g and sum g xhat in 8 double lanes
    double lane_g[8] = {0}, lane_gx[8] = {0};
    int64_t j = 0;
    for (; j + 8 <= cols; j += 8)
      for (int l = 0; l < 8; l++) {
        const float g = weight ? dyr[j + l] * weight[j + l] : dyr[j + l];
        const float xhat = (xr[j + l] - mean) * rstd;
        lane_g[l] += (double)g;
        lane_gx[l] += (double)g * (double)xhat;
      }
    for (int l = 0; j < cols; j++, l++) {
      const float g = weight ? dyr[j] * weight[j] : dyr[j];
      const float xhat = (xr[j] - mean) * rstd;
      lane_g[l] += (double)g;
      lane_gx[l] += (double)g * (double)xhat;
    }
    double sum_g = 0, sum_gx = 0;
    for (int l = 0; l < 8; l++) sum_g += lane_g[l], sum_gx += lane_gx[l];
    const float mean_g = (float)(sum_g / (double)cols), mean_gx = (float)(sum_gx / (double)cols);
    for (j = 0; j < cols; j++) {
      const float g = weight ? dyr[j] * weight[j] : dyr[j];
      const float xhat = (xr[j] - mean) * rstd;
      const float v = rstd * (g - mean_g - xhat * mean_gx);
      dxr[j] = accumulate ? dxr[j] + v : v;
    }
  }
  if (dbias) ops_column_sums(dy, NULL, 0, rows, dbias, accumulate);
  if (dweight) {
    enum { BLOCK = 256 };
    const int64_t blocks = (cols + BLOCK - 1) / BLOCK;
#pragma omp parallel for schedule(static)
    for (int64_t block = 0; block < blocks; block++) {
      const int64_t c0 = block * BLOCK, width = cols - c0 < BLOCK ? cols - c0 : BLOCK;
      double sum[BLOCK] = {0};
      for (int64_t r = 0; r < rows; r++) {
        const float *restrict xr = ops_row(x, r) + c0;
        const float *restrict dyr = ops_row(dy, r) + c0;
        const double mean = stats[r].mean, rstd = stats[r].rstd;
        for (int64_t j = 0; j < width; j++) sum[j] += (double)dyr[j] * (((double)xr[j] - mean) * rstd);
      }
      for (int64_t j = 0; j < width; j++)
        dweight[c0 + j] = accumulate ? (float)((double)dweight[c0 + j] + sum[j]) : (float)sum[j];
    }
  }
  vdit_host_free(stats);
  return VDIT_OK;
}
