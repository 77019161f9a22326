// vdit train layer: a text-to-video model bundle (the Wan DiT, a learned caption-token table
// and its vocabulary), rectified-flow training as Wan trains it, AdamW with warm-up and
// cosine decay, gradient clipping, EMA weights, checkpoints with bitwise-identical resume and
// held-out loss per timestep bucket. docs/train.md has the formulas, the config fields and
// the measured times.
#ifndef VDIT_TRAIN_H
#define VDIT_TRAIN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "vdit/base.h"
#include "vdit/model.h"
#include "vdit/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

// ---------------------------------------------------------------- the model bundle
// What a bundle file (models/<name>/model.safetensors) holds besides the weights: the DiT
// config, the caption vocabulary size and length, the clip shape it makes and its sampling
// defaults.
typedef struct vdit_bundle_config {
  vdit_model_config model;
  int64_t vocab;       // V tokens; token 0 is padding (its embedding is fixed at zero)
  int64_t text_length; // S_txt: captions are padded (or cut) to this many tokens
  int64_t frames, height, width; // the clip (3, F, H, W) the model makes, pixels in [-1, 1]
  double fps;
  // Sampling defaults (vdit generate): Euler steps, guidance scale, timestep shift.
  int64_t sample_steps;
  double sample_cfg, sample_shift;
} vdit_bundle_config;

// The bundled model's config (docs/train.md, "The bundled model"): 16 frames of 32x32,
// patch (1, 4, 4), dim 192 = 3 heads x 64, 6 layers, ffn 512, text 64, 20 steps, cfg 4, shift 3.
void vdit_bundle_config_default(vdit_bundle_config *config);
vdit_status vdit_bundle_config_validate(const vdit_bundle_config *config);

// The config as a JSON object (the bundle file's "vdit.config" metadata) and back. Parsing
// fills the fields `json` names over the ones already in *config, so a train config can
// give only what it changes; unknown keys are errors naming them.
// Keys: dim, heads, layers, ffn, freq_dim, text_dim, patch [t, h, w], channels, qk_norm,
// cross_attn_norm, eps, rope_theta, vocab, text_length, frames, height, width, fps,
// sample_steps, sample_cfg, sample_shift.
vdit_status vdit_bundle_config_to_json(const vdit_bundle_config *config, char **json); // free() it
vdit_status vdit_bundle_config_from_json(const char *json, size_t length, const char *source,
                                         vdit_bundle_config *config);

// The model and its text table. words[t] is token t's word (words[0] = "" for padding).
typedef struct vdit_bundle {
  vdit_bundle_config config;
  vdit_model_weights weights;
  float *token_table; // (V, D_txt), row 0 zero; 64-byte aligned
  char **words;       // V entries, owned (one allocation: word_storage)
  char *word_storage;
} vdit_bundle;

// Allocates a bundle for `config` with the vocabulary `words` (config->vocab entries,
// words[0] may be NULL or ""; each a lower-case word without spaces, none repeated), every
// parameter zero. Free with vdit_bundle_free.
vdit_status vdit_bundle_alloc(const vdit_bundle_config *config, const char *const *words, vdit_bundle *bundle);
void vdit_bundle_free(vdit_bundle *bundle); // zeroed is fine

// Random initial weights from `seed`: Linear weights N(0, 1/fan_in), biases 0, norm scales
// 1, the modulation tables N(0, 0.02), the token table N(0, 1) (row 0 zero), and the output
// head zero (so the first prediction is 0 and the loss starts at E|noise - x0|^2).
void vdit_bundle_init(vdit_bundle *bundle, uint64_t seed);

// Writes the bundle as one safetensors file: each DiT parameter in diffusers names and
// "text_table.weight" (V, D_txt), as `dtype` (F32, or BF16 rounded to nearest even), metadata "format" = "vdit-bundle", "vdit.config" (the
// JSON above) and "vdit.vocab" (a JSON array of the words). `weights` NULL writes the
// bundle's own; else that buffer (same layout, e.g. the EMA weights) with the table from
// `token_table`.
vdit_status vdit_bundle_save(const vdit_bundle *bundle, const vdit_model_weights *weights, const float *token_table,
                             vdit_dtype dtype, const char *path);
