// SLA2's fitting check (`vdit attn fit`): on fixed Q, K, V (synthetic or captured), train the
// router matrices (and alpha) so that SLA2's output approaches dense attention's, and report the
// output error against dense attention before (the untrained router: random, or SLA's
// pooled-score router) and after, on the fitted inputs and on held-out inputs (new tokens of the same heads, or
// given ones); also the untrained router with the fitted alpha ("alpha alone") and SLA's
// pooled-score router (identity matrices) with the untrained alpha, for reference.
//
// Objectives (docs/attention.md, "Fitting check"):
// - mass (the default): Adam on the router's block-mass distillation loss (sla_router_fit.h:
//   KL of dense attention's block mass against softmax of the router's scores), alpha per head
//   in closed form (least squares of O against dense given the map) at every validation;
// - output: Adam on the MSE of SLA2's O against dense through SLA2's backward (the router's
//   relaxed gradient), alpha logits trained with it (the previous rounds' fit).
// Both validate every eval_every steps (and at the start and the end) on a validation set
// (synthetic: token seed + 2; captured: the fitted inputs) and end on the best validated step, so the
// fit never ends worse than its start on the validation set.
#ifndef VDIT_ATTN_SLA_FIT_H
#define VDIT_ATTN_SLA_FIT_H

#include "attn/attn_inputs.h"
#include "vdit/attn.h"

typedef enum vdit_attn_sla_fit_objective {
  VDIT_ATTN_SLA_FIT_MASS = 0, // block-mass distillation of the router, closed-form alpha
  VDIT_ATTN_SLA_FIT_OUTPUT,   // MSE of O through SLA2's backward, router and alpha logits
} vdit_attn_sla_fit_objective;

typedef struct vdit_attn_sla_fit_spec {
  vdit_attn_shape shape;       // seq_q == seq_k
  vdit_attn_inputs inputs;
  const float *given_q, *given_k, *given_v; // (B, H, S, D) fp32 instead of synthetic, or NULL
  const float *held_q, *held_k, *held_v;    // with given_*: held-out inputs of the same shape, or NULL (none)
  uint64_t seed;
  vdit_device device;
  vdit_dtype dtype;            // f32 on the CPU, bf16 / f16 on CUDA
  double sparsity;             // topk = 1 - sparsity
  int32_t router_dim;
  vdit_attn_sla_feature feature;
  int steps;
  float learning_rate;          // the alpha logits' (x 5); the router's unless router_learning_rate > 0
  float router_learning_rate;   // the router matrices' Adam learning rate, or 0: learning_rate
  float alpha_init;             // alpha of every head at the start, in (0, 1), or 0: 1/2
  vdit_attn_sla_fit_objective objective;
  int eval_every;              // validate every N steps (0: 10)
  int held_new_heads;          // synthetic held-out / validation sets: 0 new tokens of the same heads
                               // (token seeds + 1, + 2), 1 whole new inputs (seeds + 1, + 2: new heads)
  int32_t block;               // SLA2's block (0: the executor's)
  int init_identity;           // start from SLA's pooled-score router (identity on the first D_r dims, D_r <= D) instead of a random one
} vdit_attn_sla_fit_spec;

typedef struct vdit_attn_sla_fit_result {
  // relative L1 of O against dense attention
  double untrained, trained;             // fitted inputs
  double held_untrained, held_trained;   // held-out inputs (-1 without)
  double alpha_only, held_alpha_only;    // untrained router, alpha fitted in closed form (mass objective; else -1)
  double identity, held_identity;        // identity router, untrained alpha (-1: D_r > D or no held-out set)
  double oracle;                         // mass oracle: Top-k by dense block mass, closed-form alpha, fitted inputs (CPU, mass objective; else -1)
  double validation_start, validation_best; // validation error at step 0 and at the kept step
  int best_step;                         // the step whose parameters the fit ends with (0: the start)
  double alpha_mean;                     // mean alpha after training
  double sparsity;                       // of the trained router's map
  float *losses;                         // steps entries of the objective's loss (caller's array, or NULL)
} vdit_attn_sla_fit_result;

vdit_status vdit_attn_sla_fit_run(const vdit_attn_sla_fit_spec *spec, vdit_attn_sla_fit_result *result);

#endif
