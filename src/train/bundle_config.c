// The bundle config: defaults (the bundled model, docs/train.md), validation and its JSON.
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/json.h"
#include "train/train_internal.h"
#include "vdit/train.h"

void vdit_bundle_config_default(vdit_bundle_config *config) {
  memset(config, 0, sizeof *config);
  vdit_model_config *m = &config->model;
  m->dim = 192, m->heads = 3, m->head_dim = 64, m->layers = 6, m->ffn_dim = 512;
  m->freq_dim = 64, m->text_dim = 64;
  m->in_channels = 3, m->out_channels = 3;
  m->patch[0] = 1, m->patch[1] = 4, m->patch[2] = 4;
  m->eps = 1e-6, m->rope_theta = 10000;
  m->qk_norm = 1, m->cross_attn_norm = 1;
  m->naming = VDIT_MODEL_NAMING_DIFFUSERS;
  m->heads_from_config = 1;
  config->vocab = 1;
  config->text_length = 32;
  config->frames = 16, config->height = 32, config->width = 32;
  config->fps = 8;
  config->sample_steps = 20;
  config->sample_cfg = 4.0;
  config->sample_shift = 3.0;
}

vdit_status vdit_bundle_config_validate(const vdit_bundle_config *c) {
  if (!c) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "bundle config: NULL");
  VDIT_TRY(vdit_model_config_validate(&c->model));
  if (c->model.in_channels != 3 || c->model.out_channels != 3)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT,
                      "bundle config: a pixel-space model has 3 input and 3 output channels (got %lld -> %lld)",
                      (long long)c->model.in_channels, (long long)c->model.out_channels);
  if (c->vocab < 1 || c->vocab > 1000000)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "bundle config: vocab %lld outside 1..1000000", (long long)c->vocab);
  if (c->text_length < 1 || c->text_length > 4096)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "bundle config: text_length %lld outside 1..4096",
                      (long long)c->text_length);
  const int64_t sizes[3] = {c->frames, c->height, c->width};
  const char *names[3] = {"frames", "height", "width"};
  for (int i = 0; i < 3; i++) {
    if (sizes[i] < 1 || sizes[i] > 4096)
      return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "bundle config: %s %lld outside 1..4096", names[i],
                        (long long)sizes[i]);
    if (sizes[i] % c->model.patch[i] != 0)
      return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "bundle config: %s %lld is not a multiple of the patch %lld",
                        names[i], (long long)sizes[i], (long long)c->model.patch[i]);
  }
  if (!(c->fps > 0 && c->fps <= 1000))
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "bundle config: fps %g outside (0, 1000]", c->fps);
  if (c->sample_steps < 1 || c->sample_steps > 10000)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "bundle config: sample_steps %lld outside 1..10000",
                      (long long)c->sample_steps);
  if (!(c->sample_cfg >= 0 && c->sample_cfg <= 100))
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "bundle config: sample_cfg %g outside [0, 100]", c->sample_cfg);
  if (!(c->sample_shift > 0 && c->sample_shift <= 100))
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "bundle config: sample_shift %g outside (0, 100]", c->sample_shift);
  return VDIT_OK;
}

static void append_key(vdit_json_writer *w, const char *key, int *first) {
  vdit_json_append_text(w, *first ? "{" : ", ");
  *first = 0;
  vdit_json_append_string(w, key, strlen(key));
  vdit_json_append_text(w, ": ");
}

void train_json_int(vdit_json_writer *w, const char *key, int64_t value, int *first) {
  append_key(w, key, first);
  vdit_json_append_int64(w, value);
}

void train_json_double(vdit_json_writer *w, const char *key, double value, int *first) {
  append_key(w, key, first);
  char text[40];
  snprintf(text, sizeof text, "%.15g", value); // short when it round-trips, else all 17 digits
  if (strtod(text, NULL) != value) snprintf(text, sizeof text, "%.17g", value);
  vdit_json_append_text(w, text);
}

