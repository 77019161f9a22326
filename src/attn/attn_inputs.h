// Synthetic Q/K/V for attention checks and benchmarks: plain, outlier and video-like
// (documented in attn_inputs.c and docs/attention.md). Arrays are fp32 (B, H, S, D).
#ifndef VDIT_ATTN_INPUTS_H
#define VDIT_ATTN_INPUTS_H

#include "vdit/attn.h"

typedef enum vdit_attn_inputs {
  VDIT_ATTN_INPUTS_PLAIN = 0,
  VDIT_ATTN_INPUTS_OUTLIER,
  VDIT_ATTN_INPUTS_VIDEO,
  VDIT_ATTN_INPUTS_VIDEO_HEADS, // video with local (peaked) and global (flat) heads alternating
} vdit_attn_inputs;

vdit_status vdit_attn_inputs_parse(const char *name, vdit_attn_inputs *kind);
const char *vdit_attn_inputs_name(vdit_attn_inputs kind);
vdit_status vdit_attn_inputs_fill(vdit_attn_inputs kind, uint64_t seed, const vdit_attn_shape *shape,
                                  float *q, float *k, float *v);
// The same with the per-head draws (video: the position embedding's frequencies and the sink
// direction; outlier: the channel gains) from `seed` and the per-token ones (noise, V; plain:
// everything) from `token_seed`: new tokens of the same heads, as a model layer sees new
// inputs. token_seed = seed gives vdit_attn_inputs_fill's arrays.
vdit_status vdit_attn_inputs_fill_tokens(vdit_attn_inputs kind, uint64_t seed, uint64_t token_seed,
                                         const vdit_attn_shape *shape, float *q, float *k, float *v);

// Q, K, V of block `layer` from a capture file of the model (`vdit capture`, docs/model.md
// "Capture": F32 "blocks.N.q", ".k", ".v" of shape (B, L, nh, d)); layer -1 takes the file's
// only block (an error when it holds several). *shape gets (B, nh, L, L, d) and *q, *k, *v
// fresh (B, H, S, D) fp32 arrays (free with free()). Errors name the file and the tensor.
vdit_status vdit_attn_inputs_read(const char *path, int64_t layer, vdit_attn_shape *shape, float **q, float **k,
                                  float **v);

#endif
