// The procedural world's internals: the scene a seed or a caption describes, the per-frame
// state the renderer draws, and the small float vector math they share.
//
// World frame: y up, the floor is the plane y = 0, lengths in floor-tile units. Every
// computation is +, -, *, /, sqrt and floor in float (no libm transcendentals: angles go
// through vdit_exact_sincos_2pi), and host code is built with -ffp-contract=off, so a clip
// has the same bits on every machine and thread count.
#ifndef VDIT_WORLD_INTERNAL_H
#define VDIT_WORLD_INTERNAL_H

#include <math.h>
#include <stdint.h>

#include "base/philox.h"
#include "vdit/world.h"

// ---------------------------------------------------------------- scene vocabulary
typedef enum world_shape {
  WORLD_SHAPE_SPHERE = 0,
  WORLD_SHAPE_CUBE,
  WORLD_SHAPE_CYLINDER,
  WORLD_SHAPE_CONE,
  WORLD_SHAPE_TORUS,
  WORLD_SHAPE_COUNT
} world_shape;

typedef enum world_color {
  WORLD_COLOR_RED = 0,
  WORLD_COLOR_ORANGE,
  WORLD_COLOR_YELLOW,
  WORLD_COLOR_GREEN,
  WORLD_COLOR_BLUE,
  WORLD_COLOR_PURPLE,
  WORLD_COLOR_WHITE,
  WORLD_COLOR_GRAY,
  WORLD_COLOR_COUNT
} world_color;

typedef enum world_size { WORLD_SIZE_SMALL = 0, WORLD_SIZE_LARGE, WORLD_SIZE_COUNT } world_size;

typedef enum world_motion {
  WORLD_MOTION_STATIC = 0,
  WORLD_MOTION_BOUNCE,
  WORLD_MOTION_SLIDE,
  WORLD_MOTION_SPIN,
  WORLD_MOTION_COUNT
} world_motion;

typedef enum world_floor { WORLD_FLOOR_CHECKERED = 0, WORLD_FLOOR_PLAIN, WORLD_FLOOR_COUNT } world_floor;

typedef enum world_camera_path {
  WORLD_CAMERA_STATIC = 0,
  WORLD_CAMERA_ORBIT_LEFT,
  WORLD_CAMERA_ORBIT_RIGHT,
  WORLD_CAMERA_PAN_LEFT,
  WORLD_CAMERA_PAN_RIGHT,
  WORLD_CAMERA_DOLLY_IN,
  WORLD_CAMERA_DOLLY_OUT,
  WORLD_CAMERA_LOOP, // returns to its first pose on the last frame
  WORLD_CAMERA_COUNT
} world_camera_path;

// Names as the caption grammar spells them (caption.c).
const char *world_shape_name(world_shape shape);
const char *world_color_name(world_color color);
const char *world_size_name(world_size size);
const char *world_motion_name(world_motion motion); // "" for static
const char *world_floor_name(world_floor floor);
const char *world_camera_phrase(world_camera_path path); // "the camera orbits left"

// ---------------------------------------------------------------- scene
typedef struct world_object {
  world_shape shape;
  world_color color;
  world_size size;
  world_motion motion;
  float x, z;            // rest position on the floor
  float scale;           // the shape's size unit (a sphere's radius)
  float yaw;             // rest rotation about y, turns
  float phase;           // motion phase, turns
  float rate;            // motion frequency, cycles per second
  float amplitude;       // bounce height or slide half-length
  float slide_x, slide_z; // unit direction of a slide
} world_object;

typedef struct world_scene {
  int object_count;
  world_object objects[VDIT_WORLD_MAX_OBJECTS];
  world_floor floor;
  world_camera_path camera_path;
  float light[3];         // unit vector toward the light
  float target[3];        // the point the camera looks at (first pose)
  float azimuth, elevation; // camera direction from the target, turns
  float distance;         // camera distance from the target
} world_scene;

// What a caption fixes; -1 (or 0 objects) leaves a choice to the seed.
typedef struct world_scene_spec {
  int object_count; // 0: from the seed and the config's range
  int shape[VDIT_WORLD_MAX_OBJECTS], color[VDIT_WORLD_MAX_OBJECTS], size[VDIT_WORLD_MAX_OBJECTS],
      motion[VDIT_WORLD_MAX_OBJECTS];
  int floor, camera_path;
} world_scene_spec;

