// The trainer: rectified-flow steps (Wan's objective) with AdamW, clipping and EMA over the
// flat parameter buffers, held-out loss per t bucket, checkpoints with bitwise resume.
//
// Every random draw is a pure function of (seed, step, sample): Philox streams addressed by
// the clip index step * batch + b, so a resumed run draws exactly what the straight run drew.
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/train_internal.h"
#include "vdit/train.h"

// Philox stream ids derived from the config's seed, one per purpose.
enum { STREAM_NOISE = 1, STREAM_TIME = 2, STREAM_DROPOUT = 3, STREAM_EVAL_NOISE = 4 };
static uint64_t stream_seed(uint64_t seed, uint64_t purpose) {
  uint64_t x = seed * UINT64_C(0x9E3779B97F4A7C15) + purpose * UINT64_C(0xBF58476D1CE4E5B9);
  x ^= x >> 31;
  return x;
}

struct vdit_trainer {
  vdit_train_config config;
  const vdit_train_source *source;
  vdit_bundle bundle;           // the parameters being trained
  vdit_model_weights grads, ema;
  float *grad_table, *ema_table; // (V, D_txt)
  float *m, *v;                 // Adam moments, flat: the weight allocation, then the table
  size_t weight_floats, table_floats;
  vdit_model_state *state;
  int64_t step;
  // One batch: (B, 3, F, H, W) buffers, (B, S) tokens, (B, S, D_txt) context, (B) timesteps.
  vdit_tensor x0, noise, xt, target, output, d_output, context, d_context, timesteps;
  int32_t *tokens;
  // On a GPU (config.device CUDA) the weights live there: f32 master weights that AdamW
  // updates, the bf16 compute copy the model reads (refreshed from the master every step), f32
  // gradients, EMA and Adam moments, all six in the one alloc_on layout so the flat AdamW/EMA
  // kernels pair their elements (gaps zero). The host buffers above (bundle.weights, ema, m, v)
  // then mirror them only for checkpoints and exports. The token table (V x D_txt, a few
  // thousand floats) stays on the host with its host AdamW. Batches are built on the host and
  // copied (a 32-clip batch of 16 x 32 x 32 is 6 MB each way).
  int gpu;
  vdit_model_weights master, compute, dev_grads, dev_ema, dev_m, dev_v;
  vdit_tensor gpu_xt, gpu_timesteps, gpu_context, gpu_output, gpu_d_output, gpu_d_context;
  // config.attn: each block's self-attention method (layers entries), or NULL: dense.
  vdit_attn_method_config *methods;
  // config.distill: the frozen teacher (on a GPU also its bf16 compute copy there).
  int distill;
  vdit_bundle teacher;
  vdit_model_weights teacher_compute;
};

void vdit_trainer_free(vdit_trainer *t) {
  if (!t) return;
  vdit_bundle_free(&t->bundle);
  vdit_model_weights_free(&t->grads);
  vdit_model_weights_free(&t->ema);
  vdit_host_free(t->grad_table);
  vdit_host_free(t->ema_table);
  vdit_host_free(t->m);
  vdit_host_free(t->v);
  vdit_model_state_free(t->state);
  vdit_tensor *all[] = {&t->x0, &t->noise, &t->xt, &t->target, &t->output, &t->d_output,
                        &t->context, &t->d_context, &t->timesteps};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) vdit_tensor_free(all[i]);
  free(t->tokens);
  vdit_model_weights *device_weights[] = {&t->master, &t->compute, &t->dev_grads, &t->dev_ema, &t->dev_m, &t->dev_v};
  for (size_t i = 0; i < sizeof device_weights / sizeof device_weights[0]; i++) vdit_model_weights_free(device_weights[i]);
  vdit_tensor *gpu[] = {&t->gpu_xt, &t->gpu_timesteps, &t->gpu_context, &t->gpu_output, &t->gpu_d_output,
                        &t->gpu_d_context};
  for (size_t i = 0; i < sizeof gpu / sizeof gpu[0]; i++) vdit_tensor_free(gpu[i]);
  free(t->methods);
  vdit_bundle_free(&t->teacher);
  vdit_model_weights_free(&t->teacher_compute);
  free(t);
}

