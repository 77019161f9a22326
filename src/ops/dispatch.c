// Device dispatch of the ops layer (src/ops/ops_internal.h): after a public entry point has
// validated its arguments, the call goes to the CPU kernel (src/ops/cpu/) or, for tensors on
// a GPU, to the CUDA one (src/ops/cuda/ops_cuda.h). Checks here: one device for every tensor
// of a call, and on a GPU row views whose leading dims merge into one stride.
#include <stdio.h>
#include <string.h>

#include "ops/ops_internal.h"

#ifdef VDIT_HAVE_CUDA
#include "ops/cuda/ops_cuda.h"
#endif

static int on_gpu(const ops_rows *v) { return v->device.type == VDIT_DEVICE_CUDA; }

vdit_status ops_dispatch_check(const char *op, int count, const ops_rows *const *rows) {
  const ops_rows *first = NULL;
  for (int i = 0; i < count; i++) {
    const ops_rows *v = rows[i];
    if (!v) continue;
    if (!first) first = v;
    if (!vdit_device_equal(v->device, first->device)) {
      char a[16], b[16];
      return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: every tensor must be on one device (%s and %s given)", op,
                        vdit_device_string(first->device, a, sizeof a), vdit_device_string(v->device, b, sizeof b));
    }
    if (on_gpu(v) && v->lead > 1)
      return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED,
                        "%s: on a GPU every tensor's leading dims must merge into one row stride (copy it first)", op);
  }
  return VDIT_OK;
}

// A vector argument (C) as a one-row view (NULL stays NULL).
static vdit_status vector_rows(const char *op, const vdit_tensor *t, ops_rows *v, const ops_rows **out) {
  *out = NULL;
  if (!t) return VDIT_OK;
  VDIT_TRY(ops_rows_view(op, "vector", t, v));
  *out = v;
  return VDIT_OK;
}

static float *vector_data(const vdit_tensor *t) { return t ? t->data : NULL; }

#define CHECK_DEVICES(op, ...)                                                                        \
  do {                                                                                               \
    const ops_rows *const list_[] = {__VA_ARGS__};                                                   \
    VDIT_TRY(ops_dispatch_check(op, (int)(sizeof list_ / sizeof list_[0]), list_));                  \
  } while (0)

#ifdef VDIT_HAVE_CUDA
#define GPU_CALL(first, call) \
  if (on_gpu(first)) return (call)
#else
#define GPU_CALL(first, call) (void)0
#endif

vdit_status ops_linear_forward(const char *op, const ops_rows *x, const ops_rows *weight, const vdit_tensor *bias,
                               const ops_rows *y) {
  ops_rows bv;
  const ops_rows *b;
  VDIT_TRY(vector_rows(op, bias, &bv, &b));
  CHECK_DEVICES(op, x, weight, b, y);
  GPU_CALL(x, vdit_ops_cuda_linear(op, x, weight, b, NULL, y, OPS_CUDA_EPILOGUE_BIAS));
  return vdit_ops_cpu_linear_forward(x, weight, vector_data(bias), y);
}

vdit_status ops_linear_backward(const char *op, const ops_rows *x, const ops_rows *weight, const ops_rows *dy,
                                const ops_rows *dx, const ops_rows *dweight, const vdit_tensor *dbias, int accumulate) {
  ops_rows bv;
  const ops_rows *db;
  VDIT_TRY(vector_rows(op, dbias, &bv, &db));
  CHECK_DEVICES(op, dy, x, weight, dx, dweight, db);
  GPU_CALL(dy, vdit_ops_cuda_linear_backward(op, x, weight, dy, dx, dweight, db, accumulate));
  return vdit_ops_cpu_linear_backward(x, weight, dy, dx, dweight, vector_data(dbias), accumulate);
}

vdit_status ops_linear_gelu_forward(const char *op, const ops_rows *x, const ops_rows *weight, const vdit_tensor *bias,
                                    const ops_rows *pre, const ops_rows *y) {
  ops_rows bv;
  const ops_rows *b;
  VDIT_TRY(vector_rows(op, bias, &bv, &b));
  CHECK_DEVICES(op, x, weight, b, pre, y);
  GPU_CALL(x, vdit_ops_cuda_linear(op, x, weight, b, pre, y, OPS_CUDA_EPILOGUE_BIAS_GELU));
  // The CPU: the Linear into pre (or y), then GELU into y: the same bits as the two ops.
  const ops_rows *h = pre ? pre : y;
  VDIT_TRY(vdit_ops_cpu_linear_forward(x, weight, vector_data(bias), h));
  vdit_ops_cpu_activation_forward(OPS_ACTIVATION_GELU_TANH, h, y);
  return VDIT_OK;
}

