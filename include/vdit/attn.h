// vdit attention layer: one entry point for every attention method. A config says what to
// compute (method, softmax scale, mask, layout); a plan binds it to shapes, dtype and
// device (and, for sparse methods, holds masks, routes and clusters); forward and backward
// run the plan.
//
// Shapes: Q (B, Sq, H, D) or (B, H, Sq, D) by layout; K and V (B, Sk, H, D) or (B, H, Sk, D);
// O like Q; LSE (B, H, Sq) fp32, natural log of the softmax denominator (scores scaled).
// Masks are "key prefixes": query i of batch b attends keys j < key_limit(b, i) (see
// vdit_attn_key_limit). A row with no key gets O = 0 and LSE = -inf, never NaN.
#ifndef VDIT_ATTN_H
#define VDIT_ATTN_H

#include <stdint.h>

#include "vdit/base.h"
#include "vdit/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum vdit_attn_method {
  VDIT_ATTN_DENSE = 0, // exact softmax attention
  VDIT_ATTN_SAGE,      // SageAttention-style INT8 Q K^T, FP8 (or 16-bit) P V; SageBwd INT8 backward
  VDIT_ATTN_METHOD_COUNT
} vdit_attn_method;

typedef enum vdit_attn_mask {
  VDIT_ATTN_MASK_NONE = 0,
  // Query i sees keys j <= i + (Sk - Sq): the last query sees every key (bottom-right
  // alignment, as KV-cached decoding needs).
  VDIT_ATTN_MASK_CAUSAL,
  // Frame-chunk causal: with queries placed at positions i + (Sk - Sq), the query in block
  // n = position / block_length sees every key of blocks 0..n.
  VDIT_ATTN_MASK_BLOCK_CAUSAL,
} vdit_attn_mask;

typedef enum vdit_attn_layout {
  VDIT_ATTN_LAYOUT_BSHD = 0, // (batch, sequence, heads, head dim): diffusers, Wan
  VDIT_ATTN_LAYOUT_BHSD,     // (batch, heads, sequence, head dim)
} vdit_attn_layout;

// Options of VDIT_ATTN_SAGE (docs/attention.md, "Sage" gives every operand's scale rule). A
// zeroed struct is the default: per-block scales, FP8 P V, no Q-smoothing. K is always
// smoothed (its per-(batch, head) token mean is subtracted before quantizing; the returned LSE
// is corrected back to the unsmoothed scores).
typedef enum vdit_attn_sage_granularity {
  // Token groups sharing one INT8 scale in the forward's Q K^T:
  VDIT_ATTN_SAGE_PER_BLOCK = 0, // Q: 128-token blocks; K: 128-token blocks
  VDIT_ATTN_SAGE_PER_WARP,      // Q: 16-token blocks (one MMA warp's rows); K: 64-token blocks
  VDIT_ATTN_SAGE_PER_THREAD,    // Q: tokens {i, i + 8} of each 16-token block (one thread's
                                // fragment rows); K: tokens with equal (j % 8) / 2 in a
                                // 128-token block (one thread's fragment columns)
  VDIT_ATTN_SAGE_GRANULARITY_COUNT
} vdit_attn_sage_granularity;

typedef enum vdit_attn_sage_pv {
  VDIT_ATTN_SAGE_PV_FP8 = 0, // P scaled so its max maps to 448, V per channel, both e4m3
  VDIT_ATTN_SAGE_PV_HALF,    // P rounded to the tensors' 16-bit dtype (bf16 for f32 tensors)
  VDIT_ATTN_SAGE_PV_COUNT
} vdit_attn_sage_pv;

typedef struct vdit_attn_sage_options {
  vdit_attn_sage_granularity granularity;
  vdit_attn_sage_pv pv;
  int smooth_q; // also subtract each 128-token Q block's mean, adding q_mean K^T back in fp32
} vdit_attn_sage_options;

typedef struct vdit_attn_config {
  vdit_attn_method method;
  vdit_attn_layout layout;
  float softmax_scale;          // 0 means 1/sqrt(D)
  vdit_attn_mask mask;
  int64_t mask_block_length;    // tokens per block, for VDIT_ATTN_MASK_BLOCK_CAUSAL
  const int64_t *key_lengths;   // host array of B valid key counts (<= Sk), or NULL for all
  vdit_attn_sage_options sage;  // VDIT_ATTN_SAGE only
} vdit_attn_config;

typedef struct vdit_attn_shape {
  int64_t batch, heads, seq_q, seq_k, head_dim;
} vdit_attn_shape;

typedef struct vdit_attn_plan vdit_attn_plan;

// Checks the config against the tensors (shapes, dtypes, devices, layout) and prepares
// whatever the method needs. Q, K, V must share dtype and device.
vdit_status vdit_attn_plan_create(vdit_attn_plan **plan, const vdit_attn_config *config,
                                  const vdit_tensor *q, const vdit_tensor *k, const vdit_tensor *v);
void vdit_attn_plan_free(vdit_attn_plan *plan);
vdit_attn_shape vdit_attn_plan_shape(const vdit_attn_plan *plan);
float vdit_attn_plan_scale(const vdit_attn_plan *plan); // the softmax scale in use

// O (dtype of Q) and LSE (f32, (B, H, Sq)) must be allocated by the caller on Q's device.
vdit_status vdit_attn_forward(vdit_attn_plan *plan, const vdit_tensor *q, const vdit_tensor *k,
                              const vdit_tensor *v, vdit_tensor *o, vdit_tensor *lse);
// Gradients from the forward's O and LSE; dq, dk, dv like q, k, v.
vdit_status vdit_attn_backward(vdit_attn_plan *plan, const vdit_tensor *q, const vdit_tensor *k,
                               const vdit_tensor *v, const vdit_tensor *o, const vdit_tensor *lse,
                               const vdit_tensor *d_o, vdit_tensor *dq, vdit_tensor *dk, vdit_tensor *dv);

// The mask as one number: query i of batch element b attends keys [0, limit).
static inline int64_t vdit_attn_key_limit(const vdit_attn_config *config, int64_t b, int64_t i,
                                          int64_t seq_q, int64_t seq_k) {
  int64_t limit = config->key_lengths ? config->key_lengths[b] : seq_k;
  int64_t position = i + (seq_k - seq_q);
  int64_t mask_limit = seq_k;
  if (config->mask == VDIT_ATTN_MASK_CAUSAL) {
    mask_limit = position + 1;
  } else if (config->mask == VDIT_ATTN_MASK_BLOCK_CAUSAL) {
    int64_t n = config->mask_block_length;
    mask_limit = position < 0 ? 0 : (position / n + 1) * n;
  }
  if (mask_limit < limit) limit = mask_limit;
  return limit < 0 ? 0 : limit;
}

const char *vdit_attn_method_name(vdit_attn_method method);
vdit_status vdit_attn_method_parse(const char *name, vdit_attn_method *method);
// "block", "warp", "thread" and "fp8", "half".
const char *vdit_attn_sage_granularity_name(vdit_attn_sage_granularity granularity);
vdit_status vdit_attn_sage_granularity_parse(const char *name, vdit_attn_sage_granularity *granularity);
const char *vdit_attn_sage_pv_name(vdit_attn_sage_pv pv);
vdit_status vdit_attn_sage_pv_parse(const char *name, vdit_attn_sage_pv *pv);

#ifdef __cplusplus
}
#endif

#endif // VDIT_ATTN_H
