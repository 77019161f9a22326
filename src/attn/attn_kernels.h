// Internal attention kernels. CPU kernels work on contiguous fp32 (and the reference on fp64)
// arrays in (B, H, S, D) order; the public entry (attn.c) converts dtypes and layouts around
// them. The CUDA path works on the tensors' own memory and strides.
#ifndef VDIT_ATTN_KERNELS_H
#define VDIT_ATTN_KERNELS_H

#include <math.h>

#include "vdit/attn.h"

// What every kernel needs to know: shapes, the scale actually used and the mask.
typedef struct vdit_attn_problem {
  vdit_attn_shape shape;
  float scale;
  vdit_attn_config config; // key_lengths points at B host values or is NULL
  // The block-sparse executor's map and its transpose (key block -> query blocks) on the
  // kernels' device, or NULL for the implicit full map (dense). The fp64 reference reads
  // `map` too (a host map there).
  const vdit_attn_block_map *map, *map_t;
  // Softmax extras (include/vdit/attn.h): arrays on the kernels' device.
  vdit_attn_softmax_extras extras;
} vdit_attn_problem;

// fp64 reference: plain two-pass softmax, no tiling. q (B,H,Sq,D), k/v (B,H,Sk,D).
vdit_status vdit_attn_reference_forward(const vdit_attn_problem *problem, const double *q, const double *k,
                                        const double *v, double *o, double *lse);
vdit_status vdit_attn_reference_backward(const vdit_attn_problem *problem, const double *q, const double *k,
                                         const double *v, const double *d_o, double *dq, double *dk, double *dv);

// fp32 tiled online-softmax kernels (OpenMP over batch, head and tile): the block-sparse
// executor on the CPU; with problem->map NULL they are dense attention. Query tiles of 64
// rows, key chunks of up to 128 keys (one chunk per key block when block_k <= 128).
vdit_status vdit_attn_cpu_dense_forward(const vdit_attn_problem *problem, const float *q, const float *k,
                                        const float *v, float *o, float *lse);
vdit_status vdit_attn_cpu_dense_backward(const vdit_attn_problem *problem, const float *q, const float *k,
                                         const float *v, const float *o, const float *lse, const float *d_o,
                                         float *dq, float *dk, float *dv);

// SpargeAttention2's mask prediction on the CPU (sparge_mask.c), the specification the CUDA
// kernels reproduce bit for bit. q (B, H, Sq, D), k (B, H, Sk, D) fp32; `map` a host map
// allocated with the block sizes to use. *predict_seconds (optional): host time spent.
vdit_status vdit_attn_sparge_predict_cpu(const vdit_attn_problem *problem, const vdit_attn_sparge_config *sparge,
                                         const float *q, const float *k, vdit_attn_block_map *map);

// Sets sparge's parameters for a target fraction of skipped blocks on these inputs: Top-k:
// topk = 1 - target; Top-p: topp bisected; hybrid: topk = (1 - target) / 4 and topp bisected.
// *achieved (optional): the sparsity the CPU prediction then gives.
vdit_status vdit_attn_sparge_calibrate(const vdit_attn_problem *problem, vdit_attn_sparge_config *sparge, const float *q,
                                       const float *k, int32_t block_q, int32_t block_k, double target_sparsity,
                                       double *achieved);

// Per-head autotune on the CPU (sparge_tune.c): for each head (batch element 0), the hybrid
// rule's (theta, topk, topp, lambda) with the most blocks skipped whose output stays within
// target_rel_l1 of dense attention (relative L1 of O). q, k, v fp32 (B, H, S, D).
vdit_status vdit_attn_sparge_tune(const vdit_attn_problem *problem, const float *q, const float *k, const float *v,
                                  double target_rel_l1, vdit_attn_sparge_tuning *tuning);

// ---------------------------------------------------------------- SLA2 (sla_cpu.c, sla_reference.c, sla_cuda.c)
// The plan's resolved SLA parameters: host fp32 copies with the defaults filled in.
typedef struct vdit_attn_sla_weights {
  int64_t heads, dim, router_dim;
  int32_t block;
  float topk;
  vdit_attn_sla_feature feature;
  float *wq, *wk;      // (H, D, D_r)
  float *alpha_logit;  // (H)
} vdit_attn_sla_weights;

// Checks config against (H, D) and fills w with host copies of the parameters (the defaults
// where the config has none: identity router on the first D_r dims, alpha logit 0); block 0
// takes default_block. Release with vdit_attn_sla_weights_free.
vdit_status vdit_attn_sla_weights_init(vdit_attn_sla_weights *w, const vdit_attn_sla_config *config, int64_t heads,
                                       int64_t head_dim, int32_t default_block);
