// vdit world: renders one clip of the procedural world (a seed, or a caption plus a seed),
// writes it as GIF, PNG grid or Y4M, and prints its caption and camera poses.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "vdit/world.h"

static const char *const hint = "see 'vdit world --help'";

// "H", "HxW" -> sizes in 2..4096; -1 to go on or an exit code.
static int parse_size(const char *text, int64_t *height, int64_t *width) {
  char *end = NULL;
  long long h = strtoll(text, &end, 10), w = h;
  if (end != text && (*end == 'x' || *end == 'X')) {
    const char *rest = end + 1;
    w = strtoll(rest, &end, 10);
    if (end == rest) end = (char *)text;
  }
  if (end == text || *end != '\0' || h < 2 || w < 2 || h > 4096 || w > 4096)
    return cli_usage_error("world", hint, "--size must be HxW (or N for NxN) with sides in 2..4096, got '%s'", text);
  *height = h, *width = w;
  return -1;
}

// "a-b" or "a" with 1 <= a <= b <= 4.
static int parse_objects(const char *text, int *lo, int *hi) {
  char *end = NULL;
  long a = strtol(text, &end, 10), b = a;
  if (end != text && *end == '-') {
    const char *rest = end + 1;
    b = strtol(rest, &end, 10);
    if (end == rest) end = (char *)text;
  }
  if (end == text || *end != '\0' || a < 1 || b < a || b > VDIT_WORLD_MAX_OBJECTS)
    return cli_usage_error("world", hint, "--objects must be a-b (or n) with 1 <= a <= b <= %d, got '%s'",
                           VDIT_WORLD_MAX_OBJECTS, text);
  *lo = (int)a, *hi = (int)b;
  return -1;
}

static void print_json(const vdit_world_clip *clip, const char *path, long long seed, double seconds) {
  const vdit_world_config *c = &clip->config;
  printf("{\"seed\": %lld, \"output\": ", seed);
  cli_print_json_string(path);
  printf(", \"frames\": %lld, \"height\": %lld, \"width\": %lld, \"fps\": %g, \"render_seconds\": %.6f, \"caption\": ",
         (long long)c->frames, (long long)c->height, (long long)c->width, (double)c->fps, seconds);
  cli_print_json_string(clip->caption);
  printf(", \"cameras\": [");
  for (int64_t f = 0; f < c->frames; f++) {
    const vdit_world_camera *cam = &clip->cameras[f];
    printf("%s{\"fx\": %.9g, \"fy\": %.9g, \"cx\": %.9g, \"cy\": %.9g, \"world_to_camera\": [", f ? ", " : "",
           (double)cam->fx, (double)cam->fy, (double)cam->cx, (double)cam->cy);
    for (int k = 0; k < 12; k++) printf("%s%.9g", k ? ", " : "", (double)cam->world_to_camera[k]);
    printf("]}");
  }
  printf("]}\n");
}

static void print_text(const vdit_world_clip *clip, const char *path, long long seed, double seconds) {
  const vdit_world_config *c = &clip->config;
  printf("vdit world: seed %lld, %lld frames of %lldx%lld at %g fps -> %s (rendered in %.3f s)\n", seed,
         (long long)c->frames, (long long)c->height, (long long)c->width, (double)c->fps, path, seconds);
  printf("caption: %s\n", clip->caption);
  printf("cameras (intrinsics fx fy cx cy; world_to_camera [R | t] row by row, OpenCV axes):\n");
  for (int64_t f = 0; f < c->frames; f++) {
    const vdit_world_camera *cam = &clip->cameras[f];
    const float *m = cam->world_to_camera;
    printf("%4lld  %.2f %.2f %.2f %.2f  [%7.4f %7.4f %7.4f %8.4f | %7.4f %7.4f %7.4f %8.4f | %7.4f %7.4f %7.4f %8.4f]\n",
           (long long)f, (double)cam->fx, (double)cam->fy, (double)cam->cx, (double)cam->cy, (double)m[0],
           (double)m[1], (double)m[2], (double)m[3], (double)m[4], (double)m[5], (double)m[6], (double)m[7],
           (double)m[8], (double)m[9], (double)m[10], (double)m[11]);
  }
}

// --bench N: renders N clips (seeds seed, seed + 1, ...) with the batch loader, in batches of
// up to 64 clips, and prints the rate.
static int run_bench(const vdit_world_config *config, int64_t seed, int64_t count, int json) {
  enum { BATCH = 64 };
  size_t clip_floats = (size_t)(3 * config->frames * config->height * config->width);
  int64_t batch = count < BATCH ? count : BATCH;
  float *pixels = malloc((size_t)batch * clip_floats * sizeof *pixels);
  uint64_t seeds[BATCH];
  if (!pixels) return cli_report_failure("world", VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "no memory for %lld clips", (long long)batch));
  double start = vdit_time_seconds();
  vdit_status status = VDIT_OK;
  for (int64_t done = 0; done < count && status == VDIT_OK; done += batch) {
    int64_t n = count - done < batch ? count - done : batch;
    for (int64_t i = 0; i < n; i++) seeds[i] = (uint64_t)(seed + done + i);
    status = vdit_world_render_batch(config, seeds, n, pixels, NULL, NULL);
  }
  double seconds = vdit_time_seconds() - start;
  free(pixels);
  if (status != VDIT_OK) return cli_report_failure("world", status);
  double clips = (double)count / seconds, frames = clips * (double)config->frames;
  if (json)
    printf("{\"clips\": %lld, \"frames\": %lld, \"height\": %lld, \"width\": %lld, \"objects\": [%d, %d], "
           "\"seconds\": %.6f, \"clips_per_second\": %.2f, \"frames_per_second\": %.1f}\n",
           (long long)count, (long long)config->frames, (long long)config->height, (long long)config->width,
           config->min_objects, config->max_objects, seconds, clips, frames);
  else
    printf("vdit world: %lld clips of %lld frames of %lldx%lld (%d-%d objects) in %.3f s: %.1f clips/s, "
           "%.0f frames/s, %.0f clips/min\n",
           (long long)count, (long long)config->frames, (long long)config->height, (long long)config->width,
           config->min_objects, config->max_objects, seconds, clips, frames, 60.0 * clips);
  return CLI_EXIT_OK;
}

