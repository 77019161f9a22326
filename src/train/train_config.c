// The training config: defaults, validation, and its JSON file (`vdit train --config`).
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/train_internal.h"
#include "vdit/train.h"

void vdit_train_config_default(vdit_train_config *c) {
  memset(c, 0, sizeof *c);
  vdit_bundle_config_default(&c->bundle);
  c->steps = 3000;
  c->batch = 16;
  c->lr = 1e-3;
  c->min_lr = 1e-5;
  c->warmup = 200;
  c->adamw.beta1 = 0.9;
  c->adamw.beta2 = 0.99;
  c->adamw.eps = 1e-8;
  c->adamw.weight_decay = 0.01;
  c->clip = 1.0;
  c->ema = 0.999;
  c->shift = 1.0; // training: SD3 / Wan's logit-normal around t = 0.5, no shift
  c->logit_mean = 0.0;
  c->logit_std = 1.0;
  c->caption_dropout = 0.1;
  c->seed = 1;
  c->data_seed = 1000000;
  c->eval_interval = 500;
  c->eval_clips = 32;
  c->checkpoint_interval = 500;
}

vdit_status vdit_train_config_validate(const vdit_train_config *c) {
  if (!c) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "train config: NULL");
  VDIT_TRY(vdit_bundle_config_validate(&c->bundle));
#define RANGE(cond, ...) \
  if (!(cond)) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "train config: " __VA_ARGS__)
  RANGE(c->steps >= 1, "steps %lld must be >= 1", (long long)c->steps);
  RANGE(c->batch >= 1 && c->batch <= 4096, "batch %lld outside 1..4096", (long long)c->batch);
  RANGE(c->lr > 0 && c->lr < 10, "lr %g outside (0, 10)", c->lr);
  RANGE(c->min_lr >= 0 && c->min_lr <= c->lr, "min_lr %g outside [0, lr]", c->min_lr);
  RANGE(c->warmup >= 0, "warmup %lld must be >= 0", (long long)c->warmup);
  RANGE(c->adamw.beta1 >= 0 && c->adamw.beta1 < 1, "beta1 %g outside [0, 1)", c->adamw.beta1);
  RANGE(c->adamw.beta2 >= 0 && c->adamw.beta2 < 1, "beta2 %g outside [0, 1)", c->adamw.beta2);
  RANGE(c->adamw.eps > 0 && c->adamw.eps < 1, "adam_eps %g outside (0, 1)", c->adamw.eps);
  RANGE(c->adamw.weight_decay >= 0 && c->adamw.weight_decay < 1, "weight_decay %g outside [0, 1)", c->adamw.weight_decay);
  RANGE(c->clip >= 0 && isfinite(c->clip), "clip %g must be >= 0 (0: no clipping)", c->clip);
  RANGE(c->ema >= 0 && c->ema < 1, "ema %g outside [0, 1)", c->ema);
  RANGE(c->shift > 0 && c->shift <= 100, "shift %g outside (0, 100]", c->shift);
  RANGE(fabs(c->logit_mean) <= 10, "logit_mean %g outside [-10, 10]", c->logit_mean);
  RANGE(c->logit_std > 0 && c->logit_std <= 10, "logit_std %g outside (0, 10]", c->logit_std);
  RANGE(c->caption_dropout >= 0 && c->caption_dropout <= 1, "caption_dropout %g outside [0, 1]", c->caption_dropout);
  RANGE(c->eval_interval >= 0, "eval_interval %lld must be >= 0 (0: never)", (long long)c->eval_interval);
  RANGE(c->eval_clips >= 1, "eval_clips %lld must be >= 1", (long long)c->eval_clips);
  RANGE(c->checkpoint_interval >= 0, "checkpoint_interval %lld must be >= 0 (0: at the end only)",
        (long long)c->checkpoint_interval);
#undef RANGE
  if (c->attn[0]) {
    vdit_model_attn_policy policy;
    VDIT_TRY(vdit_model_attn_policy_load(c->attn, &policy));
    for (int i = 0; i < policy.rule_count; i++)
      if (policy.rules[i].step_range_count)
        return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT,
                          "train config: attn '%s': step conditions have no meaning in training (no sampler step); "
                          "give layer conditions only", c->attn);
    VDIT_TRY(vdit_model_attn_policy_check(&policy, c->bundle.model.layers));
  }
  return VDIT_OK;
}

