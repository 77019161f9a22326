// The model on a GPU in bf16 against diffusers' float64 goldens (tests/data/wan_small): both
// configs, both name sets. Weights load on the CPU in f32 and are converted to bf16 on the GPU
// (vdit_model_weights_copy); inputs are f32 on the GPU. Every golden activation (time and text
// embeddings, patch embedding, each block's attn1/attn2/ffn/out, the head, the output) must be
// within relative L1 <= 1e-2 of the golden; every golden gradient (named activation gradients,
// the inputs', every parameter's, f32 on the GPU) within relative L1 <= GRADIENT_TOLERANCE
// (see below). Also: recompute and inference agree with the saved-activation pass, gradient
// accumulation adds, and f32 master weights -> bf16 compute weights on the device work.
// Skips cleanly without a GPU.
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vdit/model.h"

#define TEST_NAME "test_model_gpu"
#define ACTIVATION_TOLERANCE 1e-2
// Gradients go back through every bf16-stored activation and bf16 gradient of both blocks,
// the head and the embeddings: each stored tensor carries a relative rounding of up to 2^-9,
// and a parameter gradient sums products of two such tensors over all tokens. The tiny models
// (D = 30, 32) have no averaging over wide rows to hide it. 5e-2 relative L1 is what this bf16
// path honestly meets with margin (the worst measured value is printed); the CPU fp32 model
// meets 1e-4 (test_model_golden).
#define GRADIENT_TOLERANCE 5e-2
#define MAX_COMPARED 512

typedef struct comparison {
  const vdit_safetensors *golden;
  const char *label;
  char compared[MAX_COMPARED][96];
  int compared_count;
  double worst_activation, worst_gradient;
  char worst_activation_name[96], worst_gradient_name[96];
} comparison;

// A copy of any tensor (CPU or GPU, any float dtype) as contiguous f32 on the CPU.
static vdit_tensor to_host(const vdit_tensor *t) {
  vdit_tensor h;
  CHECK_OK(vdit_tensor_alloc(&h, VDIT_DTYPE_F32, VDIT_CPU, t->ndim, t->shape));
  CHECK_OK(vdit_device_synchronize(t->device));
  CHECK_OK(vdit_tensor_convert(&h, t));
  return h;
}

static double relative_l1(comparison *c, const char *name, const vdit_tensor *t) {
  vdit_tensor ref;
  if (vdit_safetensors_tensor(c->golden, name, &ref) != VDIT_OK) {
    CHECK_FAIL_("%s: golden has no %s", c->label, name);
    return INFINITY;
  }
  if (!vdit_tensor_same_shape(&ref, t)) {
    char a[VDIT_SHAPE_STRING_SIZE], b[VDIT_SHAPE_STRING_SIZE];
    CHECK_FAIL_("%s: %s has shape %s, golden %s", c->label, name, vdit_tensor_shape_string(t, a, sizeof a),
                vdit_tensor_shape_string(&ref, b, sizeof b));
    return INFINITY;
  }
  vdit_tensor h = to_host(t);
  const double *r = ref.data;
  const float *x = h.data;
  double diff = 0, norm = 0;
  for (int64_t i = 0; i < vdit_tensor_numel(&h); i++) {
    diff += fabs((double)x[i] - r[i]);
    norm += fabs(r[i]);
  }
  vdit_tensor_free(&h);
  if (!(norm > 0)) {
    CHECK_FAIL_("%s: golden %s is all zero", c->label, name);
    return INFINITY;
  }
  double error = diff / norm;
  return isnan(error) ? INFINITY : error;
}

static void compare(comparison *c, const char *name, const vdit_tensor *t) {
  const int gradient = strncmp(name, "grad.", 5) == 0;
  const double tolerance = gradient ? GRADIENT_TOLERANCE : ACTIVATION_TOLERANCE;
  double error = relative_l1(c, name, t);
  if (!(error <= tolerance)) CHECK_FAIL_("%s: %s relative L1 %.3g > %.0e", c->label, name, error, tolerance);
  double *worst = gradient ? &c->worst_gradient : &c->worst_activation;
  char *worst_name = gradient ? c->worst_gradient_name : c->worst_activation_name;
  if (error > *worst || !worst_name[0]) {
    *worst = error;
    snprintf(worst_name, 96, "%s", name);
  }
  if (c->compared_count < MAX_COMPARED) snprintf(c->compared[c->compared_count++], 96, "%s", name);
  if (getenv("VDIT_TEST_VERBOSE")) printf("  %-20s %-52s %.3e\n", c->label, name, error);
}

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