// Host flat buffer (the CPU weight layout) <-> device weights of the alloc_on layout, through
// a temporary CPU weights struct (the layouts differ in alignment).
static vdit_status flat_to_device(const vdit_trainer *t, const float *host, vdit_model_weights *device) {
  vdit_model_weights tmp;
  VDIT_TRY(vdit_model_weights_alloc(&t->config.bundle.model, &tmp));
  memcpy(tmp.data, host, t->weight_floats * sizeof(float));
  vdit_status status = vdit_model_weights_copy(device, &tmp);
  vdit_model_weights_free(&tmp);
  return status;
}
static vdit_status flat_from_device(const vdit_trainer *t, const vdit_model_weights *device, float *host) {
  vdit_model_weights tmp;
  VDIT_TRY(vdit_model_weights_alloc(&t->config.bundle.model, &tmp));
  vdit_status status = vdit_model_weights_copy(&tmp, device);
  if (status == VDIT_OK) memcpy(host, tmp.data, t->weight_floats * sizeof(float));
  vdit_model_weights_free(&tmp);
  return status;
}

// Host state -> device (after init or a resume).
static vdit_status push_to_device(vdit_trainer *t) {
  VDIT_TRY(vdit_model_weights_copy(&t->master, &t->bundle.weights));
  VDIT_TRY(vdit_model_weights_copy(&t->compute, &t->master));
  VDIT_TRY(vdit_model_weights_copy(&t->dev_ema, &t->ema));
  VDIT_TRY(flat_to_device(t, t->m, &t->dev_m));
  return flat_to_device(t, t->v, &t->dev_v);
}

// Device state -> host mirrors (before a checkpoint or an export).
static vdit_status pull_from_device(const vdit_trainer *t) {
  vdit_trainer *w = (vdit_trainer *)t; // the mirrors are caches of the device state
  VDIT_TRY(vdit_model_weights_copy(&w->bundle.weights, &t->master));
  VDIT_TRY(vdit_model_weights_copy(&w->ema, &t->dev_ema));
  VDIT_TRY(flat_from_device(t, &t->dev_m, w->m));
  return flat_from_device(t, &t->dev_v, w->v);
}

static vdit_status create_device_state(vdit_trainer *t) {
  const vdit_model_config *mc = &t->config.bundle.model;
  const vdit_device dev = t->config.device;
  vdit_model_weights *f32[] = {&t->master, &t->dev_grads, &t->dev_ema, &t->dev_m, &t->dev_v};
  for (size_t i = 0; i < sizeof f32 / sizeof f32[0]; i++) {
    VDIT_TRY(vdit_model_weights_alloc_on(mc, dev, VDIT_DTYPE_F32, f32[i]));
    vdit_model_weights_zero(f32[i]); // the gaps between tensors stay zero for the flat kernels
  }
  VDIT_TRY(vdit_model_weights_alloc_on(mc, dev, VDIT_DTYPE_BF16, &t->compute));
  struct { vdit_tensor *gpu; const vdit_tensor *like; } pairs[] = {
      {&t->gpu_xt, &t->xt},       {&t->gpu_timesteps, &t->timesteps}, {&t->gpu_context, &t->context},
      {&t->gpu_output, &t->output}, {&t->gpu_d_output, &t->d_output}, {&t->gpu_d_context, &t->d_context}};
  for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
    VDIT_TRY(vdit_tensor_alloc(pairs[i].gpu, VDIT_DTYPE_F32, dev, pairs[i].like->ndim, pairs[i].like->shape));
  if (t->distill) {
    VDIT_TRY(vdit_model_weights_alloc_on(mc, dev, VDIT_DTYPE_BF16, &t->teacher_compute));
    VDIT_TRY(vdit_model_weights_copy(&t->teacher_compute, &t->teacher.weights));
  }
  return push_to_device(t);
}

// config.distill: loads the teacher and checks that it is the run's model (config and
// vocabulary).
static vdit_status load_teacher(vdit_trainer *t) {
  const char *path = t->config.distill;
  VDIT_TRY(vdit_bundle_load(path, &t->teacher));
  char *mine = NULL, *theirs = NULL;
  vdit_status status = vdit_bundle_config_to_json(&t->bundle.config, &mine);
  if (status == VDIT_OK) status = vdit_bundle_config_to_json(&t->teacher.config, &theirs);
  if (status == VDIT_OK && strcmp(mine, theirs) != 0)
    status = VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "distill: teacher %s has the model config %s, the run %s", path,
                        theirs, mine);
  for (int64_t i = 1; status == VDIT_OK && i < t->teacher.config.vocab; i++)
    if (strcmp(t->teacher.words[i], t->bundle.words[i]) != 0)
      status = VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT,
                          "distill: teacher %s's vocabulary differs from the data's at token %lld ('%s', not '%s')", path,
                          (long long)i, t->teacher.words[i], t->bundle.words[i]);
  free(mine);
  free(theirs);
  return status;
}