static vdit_status copy_path(const vdit_json *d, vdit_json_value v, const char *source, const char *key, char *out) {
  size_t length = 0;
  const char *s = vdit_json_string(d, v, &length);
  if (!s) return VDIT_ERROR(VDIT_ERROR_CORRUPT_FILE, "%s: \"%s\" must be a string (a path)", source, key);
  if (length >= VDIT_TRAIN_PATH_SIZE || strlen(s) != length)
    return VDIT_ERROR(VDIT_ERROR_CORRUPT_FILE, "%s: \"%s\" is too long or holds a NUL", source, key);
  memcpy(out, s, length + 1);
  return VDIT_OK;
}

vdit_status vdit_train_config_parse(const char *json, size_t length, const char *source, vdit_train_config *c) {
  vdit_json *d = NULL;
  VDIT_TRY(train_json_open(json, length, source, &d));
  struct {
    const char *name;
    int64_t *target;
  } ints[] = {{"steps", &c->steps},
              {"batch", &c->batch},
              {"warmup", &c->warmup},
              {"eval_interval", &c->eval_interval},
              {"eval_clips", &c->eval_clips},
              {"checkpoint_interval", &c->checkpoint_interval}};
  struct {
    const char *name;
    double *target;
  } doubles[] = {{"lr", &c->lr},
                 {"min_lr", &c->min_lr},
                 {"beta1", &c->adamw.beta1},
                 {"beta2", &c->adamw.beta2},
                 {"adam_eps", &c->adamw.eps},
                 {"weight_decay", &c->adamw.weight_decay},
                 {"clip", &c->clip},
                 {"ema", &c->ema},
                 {"shift", &c->shift},
                 {"logit_mean", &c->logit_mean},
                 {"logit_std", &c->logit_std},
                 {"caption_dropout", &c->caption_dropout}};
  struct {
    const char *name;
    char *target;
  } paths[] = {{"checkpoint", c->checkpoint}, {"output", c->output}, {"resume", c->resume}, {"metrics", c->metrics},
               {"attn", c->attn},             {"distill", c->distill}};
  vdit_status status = VDIT_OK;
  vdit_json_value root = vdit_json_root(d);
  for (vdit_json_value k = vdit_json_first(d, root); k != VDIT_JSON_NONE && status == VDIT_OK;
       k = vdit_json_next(d, k)) {
    const char *name = vdit_json_string(d, k, NULL);
    vdit_json_value v = vdit_json_member_value(d, k);
    int known = 0;
    for (size_t i = 0; i < sizeof ints / sizeof ints[0] && !known; i++)
      if (strcmp(name, ints[i].name) == 0) known = 1, status = train_json_read_int(d, v, source, name, ints[i].target);
    for (size_t i = 0; i < sizeof doubles / sizeof doubles[0] && !known; i++)
      if (strcmp(name, doubles[i].name) == 0)
        known = 1, status = train_json_read_double(d, v, source, name, doubles[i].target);
    for (size_t i = 0; i < sizeof paths / sizeof paths[0] && !known; i++)
      if (strcmp(name, paths[i].name) == 0) known = 1, status = copy_path(d, v, source, name, paths[i].target);
    if (!known && (strcmp(name, "seed") == 0 || strcmp(name, "data_seed") == 0)) {
      known = 1;
      status = vdit_json_get_uint64(d, v, name[0] == 's' ? &c->seed : &c->data_seed);
      if (status != VDIT_OK) status = VDIT_ERROR(status, "%s: \"%s\": %s", source, name, vdit_last_error());
    }
    if (!known && strcmp(name, "recompute") == 0) {
      known = 1;
      vdit_json_type type = vdit_json_type_of(d, v);
      if (type != VDIT_JSON_TRUE && type != VDIT_JSON_FALSE)
        status = VDIT_ERROR(VDIT_ERROR_CORRUPT_FILE, "%s: \"recompute\" must be true or false", source);
      c->recompute = type == VDIT_JSON_TRUE;
    }
    if (!known && strcmp(name, "model") == 0) {
      known = 1;
      if (vdit_json_type_of(d, v) != VDIT_JSON_OBJECT) {
        status = VDIT_ERROR(VDIT_ERROR_CORRUPT_FILE, "%s: \"model\" must be an object", source);
        break;
      }
      for (vdit_json_value mk = vdit_json_first(d, v); mk != VDIT_JSON_NONE && status == VDIT_OK;
           mk = vdit_json_next(d, mk)) {
        int model_known = 0;
        status = train_bundle_config_member(d, mk, source, &c->bundle, &model_known);
        if (status == VDIT_OK && !model_known)
          status = VDIT_ERROR(VDIT_ERROR_CORRUPT_FILE, "%s: unknown model key \"%s\" (keys: dim, heads, layers, ffn, "
                              "patch, frames, height, width, text_dim, text_length, ...)", source,
                              vdit_json_string(d, mk, NULL));
      }
    }
    if (status == VDIT_OK && !known)
      status = VDIT_ERROR(VDIT_ERROR_CORRUPT_FILE, "%s: unknown key \"%s\" (docs/train.md lists the fields)", source,
                          name);
  }
  vdit_json_free(d);
  return status;
}