static void check_coverage(const comparison *c) {
  static const char *const skipped[] = {"rope.cos", "rope.sin", "loss", "grad.output"};
  for (size_t i = 0; i < vdit_safetensors_count(c->golden); i++) {
    vdit_safetensors_info info;
    CHECK_OK(vdit_safetensors_entry(c->golden, i, &info));
    int done = 0;
    for (size_t k = 0; k < sizeof skipped / sizeof skipped[0]; k++) done |= strcmp(info.name, skipped[k]) == 0;
    for (int k = 0; !done && k < c->compared_count; k++) done = strcmp(info.name, c->compared[k]) == 0;
    if (!done) CHECK_FAIL_("%s: golden tensor %s was not compared", c->label, info.name);
  }
}

// A GPU f32 tensor with the values of a CPU one, or poisoned with NaN (values NULL).
static vdit_tensor on_gpu(const vdit_tensor *like, int copy) {
  vdit_tensor t;
  CHECK_OK(vdit_tensor_alloc(&t, VDIT_DTYPE_F32, VDIT_CUDA(0), like->ndim, like->shape));
  if (copy) CHECK_OK(vdit_tensor_convert(&t, like));
  else CHECK_OK(vdit_tensor_poison(&t));
  return t;
}

// max |a - b| / max |b| over two GPU tensors.
static double max_relative(const vdit_tensor *a, const vdit_tensor *b) {
  vdit_tensor x = to_host(a), y = to_host(b);
  double diff = 0, scale = 0;
  for (int64_t i = 0; i < vdit_tensor_numel(&x); i++) {
    diff = fmax(diff, fabs((double)((float *)x.data)[i] - ((float *)y.data)[i]));
    scale = fmax(scale, fabs((double)((float *)y.data)[i]));
  }
  vdit_tensor_free(&x);
  vdit_tensor_free(&y);
  return scale > 0 ? diff / scale : INFINITY;
}

