// The caption grammar, its fixed vocabulary, the tokenizer, and the two directions between
// scenes and sentences (docs/world.md has the grammar):
//
//   caption  := objects [ "on a" [floor] "floor" ] [ ","  camera ]
//   objects  := object { ("," | "and") object }          (1 to 4 objects)
//   object   := "a" [size] [color] shape [motion]
//   camera   := "the camera" ( "is still" | "orbits" side | "pans" side | "dollies" ("in" | "out")
//                            | "moves in a loop" )
//
// A part left out is drawn from the seed; an object without a motion word stands still.
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "world/world_internal.h"

static const char *const shape_names[WORLD_SHAPE_COUNT] = {"sphere", "cube", "cylinder", "cone", "torus"};
static const char *const color_names[WORLD_COLOR_COUNT] = {"red",    "orange", "yellow", "green",
                                                           "blue",   "purple", "white",  "gray"};
static const char *const size_names[WORLD_SIZE_COUNT] = {"small", "large"};
static const char *const motion_names[WORLD_MOTION_COUNT] = {"", "bouncing", "sliding", "spinning"};
static const char *const floor_names[WORLD_FLOOR_COUNT] = {"checkered", "plain"};
static const char *const camera_phrases[WORLD_CAMERA_COUNT] = {
    "the camera is still",    "the camera orbits left",  "the camera orbits right", "the camera pans left",
    "the camera pans right",  "the camera dollies in",   "the camera dollies out",  "the camera moves in a loop",
};

const char *world_shape_name(world_shape shape) { return shape_names[shape]; }
const char *world_color_name(world_color color) { return color_names[color]; }
const char *world_size_name(world_size size) { return size_names[size]; }
const char *world_motion_name(world_motion motion) { return motion_names[motion]; }
const char *world_floor_name(world_floor floor) { return floor_names[floor]; }
const char *world_camera_phrase(world_camera_path path) { return camera_phrases[path]; }

// Token 0 is padding; the words in a fixed order (a trained model's embedding table depends
// on it: append, never reorder).
static const char *const vocabulary[] = {
    "<pad>",  "a",      "and",    "on",       "floor",    "checkered", "plain",    "the",   "camera", "is",
    "still",  "orbits", "pans",   "dollies",  "moves",    "in",        "out",      "left",  "right",  "loop",
    "small",  "large",  "red",    "orange",   "yellow",   "green",     "blue",     "purple", "white", "gray",
    "sphere", "cube",   "cylinder", "cone",   "torus",    "bouncing",  "sliding",  "spinning",
};
enum { VOCAB_SIZE = sizeof vocabulary / sizeof vocabulary[0] };

int32_t vdit_world_vocab_size(void) { return VOCAB_SIZE; }

const char *vdit_world_vocab_word(int32_t token) {
  return token >= 0 && token < VOCAB_SIZE ? vocabulary[token] : NULL;
}

enum { WORD_SIZE = 32 };

// The next word of `text` from *cursor (letters only, lower-cased; everything else
// separates words). Returns 0 at the end.
static int next_word(const char *text, size_t *cursor, char word[WORD_SIZE], int *truncated) {
  size_t i = *cursor;
  while (text[i] && !isalpha((unsigned char)text[i])) i++;
  if (!text[i]) {
    *cursor = i;
    return 0;
  }
  size_t n = 0;
  *truncated = 0;
  for (; isalpha((unsigned char)text[i]); i++) {
    if (n + 1 < WORD_SIZE) word[n++] = (char)tolower((unsigned char)text[i]);
    else *truncated = 1;
  }
  word[n] = '\0';
  *cursor = i;
  return 1;
}

static int32_t find_token(const char *word) {
  for (int32_t k = 1; k < VOCAB_SIZE; k++)
    if (strcmp(vocabulary[k], word) == 0) return k;
  return 0;
}

vdit_status vdit_world_tokenize(const char *caption, int32_t *tokens, int64_t max_tokens, int64_t *count) {
  if (!caption || !count || (max_tokens > 0 && !tokens) || max_tokens < 0)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_world_tokenize: caption, tokens or count is NULL");
  size_t cursor = 0;
  int64_t n = 0;
  char word[WORD_SIZE];
  int truncated;
  while (next_word(caption, &cursor, word, &truncated)) {
    int32_t token = truncated ? 0 : find_token(word);
    if (!token)
      return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT,
                        "caption word '%s%s' is not in the world's vocabulary (see docs/world.md)", word,
                        truncated ? "..." : "");
    if (n < max_tokens) tokens[n] = token;
    n++;
  }
  *count = n;
  return VDIT_OK;
}

