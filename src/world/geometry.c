// Ray-shape intersections. Each body is intersected in its local frame (origin on the floor
// under it, turned by its yaw about y): sphere, box, cylinder and cone analytically, the
// torus by sphere tracing its distance function inside its bounding sphere (robust where a
// quartic solver in float is not).
#include <math.h>

#include "world/world_internal.h"

// The ray's interval inside the body's bounding sphere; 0 when it misses (t_far <= t_min or
// t_near >= t_max).
static int bound_interval(const world_body *b, const float o[3], const float d[3], float t_min, float t_max,
                          float *t_near, float *t_far) {
  float oc[3] = {o[0] - b->bound_center[0], o[1] - b->bound_center[1], o[2] - b->bound_center[2]};
  float half_b = world_dot(oc, d), c = world_dot(oc, oc) - b->bound_radius2;
  float disc = half_b * half_b - c;
  if (disc < 0.0f) return 0;
  float root = sqrtf(disc);
  *t_near = -half_b - root, *t_far = -half_b + root;
  return *t_far > t_min && *t_near < t_max;
}

// Roots of A t^2 + 2 H t + C = 0, ascending; 0 when none.
static int quadratic(float a, float half_b, float c, float *t0, float *t1) {
  if (a == 0.0f) {
    if (half_b == 0.0f) return 0;
    *t0 = *t1 = -c / (2.0f * half_b);
    return 1;
  }
  float disc = half_b * half_b - a * c;
  if (disc < 0.0f) return 0;
  float root = sqrtf(disc);
  float q = half_b > 0.0f ? -(half_b + root) : -(half_b - root); // no cancellation
  float r0 = q / a, r1 = q != 0.0f ? c / q : r0;
  *t0 = r0 < r1 ? r0 : r1, *t1 = r0 < r1 ? r1 : r0;
  return 1;
}

typedef struct hit {
  float t;
  float n[3]; // local normal, not normalized
} hit;

// Takes t as the hit if it lies in (t_min, best->t).
static int take(hit *best, float t_min, float t, float nx, float ny, float nz) {
  if (!(t > t_min && t < best->t)) return 0;
  best->t = t, best->n[0] = nx, best->n[1] = ny, best->n[2] = nz;
  return 1;
}

static int sphere(float r, const float o[3], const float d[3], float t_min, hit *h) {
  float oy = o[1] - r;
  float half_b = o[0] * d[0] + oy * d[1] + o[2] * d[2];
  float c = o[0] * o[0] + oy * oy + o[2] * o[2] - r * r, t0, t1;
  if (!quadratic(1.0f, half_b, c, &t0, &t1)) return 0;
  float t = t0 > t_min ? t0 : t1;
  return take(h, t_min, t, o[0] + t * d[0], oy + t * d[1], o[2] + t * d[2]);
}

static int box(float e, const float o[3], const float d[3], float t_min, hit *h) {
  const float lo[3] = {-e, 0.0f, -e}, hi[3] = {e, 2.0f * e, e};
  float t_enter = -INFINITY, t_exit = INFINITY;
  int axis_enter = 0, axis_exit = 0;
  float sign_enter = 0.0f, sign_exit = 0.0f;
  for (int k = 0; k < 3; k++) {
    if (d[k] == 0.0f) {
      if (o[k] < lo[k] || o[k] > hi[k]) return 0;
      continue;
    }
    float inverse = 1.0f / d[k];
    float ta = (lo[k] - o[k]) * inverse, tb = (hi[k] - o[k]) * inverse;
    float near = ta < tb ? ta : tb, far = ta < tb ? tb : ta;
    if (near > t_enter) t_enter = near, axis_enter = k, sign_enter = d[k] > 0.0f ? -1.0f : 1.0f;
    if (far < t_exit) t_exit = far, axis_exit = k, sign_exit = d[k] > 0.0f ? 1.0f : -1.0f;
  }
  if (t_enter > t_exit) return 0;
  float n[3] = {0.0f, 0.0f, 0.0f};
  if (t_enter > t_min) {
    n[axis_enter] = sign_enter;
    return take(h, t_min, t_enter, n[0], n[1], n[2]);
  }
  n[axis_exit] = sign_exit;
  return take(h, t_min, t_exit, n[0], n[1], n[2]);
}

// A cap: the disk of radius r in the plane y = height, normal (0, ny, 0).
static int cap(float r, float height, float ny, const float o[3], const float d[3], float t_min, hit *h) {
  if (d[1] == 0.0f) return 0;
  float t = (height - o[1]) / d[1];
  float x = o[0] + t * d[0], z = o[2] + t * d[2];
  if (x * x + z * z > r * r) return 0;
  return take(h, t_min, t, 0.0f, ny, 0.0f);
}

