// vdit capture: runs one forward pass of a model and writes chosen blocks' self-attention
// Q, K, V (after RMSNorm and RoPE) to a safetensors file, for `vdit attn check --qkv`.
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "model_source.h"
#include "vdit/vdit.h"

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
  cli_option options[MODEL_SOURCE_OPTION_COUNT + 5];
  model_source_options(&source, options);
  cli_option extra[5] = {
      {"layers", CLI_STRING, &layers_text, "LIST", "blocks to capture, e.g. 0,5,29 (default all)"},
      {"output", CLI_STRING, &output, "FILE", "the safetensors file to write (also -o FILE)"},
      {"policy", CLI_STRING, &policy_text, "SPEC", "attention policy of the pass (docs/model.md; default dense)"},
      {"step", CLI_INT, &step, "N", "sampling step the pass stands for (policy and metadata; default 0)"},
      {"json", CLI_FLAG, &json, NULL, "print one JSON object"},
  };
  memcpy(options + MODEL_SOURCE_OPTION_COUNT, extra, sizeof extra);
  int code = cli_parse(&cli_command_capture,
                       "Runs one forward pass of a Wan2.1 model on seeded random inputs (or --inputs) and writes\n"
                       "the self-attention Q, K, V (B, L, heads, head_dim; after RMSNorm and RoPE) of the chosen\n"
                       "blocks to a safetensors file: blocks.N.q, blocks.N.k, blocks.N.v, with the token grid\n"
                       "(frames, height, width), layers, step and timestep in its metadata. 'vdit attn check\n"
                       "--qkv FILE:LAYER' then judges attention methods on these real activations.",
                       options, MODEL_SOURCE_OPTION_COUNT + 5, argc, args, NULL, 0, NULL);
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
    .usage = "vdit capture --model PATH [--layers 0,5,29] [--frames F --height H --width W] [--timestep T] [--seed S] -o FILE",
    .run = run_capture,
};