// ---------------------------------------------------------------- scene -> caption
void world_caption_write(const world_scene *scene, char caption[VDIT_WORLD_CAPTION_SIZE]) {
  size_t used = 0;
  caption[0] = '\0';
#define APPEND(...) used += (size_t)snprintf(caption + used, used < VDIT_WORLD_CAPTION_SIZE ? VDIT_WORLD_CAPTION_SIZE - used : 0, __VA_ARGS__)
  for (int i = 0; i < scene->object_count; i++) {
    const world_object *o = &scene->objects[i];
    const char *joint = i == 0 ? "" : i == scene->object_count - 1 ? " and " : ", ";
    APPEND("%sa %s %s %s", joint, size_names[o->size], color_names[o->color], shape_names[o->shape]);
    if (o->motion != WORLD_MOTION_STATIC) APPEND(" %s", motion_names[o->motion]);
  }
  APPEND(" on a %s floor, %s", floor_names[scene->floor], camera_phrases[scene->camera_path]);
#undef APPEND
}

// ---------------------------------------------------------------- caption -> scene spec
typedef struct parser {
  const char *text;
  size_t cursor;
  char word[WORD_SIZE];
  int has_word, index;
} parser;

static void advance(parser *p) {
  int truncated;
  p->has_word = next_word(p->text, &p->cursor, p->word, &truncated);
  if (p->has_word) p->index++;
}

static int accept(parser *p, const char *word) {
  if (!p->has_word || strcmp(p->word, word) != 0) return 0;
  advance(p);
  return 1;
}

static int accept_one_of(parser *p, const char *const *names, int count) {
  if (!p->has_word) return -1;
  for (int k = 0; k < count; k++)
    if (names[k][0] && strcmp(p->word, names[k]) == 0) {
      advance(p);
      return k;
    }
  return -1;
}

static vdit_status reject(const parser *p, const char *expected) {
  if (!p->has_word)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "caption '%s' ends early: expected %s", p->text, expected);
  return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "cannot parse the caption at '%s' (word %d): expected %s", p->word,
                    p->index, expected);
}

static vdit_status parse_camera(parser *p, world_scene_spec *spec) {
  if (!accept(p, "the")) return reject(p, "'on', 'and', 'a' or 'the camera'");
  if (!accept(p, "camera")) return reject(p, "'camera'");
  if (accept(p, "is")) {
    if (!accept(p, "still")) return reject(p, "'still'");
    spec->camera_path = WORLD_CAMERA_STATIC;
  } else if (accept(p, "orbits")) {
    if (accept(p, "left")) spec->camera_path = WORLD_CAMERA_ORBIT_LEFT;
    else if (accept(p, "right")) spec->camera_path = WORLD_CAMERA_ORBIT_RIGHT;
    else return reject(p, "'left' or 'right'");
  } else if (accept(p, "pans")) {
    if (accept(p, "left")) spec->camera_path = WORLD_CAMERA_PAN_LEFT;
    else if (accept(p, "right")) spec->camera_path = WORLD_CAMERA_PAN_RIGHT;
    else return reject(p, "'left' or 'right'");
  } else if (accept(p, "dollies")) {
    if (accept(p, "in")) spec->camera_path = WORLD_CAMERA_DOLLY_IN;
    else if (accept(p, "out")) spec->camera_path = WORLD_CAMERA_DOLLY_OUT;
    else return reject(p, "'in' or 'out'");
  } else if (accept(p, "moves")) {
    if (!accept(p, "in") || !accept(p, "a") || !accept(p, "loop")) return reject(p, "'in a loop'");
    spec->camera_path = WORLD_CAMERA_LOOP;
  } else {
    return reject(p, "'is still', 'orbits', 'pans', 'dollies' or 'moves in a loop'");
  }
  return VDIT_OK;
}

vdit_status world_caption_parse(const char *caption, world_scene_spec *spec) {
  world_scene_spec_open(spec);
  parser p = {.text = caption};
  advance(&p);
  int n = 0;
  for (;;) { // objects
    if (!accept(&p, "a")) return reject(&p, n ? "'a' to start the next object" : "'a' to start the first object");
    if (n == VDIT_WORLD_MAX_OBJECTS)
      return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "caption '%s' names more than %d objects", caption,
                        VDIT_WORLD_MAX_OBJECTS);
    spec->size[n] = accept_one_of(&p, size_names, WORLD_SIZE_COUNT);
    spec->color[n] = accept_one_of(&p, color_names, WORLD_COLOR_COUNT);
    spec->shape[n] = accept_one_of(&p, shape_names, WORLD_SHAPE_COUNT);
    if (spec->shape[n] < 0) return reject(&p, "a size, a color or a shape (sphere, cube, cylinder, cone, torus)");
    int motion = accept_one_of(&p, motion_names, WORLD_MOTION_COUNT);
    spec->motion[n] = motion >= 0 ? motion : WORLD_MOTION_STATIC;
    n++;
    if (accept(&p, "and")) continue;
    if (p.has_word && strcmp(p.word, "a") == 0) continue;
    break;
  }
  spec->object_count = n;
  if (accept(&p, "on")) {
    if (!accept(&p, "a")) return reject(&p, "'a'");
    spec->floor = accept_one_of(&p, floor_names, WORLD_FLOOR_COUNT);
    if (!accept(&p, "floor")) return reject(&p, "'checkered', 'plain' or 'floor'");
  }
  if (p.has_word) VDIT_TRY(parse_camera(&p, spec));
  if (p.has_word) return reject(&p, "the end of the caption");
  return VDIT_OK;
}
