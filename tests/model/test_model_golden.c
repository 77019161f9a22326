// The CPU fp32 model against diffusers' float64 goldens (tests/data/wan_small/README.md):
// both configs (wan_small, patch212), both name sets. Every activation the goldens hold
// (time and text embeddings, patch embedding, each block's attn1/attn2/ffn/out, the head,
// the output) must match to relative L2 <= 1e-5, every gradient (the named activation
// gradients, the inputs', every parameter's) to <= 1e-4; every golden tensor is compared.
// Also: recompute and inference give the same bits as the saved-activation pass, gradient
// accumulation adds, a video that is not whole patches is cropped (Conv3d's floor) with zero
// gradient in the cropped part, and bad inputs give one-line errors.
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vdit/model.h"

#define ACTIVATION_TOLERANCE 1e-5
#define GRADIENT_TOLERANCE 1e-4
#define MAX_COMPARED 512

typedef struct comparison {
  const vdit_safetensors *golden;
  const char *label; // "wan_small/diffusers"
  char compared[MAX_COMPARED][96];
  int compared_count;
  double worst_activation, worst_gradient;
  char worst_activation_name[96], worst_gradient_name[96];
} comparison;

// Relative L2 error of an f32 tensor (contiguous) against the golden f64 tensor `name`.
static double relative_l2(comparison *c, const char *name, const vdit_tensor *t) {
  vdit_tensor ref;
  if (vdit_safetensors_tensor(c->golden, name, &ref) != VDIT_OK) {
    CHECK_FAIL_("%s: golden has no %s", c->label, name);
    return INFINITY;
  }
  if (!vdit_tensor_same_shape(&ref, t) || ref.dtype != VDIT_DTYPE_F64 || !vdit_tensor_is_contiguous(t)) {
    char a[VDIT_SHAPE_STRING_SIZE], b[VDIT_SHAPE_STRING_SIZE];
    CHECK_FAIL_("%s: %s has shape %s, golden %s", c->label, name, vdit_tensor_shape_string(t, a, sizeof a),
                vdit_tensor_shape_string(&ref, b, sizeof b));
    return INFINITY;
  }
  const double *r = ref.data;
  const float *x = t->data;
  double diff = 0, norm = 0;
  for (int64_t i = 0; i < vdit_tensor_numel(t); i++) {
    double d = (double)x[i] - r[i];
    diff += d * d;
    norm += r[i] * r[i];
  }
  if (!(norm > 0)) {
    CHECK_FAIL_("%s: golden %s is all zero (would compare nothing)", c->label, name);
    return INFINITY;
  }
  double error = sqrt(diff / norm);
  return isnan(error) ? INFINITY : error;
}

static void compare(comparison *c, const char *name, const vdit_tensor *t) {
  const int gradient = strncmp(name, "grad.", 5) == 0;
  const double tolerance = gradient ? GRADIENT_TOLERANCE : ACTIVATION_TOLERANCE;
  double error = relative_l2(c, name, t);
  if (!(error <= tolerance))
    CHECK_FAIL_("%s: %s relative L2 error %.3g > %.0e", c->label, name, error, tolerance);
  double *worst = gradient ? &c->worst_gradient : &c->worst_activation;
  char *worst_name = gradient ? c->worst_gradient_name : c->worst_activation_name;
  if (error > *worst || !worst_name[0]) {
    *worst = error;
    snprintf(worst_name, 96, "%s", name);
  }
  if (c->compared_count < MAX_COMPARED) snprintf(c->compared[c->compared_count++], 96, "%s", name);
  if (getenv("VDIT_TEST_VERBOSE")) printf("  %-20s %-52s %.3e\n", c->label, name, error);
}

// The observer: compares whatever the golden file has (blocks.N.attn1.q etc. it has not).
static vdit_status observe(void *user, const char *name, const vdit_tensor *tensor) {
  comparison *c = user;
  size_t index;
  if (vdit_safetensors_find(c->golden, name, &index) != VDIT_OK) {
    vdit_error_clear();
    return VDIT_OK;
  }
  compare(c, name, tensor);
  return VDIT_OK;
}