// `tensor` with its batch dim cut to `count` (contiguous tensors: the first rows).
static vdit_tensor first_rows(const vdit_tensor *tensor, int64_t count) {
  vdit_tensor view = *tensor;
  view.shape[0] = count;
  view.allocation = NULL;
  return view;
}

static float *alloc_floats(size_t n) {
  float *p = vdit_host_alloc(n * sizeof(float), VDIT_HOST_ALIGNMENT);
  if (p) memset(p, 0, n * sizeof(float));
  return p;
}

vdit_status vdit_trainer_create(const vdit_train_config *config, const vdit_train_source *source,
                                vdit_trainer **trainer) {
  if (!config || !source || !trainer || !source->fill || !source->words)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_trainer_create: NULL argument");
  *trainer = NULL;
  VDIT_TRY(vdit_train_config_validate(config));
  if (source->vocab != config->bundle.vocab)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "trainer: the data source has %lld tokens, the model config %lld",
                      (long long)source->vocab, (long long)config->bundle.vocab);
  vdit_trainer *t = calloc(1, sizeof *t);
  if (!t) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "trainer: no memory");
  t->config = *config;
  t->source = source;
  vdit_status status = vdit_bundle_alloc(&config->bundle, source->words, &t->bundle);
  if (status == VDIT_OK) status = vdit_model_weights_alloc(&config->bundle.model, &t->grads);
  if (status == VDIT_OK) status = vdit_model_weights_alloc(&config->bundle.model, &t->ema);
  if (status == VDIT_OK) status = vdit_model_state_create(&t->state);
  if (status != VDIT_OK) {
    vdit_trainer_free(t);
    return status;
  }
  vdit_model_weights_zero(&t->grads);
  t->weight_floats = t->bundle.weights.floats;
  t->table_floats = (size_t)config->bundle.vocab * (size_t)config->bundle.model.text_dim;
  const size_t n = t->weight_floats + t->table_floats;
  t->grad_table = alloc_floats(t->table_floats);
  t->ema_table = alloc_floats(t->table_floats);
  t->m = alloc_floats(n);
  t->v = alloc_floats(n);
  const vdit_bundle_config *b = &config->bundle;
  const int64_t video_shape[5] = {config->batch, 3, b->frames, b->height, b->width};
  const int64_t context_shape[3] = {config->batch, b->text_length, b->model.text_dim};
  const int64_t batch_shape[1] = {config->batch};
  vdit_tensor *videos[] = {&t->x0, &t->noise, &t->xt, &t->target, &t->output, &t->d_output};
  for (size_t i = 0; i < 6 && status == VDIT_OK; i++)
    status = vdit_tensor_alloc(videos[i], VDIT_DTYPE_F32, VDIT_CPU, 5, video_shape);
  if (status == VDIT_OK) status = vdit_tensor_alloc(&t->context, VDIT_DTYPE_F32, VDIT_CPU, 3, context_shape);
  if (status == VDIT_OK) status = vdit_tensor_alloc(&t->d_context, VDIT_DTYPE_F32, VDIT_CPU, 3, context_shape);
  if (status == VDIT_OK) status = vdit_tensor_alloc(&t->timesteps, VDIT_DTYPE_F32, VDIT_CPU, 1, batch_shape);
  t->tokens = calloc((size_t)(config->batch * b->text_length), sizeof *t->tokens);
  if (status == VDIT_OK && (!t->grad_table || !t->ema_table || !t->m || !t->v || !t->tokens))
    status = VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "trainer: no memory for the optimizer state");
  if (status != VDIT_OK) {
    vdit_trainer_free(t);
    return status;
  }
  vdit_bundle_init(&t->bundle, config->seed);
  if (config->attn[0]) {
    vdit_model_attn_policy policy;
    status = vdit_model_attn_policy_load(config->attn, &policy);
    t->methods = calloc((size_t)b->model.layers, sizeof *t->methods);
    if (status == VDIT_OK && !t->methods) status = VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "trainer: no memory");
    if (status == VDIT_OK) vdit_model_attn_policy_fill(&policy, b->model.layers, 0, t->methods);
  }
  t->distill = config->distill[0] != '\0';
  if (status == VDIT_OK && t->distill) status = load_teacher(t);
  if (status != VDIT_OK) {
    vdit_trainer_free(t);
    return status;
  }
  if (t->distill) { // the student starts as the teacher
    memcpy(t->bundle.weights.data, t->teacher.weights.data, t->weight_floats * sizeof(float));
    memcpy(t->bundle.token_table, t->teacher.token_table, t->table_floats * sizeof(float));
  }
  memcpy(t->ema.data, t->bundle.weights.data, t->weight_floats * sizeof(float));
  memcpy(t->ema_table, t->bundle.token_table, t->table_floats * sizeof(float));
  t->gpu = config->device.type == VDIT_DEVICE_CUDA;
  if (t->gpu && (status = create_device_state(t)) != VDIT_OK) {
    vdit_trainer_free(t);
    return status;
  }
  *trainer = t;
  return VDIT_OK;
}

