// Text to video with a model bundle: tokens -> context, noise from the seed, Euler steps of
// the model's velocity with classifier-free guidance (conditional and unconditional as one
// batch of 2), pixels mapped from [-1, 1] to [0, 1].
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vdit/pipe.h"

void vdit_generate_options_default(vdit_generate_options *options) {
  memset(options, 0, sizeof *options);
  options->prompt = "";
  options->seed = 0;
  options->steps = 0;
  options->cfg = -1;
  options->shift = 0;
  options->attention = NULL;
}

typedef struct generate_run {
  const vdit_bundle *bundle;
  const vdit_generate_options *options;
  double cfg;
  int64_t batch;               // 2 with guidance (cond, uncond), else 1
  vdit_tensor video, timesteps, context, output; // (batch, 3, F, H, W), (batch), (batch, S, D_txt), like video
  vdit_attn_method_config *methods; // layers entries: the step's methods (refilled each step)
} generate_run;

static vdit_status model_velocity(void *user, int64_t step, double sigma, const float *x, float *velocity, size_t n) {
  generate_run *r = user;
  const double start = vdit_time_seconds();
  float *video = r->video.data;
  for (int64_t b = 0; b < r->batch; b++) {
    memcpy(video + (size_t)b * n, x, n * sizeof(float));
    ((float *)r->timesteps.data)[b] = (float)(1000.0 * sigma);
  }
  vdit_model_run_options run = {0};
  vdit_model_attn_policy_fill(r->options->attention, r->bundle->config.model.layers, step, r->methods);
  run.self_attn = r->methods;
  const vdit_model_run_options *hooks = r->options->hooks;
  if (hooks) {
    run.observe = hooks->observe, run.observe_user = hooks->observe_user;
    run.tamper = hooks->tamper, run.tamper_user = hooks->tamper_user;
  }
  VDIT_TRY(vdit_model_forward(&r->bundle->weights, &run, &r->video, &r->timesteps, &r->context, &r->output, NULL));
  const float *out = r->output.data;
  if (r->batch == 2) vdit_pipe_guidance(out, out + n, r->cfg, velocity, n);
  else memcpy(velocity, out, n * sizeof(float));
  if (r->options->step_seconds) r->options->step_seconds[step] = vdit_time_seconds() - start;
  return VDIT_OK;
}

vdit_status vdit_pipe_generate(const vdit_bundle *bundle, const vdit_generate_options *options, float *pixels) {
  if (!bundle || !options || !pixels || !options->prompt)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_pipe_generate: NULL argument");
  const vdit_bundle_config *c = &bundle->config;
  const int64_t steps = options->steps > 0 ? options->steps : c->sample_steps;
  const double cfg = options->cfg >= 0 ? options->cfg : c->sample_cfg;
  const double shift = options->shift > 0 ? options->shift : c->sample_shift;
  if (steps > 10000) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "--steps %lld is more than 10000", (long long)steps);
  if (!(cfg <= 100) || !(shift <= 100))
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "cfg %g and shift %g must be at most 100", cfg, shift);
  generate_run r;
  memset(&r, 0, sizeof r);
  r.bundle = bundle;
  r.options = options;
  r.cfg = cfg;
  r.batch = cfg > 1 ? 2 : 1; // cfg 1 is the conditional model alone
  const int64_t S = c->text_length, D = c->model.text_dim;
  int32_t *tokens = calloc((size_t)(2 * S), sizeof *tokens); // row 1: the empty caption
  if (!tokens) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "generate: no memory");
  vdit_status status = vdit_bundle_tokenize(bundle, options->prompt, tokens);
  const int64_t video_shape[5] = {r.batch, 3, c->frames, c->height, c->width};
  const int64_t context_shape[3] = {r.batch, S, D}, batch_shape[1] = {r.batch};
  if (status == VDIT_OK) status = vdit_tensor_alloc(&r.video, VDIT_DTYPE_F32, VDIT_CPU, 5, video_shape);
  if (status == VDIT_OK) status = vdit_tensor_alloc(&r.output, VDIT_DTYPE_F32, VDIT_CPU, 5, video_shape);
  if (status == VDIT_OK) status = vdit_tensor_alloc(&r.context, VDIT_DTYPE_F32, VDIT_CPU, 3, context_shape);
  if (status == VDIT_OK) status = vdit_tensor_alloc(&r.timesteps, VDIT_DTYPE_F32, VDIT_CPU, 1, batch_shape);
  r.methods = calloc((size_t)c->model.layers, sizeof *r.methods);
  if (status == VDIT_OK && !r.methods) status = VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "generate: no memory");
  if (status == VDIT_OK && options->attention) status = vdit_model_attn_policy_check(options->attention, c->model.layers);
  if (status == VDIT_OK) {
    status = vdit_text_embed(bundle->token_table, c->vocab, D, tokens, r.batch, S, r.context.data);
  }
  const size_t n = (size_t)(3 * c->frames * c->height * c->width);
  if (status == VDIT_OK) {
    vdit_rng_normal(options->seed, 0, n, pixels); // the start noise, sampled in place
    vdit_progress progress;
    if (options->progress) vdit_progress_begin(&progress, "generate", (uint64_t)steps, options->progress);
    status = vdit_pipe_sample_euler(model_velocity, &r, pixels, n, steps, shift, options->progress ? &progress : NULL);
    if (status == VDIT_OK && options->progress) vdit_progress_end(&progress, NULL);
  }
  if (status == VDIT_OK)
    for (size_t i = 0; i < n; i++) {
      float p = 0.5f * (pixels[i] + 1.0f);
      pixels[i] = isnan(p) ? p : p < 0 ? 0.0f : p > 1 ? 1.0f : p;
    }
  vdit_tensor_free(&r.video);
  vdit_tensor_free(&r.output);
  vdit_tensor_free(&r.context);
  vdit_tensor_free(&r.timesteps);
  free(r.methods);
  free(tokens);
  return status;
}
