// The procedural world as the trainer's data source: clip index i is world seed data_seed + i,
// pixels mapped from [0, 1] to [-1, 1], captions tokenized with the world's vocabulary.
// Built only with the world layer (VDIT_HAVE_WORLD, set by src/CMakeLists.txt).
#include <stdlib.h>
#include <string.h>

#include "vdit/train.h"

#ifdef VDIT_HAVE_WORLD
#include "vdit/world.h"

struct vdit_world_source {
  uint64_t data_seed;
  const char **words;
};

// Renders the clips with vdit_world_render_batch (one clip per core), then maps pixels to
// [-1, 1] in place and tokenizes the captions.
static vdit_status world_fill(void *user, uint64_t first, int64_t count, float *video, int32_t *tokens,
                              const vdit_bundle_config *c) {
  const vdit_world_source *s = user;
  vdit_world_config world;
  vdit_world_config_default(&world);
  world.frames = c->frames, world.height = c->height, world.width = c->width, world.fps = (float)c->fps;
  const size_t clip = (size_t)(3 * c->frames * c->height * c->width);
  uint64_t *seeds = malloc((size_t)count * sizeof *seeds);
  char(*captions)[VDIT_WORLD_CAPTION_SIZE] = malloc((size_t)count * sizeof *captions);
  vdit_status status = VDIT_OK;
  if (!seeds || !captions) status = VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "world source: no memory for %lld clips", (long long)count);
  for (int64_t i = 0; status == VDIT_OK && i < count; i++) seeds[i] = s->data_seed + first + (uint64_t)i;
  if (status == VDIT_OK) status = vdit_world_render_batch(&world, seeds, count, video, NULL, captions);
  if (status == VDIT_OK)
    for (size_t e = 0; e < clip * (size_t)count; e++) video[e] = 2.0f * video[e] - 1.0f;
  for (int64_t i = 0; status == VDIT_OK && i < count; i++) {
    int32_t *row = tokens + i * c->text_length;
    memset(row, 0, (size_t)c->text_length * sizeof *row);
    int64_t used = 0;
    status = vdit_world_tokenize(captions[i], row, c->text_length, &used);
    if (status == VDIT_OK && used > c->text_length)
      status = VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "world caption of %lld tokens exceeds text_length %lld",
                          (long long)used, (long long)c->text_length);
  }
  free(seeds);
  free(captions);
  return status;
}

vdit_status vdit_world_source_create(uint64_t data_seed, vdit_world_source **source, vdit_train_source *out) {
  vdit_world_source *s = calloc(1, sizeof *s);
  const int32_t vocab = vdit_world_vocab_size();
  if (s) s->words = calloc((size_t)vocab, sizeof *s->words);
  if (!s || !s->words) {
    free(s);
    return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "world source: no memory");
  }
  s->data_seed = data_seed;
  for (int32_t i = 0; i < vocab; i++) s->words[i] = vdit_world_vocab_word(i);
  memset(out, 0, sizeof *out);
  out->user = s;
  out->fill = world_fill;
  out->vocab = vocab;
  out->words = s->words;
  *source = s;
  return VDIT_OK;
}

void vdit_world_source_free(vdit_world_source *source) {
  if (!source) return;
  free(source->words);
  free(source);
}
#else
vdit_status vdit_world_source_create(uint64_t data_seed, vdit_world_source **source, vdit_train_source *out) {
  (void)data_seed, (void)out;
  *source = NULL;
  return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "this build has no world layer (src/world) to draw training clips from");
}
void vdit_world_source_free(vdit_world_source *source) { (void)source; }
#endif
