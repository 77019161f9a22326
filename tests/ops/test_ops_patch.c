// Patch embedding (Conv3d with kernel = stride) and unpatchify against plain fp64
// references written from their definitions: the Conv3d sum, diffusers' flatten(2) +
// transpose(1, 2) token order, and Wan's output reshape (B, F', H', W', p_t, p_h, p_w, C) ->
// permute(0, 7, 1, 4, 2, 5, 3, 6). Odd patch sizes, strided views, accumulation, and the
// reference backward against central finite differences.
#include "ops_test_util.h"

typedef struct geometry {
  int64_t batch, channels, frames, height, width; // video (B, C, F, H, W)
  int64_t pt, ph, pw, dim;
} geometry;

static int64_t tokens_of(const geometry *g) { return (g->frames / g->pt) * (g->height / g->ph) * (g->width / g->pw); }
static int64_t patch_size(const geometry *g) { return g->channels * g->pt * g->ph * g->pw; }

static int64_t video_index(const geometry *g, int64_t b, int64_t c, int64_t f, int64_t h, int64_t w) {
  return (((b * g->channels + c) * g->frames + f) * g->height + h) * g->width + w;
}

// tokens[b, s, o] = bias[o] + sum_{c,i,j,l} weight[o, c, i, j, l] video[b, c, f p_t + i, ...]
// with s = (f H' + h) W' + w: Conv3d's (B, dim, F', H', W') output flattened and transposed.
static void reference_embed(const geometry *g, const double *video, const double *weight, const double *bias,
                            double *tokens) {
  const int64_t Fp = g->frames / g->pt, Hp = g->height / g->ph, Wp = g->width / g->pw, S = tokens_of(g);
  for (int64_t b = 0; b < g->batch; b++)
    for (int64_t f = 0; f < Fp; f++)
      for (int64_t h = 0; h < Hp; h++)
        for (int64_t w = 0; w < Wp; w++)
          for (int64_t o = 0; o < g->dim; o++) {
            double sum = bias ? bias[o] : 0.0;
            for (int64_t c = 0; c < g->channels; c++)
              for (int64_t i = 0; i < g->pt; i++)
                for (int64_t j = 0; j < g->ph; j++)
                  for (int64_t l = 0; l < g->pw; l++)
                    sum += weight[(((o * g->channels + c) * g->pt + i) * g->ph + j) * g->pw + l] *
                           video[video_index(g, b, c, f * g->pt + i, h * g->ph + j, w * g->pw + l)];
            tokens[(b * S + (f * Hp + h) * Wp + w) * g->dim + o] = sum;
          }
}

static void reference_embed_backward(const geometry *g, const double *video, const double *weight,
                                     const double *dtokens, double *dvideo, double *dweight, double *dbias) {
  const int64_t Fp = g->frames / g->pt, Hp = g->height / g->ph, Wp = g->width / g->pw, S = tokens_of(g);
  memset(dvideo, 0, (size_t)(g->batch * g->channels * g->frames * g->height * g->width) * 8);
  memset(dweight, 0, (size_t)(g->dim * patch_size(g)) * 8);
  memset(dbias, 0, (size_t)g->dim * 8);
  for (int64_t b = 0; b < g->batch; b++)
    for (int64_t f = 0; f < Fp; f++)
      for (int64_t h = 0; h < Hp; h++)
        for (int64_t w = 0; w < Wp; w++)
          for (int64_t o = 0; o < g->dim; o++) {
            const double d = dtokens[(b * S + (f * Hp + h) * Wp + w) * g->dim + o];
            dbias[o] += d;
            for (int64_t c = 0; c < g->channels; c++)
              for (int64_t i = 0; i < g->pt; i++)
                for (int64_t j = 0; j < g->ph; j++)
                  for (int64_t l = 0; l < g->pw; l++) {
                    const int64_t wi = (((o * g->channels + c) * g->pt + i) * g->ph + j) * g->pw + l;
                    const int64_t vi = video_index(g, b, c, f * g->pt + i, h * g->ph + j, w * g->pw + l);
                    dweight[wi] += d * video[vi];
                    dvideo[vi] += d * weight[wi];
                  }
          }
}

