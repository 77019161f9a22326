// Dense attention on CUDA (sm_90a), internal to vdit: the launch interface over raw device
// pointers and element strides that src/attn/attn.c fills from the tensors.
//
// Tensors are addressed by element strides with a contiguous head dim, so (B, S, H, D),
// (B, H, S, D) and views (a slice of a packed QKV tensor) all work:
//   element (b, s, h, d) of Q lives at q + b*q_sb + s*q_ss + h*q_sh + d.
// LSE is (B, H, Sq) fp32, contiguous: natural log of the softmax denominator of the scaled
// scores. Masks are key prefixes as in include/vdit/attn.h: query i of batch b attends keys
// j < min(key_lens[b], mask_limit(i)); a query with no key gets O = 0, LSE = -inf, dQ = 0, and
// keys no query sees get dK = dV = 0.
//
// Paths (src/attn/cuda/, see docs/attention.md):
//   forward   D = 64 or 128 with 16-byte aligned bases and 8-element strides: Hopper wgmma,
//             two warpgroups over 128 queries, 128-key tiles by TMA in 3 mbarrier stages with
//             the softmax overlapped with the tensor cores (attn_forward_tma.cu; version 2's
//             cp.async kernel, attn_forward_wgmma.cu, if the driver refuses a tensor map);
//             anything else: mma.sync m16n8k16 with element loads and the head dim padded to
//             64, 128 or 256 (attn_forward_mma.cu).
//   backward  a preprocess (Delta = rowsum(dO * O), dQ accumulator = 0), a main kernel over
//             128-key blocks (wgmma for D = 64/128 aligned, attn_backward_wgmma.cu; else the
//             mma.sync generic path, attn_backward_mma.cu) that keeps dK, dV in registers and
//             adds dQ into the fp32 accumulator with atomics, then dQ = scale * accumulator.
// Everything runs on the current CUDA device in `stream`.
#ifndef VDIT_ATTN_CUDA_H
#define VDIT_ATTN_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include "vdit/attn.h"

#ifdef VDIT_HAVE_CUDA
#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vdit_attn_cuda_params {
  vdit_dtype dtype;         // VDIT_DTYPE_BF16 or VDIT_DTYPE_F16; Q, K, V, O, dO, dQ, dK, dV share it
  int B, H, Sq, Sk, D;      // batch, heads, query tokens, key tokens, head dim (1..256)
  float scale;              // softmax scale, > 0
  vdit_attn_mask mask;
  int64_t block_len;        // tokens per block, for VDIT_ATTN_MASK_BLOCK_CAUSAL (> 0)
  const int32_t *key_lens;  // device array of B valid key counts in [0, Sk], or NULL for Sk
  // forward inputs and outputs; element strides over (batch, sequence, head)
  const void *q, *k, *v;
  void *o;
  float *lse;               // (B, H, Sq) contiguous
  int64_t q_sb, q_ss, q_sh, k_sb, k_ss, k_sh, v_sb, v_ss, v_sh, o_sb, o_ss, o_sh;
  // backward (O and LSE above are its inputs)
  const void *d_o;
  void *dq, *dk, *dv;
  int64_t do_sb, do_ss, do_sh, dq_sb, dq_ss, dq_sh, dk_sb, dk_ss, dk_sh, dv_sb, dv_ss, dv_sh;
  // vdit_attn_cuda_backward_workspace_bytes bytes of device memory, 256-byte aligned
  void *workspace;
  // Block-sparse executor (wgmma path only). map_offsets NULL: every key block (dense).
  // Forward: row (b * H + h) * map_rows + i lists the 128-key blocks query block i (128
  // queries) computes; backward: row (b * H + h) * mapt_rows + j lists the query blocks that
  // compute key block j. Both compressed-row, ascending (include/vdit/attn.h).
  const int32_t *map_offsets, *map_index;
  int map_rows;
  const int32_t *mapt_offsets, *mapt_index;
  int mapt_rows;
  // softmax extras (attn.h), (B, H, Sq) and (B, H, Sq, D) fp32 contiguous, or NULL
  const float *extra_max, *extra_sum, *extra_num;
  float pv_threshold; // 0 = off
  // SLA2's linear branch mixed into the forward's epilogue (attn_forward_tma.cu, D = 128; NULL
  // lin_hc: off). Per query block I of 128 rows: Hc_I (D x D, [d][e], the tensors' dtype) and
  // zc_I (D, fp32), the left-out sums (B, H, Sq / 128 rounded up, ...) contiguous; the epilogue
  // writes O = alpha_h O_s + (1 - alpha_h) phi(Q) Hc / (phi(Q) . zc), alpha_h =
  // sigmoid(lin_alpha_logit[h]), phi per lin_feature (vdit_attn_sla_feature), and O_s itself
  // to o_sparse (strides os_*) unless that is NULL (a forward no backward follows).
  const void *lin_hc;
  const float *lin_zc, *lin_alpha_logit;
  int lin_feature;
  void *o_sparse;
  int64_t os_sb, os_ss, os_sh;
} vdit_attn_cuda_params;

