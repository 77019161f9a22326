// vdit_ops_rope_3d_* against a plain fp64 reference written from diffusers'
// WanRotaryPosEmbed (head dim split, per-part frequencies, interleaved pairs, frame-major
// tokens): Wan's head dim 128 and odd grids, frame offsets, theta, strided views of a fused
// QKV buffer, in place, accumulation, the round trip, and finite differences.
#include "ops_test_util.h"

typedef struct grid {
  int64_t batch, frames, height, width, heads, dim, frame_offset;
  double theta; // 0: 10000
} grid;

// The angle of channel pair `pair` of token (f, h, w): the pair's part (frame, height or
// width; D_h = D_w = 2 floor(D / 6), D_t = D - D_h - D_w) and its index k within the part
// give theta^(-2k / d_part) times the part's position.
static double reference_angle(const grid *g, int64_t pair, int64_t f, int64_t h, int64_t w) {
  const int64_t d_hw = 2 * (g->dim / 6), d_t = g->dim - 2 * d_hw;
  const double theta = g->theta > 0 ? g->theta : 10000.0;
  int64_t k, d, position;
  if (pair < d_t / 2) {
    k = pair, d = d_t, position = g->frame_offset + f;
  } else if (pair < d_t / 2 + d_hw / 2) {
    k = pair - d_t / 2, d = d_hw, position = h;
  } else {
    k = pair - d_t / 2 - d_hw / 2, d = d_hw, position = w;
  }
  return (double)position * exp(-((double)(2 * k) / (double)d) * log(theta));
}

// y = rotation of x by +angle (inverse: -angle); x, y (B, S, H, D) contiguous doubles.
static void reference_rope(const grid *g, const double *x, double *y, int inverse) {
  const int64_t S = g->frames * g->height * g->width;
  for (int64_t b = 0; b < g->batch; b++)
    for (int64_t s = 0; s < S; s++) {
      const int64_t f = s / (g->height * g->width), h = (s / g->width) % g->height, w = s % g->width;
      for (int64_t head = 0; head < g->heads; head++)
        for (int64_t pair = 0; pair < g->dim / 2; pair++) {
          const double a = reference_angle(g, pair, f, h, w) * (inverse ? -1 : 1);
          const int64_t i = ((b * S + s) * g->heads + head) * g->dim + 2 * pair;
          y[i] = x[i] * cos(a) - x[i + 1] * sin(a);
          y[i + 1] = x[i] * sin(a) + x[i + 1] * cos(a);
        }
    }
}

static vdit_rope_3d rope_of(const grid *g) {
  vdit_rope_3d r = {g->frames, g->height, g->width, g->frame_offset, g->theta};
  return r;
}

// Measured: rel_l1 <= 5.3e-8, max_err <= 1.3e-7 (float cos/sin and products).
#define ROPE_REL_L1 3e-7
#define ROPE_MAX_ERR 5e-7

