// Synthetic attention inputs for checks and benchmarks (see docs/attention.md):
//  plain   Q, K, V ~ N(0, 1) i.i.d.
//  outlier plain, then in K a few channels (every 32nd, from channel 5) scaled by a gain g in
//          [10, 50] and shifted by g * u, u ~ N(0, 1) fixed per channel: the large, biased
//          channels real K tensors have.
//  video   tokens on a frame-major T x Hs x Ws grid; Q and K are a smooth random embedding of
//          the token's (t, y, x) position plus noise, so a query scores its space-time
//          neighbours high (locality, a query's own position scores ~8 after scaling);
//          4 global tokens per head carry a key direction that every query shares (sinks,
//          scoring ~5); V ~ N(0, 1).
//  video-heads  video with heads of two kinds, as DiT attention has: even heads local and
//          peaked (own position scores ~16, similarity decays over 1.5 cells), odd heads
//          global and flat (own position ~4, decay over 4 cells). With the plain video
//          parameters a large flat far field holds much of every row's mass (at S = 32760
//          about two thirds), which no block mask can keep; video-heads gives sparse methods
//          the mix of rows they meet in real models.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attn/attn_inputs.h"

vdit_status vdit_attn_inputs_parse(const char *name, vdit_attn_inputs *kind) {
  if (strcmp(name, "plain") == 0) *kind = VDIT_ATTN_INPUTS_PLAIN;
  else if (strcmp(name, "outlier") == 0) *kind = VDIT_ATTN_INPUTS_OUTLIER;
  else if (strcmp(name, "video") == 0) *kind = VDIT_ATTN_INPUTS_VIDEO;
  else if (strcmp(name, "video-heads") == 0) *kind = VDIT_ATTN_INPUTS_VIDEO_HEADS;
  else return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "unknown inputs '%s' (plain, outlier, video or video-heads)", name);
  return VDIT_OK;
}

const char *vdit_attn_inputs_name(vdit_attn_inputs kind) {
  switch (kind) {
    case VDIT_ATTN_INPUTS_PLAIN: return "plain";
    case VDIT_ATTN_INPUTS_OUTLIER: return "outlier";
    case VDIT_ATTN_INPUTS_VIDEO: return "video";
    case VDIT_ATTN_INPUTS_VIDEO_HEADS: return "video-heads";
  }
  return "unknown";
}

// Grid for S tokens: T = ceil(S^(1/3)) frames of Hs x Ws, Ws = ceil(sqrt(S / T)).
static void token_position(int64_t i, int64_t seq, float position[3]) {
  int64_t frames = (int64_t)ceil(cbrt((double)seq));
  if (frames < 1) frames = 1;
  int64_t width = (int64_t)ceil(sqrt((double)seq / (double)frames));
  if (width < 1) width = 1;
  int64_t height = (seq + frames * width - 1) / (frames * width);
  if (height < 1) height = 1;
  position[0] = (float)(i / (height * width));
  position[1] = (float)((i / width) % height);
  position[2] = (float)(i % width);
}

enum { VIDEO_GLOBAL_TOKENS = 4 };
static const float VIDEO_LENGTH_SCALE = 2.0f; // grid cells over which similarity decays
static const float VIDEO_SELF_LOGIT = 8.0f;   // scaled score of a query with its own position
static const float VIDEO_SINK_LOGIT = 5.0f;   // scaled score of any query with a global key
static const float VIDEO_NOISE = 0.3f;

// Smooth embedding of one (B, H) slice: x[s, d] = gain * sqrt(2) cos(w_d . pos_s + phase_d)
// + noise, with frequencies w_d ~ N(0, 1 / length_scale^2) drawn per head, so that
// E[x_s . x_t] / D ~ gain^2 exp(-|pos_s - pos_t|^2 / (2 length_scale^2)); gain^2 = self_logit /
// sqrt(D) puts a query's score with its own position near VIDEO_SELF_LOGIT after the
// 1/sqrt(D) softmax scale. Global keys hold the sink direction instead; queries carry
// `sink_weight` of it.
typedef struct video_head {
  float self_logit, length_scale;
} video_head;

