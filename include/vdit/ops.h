// vdit ops layer: the building blocks of the Wan2.1 diffusion transformer, forward and
// backward, on vdit_tensor. docs/ops.md gives every formula and shape.
//
// Conventions shared by every op:
// - Tensors are f32 on the CPU; on a GPU (CUDA builds) bf16 or f32, every tensor of a call on
//   the same GPU (else VDIT_ERROR_INVALID_ARGUMENT). On the GPU the model keeps activations
//   and their gradients in bf16 and statistics in f32: modulation tables (scale, shift, gate),
//   norm weights and their gradients, LSE, parameter gradients; the GEMM operands (x, weight,
//   dy) must be bf16, its output (y, dx, dweight) bf16 or f32. Arithmetic on the GPU is fp32
//   (GEMMs: cuBLASLt with fp32 accumulation, docs/ops.md); its reductions run in a fixed order
//   (results repeat bit for bit) but in fp32, not double. A GPU tensor's leading dims must
//   merge into one row stride (contiguous tensors and column or row slices do). Another float
//   dtype, or a CUDA tensor in a build without CUDA, gives VDIT_ERROR_UNSUPPORTED; a non-float
//   dtype, a wrong shape or a NULL tensor VDIT_ERROR_INVALID_ARGUMENT; each with a one-line
//   message. GPU ops run in the default stream and return without waiting for the GPU.
// - Shapes are written in comments as (B, S, C) ...; "..." stands for any leading dims
//   (none included). The last dim of every tensor must be contiguous (stride 1); the
//   leading dims may have any strides (views of a larger tensor work), except where an op
//   says that its leading dims must merge into one row stride (the GEMM operands).
// - Outputs must not overlap inputs unless an op says so ("y may be x": the very same
//   tensor, for an in-place update). Nothing is read from an output that is overwritten,
//   so it may hold anything (the tests fill it with NaN).
// - Backward functions take a vdit_grad_mode: VDIT_GRAD_OVERWRITE writes each gradient,
//   VDIT_GRAD_ACCUMULATE adds to it (weight gradients summed over calls, or an input
//   gradient that already holds another branch's share). A NULL gradient output is skipped.
// - Reductions (norm statistics, softmax sums, bias/weight/scale gradients over rows) are
//   summed in double and rounded once; GEMMs in fp32 (FMA). Results do not depend on the
//   thread count.
#ifndef VDIT_OPS_H
#define VDIT_OPS_H

#include <stdint.h>

#include "vdit/base.h"
#include "vdit/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum vdit_grad_mode {
  VDIT_GRAD_OVERWRITE = 0, // gradient = computed value
  VDIT_GRAD_ACCUMULATE,    // gradient += computed value
} vdit_grad_mode;

// ---------------------------------------------------------------- linear
// y (..., out) = x (..., in) weight^T + bias, weight (out, in) as PyTorch stores it, bias
// (out) or NULL. x and y: their leading dims must merge into one row stride (contiguous
// tensors and column slices of a wider matrix do); weight's rows may have any stride.
vdit_status vdit_ops_linear_forward(const vdit_tensor *x, const vdit_tensor *weight, const vdit_tensor *bias,
                                    vdit_tensor *y);
// From dy (..., out): dx (..., in) = dy weight; dweight (out, in) = dy^T x summed over every
// leading index; dbias (out) = dy summed over the leading dims. x may be NULL when dweight
// is, weight when dx is.
vdit_status vdit_ops_linear_backward(const vdit_tensor *x, const vdit_tensor *weight, const vdit_tensor *dy,
                                     vdit_tensor *dx, vdit_tensor *dweight, vdit_tensor *dbias, vdit_grad_mode mode);

// ---------------------------------------------------------------- normalization
// Layer norm over the last dim (C), as torch.nn.functional.layer_norm:
//   y = (x - mean) * rstd * weight + bias,  mean = sum x / C,
//   rstd = 1 / sqrt(sum (x - mean)^2 / C + eps)   (biased variance)
// x, y (..., C); weight, bias (C) or NULL (each independently: Wan's norm1/norm3 have none).
// y may be x. eps >= 0 (Wan: 1e-6).
vdit_status vdit_ops_layer_norm_forward(const vdit_tensor *x, const vdit_tensor *weight, const vdit_tensor *bias,
                                        float eps, vdit_tensor *y);