static void run_case(const grid *g, test_inputs inputs, uint64_t seed) {
  char what[200], label[160];
  snprintf(label, sizeof label, "rope_3d (B=%lld, grid %lldx%lldx%lld+%lld, H=%lld, D=%lld, theta=%g, %s)",
           (long long)g->batch, (long long)g->frames, (long long)g->height, (long long)g->width,
           (long long)g->frame_offset, (long long)g->heads, (long long)g->dim, g->theta, test_inputs_name[inputs]);
  const int64_t S = g->frames * g->height * g->width;
  const int64_t shape[4] = {g->batch, S, g->heads, g->dim}, n = g->batch * S * g->heads * g->dim;
  vdit_tensor x = test_alloc(4, shape), y = test_alloc(4, shape), dy = test_alloc(4, shape), dx = test_alloc(4, shape);
  test_fill(&x, seed, inputs, 0.0, 1.0);
  test_fill(&dy, seed + 1, inputs, 0.0, 1.0);
  double *xd = test_to_double(&x), *dyd = test_to_double(&dy);
  double *y_ref = malloc((size_t)n * 8), *dx_ref = malloc((size_t)n * 8);
  reference_rope(g, xd, y_ref, 0);
  reference_rope(g, dyd, dx_ref, 1);
  const vdit_rope_3d rope = rope_of(g);
  CHECK_OK(vdit_ops_rope_3d_forward(&rope, &x, &y));
  snprintf(what, sizeof what, "%s: y", label);
  test_expect_close(what, &y, y_ref, ROPE_REL_L1, ROPE_MAX_ERR);
  CHECK_OK(vdit_ops_rope_3d_backward(&rope, &dy, &dx, VDIT_GRAD_OVERWRITE));
  snprintf(what, sizeof what, "%s: dx", label);
  test_expect_close(what, &dx, dx_ref, ROPE_REL_L1, ROPE_MAX_ERR);
  CHECK_OK(vdit_ops_rope_3d_backward(&rope, &dy, &dx, VDIT_GRAD_ACCUMULATE));
  for (int64_t i = 0; i < n; i++) dx_ref[i] *= 2;
  snprintf(what, sizeof what, "%s: dx accumulated", label);
  test_expect_close(what, &dx, dx_ref, ROPE_REL_L1, ROPE_MAX_ERR);
  // The backward undoes the forward: x = R^T R x.
  CHECK_OK(vdit_ops_rope_3d_backward(&rope, &y, &dx, VDIT_GRAD_OVERWRITE));
  snprintf(what, sizeof what, "%s: round trip", label);
  test_expect_close(what, &dx, xd, ROPE_REL_L1, ROPE_MAX_ERR);
  // In place both ways.
  CHECK_OK(vdit_ops_rope_3d_forward(&rope, &x, &x));
  snprintf(what, sizeof what, "%s: y in place", label);
  test_expect_close(what, &x, y_ref, ROPE_REL_L1, ROPE_MAX_ERR);
  CHECK_OK(vdit_ops_rope_3d_backward(&rope, &dy, &dy, VDIT_GRAD_OVERWRITE));
  for (int64_t i = 0; i < n; i++) dx_ref[i] /= 2;
  snprintf(what, sizeof what, "%s: dx in place", label);
  test_expect_close(what, &dy, dx_ref, ROPE_REL_L1, ROPE_MAX_ERR);
  vdit_tensor *all[4] = {&x, &y, &dy, &dx};
  for (int i = 0; i < 4; i++) vdit_tensor_free(all[i]);
  free(xd); free(dyd); free(y_ref); free(dx_ref);
}

// Q and K as views of a fused (B, S, 3, H, D) projection: strides (S 3 H D, 3 H D, D, 1).
static void test_fused_views(void) {
  const grid g = {2, 2, 3, 4, 3, 12, 1, 0};
  const int64_t S = 24, fused_shape[5] = {2, S, 3, 3, 12}, n = 2 * S * 3 * 12;
  vdit_tensor fused = test_alloc(5, fused_shape), out = test_alloc(5, fused_shape);
  test_fill(&fused, 601, TEST_OUTLIERS, 0.0, 1.0);
  const int64_t shape[4] = {2, S, 3, 12}, stride[4] = {S * 3 * 3 * 12, 3 * 3 * 12, 12, 1};
  vdit_tensor k, k_out;
  CHECK_OK(vdit_tensor_view(&k, (float *)fused.data + 3 * 12, VDIT_DTYPE_F32, VDIT_CPU, 4, shape, stride));
  CHECK_OK(vdit_tensor_view(&k_out, (float *)out.data + 3 * 12, VDIT_DTYPE_F32, VDIT_CPU, 4, shape, stride));
  double *kd = test_to_double(&k), *ref = malloc((size_t)n * 8);
  reference_rope(&g, kd, ref, 0);
  const vdit_rope_3d rope = rope_of(&g);
  CHECK_OK(vdit_ops_rope_3d_forward(&rope, &k, &k_out));
  test_expect_close("rope_3d on a fused QKV view", &k_out, ref, ROPE_REL_L1, ROPE_MAX_ERR);
  // Q and V slots of the output buffer untouched (NaN).
  for (int64_t t = 0; t < 2 * S; t++) {
    CHECK(isnan(((float *)out.data)[t * 3 * 3 * 12]));
    CHECK(isnan(((float *)out.data)[t * 3 * 3 * 12 + 2 * 3 * 12]));
  }
  vdit_tensor_free(&fused);
  vdit_tensor_free(&out);
  free(kd);
  free(ref);
}