// video[b, c, f p_t + i, h p_h + j, w p_w + l] = tokens[b, (f H' + h) W' + w, ((i p_h + j) p_w + l) C + c]
static void reference_unpatchify(const geometry *g, const double *tokens, double *video) {
  const int64_t Fp = g->frames / g->pt, Hp = g->height / g->ph, Wp = g->width / g->pw, S = tokens_of(g);
  const int64_t K = patch_size(g);
  for (int64_t b = 0; b < g->batch; b++)
    for (int64_t f = 0; f < Fp; f++)
      for (int64_t h = 0; h < Hp; h++)
        for (int64_t w = 0; w < Wp; w++)
          for (int64_t i = 0; i < g->pt; i++)
            for (int64_t j = 0; j < g->ph; j++)
              for (int64_t l = 0; l < g->pw; l++)
                for (int64_t c = 0; c < g->channels; c++)
                  video[video_index(g, b, c, f * g->pt + i, h * g->ph + j, w * g->pw + l)] =
                      tokens[(b * S + (f * Hp + h) * Wp + w) * K + ((i * g->ph + j) * g->pw + l) * g->channels + c];
}

// Measured: rel_l1 <= 1.7e-7, max_err <= 4.2e-7 (fp32 GEMM sums); unpatchify is exact.
#define PATCH_REL_L1 1e-6
#define PATCH_MAX_ERR 4e-6

