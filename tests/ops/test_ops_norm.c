// vdit_ops_layer_norm_* and vdit_ops_rms_norm_* against plain fp64 references (odd sizes,
// plain and outlier inputs with an offset mean, with and without affine, views whose
// leading dims do not merge, in place, accumulation), and the references' backward against
// central finite differences.
#include <float.h>

#include "ops_test_util.h"

typedef enum norm_kind { LAYER_NORM, RMS_NORM } norm_kind;
static const char *const norm_name[2] = {"layer_norm", "rms_norm"};

// y (rows, C) from x; w, b may be NULL (b ignored for RMS norm).
static void reference_forward(norm_kind kind, int64_t rows, int64_t cols, const double *x, const double *w,
                              const double *b, double eps, double *y) {
  for (int64_t r = 0; r < rows; r++) {
    const double *xr = x + r * cols;
    double mean = 0, var = 0;
    for (int64_t j = 0; j < cols; j++) mean += xr[j];
    mean /= (double)cols;
    if (kind == RMS_NORM) mean = 0;
    for (int64_t j = 0; j < cols; j++) var += (xr[j] - mean) * (xr[j] - mean);
    const double rstd = 1.0 / sqrt(var / (double)cols + eps);
    for (int64_t j = 0; j < cols; j++)
      y[r * cols + j] = (xr[j] - mean) * rstd * (w ? w[j] : 1.0) + (b && kind == LAYER_NORM ? b[j] : 0.0);
  }
}

// dx, dw, db (any may be NULL) from dy, written from the calculus of each row:
//   layer norm: dx = rstd (g - mean(g) - xhat mean(g xhat)), g = dy w, xhat = (x - mean) rstd
//   RMS norm:   dx = rstd (g - x rstd^2 mean(g x))
static void reference_backward(norm_kind kind, int64_t rows, int64_t cols, const double *x, const double *w,
                               double eps, const double *dy, double *dx, double *dw, double *db) {
  if (dw) memset(dw, 0, (size_t)cols * 8);
  if (db) memset(db, 0, (size_t)cols * 8);
  for (int64_t r = 0; r < rows; r++) {
    const double *xr = x + r * cols, *dyr = dy + r * cols;
    double mean = 0, var = 0;
    if (kind == LAYER_NORM) {
      for (int64_t j = 0; j < cols; j++) mean += xr[j];
      mean /= (double)cols;
    }
    for (int64_t j = 0; j < cols; j++) var += (xr[j] - mean) * (xr[j] - mean);
    const double rstd = 1.0 / sqrt(var / (double)cols + eps);
    double mean_g = 0, mean_gx = 0;
    for (int64_t j = 0; j < cols; j++) {
      const double g = dyr[j] * (w ? w[j] : 1.0), xhat = (xr[j] - mean) * rstd;
      mean_g += g / (double)cols;
      mean_gx += g * xhat / (double)cols;
      if (dw) dw[j] += dyr[j] * xhat;
      if (db) db[j] += dyr[j];
    }
    if (dx)
      for (int64_t j = 0; j < cols; j++) {
        const double g = dyr[j] * (w ? w[j] : 1.0), xhat = (xr[j] - mean) * rstd;
        dx[r * cols + j] = kind == LAYER_NORM ? rstd * (g - mean_g - xhat * mean_gx) : rstd * (g - xhat * mean_gx);
      }
  }
}

static vdit_status run_forward(norm_kind kind, const vdit_tensor *x, const vdit_tensor *w, const vdit_tensor *b,
                               float eps, vdit_tensor *y) {
  return kind == LAYER_NORM ? vdit_ops_layer_norm_forward(x, w, b, eps, y) : vdit_ops_rms_norm_forward(x, w, eps, y);
}

static vdit_status run_backward(norm_kind kind, const vdit_tensor *x, const vdit_tensor *w, float eps,
                                const vdit_tensor *dy, vdit_tensor *dx, vdit_tensor *dw, vdit_tensor *db,
                                vdit_grad_mode mode) {
  return kind == LAYER_NORM ? vdit_ops_layer_norm_backward(x, w, eps, dy, dx, dw, db, mode)
                            : vdit_ops_rms_norm_backward(x, w, eps, dy, dx, dw, mode);
}