// The statistics are recomputed from x (no saved state). dweight needs weight;
// dbias (C) = sum of dy over rows, dweight (C) = sum of dy * xhat over rows.
vdit_status vdit_ops_layer_norm_backward(const vdit_tensor *x, const vdit_tensor *weight, float eps,
                                         const vdit_tensor *dy, vdit_tensor *dx, vdit_tensor *dweight,
                                         vdit_tensor *dbias, vdit_grad_mode mode);

// RMS norm over the last dim (C), as torch.nn.RMSNorm:
//   y = x * rstd * weight,  rstd = 1 / sqrt(sum x^2 / C + eps)
// x, y (..., C); weight (C) or NULL. Wan's norm_q / norm_k apply it over all heads'
// channels at once: x (B, S, H * D), weight (H * D). y may be x.
vdit_status vdit_ops_rms_norm_forward(const vdit_tensor *x, const vdit_tensor *weight, float eps, vdit_tensor *y);
vdit_status vdit_ops_rms_norm_backward(const vdit_tensor *x, const vdit_tensor *weight, float eps,
                                       const vdit_tensor *dy, vdit_tensor *dx, vdit_tensor *dweight,
                                       vdit_grad_mode mode);

// ---------------------------------------------------------------- activations
// x, y (...), same shape. y may be x; in the backward dx may be dy when overwriting.
// gelu_tanh: torch.nn.functional.gelu(x, approximate="tanh") (Wan's FFN):
//   y = 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))
vdit_status vdit_ops_gelu_tanh_forward(const vdit_tensor *x, vdit_tensor *y);
vdit_status vdit_ops_gelu_tanh_backward(const vdit_tensor *x, const vdit_tensor *dy, vdit_tensor *dx,
                                        vdit_grad_mode mode);
// silu: y = x / (1 + exp(-x)) (Wan's time embedding).
vdit_status vdit_ops_silu_forward(const vdit_tensor *x, vdit_tensor *y);
vdit_status vdit_ops_silu_backward(const vdit_tensor *x, const vdit_tensor *dy, vdit_tensor *dx,
                                   vdit_grad_mode mode);

// ---------------------------------------------------------------- adaptive modulation
// modulate: y = x * (1 + scale) + shift, x, y (B, S, C); scale, shift (B, C) broadcast over
// the S tokens of each batch element (Wan's AdaLN: scale_msa, shift_msa). y may be x.
vdit_status vdit_ops_modulate_forward(const vdit_tensor *x, const vdit_tensor *scale, const vdit_tensor *shift,
                                      vdit_tensor *y);
// dx = dy (1 + scale); dscale (B, C) = sum over S of dy * x; dshift (B, C) = sum over S of dy.
// x may be NULL when dscale is, scale when dx is.
vdit_status vdit_ops_modulate_backward(const vdit_tensor *x, const vdit_tensor *scale, const vdit_tensor *dy,
                                       vdit_tensor *dx, vdit_tensor *dscale, vdit_tensor *dshift,
                                       vdit_grad_mode mode);

// gated residual: y = x + gate * h, x, h, y (B, S, C); gate (B, C) broadcast over S (Wan's
// gate_msa after attention and the FFN). y may be x (the residual stream updated in place).
vdit_status vdit_ops_gated_residual_forward(const vdit_tensor *x, const vdit_tensor *gate, const vdit_tensor *h,
                                            vdit_tensor *y);
// dx = dy; dh = dy * gate; dgate (B, C) = sum over S of dy * h. h may be NULL when dgate is,
// gate when dh is. dx may be dy when overwriting (then nothing is copied).
vdit_status vdit_ops_gated_residual_backward(const vdit_tensor *gate, const vdit_tensor *h, const vdit_tensor *dy,
                                             vdit_tensor *dx, vdit_tensor *dgate, vdit_tensor *dh,
                                             vdit_grad_mode mode);