// Reads a bundle file, or a folder holding model.safetensors (a training checkpoint is also a
// bundle file). Errors name the file and what is wrong with it.
vdit_status vdit_bundle_load(const char *path, vdit_bundle *bundle);

// Caption to tokens with the bundle's vocabulary: words are runs of letters, lower-cased
// (anything else separates them, as in the world's tokenizer), padded with 0 to config.text_length (words beyond it are an error). An
// unknown word gives VDIT_ERROR_INVALID_ARGUMENT: "unknown word 'redd' in the prompt (nearby
// words: red, bed, ...; the model knows N words)".
vdit_status vdit_bundle_tokenize(const vdit_bundle *bundle, const char *caption, int32_t *tokens);

// ---------------------------------------------------------------- text conditioning
// context[b, s, :] = table[tokens[b, s], :] for tokens (B, S) in [0, V); padding (token 0)
// gives zeros. context is (B, S, D_txt) f32.
vdit_status vdit_text_embed(const float *table, int64_t vocab, int64_t text_dim, const int32_t *tokens, int64_t batch,
                            int64_t length, float *context);
// d_table[tokens[b, s], :] += d_context[b, s, :] for every non-padding token (row 0 untouched).
vdit_status vdit_text_embed_backward(const int32_t *tokens, int64_t batch, int64_t length, int64_t vocab,
                                     int64_t text_dim, const float *d_context, float *d_table);

// ---------------------------------------------------------------- rectified flow
// x_t = (1 - t) x0 + t noise; the model predicts the velocity noise - x0 at timestep 1000 t.
// Training draws t = sigmoid(mean + std z), z ~ N(0, 1) (logit-normal), then shifts it:
float vdit_flow_shift(float t, float shift); // s t / (1 + (s - 1) t)
float vdit_flow_logit_normal(float z, float mean, float std); // sigmoid(mean + std z)

// ---------------------------------------------------------------- optimizer
typedef struct vdit_adamw_config {
  double beta1, beta2, eps, weight_decay;
} vdit_adamw_config;

// One AdamW step over n floats (any flat buffer: the whole parameter allocation), step >= 1:
//   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
//   p = p - lr (wd p + (m / (1 - b1^step)) / (sqrt(v / (1 - b2^step)) + eps))
// with g = grad_scale * grad (the clipping factor). Decoupled weight decay on every
// parameter the caller passes (vdit applies it to all, as Wan's trainer does).
void vdit_adamw_update(float *params, const float *grads, float *m, float *v, size_t n, int64_t step, double lr,
                       double grad_scale, const vdit_adamw_config *config);
// ema = decay ema + (1 - decay) params.
void vdit_ema_update(float *ema, const float *params, size_t n, double decay);
// The same two updates on device buffers (CUDA builds; VDIT_ERROR_NO_DEVICE without), bit
// for bit the CPU's (src/train/adamw_element.h). `stream` is a cudaStream_t (NULL: default);
// they return after the launch.
vdit_status vdit_adamw_update_cuda(float *params, const float *grads, float *m, float *v, size_t n, int64_t step,
                                   double lr, double grad_scale, const vdit_adamw_config *config, void *stream);
vdit_status vdit_ema_update_cuda(float *ema, const float *params, size_t n, double decay, void *stream);
// The same sum over a device buffer (CUDA builds; VDIT_ERROR_NO_DEVICE without); waits for it.
vdit_status vdit_sum_squares_cuda(const float *x, size_t n, double *sum);
// Sum of squares of grads[0..n) in double (the global gradient norm is the sqrt of the sum
// over every buffer).
double vdit_sum_squares(const float *x, size_t n);

