// vdit capture: runs one forward pass of a model and writes chosen blocks' self-attention
// Q, K, V (after RMSNorm and RoPE) to a safetensors file, for `vdit attn check --qkv`.
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "model_source.h"
#include "vdit/vdit.h"

// Capture during sampling with a model bundle: forwards every observed tensor to the
// capture only during model call `target` (call i of the sampler is Euler step i; with
// guidance its batch is (conditional, unconditional)). A call starts with "time.sinusoid".
typedef struct sampler_capture {
  vdit_model_capture *capture;
  int64_t call;   // model calls begun so far
  int64_t target; // the call to capture (0-based)
} sampler_capture;

static vdit_status observe_one_call(void *user, const char *name, const vdit_tensor *tensor) {
  sampler_capture *s = user;
  if (strcmp(name, "time.sinusoid") == 0) s->call++;
  return s->call - 1 == s->target ? vdit_model_capture_observe(s->capture, name, tensor) : VDIT_OK;
}

typedef struct bundle_flags {
  const char *bundle, *prompt;
  int64_t steps; // sampler steps (0: the bundle's)
  double cfg;    // < 0: the bundle's
} bundle_flags;

// `vdit capture --bundle`: runs the bundle's sampler (vdit_pipe_generate) and keeps Q, K, V
// of sampler step `step`. Returns an exit code.
static int capture_bundle(const bundle_flags *f, const vdit_model_attn_policy *policy, const int64_t *layers,
                          int layer_count, int64_t step, uint64_t seed, const char *output, int json) {
  vdit_bundle bundle;
  vdit_status status = vdit_bundle_load(f->bundle, &bundle);
  if (status != VDIT_OK) return cli_report_failure("capture", status);
  const vdit_bundle_config *c = &bundle.config;
  const int64_t steps = f->steps > 0 ? f->steps : c->sample_steps;
  const double cfg = f->cfg >= 0 ? f->cfg : c->sample_cfg;
  if (step >= steps)
    status = VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "--step %lld: the sampler runs steps 0..%lld", (long long)step,
                        (long long)steps - 1);
  for (int i = 0; i < layer_count && status == VDIT_OK; i++)
    if (layers[i] >= c->model.layers)
      status = VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "--layers names block %" PRId64 " but the model has %" PRId64,
                          layers[i], c->model.layers);
  sampler_capture observer = {NULL, 0, step};
  if (status == VDIT_OK) status = vdit_model_capture_create(layer_count ? layers : NULL, (size_t)layer_count, &observer.capture);
  const size_t n = (size_t)(3 * c->frames * c->height * c->width);
  float *pixels = malloc(n * sizeof *pixels);
  double *sigmas = malloc((size_t)(steps + 1) * sizeof *sigmas);
  if (status == VDIT_OK && (!pixels || !sigmas)) status = VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "no memory");
  double seconds = 0;
  if (status == VDIT_OK) {
    vdit_generate_options g;
    vdit_generate_options_default(&g);
    g.prompt = f->prompt;
    g.seed = seed;
    g.steps = steps;
    g.cfg = cfg;
    g.attention = policy;
    vdit_model_run_options hooks = {.observe = observe_one_call, .observe_user = &observer};
    g.hooks = &hooks;
    const double start = vdit_time_seconds();
    status = vdit_pipe_generate(&bundle, &g, pixels);
    seconds = vdit_time_seconds() - start;
  }
  const int64_t *patch = c->model.patch;
  vdit_model_capture_info info = {{c->frames / patch[0], c->height / patch[1], c->width / patch[2]}, step, 0};
  if (status == VDIT_OK) {
    vdit_pipe_sigmas(steps, c->sample_shift, sigmas);
    info.timestep = (double)(float)(1000.0 * sigmas[step]); // as the sampler feeds it (f32)
    status = vdit_model_capture_write(observer.capture, output, &info);
  }
  if (status == VDIT_OK) {
    const vdit_tensor *q = NULL;
    const size_t count = vdit_model_capture_layer_count(observer.capture);
    for (int64_t l = 0; l < c->model.layers && !q; l++) q = vdit_model_capture_tensor(observer.capture, l, 'q');
    if (json) {
      printf("{\"output\": ");
      cli_print_json_string(output);
      printf(", \"bundle\": ");
      cli_print_json_string(f->bundle);
      printf(", \"prompt\": ");
      cli_print_json_string(f->prompt);
      printf(", \"seed\": %llu, \"layers\": %zu, \"shape\": [%" PRId64 ", %" PRId64 ", %" PRId64 ", %" PRId64
             "], \"grid\": [%" PRId64 ", %" PRId64 ", %" PRId64 "], \"step\": %" PRId64 ", \"steps\": %" PRId64
             ", \"timestep\": %g, \"sample_seconds\": %.3f}\n",
             (unsigned long long)seed, count, q->shape[0], q->shape[1], q->shape[2], q->shape[3], info.grid[0],
             info.grid[1], info.grid[2], step, steps, info.timestep, seconds);
    } else {
      printf("capture: %s, \"%s\", seed %llu, step %" PRId64 " of %" PRId64 " (batch %s)\n", f->bundle, f->prompt,
             (unsigned long long)seed, step, steps, q->shape[0] == 2 ? "0 conditional, 1 unconditional" : "0 conditional");
      printf("wrote %s: Q, K, V of %zu block%s, each (B %" PRId64 ", L %" PRId64 " = %" PRId64 " x %" PRId64 " x %" PRId64
             ", heads %" PRId64 ", head_dim %" PRId64 "), timestep %g (sampling %.1f s)\n",
             output, count, count == 1 ? "" : "s", q->shape[0], q->shape[1], info.grid[0], info.grid[1], info.grid[2],
             q->shape[2], q->shape[3], info.timestep, seconds);
    }
  }
  free(pixels);
  free(sigmas);
  vdit_model_capture_free(observer.capture);
  vdit_bundle_free(&bundle);
  return status == VDIT_OK ? CLI_EXIT_OK : cli_report_failure("capture", status);
}