static void run_case(const geometry *g, test_inputs inputs, uint64_t seed) {
  char label[200], what[260];
  snprintf(label, sizeof label, "video (%lld, %lld, %lld, %lld, %lld) patch (%lld, %lld, %lld) dim %lld %s",
           (long long)g->batch, (long long)g->channels, (long long)g->frames, (long long)g->height,
           (long long)g->width, (long long)g->pt, (long long)g->ph, (long long)g->pw, (long long)g->dim,
           test_inputs_name[inputs]);
  const int64_t S = tokens_of(g), K = patch_size(g);
  const int64_t video_shape[5] = {g->batch, g->channels, g->frames, g->height, g->width};
  const int64_t weight_shape[5] = {g->dim, g->channels, g->pt, g->ph, g->pw}, bias_shape[1] = {g->dim};
  const int64_t token_shape[3] = {g->batch, S, g->dim}, patch_token_shape[3] = {g->batch, S, K};
  const int64_t nv = g->batch * g->channels * g->frames * g->height * g->width, nt = g->batch * S * g->dim;
  vdit_tensor video = test_alloc(5, video_shape), weight = test_alloc(5, weight_shape), bias = test_alloc(1, bias_shape);
  vdit_tensor tokens = test_alloc(3, token_shape), dtokens = test_alloc(3, token_shape);
  vdit_tensor dvideo = test_alloc(5, video_shape), dweight = test_alloc(5, weight_shape), dbias = test_alloc(1, bias_shape);
  test_fill(&video, seed, inputs, 0.0, 1.0);
  test_fill(&weight, seed + 1, TEST_PLAIN, 0.0, 1.0 / sqrt((double)K));
  test_fill(&bias, seed + 2, TEST_PLAIN, 0.0, 1.0);
  test_fill(&dtokens, seed + 3, inputs, 0.0, 1.0);
  double *vd = test_to_double(&video), *wd = test_to_double(&weight), *bd = test_to_double(&bias);
  double *dtd = test_to_double(&dtokens);
  double *t_ref = malloc((size_t)(nt + 1) * 8), *dv_ref = malloc((size_t)(nv + 1) * 8);
  double *dw_ref = malloc((size_t)(g->dim * K + 1) * 8), *db_ref = malloc((size_t)(g->dim + 1) * 8);
  reference_embed(g, vd, wd, bd, t_ref);
  reference_embed_backward(g, vd, wd, dtd, dv_ref, dw_ref, db_ref);

  CHECK_OK(vdit_ops_patch_embed_forward(&video, &weight, &bias, &tokens));
  snprintf(what, sizeof what, "patch_embed tokens, %s", label);
  test_expect_close(what, &tokens, t_ref, PATCH_REL_L1, PATCH_MAX_ERR);
  CHECK_OK(vdit_ops_patch_embed_backward(&video, &weight, &dtokens, &dvideo, &dweight, &dbias, VDIT_GRAD_OVERWRITE));
  const struct { const char *name; vdit_tensor *t; double *ref; int64_t n; } grads[3] = {
      {"dvideo", &dvideo, dv_ref, nv}, {"dweight", &dweight, dw_ref, g->dim * K}, {"dbias", &dbias, db_ref, g->dim}};
  for (int k = 0; k < 3; k++) {
    snprintf(what, sizeof what, "patch_embed %s, %s", grads[k].name, label);
    test_expect_close(what, grads[k].t, grads[k].ref, PATCH_REL_L1, PATCH_MAX_ERR);
  }
  CHECK_OK(vdit_ops_patch_embed_backward(&video, &weight, &dtokens, &dvideo, &dweight, &dbias, VDIT_GRAD_ACCUMULATE));
  for (int k = 0; k < 3; k++) {
    for (int64_t i = 0; i < grads[k].n; i++) grads[k].ref[i] *= 2;
    snprintf(what, sizeof what, "patch_embed %s accumulated, %s", grads[k].name, label);
    test_expect_close(what, grads[k].t, grads[k].ref, PATCH_REL_L1, PATCH_MAX_ERR);
  }
  // Without bias; and the backward for dweight alone (no weight needed) and dvideo alone.
  CHECK_OK(vdit_tensor_poison(&tokens));
  CHECK_OK(vdit_ops_patch_embed_forward(&video, &weight, NULL, &tokens));
  reference_embed(g, vd, wd, NULL, t_ref);
  snprintf(what, sizeof what, "patch_embed tokens without bias, %s", label);
  test_expect_close(what, &tokens, t_ref, PATCH_REL_L1, PATCH_MAX_ERR);
  reference_embed_backward(g, vd, wd, dtd, dv_ref, dw_ref, db_ref);
  CHECK_OK(vdit_tensor_poison(&dweight));
  CHECK_OK(vdit_ops_patch_embed_backward(&video, NULL, &dtokens, NULL, &dweight, NULL, VDIT_GRAD_OVERWRITE));
  test_expect_close("patch_embed dweight alone", &dweight, dw_ref, PATCH_REL_L1, PATCH_MAX_ERR);
  CHECK_OK(vdit_tensor_poison(&dvideo));
  CHECK_OK(vdit_ops_patch_embed_backward(NULL, &weight, &dtokens, &dvideo, NULL, NULL, VDIT_GRAD_OVERWRITE));
  test_expect_close("patch_embed dvideo alone", &dvideo, dv_ref, PATCH_REL_L1, PATCH_MAX_ERR);

  // Unpatchify: an exact permutation, both ways.
  vdit_tensor ptokens = test_alloc(3, patch_token_shape), out = test_alloc(5, video_shape);
  test_fill(&ptokens, seed + 5, inputs, 0.0, 1.0);
  double *ptd = test_to_double(&ptokens), *v_ref = malloc((size_t)(nv + 1) * 8);
  reference_unpatchify(g, ptd, v_ref);
  const int64_t patch[3] = {g->pt, g->ph, g->pw};
  CHECK_OK(vdit_ops_unpatchify_forward(&ptokens, patch, &out));
  snprintf(what, sizeof what, "unpatchify, %s", label);
  test_expect_close(what, &out, v_ref, 0.0, 0.0);
  CHECK_OK(vdit_tensor_poison(&ptokens));
  CHECK_OK(vdit_ops_unpatchify_backward(&out, patch, &ptokens, VDIT_GRAD_OVERWRITE));
  snprintf(what, sizeof what, "unpatchify backward, %s", label);
  test_expect_close(what, &ptokens, ptd, 0.0, 0.0);
  CHECK_OK(vdit_ops_unpatchify_backward(&out, patch, &ptokens, VDIT_GRAD_ACCUMULATE));
  for (int64_t i = 0; i < g->batch * S * K; i++) ptd[i] *= 2;
  snprintf(what, sizeof what, "unpatchify backward accumulated, %s", label);
  test_expect_close(what, &ptokens, ptd, 0.0, 0.0);

  vdit_tensor *all[10] = {&video, &weight, &bias, &tokens, &dtokens, &dvideo, &dweight, &dbias, &ptokens, &out};
  for (int i = 0; i < 10; i++) vdit_tensor_free(all[i]);
  free(vd); free(wd); free(bd); free(dtd); free(t_ref); free(dv_ref); free(dw_ref); free(db_ref); free(ptd);
  free(v_ref);
}

