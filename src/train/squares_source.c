// A synthetic data source for tests and smoke runs without the world layer: clip i shows a
// square of one of three colors moving left or right across the frames on a gray background,
// captioned "<color> square moves <direction>". With `distinct` > 0 only that many different
// clips exist (index modulo distinct), so a model can memorise them.
#include <string.h>

#include "vdit/train.h"

static const char *const squares_words[] = {"", "red", "green", "blue", "square", "moves", "left", "right"};

static vdit_status squares_fill(void *user, uint64_t first, int64_t count, float *video, int32_t *tokens,
                                const vdit_bundle_config *c) {
  const vdit_squares_source *s = user;
  const int64_t F = c->frames, H = c->height, W = c->width;
  static const float colors[3][3] = {{0.9f, -0.8f, -0.8f}, {-0.8f, 0.9f, -0.8f}, {-0.8f, -0.8f, 0.9f}};
  for (int64_t i = 0; i < count; i++) {
    const uint64_t index = s->distinct ? (first + (uint64_t)i) % s->distinct : first + (uint64_t)i;
    const int color = (int)(index % 3), right = (int)((index / 3) % 2);
    const int64_t offset = (int64_t)((index / 6) % (uint64_t)W), size = H / 2 > 1 ? H / 2 : 1;
    float *clip = video + i * 3 * F * H * W;
    for (int64_t ch = 0; ch < 3; ch++)
      for (int64_t f = 0; f < F; f++) {
        const int64_t x0 = ((offset + (right ? f : -f)) % W + W) % W, y0 = (H - size) / 2;
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

void vdit_squares_source_init(vdit_squares_source *state, uint64_t distinct, vdit_train_source *out) {
  state->distinct = distinct;
  memset(out, 0, sizeof *out);
  out->user = state;
  out->fill = squares_fill;
  out->vocab = VDIT_SQUARES_VOCAB;
  out->words = squares_words;
}