// Every golden tensor was compared, except those with no counterpart to compare here.
static void check_coverage(const comparison *c) {
  static const char *const skipped[] = {"rope.cos", "rope.sin", "loss", "grad.output"}; // RoPE: tests/ops; loss below
  for (size_t i = 0; i < vdit_safetensors_count(c->golden); i++) {
    vdit_safetensors_info info;
    CHECK_OK(vdit_safetensors_entry(c->golden, i, &info));
    int done = 0;
    for (size_t k = 0; k < sizeof skipped / sizeof skipped[0]; k++) done |= strcmp(info.name, skipped[k]) == 0;
    for (int k = 0; !done && k < c->compared_count; k++) done = strcmp(info.name, c->compared[k]) == 0;
    if (!done) CHECK_FAIL_("%s: golden tensor %s was not compared", c->label, info.name);
  }
}

static void alloc_like(vdit_tensor *t, const vdit_tensor *like) {
  CHECK_OK(vdit_tensor_alloc(t, VDIT_DTYPE_F32, VDIT_CPU, like->ndim, like->shape));
  CHECK_OK(vdit_tensor_poison(t));
}

static int same_bits(const vdit_tensor *a, const vdit_tensor *b) {
  return vdit_tensor_same_shape(a, b) && memcmp(a->data, b->data, vdit_tensor_bytes(a)) == 0;
}

// Every parameter tensor of `w` filled with NaN (not the alignment gaps between them).
static void poison_parameters(vdit_model_weights *w) {
  for (size_t p = 0; p < vdit_model_parameter_count(&w->config); p++) {
    vdit_tensor *t;
    CHECK_OK(vdit_model_parameter(w, p, VDIT_MODEL_NAMING_DIFFUSERS, NULL, 0, &t));
    CHECK_OK(vdit_tensor_poison(t));
  }
}

// Number of parameter elements where b != scale * a (bitwise for scale 1).
static size_t parameter_mismatches(const vdit_model_weights *a, const vdit_model_weights *b, float scale) {
  size_t wrong = 0;
  for (size_t p = 0; p < vdit_model_parameter_count(&a->config); p++) {
    vdit_tensor *x, *y;
    CHECK_OK(vdit_model_parameter(a, p, VDIT_MODEL_NAMING_DIFFUSERS, NULL, 0, &x));
    CHECK_OK(vdit_model_parameter(b, p, VDIT_MODEL_NAMING_DIFFUSERS, NULL, 0, &y));
    for (int64_t i = 0; i < vdit_tensor_numel(x); i++) {
      float want = scale * ((const float *)x->data)[i], got = ((const float *)y->data)[i];
      wrong += memcmp(&want, &got, sizeof got) != 0;
    }
  }
  return wrong;
}

typedef struct inputs {
  vdit_safetensors *file;
  vdit_tensor video, timesteps, context, loss_weight;
} inputs;

static int read_inputs(const char *folder, inputs *in) {
  char path[1200];
  snprintf(path, sizeof path, "%s/inputs.safetensors", folder);
  memset(in, 0, sizeof *in);
  CHECK_OK(vdit_safetensors_open(path, &in->file));
  if (!in->file) return 0;
  CHECK_OK(vdit_safetensors_tensor(in->file, "hidden_states", &in->video));
  CHECK_OK(vdit_safetensors_tensor(in->file, "timestep", &in->timesteps));
  CHECK_OK(vdit_safetensors_tensor(in->file, "encoder_hidden_states", &in->context));
  CHECK_OK(vdit_safetensors_tensor(in->file, "loss_weight", &in->loss_weight));
  return in->video.data != NULL;
}

static double loss_of(const vdit_tensor *output, const vdit_tensor *weight) {
  double loss = 0;
  for (int64_t i = 0; i < vdit_tensor_numel(output); i++)
    loss += (double)((const float *)output->data)[i] * ((const float *)weight->data)[i];
  return loss;
}