// The split of Wan's head dim and a few others: h = w = 2 floor(D / 6), t = D - h - w.
static void test_split(void) {
  const int64_t cases[][4] = {{128, 44, 42, 42}, {64, 24, 20, 20}, {2, 2, 0, 0}, {12, 4, 4, 4}, {6, 2, 2, 2}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int64_t parts[3];
    vdit_ops_rope_3d_split(cases[i][0], parts);
    CHECK_EQ_INT(parts[0], cases[i][1]);
    CHECK_EQ_INT(parts[1], cases[i][2]);
    CHECK_EQ_INT(parts[2], cases[i][3]);
  }
  // Token (f, h, w) = (1, 2, 3) of a 2x3x4 grid, D = 128: channel 0 turns by f (k = 0 of the
  // frame part), channel 44 by h, channel 86 by w, and the last pair of the frame part by
  // f theta^(-42/44).
  float x[24 * 128] = {0}, y[24 * 128];
  const int64_t s = (1 * 3 + 2) * 4 + 3;
  for (int64_t c = 0; c < 128; c += 2) x[s * 128 + c] = 1.0f; // (1, 0) in every pair
  vdit_tensor xt, yt;
  CHECK_OK(vdit_tensor_view(&xt, x, VDIT_DTYPE_F32, VDIT_CPU, 4, (int64_t[]){1, 24, 1, 128}, NULL));
  CHECK_OK(vdit_tensor_view(&yt, y, VDIT_DTYPE_F32, VDIT_CPU, 4, (int64_t[]){1, 24, 1, 128}, NULL));
  const vdit_rope_3d rope = {2, 3, 4, 0, 0};
  CHECK_OK(vdit_ops_rope_3d_forward(&rope, &xt, &yt));
  const float *row = y + s * 128;
  CHECK_NEAR(row[0], cos(1.0), 1e-7);
  CHECK_NEAR(row[1], sin(1.0), 1e-7);
  CHECK_NEAR(row[44], cos(2.0), 1e-7);
  CHECK_NEAR(row[45], sin(2.0), 1e-7);
  CHECK_NEAR(row[86], cos(3.0), 1e-7);
  CHECK_NEAR(row[87], sin(3.0), 1e-7);
  CHECK_NEAR(row[42], cos(pow(10000.0, -42.0 / 44.0)), 1e-7);
  CHECK_NEAR(row[43], sin(pow(10000.0, -42.0 / 44.0)), 1e-7);
}

// ---------------------------------------------------------------- finite differences
typedef struct fd_context {
  grid g;
  double *x, *dy, *y;
  int64_t n;
} fd_context;

static double fd_loss(void *context) {
  fd_context *c = context;
  reference_rope(&c->g, c->x, c->y, 0);
  double sum = 0;
  for (int64_t i = 0; i < c->n; i++) sum += c->dy[i] * c->y[i];
  return sum;
}

static void test_finite_differences(void) {
  fd_context c = {{1, 2, 2, 3, 2, 12, 3, 0}, NULL, NULL, NULL, 1 * 12 * 2 * 12};
  c.x = test_random_doubles(701, (size_t)c.n, 1.0);
  c.dy = test_random_doubles(702, (size_t)c.n, 1.0);
  c.y = malloc((size_t)c.n * 8);
  double *dx = malloc((size_t)c.n * 8);
  reference_rope(&c.g, c.dy, dx, 1); // the backward: the inverse rotation of dy
  test_check_gradient("rope_3d dx", fd_loss, &c, c.x, (size_t)c.n, dx, 1e-7);
  free(c.x); free(c.dy); free(c.y); free(dx);
}

int main(void) {
  test_split();
  const grid grids[] = {
      {1, 1, 1, 1, 1, 2, 0, 0},      {2, 3, 4, 5, 2, 128, 0, 0}, // Wan's head dim
      {1, 2, 3, 3, 3, 12, 5, 0},     {1, 1, 2, 7, 1, 64, 0, 500.0}, {2, 2, 1, 1, 5, 6, 0, 0},
      {1, 21, 2, 2, 1, 128, 0, 0}, // 21 latent frames (81 video frames)
      {1, 3, 5, 7, 2, 30, 13, 0},
  };
  uint64_t seed = 4000;
  for (size_t i = 0; i < sizeof grids / sizeof grids[0]; i++)
    for (int inputs = 0; inputs < 2; inputs++) run_case(&grids[i], inputs, seed += 10);
  test_fused_views();
  test_finite_differences();
  return check_finish("test_ops_rope");
}