// With one channel, dx is pure cancellation: the two terms of g - (...) are equal up to
// O(eps) (layer norm: dx = 0 exactly; RMS norm: dx = rstd g eps / (x^2 + eps)), and rstd
// can be 1 / sqrt(eps). fp32 then leaves rounding noise of the cancelled terms, so the
// error is bounded by a few float ulps of rstd |g| rather than relative to |dx|.
static void check_single_channel_dx(norm_kind kind, int64_t rows, const double *x, const double *w, double eps,
                                    const double *dy, const vdit_tensor *dx, const double *dx_ref, const char *what) {
  for (int64_t r = 0; r < rows; r++) {
    const double mean = kind == LAYER_NORM ? x[r] : 0.0;
    const double rstd = 1.0 / sqrt((x[r] - mean) * (x[r] - mean) + eps);
    const double g = dy[r] * (w ? w[0] : 1.0);
    const double bound = 8 * (double)FLT_EPSILON * rstd * fabs(g);
    const double got = *test_at(dx, r);
    if (!(fabs(got - dx_ref[r]) <= bound))
      CHECK_FAIL_("%s: row %lld: %.9g vs %.9g (bound %.3g)", what, (long long)r, got, dx_ref[r], bound);
  }
}

// Measured: rel_l1 <= 1.5e-7, max_err <= 2.1e-7 on these cases.
#define NORM_REL_L1 5e-7
#define NORM_MAX_ERR 1e-6

static void run_case(norm_kind kind, int64_t rows, int64_t cols, int affine, test_inputs inputs, float eps,
                     uint64_t seed) {
  char what[200], label[160];
  snprintf(label, sizeof label, "%s (rows=%lld, C=%lld, affine=%d, %s, eps=%g)", norm_name[kind], (long long)rows,
           (long long)cols, affine, test_inputs_name[inputs], (double)eps);
  // x as (rows / 2 or 1, 2, C) when rows is even, to pass leading dims; else (rows, C).
  const int64_t shape3[3] = {rows / 2, 2, cols}, shape2[2] = {rows, cols}, vec[1] = {cols};
  const int ndim = rows % 2 == 0 ? 3 : 2;
  const int64_t *shape = ndim == 3 ? shape3 : shape2;
  vdit_tensor x = test_alloc(ndim, shape), y = test_alloc(ndim, shape), dy = test_alloc(ndim, shape);
  vdit_tensor dx = test_alloc(ndim, shape), w = test_alloc(1, vec), b = test_alloc(1, vec);
  vdit_tensor dw = test_alloc(1, vec), db = test_alloc(1, vec);
  test_fill(&x, seed, inputs, kind == LAYER_NORM ? 2.0 : 0.0, 1.5);
  test_fill(&dy, seed + 1, inputs, 0.0, 1.0);
  test_fill(&w, seed + 2, TEST_PLAIN, 1.0, 0.3);
  test_fill(&b, seed + 3, TEST_PLAIN, 0.0, 0.5);
  const int has_bias = affine && kind == LAYER_NORM;
  double *xd = test_to_double(&x), *dyd = test_to_double(&dy), *wd = test_to_double(&w), *bd = test_to_double(&b);
  const int64_t n = rows * cols;
  double *y_ref = malloc((size_t)(n + 1) * 8), *dx_ref = malloc((size_t)(n + 1) * 8);
  double *dw_ref = malloc((size_t)(cols + 1) * 8), *db_ref = malloc((size_t)(cols + 1) * 8);
  reference_forward(kind, rows, cols, xd, affine ? wd : NULL, has_bias ? bd : NULL, eps, y_ref);
  reference_backward(kind, rows, cols, xd, affine ? wd : NULL, eps, dyd, dx_ref, dw_ref, db_ref);

  CHECK_OK(run_forward(kind, &x, affine ? &w : NULL, has_bias ? &b : NULL, eps, &y));
  snprintf(what, sizeof what, "%s: y", label);
  test_expect_close(what, &y, y_ref, NORM_REL_L1, NORM_MAX_ERR);
  CHECK_OK(run_backward(kind, &x, affine ? &w : NULL, eps, &dy, &dx, affine ? &dw : NULL,
                        kind == LAYER_NORM ? &db : NULL, VDIT_GRAD_OVERWRITE));
  snprintf(what, sizeof what, "%s: dx", label);
  if (cols > 1) test_expect_close(what, &dx, dx_ref, NORM_REL_L1, NORM_MAX_ERR);
  else check_single_channel_dx(kind, rows, xd, affine ? wd : NULL, eps, dyd, &dx, dx_ref, what);
  if (affine) {
    snprintf(what, sizeof what, "%s: dweight", label);
    test_expect_close(what, &dw, dw_ref, NORM_REL_L1, NORM_MAX_ERR);
  }
  if (kind == LAYER_NORM) {
    snprintf(what, sizeof what, "%s: dbias", label);
    test_expect_close(what, &db, db_ref, NORM_REL_L1, NORM_MAX_ERR);
  }

  // Accumulate: every gradient gets the same again.
  double *dx_before = test_to_double(&dx), *dw_before = test_to_double(&dw), *db_before = test_to_double(&db);
  CHECK_OK(run_backward(kind, &x, affine ? &w : NULL, eps, &dy, &dx, affine ? &dw : NULL,
                        kind == LAYER_NORM ? &db : NULL, VDIT_GRAD_ACCUMULATE));
  for (int64_t i = 0; i < n; i++) dx_ref[i] += dx_before[i];
  for (int64_t i = 0; i < cols; i++) dw_ref[i] += dw_before[i], db_ref[i] += db_before[i];
  snprintf(what, sizeof what, "%s: dx accumulated", label);
  if (cols > 1) test_expect_close(what, &dx, dx_ref, NORM_REL_L1, NORM_MAX_ERR);
  if (affine) {
    snprintf(what, sizeof what, "%s: dweight accumulated", label);
    test_expect_close(what, &dw, dw_ref, NORM_REL_L1, NORM_MAX_ERR);
  }
  if (kind == LAYER_NORM) {
    snprintf(what, sizeof what, "%s: dbias accumulated", label);
    test_expect_close(what, &db, db_ref, NORM_REL_L1, NORM_MAX_ERR);
  }

  // In place: y is x.
  CHECK_OK(run_forward(kind, &x, affine ? &w : NULL, has_bias ? &b : NULL, eps, &x));
  snprintf(what, sizeof what, "%s: y in place", label);
  test_expect_close(what, &x, y_ref, NORM_REL_L1, NORM_MAX_ERR);

  vdit_tensor *all[8] = {&x, &y, &dy, &dx, &w, &b, &dw, &db};
  for (int i = 0; i < 8; i++) vdit_tensor_free(all[i]);
  free(xd); free(dyd); free(wd); free(bd); free(y_ref); free(dx_ref); free(dw_ref); free(db_ref); free(dx_before);
  free(dw_before); free(db_before);
}