void world_scene_spec_open(world_scene_spec *spec); // everything left to the seed

// Draws the scene of `seed`, honoring what `spec` fixes. Every random choice reads a fixed
// element of the seed's stream, so a spec that fixes exactly what the seed would have
// chosen gives the seed's own scene, bit for bit.
void world_scene_sample(const vdit_world_config *config, uint64_t seed, const world_scene_spec *spec,
                        world_scene *scene);

// caption.c: the scene's sentence; the parse of a sentence into a spec.
void world_caption_write(const world_scene *scene, char caption[VDIT_WORLD_CAPTION_SIZE]);
vdit_status world_caption_parse(const char *caption, world_scene_spec *spec);

// ---------------------------------------------------------------- per-frame state
// One object at one instant, in the form the intersection code wants. The local frame has
// its origin on the floor under the object (raised by a bounce) and is turned by yaw about y.
typedef struct world_body {
  world_shape shape;
  float origin[3];
  float cos_yaw, sin_yaw;
  float a, b;            // shape sizes: sphere r; cube half edge; cylinder r, height;
                         // cone base r, height; torus major R, minor r
  float bound_center[3]; // world bounding sphere for culling
  float bound_radius2;
  float albedo[3];
  float stripe;          // |local x| below this is the darker stripe that shows spin
  // Where the camera's rays can hit it: a box in (x / z, y / z) camera coordinates that
  // holds the bounding sphere's image (everything when the sphere reaches behind the eye).
  float screen_lo[2], screen_hi[2];
} world_body;

typedef struct world_frame {
  int body_count;
  world_body bodies[VDIT_WORLD_MAX_OBJECTS];
  world_floor floor;
  float light[3];
  vdit_world_camera camera;
  float camera_to_world[9]; // R^T, row-major
  float eye[3];
} world_frame;

// scene.c: the bodies at time `seconds`.
void world_frame_bodies(const world_scene *scene, float seconds, world_frame *frame);
// camera_path.c: the camera of frame f of a clip of `frames` frames (u = f / (frames - 1)).
void world_frame_camera(const world_scene *scene, int64_t frame, int64_t frames, int64_t height, int64_t width,
                        world_frame *frame_state);

// geometry.c: the nearest hit of a ray on a body with t in (t_min, *t), updating *t and the
// world normal; returns 1 on a hit. world_body_occludes: any hit with t > t_min.
int world_body_intersect(const world_body *body, const float origin[3], const float direction[3], float t_min,
                         float *t, float normal[3], float *local_x);
int world_body_occludes(const world_body *body, const float origin[3], const float direction[3], float t_min);

// camera_path.c: each body's screen box (after world_frame_bodies and world_frame_camera).
void world_frame_screen_boxes(world_frame *frame);

// shade.c: the color seen along a unit ray; `candidates` (bit i: body i) are the bodies the
// ray may hit (the others are known to be missed, so skipping them changes no bit).
void world_shade_ray(const world_frame *frame, const float origin[3], const float direction[3], unsigned candidates,
                     float rgb[3]);

// ---------------------------------------------------------------- math
// sin and cos of 2 pi * turns for any finite turns (wrapped into [0, 1) exactly first).
static inline void world_sincos_turns(float turns, float *s, float *c) {
  float t = turns - floorf(turns);
  vdit_exact_sincos_2pi(t, s, c);
}

static inline float world_dot(const float a[3], const float b[3]) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }

static inline void world_normalize(float v[3]) {
  float inverse = 1.0f / sqrtf(world_dot(v, v));
  v[0] *= inverse, v[1] *= inverse, v[2] *= inverse;
}

static inline void world_cross(const float a[3], const float b[3], float out[3]) {
  out[0] = a[1] * b[2] - a[2] * b[1];
  out[1] = a[2] * b[0] - a[0] * b[2];
  out[2] = a[0] * b[1] - a[1] * b[0];
}

static inline float world_clamp01(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x); }

#endif // VDIT_WORLD_INTERNAL_H
