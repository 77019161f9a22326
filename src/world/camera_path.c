// Camera paths: the pinhole camera of each frame. A path is laid out over the clip
// (u = f / (F - 1) from 0 to 1) so that every clip shows the whole move; the loop path
// returns to its first pose exactly (sin and cos of a whole turn are exactly 0 and 1).
#include <math.h>

#include "world/world_internal.h"

// Focal length in units of the image width: a horizontal field of view of 2 atan(1/2.4),
// about 45 degrees.
#define WORLD_FOCAL_PER_WIDTH 1.2f

static const float orbit_turns = 0.15f;   // 54 degrees around the target
static const float pan_turns = 0.06f;     // 21.6 degrees of yaw in place
static const float dolly_fraction = 0.3f; // of the distance
static const float loop_azimuth = 0.10f, loop_elevation = 0.035f; // the loop's half-widths, turns

static void look_at(const float eye[3], const float target[3], world_frame *frame) {
  float forward[3] = {target[0] - eye[0], target[1] - eye[1], target[2] - eye[2]};
  world_normalize(forward);
  const float up[3] = {0.0f, 1.0f, 0.0f};
  float right[3], down[3];
  world_cross(forward, up, right);
  world_normalize(right);
  world_cross(forward, right, down);
  float *m = frame->camera.world_to_camera;
  for (int k = 0; k < 3; k++) {
    m[0 + k] = right[k], m[4 + k] = down[k], m[8 + k] = forward[k];
    frame->camera_to_world[3 * k + 0] = right[k];
    frame->camera_to_world[3 * k + 1] = down[k];
    frame->camera_to_world[3 * k + 2] = forward[k];
    frame->eye[k] = eye[k];
  }
  m[3] = -world_dot(right, eye), m[7] = -world_dot(down, eye), m[11] = -world_dot(forward, eye);
}

static void orbit_eye(const world_scene *scene, float azimuth, float elevation, float distance, float eye[3]) {
  float as, ac, es, ec;
  world_sincos_turns(azimuth, &as, &ac);
  world_sincos_turns(elevation, &es, &ec);
  eye[0] = scene->target[0] + distance * ec * as;
  eye[1] = scene->target[1] + distance * es;
  eye[2] = scene->target[2] + distance * ec * ac;
}

void world_frame_camera(const world_scene *scene, int64_t frame, int64_t frames, int64_t height, int64_t width,
                        world_frame *state) {
  float u = frames > 1 ? (float)frame / (float)(frames - 1) : 0.0f;
  float azimuth = scene->azimuth, elevation = scene->elevation, distance = scene->distance;
  float target[3] = {scene->target[0], scene->target[1], scene->target[2]}, eye[3];
  float s, c;
  switch (scene->camera_path) {
  case WORLD_CAMERA_ORBIT_LEFT: azimuth -= orbit_turns * u; break; // the camera moves to its left
  case WORLD_CAMERA_ORBIT_RIGHT: azimuth += orbit_turns * u; break;
  case WORLD_CAMERA_DOLLY_IN: distance *= 1.0f - dolly_fraction * u; break;
  case WORLD_CAMERA_DOLLY_OUT: distance *= (1.0f - dolly_fraction) + dolly_fraction * u; break;
  case WORLD_CAMERA_LOOP: // a closed loop in (azimuth, elevation): sin(2 pi) = 0, 1 - cos(2 pi) = 0
    world_sincos_turns(u, &s, &c);
    azimuth += loop_azimuth * s;
    elevation += loop_elevation * (1.0f - c);
    break;
  default: break;
  }
  orbit_eye(scene, azimuth, elevation, distance, eye);
  if (scene->camera_path == WORLD_CAMERA_PAN_LEFT || scene->camera_path == WORLD_CAMERA_PAN_RIGHT) {
    // The eye stays; the look direction turns about y (positive turns to the camera's left).
    float angle = (scene->camera_path == WORLD_CAMERA_PAN_LEFT ? pan_turns : -pan_turns) * u;
    world_sincos_turns(angle, &s, &c);
    float dx = target[0] - eye[0], dz = target[2] - eye[2];
    target[0] = eye[0] + dx * c + dz * s;
    target[2] = eye[2] - dx * s + dz * c;
  }
  look_at(eye, target, state);
  float focal = WORLD_FOCAL_PER_WIDTH * (float)width;
  state->camera.fx = focal, state->camera.fy = focal;
  state->camera.cx = 0.5f * (float)width, state->camera.cy = 0.5f * (float)height;
}

void world_frame_screen_boxes(world_frame *frame) {
  const float *m = frame->camera.world_to_camera;
  for (int i = 0; i < frame->body_count; i++) {
    world_body *b = &frame->bodies[i];
    float p[3] = {b->bound_center[0] - frame->eye[0], b->bound_center[1] - frame->eye[1],
                  b->bound_center[2] - frame->eye[2]};
    float c[3];
    for (int k = 0; k < 3; k++) c[k] = m[4 * k] * p[0] + m[4 * k + 1] * p[1] + m[4 * k + 2] * p[2];
    float r = sqrtf(b->bound_radius2) * 1.001f + 1e-4f; // slack for the rounding of rays and of this
    if (c[2] - r <= 1e-3f) {
      b->screen_lo[0] = b->screen_lo[1] = -INFINITY;
      b->screen_hi[0] = b->screen_hi[1] = INFINITY;
      continue;
    }
    // The sphere lies in the box c +- r, whose points (x, y, z) with z > 0 have x / z between
    // the extremes of its corners.
    float near = c[2] - r, far = c[2] + r;
    for (int k = 0; k < 2; k++) {
      float lo = c[k] - r, hi = c[k] + r;
      float lo_near = lo / near, lo_far = lo / far, hi_near = hi / near, hi_far = hi / far;
      b->screen_lo[k] = (lo_near < lo_far ? lo_near : lo_far) - 1e-4f;
      b->screen_hi[k] = (hi_near > hi_far ? hi_near : hi_far) + 1e-4f;
    }
  }
}
