// Sage attention on CUDA (sm_90a), internal to vdit: the quantization kernels and the INT8 /
// FP8 wgmma forward behind vdit_attn_cuda_sage_forward (attn_sage_cuda.c). The contract
// (scales, codes, accumulation) is src/attn/attn_sage.h, which the CPU emulation follows too.
//
// Workspace (vdit_attn_sage_cuda_workspace_bytes, 256-byte aligned pieces), per (b, h):
//   q8    int8 (Sq_pad, D)       Q codes, rows past Sq zero
//   k8    int8 (Sk_pad, D)       (K - mu) codes, rows past Sk zero
//   vt8   e4m3 (D, Sk_pad)       V^T codes (pv = fp8): within each 32-key group the keys are
//                                stored in the order of the wgmma A fragment of P (see
//                                sage_fragment_position), so P goes from the S accumulator to the
//                                A registers without shuffles
//   qsf   f32 (q groups)         Q scale * softmax scale * log2 e
//   ks    f32 (k groups)         K scale
//   kstat f32 (2, D)             sum of K over keys < n, then max |V| over keys < n
//   qmu   f32 (Sq)               softmax scale * (q_i . mu), the LSE correction
// Sq_pad, Sk_pad: Sq, Sk rounded up to 128.
#ifndef VDIT_ATTN_SAGE_CUDA_H
#define VDIT_ATTN_SAGE_CUDA_H

#include "attn/cuda/attn_cuda.h"

#ifdef VDIT_HAVE_CUDA
#ifdef __cplusplus
extern "C" {
#endif

typedef struct vdit_attn_sage_cuda_params {
  vdit_attn_cuda_params base; // shapes, mask, Q/K/V/O/LSE and their strides (dtype bf16 or f16)
  int granularity;            // vdit_attn_sage_granularity
  int pv_fp8;                 // 1: FP8 P V; 0: P V in the 16-bit dtype
  void *workspace;            // vdit_attn_sage_cuda_workspace_bytes (forward) or
                              // vdit_attn_sage_cuda_backward_workspace_bytes (backward)
  int bwd_atomic_dq;          // backward: 1 adds dQ tiles by float2 atomics (the lab switch and the
                              // fallback without a tensor-map encoder), 0 by bulk tensor reductions
  int fwd_path;               // forward: vdit_attn_sage_fwd_path
} vdit_attn_sage_cuda_params;

// Which forward kernel runs after the quantization launches.
typedef enum vdit_attn_sage_fwd_path {
  VDIT_ATTN_SAGE_FWD_AUTO = 0,  // version 3 (attn_sage_forward_tma.cu) for FP8 P V, else version 2
  VDIT_ATTN_SAGE_FWD_V2 = 1,    // version 2 (attn_sage_forward.cu: cp.async stages, lockstep warpgroups)
  VDIT_ATTN_SAGE_FWD_QUANT = 2, // the quantization launches only, O and the LSE not written (a timing lab switch)
} vdit_attn_sage_fwd_path;

// The forward workspace's pieces (the layout above) as version 3 fills and reads them.
typedef struct vdit_attn_sage_ws_view {
  int8_t *q8, *k8;
  uint8_t *vt8;
  float *qsf, *ks, *kstat, *qmu;
  int sq_pad, sk_pad, qg_stride, kg_stride; // padded lengths; Q / K scale groups per (b, h)
} vdit_attn_sage_ws_view;

// K's channel sums and V's channel maxima |V| over keys < n per (b, h), into kstat
// ((B, H, 2, 128) fp32: sums, then maxima), the same numbers on every run: chunk sums of 256
// keys go to `scratch` (vdit_attn_sage_stats_scratch_bytes, 256-byte aligned) and are added in
// chunk order (attn_sage_quant.cu).
size_t vdit_attn_sage_stats_scratch_bytes(const vdit_attn_cuda_params *p);
cudaError_t vdit_attn_sage_stats(const vdit_attn_cuda_params *p, float *kstat, float *scratch, cudaStream_t stream);

// The forward's quantization, used by both versions (attn_sage_quant.cu): the stats (their
// scratch in w->k8's region, free until the codes launch), then the Q, K and, with
// p->pv_fp8, the V^T codes and scales into the workspace pieces of w. Two launches after a memset.
cudaError_t vdit_attn_sage_quantize(const vdit_attn_sage_cuda_params *p, const vdit_attn_sage_ws_view *w, cudaStream_t stream);

// Version 3 of the forward (attn_sage_forward_tma.cu): FP8 P V, head dim 128. The quantization
// (vdit_attn_sage_quantize), then the attention kernel, or the quantization
// alone with p->fwd_path == VDIT_ATTN_SAGE_FWD_QUANT. cudaErrorNotSupported (error state clear,
// nothing launched) when the driver has no tensor-map encoder or refuses a map: the caller falls
// back to version 2.
cudaError_t vdit_attn_sage_forward_tma(const vdit_attn_sage_cuda_params *p, const vdit_attn_sage_ws_view *w, cudaStream_t stream);

size_t vdit_attn_sage_cuda_workspace_bytes(int64_t batch, int64_t heads, int64_t seq_q, int64_t seq_k, int64_t head_dim);
// Whether the sage CUDA path takes these parameters (head dim 128, 16-byte aligned bases,
// strides multiples of 8).
int vdit_attn_sage_cuda_fits(const vdit_attn_cuda_params *p);
// Quantization (stats, Q, K, V) then the forward kernel, on `stream`.
vdit_status vdit_attn_sage_cuda_forward(const vdit_attn_sage_cuda_params *p, cudaStream_t stream);

// SageBwd (attn_sage_backward.cu): its own workspace (INT8 Q, Q^T, dO^T, K', K'^T, scales,
// l2, Delta, the fp32 dQ accumulator and dK' before the mean), head dim 128.
size_t vdit_attn_sage_cuda_backward_workspace_bytes(int64_t batch, int64_t heads, int64_t seq_q, int64_t seq_k);
int vdit_attn_sage_cuda_backward_fits(const vdit_attn_cuda_params *p);
// dQ, dK, dV from Q, K, V, O, LSE (the sage forward's) and dO, on `stream`.
vdit_status vdit_attn_sage_cuda_backward(const vdit_attn_sage_cuda_params *p, cudaStream_t stream);
// The backward's 127 / amax (sage_bwd_inv127, branch-free) against the IEEE division
// (amax > 0 ? 127.0f / amax : 0) on every 32-bit input: the count of mismatching inputs and the
// smallest one (0xffffffff where none). Synchronous, on the default stream.
cudaError_t vdit_attn_sage_cuda_inv127_check(unsigned long long *mismatches, unsigned int *first_bad);

#ifdef __cplusplus
}
#endif
#endif // VDIT_HAVE_CUDA
#endif // VDIT_ATTN_SAGE_CUDA_H
