// The procedural world: determinism over thread counts, the caption grammar both ways, camera
// paths (the loop ends where it starts), ray-shape intersections against closed forms, and
// image statistics (objects cover pixels, shadows darken the floor).
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "check.h"
#include "vdit/world.h"
#include "world/world_internal.h"

static size_t clip_floats(const vdit_world_config *c) { return (size_t)(3 * c->frames * c->height * c->width); }

static void test_config(void) {
  vdit_world_config c;
  vdit_world_config_default(&c);
  CHECK_EQ_INT(c.frames, 16);
  CHECK_EQ_INT(c.height, 32);
  CHECK_EQ_INT(c.width, 32);
  CHECK_OK(vdit_world_config_validate(&c));
  vdit_world_config bad = c;
  bad.max_objects = 5;
  CHECK_STATUS(vdit_world_config_validate(&bad), VDIT_ERROR_INVALID_ARGUMENT);
  bad = c, bad.min_objects = 3, bad.max_objects = 2;
  CHECK_STATUS(vdit_world_config_validate(&bad), VDIT_ERROR_INVALID_ARGUMENT);
  bad = c, bad.fps = NAN;
  CHECK_STATUS(vdit_world_config_validate(&bad), VDIT_ERROR_INVALID_ARGUMENT);
  bad = c, bad.frames = 0;
  vdit_world_clip clip;
  CHECK_STATUS(vdit_world_render(&bad, 1, &clip), VDIT_ERROR_INVALID_ARGUMENT);
  CHECK(clip.pixels == NULL && clip.allocation == NULL);
  vdit_world_clip_free(&clip);
  vdit_world_clip_free(NULL);
}

// Same seed, same bits: on one thread and on several, and again on a second call.
static void test_determinism(void) {
  vdit_world_config c;
  vdit_world_config_default(&c);
  c.height = 24, c.width = 40, c.frames = 6, c.max_objects = 4;
  for (uint64_t seed = 0; seed < 6; seed++) {
    vdit_world_clip a, b, other;
#ifdef _OPENMP
    int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    CHECK_OK(vdit_world_render(&c, seed, &a));
    omp_set_num_threads(threads > 1 ? threads : 3);
#else
    CHECK_OK(vdit_world_render(&c, seed, &a));
#endif
    CHECK_OK(vdit_world_render(&c, seed, &b));
#ifdef _OPENMP
    omp_set_num_threads(threads);
#endif
    CHECK_OK(vdit_world_render(&c, seed + 100, &other));
    CHECK(memcmp(a.pixels, b.pixels, clip_floats(&c) * sizeof(float)) == 0);
    CHECK(memcmp(a.cameras, b.cameras, (size_t)c.frames * sizeof(vdit_world_camera)) == 0);
    CHECK(strcmp(a.caption, b.caption) == 0);
    CHECK(memcmp(a.pixels, other.pixels, clip_floats(&c) * sizeof(float)) != 0);
    size_t outside = 0;
    for (size_t i = 0; i < clip_floats(&c); i++) outside += !(a.pixels[i] >= 0.0f && a.pixels[i] <= 1.0f);
    CHECK_EQ_INT(outside, 0);
    vdit_world_clip_free(&a), vdit_world_clip_free(&b), vdit_world_clip_free(&other);
  }
}

// The batch loader gives each seed's clip, bit for bit, one clip per thread or rows in parallel.
static void test_batch(void) {
  vdit_world_config c;
  vdit_world_config_default(&c);
  c.height = 12, c.width = 20, c.frames = 3, c.max_objects = 4;
  const uint64_t seeds[6] = {5, 900, 1ull << 40, 5, 77, 3};
  size_t n = clip_floats(&c);
  for (int count = 1; count <= 6; count += 5) { // 1: rows in parallel; 6: clips in parallel
    float *pixels = malloc((size_t)count * n * sizeof *pixels);
    vdit_world_camera *cameras = malloc((size_t)(count * c.frames) * sizeof *cameras);
    char(*captions)[VDIT_WORLD_CAPTION_SIZE] = malloc((size_t)count * sizeof *captions);
    for (size_t i = 0; i < (size_t)count * n; i++) pixels[i] = NAN;
    CHECK_OK(vdit_world_render_batch(&c, seeds, count, pixels, cameras, captions));
    for (int i = 0; i < count; i++) {
      vdit_world_clip clip;
      CHECK_OK(vdit_world_render(&c, seeds[i], &clip));
      CHECK(memcmp(clip.pixels, pixels + (size_t)i * n, n * sizeof(float)) == 0);
      CHECK(memcmp(clip.cameras, cameras + i * c.frames, (size_t)c.frames * sizeof *cameras) == 0);
      CHECK(strcmp(clip.caption, captions[i]) == 0);
      vdit_world_clip_free(&clip);
    }
    CHECK_OK(vdit_world_render_batch(&c, seeds, count, pixels, NULL, NULL));
    free(pixels), free(cameras), free(captions);
  }
  CHECK_STATUS(vdit_world_render_batch(&c, NULL, 2, NULL, NULL, NULL), VDIT_ERROR_INVALID_ARGUMENT);
  CHECK_OK(vdit_world_render_batch(&c, NULL, 0, NULL, NULL, NULL));
}

