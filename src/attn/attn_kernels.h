// Internal attention kernels. CPU kernels work on contiguous fp32 (and the reference on fp64)
// arrays in (B, H, S, D) order; the public entry (attn.c) converts dtypes and layouts around
// them. The CUDA path works on the tensors' own memory and strides.
#ifndef VDIT_ATTN_KERNELS_H
#define VDIT_ATTN_KERNELS_H

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
#endif

// Tensor (either layout, any float dtype, head dim contiguous) <-> contiguous host fp32
// (B, H, S, D) array, through vdit_tensor_convert (attn.c).
vdit_status vdit_attn_tensor_to_bhsd(const vdit_tensor *t, vdit_attn_layout layout, float *out);
vdit_status vdit_attn_tensor_from_bhsd(const float *in, vdit_attn_layout layout, vdit_tensor *t);

#endif
