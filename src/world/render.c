// Clip rendering: a scene (from a seed or a caption) becomes (3, F, H, W) pixels, F cameras
// and the caption. Each pixel averages a 2x2 grid of rays; rows of all frames are shared
// among OpenMP threads, and since every pixel is computed alone the bits do not depend on
// the thread count.
#include <stdlib.h>
#include <string.h>

#include "world/world_internal.h"

// Below this many pixels a clip renders on one thread (a parallel region costs more).
#define WORLD_PARALLEL_MIN_PIXELS 4096

static const float sample_offsets[2] = {0.25f, 0.75f};

static void render_row(const world_frame *frame, int64_t y, int64_t width, float *red, float *green, float *blue) {
  const vdit_world_camera *cam = &frame->camera;
  const float *m = frame->camera_to_world;
  for (int64_t x = 0; x < width; x++) {
    float sum[3] = {0.0f, 0.0f, 0.0f};
    for (int sy = 0; sy < 2; sy++)
      for (int sx = 0; sx < 2; sx++) {
        float vx = ((float)x + sample_offsets[sx] - cam->cx) / cam->fx;
        float vy = ((float)y + sample_offsets[sy] - cam->cy) / cam->fy;
        float d[3], rgb[3];
        for (int k = 0; k < 3; k++) d[k] = m[3 * k] * vx + m[3 * k + 1] * vy + m[3 * k + 2];
        world_normalize(d);
        unsigned candidates = 0;
        for (int i = 0; i < frame->body_count; i++) {
          const world_body *b = &frame->bodies[i];
          candidates |= (unsigned)(vx >= b->screen_lo[0] && vx <= b->screen_hi[0] && vy >= b->screen_lo[1] &&
                                   vy <= b->screen_hi[1]) << i;
        }
        world_shade_ray(frame, frame->eye, d, candidates, rgb);
        sum[0] += rgb[0], sum[1] += rgb[1], sum[2] += rgb[2];
      }
    red[x] = 0.25f * sum[0], green[x] = 0.25f * sum[1], blue[x] = 0.25f * sum[2];
  }
}

static vdit_status clip_alloc(const vdit_world_config *config, vdit_world_clip *clip) {
  size_t frames = (size_t)config->frames, count = 3 * frames * (size_t)config->height * (size_t)config->width;
  size_t pixel_bytes = (count * sizeof(float) + 63) & ~(size_t)63;
  void *memory = vdit_host_alloc(pixel_bytes + frames * sizeof(vdit_world_camera), VDIT_HOST_ALIGNMENT);
  if (!memory)
    return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "no memory for a world clip of %zu pixels", count / 3);
  clip->config = *config;
  clip->allocation = memory;
  clip->pixels = memory;
  clip->cameras = (vdit_world_camera *)((char *)memory + pixel_bytes);
  return VDIT_OK;
}

// Renders `scene` into pixels (3, F, H, W), cameras (F entries, may be NULL) and caption (may
// be NULL); `parallel`: share the rows among threads (off when the caller runs one clip per
// thread). `states` holds F frame states.
static void render_into(const vdit_world_config *config, const world_scene *scene, world_frame *states, int parallel,
                        float *pixels, vdit_world_camera *cameras, char *caption) {
  int64_t frames = config->frames, height = config->height, width = config->width;
  for (int64_t f = 0; f < frames; f++) {
    world_frame_bodies(scene, (float)f / config->fps, &states[f]);
    world_frame_camera(scene, f, frames, height, width, &states[f]);
    world_frame_screen_boxes(&states[f]);
    if (cameras) cameras[f] = states[f].camera;
  }
  if (caption) world_caption_write(scene, caption);
  size_t plane = (size_t)(frames * height * width);
  int64_t rows = frames * height;
#pragma omp parallel for schedule(dynamic, 4) if (parallel && rows * width > WORLD_PARALLEL_MIN_PIXELS)
  for (int64_t r = 0; r < rows; r++) {
    size_t at = (size_t)r * (size_t)width;
    render_row(&states[r / height], r % height, width, pixels + at, pixels + plane + at, pixels + 2 * plane + at);
  }
}

static vdit_status render_scene(const vdit_world_config *config, const world_scene *scene, vdit_world_clip *clip) {
  world_frame *states = malloc((size_t)config->frames * sizeof *states);
  if (!states)
    return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "no memory for %lld frame states", (long long)config->frames);
  vdit_status status = clip_alloc(config, clip);
  if (status == VDIT_OK) render_into(config, scene, states, 1, clip->pixels, clip->cameras, clip->caption);
  free(states);
  return status;
}

vdit_status vdit_world_render_batch(const vdit_world_config *config, const uint64_t *seeds, int64_t count,
                                    float *pixels, vdit_world_camera *cameras, char (*captions)[VDIT_WORLD_CAPTION_SIZE]) {
  VDIT_TRY(vdit_world_config_validate(config));
  if (count < 0 || (count > 0 && (!seeds || !pixels)))
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_world_render_batch: seeds or pixels is NULL for %lld clips",
                      (long long)count);
  if (count == 0) return VDIT_OK;
  int64_t frames = config->frames;
  size_t clip_floats = (size_t)(3 * frames * config->height * config->width);
  // One clip per thread: below a few clips, or for big clips, rows in parallel do better.
  int per_clip = count >= 4 && clip_floats / 3 <= ((size_t)1 << 18);
  int64_t workers = per_clip ? count : 1;
  world_frame *states = malloc((size_t)(workers * frames) * sizeof *states);
  if (!states)
    return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "no memory for %lld frame states", (long long)(workers * frames));
  world_scene_spec spec;
  world_scene_spec_open(&spec);
#pragma omp parallel for schedule(dynamic, 1) if (per_clip)
  for (int64_t i = 0; i < count; i++) {
    world_scene scene;
    world_scene_sample(config, seeds[i], &spec, &scene);
    render_into(config, &scene, states + (per_clip ? i : 0) * frames, !per_clip, pixels + (size_t)i * clip_floats,
                cameras ? cameras + i * frames : NULL, captions ? captions[i] : NULL);
  }
  free(states);
  return VDIT_OK;
}

vdit_status vdit_world_render(const vdit_world_config *config, uint64_t seed, vdit_world_clip *clip) {
  if (!clip) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_world_render: clip is NULL");
  memset(clip, 0, sizeof *clip);
  VDIT_TRY(vdit_world_config_validate(config));
  world_scene_spec spec;
  world_scene_spec_open(&spec);
  world_scene scene;
  world_scene_sample(config, seed, &spec, &scene);
  return render_scene(config, &scene, clip);
}

vdit_status vdit_world_render_caption(const vdit_world_config *config, const char *caption, uint64_t seed,
                                      vdit_world_clip *clip) {
  if (!clip) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_world_render_caption: clip is NULL");
  memset(clip, 0, sizeof *clip);
  if (!caption) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_world_render_caption: caption is NULL");
  VDIT_TRY(vdit_world_config_validate(config));
  world_scene_spec spec;
  VDIT_TRY(world_caption_parse(caption, &spec));
  world_scene scene;
  world_scene_sample(config, seed, &spec, &scene);
  return render_scene(config, &scene, clip);
}

void vdit_world_clip_free(vdit_world_clip *clip) {
  if (!clip) return;
  vdit_host_free(clip->allocation);
  memset(clip, 0, sizeof *clip);
}