// Learning rate at `step` (1-based): linear warm-up from lr/warmup to lr over `warmup`
// steps, then cosine decay to min_lr at `total` steps.
double vdit_lr_schedule(int64_t step, int64_t warmup, int64_t total, double lr, double min_lr);

// ---------------------------------------------------------------- data
// Where training clips come from. fill writes `count` clips, those of clip indices
// first .. first + count - 1 (an index names one clip forever: the same index, the same
// clip), as video (count, 3, F, H, W) in [-1, 1] and captions as tokens (count, S_txt),
// 0-padded. Held-out clips use indices >= VDIT_TRAIN_HELD_OUT_INDEX.
typedef struct vdit_train_source {
  void *user;
  vdit_status (*fill)(void *user, uint64_t first, int64_t count, float *video, int32_t *tokens,
                      const vdit_bundle_config *config);
  int64_t vocab;             // tokens the captions use (words[0] padding)
  const char *const *words;  // vocab entries
} vdit_train_source;
#define VDIT_TRAIN_HELD_OUT_INDEX (UINT64_C(1) << 62)

// The procedural world as a source (src/train/world_source.c; needs the world layer).
// clip index i renders world seed `data_seed + i`.
typedef struct vdit_world_source vdit_world_source;
vdit_status vdit_world_source_create(uint64_t data_seed, vdit_world_source **source, vdit_train_source *out);
void vdit_world_source_free(vdit_world_source *source);

// A synthetic source for tests and smoke runs (src/train/squares_source.c): clip i is a red,
// green or blue square moving left or right on gray, captioned "<color> square moves
// <direction>" (8 tokens with padding). distinct > 0: only clips index % distinct exist.
typedef struct vdit_squares_source {
  uint64_t distinct;
} vdit_squares_source;
#define VDIT_SQUARES_VOCAB 8
void vdit_squares_source_init(vdit_squares_source *state, uint64_t distinct, vdit_train_source *out);

// ---------------------------------------------------------------- training
#define VDIT_TRAIN_BUCKETS 5 // held-out loss per bucket of t: [0, .2), [.2, .4), ... [.8, 1)
#define VDIT_TRAIN_PATH_SIZE 1024

typedef struct vdit_train_config {
  vdit_bundle_config bundle;
  int64_t steps, batch;
  double lr, min_lr;
  int64_t warmup;            // linear warm-up steps
  vdit_adamw_config adamw;
  double clip;               // global gradient-norm clip (0: none)
  double ema;                // EMA decay (0: EMA = weights)
  double shift, logit_mean, logit_std, caption_dropout;
  uint64_t seed;             // weights init, noise, timesteps and caption dropout
  uint64_t data_seed;        // which clips (the world seeds)
  int64_t eval_interval, eval_clips; // held-out loss every N steps on eval_clips clips per bucket
  int64_t checkpoint_interval;
  int recompute;             // recompute blocks in the backward (less memory)
  // Where the model trains: the CPU (f32) or a GPU (bf16 compute with f32 master weights,
  // gradients, Adam moments and EMA on the device). Set by the caller (vdit train --device);
  // not part of the JSON, so a checkpoint resumes on either.
  vdit_device device;
  char checkpoint[VDIT_TRAIN_PATH_SIZE]; // checkpoint file ("" none)
  char output[VDIT_TRAIN_PATH_SIZE];     // final bundle with EMA weights ("" none)
  char resume[VDIT_TRAIN_PATH_SIZE];     // checkpoint to resume from ("" none)
  char metrics[VDIT_TRAIN_PATH_SIZE];    // JSON lines of every step and evaluation, appended ("" none)
  // The trained model's self-attention: an attention policy (vdit_model_attn_policy_load: a
  // spec such as "sparge(topk=0.25)" or a .json file; layer conditions only, training has no
  // sampler step), "" dense. The backward holds each block's mask constant.
  char attn[VDIT_TRAIN_PATH_SIZE];
  // Velocity distillation (docs/train.md): a teacher bundle ("" none). The model starts from
  // the teacher's weights and token table, and the loss is MSE(the model's velocity with
  // `attn`, the frozen teacher's velocity with dense attention) on the same noised inputs and
  // captions; the held-out loss is the same student-teacher MSE. The teacher's config and
  // vocabulary must be the run's.
  char distill[VDIT_TRAIN_PATH_SIZE];
} vdit_train_config;