// ---------------------------------------------------------------- 3D rotary embedding
// Wan's RoPE on queries or keys x (B, S, H, D), S = frames * height * width tokens in
// frame-major order (token s = (f * height + h) * width + w, the patch grid after patch
// embedding). The head dim splits into three parts of D_t = D - 2 D_hw, D_h = D_w = D_hw,
// D_hw = 2 * (D / 6) channels (D = 128: 44, 42, 42), rotated by the frame, row and column
// position. Channel pairs (2i, 2i + 1) rotate as complex numbers; pair i of a part of size
// d takes the angle position * theta^(-2i / d). D must be even.
//   y[2i]     = x[2i] cos a - x[2i + 1] sin a
//   y[2i + 1] = x[2i] sin a + x[2i + 1] cos a
// cos a and sin a are computed in double and rounded to float (as diffusers' fp64 table).
typedef struct vdit_rope_3d {
  int64_t frames, height, width; // the token grid
  int64_t frame_offset;          // position of the first frame (0 for a whole clip; later
                                 // blocks of block-causal generation start further on)
  double theta;                  // base of the frequencies; 0 means 10000 (Wan)
} vdit_rope_3d;

// The three part sizes (frame, height, width) of head dim D.
void vdit_ops_rope_3d_split(int64_t head_dim, int64_t parts[3]);
// y may be x.
vdit_status vdit_ops_rope_3d_forward(const vdit_rope_3d *rope, const vdit_tensor *x, vdit_tensor *y);
// dx = the inverse rotation of dy. dx may be dy when overwriting.
vdit_status vdit_ops_rope_3d_backward(const vdit_rope_3d *rope, const vdit_tensor *dy, vdit_tensor *dx,
                                      vdit_grad_mode mode);

// ---------------------------------------------------------------- patches
// Patch embedding: Conv3d with kernel = stride = (p_t, p_h, p_w), done as patchify + GEMM.
// video (B, C, F, H, W) with F, H, W multiples of the patch; weight (dim, C, p_t, p_h, p_w)
// (the patch size comes from its shape; its last four dims contiguous), bias (dim) or NULL;
// tokens (B, S, dim), S = (F / p_t) (H / p_h) (W / p_w) in frame-major order (Conv3d output
// flattened and transposed, as diffusers does). Element (c, i, j, l) of a patch multiplies
// weight[:, c, i, j, l].
vdit_status vdit_ops_patch_embed_forward(const vdit_tensor *video, const vdit_tensor *weight, const vdit_tensor *bias,
                                         vdit_tensor *tokens);
// dvideo (B, C, F, H, W), dweight (dim, C, p_t, p_h, p_w), dbias (dim) from dtokens (B, S, dim).
// video may be NULL when dweight is, weight when dvideo is.
vdit_status vdit_ops_patch_embed_backward(const vdit_tensor *video, const vdit_tensor *weight,
                                          const vdit_tensor *dtokens, vdit_tensor *dvideo, vdit_tensor *dweight,
                                          vdit_tensor *dbias, vdit_grad_mode mode);

// Unpatchify, as diffusers' Wan output: tokens (B, S, p_t * p_h * p_w * C) -> video
// (B, C, F, H, W). The last dim of a token is laid out (p_t, p_h, p_w, C), channel fastest:
//   video[b, c, f p_t + i, h p_h + j, w p_w + l] = tokens[b, (f Hp + h) Wp + w, ((i p_h + j) p_w + l) C + c]
// with Hp = H / p_h, Wp = W / p_w. patch = {p_t, p_h, p_w}.
vdit_status vdit_ops_unpatchify_forward(const vdit_tensor *tokens, const int64_t patch[3], vdit_tensor *video);
// dtokens from dvideo (the same permutation, backwards).
vdit_status vdit_ops_unpatchify_backward(const vdit_tensor *dvideo, const int64_t patch[3], vdit_tensor *dtokens,
                                         vdit_grad_mode mode);