vdit_status train_read_text(const char *path, char **text, size_t *length) {
  FILE *f = fopen(path, "rb");
  if (!f) return VDIT_ERROR(VDIT_ERROR_IO, "cannot open %s: %s (check the path)", path, strerror(errno));
  size_t capacity = 4096, used = 0;
  char *buffer = malloc(capacity);
  while (buffer) {
    if (used + 1 >= capacity) {
      char *grown = capacity < ((size_t)1 << 26) ? realloc(buffer, capacity * 2) : NULL;
      if (!grown) {
        free(buffer);
        buffer = NULL;
        break;
      }
      buffer = grown;
      capacity *= 2;
    }
    size_t n = fread(buffer + used, 1, capacity - 1 - used, f);
    used += n;
    if (n == 0) break;
  }
  const int failed = ferror(f);
  fclose(f);
  if (!buffer) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "%s: too large or no memory to read it", path);
  if (failed) {
    free(buffer);
    return VDIT_ERROR(VDIT_ERROR_IO, "cannot read %s", path);
  }
  buffer[used] = '\0';
  *text = buffer;
  *length = used;
  return VDIT_OK;
}

vdit_status vdit_train_config_read(const char *path, vdit_train_config *config) {
  char *text = NULL;
  size_t length = 0;
  VDIT_TRY(train_read_text(path, &text, &length));
  vdit_status status = vdit_train_config_parse(text, length, path, config);
  free(text);
  return status;
}

vdit_status vdit_train_config_to_json(const vdit_train_config *c, char **json) {
  vdit_json_writer w;
  vdit_json_writer_init(&w);
  int first = 1;
  vdit_json_append_text(&w, "{\"model\": ");
  train_bundle_config_write(&w, &c->bundle);
  first = 0;
  train_json_int(&w, "steps", c->steps, &first);
  train_json_int(&w, "batch", c->batch, &first);
  train_json_double(&w, "lr", c->lr, &first);
  train_json_double(&w, "min_lr", c->min_lr, &first);
  train_json_int(&w, "warmup", c->warmup, &first);
  train_json_double(&w, "beta1", c->adamw.beta1, &first);
  train_json_double(&w, "beta2", c->adamw.beta2, &first);
  train_json_double(&w, "adam_eps", c->adamw.eps, &first);
  train_json_double(&w, "weight_decay", c->adamw.weight_decay, &first);
  train_json_double(&w, "clip", c->clip, &first);
  train_json_double(&w, "ema", c->ema, &first);
  train_json_double(&w, "shift", c->shift, &first);
  train_json_double(&w, "logit_mean", c->logit_mean, &first);
  train_json_double(&w, "logit_std", c->logit_std, &first);
  train_json_double(&w, "caption_dropout", c->caption_dropout, &first);
  char number[32];
  snprintf(number, sizeof number, "%llu", (unsigned long long)c->seed);
  train_json_raw(&w, "seed", number, &first);
  snprintf(number, sizeof number, "%llu", (unsigned long long)c->data_seed);
  train_json_raw(&w, "data_seed", number, &first);
  train_json_int(&w, "eval_interval", c->eval_interval, &first);
  train_json_int(&w, "eval_clips", c->eval_clips, &first);
  train_json_int(&w, "checkpoint_interval", c->checkpoint_interval, &first);
  train_json_raw(&w, "recompute", c->recompute ? "true" : "false", &first);
  train_json_string(&w, "checkpoint", c->checkpoint, &first);
  train_json_string(&w, "output", c->output, &first);
  train_json_string(&w, "resume", c->resume, &first);
  train_json_string(&w, "metrics", c->metrics, &first);
  train_json_string(&w, "attn", c->attn, &first);
  train_json_string(&w, "distill", c->distill, &first);
  vdit_json_append_text(&w, "}");
  vdit_status status = vdit_json_writer_finish(&w);
  if (status != VDIT_OK) {
    vdit_json_writer_free(&w);
    return status;
  }
  *json = w.data;
  return VDIT_OK;
}