static int video_embedding(float *x, int64_t seq, int64_t dim, uint64_t seed, uint64_t token_seed, uint64_t head_stream,
                           uint64_t noise_stream, const float *sink, float sink_weight, int global_keys,
                           video_head head) {
  const float gain = sqrtf(head.self_logit / sqrtf((float)dim));
  float *frequency = malloc((size_t)dim * 4 * sizeof *frequency);
  if (!frequency) return 0;
  vdit_rng_normal(seed, head_stream, (size_t)dim * 4, frequency); // 3 frequencies + phase per channel
  vdit_rng_normal(token_seed, noise_stream, (size_t)(seq * dim), x);
  for (int64_t s = 0; s < seq; s++) {
    float position[3];
    token_position(s, seq, position);
    int is_global = global_keys && s % (seq / VIDEO_GLOBAL_TOKENS + 1) == 0;
    for (int64_t d = 0; d < dim; d++) {
      const float *f = frequency + d * 4;
      float angle = (f[0] * position[0] + f[1] * position[1] + f[2] * position[2]) / head.length_scale +
                    3.14159265f * f[3];
      float value = gain * 1.41421356f * cosf(angle) + VIDEO_NOISE * x[s * dim + d];
      if (is_global) value = sink[d] + VIDEO_NOISE * x[s * dim + d];
      else value += sink_weight * sink[d];
      x[s * dim + d] = value;
    }
  }
  free(frequency);
  return 1;
}

vdit_status vdit_attn_inputs_fill(vdit_attn_inputs kind, uint64_t seed, const vdit_attn_shape *shape,
                                  float *q, float *k, float *v) {
  return vdit_attn_inputs_fill_tokens(kind, seed, seed, shape, q, k, v);
}

vdit_status vdit_attn_inputs_fill_tokens(vdit_attn_inputs kind, uint64_t seed, uint64_t token_seed,
                                         const vdit_attn_shape *shape, float *q, float *k, float *v) {
  const int64_t B = shape->batch, H = shape->heads, D = shape->head_dim;
  const size_t nq = (size_t)(B * H * shape->seq_q * D), nk = (size_t)(B * H * shape->seq_k * D);
  // Disjoint stream ranges per tensor: Q at 0, K at 2^40, V at 2^41, extras above 2^42.
  const uint64_t K_STREAM = 1ull << 40, V_STREAM = 1ull << 41, EXTRA_STREAM = 1ull << 42;
  vdit_rng_normal(token_seed, V_STREAM, nk, v);
  if (kind != VDIT_ATTN_INPUTS_VIDEO && kind != VDIT_ATTN_INPUTS_VIDEO_HEADS) {
    vdit_rng_normal(token_seed, 0, nq, q);
    vdit_rng_normal(token_seed, K_STREAM, nk, k);
    if (kind == VDIT_ATTN_INPUTS_OUTLIER) {
      float gain_draw[2 * 256];
      int64_t channels = D < 256 ? D : 256;
      vdit_rng_uniform(seed, EXTRA_STREAM, (size_t)channels, gain_draw);
      vdit_rng_normal(seed, EXTRA_STREAM + 4096, (size_t)channels, gain_draw + 256);
      for (size_t i = 0; i < nk; i++) {
        int64_t d = (int64_t)(i % (size_t)D);
        if (d % 32 != 5 || d >= channels) continue;
        float gain = 10.0f + 40.0f * gain_draw[d];
        k[i] = gain * (k[i] + gain_draw[256 + d]);
      }
    }
    return VDIT_OK;
  }
  float *sink = malloc((size_t)D * sizeof *sink);
  if (!sink) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "video inputs: no memory");
  int ok = 1;
  for (int64_t b = 0; b < B; b++)
    for (int64_t h = 0; h < H; h++) {
      uint64_t bh = (uint64_t)(b * H + h);
      vdit_rng_normal(seed, EXTRA_STREAM + bh * (uint64_t)D, (size_t)D, sink);
      // Same frequencies for Q and K of a head (so positions match), separate noise.
      uint64_t head_stream = EXTRA_STREAM + (1ull << 36) + bh * (uint64_t)D * 4;
      video_head kind_of_head = {VIDEO_SELF_LOGIT, VIDEO_LENGTH_SCALE};
      if (kind == VDIT_ATTN_INPUTS_VIDEO_HEADS) kind_of_head = h % 2 ? (video_head){4.0f, 4.0f} : (video_head){16.0f, 1.5f};
      ok &= video_embedding(q + bh * (size_t)(shape->seq_q * D), shape->seq_q, D, seed, token_seed, head_stream,
                      bh * (uint64_t)(shape->seq_q * D), sink, VIDEO_SINK_LOGIT / sqrtf((float)D), 0, kind_of_head);
      ok &= video_embedding(k + bh * (size_t)(shape->seq_k * D), shape->seq_k, D, seed, token_seed, head_stream,
                      K_STREAM + bh * (uint64_t)(shape->seq_k * D), sink, 0.0f, 1, kind_of_head);
    }
  free(sink);
  return ok ? VDIT_OK : VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "video inputs: no memory");
}
