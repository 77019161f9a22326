// SLA2's fitting check (`vdit attn fit`): on fixed Q, K, V (synthetic or captured), Adam trains
// the router matrices and the alpha logits so that SLA2's output regresses onto dense
// attention's (mean squared error), and reports the output error against dense attention
// before (the untrained router: random, or SLA's pooled-score router) and after, on the fitted inputs and on held-out
// inputs (the next seed); also SLA's pooled-score router (identity matrices) with the
// untrained alpha, for reference.
#ifndef VDIT_ATTN_SLA_FIT_H
#define VDIT_ATTN_SLA_FIT_H

#include "attn/attn_inputs.h"
#include "vdit/attn.h"

typedef struct vdit_attn_sla_fit_spec {
  vdit_attn_shape shape;       // seq_q == seq_k
  vdit_attn_inputs inputs;
  const float *given_q, *given_k, *given_v; // (B, H, S, D) fp32 instead of synthetic, or NULL (no held-out set then)
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
  int init_identity;           // start from SLA's pooled-score router (identity on the first D_r dims, D_r <= D) instead of a random one
} vdit_attn_sla_fit_spec;

typedef struct vdit_attn_sla_fit_result {
  // relative L1 of O against dense attention
  double untrained, trained;             // fitted inputs
  double held_untrained, held_trained;   // held-out inputs (-1 without)
  double identity;                       // identity router, untrained alpha, fitted inputs
  double alpha_mean;                     // mean alpha after training
  double sparsity;                       // of the trained router's map
  float *losses;                         // steps entries (caller's array, or NULL)
} vdit_attn_sla_fit_result;

vdit_status vdit_attn_sla_fit_run(const vdit_attn_sla_fit_spec *spec, vdit_attn_sla_fit_result *result);

#endif
