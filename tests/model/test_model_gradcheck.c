// The backward against finite differences of the forward, for the configs the goldens do
// not cover: qk_norm and cross_attn_norm each on and off (the goldens have both on), an
// odd head count and a video that is not whole patches. Random weights and inputs from
// Philox. For each parameter tensor and each input, the directional derivative along a
// random direction u: the fourth-order central difference of loss = sum(output * R),
//   (-L(2h) + 8 L(h) - 8 L(-h) + L(-2h)) / (12 h),
// against <gradient, u> from vdit_model_backward (fp32 forward, loss summed in double).
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vdit/model.h"

typedef struct problem {
  vdit_model_weights w, grads;
  vdit_tensor video, timesteps, context, output, weight_r, d_video, d_context;
} problem;

static double loss_of(problem *p) {
  CHECK_OK(vdit_model_forward(&p->w, NULL, &p->video, &p->timesteps, &p->context, &p->output, NULL));
  double loss = 0;
  for (int64_t i = 0; i < vdit_tensor_numel(&p->output); i++)
    loss += (double)((const float *)p->output.data)[i] * ((const float *)p->weight_r.data)[i];
  return loss;
}

// Directional derivative of the loss along u (n floats) at x (the tensor's data), by
// fourth-order central differences; x is restored.
static double finite_difference(problem *p, float *x, const float *u, int64_t n, double h) {
  float *saved = malloc((size_t)n * sizeof *saved);
  memcpy(saved, x, (size_t)n * sizeof *saved);
  const double steps[4] = {2 * h, h, -h, -2 * h}, weights[4] = {-1, 8, -8, 1};
  double sum = 0;
  for (int s = 0; s < 4; s++) {
    for (int64_t i = 0; i < n; i++) x[i] = (float)(saved[i] + steps[s] * u[i]);
    sum += weights[s] * loss_of(p);
  }
  memcpy(x, saved, (size_t)n * sizeof *saved);
  free(saved);
  return sum / (12 * h);
}

static double dot(const float *a, const float *b, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; i++) s += (double)a[i] * b[i];
  return s;
}

// One tensor's check: the directional derivative along a random unit-variance direction,
// with a step of 5% of the tensor's RMS (at least 0.0025). The finite difference carries
// the forward's fp32 rounding divided by h, hence the absolute part of the tolerance.
static void check_direction(problem *p, const char *label, const char *name, vdit_tensor *x, const vdit_tensor *grad,
                            uint64_t seed, double *worst) {
  const int64_t n = vdit_tensor_numel(x);
  vdit_tensor u;
  CHECK_OK(vdit_tensor_alloc(&u, VDIT_DTYPE_F32, VDIT_CPU, x->ndim, x->shape));
  CHECK_OK(vdit_tensor_fill_normal(&u, seed, 0, 0, 1));
  // Step relative to the tensor's own scale.
  double rms = sqrt(dot(x->data, x->data, n) / (double)n);
  double h = 5e-2 * (rms > 0.05 ? rms : 0.05);
  double fd = finite_difference(p, x->data, u.data, n, h);
  double analytic = dot(grad->data, u.data, n);
  // Measured: the difference stays below 3.5e-3 |backward| (truncation at the largest
  // derivatives) and 4e-4 in absolute terms (fp32 rounding; the key bias without qk_norm,
  // whose true gradient is 0: softmax ignores a shift shared by all keys).
  const double relative = 1e-2, absolute = 1e-3;
  double error = fabs(fd - analytic) / (relative * fabs(analytic) + absolute);
  if (!(error <= 1))
    CHECK_FAIL_("%s: %s: finite difference %.9g, backward %.9g (|difference| %.2e > %.0e |backward| + %.0e)", label,
                name, fd, analytic, fabs(fd - analytic), relative, absolute);
  if (error > *worst) *worst = error;
  if (getenv("VDIT_TEST_VERBOSE")) printf("  %-22s %-36s fd %+.6e bw %+.6e err %.2e\n", label, name, fd, analytic, error);
  vdit_tensor_free(&u);
}

// Random weights at the scales of the golden models: Linear weights N(0,1)/sqrt(fan_in),
// biases 0.2 N, norm scales 1 + 0.2 N, modulation tables 0.5 N.
static void init_weights(vdit_model_weights *w, uint64_t seed) {
  for (size_t i = 0; i < vdit_model_parameter_count(&w->config); i++) {
    char name[256];
    vdit_tensor *t;
    CHECK_OK(vdit_model_parameter(w, i, VDIT_MODEL_NAMING_DIFFUSERS, name, sizeof name, &t));
    const size_t length = strlen(name);
    const int is_bias = length > 5 && strcmp(name + length - 5, ".bias") == 0;
    if (strstr(name, "scale_shift_table")) CHECK_OK(vdit_tensor_fill_normal(t, seed + i, 0, 0, 0.5));
    else if (strstr(name, "norm")) CHECK_OK(vdit_tensor_fill_normal(t, seed + i, 0, is_bias ? 0 : 1, 0.2));
    else if (is_bias) CHECK_OK(vdit_tensor_fill_normal(t, seed + i, 0, 0, 0.2));
    else {
      int64_t fan_in = vdit_tensor_numel(t) / t->shape[0];
      CHECK_OK(vdit_tensor_fill_normal(t, seed + i, 0, 0, 1 / sqrt((double)fan_in)));
    }
  }
}