static int cylinder(float r, float height, const float o[3], const float d[3], float t_min, hit *h) {
  int any = 0;
  float t0, t1;
  float a = d[0] * d[0] + d[2] * d[2], half_b = o[0] * d[0] + o[2] * d[2], c = o[0] * o[0] + o[2] * o[2] - r * r;
  if (a > 0.0f && quadratic(a, half_b, c, &t0, &t1)) {
    float ts[2] = {t0, t1};
    for (int k = 0; k < 2; k++) {
      float y = o[1] + ts[k] * d[1];
      if (y >= 0.0f && y <= height) any |= take(h, t_min, ts[k], o[0] + ts[k] * d[0], 0.0f, o[2] + ts[k] * d[2]);
    }
  }
  any |= cap(r, height, 1.0f, o, d, t_min, h);
  any |= cap(r, 0.0f, -1.0f, o, d, t_min, h);
  return any;
}

// Cone with its base (radius r) on y = 0 and its apex at y = height: x^2 + z^2 = k^2 (height - y)^2.
static int cone(float r, float height, const float o[3], const float d[3], float t_min, hit *h) {
  int any = 0;
  float k = r / height, k2 = k * k, q = height - o[1], t0, t1;
  float a = d[0] * d[0] + d[2] * d[2] - k2 * d[1] * d[1];
  float half_b = o[0] * d[0] + o[2] * d[2] + k2 * q * d[1];
  float c = o[0] * o[0] + o[2] * o[2] - k2 * q * q;
  if (quadratic(a, half_b, c, &t0, &t1)) {
    float ts[2] = {t0, t1};
    for (int i = 0; i < 2; i++) {
      float y = o[1] + ts[i] * d[1];
      if (y >= 0.0f && y <= height)
        any |= take(h, t_min, ts[i], o[0] + ts[i] * d[0], k2 * (height - y), o[2] + ts[i] * d[2]);
    }
  }
  any |= cap(r, 0.0f, -1.0f, o, d, t_min, h);
  return any;
}

static float torus_distance(float big, float small, float x, float y, float z) {
  float ring = sqrtf(x * x + z * z) - big, dy = y - small;
  return sqrtf(ring * ring + dy * dy) - small;
}

// Sphere tracing from the bounding sphere's entry; the torus lies flat, its center at y = small.
static int torus(float big, float small, const float o[3], const float d[3], float t_start, float t_end, float t_min,
                 hit *h) {
  float t = t_start > t_min ? t_start : t_min, epsilon = 1e-3f * small;
  if (t_end > h->t) t_end = h->t;
  for (int step = 0; step < 96 && t < t_end; step++) {
    float x = o[0] + t * d[0], y = o[1] + t * d[1], z = o[2] + t * d[2];
    float distance = torus_distance(big, small, x, y, z);
    if (distance < epsilon) {
      float radial = sqrtf(x * x + z * z);
      float scale = radial > 0.0f ? 1.0f - big / radial : 0.0f;
      return take(h, t_min, t, x * scale, y - small, z * scale);
    }
    t += distance;
  }
  return 0;
}

static int intersect_local(const world_body *b, const float origin[3], const float direction[3], float t_min,
                           hit *h, float local_origin[3], float local_direction[3]) {
  float t_near, t_far;
  if (!bound_interval(b, origin, direction, t_min, h->t, &t_near, &t_far)) return 0;
  float c = b->cos_yaw, s = b->sin_yaw;
  float px = origin[0] - b->origin[0], py = origin[1] - b->origin[1], pz = origin[2] - b->origin[2];
  float *o = local_origin, *d = local_direction;
  o[0] = px * c - pz * s, o[1] = py, o[2] = px * s + pz * c;
  d[0] = direction[0] * c - direction[2] * s, d[1] = direction[1], d[2] = direction[0] * s + direction[2] * c;
  switch (b->shape) {
  case WORLD_SHAPE_SPHERE: return sphere(b->a, o, d, t_min, h);
  case WORLD_SHAPE_CUBE: return box(b->a, o, d, t_min, h);
  case WORLD_SHAPE_CYLINDER: return cylinder(b->a, b->b, o, d, t_min, h);
  case WORLD_SHAPE_CONE: return cone(b->a, b->b, o, d, t_min, h);
  case WORLD_SHAPE_TORUS: return torus(b->a, b->b, o, d, t_near, t_far, t_min, h);
  default: return 0;
  }
}

int world_body_intersect(const world_body *body, const float origin[3], const float direction[3], float t_min,
                         float *t, float normal[3], float *local_x) {
  hit h = {.t = *t};
  float o[3], d[3];
  if (!intersect_local(body, origin, direction, t_min, &h, o, d)) return 0;
  float c = body->cos_yaw, s = body->sin_yaw;
  *t = h.t;
  normal[0] = h.n[0] * c + h.n[2] * s, normal[1] = h.n[1], normal[2] = -h.n[0] * s + h.n[2] * c;
  if (world_dot(normal, normal) > 0.0f) world_normalize(normal);
  else normal[0] = 0.0f, normal[1] = 1.0f, normal[2] = 0.0f; // a cone's apex hit dead on
  *local_x = o[0] + h.t * d[0];
  return 1;
}

int world_body_occludes(const world_body *body, const float origin[3], const float direction[3], float t_min) {
  hit h = {.t = INFINITY};
  float o[3], d[3];
  return intersect_local(body, origin, direction, t_min, &h, o, d);
}
