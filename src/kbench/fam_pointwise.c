// Elementwise families: unary (activations and math functions) and binary ops over
// x (n0, n1) f32 -> y (n0, n1) f32.
#include <math.h>

#include "kbench/kbench_internal.h"

#define R(v) kb_r((v), f32)

// Input range of each unary op: a normal of this std, clamped to [low, high].
static void unary_domain(int op, double *low, double *high, double *scale) {
  *low = -30.0, *high = 30.0, *scale = 2.0;
  switch (op) {
  case KB_U_EXP: *low = -20.0, *high = 20.0, *scale = 3.0; break;
  case KB_U_LOG: case KB_U_SQRT: case KB_U_RSQRT: *low = 0.01, *high = 100.0, *scale = 0; break;
  case KB_U_RECIPROCAL: *low = 0.1, *high = 10.0, *scale = 0; break;
  case KB_U_SQUARE: *low = -1e3, *high = 1e3; break;
  default: break;
  }
}

static double unary(int op, double x, int f32) {
  switch (op) {
  case KB_U_RELU: return x > 0 ? x : 0.0;
  case KB_U_LEAKY_RELU: return x > 0 ? x : R(0.01 * x);
  case KB_U_GELU_TANH: {
    double inner = R(R(0.7978845608028654 * R(x + R(R(0.044715 * x) * R(x * x)))));
    return R(R(0.5 * x) * R(1.0 + R(tanh(inner))));
  }
  case KB_U_GELU_ERF: return R(R(0.5 * x) * R(1.0 + R(erf(R(x * 0.7071067811865476)))));
  case KB_U_SILU: return R(x / R(1.0 + R(exp(-x))));
  case KB_U_SIGMOID: return R(1.0 / R(1.0 + R(exp(-x))));
  case KB_U_TANH: return R(tanh(x));
  case KB_U_SOFTPLUS: return x > 20.0 ? x : R(log1p(R(exp(x))));
  case KB_U_ELU: return x > 0 ? x : R(expm1(x));
  case KB_U_SELU: return R(1.0507009873554805 * (x > 0 ? x : R(1.6732632423543772 * R(expm1(x)))));
  case KB_U_HARDSWISH: {
    double t = R(x + 3.0);
    t = t < 0 ? 0 : (t > 6 ? 6 : t);
    return R(R(x * t) / 6.0);
  }
  case KB_U_HARDSIGMOID: {
    double t = R(R(x / 6.0) + 0.5);
    return t < 0 ? 0 : (t > 1 ? 1 : t);
  }
  case KB_U_MISH: return R(x * R(tanh(x > 20.0 ? x : R(log1p(R(exp(x)))))));
  case KB_U_SOFTSIGN: return R(x / R(1.0 + fabs(x)));
  case KB_U_EXP: return R(exp(x));
  case KB_U_LOG: return R(log(x));
  case KB_U_SQRT: return R(sqrt(x));
  case KB_U_RSQRT: return R(1.0 / sqrt(x));
  case KB_U_ABS: return fabs(x);
  case KB_U_SIN: return R(sin(x));
  case KB_U_COS: return R(cos(x));
  case KB_U_SQUARE: return R(x * x);
  case KB_U_RECIPROCAL: return R(1.0 / x);
  case KB_U_ERF: return R(erf(x));
  default: return NAN;
  }
}

static void unary_setup(kb_problem *p) {
  size_t n = (size_t)(p->n[0] * p->n[1]);
  double low, high, scale;
  unary_domain(p->task->op, &low, &high, &scale);
  kb_spec(&p->in[0], VDIT_DTYPE_F32, n, p->n[0], p->n[1], scale > 0 ? KB_GEN_NORMAL : KB_GEN_UNIFORM, low, high,
          scale);
  kb_spec(&p->out[0], VDIT_DTYPE_F32, n, p->n[0], 0, KB_GEN_NONE, 0, 0, 0);
  p->in_count = 1, p->out_count = 1;
  p->flops = 8.0 * (double)n;
  p->bytes = 8.0 * (double)n;
}

static void unary_compute(kb_problem *p, int f32, double **out) {
  const float *x = p->in[0].data;
  for (size_t i = 0; i < p->in[0].count; i++) out[0][i] = unary(p->task->op, x[i], f32);
}

const kb_family kb_family_unary = {unary_setup, NULL, unary_compute};

static void binary_setup(kb_problem *p) {
  size_t n = (size_t)(p->n[0] * p->n[1]);
  int op = p->task->op;
  kb_spec(&p->in[0], VDIT_DTYPE_F32, n, p->n[0], p->n[1], KB_GEN_NORMAL, -1e4, 1e4, 1.0);
  if (op == KB_B_DIV)
    kb_spec(&p->in[1], VDIT_DTYPE_F32, n, p->n[0], 0, KB_GEN_UNIFORM, 0.5, 4.0, 0);
  else
    kb_spec(&p->in[1], VDIT_DTYPE_F32, n, p->n[0], p->n[1], KB_GEN_NORMAL, -1e4, 1e4, 1.0);
  kb_spec(&p->out[0], VDIT_DTYPE_F32, n, p->n[0], 0, KB_GEN_NONE, 0, 0, 0);
  p->in_count = 2, p->out_count = 1;
  p->flops = 2.0 * (double)n;
  p->bytes = 12.0 * (double)n;
}

static void binary_compute(kb_problem *p, int f32, double **out) {
  const float *x = p->in[0].data, *z = p->in[1].data;
  double alpha = p->f[0], beta = p->f[1];
  for (size_t i = 0; i < p->in[0].count; i++) {
    double a = x[i], b = z[i], y;
    switch (p->task->op) {
    case KB_B_ADD: y = R(a + b); break;
    case KB_B_MUL: y = R(a * b); break;
    case KB_B_DIV: y = R(a / b); break;
    case KB_B_MAXIMUM: y = a > b ? a : b; break;
    case KB_B_HYPOT: y = R(hypot(a, b)); break;
    default: y = R(R(alpha * a) + R(beta * b)); break;
    }
    out[0][i] = y;
  }
}

const kb_family kb_family_binary = {binary_setup, NULL, binary_compute};