// Copies the config's parameters again (those it sets).
void vdit_attn_sla_weights_refresh(vdit_attn_sla_weights *w, const vdit_attn_sla_config *config);
void vdit_attn_sla_weights_free(vdit_attn_sla_weights *w);

static inline float vdit_attn_sla_alpha(const vdit_attn_sla_weights *w, int64_t h) {
  return 1.0f / (1.0f + expf(-w->alpha_logit[h]));
}

// The router on the CPU, the specification (sla_exact.h) the CUDA router reproduces bit for
// bit: q (B, H, Sq, D), k (B, H, Sk, D) fp32 -> a host map of blocks w->block x w->block.
vdit_status vdit_attn_sla_route_cpu(const vdit_attn_problem *problem, const vdit_attn_sla_weights *w, const float *q,
                                    const float *k, vdit_attn_block_map *map);
// Forward on the CPU (fp32), problem->map the router's map: O, the sparse branch's LSE, and
// the two branches O_s, O_l (B, H, Sq, D) the backward needs.
vdit_status vdit_attn_sla_forward_cpu(const vdit_attn_problem *problem, const vdit_attn_sla_weights *w, const float *q,
                                      const float *k, const float *v, float *o, float *lse, float *o_s, float *o_l);
// Backward on the CPU (problem->map and map_t set): dQ, dK, dV and the parameter gradients
// (g_wq, g_wk (H, D, D_r), g_logit (H); each may be NULL).
vdit_status vdit_attn_sla_backward_cpu(const vdit_attn_problem *problem, const vdit_attn_sla_weights *w, const float *q,
                                       const float *k, const float *v, const float *o_s, const float *o_l,
                                       const float *lse, const float *d_o, float *dq, float *dk, float *dv,
                                       float *g_wq, float *g_wk, float *g_logit);

// fp64 reference of SLA2 (sla_reference.c): plain per-row sums over tokens (no H_J), on a
// host map. Parameters in double: wq, wk (H, D, D_r), alpha_logit (H). tile_weight: NULL, or
// (B * H * q_blocks * k_blocks) factors e^(s - s0) of the kept blocks (the router's
// relaxation, for finite differences). o_s, o_l may be NULL.
typedef struct vdit_attn_sla_reference {
  int64_t router_dim;
  vdit_attn_sla_feature feature;
  const double *wq, *wk, *alpha_logit;
} vdit_attn_sla_reference;
// Router scores (B, H, q_blocks, k_blocks) of blocks map->block_q x block_k.
vdit_status vdit_attn_sla_reference_scores(const vdit_attn_problem *problem, const vdit_attn_sla_reference *r,
                                           const vdit_attn_block_map *map, const double *q, const double *k,
                                           double *scores);
vdit_status vdit_attn_sla_reference_forward(const vdit_attn_problem *problem, const vdit_attn_sla_reference *r,
                                            const double *tile_weight, const double *q, const double *k,
                                            const double *v, double *o, double *lse, double *o_s, double *o_l);
// Gradients of sum(d_o * O): dq, dk, dv (map held), g_wq, g_wk (relaxation), g_logit.
vdit_status vdit_attn_sla_reference_backward(const vdit_attn_problem *problem, const vdit_attn_sla_reference *r,
                                             const double *q, const double *k, const double *v, const double *d_o,
                                             double *dq, double *dk, double *dv, double *g_wq, double *g_wk,
                                             double *g_logit);
// phi of one row in double, and its backward dx = J^T dy given x and y = phi(x).
void vdit_attn_sla_phi_f64(vdit_attn_sla_feature feature, const double *x, int64_t n, double *y);
void vdit_attn_sla_phi_backward_f64(vdit_attn_sla_feature feature, const double *x, const double *y, const double *dy,
                                    int64_t n, double *dx);

// CUDA block-map and sparge kernels (attn_sparse_cuda.c -> src/attn/cuda); without the CUDA
// backend they return VDIT_ERROR_NO_DEVICE.
vdit_status vdit_attn_cuda_block_map_clear(vdit_attn_block_map *map);
vdit_status vdit_attn_cuda_block_map_transpose(vdit_attn_block_map *t, const vdit_attn_block_map *src);
vdit_status vdit_attn_cuda_sparge_predict(const vdit_attn_problem *problem, const vdit_attn_sparge_config *sparge,
                                          const vdit_tensor *q, const vdit_tensor *k, vdit_attn_block_map *map,
                                          void **workspace, size_t *workspace_bytes);

