// A training check for attention methods: a small one-layer multi-head attention model
// (y = Attn(x Wq, x Wk, x Wv) Wo) learns to imitate a fixed random teacher of the same shape
// (teacher attention dense, fp32) by Adam on the mean squared error, with fresh Philox inputs
// each step. Run with two methods on the same seed, the loss curves show whether a method's
// gradients train like dense ones (`vdit attn train`, tests/attn/test_attn_sage_train.c).
#ifndef VDIT_ATTN_TRAIN_H
#define VDIT_ATTN_TRAIN_H

#include "vdit/attn.h"

typedef struct vdit_attn_train_spec {
  vdit_attn_config config; // the student's attention (method and options); CPU, f32 tensors
  int64_t batch, seq, model_dim, heads, head_dim;
  int steps;
  float learning_rate;
  uint64_t seed;
} vdit_attn_train_spec;

// The spec the check uses: B = 2, S = 128, C = 64, H = 2, Dh = 32, 200 steps, lr 3e-3.
vdit_attn_train_spec vdit_attn_train_default(vdit_attn_method method);

// losses[s] = the training loss at step s (before that step's update), s < spec->steps.
vdit_status vdit_attn_train_run(const vdit_attn_train_spec *spec, float *losses);

#endif // VDIT_ATTN_TRAIN_H