// Every word of every caption is in the vocabulary; the caption of seed s parses back into a
// scene with the same caption, and with the same seed into the same pixels.
static void test_caption_round_trip(void) {
  vdit_world_config c;
  vdit_world_config_default(&c);
  c.height = 16, c.width = 16, c.frames = 3, c.min_objects = 1, c.max_objects = 4;
  int seen_paths[WORLD_CAMERA_COUNT] = {0}, seen_shapes[WORLD_SHAPE_COUNT] = {0}, seen_motions[WORLD_MOTION_COUNT] = {0};
  for (uint64_t seed = 0; seed < 200; seed++) {
    vdit_world_clip a, b, other_seed;
    CHECK_OK(vdit_world_render(&c, seed, &a));
    int32_t tokens[64];
    int64_t count = 0;
    CHECK_OK(vdit_world_tokenize(a.caption, tokens, 64, &count));
    CHECK(count >= 8 && count <= VDIT_WORLD_MAX_TOKENS);
    CHECK_OK(vdit_world_render_caption(&c, a.caption, seed, &b));
    CHECK(strcmp(a.caption, b.caption) == 0);
    CHECK(memcmp(a.pixels, b.pixels, clip_floats(&c) * sizeof(float)) == 0);
    CHECK(memcmp(a.cameras, b.cameras, (size_t)c.frames * sizeof(vdit_world_camera)) == 0);
    CHECK_OK(vdit_world_render_caption(&c, a.caption, seed + 7, &other_seed));
    CHECK(strcmp(a.caption, other_seed.caption) == 0);
    if (strcmp(a.caption, b.caption) != 0) fprintf(stderr, "  '%s' vs '%s'\n", a.caption, b.caption);
    world_scene_spec spec;
    CHECK_OK(world_caption_parse(a.caption, &spec));
    seen_paths[spec.camera_path] = 1;
    for (int i = 0; i < spec.object_count; i++) seen_shapes[spec.shape[i]] = 1, seen_motions[spec.motion[i]] = 1;
    vdit_world_clip_free(&a), vdit_world_clip_free(&b), vdit_world_clip_free(&other_seed);
  }
  for (int k = 0; k < WORLD_CAMERA_COUNT; k++) CHECK(seen_paths[k]);
  for (int k = 0; k < WORLD_SHAPE_COUNT; k++) CHECK(seen_shapes[k]);
  for (int k = 0; k < WORLD_MOTION_COUNT; k++) CHECK(seen_motions[k]);
}

