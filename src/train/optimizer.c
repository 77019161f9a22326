// AdamW, EMA and the learning-rate schedule over flat float buffers: the same loops serve the
// whole parameter allocation (weights.data, weights.floats) and the token table; a GPU
// version runs the same arithmetic per element (src/train/cuda/adamw.cu).
#include <math.h>

#include "vdit/train.h"

void vdit_adamw_update(float *params, const float *grads, float *m, float *v, size_t n, int64_t step, double lr,
                       double grad_scale, const vdit_adamw_config *config) {
  const float b1 = (float)config->beta1, b2 = (float)config->beta2;
  // Bias corrections in double, once per step.
  const float c1 = (float)(1.0 / (1.0 - pow(config->beta1, (double)step)));
  const float c2 = (float)(1.0 / (1.0 - pow(config->beta2, (double)step)));
  const float eps = (float)config->eps, step_size = (float)lr, decay = (float)(lr * config->weight_decay);
  const float scale = (float)grad_scale;
  for (size_t i = 0; i < n; i++) {
    const float g = grads[i] * scale;
    const float mi = b1 * m[i] + (1.0f - b1) * g;
    const float vi = b2 * v[i] + (1.0f - b2) * (g * g);
    m[i] = mi;
    v[i] = vi;
    const float update = (mi * c1) / (sqrtf(vi * c2) + eps);
    params[i] = params[i] - decay * params[i] - step_size * update;
  }
}

void vdit_ema_update(float *ema, const float *params, size_t n, double decay) {
  const float a = (float)decay, b = (float)(1.0 - decay);
  for (size_t i = 0; i < n; i++) ema[i] = a * ema[i] + b * params[i];
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