int64_t vdit_trainer_step_index(const vdit_trainer *trainer) { return trainer->step; }
const vdit_bundle *vdit_trainer_bundle(const vdit_trainer *trainer) { return &trainer->bundle; }

// The model `weights` (on a GPU `compute`) with token table `table` on the batch in t->xt,
// t->timesteps and t->tokens (count samples): output into `out` (count rows of it); with
// `state` a training forward.
static vdit_status run_model(vdit_trainer *t, const vdit_model_weights *weights, const vdit_model_weights *compute,
                             const float *table, const vdit_model_run_options *options, int64_t count,
                             vdit_model_state *state, vdit_tensor *out) {
  const vdit_bundle_config *b = &t->config.bundle;
  VDIT_TRY(vdit_text_embed(table, b->vocab, b->model.text_dim, t->tokens, count, b->text_length, t->context.data));
  vdit_tensor xt = first_rows(&t->xt, count), timesteps = first_rows(&t->timesteps, count);
  vdit_tensor context = first_rows(&t->context, count), output = first_rows(out, count);
  if (t->gpu) {
    vdit_tensor gxt = first_rows(&t->gpu_xt, count), gtimesteps = first_rows(&t->gpu_timesteps, count);
    vdit_tensor gcontext = first_rows(&t->gpu_context, count), goutput = first_rows(&t->gpu_output, count);
    VDIT_TRY(vdit_tensor_copy(&gxt, &xt));
    VDIT_TRY(vdit_tensor_copy(&gtimesteps, &timesteps));
    VDIT_TRY(vdit_tensor_copy(&gcontext, &context));
    VDIT_TRY(vdit_model_forward(compute, options, &gxt, &gtimesteps, &gcontext, &goutput, state));
    return vdit_tensor_copy(&output, &goutput);
  }
  return vdit_model_forward(weights, options, &xt, &timesteps, &context, &output, state);
}

// Distillation: t->target = the teacher's velocity (dense attention) on the batch.
static vdit_status teacher_targets(vdit_trainer *t, int64_t count) {
  if (!t->distill) return VDIT_OK;
  return run_model(t, &t->teacher.weights, &t->teacher_compute, t->teacher.token_table, NULL, count, NULL, &t->target);
}

// Model prediction for the batch in t->xt, t->timesteps and t->tokens (count samples), and the
// velocity MSE against t->target; with `train`, d_output = dL/doutput and a state is kept.
static vdit_status predict(vdit_trainer *t, int64_t count, int train, double *loss) {
  vdit_model_run_options options = {0};
  options.recompute = t->config.recompute;
  options.self_attn = t->methods;
  VDIT_TRY(run_model(t, &t->bundle.weights, &t->compute, t->bundle.token_table, &options, count,
                     train ? t->state : NULL, &t->output));
  const int64_t n = count * (vdit_tensor_numel(&t->output) / t->output.shape[0]);
  const float *out = t->output.data, *target = t->target.data;
  float *d = t->d_output.data;
  double sum = 0;
  const float scale = (float)(2.0 / (double)n);
  for (int64_t i = 0; i < n; i++) {
    const float e = out[i] - target[i];
    sum += (double)e * e;
    d[i] = scale * e;
  }
  *loss = sum / (double)n;
  return VDIT_OK;
}

