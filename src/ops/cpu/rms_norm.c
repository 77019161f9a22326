// RMS norm over the last dim on the CPU. Per row (rows split over threads):
//   rstd = 1 / sqrt(sum x^2 / C + eps) (double)
//   forward:  y = x rstd w
//   backward: g = dy w,  dx = rstd (g - x rstd^2 sum(g x) / C)
// then, over columns: dw = sum over rows of dy x rstd (double).
#include <math.h>

#include "ops/ops_internal.h"

static double rstd_of(const float *x, int64_t cols, float eps) {
  return 1.0 / sqrt(ops_dot(x, x, cols) / (double)cols + (double)eps);
}

void vdit_ops_cpu_rms_norm_forward(const ops_rows *x, const float *weight, float eps, const ops_rows *y) {
  const int64_t cols = x->cols;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < x->rows; r++) {
    const float *xr = ops_row(x, r);
    float *yr = ops_row(y, r); // may be xr
    const float rstd = (float)rstd_of(xr, cols, eps);
    if (weight)
      for (int64_t j = 0; j < cols; j++) yr[j] = xr[j] * rstd * weight[j];
    else
      for (int64_t j = 0; j < cols; j++) yr[j] = xr[j] * rstd;
  }
}

vdit_status vdit_ops_cpu_rms_norm_backward(const ops_rows *x, const float *weight, float eps, const ops_rows *dy,
                                           const ops_rows *dx, float *dweight, int accumulate) {
  const int64_t rows = x->rows, cols = x->cols;
  double *rstds = NULL;
  if (dweight) {
    rstds = vdit_host_alloc((size_t)rows * sizeof *rstds, VDIT_HOST_ALIGNMENT);
    if (!rstds && rows > 0)
      return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "rms_norm backward: no memory for %lld row statistics",
                        (long long)rows);
  }
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    const float *restrict xr = ops_row(x, r);
    const double rstd_d = rstd_of(xr, cols, eps);
    if (rstds) rstds[r] = rstd_d;
    if (!dx) continue;
    const float *restrict dyr = ops_row(dy, r);
    float *restrict dxr = ops_row(dx, r);
    double lane[8] = {0}; // sum g x
    int64_t j = 0;
    for (; j + 8 <= cols; j += 8)
      for (int l = 0; l < 8; l++) {
        const float g = weight ? dyr[j + l] * weight[j + l] : dyr[j + l];
        lane[l] += (double)g * (double)xr[j + l];
      }
    for (int l = 0; j < cols; j++, l++) {
      const float g = weight ? dyr[j] * weight[j] : dyr[j];
      lane[l] += (double)g * (double)xr[j];
    }
    double sum_gx = 0;
    for (int l = 0; l < 8; l++) sum_gx += lane[l];
    const float rstd = (float)rstd_d, k = (float)(rstd_d * rstd_d * sum_gx / (double)cols);
    for (j = 0; j < cols; j++) {
      const float g = weight ? dyr[j] * weight[j] : dyr[j];
      const float v = rstd * (g - xr[j] * k);
      dxr[j] = accumulate ? dxr[j] + v : v;
    }
  }
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
        const double rstd = rstds[r];
        for (int64_t c = 0; c < width; c++) sum[c] += (double)dyr[c] * ((double)xr[c] * rstd);
      }
      for (int64_t c = 0; c < width; c++)
        dweight[c0 + c] = accumulate ? (float)((double)dweight[c0 + c] + sum[c]) : (float)sum[c];
    }
  }
  vdit_host_free(rstds);
  return VDIT_OK;
}
