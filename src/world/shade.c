// Shading: a sky gradient, the floor (checkered or plain, fading into the horizon haze) and
// the objects, lit by a directional sun with hard shadows, an ambient term and a small
// Blinn-Phong highlight. Colors are linear RGB in [0, 1].
#include <math.h>

#include "world/world_internal.h"

static const float sky_horizon[3] = {0.86f, 0.90f, 0.96f}, sky_zenith[3] = {0.30f, 0.50f, 0.88f};
static const float floor_light[3] = {0.80f, 0.80f, 0.78f}, floor_dark[3] = {0.30f, 0.30f, 0.34f};
static const float floor_plain[3] = {0.64f, 0.56f, 0.45f};
static const float ambient = 0.38f, diffuse = 0.72f, specular = 0.25f;
static const float floor_tile = 0.8f;     // checker square side
static const float haze_distance = 16.0f; // the floor is half haze at this distance
static const float surface_offset = 1e-3f; // shadow rays start this far off the surface

static int in_shadow(const world_frame *frame, const float point[3]) {
  for (int i = 0; i < frame->body_count; i++)
    if (world_body_occludes(&frame->bodies[i], point, frame->light, 0.0f)) return 1;
  return 0;
}

static void sky(const float d[3], float rgb[3]) {
  float s = world_clamp01(d[1]);
  s = s * (2.0f - s); // brightens toward the horizon more slowly than linear
  for (int k = 0; k < 3; k++) rgb[k] = sky_horizon[k] + (sky_zenith[k] - sky_horizon[k]) * s;
}

void world_shade_ray(const world_frame *frame, const float origin[3], const float direction[3], unsigned candidates,
                     float rgb[3]) {
  float t = INFINITY, normal[3] = {0.0f, 1.0f, 0.0f}, local_x = 0.0f;
  int nearest = -1;
  for (int i = 0; i < frame->body_count; i++) {
    float n[3], x;
    if ((candidates >> i & 1u) && world_body_intersect(&frame->bodies[i], origin, direction, 0.0f, &t, n, &x)) {
      nearest = i, local_x = x;
      normal[0] = n[0], normal[1] = n[1], normal[2] = n[2];
    }
  }
  float floor_t = direction[1] < 0.0f ? -origin[1] / direction[1] : INFINITY;
  if (nearest < 0 && !(floor_t < INFINITY)) {
    sky(direction, rgb);
    return;
  }
  int on_floor = nearest < 0 || floor_t < t;
  if (on_floor) t = floor_t, normal[0] = 0.0f, normal[1] = 1.0f, normal[2] = 0.0f;
  float point[3];
  for (int k = 0; k < 3; k++) point[k] = origin[k] + t * direction[k] + surface_offset * normal[k];
  float lambert = world_dot(normal, frame->light);
  int lit = lambert > 0.0f && !in_shadow(frame, point);
  float light = ambient + (lit ? diffuse * lambert : 0.0f);

  if (on_floor) {
    const float *albedo = floor_plain;
    if (frame->floor == WORLD_FLOOR_CHECKERED) {
      float cx = floorf(point[0] / floor_tile), cz = floorf(point[2] / floor_tile);
      float parity = (cx + cz) - 2.0f * floorf(0.5f * (cx + cz));
      albedo = parity == 0.0f ? floor_light : floor_dark;
    }
    float ratio = t / haze_distance, haze = 1.0f / (1.0f + ratio * ratio);
    for (int k = 0; k < 3; k++)
      rgb[k] = world_clamp01(haze * albedo[k] * light + (1.0f - haze) * sky_horizon[k]);
    return;
  }
  const world_body *b = &frame->bodies[nearest];
  float stripe = fabsf(local_x) < b->stripe ? 0.6f : 1.0f;
  float highlight = 0.0f;
  if (lit) { // Blinn-Phong, exponent 32 by repeated squaring
    float half[3] = {frame->light[0] - direction[0], frame->light[1] - direction[1], frame->light[2] - direction[2]};
    world_normalize(half);
    float h = world_dot(normal, half);
    if (h > 0.0f) {
      h *= h, h *= h, h *= h, h *= h, h *= h;
      highlight = specular * h;
    }
  }
  for (int k = 0; k < 3; k++) rgb[k] = world_clamp01(b->albedo[k] * stripe * light + highlight);
}