vdit_status ops_linear_dgelu_backward(const char *op, const ops_rows *weight, const ops_rows *dy, const ops_rows *pre,
                                      const ops_rows *dx) {
  CHECK_DEVICES(op, dy, weight, pre, dx);
  GPU_CALL(dy, vdit_ops_cuda_linear_dgelu(op, weight, dy, pre, dx));
  VDIT_TRY(vdit_ops_cpu_linear_backward(NULL, weight, dy, dx, NULL, NULL, 0));
  vdit_ops_cpu_activation_backward(OPS_ACTIVATION_GELU_TANH, pre, dx, dx, 0);
  return VDIT_OK;
}

vdit_status ops_layer_norm_forward(const char *op, const ops_rows *x, const vdit_tensor *weight, const vdit_tensor *bias,
                                   float eps, const ops_rows *scale, const ops_rows *shift, int64_t tokens_per_batch,
                                   const ops_rows *y) {
  ops_rows wv, bv;
  const ops_rows *w, *b;
  VDIT_TRY(vector_rows(op, weight, &wv, &w));
  VDIT_TRY(vector_rows(op, bias, &bv, &b));
  CHECK_DEVICES(op, x, w, b, scale, shift, y);
  GPU_CALL(x, vdit_ops_cuda_layer_norm_forward(op, x, w, b, eps, scale, shift, tokens_per_batch, y));
  vdit_ops_cpu_layer_norm_forward(x, vector_data(weight), vector_data(bias), eps, y);
  if (scale) vdit_ops_cpu_modulate_forward(y, scale, shift, tokens_per_batch, y);
  return VDIT_OK;
}

vdit_status ops_layer_norm_backward(const char *op, const ops_rows *x, const vdit_tensor *weight, float eps,
                                    const ops_rows *dy, const ops_rows *dx, const vdit_tensor *dweight,
                                    const vdit_tensor *dbias, int accumulate) {
  ops_rows wv, dwv, dbv;
  const ops_rows *w, *dw, *db;
  VDIT_TRY(vector_rows(op, weight, &wv, &w));
  VDIT_TRY(vector_rows(op, dweight, &dwv, &dw));
  VDIT_TRY(vector_rows(op, dbias, &dbv, &db));
  CHECK_DEVICES(op, x, w, dy, dx, dw, db);
  GPU_CALL(x, vdit_ops_cuda_layer_norm_backward(op, x, w, eps, dy, dx, dw, db, 0, accumulate));
  return vdit_ops_cpu_layer_norm_backward(x, vector_data(weight), eps, dy, dx, vector_data(dweight),
                                          vector_data(dbias), accumulate);
}

vdit_status ops_rms_norm_forward(const char *op, const ops_rows *x, const vdit_tensor *weight, float eps,
                                 const ops_rows *y) {
  ops_rows wv;
  const ops_rows *w;
  VDIT_TRY(vector_rows(op, weight, &wv, &w));
  CHECK_DEVICES(op, x, w, y);
  GPU_CALL(x, vdit_ops_cuda_rms_norm_forward(op, x, w, eps, y));
  vdit_ops_cpu_rms_norm_forward(x, vector_data(weight), eps, y);
  return VDIT_OK;
}

vdit_status ops_rms_norm_backward(const char *op, const ops_rows *x, const vdit_tensor *weight, float eps,
                                  const ops_rows *dy, const ops_rows *dx, const vdit_tensor *dweight, int accumulate) {
  ops_rows wv, dwv;
  const ops_rows *w, *dw;
  VDIT_TRY(vector_rows(op, weight, &wv, &w));
  VDIT_TRY(vector_rows(op, dweight, &dwv, &dw));
  CHECK_DEVICES(op, x, w, dy, dx, dw);
  GPU_CALL(x, vdit_ops_cuda_layer_norm_backward(op, x, w, eps, dy, dx, dw, NULL, 1, accumulate));
  return vdit_ops_cpu_rms_norm_backward(x, vector_data(weight), eps, dy, dx, vector_data(dweight), accumulate);
}

vdit_status ops_activation_forward(const char *op, ops_activation activation, const ops_rows *x, const ops_rows *y) {
  CHECK_DEVICES(op, x, y);
  GPU_CALL(x, vdit_ops_cuda_activation_forward(op, activation, x, y));
  vdit_ops_cpu_activation_forward(activation, x, y);
  return VDIT_OK;
}

