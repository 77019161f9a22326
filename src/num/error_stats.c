// Error metrics of a result against its fp64 reference (see vdit_error_stats in num.h).
#include <math.h>

#include "vdit/num.h"

typedef struct error_sums {
  double abs_diff, abs_ref, sq_diff, sq_ref, sq_x, dot, max_diff, max_ref;
  int64_t nonfinite;
} error_sums;

static void accumulate(error_sums *sums, double x, double r) {
  if (!isfinite(x)) {
    sums->nonfinite++;
    return;
  }
  double diff = fabs(x - r);
  sums->abs_diff += diff;
  sums->abs_ref += fabs(r);
  sums->sq_diff += diff * diff;
  sums->sq_ref += r * r;
  sums->sq_x += x * x;
  sums->dot += x * r;
  if (diff > sums->max_diff) sums->max_diff = diff;
  if (fabs(r) > sums->max_ref) sums->max_ref = fabs(r);
}

static vdit_error_stats finish(const error_sums *sums, size_t n) {
  vdit_error_stats stats = {0};
  stats.count = (int64_t)n;
  stats.nonfinite = sums->nonfinite;
  stats.reference_max = sums->max_ref;
  if (sums->nonfinite) {
    stats.rel_l1 = stats.rel_rms = stats.cos = stats.max_err = NAN;
    return stats;
  }
  // A zero reference compares absolutely: then any nonzero x is an error of its own size.
  stats.rel_l1 = sums->abs_ref > 0 ? sums->abs_diff / sums->abs_ref : sums->abs_diff;
  stats.rel_rms = sums->sq_ref > 0 ? sqrt(sums->sq_diff / sums->sq_ref) : sqrt(sums->sq_diff);
  stats.max_err = sums->max_ref > 0 ? sums->max_diff / sums->max_ref : sums->max_diff;
  double norms = sqrt(sums->sq_x) * sqrt(sums->sq_ref);
  if (norms > 0) stats.cos = sums->dot / norms;
  else stats.cos = (sums->sq_x == 0 && sums->sq_ref == 0) ? 1.0 : 0.0;
  return stats;
}

vdit_error_stats vdit_error_stats_f32(size_t n, const float *x, const double *reference) {
  error_sums sums = {0};
  for (size_t i = 0; i < n; i++) accumulate(&sums, (double)x[i], reference[i]);
  return finish(&sums, n);
}

vdit_error_stats vdit_error_stats_f64(size_t n, const double *x, const double *reference) {
  error_sums sums = {0};
  for (size_t i = 0; i < n; i++) accumulate(&sums, x[i], reference[i]);
  return finish(&sums, n);
}
