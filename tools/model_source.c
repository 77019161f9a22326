// Models and inputs for the model-driven commands (model_source.h).
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_source.h"
#include "vdit/train.h"

void model_source_defaults(model_source_flags *f) {
  memset(f, 0, sizeof *f);
  f->batch = 1, f->frames = 3, f->height = 8, f->width = 8, f->text_tokens = 16;
  f->timestep = 500;
}

void model_source_options(model_source_flags *f, cli_option *o) {
  const cli_option table[MODEL_SOURCE_OPTION_COUNT] = {
      {"model", CLI_STRING, &f->model, "PATH", "checkpoint (.safetensors or folder), or random:dim=256,heads=4,layers=8,... (random weights)"},
      {"config", CLI_STRING, &f->config, "FILE", "the checkpoint's config.json (default: the folder's)"},
      {"inputs", CLI_STRING, &f->inputs, "FILE", "inputs (hidden_states, timestep, encoder_hidden_states) instead of random ones"},
      {"batch", CLI_INT, &f->batch, "B", "random inputs: batch (default 1)"},
      {"frames", CLI_INT, &f->frames, "F", "random inputs: latent frames (default 3)"},
      {"height", CLI_INT, &f->height, "H", "random inputs: latent height (default 8)"},
      {"width", CLI_INT, &f->width, "W", "random inputs: latent width (default 8)"},
      {"text-tokens", CLI_INT, &f->text_tokens, "S", "random inputs: text tokens (default 16)"},
      {"timestep", CLI_DOUBLE, &f->timestep, "T", "random inputs: diffusion timestep 0..1000 (default 500)"},
      {"seed", CLI_INT, &f->seed, "N", "Philox seed of the random inputs (default 0)"},
      {"weight-seed", CLI_INT, &f->weight_seed, "N", "Philox seed of random:... weights (default 0)"},
  };
  memcpy(o, table, sizeof table);
}

void model_run_inputs_free(model_run_inputs *in) {
  vdit_tensor_free(&in->video);
  vdit_tensor_free(&in->timesteps);
  vdit_tensor_free(&in->context);
  vdit_tensor_free(&in->output);
}

static vdit_status copy_input(const vdit_safetensors *file, const char *name, vdit_tensor *out) {
  vdit_tensor view;
  VDIT_TRY(vdit_safetensors_tensor(file, name, &view));
  VDIT_TRY(vdit_tensor_alloc(out, VDIT_DTYPE_F32, VDIT_CPU, view.ndim, view.shape));
  return vdit_tensor_convert(out, &view);
}

static vdit_status read_inputs(const char *path, model_run_inputs *in) {
  vdit_safetensors *file = NULL;
  VDIT_TRY(vdit_safetensors_open(path, &file));
  vdit_status status = copy_input(file, "hidden_states", &in->video);
  if (status == VDIT_OK) status = copy_input(file, "timestep", &in->timesteps);
  if (status == VDIT_OK) status = copy_input(file, "encoder_hidden_states", &in->context);
  vdit_safetensors_close(file);
  return status;
}

static vdit_status random_inputs(const model_source_flags *f, const vdit_model_config *c, model_run_inputs *in) {
  int64_t video[5] = {f->batch, c->in_channels, f->frames, f->height, f->width};
  int64_t context[3] = {f->batch, f->text_tokens, c->text_dim};
  VDIT_TRY(vdit_tensor_alloc(&in->video, VDIT_DTYPE_F32, VDIT_CPU, 5, video));
  VDIT_TRY(vdit_tensor_alloc(&in->timesteps, VDIT_DTYPE_F32, VDIT_CPU, 1, &f->batch));
  VDIT_TRY(vdit_tensor_alloc(&in->context, VDIT_DTYPE_F32, VDIT_CPU, 3, context));
  // disjoint Philox ranges: video at 0, context at 2^40
  VDIT_TRY(vdit_tensor_fill_normal(&in->video, (uint64_t)f->seed, 0, 0, 1));
  VDIT_TRY(vdit_tensor_fill_normal(&in->context, (uint64_t)f->seed, (uint64_t)1 << 40, 0, 1));
  float *t = in->timesteps.data;
  for (int64_t b = 0; b < f->batch; b++) t[b] = (float)f->timestep;
  return VDIT_OK;
}

// The bundle prompt, tokenized and embedded with the bundle's table: (B, text_length, D_txt).
static const char *const bundle_prompt = "a red cube and a blue sphere on a checkered floor, the camera orbits left";

