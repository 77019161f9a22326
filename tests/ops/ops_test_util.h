// Helpers for the ops tests: f32 CPU tensors filled from Philox (plain or with outlier
// channels), fp64 copies, comparison against an fp64 reference, and a central
// finite-difference check of an fp64 gradient.
#ifndef VDIT_TESTS_OPS_TEST_UTIL_H
#define VDIT_TESTS_OPS_TEST_UTIL_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vdit/ops.h"

typedef enum test_inputs { TEST_PLAIN = 0, TEST_OUTLIERS = 1 } test_inputs;
static const char *const test_inputs_name[2] = {"plain", "outlier"};

// A contiguous f32 CPU tensor, poisoned with NaN.
static inline vdit_tensor test_alloc(int ndim, const int64_t *shape) {
  vdit_tensor t;
  CHECK_OK(vdit_tensor_alloc(&t, VDIT_DTYPE_F32, VDIT_CPU, ndim, shape));
  CHECK_OK(vdit_tensor_poison(&t));
  return t;
}

// Philox normals * std + mean (element i of the stream `seed`, row-major over the shape);
// with TEST_OUTLIERS about 1 channel in 16 of the last dim (always channel 0) is 10-50x
// larger, as real activations and keys have.
static inline void test_fill(vdit_tensor *t, uint64_t seed, test_inputs inputs, double mean, double std) {
  CHECK_OK(vdit_tensor_fill_normal(t, seed, 0, mean, std));
  if (inputs != TEST_OUTLIERS || !vdit_tensor_is_contiguous(t)) return;
  const int64_t n = vdit_tensor_numel(t), cols = t->shape[t->ndim - 1];
  if (cols == 0) return;
  float *factor = malloc((size_t)cols * 2 * sizeof *factor);
  vdit_rng_uniform(seed ^ 0x5bd1e995u, 0, (size_t)cols * 2, factor);
  for (int64_t c = 0; c < cols; c++)
    factor[c] = (c == 0 || factor[cols + c] < 1.0f / 16) ? 10.0f + 40.0f * factor[c] : 1.0f;
  float *x = t->data;
  for (int64_t i = 0; i < n; i++) x[i] *= factor[i % cols];
  free(factor);
}

// Element i (row-major) of a CPU f32 tensor of any strides.
static inline float *test_at(const vdit_tensor *t, int64_t i) {
  int64_t offset = 0;
  for (int d = t->ndim - 1; d >= 0; d--) {
    offset += (i % t->shape[d]) * t->stride[d];
    i /= t->shape[d];
  }
  return (float *)t->data + offset;
}

// The tensor's elements (row-major) as doubles; free() the result.
static inline double *test_to_double(const vdit_tensor *t) {
  const int64_t n = vdit_tensor_numel(t);
  double *out = malloc((size_t)(n ? n : 1) * sizeof *out);
  for (int64_t i = 0; i < n; i++) out[i] = *test_at(t, i);
  return out;
}

static inline void test_copy_values(vdit_tensor *dst, const vdit_tensor *src) {
  for (int64_t i = 0; i < vdit_tensor_numel(src); i++) *test_at(dst, i) = *test_at(src, i);
}

// t against its fp64 reference: no NaN or inf (an unwritten, NaN-poisoned element fails),
// relative L1 and max error (scaled by max|ref|) under the tolerances.
static inline void test_expect_close(const char *what, const vdit_tensor *t, const double *reference, double rel_l1,
                                     double max_err) {
  const int64_t n = vdit_tensor_numel(t);
  float *x = malloc((size_t)(n ? n : 1) * sizeof *x);
  for (int64_t i = 0; i < n; i++) x[i] = *test_at(t, i);
  vdit_error_stats e = vdit_error_stats_f32((size_t)n, x, reference);
  free(x);
  if (!(e.nonfinite == 0 && e.rel_l1 <= rel_l1 && e.max_err <= max_err))
    CHECK_FAIL_("%s: rel_l1 %.3g (limit %.3g) max_err %.3g (limit %.3g) nonfinite %lld of %lld", what, e.rel_l1,
                rel_l1, e.max_err, max_err, (long long)e.nonfinite, (long long)n);
}

// A loss of fp64 parameters, for finite differences.
typedef double (*test_loss)(void *context);

// grad[i] against (L(p + h e_i) - L(p - h e_i)) / 2h for every i; |difference| must stay
// within tolerance * (1 + |grad[i]|).
static inline void test_check_gradient(const char *what, test_loss loss, void *context, double *param, size_t n,
                                       const double *grad, double tolerance) {
  const double h = 1e-6;
  int failures = 0;
  for (size_t i = 0; i < n; i++) {
    const double saved = param[i];
    param[i] = saved + h;
    const double plus = loss(context);
    param[i] = saved - h;
    const double minus = loss(context);
    param[i] = saved;
    const double numeric = (plus - minus) / (2 * h);
    if (!(fabs(numeric - grad[i]) <= tolerance * (1 + fabs(grad[i]))) && failures++ < 5)
      CHECK_FAIL_("%s: d/dp[%zu]: analytic %.10g, finite difference %.10g", what, i, grad[i], numeric);
  }
}

// n doubles from Philox normals (scale * z).
static inline double *test_random_doubles(uint64_t seed, size_t n, double scale) {
  float *z = malloc((n ? n : 1) * sizeof *z);
  double *out = malloc((n ? n : 1) * sizeof *out);
  vdit_rng_normal(seed, 0, n, z);
  for (size_t i = 0; i < n; i++) out[i] = scale * z[i];
  free(z);
  return out;
}

#endif
