// Internal attention kernels on plain arrays. CPU kernels work on contiguous fp32 (and the
// reference on fp64) arrays in (B, H, S, D) order; the public entry (attn.c) converts
// dtypes and layouts around them.
#ifndef VDIT_ATTN_KERNELS_H
#define VDIT_ATTN_KERNELS_H

#include "vdit/attn.h"

// What every kernel needs to know: shapes, the scale actually used and the mask.
typedef struct vdit_attn_problem {
  vdit_attn_shape shape;
  float scale;
  vdit_attn_config config; // key_lengths points at B host values or is NULL
} vdit_attn_problem;

// fp64 reference: plain two-pass softmax, no tiling. q (B,H,Sq,D), k/v (B,H,Sk,D).
vdit_status vdit_attn_reference_forward(const vdit_attn_problem *problem, const double *q, const double *k,
                                        const double *v, double *o, double *lse);
vdit_status vdit_attn_reference_backward(const vdit_attn_problem *problem, const double *q, const double *k,
                                         const double *v, const double *d_o, double *dq, double *dk, double *dv);

// fp32 tiled online-softmax kernels (OpenMP over batch, head and tile).
vdit_status vdit_attn_cpu_dense_forward(const vdit_attn_problem *problem, const float *q, const float *k,
                                        const float *v, float *o, float *lse);
vdit_status vdit_attn_cpu_dense_backward(const vdit_attn_problem *problem, const float *q, const float *k,
                                         const float *v, const float *o, const float *lse, const float *d_o,
                                         float *dq, float *dk, float *dv);

// Tensor (either layout, any float dtype, head dim contiguous) <-> contiguous host fp32
// (B, H, S, D) array, through vdit_tensor_convert (attn.c).
vdit_status vdit_attn_tensor_to_bhsd(const vdit_tensor *t, vdit_attn_layout layout, float *out);
vdit_status vdit_attn_tensor_from_bhsd(const float *in, vdit_attn_layout layout, vdit_tensor *t);

#endif
