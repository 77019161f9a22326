// A training objective for SLA2's router used by the fitting check (sla_fit.c), on the CPU:
// block-mass distillation. The router's only job is to rank key blocks per query block by
// what leaving them to the linear branch costs; dense attention says it directly, block by
// block. So instead of regressing SLA2's output (whose router gradient is a relaxation of the
// discrete Top-k map, exact only at the current scores), the router's scores s_IJ are trained
// so that softmax_J(s_IJ) matches the attention mass p_IJ that dense attention puts on key
// block J from query block I: a smooth, convex-in-the-scores loss whose minimiser ranks the
// blocks as the mass does. The Top-k of the trained scores is the map used at evaluation.
//
// This is a new objective used by the fit only; SLA2's own backward (vdit_attn_sla, the
// relaxed router gradient of the output loss) is unchanged.
#ifndef VDIT_ATTN_SLA_ROUTER_FIT_H
#define VDIT_ATTN_SLA_ROUTER_FIT_H

#include "vdit/attn.h"

// Dense attention's block mass: mass (B, H, qb, kb), mass[I][J] = mean over the query rows i
// of block I of sum over the keys t of block J of softmax_t(scale q_i . k_t), scale =
// 1/sqrt(D). q, k fp32 (B, H, S, D) with Sq = Sk = S; qb = kb = ceil(S / block). Each row of
// `mass` sums to 1.
vdit_status vdit_attn_sla_block_mass(const vdit_attn_shape *shape, int32_t block, const float *q, const float *k,
                                     double *mass);

// The router's scores for the fit: s_IJ = (Qbar_I Wq) . (Kbar_J Wk) / sqrt(D_r) with Qbar_I,
// Kbar_J the block means (the router's formula in double precision, not its bit-exact order),
// and the distillation loss
//   L = 1 / (B H qb) sum over (b, h, I) of KL(p_I || softmax_J(s_IJ))
// (p = `mass`). wq, wk: (H, D, D_r) row-major; grad_wq, grad_wk (same shape) are overwritten
// with dL/dWq, dL/dWk (both NULL: the loss only). dL/ds_IJ = (softmax(s_I)_J - p_IJ) / (B H qb).
vdit_status vdit_attn_sla_router_distill(const vdit_attn_shape *shape, int32_t block, int32_t router_dim,
                                         const float *q, const float *k, const double *mass, const float *wq,
                                         const float *wk, double *loss, float *grad_wq, float *grad_wk);

#endif