static int run_world(int argc, char **argv) {
  // -o is the short spelling of --output
  char **args = malloc((size_t)(argc + 1) * sizeof *args);
  if (!args) return cli_report_failure("world", VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "no memory"));
  for (int i = 0; i < argc; i++) args[i] = strcmp(argv[i], "-o") == 0 && i > 0 ? (char *)"--output" : argv[i];
  args[argc] = NULL;

  vdit_world_config config;
  vdit_world_config_default(&config);
  int64_t seed = 1, frames = config.frames;
  double fps = config.fps;
  const char *output = NULL, *size = NULL, *objects = NULL, *caption = NULL;
  int64_t bench = 0;
  int json = 0;
  const cli_option option_table[] = {
      {"seed", CLI_INT, &seed, "N", "the clip's seed: the scene, or what --caption leaves open (default 1)"},
      {"output", CLI_STRING, &output, "FILE", "-o FILE: where to write the clip: .gif, .png (a grid of frames) or .y4m"},
      {"frames", CLI_INT, &frames, "F", "frames in the clip (default 16)"},
      {"size", CLI_STRING, &size, "HxW", "frame size in pixels, or N for NxN (default 32x32)"},
      {"fps", CLI_DOUBLE, &fps, "R", "frame rate of the motions and the file (default 8)"},
      {"objects", CLI_STRING, &objects, "a-b", "how many objects a seed may draw, 1..4 (default 1-3)"},
      {"caption", CLI_STRING, &caption, "TEXT", "render this caption of the world's grammar (docs/world.md)"},
      {"json", CLI_FLAG, &json, NULL, "print one JSON object (caption, per-frame intrinsics and extrinsics)"},
      {"bench", CLI_INT, &bench, "N", "render N clips (seeds from --seed on) without writing, print clips/s"},
  };
  int code = cli_parse(&cli_command_world,
                       "Renders one clip of the procedural 3D world: 1-4 objects (sphere, cube, cylinder, cone,\n"
                       "torus) on a floor under a sky, moving (bouncing, sliding, spinning) while the camera\n"
                       "holds still, orbits, pans, dollies or moves in a loop. Prints the clip's caption and\n"
                       "every frame's camera. The same seed gives the same clip on any machine.\n"
                       "example: vdit world --seed 7 -o clip.gif --size 64x64\n"
                       "         vdit world --caption \"a red cube and a blue sphere bouncing\" -o clip.png\n"
                       "docs/world.md has the caption grammar and the scene parameters.",
                       option_table, (int)(sizeof option_table / sizeof option_table[0]), argc, args, NULL, 0, NULL);
  free(args);
  if (code >= 0) return code;
  if (bench < 0) return cli_usage_error("world", hint, "--bench must be >= 1, got %lld", (long long)bench);
  if (!output && !bench) return cli_usage_error("world", hint, "missing the output file: -o FILE (.gif, .png or .y4m)");
  vdit_video_format format;
  if (output && vdit_video_format_from_path(output, &format) != VDIT_OK)
    return cli_usage_error("world", hint, "%s", vdit_last_error());
  if (frames < 1 || frames > 4096) return cli_usage_error("world", hint, "--frames must be in 1..4096, got %lld", (long long)frames);
  if (!(fps > 0.0 && fps <= 1000.0)) return cli_usage_error("world", hint, "--fps must be in (0, 1000], got %g", fps);
  if (size && (code = parse_size(size, &config.height, &config.width)) >= 0) return code;
  if (objects && (code = parse_objects(objects, &config.min_objects, &config.max_objects)) >= 0) return code;
  config.frames = frames;
  config.fps = (float)fps;
  if (bench) return run_bench(&config, seed, bench, json);

  vdit_world_clip clip;
  double start = vdit_time_seconds();
  vdit_status status = caption ? vdit_world_render_caption(&config, caption, (uint64_t)seed, &clip)
                               : vdit_world_render(&config, (uint64_t)seed, &clip);
  double seconds = vdit_time_seconds() - start;
  if (status != VDIT_OK) return cli_report_failure("world", status);
  status = vdit_video_write(output, clip.pixels, config.frames, config.height, config.width, config.fps);
  if (status != VDIT_OK) {
    vdit_world_clip_free(&clip);
    return cli_report_failure("world", status);
  }
  if (json) print_json(&clip, output, (long long)seed, seconds);
  else print_text(&clip, output, (long long)seed, seconds);
  vdit_world_clip_free(&clip);
  return CLI_EXIT_OK;
}

const cli_command cli_command_world = {
    .name = "world",
    .summary = "render a clip of the procedural 3D world with its caption and cameras",
    .usage = "vdit world [--seed N] -o FILE.gif|.png|.y4m [--frames F] [--size HxW] [--fps R] [--objects a-b] "
             "[--caption TEXT] [--json] [--bench N]",
    .run = run_world,
};