// x_t = (1 - t) x0 + t noise and target = noise - x0 for sample b.
static void make_sample(vdit_trainer *t, int64_t b, float time) {
  const size_t clip = (size_t)(vdit_tensor_numel(&t->x0) / t->x0.shape[0]);
  const float *x0 = (const float *)t->x0.data + b * clip, *noise = (const float *)t->noise.data + b * clip;
  float *xt = (float *)t->xt.data + b * clip, *target = (float *)t->target.data + b * clip;
  for (size_t i = 0; i < clip; i++) {
    xt[i] = (1.0f - time) * x0[i] + time * noise[i];
    target[i] = noise[i] - x0[i];
  }
  ((float *)t->timesteps.data)[b] = 1000.0f * time;
}

vdit_status vdit_trainer_step(vdit_trainer *t, vdit_train_step_info *info) {
  const double start = vdit_time_seconds();
  const vdit_train_config *c = &t->config;
  const vdit_bundle_config *b = &c->bundle;
  const int64_t batch = c->batch;
  const uint64_t first = (uint64_t)t->step * (uint64_t)batch;
  const size_t clip = (size_t)(vdit_tensor_numel(&t->x0) / batch);
  VDIT_TRY(t->source->fill(t->source->user, first, batch, t->x0.data, t->tokens, b));
  vdit_rng_normal(stream_seed(c->seed, STREAM_NOISE), first * clip, clip * (size_t)batch, t->noise.data);
  for (int64_t i = 0; i < batch; i++) {
    float z, u;
    vdit_rng_normal(stream_seed(c->seed, STREAM_TIME), first + (uint64_t)i, 1, &z);
    vdit_rng_uniform(stream_seed(c->seed, STREAM_DROPOUT), first + (uint64_t)i, 1, &u);
    const float time = vdit_flow_shift(vdit_flow_logit_normal(z, (float)c->logit_mean, (float)c->logit_std),
                                       (float)c->shift);
    make_sample(t, i, time);
    if (u < c->caption_dropout) memset(t->tokens + i * b->text_length, 0, (size_t)b->text_length * sizeof(int32_t));
  }
  VDIT_TRY(teacher_targets(t, batch));
  double loss;
  VDIT_TRY(predict(t, batch, 1, &loss));
  if (!isfinite(loss))
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "training diverged at step %lld: the loss is %g (lower the lr?)",
                      (long long)t->step + 1, loss);
  vdit_model_run_options options = {0};
  double weight_squares;
  if (t->gpu) {
    vdit_tensor gd_output = first_rows(&t->gpu_d_output, batch);
    VDIT_TRY(vdit_tensor_copy(&gd_output, &t->d_output));
    VDIT_TRY(vdit_model_backward(&t->compute, &options, t->state, &gd_output, NULL, &t->gpu_d_context, &t->dev_grads,
                                 VDIT_GRAD_OVERWRITE));
    VDIT_TRY(vdit_tensor_copy(&t->d_context, &t->gpu_d_context));
    VDIT_TRY(vdit_sum_squares_cuda(t->dev_grads.data, t->dev_grads.floats, &weight_squares));
  } else {
    VDIT_TRY(vdit_model_backward(&t->bundle.weights, &options, t->state, &t->d_output, NULL, &t->d_context, &t->grads,
                                 VDIT_GRAD_OVERWRITE));
    weight_squares = vdit_sum_squares(t->grads.data, t->weight_floats);
  }
  memset(t->grad_table, 0, t->table_floats * sizeof(float));
  VDIT_TRY(vdit_text_embed_backward(t->tokens, batch, b->text_length, b->vocab, b->model.text_dim, t->d_context.data,
                                    t->grad_table));
  const double norm = sqrt(weight_squares + vdit_sum_squares(t->grad_table, t->table_floats));
  const double scale = (c->clip > 0 && norm > c->clip) ? c->clip / norm : 1.0;
  const int64_t step = t->step + 1;
  const double lr = vdit_lr_schedule(step, c->warmup, c->steps, c->lr, c->min_lr);
  if (t->gpu) {
    const size_t n = t->master.floats;
    VDIT_TRY(vdit_adamw_update_cuda(t->master.data, t->dev_grads.data, t->dev_m.data, t->dev_v.data, n, step, lr, scale,
                                    &c->adamw, NULL));
    VDIT_TRY(vdit_ema_update_cuda(t->dev_ema.data, t->master.data, n, c->ema, NULL));
    VDIT_TRY(vdit_model_weights_copy(&t->compute, &t->master));
  } else {
    vdit_adamw_update(t->bundle.weights.data, t->grads.data, t->m, t->v, t->weight_floats, step, lr, scale, &c->adamw);
    vdit_ema_update(t->ema.data, t->bundle.weights.data, t->weight_floats, c->ema);
  }
  vdit_adamw_update(t->bundle.token_table, t->grad_table, t->m + t->weight_floats, t->v + t->weight_floats,
                    t->table_floats, step, lr, scale, &c->adamw);
  vdit_ema_update(t->ema_table, t->bundle.token_table, t->table_floats, c->ema);
  t->step = step;
  if (info) {
    info->step = step;
    info->loss = loss;
    info->lr = lr;
    info->grad_norm = norm;
    info->seconds = vdit_time_seconds() - start;
  }
  return VDIT_OK;
}

