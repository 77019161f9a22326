// vdit_ops_linear_* against a plain fp64 reference (odd sizes, sizes that cross the GEMM's
// blocking, plain and outlier inputs, leading dims, strided views, accumulation), and the
// reference's backward against central finite differences.
#include "ops_test_util.h"

// y (n, out) = x (n, in) w^T + b
static void reference_forward(int64_t n, int64_t in, int64_t out, const double *x, const double *w, const double *b,
                              double *y) {
  for (int64_t r = 0; r < n; r++)
    for (int64_t o = 0; o < out; o++) {
      double sum = b ? b[o] : 0.0;
      for (int64_t i = 0; i < in; i++) sum += x[r * in + i] * w[o * in + i];
      y[r * out + o] = sum;
    }
}

// dx = dy w, dw = dy^T x, db = column sums of dy
static void reference_backward(int64_t n, int64_t in, int64_t out, const double *x, const double *w, const double *dy,
                               double *dx, double *dw, double *db) {
  for (int64_t r = 0; r < n; r++)
    for (int64_t i = 0; i < in; i++) {
      double sum = 0;
      for (int64_t o = 0; o < out; o++) sum += dy[r * out + o] * w[o * in + i];
      dx[r * in + i] = sum;
    }
  for (int64_t o = 0; o < out; o++) {
    for (int64_t i = 0; i < in; i++) {
      double sum = 0;
      for (int64_t r = 0; r < n; r++) sum += dy[r * out + o] * x[r * in + i];
      dw[o * in + i] = sum;
    }
    double sum = 0;
    for (int64_t r = 0; r < n; r++) sum += dy[r * out + o];
    db[o] = sum;
  }
}

static void add_into(double *a, const double *b, int64_t n) {
  for (int64_t i = 0; i < n; i++) a[i] += b[i];
}

// fp32 GEMM against fp64 (measured: rel_l1 <= 4e-7, max_err <= 8e-7 on these cases).
#define GEMM_REL_L1 1e-6
#define GEMM_MAX_ERR 4e-6

static void run_case(int64_t n, int64_t in, int64_t out, test_inputs inputs, uint64_t seed) {
  char what[160];
  const int64_t xs[2] = {n, in}, ws[2] = {out, in}, bs[1] = {out}, ys[2] = {n, out};
  vdit_tensor x = test_alloc(2, xs), w = test_alloc(2, ws), b = test_alloc(1, bs), y = test_alloc(2, ys);
  vdit_tensor dy = test_alloc(2, ys), dx = test_alloc(2, xs), dw = test_alloc(2, ws), db = test_alloc(1, bs);
  test_fill(&x, seed, inputs, 0.0, 1.0);
  test_fill(&w, seed + 1, TEST_PLAIN, 0.0, 1.0 / sqrt((double)(in > 0 ? in : 1)));
  test_fill(&b, seed + 2, TEST_PLAIN, 0.0, 1.0);
  test_fill(&dy, seed + 3, inputs, 0.0, 1.0);
  double *xd = test_to_double(&x), *wd = test_to_double(&w), *bd = test_to_double(&b), *dyd = test_to_double(&dy);
  double *y_ref = malloc((size_t)(n * out + 1) * 8), *dx_ref = malloc((size_t)(n * in + 1) * 8);
  double *dw_ref = malloc((size_t)(out * in + 1) * 8), *db_ref = malloc((size_t)(out + 1) * 8);
  reference_forward(n, in, out, xd, wd, bd, y_ref);
  reference_backward(n, in, out, xd, wd, dyd, dx_ref, dw_ref, db_ref);

  CHECK_OK(vdit_ops_linear_forward(&x, &w, &b, &y));
  snprintf(what, sizeof what, "linear y (N=%lld, in=%lld, out=%lld, %s)", (long long)n, (long long)in, (long long)out,
           test_inputs_name[inputs]);
  test_expect_close(what, &y, y_ref, GEMM_REL_L1, GEMM_MAX_ERR);

  CHECK_OK(vdit_ops_linear_backward(&x, &w, &dy, &dx, &dw, &db, VDIT_GRAD_OVERWRITE));
  const struct { const char *name; vdit_tensor *t; double *ref; } grads[3] = {
      {"dx", &dx, dx_ref}, {"dweight", &dw, dw_ref}, {"dbias", &db, db_ref}};
  for (int g = 0; g < 3; g++) {
    snprintf(what, sizeof what, "linear %s (N=%lld, in=%lld, out=%lld, %s)", grads[g].name, (long long)n, (long long)in,
             (long long)out, test_inputs_name[inputs]);
    test_expect_close(what, grads[g].t, grads[g].ref, GEMM_REL_L1, GEMM_MAX_ERR);
  }

  // Accumulate onto random gradients already there.
  for (int g = 0; g < 3; g++) {
    test_fill(grads[g].t, seed + 10 + (uint64_t)g, TEST_PLAIN, 0.0, 1.0);
    double *before = test_to_double(grads[g].t);
    add_into(grads[g].ref, before, vdit_tensor_numel(grads[g].t));
    free(before);
  }
  CHECK_OK(vdit_ops_linear_backward(&x, &w, &dy, &dx, &dw, &db, VDIT_GRAD_ACCUMULATE));
  for (int g = 0; g < 3; g++) {
    snprintf(what, sizeof what, "linear %s accumulated (N=%lld, in=%lld, out=%lld)", grads[g].name, (long long)n,
             (long long)in, (long long)out);
    test_expect_close(what, grads[g].t, grads[g].ref, GEMM_REL_L1, GEMM_MAX_ERR);
  }

  // Without bias: y = x w^T.
  CHECK_OK(vdit_tensor_poison(&y));
  CHECK_OK(vdit_ops_linear_forward(&x, &w, NULL, &y));
  reference_forward(n, in, out, xd, wd, NULL, y_ref);
  snprintf(what, sizeof what, "linear y without bias (N=%lld, in=%lld, out=%lld)", (long long)n, (long long)in,
           (long long)out);
  test_expect_close(what, &y, y_ref, GEMM_REL_L1, GEMM_MAX_ERR);

  // Only dweight: dx and dbias untouched (still what they were), weight not needed.
  vdit_tensor *kept[2] = {&dx, &db};
  double *kept_before[2] = {test_to_double(&dx), test_to_double(&db)};
  CHECK_OK(vdit_tensor_poison(&dw));
  CHECK_OK(vdit_ops_linear_backward(&x, NULL, &dy, NULL, &dw, NULL, VDIT_GRAD_OVERWRITE));
  reference_backward(n, in, out, xd, wd, dyd, dx_ref, dw_ref, db_ref);
  test_expect_close("linear dweight alone", &dw, dw_ref, GEMM_REL_L1, GEMM_MAX_ERR);
  for (int k = 0; k < 2; k++) {
    double *after = test_to_double(kept[k]);
    CHECK(memcmp(after, kept_before[k], (size_t)vdit_tensor_numel(kept[k]) * 8) == 0);
    free(after);
    free(kept_before[k]);
  }

  vdit_tensor *all[8] = {&x, &w, &b, &y, &dy, &dx, &dw, &db};
  for (int i = 0; i < 8; i++) vdit_tensor_free(all[i]);
  free(xd); free(wd); free(bd); free(dyd); free(y_ref); free(dx_ref); free(dw_ref); free(db_ref);
}