void train_json_string(vdit_json_writer *w, const char *key, const char *value, int *first) {
  append_key(w, key, first);
  vdit_json_append_string(w, value, strlen(value));
}

void train_json_raw(vdit_json_writer *w, const char *key, const char *raw, int *first) {
  append_key(w, key, first);
  vdit_json_append_text(w, raw);
}

void train_bundle_config_write(vdit_json_writer *w, const vdit_bundle_config *c) {
  const vdit_model_config *m = &c->model;
  int first = 1;
  train_json_int(w, "dim", m->dim, &first);
  train_json_int(w, "heads", m->heads, &first);
  train_json_int(w, "layers", m->layers, &first);
  train_json_int(w, "ffn", m->ffn_dim, &first);
  train_json_int(w, "freq_dim", m->freq_dim, &first);
  train_json_int(w, "text_dim", m->text_dim, &first);
  char patch[96];
  snprintf(patch, sizeof patch, "[%lld, %lld, %lld]", (long long)m->patch[0], (long long)m->patch[1],
           (long long)m->patch[2]);
  train_json_raw(w, "patch", patch, &first);
  train_json_int(w, "qk_norm", m->qk_norm, &first);
  train_json_int(w, "cross_attn_norm", m->cross_attn_norm, &first);
  train_json_double(w, "eps", m->eps, &first);
  train_json_double(w, "rope_theta", m->rope_theta, &first);
  train_json_int(w, "vocab", c->vocab, &first);
  train_json_int(w, "text_length", c->text_length, &first);
  train_json_int(w, "frames", c->frames, &first);
  train_json_int(w, "height", c->height, &first);
  train_json_int(w, "width", c->width, &first);
  train_json_double(w, "fps", c->fps, &first);
  train_json_int(w, "sample_steps", c->sample_steps, &first);
  train_json_double(w, "sample_cfg", c->sample_cfg, &first);
  train_json_double(w, "sample_shift", c->sample_shift, &first);
  vdit_json_append_text(w, "}");
}

vdit_status vdit_bundle_config_to_json(const vdit_bundle_config *config, char **json) {
  vdit_json_writer w;
  vdit_json_writer_init(&w);
  train_bundle_config_write(&w, config);
  vdit_status status = vdit_json_writer_finish(&w);
  if (status != VDIT_OK) {
    vdit_json_writer_free(&w);
    return status;
  }
  *json = w.data; // malloc'd by the writer
  return VDIT_OK;
}

vdit_status train_json_read_int(const vdit_json *d, vdit_json_value v, const char *source, const char *key,
                                int64_t *out) {
  vdit_status status = vdit_json_get_int64(d, v, out);
  if (status != VDIT_OK)
    return VDIT_ERROR(status, "%s: \"%s\": %s", source, key, vdit_last_error());
  return VDIT_OK;
}

vdit_status train_json_read_double(const vdit_json *d, vdit_json_value v, const char *source, const char *key,
                                   double *out) {
  vdit_status status = vdit_json_get_double(d, v, out);
  if (status != VDIT_OK)
    return VDIT_ERROR(status, "%s: \"%s\": %s", source, key, vdit_last_error());
  return VDIT_OK;
}

