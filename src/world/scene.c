// Scene sampling: what a seed puts in a clip (objects, their motions, the floor, the light,
// the camera path) and where each object is at a given time.
#include <math.h>
#include <string.h>

#include "world/world_internal.h"

void vdit_world_config_default(vdit_world_config *config) {
  config->frames = 16;
  config->height = 32;
  config->width = 32;
  config->fps = 8.0f;
  config->min_objects = 1;
  config->max_objects = 3;
}

vdit_status vdit_world_config_validate(const vdit_world_config *config) {
  if (!config) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "world config is NULL");
  if (config->frames < 1 || config->frames > 4096)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "world config: frames must be in 1..4096, got %lld",
                      (long long)config->frames);
  if (config->height < 2 || config->height > 4096 || config->width < 2 || config->width > 4096)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "world config: height and width must be in 2..4096, got %lldx%lld",
                      (long long)config->height, (long long)config->width);
  if (!(config->fps > 0.0f && config->fps <= 1000.0f))
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "world config: fps must be in (0, 1000], got %g", (double)config->fps);
  if (config->min_objects < 1 || config->max_objects > VDIT_WORLD_MAX_OBJECTS || config->min_objects > config->max_objects)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT,
                      "world config: objects must satisfy 1 <= min <= max <= %d, got %d-%d", VDIT_WORLD_MAX_OBJECTS,
                      config->min_objects, config->max_objects);
  size_t pixels;
  if (!vdit_size_mul((size_t)config->frames, (size_t)config->height, &pixels) ||
      !vdit_size_mul(pixels, (size_t)config->width * 3, &pixels) || pixels > ((size_t)1 << 32))
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "world config: %lld frames of %lldx%lld is too large",
                      (long long)config->frames, (long long)config->height, (long long)config->width);
  return VDIT_OK;
}

void world_scene_spec_open(world_scene_spec *spec) {
  spec->object_count = 0;
  for (int i = 0; i < VDIT_WORLD_MAX_OBJECTS; i++)
    spec->shape[i] = spec->color[i] = spec->size[i] = spec->motion[i] = -1;
  spec->floor = spec->camera_path = -1;
}

// Element `index` of the seed's uniform stream, in (0, 1). Stream layout: scene choices at
// 0..63, object i at 64 + 64 i (so an object's draws do not depend on the others').
enum { DRAW_SCENE = 0, DRAW_OBJECT = 64, DRAW_OBJECT_STRIDE = 64, DRAW_PLACEMENT = 16, PLACEMENT_TRIES = 16 };
// Keeps the world's streams apart from other users of the same seed (the trainer's noise).
#define WORLD_STREAM_TAG 0x776f726c64ull // "world"

static float draw(uint64_t seed, uint64_t index) { return vdit_philox_uniform_at(seed ^ WORLD_STREAM_TAG, index); }
static int draw_choice(uint64_t seed, uint64_t index, int count) {
  int k = (int)(draw(seed, index) * (float)count);
  return k < count ? k : count - 1;
}
static float draw_range(uint64_t seed, uint64_t index, float lo, float hi) {
  return lo + (hi - lo) * draw(seed, index);
}

// Footprint radius of a shape of scale s on the floor (for spacing objects apart).
static float footprint(world_shape shape, float s) {
  switch (shape) {
  case WORLD_SHAPE_CUBE: return 1.14f * s;  // half edge 0.8 s, any yaw
  case WORLD_SHAPE_TORUS: return 1.12f * s; // R + r = 0.8 s + 0.32 s
  default: return s;
  }
}