// x (B, S, in) as a column slice of a wider buffer, weight as a row-strided view, y and dx
// slices too: the views' row strides reach the GEMM.
static void test_views(void) {
  const int64_t B = 2, S = 5, in = 33, out = 17, pad = 7;
  const int64_t wide_x[3] = {B, S, in + pad}, wide_w[2] = {out, in + pad}, wide_y[3] = {B, S, out + pad};
  vdit_tensor xb = test_alloc(3, wide_x), wb = test_alloc(2, wide_w), yb = test_alloc(3, wide_y);
  vdit_tensor dyb = test_alloc(3, wide_y), dxb = test_alloc(3, wide_x), dw;
  test_fill(&xb, 31, TEST_OUTLIERS, 0.0, 1.0);
  test_fill(&wb, 32, TEST_PLAIN, 0.0, 0.2);
  test_fill(&dyb, 33, TEST_PLAIN, 0.0, 1.0);
  dw = test_alloc(2, (int64_t[]){out, in});
  vdit_tensor x, w, y, dy, dx;
  CHECK_OK(vdit_tensor_view(&x, (float *)xb.data + 3, VDIT_DTYPE_F32, VDIT_CPU, 3, (int64_t[]){B, S, in}, xb.stride));
  CHECK_OK(vdit_tensor_view(&w, (float *)wb.data + 5, VDIT_DTYPE_F32, VDIT_CPU, 2, (int64_t[]){out, in}, wb.stride));
  CHECK_OK(vdit_tensor_view(&y, (float *)yb.data + 2, VDIT_DTYPE_F32, VDIT_CPU, 3, (int64_t[]){B, S, out}, yb.stride));
  CHECK_OK(vdit_tensor_view(&dy, (float *)dyb.data + 1, VDIT_DTYPE_F32, VDIT_CPU, 3, (int64_t[]){B, S, out},
                            dyb.stride));
  CHECK_OK(vdit_tensor_view(&dx, (float *)dxb.data + 4, VDIT_DTYPE_F32, VDIT_CPU, 3, (int64_t[]){B, S, in}, dxb.stride));
  double *xd = test_to_double(&x), *wd = test_to_double(&w), *dyd = test_to_double(&dy);
  double *y_ref = malloc((size_t)(B * S * out) * 8), *dx_ref = malloc((size_t)(B * S * in) * 8);
  double *dw_ref = malloc((size_t)(out * in) * 8), *db_ref = malloc((size_t)out * 8);
  reference_forward(B * S, in, out, xd, wd, NULL, y_ref);
  reference_backward(B * S, in, out, xd, wd, dyd, dx_ref, dw_ref, db_ref);
  double *padding_before = test_to_double(&yb);
  CHECK_OK(vdit_ops_linear_forward(&x, &w, NULL, &y));
  test_expect_close("linear y, strided views", &y, y_ref, GEMM_REL_L1, GEMM_MAX_ERR);
  // The pad columns of y's buffer are untouched (still NaN).
  double *padding_after = test_to_double(&yb);
  for (int64_t r = 0; r < B * S; r++)
    for (int64_t c = 0; c < out + pad; c++)
      if (c < 2 || c >= 2 + out) CHECK(isnan(padding_after[r * (out + pad) + c]));
  free(padding_before);
  free(padding_after);
  CHECK_OK(vdit_ops_linear_backward(&x, &w, &dy, &dx, &dw, NULL, VDIT_GRAD_OVERWRITE));
  test_expect_close("linear dx, strided views", &dx, dx_ref, GEMM_REL_L1, GEMM_MAX_ERR);
  test_expect_close("linear dweight, strided views", &dw, dw_ref, GEMM_REL_L1, GEMM_MAX_ERR);

  // A slice along S of (B, 2S, in) cannot be one matrix: a one-line error.
  const int64_t tall[3] = {B, 2 * S, in};
  vdit_tensor xt = test_alloc(3, tall), xs;
  CHECK_OK(vdit_tensor_view(&xs, xt.data, VDIT_DTYPE_F32, VDIT_CPU, 3, (int64_t[]){B, S, in}, xt.stride));
  CHECK_STATUS(vdit_ops_linear_forward(&xs, &w, NULL, &y), VDIT_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(vdit_last_error(), "linear: x's leading dims must merge into one row stride") != NULL);

  vdit_tensor *all[7] = {&xb, &wb, &yb, &dyb, &dxb, &dw, &xt};
  for (int i = 0; i < 7; i++) vdit_tensor_free(all[i]);
  free(xd); free(wd); free(dyd); free(y_ref); free(dx_ref); free(dw_ref); free(db_ref);
}