vdit_status vdit_trainer_evaluate(vdit_trainer *t, double loss[VDIT_TRAIN_BUCKETS]) {
  const vdit_train_config *c = &t->config;
  const int64_t clips = c->eval_clips, batch = c->batch;
  const size_t clip = (size_t)(vdit_tensor_numel(&t->x0) / batch);
  for (int k = 0; k < VDIT_TRAIN_BUCKETS; k++) loss[k] = 0;
  for (int64_t start = 0; start < clips; start += batch) {
    const int64_t count = clips - start < batch ? clips - start : batch;
    VDIT_TRY(t->source->fill(t->source->user, VDIT_TRAIN_HELD_OUT_INDEX + (uint64_t)start, count, t->x0.data, t->tokens,
                             &c->bundle));
    vdit_rng_normal(stream_seed(c->seed, STREAM_EVAL_NOISE), (uint64_t)start * clip, clip * (size_t)count,
                    t->noise.data);
    for (int k = 0; k < VDIT_TRAIN_BUCKETS; k++) {
      for (int64_t i = 0; i < count; i++) {
        // Evenly spaced inside bucket k: the same t for the same clip at every evaluation.
        const double within = ((double)(start + i) + 0.5) / (double)clips;
        make_sample(t, i, (float)(((double)k + within) / VDIT_TRAIN_BUCKETS));
      }
      VDIT_TRY(teacher_targets(t, count));
      double batch_loss;
      VDIT_TRY(predict(t, count, 0, &batch_loss));
      loss[k] += batch_loss * (double)count / (double)clips;
    }
  }
  return VDIT_OK;
}

// ---------------------------------------------------------------- checkpoints
vdit_status vdit_trainer_save(const vdit_trainer *t, const char *path) {
  if (t->gpu) VDIT_TRY(pull_from_device(t));
  vdit_tensor tensors[4];
  const int64_t weights_shape[1] = {(int64_t)t->weight_floats}, table_shape[1] = {(int64_t)t->table_floats};
  const int64_t flat_shape[1] = {(int64_t)(t->weight_floats + t->table_floats)};
  VDIT_TRY(vdit_tensor_view(&tensors[0], t->ema.data, VDIT_DTYPE_F32, VDIT_CPU, 1, weights_shape, NULL));
  VDIT_TRY(vdit_tensor_view(&tensors[1], t->ema_table, VDIT_DTYPE_F32, VDIT_CPU, 1, table_shape, NULL));
  VDIT_TRY(vdit_tensor_view(&tensors[2], t->m, VDIT_DTYPE_F32, VDIT_CPU, 1, flat_shape, NULL));
  VDIT_TRY(vdit_tensor_view(&tensors[3], t->v, VDIT_DTYPE_F32, VDIT_CPU, 1, flat_shape, NULL));
  const char *names[4] = {"train.ema", "train.ema_table", "train.adam_m", "train.adam_v"};
  char step[32], cursor[32];
  snprintf(step, sizeof step, "%lld", (long long)t->step);
  snprintf(cursor, sizeof cursor, "%llu", (unsigned long long)t->step * (unsigned long long)t->config.batch);
  char *config_json = NULL;
  VDIT_TRY(vdit_train_config_to_json(&t->config, &config_json));
  const char *keys[3] = {"train.step", "train.data_cursor", "train.config"};
  const char *values[3] = {step, cursor, config_json};
  vdit_status status = train_bundle_write(&t->bundle, NULL, NULL, VDIT_DTYPE_F32, path, 4, names, tensors, 3, keys, values);
  free(config_json);
  return status;
}

