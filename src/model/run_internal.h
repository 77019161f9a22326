// Internal to src/model: what a forward pass keeps for its backward (vdit_model_state), and
// the block forward/backward that forward.c and backward.c share.
//
// Shapes: B batch, L video tokens (F' H' W'), S text tokens, D dim, nh heads, d head dim,
// D_ff FFN width, P = p_t p_h p_w. Every tensor is contiguous on the state's device: f32 on
// the CPU; on a GPU activations and their gradients bf16, statistics (modulation, LSE, temb,
// e6, the gradient accumulators of f32 quantities) f32 (state.c).
#ifndef VDIT_MODEL_RUN_INTERNAL_H
#define VDIT_MODEL_RUN_INTERNAL_H

#include <stdint.h>

#include "vdit/attn.h"
#include "vdit/model.h"
#include "vdit/ops.h"

// One block's activations. The backward needs all of them; a forward without backward (or
// a recompute forward) keeps one set and reuses it for every block.
typedef struct block_acts {
  vdit_tensor mod;            // (B, 6, D) scale_shift_table + e6: shift, scale, gate, c_shift, c_scale, c_gate
  vdit_tensor y1;             // (B, L, D) LayerNorm(x) (1 + scale_msa) + shift_msa
  vdit_tensor q_pre, k_pre;   // (B, L, D) Linear_q, Linear_k outputs before RMSNorm (qk_norm only)
  vdit_tensor q, k, v;        // (B, L, D) = (B, L, nh, d): the self-attention inputs (after RMSNorm, RoPE)
  vdit_tensor o;              // (B, L, D) attention output
  vdit_tensor lse;            // (B, nh, L)
  vdit_tensor a;              // (B, L, D) Linear_o(o) [blocks.n.attn1]
  vdit_tensor x1;             // (B, L, D) x + a gate_msa
  vdit_tensor y2;             // (B, L, D) cross-attention LayerNorm(x1) (a view of x1 without cross_attn_norm)
  vdit_tensor q2_pre, q2;     // (B, L, D)
  vdit_tensor k2_pre, k2, v2; // (B, S, D)
  vdit_tensor o2;             // (B, L, D)
  vdit_tensor lse2;           // (B, nh, L)
  vdit_tensor a2;             // (B, L, D) Linear_o2(o2) [blocks.n.attn2]
  vdit_tensor x2;             // (B, L, D) x1 + a2
  vdit_tensor y3;             // (B, L, D) LayerNorm(x2) (1 + c_scale) + c_shift
  vdit_tensor h, g;           // (B, L, D_ff) Linear_f1(y3), GELU_tanh(h)
  vdit_tensor f;              // (B, L, D) Linear_f2(g) [blocks.n.ffn]
} block_acts;

// Scratch of the backward pass.
typedef struct grad_scratch {
  vdit_tensor dx;                // (B, L, D) gradient of the residual stream
  vdit_tensor d1, d2, d3, dy;    // (B, L, D) per-branch gradients
  vdit_tensor dq, dk, dv, dn;    // (B, L, D)
  vdit_tensor norm;              // (B, L, D) a LayerNorm output recomputed for modulate's backward
  vdit_tensor dff;               // (B, L, D_ff)
  vdit_tensor dk2, dv2, dk2_pre; // (B, S, D)
  vdit_tensor dctx;              // (B, S, D) gradient of the text embedding, summed over blocks
  vdit_tensor dc1;               // (B, S, D)
  vdit_tensor dz;                // (B, L, P C_out)
  vdit_tensor dmod;              // (B, 6, D) one block's modulation gradient
  vdit_tensor de6;               // (B, 6 D) gradient of timestep_proj, summed over blocks
  vdit_tensor dhead_mod;         // (B, 2, D)
  vdit_tensor dtemb, dt1, dtmp;  // (B, D)
  vdit_tensor dvideo;            // (B, C_in, F' p_t, H' p_h, W' p_w) when the input is cropped
  // On a GPU: bf16 copies of the f32 accumulators de6, dtemb, dctx for the GEMMs that take them
  // as dy (ndim 0 on the CPU).
  vdit_tensor de6_low, dtemb_low, dctx_low;
} grad_scratch;

typedef enum state_mode {
  STATE_INFERENCE = 0, // one block_acts, one residual buffer: forward only
  STATE_RECOMPUTE,     // one block_acts, every block input saved: the backward reruns each block
  STATE_FULL,          // every block's activations saved
} state_mode;