static vdit_status bundle_context(const vdit_bundle *bundle, int64_t batch, vdit_tensor *context) {
  const int64_t length = bundle->config.text_length, dim = bundle->config.model.text_dim;
  int32_t *tokens = malloc((size_t)(length * batch + 1) * sizeof *tokens);
  if (!tokens) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "no memory for the prompt");
  vdit_status status = vdit_bundle_tokenize(bundle, bundle_prompt, tokens);
  for (int64_t b = 1; b < batch; b++) memcpy(tokens + b * length, tokens, (size_t)length * sizeof *tokens);
  vdit_tensor_free(context);
  const int64_t shape[3] = {batch, length, dim};
  if (status == VDIT_OK) status = vdit_tensor_alloc(context, VDIT_DTYPE_F32, VDIT_CPU, 3, shape);
  if (status == VDIT_OK)
    status = vdit_text_embed(bundle->token_table, bundle->config.vocab, dim, tokens, batch, length, context->data);
  free(tokens);
  return status;
}

int model_source_open(const char *command, const char *hint, const model_source_flags *f, vdit_model_weights *w,
                      model_run_inputs *in) {
  memset(w, 0, sizeof *w);
  memset(in, 0, sizeof *in);
  if (!f->model) return cli_usage_error(command, hint, "--model is required (a checkpoint or random:dim=...)");
  if (f->batch < 1 || f->frames < 1 || f->height < 1 || f->width < 1 || f->text_tokens < 1 || f->batch > 64 ||
      f->frames > 4096 || f->height > 4096 || f->width > 4096 || f->text_tokens > 4096)
    return cli_usage_error(command, hint, "--batch, --frames, --height, --width and --text-tokens must be in 1..4096 (batch 1..64)");
  if (!(f->timestep >= 0 && f->timestep <= 1000)) return cli_usage_error(command, hint, "--timestep must be in 0..1000");
  if (f->seed < 0 || f->weight_seed < 0) return cli_usage_error(command, hint, "--seed and --weight-seed must be >= 0");
  vdit_status status;
  if (strncmp(f->model, "random:", 7) == 0) {
    vdit_model_config config;
    status = vdit_model_config_parse(f->model + 7, &config);
    if (status == VDIT_OK) status = vdit_model_weights_alloc(&config, w);
    if (status == VDIT_OK) vdit_model_weights_fill_random(w, (uint64_t)f->weight_seed);
  } else {
    status = vdit_model_load(f->model, f->config, w);
  }
  // a model bundle (vdit train's output, e.g. models/vdit-world-s): its DiT, and its text table
  // embeds the bundle prompt below instead of a random context
  vdit_bundle bundle;
  memset(&bundle, 0, sizeof bundle);
  if (status != VDIT_OK && strncmp(f->model, "random:", 7) != 0 && vdit_bundle_load(f->model, &bundle) == VDIT_OK) {
    *w = bundle.weights;
    memset(&bundle.weights, 0, sizeof bundle.weights);
    status = VDIT_OK;
  }
  if (status != VDIT_OK) return cli_report_failure(command, status);
  const vdit_model_config *c = &w->config;
  status = f->inputs ? read_inputs(f->inputs, in) : random_inputs(f, c, in);
  if (status == VDIT_OK && !f->inputs && bundle.token_table) status = bundle_context(&bundle, f->batch, &in->context);
  vdit_bundle_free(&bundle);
  if (status == VDIT_OK && (in->video.ndim != 5 || in->video.shape[1] != c->in_channels))
    status = VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "the video must be (B, %" PRId64 ", F, H, W)", c->in_channels);
  if (status == VDIT_OK) {
    int64_t shape[5] = {in->video.shape[0], c->out_channels, 0, 0, 0};
    for (int a = 0; a < 3; a++) {
      in->grid[a] = in->video.shape[2 + a] / c->patch[a];
      shape[2 + a] = in->grid[a] * c->patch[a];
    }
    if (in->grid[0] < 1 || in->grid[1] < 1 || in->grid[2] < 1)
      status = VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "the video is smaller than one (%" PRId64 ", %" PRId64 ", %" PRId64 ") patch",
                          c->patch[0], c->patch[1], c->patch[2]);
    else status = vdit_tensor_alloc(&in->output, VDIT_DTYPE_F32, VDIT_CPU, 5, shape);
  }
  if (status != VDIT_OK) {
    model_run_inputs_free(in);
    vdit_model_weights_free(w);
    return cli_report_failure(command, status);
  }
  return -1;
}

void model_source_describe(const model_source_flags *f, const vdit_model_weights *w, char *buffer, size_t size) {
  char config[256];
  snprintf(buffer, size, "%s: %s", f->model, vdit_model_config_describe(&w->config, config, sizeof config));
}