static vdit_status read_flat(const vdit_safetensors *file, const char *name, float *out, size_t n) {
  vdit_tensor view;
  VDIT_TRY(vdit_safetensors_tensor(file, name, &view));
  if (view.dtype != VDIT_DTYPE_F32 || view.ndim != 1 || (size_t)view.shape[0] != n)
    return VDIT_ERROR(VDIT_ERROR_CORRUPT_FILE, "%s: '%s' must be F32 of %zu elements (another model config?)",
                      vdit_safetensors_path(file), name, n);
  memcpy(out, view.data, n * sizeof(float));
  return VDIT_OK;
}

vdit_status vdit_trainer_load(vdit_trainer *t, const char *path) {
  {
    vdit_safetensors *probe = NULL;
    VDIT_TRY(vdit_safetensors_open(path, &probe));
    const int has_state = vdit_safetensors_metadata_get(probe, "train.step") != NULL;
    vdit_safetensors_close(probe);
    if (!has_state)
      return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT,
                        "%s holds no training state (metadata train.step): a model, not a checkpoint to resume", path);
  }
  vdit_bundle loaded;
  VDIT_TRY(vdit_bundle_load(path, &loaded));
  char *mine = NULL, *theirs = NULL;
  vdit_status status = vdit_bundle_config_to_json(&t->bundle.config, &mine);
  if (status == VDIT_OK) status = vdit_bundle_config_to_json(&loaded.config, &theirs);
  if (status == VDIT_OK && strcmp(mine, theirs) != 0)
    status = VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: checkpoint model config %s differs from the run's %s", path,
                        theirs, mine);
  for (int64_t i = 0; status == VDIT_OK && i < loaded.config.vocab; i++)
    if (strcmp(loaded.words[i], t->bundle.words[i]) != 0)
      status = VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: checkpoint vocabulary differs at token %lld ('%s', not '%s')",
                          path, (long long)i, loaded.words[i], t->bundle.words[i]);
  free(mine);
  free(theirs);
  if (status == VDIT_OK) {
    memcpy(t->bundle.weights.data, loaded.weights.data, t->weight_floats * sizeof(float));
    memcpy(t->bundle.token_table, loaded.token_table, t->table_floats * sizeof(float));
  }
  vdit_bundle_free(&loaded);
  VDIT_TRY(status);
  vdit_safetensors *file = NULL;
  VDIT_TRY(vdit_safetensors_open(path, &file));
  const size_t n = t->weight_floats + t->table_floats;
  status = read_flat(file, "train.ema", t->ema.data, t->weight_floats);
  if (status == VDIT_OK) status = read_flat(file, "train.ema_table", t->ema_table, t->table_floats);
  if (status == VDIT_OK) status = read_flat(file, "train.adam_m", t->m, n);
  if (status == VDIT_OK) status = read_flat(file, "train.adam_v", t->v, n);
  const char *step = vdit_safetensors_metadata_get(file, "train.step");
  char *end = NULL;
  long long value = step ? strtoll(step, &end, 10) : -1;
  if (status == VDIT_OK && (!step || *end || value < 0))
    status = VDIT_ERROR(VDIT_ERROR_CORRUPT_FILE, "%s: metadata train.step is not a step count", path);
  if (status == VDIT_OK) t->step = value;
  vdit_safetensors_close(file);
  if (status == VDIT_OK && t->gpu) status = push_to_device(t);
  return status;
}

vdit_status vdit_trainer_export(const vdit_trainer *t, const char *path) {
  if (t->gpu) VDIT_TRY(pull_from_device(t));
  return vdit_bundle_save(&t->bundle, &t->ema, t->ema_table, VDIT_DTYPE_BF16, path);
}
