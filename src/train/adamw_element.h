// One element of AdamW and of the EMA, shared by the CPU loop (src/train/optimizer.c) and the
// CUDA kernels (src/train/cuda/adamw.cu) so both round the same way: each operation rounded
// once (VDIT_FMUL/FADD/..., no contraction), so the GPU update is bit-identical to the CPU's.
#ifndef VDIT_TRAIN_ADAMW_ELEMENT_H
#define VDIT_TRAIN_ADAMW_ELEMENT_H

#include <math.h>

#include "base/fp_exact.h"
#include "vdit/train.h"

// A step's constants, rounded to float once on the host.
typedef struct train_adamw_constants {
  float beta1, one_minus_beta1, beta2, one_minus_beta2;
  float correction1, correction2; // 1 / (1 - beta^step)
  float eps, lr, decay;           // decay = lr * weight_decay
  float grad_scale;
} train_adamw_constants;

static inline train_adamw_constants train_adamw_constants_make(int64_t step, double lr, double grad_scale,
                                                                const vdit_adamw_config *config) {
  train_adamw_constants k;
  k.beta1 = (float)config->beta1;
  k.one_minus_beta1 = (float)(1.0 - config->beta1);
  k.beta2 = (float)config->beta2;
  k.one_minus_beta2 = (float)(1.0 - config->beta2);
  k.correction1 = (float)(1.0 / (1.0 - pow(config->beta1, (double)step)));
  k.correction2 = (float)(1.0 / (1.0 - pow(config->beta2, (double)step)));
  k.eps = (float)config->eps;
  k.lr = (float)lr;
  k.decay = (float)(lr * config->weight_decay);
  k.grad_scale = (float)grad_scale;
  return k;
}

// p -= decay p + lr m_hat / (sqrt(v_hat) + eps), after the moment updates.
VDIT_HOST_DEVICE void train_adamw_element(float *p, float grad, float *m, float *v, const train_adamw_constants *k) {
  const float g = VDIT_FMUL(grad, k->grad_scale);
  const float mi = VDIT_FADD(VDIT_FMUL(k->beta1, *m), VDIT_FMUL(k->one_minus_beta1, g));
  const float vi = VDIT_FADD(VDIT_FMUL(k->beta2, *v), VDIT_FMUL(k->one_minus_beta2, VDIT_FMUL(g, g)));
  *m = mi;
  *v = vi;
  const float update =
      VDIT_FDIV(VDIT_FMUL(mi, k->correction1), VDIT_FADD(VDIT_FSQRT(VDIT_FMUL(vi, k->correction2)), k->eps));
  *p = VDIT_FSUB(VDIT_FSUB(*p, VDIT_FMUL(k->decay, *p)), VDIT_FMUL(k->lr, update));
}

VDIT_HOST_DEVICE float train_ema_element(float ema, float p, float a, float b) {
  return VDIT_FADD(VDIT_FMUL(a, ema), VDIT_FMUL(b, p));
}

#endif