// One config and one name set against the goldens; returns the weights' gradients and
// output for the cross-checks (caller frees).
static void run_golden(const char *folder, const char *label, vdit_model_naming naming, comparison *c) {
  char model_path[1200], config_path[1200], golden_path[1200];
  snprintf(model_path, sizeof model_path, "%s/model_%s.safetensors", folder, vdit_model_naming_name(naming));
  snprintf(config_path, sizeof config_path, "%s/config_%s.json", folder, vdit_model_naming_name(naming));
  snprintf(golden_path, sizeof golden_path, "%s/golden.safetensors", folder);
  vdit_safetensors *golden = NULL;
  CHECK_OK(vdit_safetensors_open(golden_path, &golden));
  vdit_model_weights w;
  CHECK_OK(vdit_model_load(model_path, config_path, &w));
  inputs in;
  if (!golden || !w.data || !read_inputs(folder, &in)) {
    vdit_safetensors_close(golden);
    vdit_model_weights_free(&w);
    return;
  }
  memset(c, 0, sizeof *c);
  c->golden = golden;
  c->label = label;
  vdit_model_run_options options = {.observe = observe, .observe_user = c};

  // Forward with every activation saved, compared as it is computed.
  vdit_model_state *state = NULL;
  CHECK_OK(vdit_model_state_create(&state));
  vdit_tensor output;
  alloc_like(&output, &in.loss_weight);
  CHECK_OK(vdit_model_forward(&w, &options, &in.video, &in.timesteps, &in.context, &output, state));
  vdit_tensor golden_loss;
  CHECK_OK(vdit_safetensors_tensor(golden, "loss", &golden_loss));
  double loss = loss_of(&output, &in.loss_weight), want = *(const double *)golden_loss.data;
  CHECK(fabs(loss - want) <= ACTIVATION_TOLERANCE * fabs(want));

  // Backward of loss = sum(output * loss_weight): d output = loss_weight.
  vdit_model_weights grads;
  CHECK_OK(vdit_model_weights_alloc(&w.config, &grads));
  poison_parameters(&grads);
  vdit_tensor d_video, d_context;
  alloc_like(&d_video, &in.video);
  alloc_like(&d_context, &in.context);
  CHECK_OK(vdit_model_backward(&w, &options, state, &in.loss_weight, &d_video, &d_context, &grads,
                               VDIT_GRAD_OVERWRITE));
  compare(c, "grad.hidden_states", &d_video);
  compare(c, "grad.encoder_hidden_states", &d_context);
  for (size_t p = 0; p < vdit_model_parameter_count(&w.config); p++) {
    char name[256], golden_name[300];
    vdit_tensor *t;
    CHECK_OK(vdit_model_parameter(&grads, p, VDIT_MODEL_NAMING_DIFFUSERS, name, sizeof name, &t));
    snprintf(golden_name, sizeof golden_name, "grad.%s", name);
    compare(c, golden_name, t);
  }
  check_coverage(c);

  // Recompute: the same bits. Inference: the same output bits.
  vdit_model_state *recompute_state = NULL;
  CHECK_OK(vdit_model_state_create(&recompute_state));
  vdit_model_run_options recompute = {.recompute = 1};
  vdit_tensor output2, d_video2, d_context2;
  alloc_like(&output2, &output);
  alloc_like(&d_video2, &d_video);
  alloc_like(&d_context2, &d_context);
  vdit_model_weights grads2;
  CHECK_OK(vdit_model_weights_alloc(&w.config, &grads2));
  poison_parameters(&grads2);
  CHECK_OK(vdit_model_forward(&w, &recompute, &in.video, &in.timesteps, &in.context, &output2, recompute_state));
  CHECK(same_bits(&output, &output2));
  CHECK_OK(vdit_model_backward(&w, &recompute, recompute_state, &in.loss_weight, &d_video2, &d_context2, &grads2,
                               VDIT_GRAD_OVERWRITE));
  CHECK(same_bits(&d_video, &d_video2));
  CHECK(same_bits(&d_context, &d_context2));
  CHECK_EQ_INT(parameter_mismatches(&grads, &grads2, 1), 0);
  if (w.config.layers > 1) CHECK(vdit_model_state_bytes(recompute_state) < vdit_model_state_bytes(state));
  CHECK_OK(vdit_tensor_poison(&output2));
  CHECK_OK(vdit_model_forward(&w, NULL, &in.video, &in.timesteps, &in.context, &output2, NULL));
  CHECK(same_bits(&output, &output2));

  // Accumulation: a second backward adds the same gradients (x + x = 2x exactly).
  CHECK_OK(vdit_model_backward(&w, NULL, recompute_state, &in.loss_weight, &d_video2, &d_context2, &grads2,
                               VDIT_GRAD_ACCUMULATE));
  size_t wrong = parameter_mismatches(&grads, &grads2, 2);
  for (int64_t i = 0; i < vdit_tensor_numel(&d_video); i++)
    wrong += ((float *)d_video2.data)[i] != 2 * ((float *)d_video.data)[i];
  for (int64_t i = 0; i < vdit_tensor_numel(&d_context); i++)
    wrong += ((float *)d_context2.data)[i] != 2 * ((float *)d_context.data)[i];
  CHECK_EQ_INT(wrong, 0);

  printf("%-28s output loss %.12g (golden %.12g); worst activation %.2e (%s), worst gradient %.2e (%s); "
         "%d tensors compared; state %zu bytes (recompute %zu)\n",
         label, loss, want, c->worst_activation, c->worst_activation_name, c->worst_gradient,
         c->worst_gradient_name, c->compared_count, vdit_model_state_bytes(state),
         vdit_model_state_bytes(recompute_state));

  vdit_tensor_free(&output);
  vdit_tensor_free(&output2);
  vdit_tensor_free(&d_video);
  vdit_tensor_free(&d_video2);
  vdit_tensor_free(&d_context);
  vdit_tensor_free(&d_context2);
  vdit_model_weights_free(&grads);
  vdit_model_weights_free(&grads2);
  vdit_model_state_free(state);
  vdit_model_state_free(recompute_state);
  vdit_safetensors_close(in.file);
  vdit_model_weights_free(&w);
  vdit_safetensors_close(golden);
}

