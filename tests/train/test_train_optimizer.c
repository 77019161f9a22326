// AdamW against the direct formula in double over a few steps (with clipping scale and weight
// decay), the EMA, the learning-rate schedule's values, and the statistics of logit-normal
// timesteps before and after the shift.
#include <math.h>
#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vdit/train.h"

static void test_adamw(void) {
  enum { N = 1000, STEPS = 4 };
  float p[N], m[N], v[N], g[N];
  double rp[N], rm[N], rv[N];
  vdit_rng_normal(1, 0, N, p);
  for (int i = 0; i < N; i++) rp[i] = p[i], m[i] = v[i] = 0, rm[i] = rv[i] = 0;
  const vdit_adamw_config config = {0.9, 0.99, 1e-8, 0.05};
  const double lrs[STEPS] = {1e-2, 2e-2, 5e-3, 1e-3}, scales[STEPS] = {1, 0.5, 1, 0.25};
  double worst = 0;
  for (int s = 0; s < STEPS; s++) {
    vdit_rng_normal(2, (uint64_t)s * N, N, g);
    g[7] = 50.0f; // an outlier gradient
    vdit_adamw_update(p, g, m, v, N, s + 1, lrs[s], scales[s], &config);
    for (int i = 0; i < N; i++) {
      const double gi = scales[s] * g[i];
      rm[i] = 0.9 * rm[i] + 0.1 * gi;
      rv[i] = 0.99 * rv[i] + 0.01 * gi * gi;
      const double mhat = rm[i] / (1 - pow(0.9, s + 1)), vhat = rv[i] / (1 - pow(0.99, s + 1));
      rp[i] = rp[i] - lrs[s] * (0.05 * rp[i] + mhat / (sqrt(vhat) + 1e-8));
      const double e = fabs(p[i] - rp[i]);
      if (e > worst) worst = e;
      CHECK_NEAR(m[i], rm[i], 1e-5 * fabs(rm[i]) + 1e-7);
      CHECK_NEAR(v[i], rv[i], 1e-5 * fabs(rv[i]) + 1e-9);
    }
  }
  // Each step moves a parameter by ~lr; fp32 rounding of the update and of p is ~1e-7.
  CHECK(worst < 2e-6);
  printf("adamw: %d steps, worst |p - p_ref| = %.2e\n", STEPS, worst);
  // Bias correction at step 1: the first update is lr * sign(g) (|m_hat| / sqrt(v_hat) = 1).
  float q = 1.0f, mq = 0, vq = 0, gq = -3.0f;
  const vdit_adamw_config no_decay = {0.9, 0.999, 1e-12, 0};
  vdit_adamw_update(&q, &gq, &mq, &vq, 1, 1, 0.1, 1.0, &no_decay);
  CHECK_NEAR(q, 1.1, 1e-6);
}

static void test_ema(void) {
  float ema[3] = {1, 2, 3};
  const float p[3] = {3, 2, -1};
  vdit_ema_update(ema, p, 3, 0.75);
  CHECK_NEAR(ema[0], 1.5, 1e-7);
  CHECK_NEAR(ema[1], 2.0, 1e-7);
  CHECK_NEAR(ema[2], 2.0, 1e-7);
}

static void test_schedule(void) {
  const double lr = 1e-3, min_lr = 1e-5;
  CHECK_NEAR(vdit_lr_schedule(1, 10, 110, lr, min_lr), 1e-4, 1e-15);
  CHECK_NEAR(vdit_lr_schedule(5, 10, 110, lr, min_lr), 5e-4, 1e-15);
  CHECK_NEAR(vdit_lr_schedule(10, 10, 110, lr, min_lr), lr, 1e-15);
  CHECK_NEAR(vdit_lr_schedule(60, 10, 110, lr, min_lr), (lr + min_lr) / 2, 1e-15); // half-way: cos = 0
  CHECK_NEAR(vdit_lr_schedule(35, 10, 110, lr, min_lr), min_lr + (lr - min_lr) * (1 + cos(M_PI / 4)) / 2, 1e-15);
  CHECK_NEAR(vdit_lr_schedule(110, 10, 110, lr, min_lr), min_lr, 1e-15);
  CHECK_NEAR(vdit_lr_schedule(200, 10, 110, lr, min_lr), min_lr, 1e-15); // stays at the floor
  CHECK_NEAR(vdit_lr_schedule(1, 0, 100, lr, min_lr), min_lr + (lr - min_lr) * (1 + cos(M_PI / 100)) / 2, 1e-15);
}

static int compare_floats(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return (x > y) - (x < y);
}

// Mean of shift(sigmoid(mean + std z)) for z ~ N(0, 1) by the midpoint rule over z in [-10, 10].
static double shifted_mean_quadrature(double mean, double std, double shift) {
  const int n = 200000;
  double sum = 0, h = 20.0 / n;
  for (int i = 0; i < n; i++) {
    double z = -10 + (i + 0.5) * h;
    double t = 1 / (1 + exp(-(mean + std * z)));
    sum += shift * t / (1 + (shift - 1) * t) * exp(-z * z / 2) / sqrt(2 * M_PI) * h;
  }
  return sum;
}

static void test_timesteps(void) {
  enum { N = 200000 };
  float *z = malloc(N * sizeof *z), *t = malloc(N * sizeof *t);
  vdit_rng_normal(11, 0, N, z);
  const float means[3] = {0, -0.5f, 0.8f}, stds[3] = {1, 1.5f, 0.5f}, shifts[3] = {1, 3, 5};
  for (int c = 0; c < 3; c++) {
    double logit_sum = 0, logit_sq = 0, mean_t = 0;
    for (int i = 0; i < N; i++) {
      float u = vdit_flow_logit_normal(z[i], means[c], stds[c]);
      CHECK(u > 0 && u < 1);
      double l = log(u / (1.0 - u));
      logit_sum += l, logit_sq += l * l;
      t[i] = vdit_flow_shift(u, shifts[c]);
      mean_t += t[i];
    }
    const double lm = logit_sum / N, ls = sqrt(logit_sq / N - lm * lm);
    // Standard errors at N = 2e5: mean std/447, std std/632; 5 of them.
    CHECK_NEAR(lm, means[c], 5 * stds[c] / 447.0);
    CHECK_NEAR(ls, stds[c], 5 * stds[c] / 632.0);
    qsort(t, N, sizeof *t, compare_floats);
    const double m = 1 / (1 + exp(-means[c])), median = shifts[c] * m / (1 + (shifts[c] - 1) * m);
    CHECK_NEAR(t[N / 2], median, 0.005);
    CHECK_NEAR(mean_t / N, shifted_mean_quadrature(means[c], stds[c], shifts[c]), 0.003);
    printf("timesteps mean %.2f std %.2f shift %.0f: median %.4f (want %.4f), mean %.4f\n", means[c], stds[c],
           shifts[c], t[N / 2], median, mean_t / N);
  }
  // The shift's fixed points and its value at 1/2.
  CHECK_EQ_FLOAT_BITS(vdit_flow_shift(0.0f, 3.0f), 0.0f);
  CHECK_EQ_FLOAT_BITS(vdit_flow_shift(1.0f, 3.0f), 1.0f);
  CHECK_NEAR(vdit_flow_shift(0.5f, 3.0f), 0.75, 1e-7);
  free(z);
  free(t);
}

int main(void) {
  test_adamw();
  test_ema();
  test_schedule();
  test_timesteps();
  return check_finish("test_train_optimizer");
}
