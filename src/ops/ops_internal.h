// Helpers shared by the ops layer (not public): argument checks, the row view every op
// works on, and the CPU kernels (src/ops/cpu/) that the public entries (src/ops/*.c)
// dispatch to after validation.
#ifndef VDIT_OPS_INTERNAL_H
#define VDIT_OPS_INTERNAL_H

#include <math.h>
#include <stdint.h>

#include "vdit/ops.h"

// ---------------------------------------------------------------- row views
// A float tensor seen as `rows` rows of its last dim: row r (row-major over the leading
// dims) starts at ops_row(v, r) and holds `cols` contiguous floats. Leading dims of size 1
// are dropped and neighbours one stride apart merged, so a contiguous tensor, or a column
// slice of a wider matrix, has lead 1 and row stride stride[0] (lead 0: a single row).
//
// On a GPU (the CUDA ops, src/ops/cuda/) `data` is device memory of `dtype` (f32 or bf16; the
// name `data` keeps its float type for the CPU kernels) and the leading dims must merge into
// one row stride (lead <= 1).
typedef struct ops_rows {
  float *data;
  int64_t rows, cols;
  int lead;
  int64_t shape[VDIT_MAX_DIMS], stride[VDIT_MAX_DIMS]; // the merged leading dims
  vdit_dtype dtype;   // f32 on the CPU; f32 or bf16 on a GPU
  vdit_device device;
} ops_rows;

static inline float *ops_row(const ops_rows *v, int64_t r) {
  int64_t offset = 0;
  for (int d = v->lead - 1; d > 0; d--) {
    offset += (r % v->shape[d]) * v->stride[d];
    r /= v->shape[d];
  }
  if (v->lead > 0) offset += r * v->stride[0];
  return v->data + offset;
}

// Row stride of a view whose leading dims merged into one (see ops_check_matrix).
static inline int64_t ops_rows_ld(const ops_rows *v) { return v->lead == 1 ? v->stride[0] : v->cols; }

// ---------------------------------------------------------------- argument checks
// Messages read "<op>: <name> ...". A tensor argument must be non-NULL, f32 on the CPU or f32
// or bf16 on a GPU (a build without CUDA: VDIT_ERROR_UNSUPPORTED; another float dtype:
// UNSUPPORTED), hold data when it has elements, have at least one dim and a contiguous last
// dim.
vdit_status ops_check_tensor(const char *op, const char *name, const vdit_tensor *t);
// ops_check_tensor, then the row view.
vdit_status ops_rows_view(const char *op, const char *name, const vdit_tensor *t, ops_rows *v);
// The same for a tensor written to: it must also not map two elements to one address.
vdit_status ops_rows_output(const char *op, const char *name, const vdit_tensor *t, ops_rows *v);
// `t` must have shape `want` (ndim dims; a negative entry matches any size); the message
// spells the expected shape as `dims` ("(B, S, C)") with the numbers:
// "<op>: <name> must be (B, S, C) = (2, 7, 64), got (2, 7, 63)" (* for any size).
vdit_status ops_check_shape(const char *op, const char *name, const vdit_tensor *t, const char *dims, int ndim,
                            const int64_t *want);
// A GEMM operand: its leading dims must merge into one row stride.
vdit_status ops_check_matrix(const char *op, const char *name, const ops_rows *v);
// eps must be finite and >= 0.
vdit_status ops_check_eps(const char *op, float eps);
// An optional vector argument of shape `dims` = (n): NULL gives *data = NULL; `output`
// checks it as a written tensor.
vdit_status ops_vector(const char *op, const char *name, const vdit_tensor *t, const char *dims, int64_t n, int output,
                       float **data);
// mode must be a vdit_grad_mode.
vdit_status ops_check_mode(const char *op, vdit_grad_mode mode);

// ---------------------------------------------------------------- reductions
// Sums in double over contiguous floats, in 8 independent lanes so the loops vectorise.
double ops_sum(const float *x, int64_t n);
double ops_dot(const float *x, const float *y, int64_t n);
// sum (x - center)^2
double ops_sum_squared_deviation(const float *x, int64_t n, double center);