static void test_caption_parse(void) {
  vdit_world_config c;
  vdit_world_config_default(&c);
  c.height = 8, c.width = 8, c.frames = 2;
  vdit_world_clip clip;
  // What a caption leaves open comes from the seed; what it says is kept.
  CHECK_OK(vdit_world_render_caption(&c, "A red cube.", 3, &clip));
  CHECK(strncmp(clip.caption, "a small red cube on a ", 22) == 0 || strncmp(clip.caption, "a large red cube on a ", 22) == 0);
  vdit_world_clip_free(&clip);
  CHECK_OK(vdit_world_render_caption(&c, "a large blue torus spinning, a small white cone and a green sphere bouncing "
                                         "on a plain floor, the camera moves in a loop", 9, &clip));
  CHECK(strncmp(clip.caption, "a large blue torus spinning, a small white cone and a ", 53) == 0);
  CHECK(strstr(clip.caption, " green sphere bouncing on a plain floor, the camera moves in a loop") != NULL);
  vdit_world_clip_free(&clip);
  CHECK_OK(vdit_world_render_caption(&c, "a cone, the camera dollies out", 1, &clip));
  CHECK(strstr(clip.caption, "floor, the camera dollies out") != NULL);
  vdit_world_clip_free(&clip);

  CHECK_STATUS(vdit_world_render_caption(&c, "a red dog", 1, &clip), VDIT_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(vdit_last_error(), "'dog'") != NULL);
  CHECK(clip.pixels == NULL);
  CHECK_STATUS(vdit_world_render_caption(&c, "a cube on a floor, the camera orbits up", 1, &clip),
               VDIT_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(vdit_last_error(), "'up'") != NULL);
  CHECK_STATUS(vdit_world_render_caption(&c, "a cube, a cone, a torus, a sphere and a cylinder", 1, &clip),
               VDIT_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(vdit_last_error(), "more than 4 objects") != NULL);
  CHECK_STATUS(vdit_world_render_caption(&c, "", 1, &clip), VDIT_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(vdit_world_render_caption(&c, "a cube on a", 1, &clip), VDIT_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(vdit_last_error(), "ends early") != NULL);
}

static void test_tokenize(void) {
  int32_t n = vdit_world_vocab_size();
  CHECK(n > 30);
  CHECK(strcmp(vdit_world_vocab_word(0), "<pad>") == 0);
  CHECK(vdit_world_vocab_word(n) == NULL && vdit_world_vocab_word(-1) == NULL);
  for (int32_t i = 1; i < n; i++)
    for (int32_t j = i + 1; j < n; j++) CHECK(strcmp(vdit_world_vocab_word(i), vdit_world_vocab_word(j)) != 0);
  const char *words[] = {"a", "small", "red", "cube", "and", "a", "blue", "sphere", "on", "a",
                         "checkered", "floor", "the", "camera", "orbits", "left"};
  int32_t tokens[16];
  int64_t count = 0;
  CHECK_OK(vdit_world_tokenize("A small RED cube and a blue sphere on a checkered floor, the camera orbits left.",
                               tokens, 16, &count));
  CHECK_EQ_INT(count, 16);
  for (int i = 0; i < 16 && i < count; i++) CHECK(strcmp(vdit_world_vocab_word(tokens[i]), words[i]) == 0);
  int32_t few[3] = {0, 0, -5};
  CHECK_OK(vdit_world_tokenize("a red cube on a plain floor", few, 2, &count)); // counts past max_tokens
  CHECK_EQ_INT(count, 7);
  CHECK_EQ_INT(few[2], -5);
  CHECK_OK(vdit_world_tokenize("", NULL, 0, &count));
  CHECK_EQ_INT(count, 0);
  // the longest caption of the grammar fits VDIT_WORLD_MAX_TOKENS
  int32_t longest[VDIT_WORLD_MAX_TOKENS];
  CHECK_OK(vdit_world_tokenize("a small red cube bouncing, a large blue torus spinning, a small white cone sliding and "
                               "a large green cylinder bouncing on a checkered floor, the camera moves in a loop",
                               longest, VDIT_WORLD_MAX_TOKENS, &count));
  CHECK_EQ_INT(count, 31);
  CHECK(count <= VDIT_WORLD_MAX_TOKENS);
  CHECK_STATUS(vdit_world_tokenize("a red elephant", tokens, 16, &count), VDIT_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(vdit_last_error(), "'elephant'") != NULL);
}

// The loop path's last camera is its first, bit for bit, and its middle is elsewhere; the
// other paths move as their names say (orbit left: the camera's own x decreases in the
// first camera's frame; dolly in: closer to the target).
static void test_camera_paths(void) {
  vdit_world_config c;
  vdit_world_config_default(&c);
  c.height = 8, c.width = 12, c.frames = 9;
  const char *captions[] = {"a cube, the camera moves in a loop", "a cube, the camera orbits left",
                            "a cube, the camera orbits right", "a cube, the camera dollies in",
                            "a cube, the camera is still", "a cube, the camera pans left"};
  for (int k = 0; k < 6; k++)
    for (uint64_t seed = 0; seed < 5; seed++) {
      vdit_world_clip clip;
      CHECK_OK(vdit_world_render_caption(&c, captions[k], seed, &clip));
      if (!clip.cameras) continue;
      const float *first = clip.cameras[0].world_to_camera, *mid = clip.cameras[4].world_to_camera,
                  *last = clip.cameras[8].world_to_camera;
      CHECK_NEAR(clip.cameras[0].fx, 1.2 * 12, 1e-4);
      CHECK_NEAR(clip.cameras[0].cx, 6.0, 0);
      CHECK_NEAR(clip.cameras[0].cy, 4.0, 0);
      // eye = -R^T t; R orthonormal
      float eye[2][3];
      for (int which = 0; which < 2; which++) {
        const float *m = which ? last : first;
        for (int i = 0; i < 3; i++) eye[which][i] = -(m[i] * m[3] + m[4 + i] * m[7] + m[8 + i] * m[11]);
        for (int r = 0; r < 3; r++)
          for (int s = 0; s < 3; s++) {
            double dot = m[4 * r] * m[4 * s] + m[4 * r + 1] * m[4 * s + 1] + m[4 * r + 2] * m[4 * s + 2];
            CHECK_NEAR(dot, r == s ? 1.0 : 0.0, 1e-5);
          }
      }
      double moved = 0, turned = 0;
      for (int i = 0; i < 12; i++) moved += fabs(mid[i] - first[i]);
      // the last eye in the first camera's frame: x_cam = R0 (eye - eye0)
      float delta[3] = {eye[1][0] - eye[0][0], eye[1][1] - eye[0][1], eye[1][2] - eye[0][2]};
      float x_cam = first[0] * delta[0] + first[1] * delta[1] + first[2] * delta[2];
      float z_cam = first[8] * delta[0] + first[9] * delta[1] + first[10] * delta[2];
      for (int i = 0; i < 3; i++) turned += fabs(last[8 + i] - first[8 + i]);
      switch (k) {
      case 0:
        CHECK(memcmp(first, last, 12 * sizeof(float)) == 0);
        CHECK(moved > 0.05);
        break;
      case 1: CHECK(x_cam < -0.5f); break;
      case 2: CHECK(x_cam > 0.5f); break;
      case 3: CHECK(z_cam > 0.5f && fabsf(x_cam) < 1e-3f); break;
      case 4: CHECK(memcmp(first, last, 12 * sizeof(float)) == 0); break;
      default: // pan: the eye stays, the view turns toward the camera's left
        CHECK(fabsf(delta[0]) + fabsf(delta[1]) + fabsf(delta[2]) < 1e-5f);
        CHECK(turned > 0.1);
        CHECK(first[0] * last[8] + first[1] * last[9] + first[2] * last[10] < -0.1f);
        break;
      }
      vdit_world_clip_free(&clip);
    }
}

// Closed-form hits: a ray along +z from z = -5 toward each shape's axis.
static void test_intersections(void) {
  world_scene scene;
  memset(&scene, 0, sizeof scene);
  scene.object_count = 1;
  world_object *o = &scene.objects[0];
  o->scale = 0.5f;
  const float expect_t[WORLD_SHAPE_COUNT] = {5.0f - 0.5f, 5.0f - 0.4f, 5.0f - 0.375f, 5.0f - 0.225f,
                                             5.0f - 0.56f}; // at the shapes' half height
  const float ray_y[WORLD_SHAPE_COUNT] = {0.5f, 0.4f, 0.45f, 0.5f, 0.16f};
  for (int shape = 0; shape < WORLD_SHAPE_COUNT; shape++) {
    o->shape = (world_shape)shape;
    world_frame frame;
    world_frame_bodies(&scene, 0.0f, &frame);
    const float origin[3] = {0.0f, ray_y[shape], -5.0f}, direction[3] = {0.0f, 0.0f, 1.0f};
    float t = INFINITY, normal[3], local_x;
    CHECK(world_body_intersect(&frame.bodies[0], origin, direction, 0.0f, &t, normal, &local_x));
    CHECK_NEAR(t, expect_t[shape], shape == WORLD_SHAPE_TORUS ? 2e-3 : 1e-5);
    // the cone's side leans back: its normal is (0, k, -1) / sqrt(1 + k^2) with k = 0.45
    double normal_z = shape == WORLD_SHAPE_CONE ? -1.0 / sqrt(1.0 + 0.45 * 0.45) : -1.0;
    CHECK_NEAR(normal[2], normal_z, shape == WORLD_SHAPE_TORUS ? 1e-3 : 1e-5);
    CHECK(world_body_occludes(&frame.bodies[0], origin, direction, 0.0f));
    // a ray from above, down the axis
    // (beside the cone's apex, where its radius is 0.1: y = 1 - 0.1 / 0.45)
    const float above[3] = {shape == WORLD_SHAPE_CONE ? 0.1f : 0.0f, 3.0f, 0.0f}, down[3] = {0.0f, -1.0f, 0.0f};
    t = INFINITY;
    int hit_from_above = world_body_intersect(&frame.bodies[0], above, down, 0.0f, &t, normal, &local_x);
    if (shape == WORLD_SHAPE_TORUS) {
      CHECK(!hit_from_above); // through the hole
      const float over_ring[3] = {0.4f, 3.0f, 0.0f};
      t = INFINITY;
      CHECK(world_body_intersect(&frame.bodies[0], over_ring, down, 0.0f, &t, normal, &local_x));
      CHECK_NEAR(t, 3.0 - 0.32, 2e-3);
    } else {
      CHECK(hit_from_above);
      double top = shape == WORLD_SHAPE_SPHERE ? 1.0 : shape == WORLD_SHAPE_CUBE ? 0.8 : shape == WORLD_SHAPE_CYLINDER ? 0.9 : 1.0 - 0.1 / 0.45;
      CHECK_NEAR(t, 3.0 - top, 1e-5);
      CHECK_NEAR(normal[1], shape == WORLD_SHAPE_CONE ? 0.45 / sqrt(1.0 + 0.45 * 0.45) : 1.0, 1e-5);
    }
    // a ray passing beside misses
    const float beside[3] = {1.5f, ray_y[shape], -5.0f};
    t = INFINITY;
    CHECK(!world_body_intersect(&frame.bodies[0], beside, direction, 0.0f, &t, normal, &local_x));
    CHECK(!world_body_occludes(&frame.bodies[0], beside, direction, 0.0f));
  }
  // a cube turned by 1/8 turn shows its edge: the hit is sqrt(2) half edges away
  o->shape = WORLD_SHAPE_CUBE, o->yaw = 0.125f;
  world_frame frame;
  world_frame_bodies(&scene, 0.0f, &frame);
  const float origin[3] = {0.0f, 0.4f, -5.0f}, direction[3] = {0.0f, 0.0f, 1.0f};
  float t = INFINITY, normal[3], local_x;
  CHECK(world_body_intersect(&frame.bodies[0], origin, direction, 0.0f, &t, normal, &local_x));
  CHECK_NEAR(t, 5.0 - 0.4 * sqrt(2.0), 1e-5);
}

// The renderer skips bodies whose screen box a ray misses; that must change no bit: every
// pixel equals the average of its four rays shaded against all bodies.
static void test_screen_culling_is_exact(void) {
  vdit_world_config c;
  vdit_world_config_default(&c);
  c.height = 20, c.width = 28, c.frames = 4, c.min_objects = 3, c.max_objects = 4;
  size_t mismatches = 0;
  for (uint64_t seed = 0; seed < 12; seed++) {
    vdit_world_clip clip;
    CHECK_OK(vdit_world_render(&c, seed, &clip));
    if (!clip.pixels) continue;
    world_scene_spec spec;
    world_scene_spec_open(&spec);
    world_scene scene;
    world_scene_sample(&c, seed, &spec, &scene);
    size_t plane = (size_t)(c.frames * c.height * c.width);
    for (int64_t f = 0; f < c.frames; f++) {
      world_frame frame;
      world_frame_bodies(&scene, (float)f / c.fps, &frame);
      world_frame_camera(&scene, f, c.frames, c.height, c.width, &frame);
      for (int64_t y = 0; y < c.height; y++)
        for (int64_t x = 0; x < c.width; x++) {
          float sum[3] = {0, 0, 0};
          for (int sy = 0; sy < 2; sy++)
            for (int sx = 0; sx < 2; sx++) {
              float vx = ((float)x + (sx ? 0.75f : 0.25f) - frame.camera.cx) / frame.camera.fx;
              float vy = ((float)y + (sy ? 0.75f : 0.25f) - frame.camera.cy) / frame.camera.fy;
              float d[3], rgb[3];
              for (int k = 0; k < 3; k++)
                d[k] = frame.camera_to_world[3 * k] * vx + frame.camera_to_world[3 * k + 1] * vy + frame.camera_to_world[3 * k + 2];
              world_normalize(d);
              world_shade_ray(&frame, frame.eye, d, ~0u, rgb);
              for (int k = 0; k < 3; k++) sum[k] += rgb[k];
            }
          size_t i = (size_t)((f * c.height + y) * c.width + x);
          for (int k = 0; k < 3; k++) mismatches += clip.pixels[(size_t)k * plane + i] != 0.25f * sum[k];
        }
    }
    vdit_world_clip_free(&clip);
  }
  CHECK_EQ_INT(mismatches, 0);
}

// Objects cover pixels and differ from the floor; on a plain floor the pixels in an object's
// shadow are darker than the lit ones.
static void test_image_statistics(void) {
  vdit_world_config c;
  vdit_world_config_default(&c);
  c.height = 48, c.width = 48, c.frames = 1, c.min_objects = 1, c.max_objects = 3;
  int scenes_with_shadow = 0, scenes_with_objects = 0;
  for (uint64_t seed = 0; seed < 24; seed++) {
    world_scene_spec spec;
    world_scene_spec_open(&spec);
    spec.floor = WORLD_FLOOR_PLAIN;
    spec.camera_path = WORLD_CAMERA_STATIC;
    world_scene scene;
    world_scene_sample(&c, seed, &spec, &scene);
    char caption[VDIT_WORLD_CAPTION_SIZE];
    world_caption_write(&scene, caption);
    vdit_world_clip clip;
    CHECK_OK(vdit_world_render_caption(&c, caption, seed, &clip));
    if (!clip.pixels) continue;
    world_frame frame;
    world_frame_bodies(&scene, 0.0f, &frame);
    world_frame_camera(&scene, 0, 1, c.height, c.width, &frame);
    CHECK(memcmp(&frame.camera, &clip.cameras[0], sizeof frame.camera) == 0);
    size_t plane = (size_t)(c.height * c.width), object_pixels = 0, lit_count = 0, shadow_count = 0;
    double lit_sum = 0, shadow_sum = 0;
    for (int64_t y = 0; y < c.height; y++)
      for (int64_t x = 0; x < c.width; x++) {
        // classify by the four sample rays: all on the floor (lit or shadowed alike) or all on one object
        int floor_lit = 0, floor_dark = 0, object = 0;
        for (int s = 0; s < 4; s++) {
          float vx = ((float)x + (s & 1 ? 0.75f : 0.25f) - frame.camera.cx) / frame.camera.fx;
          float vy = ((float)y + (s & 2 ? 0.75f : 0.25f) - frame.camera.cy) / frame.camera.fy;
          float d[3];
          for (int k = 0; k < 3; k++)
            d[k] = frame.camera_to_world[3 * k] * vx + frame.camera_to_world[3 * k + 1] * vy + frame.camera_to_world[3 * k + 2];
          world_normalize(d);
          float t = INFINITY, n[3], lx;
          int hit = 0;
          for (int b = 0; b < frame.body_count; b++) hit |= world_body_intersect(&frame.bodies[b], frame.eye, d, 0.0f, &t, n, &lx);
          if (hit) {
            object++;
            continue;
          }
          if (d[1] >= 0.0f) continue;
          float ft = -frame.eye[1] / d[1], p[3];
          for (int k = 0; k < 3; k++) p[k] = frame.eye[k] + ft * d[k];
          p[1] = 1e-3f;
          int dark = 0;
          for (int b = 0; b < frame.body_count; b++) dark |= world_body_occludes(&frame.bodies[b], p, frame.light, 0.0f);
          if (dark) floor_dark++;
          else floor_lit++;
        }
        size_t i = (size_t)(y * c.width + x);
        double luma = 0.3 * clip.pixels[i] + 0.59 * clip.pixels[plane + i] + 0.11 * clip.pixels[2 * plane + i];
        if (object == 4) object_pixels++;
        if (floor_lit == 4) lit_sum += luma, lit_count++;
        if (floor_dark == 4) shadow_sum += luma, shadow_count++;
      }
    if (object_pixels >= 4) scenes_with_objects++;
    if (shadow_count >= 3 && lit_count >= 3) {
      scenes_with_shadow++;
      CHECK(shadow_sum / (double)shadow_count < 0.8 * lit_sum / (double)lit_count);
    }
    vdit_world_clip_free(&clip);
  }
  CHECK(scenes_with_objects >= 22); // a static camera frames its objects
  CHECK(scenes_with_shadow >= 12);
}

int main(void) {
  test_config();
  test_determinism();
  test_batch();
  test_caption_round_trip();
  test_caption_parse();
  test_tokenize();
  test_camera_paths();
  test_intersections();
  test_screen_culling_is_exact();
  test_image_statistics();
  return check_finish("test_world_render");
}