vdit_status ops_activation_backward(const char *op, ops_activation activation, const ops_rows *x, const ops_rows *dy,
                                    const ops_rows *dx, int accumulate) {
  CHECK_DEVICES(op, x, dy, dx);
  GPU_CALL(x, vdit_ops_cuda_activation_backward(op, activation, x, dy, dx, accumulate));
  vdit_ops_cpu_activation_backward(activation, x, dy, dx, accumulate);
  return VDIT_OK;
}

vdit_status ops_modulate_forward(const char *op, const ops_rows *x, const ops_rows *scale, const ops_rows *shift,
                                 int64_t tokens_per_batch, const ops_rows *y) {
  CHECK_DEVICES(op, x, scale, shift, y);
  GPU_CALL(x, vdit_ops_cuda_modulate_forward(op, x, scale, shift, tokens_per_batch, y));
  vdit_ops_cpu_modulate_forward(x, scale, shift, tokens_per_batch, y);
  return VDIT_OK;
}

vdit_status ops_modulate_backward(const char *op, const ops_rows *x, const ops_rows *scale, const ops_rows *dy,
                                  int64_t tokens_per_batch, const ops_rows *dx, const ops_rows *dscale,
                                  const ops_rows *dshift, int accumulate) {
  CHECK_DEVICES(op, dy, x, scale, dx, dscale, dshift);
  GPU_CALL(dy, vdit_ops_cuda_modulate_backward(op, x, scale, dy, tokens_per_batch, dx, dscale, dshift, accumulate));
  vdit_ops_cpu_modulate_backward(x, scale, dy, tokens_per_batch, dx, dscale, dshift, accumulate);
  return VDIT_OK;
}

vdit_status ops_gated_residual_forward(const char *op, const ops_rows *x, const ops_rows *gate, const ops_rows *h,
                                       int64_t tokens_per_batch, const ops_rows *y) {
  CHECK_DEVICES(op, x, gate, h, y);
  GPU_CALL(x, vdit_ops_cuda_gated_residual_forward(op, x, gate, h, tokens_per_batch, y));
  vdit_ops_cpu_gated_residual_forward(x, gate, h, tokens_per_batch, y);
  return VDIT_OK;
}

vdit_status ops_gated_residual_backward(const char *op, const ops_rows *gate, const ops_rows *h, const ops_rows *dy,
                                        int64_t tokens_per_batch, const ops_rows *dx, const ops_rows *dgate,
                                        const ops_rows *dh, int accumulate) {
  CHECK_DEVICES(op, dy, gate, h, dx, dgate, dh);
  GPU_CALL(dy, vdit_ops_cuda_gated_residual_backward(op, gate, h, dy, tokens_per_batch, dx, dgate, dh, accumulate));
  vdit_ops_cpu_gated_residual_backward(gate, h, dy, tokens_per_batch, dx, dgate, dh, accumulate);
  return VDIT_OK;
}

vdit_status ops_rope_3d(const char *op, const vdit_rope_3d *rope, int64_t heads, const ops_rows *x, const ops_rows *y,
                        int inverse, int accumulate) {
  CHECK_DEVICES(op, x, y);
  GPU_CALL(x, vdit_ops_cuda_rope_3d(op, rope, heads, x, y, inverse, accumulate));
  return vdit_ops_cpu_rope_3d(rope, heads, x, y, inverse, accumulate);
}

vdit_status ops_rms_norm_rope(const char *op, const vdit_rope_3d *rope, int64_t heads, const ops_rows *x,
                              const vdit_tensor *weight, float eps, const ops_rows *y) {
  ops_rows wv;
  const ops_rows *w;
  VDIT_TRY(vector_rows(op, weight, &wv, &w));
  CHECK_DEVICES(op, x, w, y);
#ifdef VDIT_HAVE_CUDA
  if (on_gpu(x)) return vdit_ops_cuda_rms_norm_rope(op, rope, heads, x, w, eps, y);
#endif
  (void)rope;
  (void)heads;
  (void)eps;
  return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: the fused kernel is for GPU tensors", op);
}

// A video as a one-row view for the device checks (its strides are checked by the kernels).
static ops_rows video_rows(const ops_video *v) {
  ops_rows r;
  memset(&r, 0, sizeof r);
  r.device = v->device;
  r.dtype = v->dtype;
  return r;
}