// "0,5,29" into layers (at most max); the count, or -1 on a bad list.
static int parse_layers(const char *text, int64_t *layers, int max) {
  int count = 0;
  const char *p = text;
  while (*p) {
    char *end = NULL;
    long long n = strtoll(p, &end, 10);
    if (end == p || n < 0 || count == max || (*end != ',' && *end != '\0')) return -1;
    layers[count++] = n;
    p = *end ? end + 1 : end;
    if (*end == ',' && !*p) return -1;
  }
  return count;
}

static int run_capture(int argc, char **argv) {
  // -o FILE is --output FILE
  char **args = malloc((size_t)(argc + 1) * sizeof *args);
  if (!args) return cli_report_failure("capture", VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "no memory"));
  for (int i = 0; i < argc; i++) args[i] = strcmp(argv[i], "-o") == 0 ? "--output" : argv[i];
  args[argc] = NULL;
  model_source_flags source;
  model_source_defaults(&source);
  const char *layers_text = NULL, *output = NULL, *policy_text = "dense";
  int64_t step = 0;
  int json = 0;
  bundle_flags bundle = {NULL, "", 0, -1};
  enum { EXTRA = 9 };
  cli_option options[MODEL_SOURCE_OPTION_COUNT + EXTRA];
  model_source_options(&source, options);
  cli_option extra[EXTRA] = {
      {"bundle", CLI_STRING, &bundle.bundle, "DIR", "capture during sampling with this model bundle (instead of --model)"},
      {"prompt", CLI_STRING, &bundle.prompt, "TEXT", "--bundle: the caption to sample (words of the bundle's vocabulary)"},
      {"steps", CLI_INT, &bundle.steps, "N", "--bundle: sampler steps (default: the bundle's)"},
      {"cfg", CLI_DOUBLE, &bundle.cfg, "X", "--bundle: guidance scale; > 1 gives batch 2 (cond, uncond; default: the bundle's)"},
      {"layers", CLI_STRING, &layers_text, "LIST", "blocks to capture, e.g. 0,5,29 (default all)"},
      {"output", CLI_STRING, &output, "FILE", "the safetensors file to write (also -o FILE)"},
      {"policy", CLI_STRING, &policy_text, "SPEC", "attention policy of the pass (docs/model.md; default dense)"},
      {"step", CLI_INT, &step, "N", "sampling step the pass stands for (policy and metadata; with --bundle the step captured; default 0)"},
      {"json", CLI_FLAG, &json, NULL, "print one JSON object"},
  };
  memcpy(options + MODEL_SOURCE_OPTION_COUNT, extra, sizeof extra);
  int code = cli_parse(&cli_command_capture,
                       "Runs one forward pass of a Wan2.1 model on seeded random inputs (or --inputs) and writes\n"
                       "the self-attention Q, K, V (B, L, heads, head_dim; after RMSNorm and RoPE) of the chosen\n"
                       "blocks to a safetensors file: blocks.N.q, blocks.N.k, blocks.N.v, with the token grid\n"
                       "(frames, height, width), layers, step and timestep in its metadata. 'vdit attn check\n"
                       "--qkv FILE:LAYER' then judges attention methods on these real activations. With --bundle\n"
                       "it runs the bundle's sampler (--prompt, --seed, --policy for every step) and captures the\n"
                       "model call of sampler step --step (batch 0 conditional, 1 unconditional when cfg > 1).",
                       options, MODEL_SOURCE_OPTION_COUNT + EXTRA, argc, args, NULL, 0, NULL);
  free(args);
  if (code >= 0) return code;
  const char *hint = "see 'vdit capture --help'";
  if (!output) return cli_usage_error("capture", hint, "--output FILE (or -o FILE) is required");
  int64_t layers[256];
  int layer_count = 0;
  if (layers_text) {
    layer_count = parse_layers(layers_text, layers, 256);
    if (layer_count <= 0) return cli_usage_error("capture", hint, "--layers must be a list like 0,5,29, got '%s'", layers_text);
  }
  if (step < 0) return cli_usage_error("capture", hint, "--step must be >= 0");
  vdit_model_attn_policy policy;
  if (vdit_model_attn_policy_load(policy_text, &policy) != VDIT_OK) return cli_usage_error("capture", hint, "%s", vdit_last_error());

  if (bundle.bundle) {
    if (source.model) return cli_usage_error("capture", hint, "give --model or --bundle, not both");
    if (bundle.steps < 0 || bundle.steps > 10000) return cli_usage_error("capture", hint, "--steps must be in 1..10000");
    if (bundle.cfg != -1 && !(bundle.cfg >= 0 && bundle.cfg <= 100))
      return cli_usage_error("capture", hint, "--cfg must be in [0, 100]");
    if (source.seed < 0) return cli_usage_error("capture", hint, "--seed must be >= 0");
    return capture_bundle(&bundle, &policy, layers, layer_count, step, (uint64_t)source.seed, output, json);
  }
  vdit_model_weights w;
  model_run_inputs in;
  code = model_source_open("capture", hint, &source, &w, &in);
  if (code >= 0) return code;
  vdit_status status = vdit_model_attn_policy_check(&policy, w.config.layers);
  for (int i = 0; i < layer_count && status == VDIT_OK; i++)
    if (layers[i] >= w.config.layers)
      status = VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "--layers names block %" PRId64 " but the model has %" PRId64 " (0..%" PRId64 ")",
                          layers[i], w.config.layers, w.config.layers - 1);
  vdit_attn_method_config *methods = malloc((size_t)w.config.layers * sizeof *methods);
  if (status == VDIT_OK && !methods) status = VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "no memory");
  vdit_model_capture *capture = NULL;
  if (status == VDIT_OK) status = vdit_model_capture_create(layer_count ? layers : NULL, (size_t)layer_count, &capture);
  double seconds = 0;
  if (status == VDIT_OK) {
    vdit_model_attn_policy_fill(&policy, w.config.layers, step, methods);
    vdit_model_run_options run = {.self_attn = methods, .observe = vdit_model_capture_observe, .observe_user = capture};
    double start = vdit_time_seconds();
    status = vdit_model_forward(&w, &run, &in.video, &in.timesteps, &in.context, &in.output, NULL);
    seconds = vdit_time_seconds() - start;
  }
  const float *t = in.timesteps.data;
  vdit_model_capture_info info = {{in.grid[0], in.grid[1], in.grid[2]}, step, t ? t[0] : 0};
  if (status == VDIT_OK) status = vdit_model_capture_write(capture, output, &info);
  if (status == VDIT_OK) {
    const vdit_tensor *q = NULL;
    size_t count = vdit_model_capture_layer_count(capture);
    for (int64_t n = 0; n < w.config.layers && !q; n++) q = vdit_model_capture_tensor(capture, n, 'q');
    char description[512];
    model_source_describe(&source, &w, description, sizeof description);
    if (json) {
      printf("{\"output\": ");
      cli_print_json_string(output);
      printf(", \"layers\": %zu, \"shape\": [%" PRId64 ", %" PRId64 ", %" PRId64 ", %" PRId64 "], \"grid\": [%" PRId64
             ", %" PRId64 ", %" PRId64 "], \"step\": %" PRId64 ", \"timestep\": %g, \"forward_ms\": %.3f}\n",
             count, q->shape[0], q->shape[1], q->shape[2], q->shape[3], in.grid[0], in.grid[1], in.grid[2], step,
             info.timestep, seconds * 1e3);
    } else {
      printf("capture: %s\n", description);
      printf("wrote %s: Q, K, V of %zu block%s, each (B %" PRId64 ", L %" PRId64 " = %" PRId64 " x %" PRId64 " x %" PRId64
             ", heads %" PRId64 ", head_dim %" PRId64 "), timestep %g (forward %.1f ms)\n",
             output, count, count == 1 ? "" : "s", q->shape[0], q->shape[1], in.grid[0], in.grid[1], in.grid[2],
             q->shape[2], q->shape[3], info.timestep, seconds * 1e3);
    }
  }
  vdit_model_capture_free(capture);
  free(methods);
  model_run_inputs_free(&in);
  vdit_model_weights_free(&w);
  if (status != VDIT_OK) return cli_report_failure("capture", status);
  return CLI_EXIT_OK;
}

const cli_command cli_command_capture = {
    .name = "capture",
    .summary = "write a model's self-attention Q/K/V of chosen blocks to safetensors",
    .usage = "vdit capture --model PATH [--layers 0,5,29] [--frames F --height H --width W] [--timestep T] [--seed S] -o FILE\n"
             "       vdit capture --bundle DIR --prompt TEXT [--seed S] [--step N] [--steps N] [--cfg X] [--policy SPEC] [--layers L] -o FILE",
    .run = run_capture,
};
