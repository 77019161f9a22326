// Kernel lab for dense attention: the launch interface every version shares.
//
// Tensors are addressed by element strides, head-dim stride 1, so (B, S, H, D) and (B, H, S, D)
// (and views such as a slice of a packed QKV tensor) all work:
//   element (b, s, h, d) of Q lives at q + b*q_sb + s*q_ss + h*q_sh + d.
// LSE is (B, H, Sq) fp32 contiguous: natural log of the softmax denominator of the scaled scores.
// Masks are key prefixes (as in include/vdit/attn.h): query i of batch b attends keys
// j < key_limit(b, i) = min(key_len[b], mask_limit(i)) with, for position p = i + Sk - Sq,
//   none: Sk; causal: p + 1; block-causal: p < 0 ? 0 : (p / block_len + 1) * block_len.
// A query with no key gets O = 0, LSE = -inf, dQ = 0; keys no query sees get dK = dV = 0.
#ifndef ATTN_DEV_H
#define ATTN_DEV_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { ATTN_BF16 = 0, ATTN_FP16 = 1 };
enum { ATTN_MASK_NONE = 0, ATTN_MASK_CAUSAL = 1, ATTN_MASK_BLOCK_CAUSAL = 2 };

typedef struct attn_params {
  int dtype;                       // ATTN_BF16 or ATTN_FP16; Q, K, V, O, dO, dQ, dK, dV share it
  int B, H, Sq, Sk, D;             // D in [1, 256]
  float scale;                     // softmax scale, > 0
  int mask;                        // ATTN_MASK_*
  int64_t block_len;               // tokens per block, for ATTN_MASK_BLOCK_CAUSAL (> 0)
  const int *key_lens;             // device array of B valid key counts in [0, Sk], or NULL
  int variant;                     // tile configuration (0 = default; see each version's table)
  // forward inputs/outputs
  const void *q, *k, *v;
  void *o;
  float *lse;                      // (B, H, Sq)
  int64_t q_sb, q_ss, q_sh, k_sb, k_ss, k_sh, v_sb, v_ss, v_sh, o_sb, o_ss, o_sh;
  // backward (O and LSE above are inputs there)
  const void *d_o;
  void *dq, *dk, *dv;
  int64_t do_sb, do_ss, do_sh, dq_sb, dq_ss, dq_sh, dk_sb, dk_ss, dk_sh, dv_sb, dv_ss, dv_sh;
  void *workspace;                 // attn_bwd_vN_workspace_bytes(p) bytes, 256-byte aligned
} attn_params;

// Version 1: FA2-style, mma.sync m16n8k16, ldmatrix, cp.async double buffering.
// Returns cudaErrorInvalidValue for parameters outside the contract above.
cudaError_t attn_fwd_v1(const attn_params *p, cudaStream_t stream);
size_t attn_bwd_v1_workspace_bytes(const attn_params *p);
cudaError_t attn_bwd_v1(const attn_params *p, cudaStream_t stream);
// Names of the tile configurations of version 1 for a head dim (NULL past the last).
const char *attn_fwd_v1_variant_name(int D, int variant);
const char *attn_bwd_v1_variant_name(int D, int variant);

// Version 2 forward: Hopper wgmma (two consumer warpgroups, cp.async stages) for D = 64 and 128
// with 16-byte aligned strides; everything else runs version 1's generic path.
cudaError_t attn_fwd_v2(const attn_params *p, cudaStream_t stream);
const char *attn_fwd_v2_variant_name(int D, int variant);

// Version 2 backward: wgmma main kernel for D = 64 and 128 with 16-byte aligned strides (else
// version 1); the same preprocess, dQ conversion and workspace as version 1.
cudaError_t attn_bwd_v2(const attn_params *p, cudaStream_t stream);
size_t attn_bwd_v2_workspace_bytes(const attn_params *p);
const char *attn_bwd_v2_variant_name(int D, int variant);

// Version 3 forward: TMA producer warpgroup + two consumer warpgroups (setmaxnreg, mbarrier
// stages, in-warpgroup S/PV overlap, optional ping-pong) for D = 64 and 128 with 16-byte aligned
// strides; everything else runs version 2 (variant 0 only).
cudaError_t attn_fwd_v3(const attn_params *p, cudaStream_t stream);
const char *attn_fwd_v3_variant_name(int D, int variant);

// Shared backward steps (bwd_v1.cu): Delta and dQ_acc = 0; dQ = scale * dQ_acc.
cudaError_t attn_bwd_pre_launch(const attn_params *p, float *delta, float *dq_acc, int dpad, cudaStream_t stream);
cudaError_t attn_bwd_dq_launch(const attn_params *p, const float *dq_acc, int dpad, cudaStream_t stream);

#ifdef __cplusplus
}
#endif

#endif // ATTN_DEV_H
