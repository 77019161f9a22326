// Logistic regression by iteratively reweighted least squares (Newton's method on the
// log-likelihood), for the report's explained deviance of correctness by category and by
// method. A small ridge term on the non-intercept coefficients keeps separable groups (a
// category where every kernel passes) finite; the deviance still approaches its minimum.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kbench/kbench_internal.h"

#define KB_GLM_RIDGE 1e-6
#define KB_GLM_ITERATIONS 100

// Solves the symmetric positive definite system a (p, p) x = b by Cholesky; a is overwritten.
static int cholesky_solve(int p, double *a, double *b) {
  for (int j = 0; j < p; j++) {
    double d = a[j * p + j];
    for (int k = 0; k < j; k++) d -= a[j * p + k] * a[j * p + k];
    if (!(d > 0)) return 0;
    a[j * p + j] = sqrt(d);
    for (int i = j + 1; i < p; i++) {
      double s = a[i * p + j];
      for (int k = 0; k < j; k++) s -= a[i * p + k] * a[j * p + k];
      a[i * p + j] = s / a[j * p + j];
    }
  }
  for (int i = 0; i < p; i++) { // L y = b
    for (int k = 0; k < i; k++) b[i] -= a[i * p + k] * b[k];
    b[i] /= a[i * p + i];
  }
  for (int i = p - 1; i >= 0; i--) { // L^T x = y
    for (int k = i + 1; k < p; k++) b[i] -= a[k * p + i] * b[k];
    b[i] /= a[i * p + i];
  }
  return 1;
}

static double binomial_deviance(int n, const double *y, const double *mu) {
  double d = 0;
  for (int i = 0; i < n; i++) {
    if (y[i] > 0) d -= 2 * y[i] * log(mu[i]);
    if (y[i] < 1) d -= 2 * (1 - y[i]) * log(1 - mu[i]);
  }
  return d;
}

vdit_status vdit_kbench_logistic_fit(int n, int p, const double *x, const double *y, double *beta, double *deviance,
                                     double *null_deviance) {
  if (n < 1 || p < 1 || !x || !y || !beta)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "logistic fit: needs n >= 1 rows and p >= 1 columns");
  double *mu = malloc((size_t)n * sizeof *mu), *h = malloc((size_t)p * (size_t)p * sizeof *h);
  double *g = malloc((size_t)p * sizeof *g);
  if (!mu || !h || !g) {
    free(mu), free(h), free(g);
    return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "logistic fit: no memory");
  }
  memset(beta, 0, (size_t)p * sizeof *beta);
  vdit_status status = VDIT_OK;
  for (int iteration = 0; iteration < KB_GLM_ITERATIONS; iteration++) {
    for (int i = 0; i < n; i++) {
      double eta = 0;
      for (int j = 0; j < p; j++) eta += x[i * p + j] * beta[j];
      mu[i] = 1.0 / (1.0 + exp(-eta));
      mu[i] = fmin(fmax(mu[i], 1e-12), 1 - 1e-12);
    }
    // Newton step: (X^T W X + ridge) delta = X^T (y - mu) - ridge beta.
    memset(h, 0, (size_t)p * (size_t)p * sizeof *h);
    memset(g, 0, (size_t)p * sizeof *g);
    for (int i = 0; i < n; i++) {
      double w = mu[i] * (1 - mu[i]), r = y[i] - mu[i];
      for (int j = 0; j < p; j++) {
        g[j] += x[i * p + j] * r;
        for (int k = 0; k <= j; k++) h[j * p + k] += w * x[i * p + j] * x[i * p + k];
      }
    }
    for (int j = 0; j < p; j++) {
      for (int k = 0; k < j; k++) h[k * p + j] = h[j * p + k];
      double ridge = j == 0 ? 1e-12 : KB_GLM_RIDGE;
      h[j * p + j] += ridge;
      g[j] -= ridge * beta[j];
    }
    if (!cholesky_solve(p, h, g)) {
      status = VDIT_ERROR(VDIT_ERROR_INTERNAL, "logistic fit: singular system (a column without data?)");
      break;
    }
    double step = 0;
    for (int j = 0; j < p; j++) beta[j] += g[j], step = fmax(step, fabs(g[j]));
    if (step < 1e-10) break;
  }
  if (status == VDIT_OK) {
    for (int i = 0; i < n; i++) {
      double eta = 0;
      for (int j = 0; j < p; j++) eta += x[i * p + j] * beta[j];
      mu[i] = fmin(fmax(1.0 / (1.0 + exp(-eta)), 1e-12), 1 - 1e-12);
    }
    if (deviance) *deviance = binomial_deviance(n, y, mu);
    double mean = 0;
    for (int i = 0; i < n; i++) mean += y[i];
    mean = fmin(fmax(mean / n, 1e-12), 1 - 1e-12);
    for (int i = 0; i < n; i++) mu[i] = mean;
    if (null_deviance) *null_deviance = binomial_deviance(n, y, mu);
  }
  free(mu), free(h), free(g);
  return status;
}