// CUDA (attn_dense_cuda.c, kernels in src/attn/cuda/): the device resources a plan keeps, and
// forward / backward on tensors the plan already checked (dtype, device, shapes).
typedef struct vdit_attn_cuda_resources {
  vdit_device device;
  int32_t *key_lengths;   // B key lengths on the device, or NULL (all Sk)
  void *workspace;        // backward scratch (Delta, dQ accumulator), allocated at the first backward
  size_t workspace_bytes;
  void *sage_workspace;   // VDIT_ATTN_SAGE: quantized Q, K, V, scales (attn_sage_cuda.c)
  size_t sage_workspace_bytes;
  void *sage_bwd_workspace; // VDIT_ATTN_SAGE backward: INT8 Q, Q^T, dO^T, K, K^T, scales, dQ / dK sums
  size_t sage_bwd_workspace_bytes;
} vdit_attn_cuda_resources;

// Checks that the device, dtype (bf16, f16) and sizes suit the kernels and copies the key
// lengths to the device.
vdit_status vdit_attn_cuda_resources_init(vdit_attn_cuda_resources *resources, const vdit_attn_problem *problem,
                                          vdit_dtype dtype, vdit_device device);
void vdit_attn_cuda_resources_free(vdit_attn_cuda_resources *resources);
vdit_status vdit_attn_cuda_dense_forward(const vdit_attn_problem *problem, vdit_attn_cuda_resources *resources,
                                         const vdit_tensor *q, const vdit_tensor *k, const vdit_tensor *v, vdit_tensor *o,
                                         vdit_tensor *lse);
vdit_status vdit_attn_cuda_dense_backward(const vdit_attn_problem *problem, vdit_attn_cuda_resources *resources,
                                          const vdit_tensor *q, const vdit_tensor *k, const vdit_tensor *v,
                                          const vdit_tensor *o, const vdit_tensor *lse, const vdit_tensor *d_o,
                                          vdit_tensor *dq, vdit_tensor *dk, vdit_tensor *dv);

// VDIT_ATTN_SAGE on CUDA (attn_sage_cuda.c, kernels in src/attn/cuda/attn_sage_*.cu): the
// same contract as the CPU emulation (attn_sage.h). Quantized copies live in the plan's
// workspace (allocated at the first call).
vdit_status vdit_attn_cuda_sage_forward(const vdit_attn_problem *problem, vdit_attn_cuda_resources *resources,
                                        const vdit_tensor *q, const vdit_tensor *k, const vdit_tensor *v, vdit_tensor *o,
                                        vdit_tensor *lse);
vdit_status vdit_attn_cuda_sage_backward(const vdit_attn_problem *problem, vdit_attn_cuda_resources *resources,
                                         const vdit_tensor *q, const vdit_tensor *k, const vdit_tensor *v,
                                         const vdit_tensor *o, const vdit_tensor *lse, const vdit_tensor *d_o,
                                         vdit_tensor *dq, vdit_tensor *dk, vdit_tensor *dv);

// SLA2 on CUDA (attn_sla_cuda.c, kernels in src/attn/cuda/sla_cuda.cu): D = 128, 128-token
// blocks, bf16 or f16. The plan's device state: the parameters, the sparse branch's output
// O_s (B, H, Sq, D) in the tensors' dtype, the linear branch's per-block sums, and the
// backward's scratch (allocated at the first backward).
typedef struct vdit_attn_sla_cuda {
  vdit_device device;
  float *params;        // wq, wk (H, D, D_r), alpha_logit (H)
  float *params_host;   // the host copy of what `params` holds (NULL before the first upload):
                        // an unchanged set is not uploaded again (a pageable cudaMemcpy waits
                        // for the stream, which left the GPU idle between launches)
  void *o_s;            // (B, H, Sq, D) contiguous, dtype of the tensors
  float *router;        // pooled q (BH, qb, D), k (BH, kb, D), projections (BH, qb|kb, D_r)
  float *linear;        // H_J (BH, kb, D, D), z_J (BH, kb, D), totals (BH, D, D), (BH, D)
  void *backward;       // dO_s, dHc (BH, qb, D, D), dzc, G (BH, qb, kb), dalpha partials, router grads
  size_t backward_bytes;
  void *events;         // NULL, or the per-kernel timing's CUDA events (vdit_attn_sla_cuda_profile)
  // What the last vdit_attn_sla_cuda_prepare left for the next route and forward (each takes
  // its part only for the same tensors, and clears it): the key blocks' means of `pooled_k`,
  // H_J, z_J and the totals of `prepared_k`, `prepared_v` (NULL: nothing left).
  const void *pooled_k, *prepared_k, *prepared_v;
  int span_from;        // the first event of the last forward (stages' whole-forward span)
} vdit_attn_sla_cuda;