// column_sums[c] (+)= sum over rows r in [row0, row0 + rows) of a(r)[c] (* b(r)[c] when b
// is non-NULL; a and b have the same cols). In double, rows in order, rounded to float
// once; the columns are split over the threads.
void ops_column_sums(const ops_rows *a, const ops_rows *b, int64_t row0, int64_t rows, float *column_sums,
                     int accumulate);

// ---------------------------------------------------------------- exp for the kernels
// exp(x) in float, within 2 ulp for normal results, written so that a loop calling it
// vectorises (no libm call, selects instead of branches): x = n ln 2 + r with |r| <= ln 2 / 2
// (Cody-Waite), e^r by its Taylor polynomial of degree 7 (truncation < 6e-9 relative), times
// 2^n as two exact power-of-two factors built in the exponent bits (n reaches 128). Results
// below FLT_MIN flush to 0, above FLT_MAX give inf, NaN stays NaN.
static inline float ops_exp(float x) {
  const float low = -87.3365448f, high = 88.7228391f; // ln FLT_MIN, ln FLT_MAX
  const float clamped = x >= low ? (x <= high ? x : high) : low; // NaN -> low: no UB cast below
  const float n = (clamped * 1.44269504f + 12582912.0f) - 12582912.0f; // round to nearest
  float r = clamped - n * 0.693145752f;                                 // ln 2, high bits
  r = r - n * 1.42860677e-06f;                                          // ln 2, the rest
  float p = 1.98412698e-04f;                                            // 1/7!
  p = p * r + 1.38888889e-03f;
  p = p * r + 8.33333333e-03f;
  p = p * r + 4.16666667e-02f;
  p = p * r + 1.66666667e-01f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const int32_t n_int = (int32_t)n, half = n_int / 2; // n in [-126, 128]: both factors normal
  union {
    int32_t bits;
    float value;
  } scale1, scale2;
  scale1.bits = (half + 127) << 23;
  scale2.bits = (n_int - half + 127) << 23;
  const float result = (p * scale1.value) * scale2.value;
  return x > high ? INFINITY : (x < low ? 0.0f : (x != x ? x : result));
}

// ---------------------------------------------------------------- CPU kernels
// C (m, n) = op(A) (m, k) op(B) (k, n), or C += op(A) op(B) when `accumulate`.
// op(A)(i, k) = trans_a ? a[k * lda + i] : a[i * lda + k];
// op(B)(k, j) = trans_b ? b[j * ldb + k] : b[k * ldb + j]. C must not overlap A or B.
vdit_status vdit_ops_cpu_gemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                              const float *b, int64_t ldb, float *c, int64_t ldc, int accumulate);

// Matrices (lead <= 1): x (N, in), weight (out, in), y (N, out); bias NULL or out floats.
vdit_status vdit_ops_cpu_linear_forward(const ops_rows *x, const ops_rows *weight, const float *bias,
                                        const ops_rows *y);
// Any of dx, dweight, dbias NULL is skipped.
vdit_status vdit_ops_cpu_linear_backward(const ops_rows *x, const ops_rows *weight, const ops_rows *dy,
                                         const ops_rows *dx, const ops_rows *dweight, float *dbias, int accumulate);

// Row views of equal (rows, C); weight, bias: C floats or NULL.
void vdit_ops_cpu_layer_norm_forward(const ops_rows *x, const float *weight, const float *bias, float eps,
                                     const ops_rows *y);
vdit_status vdit_ops_cpu_layer_norm_backward(const ops_rows *x, const float *weight, float eps, const ops_rows *dy,
                                             const ops_rows *dx, float *dweight, float *dbias, int accumulate);
void vdit_ops_cpu_rms_norm_forward(const ops_rows *x, const float *weight, float eps, const ops_rows *y);
vdit_status vdit_ops_cpu_rms_norm_backward(const ops_rows *x, const float *weight, float eps, const ops_rows *dy,
                                           const ops_rows *dx, float *dweight, int accumulate);

typedef enum ops_activation { OPS_ACTIVATION_GELU_TANH, OPS_ACTIVATION_SILU } ops_activation;
void vdit_ops_cpu_activation_forward(ops_activation activation, const ops_rows *x, const ops_rows *y);
void vdit_ops_cpu_activation_backward(ops_activation activation, const ops_rows *x, const ops_rows *dy,
                                      const ops_rows *dx, int accumulate);

