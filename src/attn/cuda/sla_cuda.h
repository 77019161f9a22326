// SLA2 sparse-linear attention on CUDA (internal; kernels in sla_cuda.cu, driven by
// src/attn/attn_sla_cuda.c). D = 128, 128-token blocks, bf16 or f16 tensors addressed by
// element strides over (batch, sequence, head) like attn_cuda.h. Everything runs in `stream`.
//
// Forward:  prepare (H_J = phi(K_J)^T V_J, z_J per key block, mma.sync; with pool_keys also
//           the key blocks' means, so that the route reads K no more) and totals (a two-level
//           tree over the blocks): they need neither the parameters nor the map, so they run
//           first, while the host checks the parameters; then the route (pool: block means and
//           projections of Q and K in one launch, or only the projections of the key means
//           prepare wrote (keys_pooled); topk: scores, Top-k -> CSR map; sla_exact.h order, so
//           the map equals the CPU's), leftout (per query block the left-out sums Hc_I, zc_I,
//           written for the executor), and the executor with SLA2's epilogue (attn_cuda.h's
//           lin_*: O_s and LSE, then phi(Q_I) Hc by wgmma from the Q tile it holds, O_l, and
//           O = alpha O_s + (1 - alpha) O_l while O_s is in registers; O_s written only for a
//           backward). (A forward without the preparation prepares before leftout.)
// Backward: scale_do (dO_s = alpha dO), the executor's backward into dQ, dK, dV, then
//           linear_q (O_l again, dQ += linear part, dHc_I, dzc_I, d alpha partials),
//           linear_totals over dHc, linear_k (dH_J, dK, dV += linear part), router_linear
//           (G_IJ = -<H_J, dHc_I> - <z_J, dzc_I> for all pairs, mma.sync, split over the
//           reduction), router_sparse (G_IJ += the sparse branch's part, every tile against the
//           sparse LSE), router_weights (G into dWq, dWk per (b, h)).
#ifndef VDIT_ATTN_SLA_CUDA_H
#define VDIT_ATTN_SLA_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include "vdit/attn.h"

#ifdef VDIT_HAVE_CUDA
#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VDIT_SLA_CUDA_SPLITS 4        // router_linear's split of its reduction
#define VDIT_SLA_CUDA_TOTAL_SPLITS 8  // the totals' first level: sums over n / 8 blocks each
#define VDIT_SLA_CUDA_TOTAL_FLOATS (8 * (128 * 128 + 128)) // totals scratch per (b, h): splits x (D^2 + D)

// Per-kernel timing: with `events` set (VDIT_SLA_EV_COUNT events), the forward records event i
// at point i: before prepare, after prepare, after totals, before pool, after pool, after topk
// (the route), before the executor, after it (the host records these two), before out, after
// out.
enum {
  VDIT_SLA_EV_PREP, VDIT_SLA_EV_PREPARED, VDIT_SLA_EV_TOTALS, VDIT_SLA_EV_ROUTE, VDIT_SLA_EV_POOLED, VDIT_SLA_EV_ROUTED,
  VDIT_SLA_EV_SPARSE, VDIT_SLA_EV_SPARSE_DONE, VDIT_SLA_EV_OUT, VDIT_SLA_EV_DONE, VDIT_SLA_EV_COUNT
};

typedef struct vdit_attn_sla_cuda_args {
  vdit_dtype dtype;
  int B, H, Sq, Sk, D, Dr;
  int qb, kb, block, keep; // blocks per side, tokens per block, key blocks kept per query block
  float scale;             // softmax scale
  int feature;             // vdit_attn_sla_feature
  int vec;                 // q, k, v, o (and d_o) bases 16-byte aligned, strides multiples of 8
  cudaEvent_t *events;     // NULL, or VDIT_SLA_EV_COUNT events (per-kernel timing)
  const void *q, *k, *v;
  int64_t q_sb, q_ss, q_sh, k_sb, k_ss, k_sh, v_sb, v_ss, v_sh;
  void *o;                 // the output
  int64_t o_sb, o_ss, o_sh;
  void *o_s;               // the sparse branch's output (forward: read; written by the executor)
  int64_t os_sb, os_ss, os_sh;
  const float *lse;        // (B, H, Sq), the sparse branch's
  const float *wq, *wk, *alpha_logit; // device (H, D, Dr), (H, D, Dr), (H)
  float *pooled_q, *pooled_k, *proj_q, *proj_k; // (BH, qb, D), (BH, kb, D), (BH, qb, Dr), (BH, kb, Dr)
  int32_t *row_offsets, *col_index;             // the map (BH * qb rows)
  const int32_t *mapt_offsets, *mapt_index;     // its transpose (BH * kb rows)
  // H_J (BH, kb, D, D) as bf16 bits (the products read it in 16 bits anyway; the totals are
  // fp32), z_J (BH, kb, D), totals (BH, D, D), (BH, D)
  uint16_t *hj;
  float *zj, *h_all, *z_all;
  float *total_part;       // (BH, VDIT_SLA_CUDA_TOTAL_FLOATS), the totals' first level
  // the left-out sums per query block, for the executor's epilogue: Hc (BH, qb, D, D) in the
  // tensors' dtype ([d][e]), zc (BH, qb, D) fp32
  uint16_t *hc;
  float *zc;
  int pool_keys;            // prepare also writes pooled_k (the key blocks' means)
  int keys_pooled;          // pool: pooled_k holds this K's means (prepare wrote them): project only
  // backward
  const void *d_o;
  int64_t do_sb, do_ss, do_sh;
  void *d_os;              // alpha dO, strides of o_s
  void *dq, *dk, *dv;
  int64_t dq_sb, dq_ss, dq_sh, dk_sb, dk_ss, dk_sh, dv_sb, dv_ss, dv_sh;
  uint16_t *dhc;            // (BH, qb, D, D) bf16 bits
  float *dzc, *g_total, *g_ztotal;  // (BH, qb, D), (BH, D, D), (BH, D)
  float *G;                 // (BH, qb, kb)
  float *g_partial;         // (VDIT_SLA_CUDA_SPLITS, BH, qb, kb)
  float *alpha_partial;     // (BH, qb)
  float *t1, *t2;           // (BH, qb, Dr), (BH, kb, Dr)
  float *g_router;          // (BH, 2, D, Dr)
} vdit_attn_sla_cuda_args;

cudaError_t vdit_attn_sla_cuda_launch_route(const vdit_attn_sla_cuda_args *a, cudaStream_t stream);
cudaError_t vdit_attn_sla_cuda_launch_linear_prepare(const vdit_attn_sla_cuda_args *a, cudaStream_t stream); // prepare, totals
cudaError_t vdit_attn_sla_cuda_launch_leftout(const vdit_attn_sla_cuda_args *a, cudaStream_t stream);
cudaError_t vdit_attn_sla_cuda_launch_scale_do(const vdit_attn_sla_cuda_args *a, cudaStream_t stream);
cudaError_t vdit_attn_sla_cuda_launch_linear_backward(const vdit_attn_sla_cuda_args *a, int router, cudaStream_t stream);

#ifdef __cplusplus
}
#endif

#endif // VDIT_HAVE_CUDA
#endif // VDIT_ATTN_SLA_CUDA_H