static void run_case(int qk_norm, int cross_attn_norm) {
  char label[64];
  snprintf(label, sizeof label, "qk_norm %d cross_norm %d", qk_norm, cross_attn_norm);
  vdit_model_config c;
  memset(&c, 0, sizeof c);
  c.dim = 24, c.heads = 3, c.head_dim = 8, c.layers = 2, c.ffn_dim = 40, c.freq_dim = 12, c.text_dim = 10;
  c.in_channels = 3, c.out_channels = 2;
  c.patch[0] = 2, c.patch[1] = 1, c.patch[2] = 2;
  c.eps = 1e-6, c.rope_theta = 10000;
  c.qk_norm = qk_norm, c.cross_attn_norm = cross_attn_norm;
  problem p;
  memset(&p, 0, sizeof p);
  CHECK_OK(vdit_model_weights_alloc(&c, &p.w));
  CHECK_OK(vdit_model_weights_alloc(&c, &p.grads));
  if (!p.w.data || !p.grads.data) return;
  init_weights(&p.w, 1000 + 10 * (uint64_t)qk_norm + (uint64_t)cross_attn_norm);
  // (B, C, F, H, W) = (2, 3, 5, 3, 5): F and W are not whole patches of 2 (cropped to 4).
  const int64_t video_shape[5] = {2, 3, 5, 3, 5}, out_shape[5] = {2, 2, 4, 3, 4}, context_shape[3] = {2, 4, 10};
  const int64_t batch[1] = {2};
  CHECK_OK(vdit_tensor_alloc(&p.video, VDIT_DTYPE_F32, VDIT_CPU, 5, video_shape));
  CHECK_OK(vdit_tensor_alloc(&p.d_video, VDIT_DTYPE_F32, VDIT_CPU, 5, video_shape));
  CHECK_OK(vdit_tensor_alloc(&p.output, VDIT_DTYPE_F32, VDIT_CPU, 5, out_shape));
  CHECK_OK(vdit_tensor_alloc(&p.weight_r, VDIT_DTYPE_F32, VDIT_CPU, 5, out_shape));
  CHECK_OK(vdit_tensor_alloc(&p.context, VDIT_DTYPE_F32, VDIT_CPU, 3, context_shape));
  CHECK_OK(vdit_tensor_alloc(&p.d_context, VDIT_DTYPE_F32, VDIT_CPU, 3, context_shape));
  CHECK_OK(vdit_tensor_alloc(&p.timesteps, VDIT_DTYPE_F32, VDIT_CPU, 1, batch));
  CHECK_OK(vdit_tensor_fill_normal(&p.video, 1, 0, 0, 1));
  CHECK_OK(vdit_tensor_fill_normal(&p.context, 2, 0, 0, 1));
  CHECK_OK(vdit_tensor_fill_normal(&p.weight_r, 3, 0, 0, 1));
  ((float *)p.timesteps.data)[0] = 733.5f;
  ((float *)p.timesteps.data)[1] = 21.0f;

  vdit_model_state *state = NULL;
  CHECK_OK(vdit_model_state_create(&state));
  CHECK_OK(vdit_model_forward(&p.w, NULL, &p.video, &p.timesteps, &p.context, &p.output, state));
  CHECK_OK(vdit_model_backward(&p.w, NULL, state, &p.weight_r, &p.d_video, &p.d_context, &p.grads,
                               VDIT_GRAD_OVERWRITE));
  vdit_model_state_free(state);

  double worst = 0;
  check_direction(&p, label, "hidden_states", &p.video, &p.d_video, 50, &worst);
  check_direction(&p, label, "encoder_hidden_states", &p.context, &p.d_context, 51, &worst);
  const size_t count = vdit_model_parameter_count(&c);
  for (size_t i = 0; i < count; i++) {
    char name[256];
    vdit_tensor *t, *g;
    CHECK_OK(vdit_model_parameter(&p.w, i, VDIT_MODEL_NAMING_DIFFUSERS, name, sizeof name, &t));
    CHECK_OK(vdit_model_parameter(&p.grads, i, VDIT_MODEL_NAMING_DIFFUSERS, NULL, 0, &g));
    check_direction(&p, label, name, t, g, 100 + i, &worst);
  }
  // The cropped frame and column get no gradient.
  size_t nonzero = 0;
  const float *dv = p.d_video.data;
  for (int64_t b = 0; b < 2 * 3; b++)
    for (int64_t f = 0; f < 5; f++)
      for (int64_t h = 0; h < 3; h++)
        for (int64_t x = 0; x < 5; x++)
          if (f == 4 || x == 4) nonzero += dv[((b * 5 + f) * 3 + h) * 5 + x] != 0;
  CHECK_EQ_INT(nonzero, 0);
  printf("%s: %zu parameter tensors and 2 inputs, worst |difference| / (1e-2 |backward| + 1e-3) = %.2f\n", label,
         count, worst);

  vdit_tensor *all[] = {&p.video, &p.timesteps, &p.context, &p.output, &p.weight_r, &p.d_video, &p.d_context};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) vdit_tensor_free(all[i]);
  vdit_model_weights_free(&p.w);
  vdit_model_weights_free(&p.grads);
}

int main(void) {
  for (int qk = 0; qk < 2; qk++)
    for (int cross = 0; cross < 2; cross++) run_case(qk, cross);
  return check_finish("test_model_gradcheck");
}
