// The tests' data: the library's squares source (vdit_squares_source_init) and a tiny model.
#ifndef VDIT_TEST_SYNTHETIC_SOURCE_H
#define VDIT_TEST_SYNTHETIC_SOURCE_H

#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "vdit/train.h"

enum { SYNTHETIC_VOCAB = VDIT_SQUARES_VOCAB };
static const char *const synthetic_words[] = {"", "red", "green", "blue", "square", "moves", "left", "right"};

typedef vdit_squares_source synthetic_source;

static inline void synthetic_source_init(vdit_train_source *out, synthetic_source *s) {
  vdit_squares_source_init(s, s->distinct, out);
}

// A tiny model: 2 frames of 8x8, patch (1, 2, 2) -> 32 tokens, dim 32 = 2 heads x 16, 2 layers.
// The tiny model's tests run on one thread: their ops are too small to share, and on a busy
// machine OpenMP's barriers between many tiny parallel regions cost 20x the work.
static inline void synthetic_tiny_config(vdit_train_config *c) {
#ifdef _OPENMP
  omp_set_num_threads(1);
#endif
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