// A video one frame, row and column larger than whole patches: the forward drops the
// remainder (Conv3d's floor) and the backward gives it zero gradient.
static void test_crop(const char *folder) {
  char model_path[1200], config_path[1200];
  snprintf(model_path, sizeof model_path, "%s/model_diffusers.safetensors", folder);
  snprintf(config_path, sizeof config_path, "%s/config_diffusers.json", folder);
  vdit_model_weights w;
  CHECK_OK(vdit_model_load(model_path, config_path, &w));
  inputs in;
  if (!w.data || !read_inputs(folder, &in)) {
    vdit_model_weights_free(&w);
    return;
  }
  const int64_t *s = in.video.shape;
  int64_t big_shape[5] = {s[0], s[1], s[2] + w.config.patch[0] - 1, s[3] + w.config.patch[1] - 1,
                          s[4] + w.config.patch[2] - 1};
  vdit_tensor big, window, output, output2, d_video, d_big;
  CHECK_OK(vdit_tensor_alloc(&big, VDIT_DTYPE_F32, VDIT_CPU, 5, big_shape));
  CHECK_OK(vdit_tensor_fill_normal(&big, 7, 0, 0, 1)); // the extra elements: anything
  window = big;
  window.allocation = NULL;
  memcpy(window.shape, s, sizeof window.shape);
  CHECK_OK(vdit_tensor_copy(&window, &in.video));
  alloc_like(&output, &in.loss_weight);
  alloc_like(&output2, &in.loss_weight);
  alloc_like(&d_video, &in.video);
  alloc_like(&d_big, &big);
  vdit_model_state *state = NULL;
  CHECK_OK(vdit_model_state_create(&state));
  CHECK_OK(vdit_model_forward(&w, NULL, &in.video, &in.timesteps, &in.context, &output, state));
  CHECK_OK(vdit_model_backward(&w, NULL, state, &in.loss_weight, &d_video, NULL, NULL, VDIT_GRAD_OVERWRITE));
  CHECK_OK(vdit_model_forward(&w, NULL, &big, &in.timesteps, &in.context, &output2, state));
  CHECK(same_bits(&output, &output2));
  CHECK_OK(vdit_model_backward(&w, NULL, state, &in.loss_weight, &d_big, NULL, NULL, VDIT_GRAD_OVERWRITE));
  size_t wrong = 0;
  const float *db = d_big.data, *dv = d_video.data;
  for (int64_t a = 0; a < big_shape[0]; a++)
    for (int64_t b = 0; b < big_shape[1]; b++)
      for (int64_t f = 0; f < big_shape[2]; f++)
        for (int64_t h = 0; h < big_shape[3]; h++)
          for (int64_t x = 0; x < big_shape[4]; x++) {
            float got = db[(((a * big_shape[1] + b) * big_shape[2] + f) * big_shape[3] + h) * big_shape[4] + x];
            int inside = f < s[2] && h < s[3] && x < s[4];
            float want = inside ? dv[(((a * s[1] + b) * s[2] + f) * s[3] + h) * s[4] + x] : 0.0f;
            wrong += memcmp(&got, &want, sizeof got) != 0;
          }
  CHECK_EQ_INT(wrong, 0);
  vdit_tensor_free(&big);
  vdit_tensor_free(&output);
  vdit_tensor_free(&output2);
  vdit_tensor_free(&d_video);
  vdit_tensor_free(&d_big);
  vdit_model_state_free(state);
  vdit_safetensors_close(in.file);
  vdit_model_weights_free(&w);
}