// (B, S, C) views that take every other token of a (B, 2S, C) buffer: leading dims that do
// not merge into one stride.
static void test_strided(norm_kind kind) {
  enum { B = 3, S = 5, C = 37 };
  const int64_t full[3] = {B, 2 * S, C};
  vdit_tensor xb = test_alloc(3, full), yb = test_alloc(3, full), dyb = test_alloc(3, full), dxb = test_alloc(3, full);
  vdit_tensor w = test_alloc(1, (int64_t[]){C}), dw = test_alloc(1, (int64_t[]){C});
  test_fill(&xb, 501, TEST_OUTLIERS, 1.0, 1.0);
  test_fill(&dyb, 502, TEST_PLAIN, 0.0, 1.0);
  test_fill(&w, 503, TEST_PLAIN, 1.0, 0.2);
  const int64_t shape[3] = {B, S, C}, stride[3] = {2 * S * C, 2 * C, 1};
  vdit_tensor x, y, dy, dx;
  CHECK_OK(vdit_tensor_view(&x, (float *)xb.data + C, VDIT_DTYPE_F32, VDIT_CPU, 3, shape, stride));
  CHECK_OK(vdit_tensor_view(&y, yb.data, VDIT_DTYPE_F32, VDIT_CPU, 3, shape, stride));
  CHECK_OK(vdit_tensor_view(&dy, dyb.data, VDIT_DTYPE_F32, VDIT_CPU, 3, shape, stride));
  CHECK_OK(vdit_tensor_view(&dx, (float *)dxb.data + C, VDIT_DTYPE_F32, VDIT_CPU, 3, shape, stride));
  double *xd = test_to_double(&x), *dyd = test_to_double(&dy), *wd = test_to_double(&w);
  double y_ref[B * S * C], dx_ref[B * S * C], dw_ref[C];
  reference_forward(kind, B * S, C, xd, wd, NULL, 1e-6, y_ref);
  reference_backward(kind, B * S, C, xd, wd, 1e-6, dyd, dx_ref, dw_ref, NULL);
  CHECK_OK(run_forward(kind, &x, &w, NULL, 1e-6f, &y));
  CHECK_OK(run_backward(kind, &x, &w, 1e-6f, &dy, &dx, &dw, NULL, VDIT_GRAD_OVERWRITE));
  char what[80];
  snprintf(what, sizeof what, "%s strided y", norm_name[kind]);
  test_expect_close(what, &y, y_ref, NORM_REL_L1, NORM_MAX_ERR);
  snprintf(what, sizeof what, "%s strided dx", norm_name[kind]);
  test_expect_close(what, &dx, dx_ref, NORM_REL_L1, NORM_MAX_ERR);
  snprintf(what, sizeof what, "%s strided dweight", norm_name[kind]);
  test_expect_close(what, &dw, dw_ref, NORM_REL_L1, NORM_MAX_ERR);
  // The skipped tokens of y's buffer stay NaN.
  for (int64_t b = 0; b < B; b++)
    for (int64_t s = 0; s < S; s++) CHECK(isnan(((float *)yb.data)[(b * 2 * S + 2 * s + 1) * C]));
  vdit_tensor *all[6] = {&xb, &yb, &dyb, &dxb, &w, &dw};
  for (int i = 0; i < 6; i++) vdit_tensor_free(all[i]);
  free(xd); free(dyd); free(wd);
}

