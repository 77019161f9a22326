// The Euler sampler against flows it can be checked on exactly.
// 1. Gaussian data x0 ~ N(mu, s^2) per element: the exact velocity of x_t = (1 - t) x0 + t n is
//    linear in x, v(x, t) = -mu + (t - (1 - t) s^2) / ((1 - t)^2 s^2 + t^2) (x - (1 - t) mu),
//    and its ODE carries the noise n at t = 1 to mu + s n at t = 0. Euler converges to that
//    endpoint at first order: the error must shrink about 2x per doubling of the steps, and be
//    small at 400 steps, with and without the timestep shift.
// 2. A point mass (s = 0): the flow is straight, Euler is exact at any step count.
// 3. The sigma schedule and the guidance formula.
#include <math.h>
#include <stdlib.h>

#include "check.h"
#include "vdit/pipe.h"

enum { N = 64 };

typedef struct gaussian {
  float mu[N], s[N];
  int64_t calls;
} gaussian;

static vdit_status gaussian_velocity(void *user, int64_t step, double sigma, const float *x, float *v, size_t n) {
  gaussian *g = user;
  g->calls++;
  for (size_t i = 0; i < n; i++) {
    const double t = sigma, mu = g->mu[i], s2 = (double)g->s[i] * g->s[i];
    const double var = (1 - t) * (1 - t) * s2 + t * t;
    v[i] = (float)(-mu + (t - (1 - t) * s2) / var * (x[i] - (1 - t) * mu));
  }
  return VDIT_OK;
}

static double endpoint_error(gaussian *g, const float *noise, int64_t steps, double shift) {
  float x[N];
  for (int i = 0; i < N; i++) x[i] = noise[i];
  g->calls = 0;
  CHECK_OK(vdit_pipe_sample_euler(gaussian_velocity, g, x, N, steps, shift, NULL));
  CHECK_EQ_INT(g->calls, steps);
  double worst = 0;
  for (int i = 0; i < N; i++) {
    double want = g->mu[i] + (double)g->s[i] * noise[i];
    if (fabs(x[i] - want) > worst) worst = fabs(x[i] - want);
  }
  return worst;
}

int main(void) {
  gaussian g;
  float noise[N], u[N];
  vdit_rng_normal(3, 0, N, noise);
  vdit_rng_normal(4, 0, N, g.mu);
  vdit_rng_uniform(5, 0, N, u);
  for (int i = 0; i < N; i++) g.s[i] = 0.2f + u[i];
  const double shifts[2] = {1.0, 3.0};
  for (int k = 0; k < 2; k++) {
    double previous = 0;
    for (int64_t steps = 25; steps <= 400; steps *= 2) {
      double e = endpoint_error(&g, noise, steps, shifts[k]);
      printf("shift %.0f, %3lld steps: worst endpoint error %.3e%s", shifts[k], (long long)steps, e,
             previous ? "" : "\n");
      if (previous) {
        printf(" (ratio %.2f)\n", previous / e);
        CHECK(previous / e > 1.7 && previous / e < 2.3); // first order
      }
      previous = e;
    }
    CHECK(previous < 0.01);
  }
  // A point mass: straight paths, exact at 3 steps.
  for (int i = 0; i < N; i++) g.s[i] = 0;
  CHECK(endpoint_error(&g, noise, 3, 3.0) < 1e-5);

  double sigmas[5];
  vdit_pipe_sigmas(4, 3.0, sigmas);
  CHECK_NEAR(sigmas[0], 1.0, 0);
  CHECK_NEAR(sigmas[2], 0.75, 1e-15); // 3 * 0.5 / (1 + 2 * 0.5)
  CHECK_NEAR(sigmas[3], 0.5, 1e-15);  // 3 * 0.25 / (1 + 2 * 0.25)
  CHECK_NEAR(sigmas[4], 0.0, 0);

  const float cond[3] = {1, 2, 3}, uncond[3] = {0, 4, 3};
  float out[3];
  vdit_pipe_guidance(cond, uncond, 5.0, out, 3);
  CHECK_NEAR(out[0], 5.0, 0);
  CHECK_NEAR(out[1], -6.0, 0);
  CHECK_NEAR(out[2], 3.0, 0);
  return check_finish("test_pipe_sampler");
}
