// vdit generate: text to video with a model bundle (models/vdit-world-s by default): Euler
// flow-matching steps with the timestep shift and classifier-free guidance, written as GIF,
// PNG (frames as a grid) or Y4M by the world layer's encoders (vdit_video_write).
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "vdit/build_config.h"
#include "vdit/pipe.h"
#ifdef VDIT_HAVE_WORLD
#include "vdit/world.h"
#endif

#define DEFAULT_MODEL "models/vdit-world-s"

// The default model: ./models/vdit-world-s, else the source tree's.
static const char *default_model(char *buffer, size_t size) {
  struct stat st;
  if (stat(DEFAULT_MODEL, &st) == 0) return DEFAULT_MODEL;
  snprintf(buffer, size, "%s/%s", VDIT_BUILD_SOURCE_DIR, DEFAULT_MODEL);
  if (stat(buffer, &st) == 0) return buffer;
  return DEFAULT_MODEL;
}

static int has_extension(const char *path) {
  const char *dot = strrchr(path, '.');
  if (!dot) return 0;
  const char *known[] = {".gif", ".png", ".y4m", ".GIF", ".PNG", ".Y4M"};
  for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
    if (strcmp(dot, known[i]) == 0) return 1;
  return 0;
}

static int run(int argc, char **argv) {
  const char *model = NULL, *output = "out.gif", *attn = "dense";
  int64_t seed = 0, steps = 0;
  double cfg = -1, shift = 0;
  int quiet = 0, json = 0;
  const cli_option options[] = {
      {"model", CLI_STRING, &model, "DIR|FILE", "model bundle folder or .safetensors (default " DEFAULT_MODEL ")"},
      {"output", CLI_STRING, &output, "FILE", "output .gif, .png (frames as a grid) or .y4m (also -o; default out.gif)"},
      {"seed", CLI_INT, &seed, "N", "noise seed (default 0)"},
      {"steps", CLI_INT, &steps, "N", "Euler steps (default: the model's, 20 for vdit-world-s)"},
      {"cfg", CLI_DOUBLE, &cfg, "X", "classifier-free guidance scale; 1 turns it off (default: the model's)"},
      {"shift", CLI_DOUBLE, &shift, "X", "timestep shift (default: the model's)"},
      {"attn", CLI_STRING, &attn, "POLICY", "self-attention method per block and step: 'sage', 'sparge(topk=0.2)', 'sparge:steps=4-;dense' or a .json file (default dense; docs/model.md)"},
      {"quiet", CLI_FLAG, &quiet, NULL, "no progress line"},
      {"json", CLI_FLAG, &json, NULL, "print one JSON object (output, seconds, per-step model times)"},
  };
  // -o is --output.
  char **args = malloc((size_t)argc * sizeof *args);
  if (!args) return CLI_EXIT_FAILURE;
  for (int i = 0; i < argc; i++) args[i] = strcmp(argv[i], "-o") == 0 ? (char *)"--output" : argv[i];
  const char *positional[1];
  int positional_count = 0;
  int code = cli_parse(&cli_command_generate,
                       "Generates a clip from a text prompt with a trained model bundle: Euler flow-matching\n"
                       "steps with the timestep shift and classifier-free guidance (conditional and empty\n"
                       "prompt in one batch of 2). Prompt words must be in the model's vocabulary.",
                       options, (int)(sizeof options / sizeof options[0]), argc, args, positional, 1,
                       &positional_count);
  free(args);
  if (code >= 0) return code;
  const char *hint = "see 'vdit generate --help'";
  if (positional_count == 0) return cli_usage_error("generate", hint, "missing the \"PROMPT\" argument");
  if (seed < 0) return cli_usage_error("generate", hint, "--seed must be >= 0");
  if (steps < 0 || steps > 10000) return cli_usage_error("generate", hint, "--steps must be in 1..10000");
  if (cfg != -1 && !(cfg >= 0 && cfg <= 100)) return cli_usage_error("generate", hint, "--cfg must be in [0, 100]");
  if (shift != 0 && !(shift > 0 && shift <= 100)) return cli_usage_error("generate", hint, "--shift must be in (0, 100]");
  if (!has_extension(output))
    return cli_usage_error("generate", hint, "-o %s: the file must end in .gif, .png or .y4m", output);
  vdit_generate_options generate;
  vdit_generate_options_default(&generate);
  vdit_model_attn_policy attention;
  vdit_status parsed = vdit_model_attn_policy_load(attn, &attention);
  if (parsed != VDIT_OK) return cli_usage_error("generate", hint, "%s", vdit_last_error());
  generate.attention = &attention;
  generate.prompt = positional[0];
  generate.seed = (uint64_t)seed;
  generate.steps = steps;
  generate.cfg = cfg;
  generate.shift = shift;
  generate.progress = quiet || json ? NULL : stderr;

  char model_buffer[2048];
  if (!model) model = default_model(model_buffer, sizeof model_buffer);
  const double start = vdit_time_seconds();
  vdit_bundle bundle;
  vdit_status status = vdit_bundle_load(model, &bundle);
  if (status != VDIT_OK) return cli_report_failure("generate", status);
  const vdit_bundle_config *c = &bundle.config;
  const size_t n = (size_t)(3 * c->frames * c->height * c->width);
  float *pixels = malloc(n * sizeof *pixels);
  const int64_t step_count = steps > 0 ? steps : c->sample_steps;
  double *step_seconds = calloc((size_t)step_count, sizeof *step_seconds);
  generate.step_seconds = step_seconds;
  if (!pixels || !step_seconds) status = VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "no memory for the clip");
  if (status == VDIT_OK) status = vdit_pipe_generate(&bundle, &generate, pixels);
#ifdef VDIT_HAVE_WORLD
  if (status == VDIT_OK)
    status = vdit_video_write(output, pixels, c->frames, c->height, c->width, (float)c->fps);
#else
  if (status == VDIT_OK)
    status = VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "this build has no video writer (the world layer, src/world)");
#endif
  const double seconds = vdit_time_seconds() - start;
  if (status == VDIT_OK && json) {
    double fastest = step_seconds[0], total = 0;
    for (int64_t i = 0; i < step_count; i++) {
      total += step_seconds[i];
      if (step_seconds[i] < fastest) fastest = step_seconds[i];
    }
    printf("{\"output\": ");
    cli_print_json_string(output);
    printf(", \"seconds\": %.3f, \"steps\": %lld, \"cfg_batch\": %d, \"model_seconds\": %.3f, "
           "\"step_seconds_min\": %.4f, \"frames\": %lld, \"height\": %lld, \"width\": %lld}\n",
           seconds, (long long)step_count, (generate.cfg >= 0 ? generate.cfg : c->sample_cfg) > 1 ? 2 : 1, total,
           fastest, (long long)c->frames, (long long)c->height, (long long)c->width);
  } else if (status == VDIT_OK)
    printf("wrote %s: %lld frames of %lldx%lld, \"%s\", seed %lld, in %.1f s\n", output, (long long)c->frames,
           (long long)c->height, (long long)c->width, generate.prompt, (long long)seed, seconds);
  free(pixels);
  free(step_seconds);
  vdit_bundle_free(&bundle);
  return status == VDIT_OK ? CLI_EXIT_OK : cli_report_failure("generate", status);
}

const cli_command cli_command_generate = {"generate", "generate a video clip from a text prompt",
                                          "vdit generate \"PROMPT\" [options] -o out.gif|out.png|out.y4m", run};