// ---------------------------------------------------------------- finite differences
typedef struct fd_context {
  norm_kind kind;
  int64_t rows, cols;
  double eps;
  double *x, *w, *b, *dy, *y;
} fd_context;

static double fd_loss(void *context) {
  fd_context *c = context;
  reference_forward(c->kind, c->rows, c->cols, c->x, c->w, c->b, c->eps, c->y);
  double sum = 0;
  for (int64_t i = 0; i < c->rows * c->cols; i++) sum += c->dy[i] * c->y[i];
  return sum;
}

static void test_finite_differences(norm_kind kind) {
  fd_context c = {kind, 3, 5, 1e-2, NULL, NULL, NULL, NULL, NULL}; // a large eps so it matters
  c.x = test_random_doubles(81, 15, 1.0);
  c.w = test_random_doubles(82, 5, 1.0);
  c.b = test_random_doubles(83, 5, 1.0);
  c.dy = test_random_doubles(84, 15, 1.0);
  c.y = malloc(15 * 8);
  double dx[15], dw[5], db[5];
  reference_backward(kind, c.rows, c.cols, c.x, c.w, c.eps, c.dy, dx, dw, db);
  char what[64];
  snprintf(what, sizeof what, "%s dx", norm_name[kind]);
  test_check_gradient(what, fd_loss, &c, c.x, 15, dx, 1e-7);
  snprintf(what, sizeof what, "%s dweight", norm_name[kind]);
  test_check_gradient(what, fd_loss, &c, c.w, 5, dw, 1e-7);
  if (kind == LAYER_NORM) test_check_gradient("layer_norm dbias", fd_loss, &c, c.b, 5, db, 1e-7);
  free(c.x); free(c.w); free(c.b); free(c.dy); free(c.y);
}

int main(void) {
  const int64_t sizes[][2] = {{1, 1}, {7, 33}, {130, 7}, {33, 130}, {2, 1536}, {6, 513}, {4, 4100}};
  uint64_t seed = 2000;
  for (int kind = 0; kind < 2; kind++) {
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
      for (int inputs = 0; inputs < 2; inputs++)
        for (int affine = 0; affine < 2; affine++)
          run_case(kind, sizes[i][0], sizes[i][1], affine, inputs, affine ? 1e-6f : 1e-5f, seed += 10);
    test_strided(kind);
    test_finite_differences(kind);
  }
  return check_finish("test_ops_norm");
}