// ---------------------------------------------------------------- finite differences
typedef struct fd_context {
  int64_t n, in, out;
  double *x, *w, *b, *dy, *y;
} fd_context;

static double fd_loss(void *context) {
  fd_context *c = context;
  reference_forward(c->n, c->in, c->out, c->x, c->w, c->b, c->y);
  double sum = 0;
  for (int64_t i = 0; i < c->n * c->out; i++) sum += c->dy[i] * c->y[i];
  return sum;
}

static void test_finite_differences(void) {
  fd_context c = {3, 4, 5, NULL, NULL, NULL, NULL, NULL};
  c.x = test_random_doubles(71, 12, 1.0);
  c.w = test_random_doubles(72, 20, 0.5);
  c.b = test_random_doubles(73, 5, 1.0);
  c.dy = test_random_doubles(74, 15, 1.0);
  c.y = malloc(15 * 8);
  double dx[12], dw[20], db[5];
  reference_backward(c.n, c.in, c.out, c.x, c.w, c.dy, dx, dw, db);
  test_check_gradient("linear dx", fd_loss, &c, c.x, 12, dx, 1e-7);
  test_check_gradient("linear dweight", fd_loss, &c, c.w, 20, dw, 1e-7);
  test_check_gradient("linear dbias", fd_loss, &c, c.b, 5, db, 1e-7);
  free(c.x); free(c.w); free(c.b); free(c.dy); free(c.y);
}

int main(void) {
  // (N, in, out): ones, odd sizes, and sizes past the GEMM's blocks (MR 8, NR 32, KC 256,
  // tiles of 128 x 256) so partial micro-tiles, several depth slices and many tiles occur.
  const int64_t cases[][3] = {{1, 1, 1},   {7, 33, 130}, {130, 7, 33}, {33, 130, 7}, {1, 130, 33},
                              {300, 257, 129}, {3, 20, 4100}, {9, 600, 70}};
  uint64_t seed = 1000;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    for (int inputs = 0; inputs < 2; inputs++) run_case(cases[i][0], cases[i][1], cases[i][2], inputs, seed += 100);
  test_views();
  test_finite_differences();
  return check_finish("test_ops_linear");
}
