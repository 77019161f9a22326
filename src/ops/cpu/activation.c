// Element-wise activations on the CPU, in float (rows split over threads), through the
// vectorisable ops_exp (a libm call per element would cost as much as the FFN's GEMM):
//   gelu_tanh: u = sqrt(2/pi) (x + 0.044715 x^3); y = x/2 (1 + tanh u) = x sigmoid(2u),
//              the form without cancellation where tanh u nears -1;
//              dy/dx = s + 2 x s (1 - s) sqrt(2/pi) (1 + 3 * 0.044715 x^2), s = sigmoid(2u)
//              (the same as 0.5 (1 + t) + 0.5 x (1 - t^2) u' with t = tanh u)
//   silu:      s = sigmoid(x) = 1 / (1 + exp(-x)), y = x s,  dy/dx = s (1 + x (1 - s))
// 1 - s is taken as exp(-z) s where s >= 1/2, so the derivatives do not cancel there.
#include "ops/ops_internal.h"

static const float gelu_beta = 0.7978845608028654f; // sqrt(2 / pi)
static const float gelu_kappa = 0.044715f;

// s = sigmoid(z) and 1 - s, the latter as e s (e = exp(-z)) where s >= 1/2: 1 - s would
// cancel there, and e is finite.
static inline float sigmoid_pair(float z, float *one_minus) {
  const float e = ops_exp(-z), s = 1.0f / (1.0f + e);
  *one_minus = s < 0.5f ? 1.0f - s : e * s;
  return s;
}

static inline float gelu_tanh(float x) {
  const float u = gelu_beta * (x + gelu_kappa * x * x * x);
  return x / (1.0f + ops_exp(-2.0f * u));
}

static inline float gelu_tanh_derivative(float x) {
  const float x2 = x * x;
  float one_minus;
  const float s = sigmoid_pair(2.0f * gelu_beta * (x + gelu_kappa * x2 * x), &one_minus);
  return s + 2.0f * x * s * one_minus * gelu_beta * (1.0f + 3.0f * gelu_kappa * x2);
}

static inline float silu(float x) { return x / (1.0f + ops_exp(-x)); }

static inline float silu_derivative(float x) {
  float one_minus;
  const float s = sigmoid_pair(x, &one_minus);
  return s * (1.0f + x * one_minus);
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
    if (activation == OPS_ACTIVATION_GELU_TANH)
      for (int64_t j = 0; j < cols; j++) {
        const float v = dyr[j] * gelu_tanh_derivative(xr[j]);
        dxr[j] = accumulate ? dxr[j] + v : v;
      }
    else
      for (int64_t j = 0; j < cols; j++) {
        const float v = dyr[j] * silu_derivative(xr[j]);
        dxr[j] = accumulate ? dxr[j] + v : v;
      }
  }
}
