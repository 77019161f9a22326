// vdit_ops_patch_embed_* and vdit_ops_unpatchify_*: argument checks, then the CPU kernels
// (src/ops/cpu/patch.c).
#include <string.h>

#include "ops/ops_internal.h"

// A (B, C, F, H, W) video argument.
static vdit_status video_of(const char *op, const char *name, const vdit_tensor *t, int output, ops_video *v) {
  ops_rows rows;
  VDIT_TRY(output ? ops_rows_output(op, name, t, &rows) : ops_rows_view(op, name, t, &rows));
  if (t->ndim != 5)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: %s must be (B, C, F, H, W), got %d dims", op, name, t->ndim);
  v->data = t->data;
  v->dtype = t->dtype;
  v->device = t->device;
  memcpy(v->shape, t->shape, sizeof v->shape);
  memcpy(v->stride, t->stride, sizeof v->stride);
  return VDIT_OK;
}

// The video must be whole patches; gives the token count S.
static vdit_status check_patches(const char *op, const char *name, const ops_video *v, const int64_t patch[3],
                                 int64_t *tokens) {
  for (int a = 0; a < 3; a++)
    if (patch[a] < 1)
      return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: patch size (%lld, %lld, %lld) must be >= 1", op,
                        (long long)patch[0], (long long)patch[1], (long long)patch[2]);
  for (int a = 0; a < 3; a++)
    if (v->shape[2 + a] % patch[a] != 0)
      return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT,
                        "%s: %s (F, H, W) = (%lld, %lld, %lld) is not a whole number of (%lld, %lld, %lld) patches", op,
                        name, (long long)v->shape[2], (long long)v->shape[3], (long long)v->shape[4],
                        (long long)patch[0], (long long)patch[1], (long long)patch[2]);
  *tokens = (v->shape[2] / patch[0]) * (v->shape[3] / patch[1]) * (v->shape[4] / patch[2]);
  return VDIT_OK;
}

// The (dim, C, p_t, p_h, p_w) Conv3d weight as a (dim, C p_t p_h p_w) matrix.
static vdit_status weight_matrix(const char *op, const char *name, const vdit_tensor *t, int output, ops_rows *m) {
  ops_rows rows;
  VDIT_TRY(output ? ops_rows_output(op, name, t, &rows) : ops_rows_view(op, name, t, &rows));
  if (t->ndim != 5)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: %s must be (dim, C, p_t, p_h, p_w), got %d dims", op, name,
                      t->ndim);
  vdit_tensor inner = *t; // dims 1..4
  inner.ndim = 4;
  memmove(inner.shape, t->shape + 1, 4 * sizeof(int64_t));
  memmove(inner.stride, t->stride + 1, 4 * sizeof(int64_t));
  if (!vdit_tensor_is_contiguous(&inner))
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: %s needs contiguous (C, p_t, p_h, p_w) dims", op, name);
  memset(m, 0, sizeof *m);
  m->data = t->data;
  m->dtype = t->dtype;
  m->device = t->device;
  m->rows = t->shape[0];
  m->cols = vdit_tensor_numel(&inner);
  if (m->rows > 1 && m->cols > 0) {
    m->lead = 1;
    m->shape[0] = m->rows;
    m->stride[0] = t->stride[0];
  }
  return VDIT_OK;
}

// tokens (B, S, width), a GEMM operand.
static vdit_status tokens_of(const char *op, const char *name, const vdit_tensor *t, int output, const int64_t want[3],
                             ops_rows *v) {
  VDIT_TRY(output ? ops_rows_output(op, name, t, v) : ops_rows_view(op, name, t, v));
  VDIT_TRY(ops_check_shape(op, name, t, "(B, S, dim)", 3, want));
  return ops_check_matrix(op, name, v);
}

vdit_status vdit_ops_patch_embed_forward(const vdit_tensor *video, const vdit_tensor *weight, const vdit_tensor *bias,
                                         vdit_tensor *tokens) {
  static const char op[] = "patch_embed";
  ops_video vv;
  ops_rows wm, tv;
  float *b;
  VDIT_TRY(video_of(op, "video", video, 0, &vv));
  VDIT_TRY(weight_matrix(op, "weight", weight, 0, &wm));
  VDIT_TRY(ops_check_shape(op, "weight", weight, "(dim, C, p_t, p_h, p_w)", 5,
                           (int64_t[]){-1, vv.shape[1], -1, -1, -1}));
  const int64_t dim = weight->shape[0], *patch = weight->shape + 2;
  int64_t tokens_per_batch;
  VDIT_TRY(check_patches(op, "video", &vv, patch, &tokens_per_batch));
  VDIT_TRY(ops_vector(op, "bias", bias, "(dim)", dim, 0, &b));
  VDIT_TRY(tokens_of(op, "tokens", tokens, 1, (int64_t[]){vv.shape[0], tokens_per_batch, dim}, &tv));
  if (tv.rows == 0 || dim == 0) return VDIT_OK;
  (void)b;
  return ops_patch_embed_forward(op, &vv, patch, &wm, bias, &tv);
}