// Per-kernel timing of the CUDA forward, for the bench: with profiling on, every forward
// records CUDA events between its launches; stages gives the last forward's milliseconds
// (after a device synchronize) of: pool (block means + projections), topk, the sparse branch
// (the executor), prepare, totals, out, and the whole forward.
#define VDIT_ATTN_SLA_STAGES 7
vdit_status vdit_attn_sla_cuda_profile(vdit_attn_sla_cuda *c, int on);
vdit_status vdit_attn_sla_cuda_stages(const vdit_attn_sla_cuda *c, double ms[VDIT_ATTN_SLA_STAGES]);
// The same through a plan (method sla on CUDA; else VDIT_ERROR_INVALID_ARGUMENT).
vdit_status vdit_attn_plan_sla_profile(vdit_attn_plan *plan, int on);
vdit_status vdit_attn_plan_sla_stages(const vdit_attn_plan *plan, double ms[VDIT_ATTN_SLA_STAGES]);

vdit_status vdit_attn_sla_cuda_init(vdit_attn_sla_cuda *c, const vdit_attn_problem *problem, const vdit_attn_sla_weights *w,
                                    vdit_dtype dtype, vdit_device device);
void vdit_attn_sla_cuda_free(vdit_attn_sla_cuda *c);
// The router on the GPU: `map` (device, w->block blocks), bit for bit the CPU's.
vdit_status vdit_attn_sla_cuda_route(vdit_attn_sla_cuda *c, const vdit_attn_problem *problem, const vdit_attn_sla_weights *w,
                                     const vdit_tensor *q, const vdit_tensor *k, vdit_attn_block_map *map);
// The forward's linear-branch preparation, launched first (it needs neither the parameters nor
// the map, so the GPU works while the host checks the parameters and routes): H_J, z_J, the
// totals and the key blocks' means of K, V (the next route of this K projects the means and
// reads Q only; a forward without it prepares after the executor).
vdit_status vdit_attn_sla_cuda_prepare(vdit_attn_sla_cuda *c, const vdit_attn_problem *problem, const vdit_attn_sla_weights *w,
                                       const vdit_tensor *k, const vdit_tensor *v);
vdit_status vdit_attn_sla_cuda_forward(vdit_attn_sla_cuda *c, const vdit_attn_problem *problem, vdit_attn_cuda_resources *r,
                                       const vdit_attn_sla_weights *w, const vdit_tensor *q, const vdit_tensor *k,
                                       const vdit_tensor *v, vdit_tensor *o, vdit_tensor *lse);
// Gradients; g_wq, g_wk, g_logit host arrays (or NULL), written after a device synchronize.
vdit_status vdit_attn_sla_cuda_backward(vdit_attn_sla_cuda *c, const vdit_attn_problem *problem, vdit_attn_cuda_resources *r,
                                        const vdit_attn_sla_weights *w, const vdit_tensor *q, const vdit_tensor *k,
                                        const vdit_tensor *v, const vdit_tensor *lse, const vdit_tensor *d_o,
                                        vdit_tensor *dq, vdit_tensor *dk, vdit_tensor *dv, float *g_wq, float *g_wk,
                                        float *g_logit);

#ifdef VDIT_HAVE_CUDA
#include "attn/cuda/attn_cuda.h"
// Shared by the dense and sage CUDA plans (attn_dense_cuda.c): kernel parameters from the
// tensors, element strides over (batch, sequence, head), the LSE check, and making the plan's
// GPU current around a call (leave restores the caller's and passes `status` on).
void vdit_attn_cuda_params_init(vdit_attn_cuda_params *p, const vdit_attn_problem *problem,
                                const vdit_attn_cuda_resources *r, const vdit_tensor *q, const vdit_tensor *k,
                                const vdit_tensor *v, const vdit_tensor *o, const vdit_tensor *lse);
void vdit_attn_cuda_strides_bsh(const vdit_tensor *t, vdit_attn_layout layout, int64_t *sb, int64_t *ss, int64_t *sh);
vdit_status vdit_attn_cuda_check_lse(const vdit_tensor *lse, vdit_device device);
vdit_status vdit_attn_cuda_device_enter(vdit_device device, int *previous);
vdit_status vdit_attn_cuda_device_leave(int previous, vdit_status status);
// The sage forward (attn_sage_cuda.c) on prepared kernel parameters: plain sage and
// sparge(sage=1) from vdit_attn_cuda_sage_forward, and sla(sage=1) with SLA2's epilogue
// (p->lin_*) from vdit_attn_sla_cuda_forward. The caller has made the plan's GPU current.
vdit_status vdit_attn_cuda_sage_forward_params(const vdit_attn_problem *problem, vdit_attn_cuda_resources *resources,
                                               const vdit_attn_cuda_params *p);
#endif

// Tensor (either layout, any float dtype, head dim contiguous) <-> contiguous host fp32
// (B, H, S, D) array, through vdit_tensor_convert (attn.c).
vdit_status vdit_attn_tensor_to_bhsd(const vdit_tensor *t, vdit_attn_layout layout, float *out);
vdit_status vdit_attn_tensor_from_bhsd(const float *in, vdit_attn_layout layout, vdit_tensor *t);

#endif