#define CHECK_FAILS_WITH(expr, status, text)                                                       \
  do {                                                                                             \
    vdit_error_clear();                                                                            \
    vdit_status check_s_ = (expr);                                                                 \
    if (check_s_ != (status) || !strstr(vdit_last_error(), (text)))                                \
      CHECK_FAIL_("%s: got '%s' (%s), want '%s' containing \"%s\"", #expr, vdit_status_string(check_s_), \
                  vdit_last_error(), vdit_status_string(status), (text));                          \
  } while (0)

static void test_bad_inputs(const char *folder) {
  char model_path[1200], config_path[1200];
  snprintf(model_path, sizeof model_path, "%s/model_wan.safetensors", folder);
  snprintf(config_path, sizeof config_path, "%s/config_wan.json", folder);
  vdit_model_weights w;
  CHECK_OK(vdit_model_load(model_path, config_path, &w));
  inputs in;
  if (!w.data || !read_inputs(folder, &in)) {
    vdit_model_weights_free(&w);
    return;
  }
  vdit_tensor output;
  alloc_like(&output, &in.loss_weight);
  vdit_tensor wrong_channels = in.video;
  wrong_channels.shape[1] = 5;
  CHECK_FAILS_WITH(vdit_model_forward(&w, NULL, &wrong_channels, &in.timesteps, &in.context, &output, NULL),
                   VDIT_ERROR_INVALID_ARGUMENT, "model: video must be (B, C_in, F, H, W), got (2, 5, 3, 4, 8)");
  CHECK_FAILS_WITH(vdit_model_forward(&w, NULL, &in.video, &in.timesteps, &in.loss_weight, &output, NULL),
                   VDIT_ERROR_INVALID_ARGUMENT, "model: context must be (B, S, text_dim)");
  CHECK_FAILS_WITH(vdit_model_forward(&w, NULL, &in.video, &in.timesteps, &in.context, &in.video, NULL),
                   VDIT_ERROR_INVALID_ARGUMENT, "model: output must be");
  vdit_tensor tiny = in.video;
  tiny.shape[3] = 1;
  CHECK_FAILS_WITH(vdit_model_forward(&w, NULL, &tiny, &in.timesteps, &in.context, &output, NULL),
                   VDIT_ERROR_INVALID_ARGUMENT, "is smaller than one (1, 2, 2) patch");
  vdit_attn_method_config methods[2] = {vdit_attn_method_defaults(VDIT_ATTN_DENSE),
                                        vdit_attn_method_defaults((vdit_attn_method)99)};
  vdit_model_run_options options = {.self_attn = methods};
  CHECK_FAILS_WITH(vdit_model_forward(&w, &options, &in.video, &in.timesteps, &in.context, &output, NULL),
                   VDIT_ERROR_INVALID_ARGUMENT, "invalid attention method 99 for block 1");
  methods[1] = vdit_attn_method_defaults(VDIT_ATTN_BLOCK);
  CHECK_FAILS_WITH(vdit_model_forward(&w, &options, &in.video, &in.timesteps, &in.context, &output, NULL),
                   VDIT_ERROR_INVALID_ARGUMENT, "needs a caller's block map");
  vdit_model_state *state = NULL;
  CHECK_OK(vdit_model_state_create(&state));
  CHECK_FAILS_WITH(vdit_model_backward(&w, NULL, state, &in.loss_weight, NULL, NULL, NULL, VDIT_GRAD_OVERWRITE),
                   VDIT_ERROR_INVALID_ARGUMENT, "the state holds no forward pass");
  CHECK_OK(vdit_model_forward(&w, NULL, &in.video, &in.timesteps, &in.context, &output, state));
  CHECK_FAILS_WITH(vdit_model_backward(&w, NULL, state, &in.video, NULL, NULL, NULL, VDIT_GRAD_OVERWRITE),
                   VDIT_ERROR_INVALID_ARGUMENT, "model backward: d_output must be f32 (2, 4, 3, 4, 8)");
  CHECK_OK(vdit_model_backward(&w, NULL, state, &in.loss_weight, NULL, NULL, NULL, VDIT_GRAD_OVERWRITE));
  vdit_model_state_free(state);
  vdit_tensor_free(&output);
  vdit_safetensors_close(in.file);
  vdit_model_weights_free(&w);
}

