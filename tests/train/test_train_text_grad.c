// The gradient of the flow-matching loss with respect to the token table, through the model's
// d_context and vdit_text_embed_backward, against a fourth-order central finite difference
// on a tiny model (random weights, a non-zero output head). Also: padding gives zero context
// and gets no gradient, and a repeated token sums its positions' gradients.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "synthetic_source.h"
#include "vdit/train.h"

typedef struct problem {
  vdit_bundle bundle;
  vdit_tensor video, timesteps, context, output, target;
  int32_t tokens[2 * 6];
} problem;

static double loss_of(problem *p) {
  const vdit_bundle_config *c = &p->bundle.config;
  CHECK_OK(vdit_text_embed(p->bundle.token_table, c->vocab, c->model.text_dim, p->tokens, 2, c->text_length,
                           p->context.data));
  CHECK_OK(vdit_model_forward(&p->bundle.weights, NULL, &p->video, &p->timesteps, &p->context, &p->output, NULL));
  const int64_t n = vdit_tensor_numel(&p->output);
  double sum = 0;
  for (int64_t i = 0; i < n; i++) {
    double e = (double)((float *)p->output.data)[i] - ((float *)p->target.data)[i];
    sum += e * e;
  }
  return sum / (double)n;
}

int main(void) {
  vdit_train_config tc;
  synthetic_tiny_config(&tc);
  problem p;
  memset(&p, 0, sizeof p);
  CHECK_OK(vdit_bundle_alloc(&tc.bundle, synthetic_words, &p.bundle));
  vdit_bundle_init(&p.bundle, 5);
  // A non-zero head (the init's is zero), so the loss depends on the context.
  vdit_tensor *head;
  for (size_t i = 0; i < vdit_model_parameter_count(&tc.bundle.model); i++) {
    char name[256];
    CHECK_OK(vdit_model_parameter(&p.bundle.weights, i, VDIT_MODEL_NAMING_DIFFUSERS, name, sizeof name, &head));
    if (strcmp(name, "proj_out.weight") == 0) CHECK_OK(vdit_tensor_fill_normal(head, 9, 0, 0, 0.3));
  }
  const vdit_bundle_config *c = &p.bundle.config;
  const int64_t video_shape[5] = {2, 3, c->frames, c->height, c->width};
  const int64_t context_shape[3] = {2, c->text_length, c->model.text_dim}, batch[1] = {2};
  CHECK_OK(vdit_tensor_alloc(&p.video, VDIT_DTYPE_F32, VDIT_CPU, 5, video_shape));
  CHECK_OK(vdit_tensor_alloc(&p.output, VDIT_DTYPE_F32, VDIT_CPU, 5, video_shape));
  CHECK_OK(vdit_tensor_alloc(&p.target, VDIT_DTYPE_F32, VDIT_CPU, 5, video_shape));
  CHECK_OK(vdit_tensor_alloc(&p.context, VDIT_DTYPE_F32, VDIT_CPU, 3, context_shape));
  CHECK_OK(vdit_tensor_alloc(&p.timesteps, VDIT_DTYPE_F32, VDIT_CPU, 1, batch));
  CHECK_OK(vdit_tensor_fill_normal(&p.video, 1, 0, 0, 1));
  CHECK_OK(vdit_tensor_fill_normal(&p.target, 2, 0, 0, 1));
  ((float *)p.timesteps.data)[0] = 250.0f;
  ((float *)p.timesteps.data)[1] = 830.0f;
  // Sample 0: "red square moves left" + padding; sample 1 repeats "blue" (token 3) twice.
  const int32_t tokens[12] = {1, 4, 5, 6, 0, 0, 3, 3, 5, 7, 0, 0};
  memcpy(p.tokens, tokens, sizeof tokens);

  // Analytic: loss, d_output, backward to d_context, then into the table.
  double loss = loss_of(&p);
  vdit_tensor d_output, d_context;
  CHECK_OK(vdit_tensor_alloc(&d_output, VDIT_DTYPE_F32, VDIT_CPU, 5, video_shape));
  CHECK_OK(vdit_tensor_alloc(&d_context, VDIT_DTYPE_F32, VDIT_CPU, 3, context_shape));
  vdit_model_state *state;
  CHECK_OK(vdit_model_state_create(&state));
  CHECK_OK(vdit_model_forward(&p.bundle.weights, NULL, &p.video, &p.timesteps, &p.context, &p.output, state));
  const int64_t n = vdit_tensor_numel(&p.output);
  for (int64_t i = 0; i < n; i++)
    ((float *)d_output.data)[i] = (float)(2.0 / n) * (((float *)p.output.data)[i] - ((float *)p.target.data)[i]);
  CHECK_OK(vdit_model_backward(&p.bundle.weights, NULL, state, &d_output, NULL, &d_context, NULL, VDIT_GRAD_OVERWRITE));
  const int64_t table = c->vocab * c->model.text_dim, D = c->model.text_dim;
  float *d_table = calloc((size_t)table, sizeof *d_table);
  CHECK_OK(vdit_text_embed_backward(p.tokens, 2, c->text_length, c->vocab, D, d_context.data, d_table));

  // Padding: zero context rows, no gradient into row 0; the repeated token sums both positions.
  for (int64_t k = 0; k < D; k++) {
    CHECK_EQ_FLOAT_BITS(((float *)p.context.data)[4 * D + k], 0.0f);
    CHECK_EQ_FLOAT_BITS(d_table[k], 0.0f);
    const float *dc = d_context.data;
    CHECK_EQ_FLOAT_BITS(d_table[3 * D + k], dc[(6 + 0) * D + k] + dc[(6 + 1) * D + k]);
    CHECK_EQ_FLOAT_BITS(d_table[2 * D + k], 0.0f); // "green" is not in the batch
  }

  // Finite difference along a random direction over the rows in use.
  float *u = calloc((size_t)table, sizeof *u);
  vdit_rng_normal(77, 0, (size_t)table, u);
  for (int64_t k = 0; k < D; k++) u[k] = 0; // row 0 is fixed at zero
  float *saved = malloc((size_t)table * sizeof *saved);
  memcpy(saved, p.bundle.token_table, (size_t)table * sizeof *saved);
  const double h = 0.02, steps[4] = {2 * h, h, -h, -2 * h}, weights[4] = {-1, 8, -8, 1};
  double fd = 0, analytic = 0;
  for (int s = 0; s < 4; s++) {
    for (int64_t i = 0; i < table; i++) p.bundle.token_table[i] = (float)(saved[i] + steps[s] * u[i]);
    fd += weights[s] * loss_of(&p);
  }
  fd /= 12 * h;
  for (int64_t i = 0; i < table; i++) analytic += (double)d_table[i] * u[i];
  printf("loss %.6f: d loss / d table along u: finite difference %.8e, backward %.8e\n", loss, fd, analytic);
  CHECK(fabs(analytic) > 1e-4); // the test means something
  CHECK_NEAR(fd, analytic, 1e-2 * fabs(analytic) + 1e-5);

  free(u);
  free(saved);
  free(d_table);
  vdit_model_state_free(state);
  vdit_tensor *all[] = {&p.video, &p.timesteps, &p.context, &p.output, &p.target, &d_output, &d_context};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) vdit_tensor_free(all[i]);
  vdit_bundle_free(&p.bundle);
  return check_finish("test_train_text_grad");
}
