// A small synthetic data source for the trainer's tests: clip i shows a square of one of three
// colors moving left or right across the frames on a gray background, captioned
// "<color> square moves <direction>". With `distinct` > 0 only that many different clips
// exist (index modulo distinct), so a model can memorise them.
#ifndef VDIT_TEST_SYNTHETIC_SOURCE_H
#define VDIT_TEST_SYNTHETIC_SOURCE_H

#include <string.h>

#include "vdit/train.h"

static const char *const synthetic_words[] = {"", "red", "green", "blue", "square", "moves", "left", "right"};
enum { SYNTHETIC_VOCAB = 8 };

typedef struct synthetic_source {
  uint64_t distinct; // 0: every index its own clip (position offset from the index)
} synthetic_source;

static inline vdit_status synthetic_fill(void *user, uint64_t first, int64_t count, float *video, int32_t *tokens,
                                  const vdit_bundle_config *c) {
  const synthetic_source *s = user;
  const int64_t F = c->frames, H = c->height, W = c->width;
  static const float colors[3][3] = {{0.9f, -0.8f, -0.8f}, {-0.8f, 0.9f, -0.8f}, {-0.8f, -0.8f, 0.9f}};
  for (int64_t i = 0; i < count; i++) {
    const uint64_t index = s->distinct ? (first + (uint64_t)i) % s->distinct : first + (uint64_t)i;
    const int color = (int)(index % 3), right = (int)((index / 3) % 2);
    const int64_t offset = (int64_t)((index / 6) % (uint64_t)W), size = H / 2 > 1 ? H / 2 : 1;
    float *clip = video + i * 3 * F * H * W;
    for (int64_t ch = 0; ch < 3; ch++)
      for (int64_t f = 0; f < F; f++) {
        const int64_t x0 = (offset + (right ? f : -f) + 4 * W) % W, y0 = (H - size) / 2;
        for (int64_t y = 0; y < H; y++)
          for (int64_t x = 0; x < W; x++) {
            const int inside = y >= y0 && y < y0 + size && ((x - x0 + W) % W) < size;
            clip[((ch * F + f) * H + y) * W + x] = inside ? colors[color][ch] : 0.1f * (float)ch - 0.1f;
          }
      }
    int32_t *row = tokens + i * c->text_length;
    memset(row, 0, (size_t)c->text_length * sizeof *row);
    const int32_t caption[4] = {1 + color, 4, 5, 6 + right};
    for (int64_t k = 0; k < 4 && k < c->text_length; k++) row[k] = caption[k];
  }
  return VDIT_OK;
}

static inline void synthetic_source_init(vdit_train_source *out, synthetic_source *s) {
  memset(out, 0, sizeof *out);
  out->user = s;
  out->fill = synthetic_fill;
  out->vocab = SYNTHETIC_VOCAB;
  out->words = synthetic_words;
}

// A tiny model: 2 frames of 8x8, patch (1, 2, 2) -> 32 tokens, dim 32 = 2 heads x 16, 2 layers.
static inline void synthetic_tiny_config(vdit_train_config *c) {
  vdit_train_config_default(c);
  vdit_model_config *m = &c->bundle.model;
  m->dim = 32, m->heads = 2, m->head_dim = 16, m->layers = 2, m->ffn_dim = 64, m->freq_dim = 16, m->text_dim = 8;
  m->patch[0] = 1, m->patch[1] = 2, m->patch[2] = 2;
  c->bundle.vocab = SYNTHETIC_VOCAB;
  c->bundle.text_length = 6;
  c->bundle.frames = 2, c->bundle.height = 8, c->bundle.width = 8;
  c->steps = 8;
  c->batch = 2;
  c->warmup = 2;
  c->eval_clips = 3;
  c->eval_interval = 0;
}

#endif