static void run_golden(const char *folder, const char *label, vdit_model_naming naming, comparison *c) {
  char model_path[1200], config_path[1200], golden_path[1200], inputs_path[1200];
  snprintf(model_path, sizeof model_path, "%s/model_%s.safetensors", folder, vdit_model_naming_name(naming));
  snprintf(config_path, sizeof config_path, "%s/config_%s.json", folder, vdit_model_naming_name(naming));
  snprintf(golden_path, sizeof golden_path, "%s/golden.safetensors", folder);
  snprintf(inputs_path, sizeof inputs_path, "%s/inputs.safetensors", folder);
  vdit_safetensors *golden = NULL, *inputs = NULL;
  CHECK_OK(vdit_safetensors_open(golden_path, &golden));
  CHECK_OK(vdit_safetensors_open(inputs_path, &inputs));
  vdit_model_weights host;
  CHECK_OK(vdit_model_load(model_path, config_path, &host));
  if (!golden || !inputs || !host.data) return;
  // f32 master weights on the GPU, then the bf16 compute weights from them.
  vdit_model_weights master, w, grads;
  CHECK_OK(vdit_model_weights_alloc_on(&host.config, VDIT_CUDA(0), VDIT_DTYPE_F32, &master));
  CHECK_OK(vdit_model_weights_alloc_on(&host.config, VDIT_CUDA(0), VDIT_DTYPE_BF16, &w));
  CHECK_OK(vdit_model_weights_alloc_on(&host.config, VDIT_CUDA(0), VDIT_DTYPE_F32, &grads));
  CHECK_OK(vdit_model_weights_copy(&master, &host));
  CHECK_OK(vdit_model_weights_copy(&w, &master));
  vdit_tensor video_h, t_h, ctx_h, lw_h;
  CHECK_OK(vdit_safetensors_tensor(inputs, "hidden_states", &video_h));
  CHECK_OK(vdit_safetensors_tensor(inputs, "timestep", &t_h));
  CHECK_OK(vdit_safetensors_tensor(inputs, "encoder_hidden_states", &ctx_h));
  CHECK_OK(vdit_safetensors_tensor(inputs, "loss_weight", &lw_h));
  vdit_tensor video = on_gpu(&video_h, 1), timesteps = on_gpu(&t_h, 1), context = on_gpu(&ctx_h, 1),
              d_output = on_gpu(&lw_h, 1), output = on_gpu(&lw_h, 0), d_video = on_gpu(&video_h, 0),
              d_context = on_gpu(&ctx_h, 0);

  memset(c, 0, sizeof *c);
  c->golden = golden;
  c->label = label;
  vdit_model_run_options options = {NULL, 0, observe, c, 0};
  vdit_model_state *state = NULL;
  CHECK_OK(vdit_model_state_create(&state));
  CHECK_OK(vdit_model_forward(&w, &options, &video, &timesteps, &context, &output, state));
  CHECK_OK(vdit_model_backward(&w, &options, state, &d_output, &d_video, &d_context, &grads, VDIT_GRAD_OVERWRITE));
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

  // Inference (lean buffers) and recompute against the saved-activation pass.
  vdit_tensor output2 = on_gpu(&lw_h, 0), d_video2 = on_gpu(&video_h, 0);
  CHECK_OK(vdit_model_forward(&w, NULL, &video, &timesteps, &context, &output2, NULL));
  const double inference_diff = max_relative(&output2, &output);
  CHECK(inference_diff <= 1e-2);
  vdit_model_state *recompute_state = NULL;
  CHECK_OK(vdit_model_state_create(&recompute_state));
  vdit_model_run_options recompute = {NULL, 1, NULL, NULL, 0};
  vdit_model_weights grads2;
  CHECK_OK(vdit_model_weights_alloc_on(&host.config, VDIT_CUDA(0), VDIT_DTYPE_F32, &grads2));
  CHECK_OK(vdit_model_forward(&w, &recompute, &video, &timesteps, &context, &output2, recompute_state));
  CHECK_OK(vdit_model_backward(&w, &recompute, recompute_state, &d_output, &d_video2, NULL, &grads2,
                               VDIT_GRAD_OVERWRITE));
  const double recompute_diff = max_relative(&d_video2, &d_video);
  CHECK(recompute_diff <= 1e-3);
  // Accumulation: a second backward doubles the gradients.
  CHECK_OK(vdit_model_backward(&w, NULL, recompute_state, &d_output, &d_video2, NULL, &grads2, VDIT_GRAD_ACCUMULATE));
  double accumulate_diff = 0;
  for (size_t p = 0; p < vdit_model_parameter_count(&w.config); p++) {
    vdit_tensor *a, *b;
    CHECK_OK(vdit_model_parameter(&grads, p, VDIT_MODEL_NAMING_DIFFUSERS, NULL, 0, &a));
    CHECK_OK(vdit_model_parameter(&grads2, p, VDIT_MODEL_NAMING_DIFFUSERS, NULL, 0, &b));
    vdit_tensor x = to_host(a), y = to_host(b);
    double diff = 0, scale = 0;
    for (int64_t i = 0; i < vdit_tensor_numel(&x); i++) {
      diff = fmax(diff, fabs(2.0 * ((float *)x.data)[i] - ((float *)y.data)[i]));
      scale = fmax(scale, fabs(2.0 * ((float *)x.data)[i]));
    }
    accumulate_diff = fmax(accumulate_diff, scale > 0 ? diff / scale : 0);
    vdit_tensor_free(&x);
    vdit_tensor_free(&y);
  }
  CHECK(accumulate_diff <= 1e-3);

  printf("%-28s worst activation %.2e (%s), worst gradient %.2e (%s); %d tensors compared; inference %.1e, "
         "recompute %.1e, accumulate %.1e (max relative); state %zu bytes (recompute %zu)\n",
         label, c->worst_activation, c->worst_activation_name, c->worst_gradient, c->worst_gradient_name,
         c->compared_count, inference_diff, recompute_diff, accumulate_diff, vdit_model_state_bytes(state),
         vdit_model_state_bytes(recompute_state));

  vdit_tensor *all[] = {&video, &timesteps, &context, &d_output, &output, &d_video, &d_context, &output2, &d_video2};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) vdit_tensor_free(all[i]);
  vdit_model_state_free(state);
  vdit_model_state_free(recompute_state);
  vdit_model_weights_free(&grads2);
  vdit_model_weights_free(&grads);
  vdit_model_weights_free(&w);
  vdit_model_weights_free(&master);
  vdit_model_weights_free(&host);
  vdit_safetensors_close(inputs);
  vdit_safetensors_close(golden);
}

int main(void) {
  int count = 0;
  if (!vdit_built_with_cuda()) return check_skip(TEST_NAME, "built without CUDA");
  if (vdit_gpu_count(&count) != VDIT_OK || count == 0) return check_skip(TEST_NAME, "no CUDA GPU");
  const char *data = getenv("VDIT_TEST_DATA");
  if (!data) {
    fprintf(stderr, TEST_NAME ": VDIT_TEST_DATA must be set (ctest sets it)\n");
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
  }
  return check_finish(TEST_NAME);
}