void vdit_train_config_default(vdit_train_config *config);
vdit_status vdit_train_config_validate(const vdit_train_config *config);
// Reads a train config JSON: {"model": {bundle keys}, "steps", "batch", "lr", "min_lr",
// "warmup", "beta1", "beta2", "adam_eps", "weight_decay", "clip", "ema", "shift",
// "logit_mean", "logit_std", "caption_dropout", "seed", "data_seed", "eval_interval",
// "eval_clips", "checkpoint", "checkpoint_interval", "output", "resume", "metrics",
// "recompute", "attn", "distill"} over
// the values in *config; unknown keys are errors naming them.
vdit_status vdit_train_config_parse(const char *json, size_t length, const char *source, vdit_train_config *config);
vdit_status vdit_train_config_read(const char *path, vdit_train_config *config);
vdit_status vdit_train_config_to_json(const vdit_train_config *config, char **json); // free() it

typedef struct vdit_trainer vdit_trainer;

typedef struct vdit_train_step_info {
  int64_t step;      // the step just taken (1-based)
  double loss;       // MSE of the velocity over the batch (against the teacher's when distilling)
  double lr;
  double grad_norm;  // before clipping
  double seconds;
} vdit_train_step_info;

// A trainer at step 0 with weights from config->seed (config->resume is not read here; see
// vdit_trainer_load). The source must outlive the trainer.
vdit_status vdit_trainer_create(const vdit_train_config *config, const vdit_train_source *source,
                                vdit_trainer **trainer);
void vdit_trainer_free(vdit_trainer *trainer);
// One optimizer step on clips step*batch .. step*batch + batch - 1.
vdit_status vdit_trainer_step(vdit_trainer *trainer, vdit_train_step_info *info);
int64_t vdit_trainer_step_index(const vdit_trainer *trainer); // steps taken
// Held-out loss per t bucket: eval_clips fixed held-out clips per bucket, fixed noise and t
// (evenly spaced inside the bucket), full captions, the current (not EMA) weights.
vdit_status vdit_trainer_evaluate(vdit_trainer *trainer, double loss[VDIT_TRAIN_BUCKETS]);
// Checkpoint: the bundle file (weights, table, config, vocab) plus "train.ema",
// "train.adam_m", "train.adam_v" (flat: the weight allocation then the table) and metadata
// "train.step", "train.config". Loading needs the same model config.
vdit_status vdit_trainer_save(const vdit_trainer *trainer, const char *path);
vdit_status vdit_trainer_load(vdit_trainer *trainer, const char *path);
// The bundle with the EMA weights in BF16 (what vdit generate uses; half the file).
vdit_status vdit_trainer_export(const vdit_trainer *trainer, const char *path);
const vdit_bundle *vdit_trainer_bundle(const vdit_trainer *trainer);

// The whole run of `vdit train`: resume if config->resume, steps with a progress line
// (step, loss, lr, step time, ETA) on `log`, held-out loss before the first step and every
// eval_interval steps, each step and evaluation appended to config->metrics as one JSON line
//   {"step": 12, "loss": 0.31, "lr": 0.0002, "grad_norm": 0.4, "seconds": 0.08}
//   {"step": 500, "eval": [0.04, 0.06, 0.08, 0.11, 0.16]}            (per t bucket)
// checkpoints every checkpoint_interval steps and at the end, the EMA bundle to
// config->output.
vdit_status vdit_train_run(const vdit_train_config *config, const vdit_train_source *source, FILE *log);

#ifdef __cplusplus
}
#endif

#endif // VDIT_TRAIN_H