struct vdit_model_state {
  vdit_device device;      // of the weights the forward used: every tensor below lives there
  state_mode mode;
  int has_forward;         // a forward ran and its activations are in place
  vdit_model_config config; // of the weights the forward used
  int64_t batch, tokens, text_tokens;
  int64_t grid[3];         // (F', H', W')
  int64_t video_shape[5];  // the input video's (B, C_in, F, H, W)
  vdit_attn_method_config *methods; // (layers) self-attention method per block, as the forward ran
  vdit_rope_3d rope;

  vdit_arena arena; // every tensor below
  vdit_tensor video;       // (B, C_in, F' p_t, H' p_h, W' p_w) the input, cropped to whole patches
  vdit_tensor context;     // (B, S, D_txt) the input text embeddings
  vdit_tensor sinusoid;    // (B, D_f)
  vdit_tensor t1, t1_act;  // (B, D) Linear_t1(sinusoid), SiLU of it
  vdit_tensor temb, temb_act; // (B, D) [time.temb], SiLU(temb)
  vdit_tensor e6;          // (B, 6 D) [time.proj]
  vdit_tensor c1, c1_act;  // (B, S, D) Linear_x1(context), GELU_tanh of it
  vdit_tensor ctx;         // (B, S, D) [text_embedding]
  vdit_tensor *xs;         // the residual stream: (layers + 1) x (B, L, D) block inputs and the last
                           // output (inference: one buffer updated in place)
  block_acts *acts;        // layers sets (STATE_FULL) or one
  vdit_tensor head_mod;    // (B, 2, D) head scale_shift_table + temb: shift, scale
  vdit_tensor head_y;      // (B, L, D) [head.modulated]
  vdit_tensor z;           // (B, L, P C_out) [head.proj_out]

  vdit_arena grad_arena;   // the backward's scratch, sized at its first call
  int has_grad_scratch;
  grad_scratch grads;
};

// Sizes the state for a pass (a no-op when mode, config and shapes are those of its last
// pass). grid = (F', H', W').
vdit_status model_state_prepare(vdit_model_state *state, const vdit_model_config *config, vdit_device device,
                                state_mode mode, int64_t batch, int64_t text_tokens, const int64_t grid[3]);
// Carves the backward's scratch (once per state layout).
vdit_status model_state_prepare_grads(vdit_model_state *state);

// What a pass needs besides the state.
typedef struct run_context {
  const vdit_model_weights *weights;
  vdit_model_state *state;
  vdit_model_observer observe; // NULL: none (also during the backward's recompute)
  void *observe_user;
  vdit_model_tamper tamper;    // NULL: none (kept for the backward's recompute)
  void *tamper_user;
} run_context;

// Calls the observer with `tensor` under the name printf(format, ...).
vdit_status model_emit(const run_context *run, const vdit_tensor *tensor, const char *format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

// The self-attention hooks of block n (src/model/hooks.c): q, k, v (B, L, nh, d) go to the
// observer ("blocks.n.attn1.q", ...) and then to the tamper callback before the attention
// reads them; o (B, L, nh, d) goes to both after the attention wrote it.
vdit_status model_attn_inputs_hook(const run_context *run, int64_t n, vdit_tensor *q, vdit_tensor *k, vdit_tensor *v);
vdit_status model_attn_output_hook(const run_context *run, int64_t n, vdit_tensor *o);

// Block n: x_in (B, L, D) -> out (B, L, D), keeping its activations in `acts`. `out` may be
// `x_in` (inference).
vdit_status model_block_forward(const run_context *run, int64_t n, const vdit_tensor *x_in, block_acts *acts,
                                vdit_tensor *out);
// Block n backward from the state's grads.dx = d out; leaves d x_in in grads.dx, adds the
// text-embedding gradient to grads.dctx and the modulation gradient to grads.de6, and writes
// (mode) the block's parameter gradients when `grads` is not NULL.
vdit_status model_block_backward(const run_context *run, int64_t n, const vdit_tensor *x_in, const block_acts *acts,
                                 vdit_model_block_weights *grads, vdit_grad_mode mode);

// (B, D) view of modulation row k of a (B, rows, D) table.
vdit_tensor model_mod_row(const vdit_tensor *table, int k);
// (B, L, D) tensor viewed as (B, L, nh, d).
vdit_tensor model_heads_view(const vdit_tensor *t, int64_t heads);

#endif // VDIT_MODEL_RUN_INTERNAL_H