// ---------------------------------------------------------------- timestep embedding
// Sinusoidal embedding of timesteps (N) into out (N, dim), cos first, as diffusers'
// Timesteps(dim, flip_sin_to_cos=True, downscale_freq_shift=0) that Wan uses. With
// half = dim / 2 and each step rounded to float in this order (torch's fp32 steps):
//   e_i = ((float)(-ln 10000) * i) / half,  f_i = exp(e_i),  a_i = t * f_i,
//   out[i] = cos a_i,  out[half + i] = sin a_i   (i < half; an odd dim ends with a 0)
// exp, cos and sin are computed in double and rounded once. timesteps f32 (N), out f32
// (N, dim). Forward only.
vdit_status vdit_ops_timestep_embedding(const vdit_tensor *timesteps, vdit_tensor *out);

// ---------------------------------------------------------------- fused entry points
// What the model calls where one kernel (or one GEMM epilogue) does the work of two ops. On
// the CPU each is the two ops in turn (the same bits); on a GPU one pass.

// pre (..., out) = x weight^T + bias, y = gelu_tanh(pre): the FFN's first Linear (bias + GELU
// as the cuBLASLt epilogue). pre may be NULL (inference: not kept); y and pre like the
// Linear's output.
vdit_status vdit_ops_linear_gelu_forward(const vdit_tensor *x, const vdit_tensor *weight, const vdit_tensor *bias,
                                         vdit_tensor *pre, vdit_tensor *y);
// dx (..., in) = (dy (..., out) weight (out, in)) * gelu_tanh'(pre (..., in)), overwritten: the
// gradient through the FFN's second Linear and the GELU before it (cuBLASLt's dGELU epilogue).
vdit_status vdit_ops_linear_dgelu_backward(const vdit_tensor *weight, const vdit_tensor *dy, const vdit_tensor *pre,
                                           vdit_tensor *dx);
// y = layer_norm(x) (1 + scale) + shift: LayerNorm without affine, then modulate (Wan's norm1
// and norm3 with the AdaLN vectors). x, y (B, S, C), scale, shift (B, C); y may be x.
vdit_status vdit_ops_layer_norm_modulate_forward(const vdit_tensor *x, float eps, const vdit_tensor *scale,
                                                 const vdit_tensor *shift, vdit_tensor *y);

// y = rope_3d(rms_norm(x over its last two dims, weight)): Wan's norm_q / norm_k over all
// heads' channels, then RoPE. x, y (B, S, H, D) with contiguous heads (the Linear's output
// seen as heads); weight (H * D) or NULL; y may be x. On a GPU one pass with no bf16 rounding
// in between; on the CPU vdit_ops_rms_norm_forward then vdit_ops_rope_3d_forward.
vdit_status vdit_ops_rms_norm_rope_forward(const vdit_tensor *x, const vdit_tensor *weight, float eps,
                                           const vdit_rope_3d *rope, vdit_tensor *y);

// ---------------------------------------------------------------- small helpers
// y (..., n) = a + b, b like a or (n) (added to every row). y may be a.
vdit_status vdit_ops_add(const vdit_tensor *a, const vdit_tensor *b, vdit_tensor *y);
// y (n) = (or +=, mode) the sum of x (..., n) over its leading dims (a bias-like gradient).
vdit_status vdit_ops_sum_rows(const vdit_tensor *x, vdit_tensor *y, vdit_grad_mode mode);
// Every element of t set to 0.
vdit_status vdit_ops_zero(vdit_tensor *t);

// ---------------------------------------------------------------- softmax
// y (..., n) = softmax of x over the last dim (max subtracted first). y may be x.
vdit_status vdit_ops_softmax_forward(const vdit_tensor *x, vdit_tensor *y);
// dx = y * (dy - sum(dy * y)) per row (in double), from the forward's output y. dx may be
// dy when overwriting.
vdit_status vdit_ops_softmax_backward(const vdit_tensor *y, const vdit_tensor *dy, vdit_tensor *dx,
                                      vdit_grad_mode mode);

#ifdef __cplusplus
}
#endif

#endif // VDIT_OPS_H