static void sample_object(uint64_t seed, int i, int n, const world_scene_spec *spec, const int *color_order,
                          int *used_colors, world_scene *scene) {
  world_object *o = &scene->objects[i];
  uint64_t base = DRAW_OBJECT + (uint64_t)i * DRAW_OBJECT_STRIDE;
  o->shape = spec->shape[i] >= 0 ? (world_shape)spec->shape[i] : (world_shape)draw_choice(seed, base + 0, WORLD_SHAPE_COUNT);
  o->size = spec->size[i] >= 0 ? (world_size)spec->size[i] : (world_size)draw_choice(seed, base + 1, WORLD_SIZE_COUNT);
  if (spec->motion[i] >= 0) {
    o->motion = (world_motion)spec->motion[i];
  } else { // static 40%, bounce, slide and spin 20% each
    float m = draw(seed, base + 2);
    o->motion = m < 0.4f ? WORLD_MOTION_STATIC : m < 0.6f ? WORLD_MOTION_BOUNCE : m < 0.8f ? WORLD_MOTION_SLIDE : WORLD_MOTION_SPIN;
  }
  if (spec->color[i] >= 0) {
    o->color = (world_color)spec->color[i];
  } else { // the first color of the seed's order that no object has yet
    int k = 0;
    while (k < WORLD_COLOR_COUNT - 1 && used_colors[color_order[k]]) k++;
    o->color = (world_color)color_order[k];
  }
  used_colors[o->color] = 1;

  o->scale = (o->size == WORLD_SIZE_LARGE ? 0.62f : 0.36f) * draw_range(seed, base + 3, 0.9f, 1.1f);
  o->yaw = draw(seed, base + 4);
  o->phase = draw(seed, base + 5);
  switch (o->motion) {
  case WORLD_MOTION_BOUNCE:
    o->rate = draw_range(seed, base + 6, 0.8f, 1.3f);
    o->amplitude = 0.35f + 0.8f * o->scale;
    break;
  case WORLD_MOTION_SLIDE:
    o->rate = draw_range(seed, base + 6, 0.3f, 0.5f);
    o->amplitude = 0.55f;
    break;
  case WORLD_MOTION_SPIN:
    o->rate = draw_range(seed, base + 6, 0.25f, 0.45f);
    o->amplitude = 0.0f;
    break;
  default:
    o->rate = 0.0f;
    o->amplitude = 0.0f;
    break;
  }
  world_sincos_turns(draw(seed, base + 7), &o->slide_z, &o->slide_x);

  // Placement: uniform in a disk that grows with the object count, away from the objects
  // placed before (room for slides included); the last try is kept if none fits.
  float area = 0.45f + 0.45f * (float)(n - 1);
  float reach = footprint(o->shape, o->scale) + (o->motion == WORLD_MOTION_SLIDE ? o->amplitude : 0.0f);
  for (int attempt = 0; attempt < PLACEMENT_TRIES; attempt++) {
    uint64_t at = base + DRAW_PLACEMENT + 2 * (uint64_t)attempt;
    float x = area * (2.0f * draw(seed, at) - 1.0f), z = area * (2.0f * draw(seed, at + 1) - 1.0f);
    o->x = x, o->z = z;
    if (x * x + z * z > area * area) continue;
    int fits = 1;
    for (int j = 0; j < i && fits; j++) {
      const world_object *p = &scene->objects[j];
      float other = footprint(p->shape, p->scale) + (p->motion == WORLD_MOTION_SLIDE ? p->amplitude : 0.0f);
      float dx = x - p->x, dz = z - p->z, gap = reach + other + 0.1f;
      if (dx * dx + dz * dz < gap * gap) fits = 0;
    }
    if (fits) break;
  }
}

void world_scene_sample(const vdit_world_config *config, uint64_t seed, const world_scene_spec *spec,
                        world_scene *scene) {
  memset(scene, 0, sizeof *scene);
  int n = spec->object_count;
  if (n <= 0) {
    int span = config->max_objects - config->min_objects + 1;
    n = config->min_objects + draw_choice(seed, DRAW_SCENE + 0, span);
  }
  scene->object_count = n;
  scene->floor = spec->floor >= 0 ? (world_floor)spec->floor
                                  : (draw(seed, DRAW_SCENE + 1) < 0.6f ? WORLD_FLOOR_CHECKERED : WORLD_FLOOR_PLAIN);
  scene->camera_path = spec->camera_path >= 0 ? (world_camera_path)spec->camera_path
                                              : (world_camera_path)draw_choice(seed, DRAW_SCENE + 2, WORLD_CAMERA_COUNT);

  // The seed's order of colors (a Fisher-Yates shuffle), for objects the caption leaves open.
  int color_order[WORLD_COLOR_COUNT], used_colors[WORLD_COLOR_COUNT] = {0};
  for (int k = 0; k < WORLD_COLOR_COUNT; k++) color_order[k] = k;
  for (int k = WORLD_COLOR_COUNT - 1; k > 0; k--) {
    int j = draw_choice(seed, DRAW_SCENE + 8 + (uint64_t)k, k + 1);
    int t = color_order[k];
    color_order[k] = color_order[j], color_order[j] = t;
  }
  for (int i = 0; i < n; i++)
    if (spec->color[i] >= 0) used_colors[spec->color[i]] = 1;
  for (int i = 0; i < n; i++) sample_object(seed, i, n, spec, color_order, used_colors, scene);

  // Camera: looks at the objects' centroid from 14-29 degrees up, farther for more objects.
  float cx = 0.0f, cz = 0.0f;
  for (int i = 0; i < n; i++) cx += scene->objects[i].x, cz += scene->objects[i].z;
  // The target's height: the objects' mean middle, bounces included.
  float cy = 0.0f;
  for (int i = 0; i < n; i++) {
    const world_object *o = &scene->objects[i];
    cy += (o->shape == WORLD_SHAPE_TORUS ? 0.32f : 0.9f) * o->scale + (o->motion == WORLD_MOTION_BOUNCE ? 0.5f * o->amplitude : 0.0f);
  }
  scene->target[0] = cx / (float)n, scene->target[1] = cy / (float)n, scene->target[2] = cz / (float)n;
  scene->azimuth = draw(seed, DRAW_SCENE + 3);
  scene->elevation = draw_range(seed, DRAW_SCENE + 4, 0.04f, 0.08f);
  scene->distance = 3.3f + 0.6f * (float)(n - 1) + draw_range(seed, DRAW_SCENE + 5, 0.0f, 0.6f);

  // Sun: 40-60 degrees up from any direction.
  float ls, lc, es, ec;
  world_sincos_turns(draw(seed, DRAW_SCENE + 6), &ls, &lc);
  world_sincos_turns(draw_range(seed, DRAW_SCENE + 7, 0.11f, 0.17f), &es, &ec);
  scene->light[0] = ec * ls, scene->light[1] = es, scene->light[2] = ec * lc;
  world_normalize(scene->light);
}