// Sparse self-attention through the model: at 384 tokens (3 key blocks of 128) a policy's
// parameters reach the mask. Top-k of every block is dense bit for bit; Top-k of 2 of 3 blocks
// is not; its backward re-derives the forward's mask and gives finite gradients.
static void test_sparse_attention(const char *folder) {
  char model_path[1200], config_path[1200];
  snprintf(model_path, sizeof model_path, "%s/model_wan.safetensors", folder);
  snprintf(config_path, sizeof config_path, "%s/config_wan.json", folder);
  vdit_model_weights w;
  CHECK_OK(vdit_model_load(model_path, config_path, &w));
  if (!w.data) return;
  const vdit_model_config *cfg = &w.config;
  vdit_tensor video, timesteps, context, dense_out, out, d_out;
  const int64_t vshape[5] = {1, cfg->in_channels, 3, 16, 32}, oshape[5] = {1, cfg->out_channels, 3, 16, 32};
  CHECK_OK(vdit_tensor_alloc(&video, VDIT_DTYPE_F32, VDIT_CPU, 5, vshape));
  CHECK_OK(vdit_tensor_alloc(&timesteps, VDIT_DTYPE_F32, VDIT_CPU, 1, (int64_t[]){1}));
  CHECK_OK(vdit_tensor_alloc(&context, VDIT_DTYPE_F32, VDIT_CPU, 3, (int64_t[]){1, 7, cfg->text_dim}));
  CHECK_OK(vdit_tensor_fill_uniform(&video, 71, 0, -1.0, 1.0));
  CHECK_OK(vdit_tensor_fill_uniform(&timesteps, 72, 0, 400.0, 400.0));
  CHECK_OK(vdit_tensor_fill_uniform(&context, 73, 0, -1.0, 1.0));
  alloc_like(&dense_out, &video);
  dense_out.shape[1] = oshape[1];
  alloc_like(&out, &dense_out);
  alloc_like(&d_out, &dense_out);
  CHECK_OK(vdit_tensor_fill_uniform(&d_out, 74, 0, -1.0, 1.0));
  CHECK_OK(vdit_model_forward(&w, NULL, &video, &timesteps, &context, &dense_out, NULL));
  vdit_attn_method_config *methods = calloc((size_t)cfg->layers, sizeof *methods);
  vdit_model_attn_policy policy;
  CHECK_OK(vdit_model_attn_policy_parse("sparge(topk=1)", &policy));
  vdit_model_attn_policy_fill(&policy, cfg->layers, 0, methods);
  vdit_model_run_options run = {.self_attn = methods};
  CHECK_OK(vdit_model_forward(&w, &run, &video, &timesteps, &context, &out, NULL));
  CHECK(same_bits(&out, &dense_out));
  CHECK_OK(vdit_model_attn_policy_parse("sparge(topk=0.6)", &policy)); // ceil(0.6 * 3) = 2 of 3 blocks
  vdit_model_attn_policy_fill(&policy, cfg->layers, 0, methods);
  vdit_model_state *state = NULL;
  CHECK_OK(vdit_model_state_create(&state));
  CHECK_OK(vdit_model_forward(&w, &run, &video, &timesteps, &context, &out, state));
  double diff = 0, norm = 0;
  const float *a = out.data, *b = dense_out.data;
  for (int64_t i = 0; i < vdit_tensor_numel(&out); i++) diff += fabs((double)a[i] - b[i]), norm += fabs((double)b[i]);
  if (!(diff > 1e-4 * norm)) CHECK_FAIL_("sparge(topk=0.6) output equals dense (rel L1 %g): the mask did not apply", diff / norm);
  // clustered attention: the whole budget is dense up to summation order, none is not
  CHECK_OK(vdit_model_attn_policy_parse("ear(budget=1)", &policy));
  vdit_model_attn_policy_fill(&policy, cfg->layers, 0, methods);
  vdit_tensor ear_out;
  alloc_like(&ear_out, &dense_out);
  CHECK_OK(vdit_model_forward(&w, &run, &video, &timesteps, &context, &ear_out, NULL));
  double ear_diff = 0;
  const float *e = ear_out.data;
  for (int64_t i = 0; i < vdit_tensor_numel(&out); i++) ear_diff += fabs((double)e[i] - b[i]);
  if (!(ear_diff <= 1e-5 * norm)) CHECK_FAIL_("ear(budget=1) differs from dense by rel L1 %g", ear_diff / norm);
  CHECK_OK(vdit_model_attn_policy_parse("ear(budget=0)", &policy));
  vdit_model_attn_policy_fill(&policy, cfg->layers, 0, methods);
  CHECK_OK(vdit_model_forward(&w, &run, &video, &timesteps, &context, &ear_out, NULL));
  ear_diff = 0;
  for (int64_t i = 0; i < vdit_tensor_numel(&out); i++) ear_diff += fabs((double)e[i] - b[i]);
  if (!(ear_diff > 1e-4 * norm)) CHECK_FAIL_("ear(budget=0) equals dense (rel L1 %g): the budget did not apply", ear_diff / norm);
  vdit_tensor_free(&ear_out);
  CHECK_OK(vdit_model_attn_policy_parse("sparge(topk=0.6)", &policy)); // the state's forward, for its backward
  vdit_model_attn_policy_fill(&policy, cfg->layers, 0, methods);
  vdit_tensor d_video;
  alloc_like(&d_video, &video);
  CHECK_OK(vdit_model_backward(&w, &run, state, &d_out, &d_video, NULL, NULL, VDIT_GRAD_OVERWRITE));
  const float *g = d_video.data;
  double gnorm = 0;
  for (int64_t i = 0; i < vdit_tensor_numel(&d_video); i++) gnorm += (double)g[i] * g[i];
  CHECK(isfinite(gnorm) && gnorm > 0);
  vdit_model_state_free(state);
  free(methods);
  vdit_tensor *all[] = {&video, &timesteps, &context, &dense_out, &out, &d_out, &d_video};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) vdit_tensor_free(all[i]);
  vdit_model_weights_free(&w);
}

int main(void) {
  const char *data = getenv("VDIT_TEST_DATA");
  if (!data) {
    fprintf(stderr, "test_model_golden: VDIT_TEST_DATA must be set (ctest sets it)\n");
    return 1;
  }
  static const char *const configs[] = {"wan_small", "wan_small/patch212"};
  for (size_t i = 0; i < 2; i++) {
    char folder[1100];
    snprintf(folder, sizeof folder, "%s/%s", data, configs[i]);
    for (int naming = 0; naming < VDIT_MODEL_NAMING_COUNT; naming++) {
      char label[96];
      snprintf(label, sizeof label, "%s/%s", configs[i], vdit_model_naming_name((vdit_model_naming)naming));
      comparison *c = calloc(1, sizeof *c);
      run_golden(folder, label, (vdit_model_naming)naming, c);
      free(c);
    }
    test_crop(folder);
  }
  char folder[1100];
  snprintf(folder, sizeof folder, "%s/wan_small", data);
  test_bad_inputs(folder);
  test_sparse_attention(folder);
  return check_finish("test_model_golden");
}
