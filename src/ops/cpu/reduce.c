// Sums in double for the CPU ops: row sums in 8 independent lanes (so the loops vectorise
// without reassociation) and column sums over rows split by column ranges across threads
// (each column summed by one thread in row order: the result does not depend on the
// thread count).
#include <string.h>

#include "ops/ops_internal.h"

enum { LANES = 8, COLUMN_BLOCK = 256 };

static double lanes_total(const double *lane) {
  return ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
}

double ops_sum(const float *x, int64_t n) {
  double lane[LANES] = {0};
  int64_t i = 0;
  for (; i + LANES <= n; i += LANES)
    for (int l = 0; l < LANES; l++) lane[l] += (double)x[i + l];
  for (int l = 0; i < n; i++, l++) lane[l] += (double)x[i];
  return lanes_total(lane);
}

double ops_dot(const float *x, const float *y, int64_t n) {
  double lane[LANES] = {0};
  int64_t i = 0;
  for (; i + LANES <= n; i += LANES)
    for (int l = 0; l < LANES; l++) lane[l] += (double)x[i + l] * (double)y[i + l];
  for (int l = 0; i < n; i++, l++) lane[l] += (double)x[i] * (double)y[i];
  return lanes_total(lane);
}

double ops_sum_squared_deviation(const float *x, int64_t n, double center) {
  double lane[LANES] = {0};
  int64_t i = 0;
  for (; i + LANES <= n; i += LANES)
    for (int l = 0; l < LANES; l++) {
      const double d = (double)x[i + l] - center;
      lane[l] += d * d;
    }
  for (int l = 0; i < n; i++, l++) {
    const double d = (double)x[i] - center;
    lane[l] += d * d;
  }
  return lanes_total(lane);
}

void ops_column_sums(const ops_rows *a, const ops_rows *b, int64_t row0, int64_t rows, float *column_sums,
                     int accumulate) {
  const int64_t cols = a->cols, blocks = (cols + COLUMN_BLOCK - 1) / COLUMN_BLOCK;
#pragma omp parallel for schedule(static)
  for (int64_t block = 0; block < blocks; block++) {
    const int64_t c0 = block * COLUMN_BLOCK, width = cols - c0 < COLUMN_BLOCK ? cols - c0 : COLUMN_BLOCK;
    double sum[COLUMN_BLOCK];
    memset(sum, 0, sizeof sum);
    for (int64_t r = row0; r < row0 + rows; r++) {
      const float *restrict ar = ops_row(a, r) + c0;
      if (b) {
        const float *restrict br = ops_row(b, r) + c0;
        for (int64_t j = 0; j < width; j++) sum[j] += (double)ar[j] * (double)br[j];
      } else {
        for (int64_t j = 0; j < width; j++) sum[j] += (double)ar[j];
      }
    }
    float *restrict out = column_sums + c0;
    if (accumulate)
      for (int64_t j = 0; j < width; j++) out[j] = (float)((double)out[j] + sum[j]);
    else
      for (int64_t j = 0; j < width; j++) out[j] = (float)sum[j];
  }
}
