// Element-wise activations on the CPU, in float (rows split over threads):
//   gelu_tanh: u = sqrt(2/pi) (x + 0.044715 x^3), t = tanh u, y = 0.5 x (1 + t)
//              dy/dx = 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2)
//   silu:      s = 1 / (1 + exp(-x)), y = x s,  dy/dx = s (1 + x (1 - s))
#include <math.h>

#include "ops/ops_internal.h"

static const float gelu_beta = 0.7978845608028654f; // sqrt(2 / pi)
static const float gelu_kappa = 0.044715f;

static inline float gelu_tanh(float x) {
  const float t = tanhf(gelu_beta * (x + gelu_kappa * x * x * x));
  return 0.5f * x * (1.0f + t);
}

static inline float gelu_tanh_derivative(float x) {
  const float x2 = x * x;
  const float t = tanhf(gelu_beta * (x + gelu_kappa * x2 * x));
  return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * gelu_beta * (1.0f + 3.0f * gelu_kappa * x2);
}

static inline float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

static inline float silu(float x) { return x * sigmoid(x); }

static inline float silu_derivative(float x) {
  const float s = sigmoid(x);
  return s * (1.0f + x * (1.0f - s));
}

void vdit_ops_cpu_activation_forward(ops_activation activation, const ops_rows *x, const ops_rows *y) {
  const int64_t cols = x->cols;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < x->rows; r++) {
    const float *xr = ops_row(x, r);
    float *yr = ops_row(y, r); // may be xr
    if (activation == OPS_ACTIVATION_GELU_TANH)
      for (int64_t j = 0; j < cols; j++) yr[j] = gelu_tanh(xr[j]);
    else
      for (int64_t j = 0; j < cols; j++) yr[j] = silu(xr[j]);
  }
}

void vdit_ops_cpu_activation_backward(ops_activation activation, const ops_rows *x, const ops_rows *dy,
                                      const ops_rows *dx, int accumulate) {
  const int64_t cols = x->cols;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < x->rows; r++) {
    const float *xr = ops_row(x, r), *dyr = ops_row(dy, r);
    float *dxr = ops_row(dx, r); // may be dyr
    for (int64_t j = 0; j < cols; j++) {
      const float d = activation == OPS_ACTIVATION_GELU_TANH ? gelu_tanh_derivative(xr[j]) : silu_derivative(xr[j]);
      const float v = dyr[j] * d;
      dxr[j] = accumulate ? dxr[j] + v : v;
    }
  }
}