// Token views (B * S rows of C), parameter views (B rows of C); tokens_per_batch = S.
void vdit_ops_cpu_modulate_forward(const ops_rows *x, const ops_rows *scale, const ops_rows *shift,
                                   int64_t tokens_per_batch, const ops_rows *y);
void vdit_ops_cpu_modulate_backward(const ops_rows *x, const ops_rows *scale, const ops_rows *dy,
                                    int64_t tokens_per_batch, const ops_rows *dx, const ops_rows *dscale,
                                    const ops_rows *dshift, int accumulate);
void vdit_ops_cpu_gated_residual_forward(const ops_rows *x, const ops_rows *gate, const ops_rows *h,
                                         int64_t tokens_per_batch, const ops_rows *y);
void vdit_ops_cpu_gated_residual_backward(const ops_rows *gate, const ops_rows *h, const ops_rows *dy,
                                          int64_t tokens_per_batch, const ops_rows *dx, const ops_rows *dgate,
                                          const ops_rows *dh, int accumulate);

// Views of (B * S * H) rows of D; `inverse` rotates backwards (the backward pass).
vdit_status vdit_ops_cpu_rope_3d(const vdit_rope_3d *rope, int64_t heads, const ops_rows *x, const ops_rows *y,
                                 int inverse, int accumulate);

// A video (B, C, F, H, W) with a contiguous last dim; patch rows are (B * S) rows of
// C * p_t * p_h * p_w in token order (frame-major). Inside a row the order is (c, i, j, l)
// for the patch embedding (Conv3d weight order) or, with channel_last, (i, j, l, c) for
// unpatchify (diffusers' output order). A scatter writes (or adds) every video element
// exactly once.
typedef struct ops_video {
  float *data;
  int64_t shape[5], stride[5];
  vdit_dtype dtype; // as ops_rows
  vdit_device device;
} ops_video;
void vdit_ops_cpu_patch_gather(const ops_video *video, const int64_t patch[3], int channel_last, const ops_rows *rows,
                               int accumulate);
void vdit_ops_cpu_patch_scatter(const ops_rows *rows, const int64_t patch[3], int channel_last, const ops_video *video,
                                int accumulate);
// weight: (dim, K) matrix view of the Conv3d weight; tokens (B * S, dim) matrix.
vdit_status vdit_ops_cpu_patch_embed_forward(const ops_video *video, const int64_t patch[3], const ops_rows *weight,
                                             const float *bias, const ops_rows *tokens);
// Any of dvideo, dweight, dbias NULL is skipped; video is needed for dweight, weight for dvideo.
vdit_status vdit_ops_cpu_patch_embed_backward(const ops_video *video, const int64_t patch[3], const ops_rows *weight,
                                              const ops_rows *dtokens, const ops_video *dvideo,
                                              const ops_rows *dweight, float *dbias, int accumulate);

// timesteps: n floats; out: n rows of dim.
void vdit_ops_cpu_timestep_embedding(const float *timesteps, const ops_rows *out);

void vdit_ops_cpu_softmax_forward(const ops_rows *x, const ops_rows *y);
void vdit_ops_cpu_softmax_backward(const ops_rows *y, const ops_rows *dy, const ops_rows *dx, int accumulate);

// ---------------------------------------------------------------- device dispatch
// Every public op validates its arguments, then calls one of these (src/ops/dispatch.c): the
// CPU kernel above, or the CUDA one (src/ops/cuda/ops_cuda.h) when the first tensor is on a
// GPU. Every tensor of a call must be on the same device; a GPU tensor's leading dims must
// merge into one row stride. Vector arguments (weights, biases, their gradients: (C)) are
// passed as tensors (NULL: none).
vdit_status ops_dispatch_check(const char *op, int count, const ops_rows *const *rows);
vdit_status ops_linear_forward(const char *op, const ops_rows *x, const ops_rows *weight, const vdit_tensor *bias,
                               const ops_rows *y);
vdit_status ops_linear_backward(const char *op, const ops_rows *x, const ops_rows *weight, const ops_rows *dy,
                                const ops_rows *dx, const ops_rows *dweight, const vdit_tensor *dbias, int accumulate);
