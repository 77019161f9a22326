// The CUDA side of the ops layer (internal to vdit): the kernels src/ops/dispatch.c calls for
// tensors on a GPU, with the CPU kernels' arguments (ops_rows views, validated by the public
// entry points). Tensors are bf16 or f32 in any mix; arithmetic is fp32; reductions over rows
// (norm statistics, column sums for the parameter gradients) are fp32 in a fixed order, so
// results do not change from run to run. Everything runs on the tensors' GPU in the default
// stream. GEMMs go through one cuBLASLt wrapper (gemm.cu) with a per-device context: handle,
// workspace and a cache of matmul plans keyed by shape, dtypes, alignment and epilogue.
#ifndef VDIT_OPS_CUDA_H
#define VDIT_OPS_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include "ops/ops_internal.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifdef VDIT_HAVE_CUDA

typedef enum ops_cuda_epilogue {
  OPS_CUDA_EPILOGUE_NONE = 0,
  OPS_CUDA_EPILOGUE_BIAS,      // + bias (bias NULL: none)
  OPS_CUDA_EPILOGUE_BIAS_GELU, // gelu_tanh(. + bias), the pre-activation written to `aux` when given
} ops_cuda_epilogue;

// ---------------------------------------------------------------- GEMM (gemm.cu)
// One matmul in row-major terms: C (m, n) = alpha op(A) op(B) [+ beta C] with the epilogue,
// op(A) (m, k) = trans_a ? A^T : A, A row-major with leading dim lda (elements), likewise B.
// A and B bf16; C bf16 or f32 (c_dtype); bias (n) bf16 or f32; aux (m, n) like C (pre-GELU).
// `accumulate` adds to C (beta = 1). Uses cuBLASLt when it has a plan for the shape, else a
// plain tiled kernel (odd leading dims, misaligned views).
typedef struct ops_cuda_gemm {
  int trans_a, trans_b;
  int64_t m, n, k;
  const void *a, *b;
  int64_t lda, ldb;
  void *c;
  vdit_dtype c_dtype;
  int64_t ldc;
  int accumulate;
  ops_cuda_epilogue epilogue;
  const void *bias;
  vdit_dtype bias_dtype;
  void *aux; // OPS_CUDA_EPILOGUE_BIAS_GELU: the pre-activation (m, n), ld ldaux, dtype c_dtype; or NULL
  int64_t ldaux;
  const void *dgelu_pre; // non-NULL: C = op(A) op(B) * gelu_tanh'(dgelu_pre) (m, n), ld ld_pre, c_dtype
  int64_t ld_pre;
} ops_cuda_gemm;
vdit_status vdit_ops_cuda_gemm(const char *op, int device, const ops_cuda_gemm *g);
// Counters of the GEMM path per device since the start (for the benchmark's accounting and the
// tests): matmuls through cuBLASLt, through the fallback kernel.
void vdit_ops_cuda_gemm_counts(int device, uint64_t *cublaslt, uint64_t *fallback);

vdit_status vdit_ops_cuda_linear(const char *op, const ops_rows *x, const ops_rows *weight, const ops_rows *bias,
                                 const ops_rows *pre, const ops_rows *y, ops_cuda_epilogue epilogue);
vdit_status vdit_ops_cuda_linear_backward(const char *op, const ops_rows *x, const ops_rows *weight, const ops_rows *dy,
                                          const ops_rows *dx, const ops_rows *dweight, const ops_rows *dbias,
                                          int accumulate);
vdit_status vdit_ops_cuda_linear_dgelu(const char *op, const ops_rows *weight, const ops_rows *dy, const ops_rows *pre,
                                       const ops_rows *dx);

// ---------------------------------------------------------------- row ops (kernels.cu)
// LayerNorm (rms = 0) or RMSNorm; forward optionally modulated: y = norm(x) (1 + scale[b]) +
// shift[b], b = row / tokens_per_batch (scale, shift NULL: none).
vdit_status vdit_ops_cuda_layer_norm_forward(const char *op, const ops_rows *x, const ops_rows *weight,
                                             const ops_rows *bias, float eps, const ops_rows *scale,
                                             const ops_rows *shift, int64_t tokens_per_batch, const ops_rows *y);
vdit_status vdit_ops_cuda_rms_norm_forward(const char *op, const ops_rows *x, const ops_rows *weight, float eps,
                                           const ops_rows *y);
vdit_status vdit_ops_cuda_layer_norm_backward(const char *op, const ops_rows *x, const ops_rows *weight, float eps,
                                              const ops_rows *dy, const ops_rows *dx, const ops_rows *dweight,
                                              const ops_rows *dbias, int rms, int accumulate);
vdit_status vdit_ops_cuda_activation_forward(const char *op, ops_activation activation, const ops_rows *x,
                                             const ops_rows *y);
vdit_status vdit_ops_cuda_activation_backward(const char *op, ops_activation activation, const ops_rows *x,
                                              const ops_rows *dy, const ops_rows *dx, int accumulate);
