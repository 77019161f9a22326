// AdamW, EMA and the learning-rate schedule over flat float buffers: the same loops serve the
// whole parameter allocation (weights.data, weights.floats) and the token table; a GPU
// version runs the same arithmetic per element (src/train/cuda/adamw.cu).
#include <math.h>

#include "train/adamw_element.h"
#include "vdit/train.h"

void vdit_adamw_update(float *params, const float *grads, float *m, float *v, size_t n, int64_t step, double lr,
                       double grad_scale, const vdit_adamw_config *config) {
  const train_adamw_constants k = train_adamw_constants_make(step, lr, grad_scale, config);
  for (size_t i = 0; i < n; i++) train_adamw_element(&params[i], grads[i], &m[i], &v[i], &k);
}

void vdit_ema_update(float *ema, const float *params, size_t n, double decay) {
  const float a = (float)decay, b = (float)(1.0 - decay);
  for (size_t i = 0; i < n; i++) ema[i] = train_ema_element(ema[i], params[i], a, b);
}

double vdit_sum_squares(const float *x, size_t n) {
  double sum = 0;
  for (size_t i = 0; i < n; i++) sum += (double)x[i] * x[i];
  return sum;
}

double vdit_lr_schedule(int64_t step, int64_t warmup, int64_t total, double lr, double min_lr) {
  if (step < 1) step = 1;
  if (warmup > 0 && step <= warmup) return lr * (double)step / (double)warmup;
  if (total <= warmup) return lr;
  double progress = (double)(step - warmup) / (double)(total - warmup);
  if (progress > 1) progress = 1;
  const double pi = 3.14159265358979323846;
  return min_lr + 0.5 * (lr - min_lr) * (1.0 + cos(pi * progress));
}