vdit_status ops_linear_gelu_forward(const char *op, const ops_rows *x, const ops_rows *weight, const vdit_tensor *bias,
                                    const ops_rows *pre, const ops_rows *y);
vdit_status ops_linear_dgelu_backward(const char *op, const ops_rows *weight, const ops_rows *dy, const ops_rows *pre,
                                      const ops_rows *dx);
vdit_status ops_layer_norm_forward(const char *op, const ops_rows *x, const vdit_tensor *weight, const vdit_tensor *bias,
                                   float eps, const ops_rows *scale, const ops_rows *shift, int64_t tokens_per_batch,
                                   const ops_rows *y);
vdit_status ops_layer_norm_backward(const char *op, const ops_rows *x, const vdit_tensor *weight, float eps,
                                    const ops_rows *dy, const ops_rows *dx, const vdit_tensor *dweight,
                                    const vdit_tensor *dbias, int accumulate);
vdit_status ops_rms_norm_forward(const char *op, const ops_rows *x, const vdit_tensor *weight, float eps,
                                 const ops_rows *y);
vdit_status ops_rms_norm_backward(const char *op, const ops_rows *x, const vdit_tensor *weight, float eps,
                                  const ops_rows *dy, const ops_rows *dx, const vdit_tensor *dweight, int accumulate);
vdit_status ops_activation_forward(const char *op, ops_activation activation, const ops_rows *x, const ops_rows *y);
vdit_status ops_activation_backward(const char *op, ops_activation activation, const ops_rows *x, const ops_rows *dy,
                                    const ops_rows *dx, int accumulate);
vdit_status ops_modulate_forward(const char *op, const ops_rows *x, const ops_rows *scale, const ops_rows *shift,
                                 int64_t tokens_per_batch, const ops_rows *y);
vdit_status ops_modulate_backward(const char *op, const ops_rows *x, const ops_rows *scale, const ops_rows *dy,
                                  int64_t tokens_per_batch, const ops_rows *dx, const ops_rows *dscale,
                                  const ops_rows *dshift, int accumulate);
vdit_status ops_gated_residual_forward(const char *op, const ops_rows *x, const ops_rows *gate, const ops_rows *h,
                                       int64_t tokens_per_batch, const ops_rows *y);
vdit_status ops_gated_residual_backward(const char *op, const ops_rows *gate, const ops_rows *h, const ops_rows *dy,
                                        int64_t tokens_per_batch, const ops_rows *dx, const ops_rows *dgate,
                                        const ops_rows *dh, int accumulate);
vdit_status ops_rope_3d(const char *op, const vdit_rope_3d *rope, int64_t heads, const ops_rows *x, const ops_rows *y,
                        int inverse, int accumulate);
// x, y (B * S rows of H * D), contiguous; weight (H * D) or NULL.
vdit_status ops_rms_norm_rope(const char *op, const vdit_rope_3d *rope, int64_t heads, const ops_rows *x,
                              const vdit_tensor *weight, float eps, const ops_rows *y);
vdit_status ops_patch_gather(const char *op, const ops_video *video, const int64_t patch[3], int channel_last,
                             const ops_rows *rows, int accumulate);
vdit_status ops_patch_scatter(const char *op, const ops_rows *rows, const int64_t patch[3], int channel_last,
                              const ops_video *video, int accumulate);
vdit_status ops_patch_embed_forward(const char *op, const ops_video *video, const int64_t patch[3],
                                    const ops_rows *weight, const vdit_tensor *bias, const ops_rows *tokens);
vdit_status ops_patch_embed_backward(const char *op, const ops_video *video, const int64_t patch[3],
                                     const ops_rows *weight, const ops_rows *dtokens, const ops_video *dvideo,
                                     const ops_rows *dweight, const vdit_tensor *dbias, int accumulate);
vdit_status ops_timestep_embedding(const char *op, const ops_rows *timesteps, const ops_rows *out);
vdit_status ops_add(const char *op, const ops_rows *a, const ops_rows *b, int broadcast, const ops_rows *y);
vdit_status ops_sum_rows(const char *op, const ops_rows *x, const ops_rows *y, int accumulate);
vdit_status ops_zero(const char *op, const ops_rows *x);

#endif