vdit_status vdit_ops_cuda_modulate_forward(const char *op, const ops_rows *x, const ops_rows *scale,
                                           const ops_rows *shift, int64_t tokens_per_batch, const ops_rows *y);
vdit_status vdit_ops_cuda_modulate_backward(const char *op, const ops_rows *x, const ops_rows *scale, const ops_rows *dy,
                                            int64_t tokens_per_batch, const ops_rows *dx, const ops_rows *dscale,
                                            const ops_rows *dshift, int accumulate);
vdit_status vdit_ops_cuda_gated_residual_forward(const char *op, const ops_rows *x, const ops_rows *gate,
                                                 const ops_rows *h, int64_t tokens_per_batch, const ops_rows *y);
vdit_status vdit_ops_cuda_gated_residual_backward(const char *op, const ops_rows *gate, const ops_rows *h,
                                                  const ops_rows *dy, int64_t tokens_per_batch, const ops_rows *dx,
                                                  const ops_rows *dgate, const ops_rows *dh, int accumulate);
vdit_status vdit_ops_cuda_rope_3d(const char *op, const vdit_rope_3d *rope, int64_t heads, const ops_rows *x,
                                  const ops_rows *y, int inverse, int accumulate);
// direction 0: video -> rows (gather), 1: rows -> video (scatter).
vdit_status vdit_ops_cuda_patch_transfer(const char *op, const ops_video *video, const int64_t patch[3],
                                         int channel_last, const ops_rows *rows, int direction, int accumulate);
vdit_status vdit_ops_cuda_patch_embed_forward(const char *op, const ops_video *video, const int64_t patch[3],
                                              const ops_rows *weight, const ops_rows *bias, const ops_rows *tokens);
vdit_status vdit_ops_cuda_patch_embed_backward(const char *op, const ops_video *video, const int64_t patch[3],
                                               const ops_rows *weight, const ops_rows *dtokens,
                                               const ops_video *dvideo, const ops_rows *dweight,
                                               const ops_rows *dbias, int accumulate);
vdit_status vdit_ops_cuda_timestep_embedding(const char *op, const ops_rows *timesteps, const ops_rows *out);
vdit_status vdit_ops_cuda_add(const char *op, const ops_rows *a, const ops_rows *b, int broadcast, const ops_rows *y);
vdit_status vdit_ops_cuda_sum_rows(const char *op, const ops_rows *x, const ops_rows *y, int accumulate);
vdit_status vdit_ops_cuda_zero(const char *op, const ops_rows *x);

// The 3D RoPE tables of kernels.cu on the GPU (stream-ordered memory; free with
// vdit_ops_cuda_rope_table_free): per axis (count, part / 2) pairs of (cos, sin) as float2.
typedef struct ops_cuda_rope_table {
  void *table; // float2
  int64_t head_dim, frames, height, width;
  int64_t parts[3], offsets[3];
} ops_cuda_rope_table;
vdit_status vdit_ops_cuda_rope_table_build(const vdit_rope_3d *rope, int64_t head_dim, ops_cuda_rope_table *t);
void vdit_ops_cuda_rope_table_free(ops_cuda_rope_table *t);

// y = rope(rms_norm(x) weight): x, y (B * S rows of heads * head_dim), contiguous rows.
vdit_status vdit_ops_cuda_rms_norm_rope(const char *op, const vdit_rope_3d *rope, int64_t heads, const ops_rows *x,
                                        const ops_rows *weight, float eps, const ops_rows *y);

// Fast paths (fast_rows.cu): 1 when they ran (their launch status in *status), 0 when the
// arguments do not fit them (bf16 rows of a multiple of 256 channels, 16-byte aligned, f32
// parameters) and the general kernel must run.
int vdit_ops_cuda_fast_norm(const ops_rows *x, const ops_rows *weight, const ops_rows *bias, float eps,
                            const ops_rows *scale, const ops_rows *shift, int64_t tokens_per_batch, const ops_rows *y,
                            int rms, const ops_cuda_rope_table *rope, vdit_status *status);
int vdit_ops_cuda_fast_residual(const ops_rows *x, const ops_rows *gate, const ops_rows *h, int64_t tokens_per_batch,
                                const ops_rows *y, vdit_status *status);

// out[g, c] (+)= sum over the rows r of group g (rows g*group_rows .. + group_rows - 1) of
// a[r, c] * f, f = 1 (b NULL) or b[r, c]; with `stats` (2 floats per row: mean, rstd) f =
// (b[r, c] - mean) * rstd. out: groups rows of cols with row stride out->ld. Deterministic
// (two passes over fixed chunks).
vdit_status vdit_ops_cuda_column_sums(const char *op, const ops_rows *a, const ops_rows *b, const float *stats,
                                      int64_t group_rows, const ops_rows *out, int accumulate);
#endif

#ifdef __cplusplus
}
#endif

#endif // VDIT_OPS_CUDA_H