// One member of a bundle config object; *known = 0 when the key is not a bundle key.
vdit_status train_bundle_config_member(const vdit_json *d, vdit_json_value key, const char *source,
                                       vdit_bundle_config *c, int *known) {
  const char *name = vdit_json_string(d, key, NULL);
  vdit_json_value v = vdit_json_member_value(d, key);
  vdit_model_config *m = &c->model;
  struct {
    const char *name;
    int64_t *target;
  } ints[] = {{"dim", &m->dim},           {"heads", &m->heads},       {"layers", &m->layers},
              {"ffn", &m->ffn_dim},       {"freq_dim", &m->freq_dim}, {"text_dim", &m->text_dim},
              {"vocab", &c->vocab},       {"text_length", &c->text_length}, {"frames", &c->frames},
              {"height", &c->height},     {"width", &c->width},       {"sample_steps", &c->sample_steps}};
  struct {
    const char *name;
    double *target;
  } doubles[] = {{"eps", &m->eps},   {"rope_theta", &m->rope_theta}, {"fps", &c->fps},
                 {"sample_cfg", &c->sample_cfg}, {"sample_shift", &c->sample_shift}};
  *known = 1;
  for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
    if (strcmp(name, ints[i].name) == 0) {
      VDIT_TRY(train_json_read_int(d, v, source, name, ints[i].target));
      if (strcmp(name, "dim") == 0 || strcmp(name, "heads") == 0)
        m->head_dim = m->heads > 0 ? m->dim / m->heads : 0;
      return VDIT_OK;
    }
  for (size_t i = 0; i < sizeof doubles / sizeof doubles[0]; i++)
    if (strcmp(name, doubles[i].name) == 0) return train_json_read_double(d, v, source, name, doubles[i].target);
  if (strcmp(name, "qk_norm") == 0 || strcmp(name, "cross_attn_norm") == 0) {
    int64_t value;
    if (vdit_json_type_of(d, v) == VDIT_JSON_TRUE || vdit_json_type_of(d, v) == VDIT_JSON_FALSE)
      value = vdit_json_type_of(d, v) == VDIT_JSON_TRUE;
    else VDIT_TRY(train_json_read_int(d, v, source, name, &value));
    if (value != 0 && value != 1)
      return VDIT_ERROR(VDIT_ERROR_CORRUPT_FILE, "%s: \"%s\" must be 0 or 1", source, name);
    *(name[0] == 'q' ? &m->qk_norm : &m->cross_attn_norm) = (int)value;
    return VDIT_OK;
  }
  if (strcmp(name, "patch") == 0) {
    if (vdit_json_type_of(d, v) != VDIT_JSON_ARRAY || vdit_json_count(d, v) != 3)
      return VDIT_ERROR(VDIT_ERROR_CORRUPT_FILE, "%s: \"patch\" must be an array of 3 integers [t, h, w]", source);
    int i = 0;
    for (vdit_json_value e = vdit_json_first(d, v); e != VDIT_JSON_NONE; e = vdit_json_next(d, e))
      VDIT_TRY(train_json_read_int(d, e, source, "patch", &m->patch[i++]));
    return VDIT_OK;
  }
  *known = 0;
  return VDIT_OK;
}

vdit_status train_json_open(const char *json, size_t length, const char *source, vdit_json **document) {
  vdit_json_error error;
  vdit_status status = vdit_json_parse(json, length, NULL, document, &error);
  if (status != VDIT_OK)
    return VDIT_ERROR(status, "%s: not valid JSON: %s at byte %zu", source, error.message, error.offset);
  if (vdit_json_type_of(*document, vdit_json_root(*document)) != VDIT_JSON_OBJECT) {
    vdit_json_free(*document);
    *document = NULL;
    return VDIT_ERROR(VDIT_ERROR_CORRUPT_FILE, "%s: expected a JSON object", source);
  }
  return VDIT_OK;
}

vdit_status vdit_bundle_config_from_json(const char *json, size_t length, const char *source,
                                         vdit_bundle_config *config) {
  vdit_json *d = NULL;
  VDIT_TRY(train_json_open(json, length, source, &d));
  vdit_status status = VDIT_OK;
  vdit_json_value root = vdit_json_root(d);
  for (vdit_json_value k = vdit_json_first(d, root); k != VDIT_JSON_NONE && status == VDIT_OK;
       k = vdit_json_next(d, k)) {
    int known = 0;
    status = train_bundle_config_member(d, k, source, config, &known);
    if (status == VDIT_OK && !known)
      status = VDIT_ERROR(VDIT_ERROR_CORRUPT_FILE, "%s: unknown model key \"%s\"", source, vdit_json_string(d, k, NULL));
  }
  vdit_json_free(d);
  return status;
}