vdit_status ops_patch_gather(const char *op, const ops_video *video, const int64_t patch[3], int channel_last,
                             const ops_rows *rows, int accumulate) {
  const ops_rows vr = video_rows(video);
  CHECK_DEVICES(op, &vr, rows);
  GPU_CALL(rows, vdit_ops_cuda_patch_transfer(op, video, patch, channel_last, rows, 0, accumulate));
  vdit_ops_cpu_patch_gather(video, patch, channel_last, rows, accumulate);
  return VDIT_OK;
}

vdit_status ops_patch_scatter(const char *op, const ops_rows *rows, const int64_t patch[3], int channel_last,
                              const ops_video *video, int accumulate) {
  const ops_rows vr = video_rows(video);
  CHECK_DEVICES(op, &vr, rows);
  GPU_CALL(rows, vdit_ops_cuda_patch_transfer(op, video, patch, channel_last, rows, 1, accumulate));
  vdit_ops_cpu_patch_scatter(rows, patch, channel_last, video, accumulate);
  return VDIT_OK;
}

vdit_status ops_patch_embed_forward(const char *op, const ops_video *video, const int64_t patch[3],
                                    const ops_rows *weight, const vdit_tensor *bias, const ops_rows *tokens) {
  ops_rows bv;
  const ops_rows *b;
  VDIT_TRY(vector_rows(op, bias, &bv, &b));
  const ops_rows vr = video_rows(video);
  CHECK_DEVICES(op, tokens, &vr, weight, b);
  GPU_CALL(tokens, vdit_ops_cuda_patch_embed_forward(op, video, patch, weight, b, tokens));
  return vdit_ops_cpu_patch_embed_forward(video, patch, weight, vector_data(bias), tokens);
}

vdit_status ops_patch_embed_backward(const char *op, const ops_video *video, const int64_t patch[3],
                                     const ops_rows *weight, const ops_rows *dtokens, const ops_video *dvideo,
                                     const ops_rows *dweight, const vdit_tensor *dbias, int accumulate) {
  ops_rows bv, vr, dvr;
  const ops_rows *db;
  VDIT_TRY(vector_rows(op, dbias, &bv, &db));
  if (video) vr = video_rows(video);
  if (dvideo) dvr = video_rows(dvideo);
  CHECK_DEVICES(op, dtokens, video ? &vr : NULL, dvideo ? &dvr : NULL, weight, dweight, db);
  GPU_CALL(dtokens,
           vdit_ops_cuda_patch_embed_backward(op, video, patch, weight, dtokens, dvideo, dweight, db, accumulate));
  return vdit_ops_cpu_patch_embed_backward(video, patch, weight, dtokens, dvideo, dweight, vector_data(dbias),
                                           accumulate);
}

vdit_status ops_timestep_embedding(const char *op, const ops_rows *timesteps, const ops_rows *out) {
  CHECK_DEVICES(op, timesteps, out);
  GPU_CALL(out, vdit_ops_cuda_timestep_embedding(op, timesteps, out));
  vdit_ops_cpu_timestep_embedding(timesteps->data, out);
  return VDIT_OK;
}

vdit_status ops_add(const char *op, const ops_rows *a, const ops_rows *b, int broadcast, const ops_rows *y) {
  CHECK_DEVICES(op, a, b, y);
  GPU_CALL(a, vdit_ops_cuda_add(op, a, b, broadcast, y));
  for (int64_t r = 0; r < y->rows; r++) {
    const float *ar = ops_row(a, r), *br = ops_row(b, broadcast ? 0 : r);
    float *yr = ops_row(y, r);
    for (int64_t c = 0; c < y->cols; c++) yr[c] = ar[c] + br[c];
  }
  return VDIT_OK;
}

vdit_status ops_sum_rows(const char *op, const ops_rows *x, const ops_rows *y, int accumulate) {
  CHECK_DEVICES(op, x, y);
  GPU_CALL(x, vdit_ops_cuda_sum_rows(op, x, y, accumulate));
  ops_column_sums(x, NULL, 0, x->rows, y->data, accumulate);
  return VDIT_OK;
}

vdit_status ops_zero(const char *op, const ops_rows *x) {
  CHECK_DEVICES(op, x);
  GPU_CALL(x, vdit_ops_cuda_zero(op, x));
  for (int64_t r = 0; r < x->rows; r++) memset(ops_row(x, r), 0, (size_t)x->cols * sizeof(float));
  return VDIT_OK;
}