// A video whose W rows are padded (a view of a wider buffer), a weight with padded rows,
// tokens as a column slice: the strides reach the gather and the GEMM.
static void test_views(void) {
  const geometry g = {2, 3, 4, 6, 4, 2, 3, 2, 5};
  const int64_t S = tokens_of(&g), K = patch_size(&g);
  vdit_tensor vbuf = test_alloc(5, (int64_t[]){2, 3, 4, 6, 4 + 3});
  vdit_tensor wbuf = test_alloc(2, (int64_t[]){g.dim, K + 2});
  vdit_tensor tbuf = test_alloc(3, (int64_t[]){2, S, g.dim + 4});
  test_fill(&vbuf, 801, TEST_OUTLIERS, 0.0, 1.0);
  test_fill(&wbuf, 802, TEST_PLAIN, 0.0, 0.3);
  vdit_tensor video, weight, tokens;
  CHECK_OK(vdit_tensor_view(&video, (float *)vbuf.data + 1, VDIT_DTYPE_F32, VDIT_CPU, 5, (int64_t[]){2, 3, 4, 6, 4},
                            vbuf.stride));
  CHECK_OK(vdit_tensor_view(&weight, (float *)wbuf.data + 2, VDIT_DTYPE_F32, VDIT_CPU, 5,
                            (int64_t[]){g.dim, 3, 2, 3, 2}, (int64_t[]){K + 2, 12, 6, 2, 1}));
  CHECK_OK(vdit_tensor_view(&tokens, (float *)tbuf.data + 3, VDIT_DTYPE_F32, VDIT_CPU, 3, (int64_t[]){2, S, g.dim},
                            tbuf.stride));
  double *vd = test_to_double(&video), *wd = test_to_double(&weight), *ref = malloc((size_t)(2 * S * g.dim) * 8);
  reference_embed(&g, vd, wd, NULL, ref);
  CHECK_OK(vdit_ops_patch_embed_forward(&video, &weight, NULL, &tokens));
  test_expect_close("patch_embed on strided views", &tokens, ref, PATCH_REL_L1, PATCH_MAX_ERR);
  // A weight whose inner dims are not contiguous is refused.
  vdit_tensor bad;
  CHECK_OK(vdit_tensor_view(&bad, wbuf.data, VDIT_DTYPE_F32, VDIT_CPU, 5, (int64_t[]){g.dim, 3, 2, 3, 2},
                            (int64_t[]){K + 2, 13, 6, 2, 1}));
  CHECK_STATUS(vdit_ops_patch_embed_forward(&video, &bad, NULL, &tokens), VDIT_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(vdit_last_error(), "contiguous (C, p_t, p_h, p_w)") != NULL);
  vdit_tensor_free(&vbuf);
  vdit_tensor_free(&wbuf);
  vdit_tensor_free(&tbuf);
  free(vd); free(wd); free(ref);
}

// ---------------------------------------------------------------- finite differences
typedef struct fd_context {
  geometry g;
  double *video, *weight, *bias, *dtokens, *tokens;
} fd_context;

static double fd_loss(void *context) {
  fd_context *c = context;
  reference_embed(&c->g, c->video, c->weight, c->bias, c->tokens);
  double sum = 0;
  for (int64_t i = 0; i < c->g.batch * tokens_of(&c->g) * c->g.dim; i++) sum += c->dtokens[i] * c->tokens[i];
  return sum;
}

static void test_finite_differences(void) {
  fd_context c = {{1, 2, 2, 2, 4, 1, 2, 2, 3}, NULL, NULL, NULL, NULL, NULL};
  const size_t nv = 32, nw = 24, nt = 12; // S = 2 * 1 * 2 tokens of dim 3
  c.video = test_random_doubles(901, nv, 1.0);
  c.weight = test_random_doubles(902, nw, 0.5);
  c.bias = test_random_doubles(903, 3, 1.0);
  c.dtokens = test_random_doubles(904, nt, 1.0);
  c.tokens = malloc(nt * 8);
  double dvideo[32], dweight[24], dbias[3];
  reference_embed_backward(&c.g, c.video, c.weight, c.dtokens, dvideo, dweight, dbias);
  test_check_gradient("patch_embed dvideo", fd_loss, &c, c.video, nv, dvideo, 1e-7);
  test_check_gradient("patch_embed dweight", fd_loss, &c, c.weight, nw, dweight, 1e-7);
  test_check_gradient("patch_embed dbias", fd_loss, &c, c.bias, 3, dbias, 1e-7);
  free(c.video); free(c.weight); free(c.bias); free(c.dtokens); free(c.tokens);
}

int main(void) {
  const geometry geometries[] = {
      {1, 1, 1, 1, 1, 1, 1, 1, 1},
      {1, 16, 3, 8, 6, 1, 2, 2, 33},   // Wan: 16 latent channels, patch (1, 2, 2)
      {2, 3, 4, 6, 5, 2, 3, 1, 7},     // every patch axis different
      {1, 5, 2, 4, 4, 2, 2, 4, 130},
      {2, 16, 2, 6, 10, 1, 2, 2, 64},
  };
  uint64_t seed = 5000;
  for (size_t i = 0; i < sizeof geometries / sizeof geometries[0]; i++)
    for (int inputs = 0; inputs < 2; inputs++) run_case(&geometries[i], inputs, seed += 10);
  test_views();
  test_finite_differences();
  return check_finish("test_ops_patch");
}