// Linear RGB albedos of the palette (caption.c has the names).
static const float palette[WORLD_COLOR_COUNT][3] = {
    {0.85f, 0.14f, 0.12f}, {0.95f, 0.50f, 0.10f}, {0.95f, 0.85f, 0.15f}, {0.18f, 0.68f, 0.24f},
    {0.15f, 0.33f, 0.90f}, {0.55f, 0.20f, 0.75f}, {0.93f, 0.93f, 0.93f}, {0.45f, 0.45f, 0.47f},
};

void world_frame_bodies(const world_scene *scene, float seconds, world_frame *frame) {
  frame->body_count = scene->object_count;
  frame->floor = scene->floor;
  for (int k = 0; k < 3; k++) frame->light[k] = scene->light[k];
  for (int i = 0; i < scene->object_count; i++) {
    const world_object *o = &scene->objects[i];
    world_body *b = &frame->bodies[i];
    float s = o->scale, cycle = o->phase + o->rate * seconds, lift = 0.0f, x = o->x, z = o->z, yaw = o->yaw;
    float sn, cs;
    switch (o->motion) {
    case WORLD_MOTION_BOUNCE: // |sin|: a ball's parabola-like hops, resting on the floor between them
      world_sincos_turns(0.5f * cycle, &sn, &cs);
      lift = o->amplitude * fabsf(sn);
      break;
    case WORLD_MOTION_SLIDE:
      world_sincos_turns(cycle, &sn, &cs);
      x += o->amplitude * sn * o->slide_x, z += o->amplitude * sn * o->slide_z;
      break;
    case WORLD_MOTION_SPIN: yaw += o->rate * seconds; break;
    default: break;
    }
    b->shape = o->shape;
    b->origin[0] = x, b->origin[1] = lift, b->origin[2] = z;
    world_sincos_turns(yaw, &b->sin_yaw, &b->cos_yaw);
    float half_height; // of the shape above its origin, and its bounding radius about that center
    switch (o->shape) {
    case WORLD_SHAPE_CUBE:
      b->a = 0.8f * s, b->b = 0.0f, half_height = b->a;
      b->bound_radius2 = 3.0f * b->a * b->a;
      break;
    case WORLD_SHAPE_CYLINDER:
      b->a = 0.75f * s, b->b = 1.8f * s, half_height = 0.5f * b->b;
      b->bound_radius2 = b->a * b->a + half_height * half_height;
      break;
    case WORLD_SHAPE_CONE:
      b->a = 0.9f * s, b->b = 2.0f * s, half_height = 0.5f * b->b;
      b->bound_radius2 = b->a * b->a + half_height * half_height;
      break;
    case WORLD_SHAPE_TORUS:
      b->a = 0.8f * s, b->b = 0.32f * s, half_height = b->b;
      b->bound_radius2 = (b->a + b->b) * (b->a + b->b);
      break;
    default:
      b->a = s, b->b = 0.0f, half_height = s;
      b->bound_radius2 = s * s;
      break;
    }
    b->bound_radius2 *= 1.0001f; // slack so that rounding never culls a grazing hit
    b->bound_center[0] = x, b->bound_center[1] = lift + half_height, b->bound_center[2] = z;
    for (int k = 0; k < 3; k++) b->albedo[k] = palette[o->color][k];
    b->stripe = 0.18f * s;
  }
}