// Block maps and sparge's mask prediction (attn_block_map.cu, sparge_mask.cu).
typedef struct vdit_attn_cuda_map {
  int BH, rows, cols;  // (b, h) pairs, rows per pair, columns (blocks) per row
  int32_t *offsets, *index;
} vdit_attn_cuda_map;

// t = transpose(m) through `bitmap` (BH * rows * cols bytes of scratch).
cudaError_t vdit_attn_cuda_map_transpose(const vdit_attn_cuda_map *m, const vdit_attn_cuda_map *t, unsigned char *bitmap,
                                         cudaStream_t stream);

typedef struct vdit_attn_cuda_sparge_args {
  vdit_dtype dtype;
  int BH, H, Sq, Sk, D;
  int block_q, block_k, q_blocks, k_blocks;
  float scale;
  int rule, sink, per_head;
  const void *q, *k;
  int64_t q_sb, q_ss, q_sh, k_sb, k_ss, k_sh;
  int32_t *row_offsets, *col_index; // the map written
  vdit_attn_sparge_head params;
  vdit_attn_sparge_head head_table[64]; // per head when per_head
} vdit_attn_cuda_sparge_args;

size_t vdit_attn_cuda_sparge_workspace_bytes(const vdit_attn_cuda_sparge_args *a);
// Whether the kernels take these arguments: D a power of two in 8..256, 16-byte aligned Q and K
// with strides in multiples of 8, at most 8192 key blocks, blocks whose tokens fit shared memory.
int vdit_attn_cuda_sparge_fits(const vdit_attn_cuda_sparge_args *a);
cudaError_t vdit_attn_cuda_sparge(const vdit_attn_cuda_sparge_args *a, void *workspace, cudaStream_t stream);

// O and LSE from Q, K, V. Parameters outside the contract above are VDIT_ERROR_INVALID_ARGUMENT.
vdit_status vdit_attn_cuda_forward(const vdit_attn_cuda_params *p, cudaStream_t stream);

// Scratch the backward needs: Delta (B*H*Sq fp32) and the dQ accumulator (B*H*Sq x Dpad fp32,
// Dpad = 64, 128 or 256 >= D). Depends on the shape only, so a plan can size it once.
size_t vdit_attn_cuda_backward_workspace_bytes(int64_t batch, int64_t heads, int64_t seq_q, int64_t head_dim);

// dQ, dK, dV from Q, K, V, O, LSE (the forward's) and dO.
vdit_status vdit_attn_cuda_backward(const vdit_attn_cuda_params *p, cudaStream_t stream);

// ---------------------------------------------------------------- the paths (src/attn/cuda only)
// Launchers behind the two entry points; they trust parameters the entry points checked and
// return the launch's error.
int vdit_attn_cuda_forward_wgmma_fits(const vdit_attn_cuda_params *p);
int vdit_attn_cuda_backward_wgmma_fits(const vdit_attn_cuda_params *p);
int vdit_attn_cuda_padded_head_dim(int head_dim); // 64, 128 or 256
cudaError_t vdit_attn_cuda_forward_wgmma(const vdit_attn_cuda_params *p, cudaStream_t stream);
// Version 3 (TMA, overlapped softmax; attn_forward_tma.cu), tried first by the wgmma launcher:
// cudaErrorNotSupported when the driver refuses a tensor map (the caller then runs version 2).
int vdit_attn_cuda_forward_tma_fits(const vdit_attn_cuda_params *p);
cudaError_t vdit_attn_cuda_forward_tma(const vdit_attn_cuda_params *p, cudaStream_t stream);
cudaError_t vdit_attn_cuda_forward_mma(const vdit_attn_cuda_params *p, cudaStream_t stream);
// delta: (B, H, Sq) fp32; dq_acc: (B, H, Sq, dpad) fp32, dpad = D on the wgmma path
cudaError_t vdit_attn_cuda_backward_preprocess(const vdit_attn_cuda_params *p, float *delta, float *dq_acc, int dpad,
                                               cudaStream_t stream);
cudaError_t vdit_attn_cuda_backward_wgmma(const vdit_attn_cuda_params *p, const float *delta, float *dq_acc,
                                          cudaStream_t stream);
cudaError_t vdit_attn_cuda_backward_mma(const vdit_attn_cuda_params *p, const float *delta, float *dq_acc, int dpad,
                                        cudaStream_t stream);
cudaError_t vdit_attn_cuda_backward_dq(const vdit_attn_cuda_params *p, const float *dq_acc, int dpad,
                                       cudaStream_t stream);

#ifdef __cplusplus
}
#endif

#endif // VDIT_HAVE_CUDA
#endif // VDIT_ATTN_CUDA_H