vdit_status vdit_ops_patch_embed_backward(const vdit_tensor *video, const vdit_tensor *weight,
                                          const vdit_tensor *dtokens, vdit_tensor *dvideo, vdit_tensor *dweight,
                                          vdit_tensor *dbias, vdit_grad_mode mode) {
  static const char op[] = "patch_embed backward";
  VDIT_TRY(ops_check_mode(op, mode));
  ops_rows dtv, wm, dwm;
  ops_video vv, dvv;
  float *db;
  VDIT_TRY(ops_rows_view(op, "dtokens", dtokens, &dtv));
  if (dtokens->ndim != 3)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: dtokens must be (B, S, dim), got %d dims", op, dtokens->ndim);
  VDIT_TRY(ops_check_matrix(op, "dtokens", &dtv));
  const int64_t dim = dtokens->shape[2];
  VDIT_TRY(ops_vector(op, "dbias", dbias, "(dim)", dim, 1, &db));
  if (!dvideo && !dweight)
    return ops_patch_embed_backward(op, NULL, NULL, NULL, &dtv, NULL, NULL, dbias, mode == VDIT_GRAD_ACCUMULATE);

  // The patch geometry comes from weight (needed for dvideo) or dweight; the video shape
  // from video (needed for dweight) or dvideo.
  if (dvideo && !weight) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: dvideo needs weight", op);
  if (dweight && !video) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: dweight needs video", op);
  if (weight) VDIT_TRY(weight_matrix(op, "weight", weight, 0, &wm));
  if (dweight) VDIT_TRY(weight_matrix(op, "dweight", dweight, 1, &dwm));
  const vdit_tensor *geometry = weight ? weight : dweight;
  if (weight && dweight) VDIT_TRY(ops_check_shape(op, "dweight", dweight, "like weight", 5, weight->shape));
  if (video) VDIT_TRY(video_of(op, "video", video, 0, &vv));
  if (dvideo) VDIT_TRY(video_of(op, "dvideo", dvideo, 1, &dvv));
  if (video && dvideo) VDIT_TRY(ops_check_shape(op, "dvideo", dvideo, "like video", 5, video->shape));
  const ops_video *shape = video ? &vv : &dvv;
  VDIT_TRY(ops_check_shape(op, weight ? "weight" : "dweight", geometry, "(dim, C, p_t, p_h, p_w)", 5,
                           (int64_t[]){dim, shape->shape[1], -1, -1, -1}));
  const int64_t *patch = geometry->shape + 2;
  int64_t tokens_per_batch;
  VDIT_TRY(check_patches(op, video ? "video" : "dvideo", shape, patch, &tokens_per_batch));
  VDIT_TRY(ops_check_shape(op, "dtokens", dtokens, "(B, S, dim)", 3,
                           (int64_t[]){shape->shape[0], tokens_per_batch, dim}));
  (void)db;
  return ops_patch_embed_backward(op, video ? &vv : NULL, patch, weight ? &wm : NULL, &dtv, dvideo ? &dvv : NULL,
                                  dweight ? &dwm : NULL, dbias, mode == VDIT_GRAD_ACCUMULATE);
}

// Unpatchify's tokens (B, S, p_t p_h p_w C) for a video.
static vdit_status unpatchify_check(const char *op, const ops_video *video, const char *video_name,
                                    const int64_t patch[3], const vdit_tensor *tokens, const char *tokens_name,
                                    int tokens_output, ops_rows *tv) {
  if (!patch) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: patch is NULL", op);
  int64_t tokens_per_batch;
  VDIT_TRY(check_patches(op, video_name, video, patch, &tokens_per_batch));
  VDIT_TRY(tokens_output ? ops_rows_output(op, tokens_name, tokens, tv) : ops_rows_view(op, tokens_name, tokens, tv));
  return ops_check_shape(op, tokens_name, tokens, "(B, S, p_t p_h p_w C)", 3,
                         (int64_t[]){video->shape[0], tokens_per_batch, patch[0] * patch[1] * patch[2] * video->shape[1]});
}

vdit_status vdit_ops_unpatchify_forward(const vdit_tensor *tokens, const int64_t patch[3], vdit_tensor *video) {
  static const char op[] = "unpatchify";
  ops_video vv;
  ops_rows tv;
  VDIT_TRY(video_of(op, "video", video, 1, &vv));
  VDIT_TRY(unpatchify_check(op, &vv, "video", patch, tokens, "tokens", 0, &tv));
  return ops_patch_scatter(op, &tv, patch, 1, &vv, 0);
}

vdit_status vdit_ops_unpatchify_backward(const vdit_tensor *dvideo, const int64_t patch[3], vdit_tensor *dtokens,
                                         vdit_grad_mode mode) {
  static const char op[] = "unpatchify backward";
  ops_video vv;
  ops_rows tv;
  VDIT_TRY(ops_check_mode(op, mode));
  VDIT_TRY(video_of(op, "dvideo", dvideo, 0, &vv));
  VDIT_TRY(unpatchify_check(op, &vv, "dvideo", patch, dtokens, "dtokens", 1, &tv));
  return ops_patch_gather(op, &vv, patch, 1, &tv, mode == VDIT_GRAD_ACCUMULATE);
}
