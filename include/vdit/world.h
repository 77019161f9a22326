// vdit world: a procedural 3D video world with ground truth. A seed picks a scene (1-4
// objects on a floor under a sky, object motions, a camera path); the renderer gives each
// frame's image, the camera (intrinsics, extrinsics) and a caption from a small grammar.
// The trainer draws clips from it, the sampler's prompts are captions of the same grammar,
// and consistency measurements compare against its ground truth. docs/world.md has the
// grammar, the scene parameters and the measured rendering speed.
//
// Images are RGB in [0, 1], laid out channel-first (3, F, H, W) so a clip is one sample of
// the model's video input (B, C, F, H, W).
#ifndef VDIT_WORLD_H
#define VDIT_WORLD_H

#include <stddef.h>
#include <stdint.h>

#include "vdit/base.h"

#ifdef __cplusplus
extern "C" {
#endif

// What a clip looks like (not what is in it: that comes from the seed or a caption).
typedef struct vdit_world_config {
  int64_t frames, height, width; // pixels per frame, frames per clip
  float fps;                     // frame rate of the motions and the camera path
  int min_objects, max_objects;  // 1 <= min <= max <= VDIT_WORLD_MAX_OBJECTS
} vdit_world_config;

#define VDIT_WORLD_MAX_OBJECTS 4
#define VDIT_WORLD_CAPTION_SIZE 256
// The most tokens a caption of the grammar has (4 objects with size, color and motion, the
// floor and the longest camera phrase: 31), rounded up.
#define VDIT_WORLD_MAX_TOKENS 32

// Pinhole camera of one frame. intrinsics: fx, fy, cx, cy in pixels; world_to_camera:
// row-major 3x4 [R | t] (camera looks down +z, x right, y down: the OpenCV convention).
typedef struct vdit_world_camera {
  float fx, fy, cx, cy;
  float world_to_camera[12];
} vdit_world_camera;

// A rendered clip. One allocation owned by the clip.
typedef struct vdit_world_clip {
  vdit_world_config config;
  float *pixels;               // (3, F, H, W) RGB in [0, 1]
  vdit_world_camera *cameras;  // F entries
  char caption[VDIT_WORLD_CAPTION_SIZE];
  void *allocation;
} vdit_world_clip;

// Sets the defaults: 16 frames of 32x32 at 8 fps, 1-3 objects.
void vdit_world_config_default(vdit_world_config *config);
vdit_status vdit_world_config_validate(const vdit_world_config *config);

// Renders the clip of `seed` (the same seed gives the same bits on every machine and thread
// count). On failure *clip is zeroed.
vdit_status vdit_world_render(const vdit_world_config *config, uint64_t seed, vdit_world_clip *clip);
// Renders a clip whose scene matches `caption` (a sentence of the grammar); the seed picks
// what the caption leaves open (positions, sizes, exact motion phases). A caption outside
// the grammar gives VDIT_ERROR_INVALID_ARGUMENT naming the first word it could not parse.
vdit_status vdit_world_render_caption(const vdit_world_config *config, const char *caption, uint64_t seed,
                                      vdit_world_clip *clip);
void vdit_world_clip_free(vdit_world_clip *clip); // NULL or zeroed is fine

// The trainer's loader: renders the clips of seeds[0..count) into caller memory, one clip per
// thread (OpenMP) when there are several: pixels (count, 3, F, H, W); cameras (count, F) and
// captions (count) may be NULL. Clip i has the bits vdit_world_render gives seeds[i].
vdit_status vdit_world_render_batch(const vdit_world_config *config, const uint64_t *seeds, int64_t count,
                                    float *pixels, vdit_world_camera *cameras,
                                    char (*captions)[VDIT_WORLD_CAPTION_SIZE]);

// The caption vocabulary: token 0 is padding, then every word of the grammar.
int32_t vdit_world_vocab_size(void);
const char *vdit_world_vocab_word(int32_t token); // NULL when out of range
// Splits a caption into tokens (lower case, punctuation dropped). Writes at most
// max_tokens tokens and the count it needed; a word not in the vocabulary gives
// VDIT_ERROR_INVALID_ARGUMENT naming it.
vdit_status vdit_world_tokenize(const char *caption, int32_t *tokens, int64_t max_tokens, int64_t *count);

// ---------------------------------------------------------------- video files
// Our own small encoders (no dependency): GIF (animated, 256-color palette per clip, LZW),
// PNG (the frames as one grid image, RGB 8-bit) and Y4M (4:4:4 8-bit, for video tools).
typedef enum vdit_video_format {
  VDIT_VIDEO_GIF = 0,
  VDIT_VIDEO_PNG_GRID,
  VDIT_VIDEO_Y4M,
} vdit_video_format;

// The format a path names by its extension (.gif, .png, .y4m, any case); another extension
// gives VDIT_ERROR_INVALID_ARGUMENT listing the three.
vdit_status vdit_video_format_from_path(const char *path, vdit_video_format *format);
// Writes pixels (3, F, H, W) RGB in [0, 1] (values outside are clamped, NaN is an error) to
// `path` in the format its extension names, atomically (a temporary file renamed into
// place, so a failure never leaves half a file).
vdit_status vdit_video_write(const char *path, const float *pixels, int64_t frames, int64_t height, int64_t width,
                             float fps);

#ifdef __cplusplus
}
#endif

#endif // VDIT_WORLD_H
