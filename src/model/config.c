// The model config: reading config.json (diffusers' or the original Wan keys) into hints,
// the released models' presets, validation and a one-line description. The inference of a
// config from a checkpoint's tensors is in infer.c.
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model_internal.h"
#include "tensor/json.h"

void vdit_model_hints_init(vdit_model_hints *hints) {
  memset(hints, 0, sizeof *hints);
  hints->format = -1;
  hints->dim = hints->heads = hints->head_dim = -1;
  hints->layers = hints->ffn_dim = hints->freq_dim = hints->text_dim = -1;
  hints->in_channels = hints->out_channels = -1;
  hints->eps = -1;
  hints->qk_norm = hints->cross_attn_norm = -1;
}

// Rewrites the last error (a typed JSON read's) with the file and key in front.
static vdit_status keyed_error(vdit_status status, const char *source, const char *key) {
  char detail[256];
  snprintf(detail, sizeof detail, "%s", vdit_last_error());
  return VDIT_ERROR(status, "%s: \"%s\": %s", source, key, detail);
}

// A positive integer member; absent or null leaves *out as it is.
static vdit_status read_size(const vdit_json *d, vdit_json_value root, const char *source, const char *key,
                             int64_t *out) {
  vdit_json_value v = vdit_json_find(d, root, key);
  if (v == VDIT_JSON_NONE || vdit_json_type_of(d, v) == VDIT_JSON_NULL) return VDIT_OK;
  int64_t value;
  vdit_status status = vdit_json_get_int64(d, v, &value);
  if (status != VDIT_OK) return keyed_error(status, source, key);
  if (value < 1 || value > (INT64_C(1) << 24))
    return VDIT_ERROR(VDIT_ERROR_CORRUPT_FILE, "%s: \"%s\" is %" PRId64 ", outside 1..16777216", source, key, value);
  *out = value;
  return VDIT_OK;
}

static vdit_status read_bool(const vdit_json *d, vdit_json_value root, const char *source, const char *key,
                             int *out) {
  vdit_json_value v = vdit_json_find(d, root, key);
  if (v == VDIT_JSON_NONE || vdit_json_type_of(d, v) == VDIT_JSON_NULL) return VDIT_OK;
  vdit_status status = vdit_json_get_bool(d, v, out);
  return status == VDIT_OK ? VDIT_OK : keyed_error(status, source, key);
}

static vdit_status read_eps(const vdit_json *d, vdit_json_value root, const char *source, double *out) {
  vdit_json_value v = vdit_json_find(d, root, "eps");
  if (v == VDIT_JSON_NONE || vdit_json_type_of(d, v) == VDIT_JSON_NULL) return VDIT_OK;
  double value;
  vdit_status status = vdit_json_get_double(d, v, &value);
  if (status != VDIT_OK) return keyed_error(status, source, "eps");
  if (!(value >= 0 && value < 1))
    return VDIT_ERROR(VDIT_ERROR_CORRUPT_FILE, "%s: \"eps\" is %g, outside [0, 1)", source, value);
  *out = value;
  return VDIT_OK;
}

static vdit_status read_patch(const vdit_json *d, vdit_json_value root, const char *source, int64_t patch[3]) {
  vdit_json_value v = vdit_json_find(d, root, "patch_size");
  if (v == VDIT_JSON_NONE || vdit_json_type_of(d, v) == VDIT_JSON_NULL) return VDIT_OK;
  if (vdit_json_type_of(d, v) != VDIT_JSON_ARRAY || vdit_json_count(d, v) != 3)
    return VDIT_ERROR(VDIT_ERROR_CORRUPT_FILE, "%s: \"patch_size\" must be an array of 3 integers [p_t, p_h, p_w]",
                      source);
  int i = 0;
  for (vdit_json_value e = vdit_json_first(d, v); e != VDIT_JSON_NONE; e = vdit_json_next(d, e), i++) {
    int64_t value;
    vdit_status status = vdit_json_get_int64(d, e, &value);
    if (status != VDIT_OK) return keyed_error(status, source, "patch_size");
    if (value < 1 || value > 1024)
      return VDIT_ERROR(VDIT_ERROR_CORRUPT_FILE, "%s: \"patch_size\" entry %" PRId64 " is outside 1..1024", source,
                        value);
    patch[i] = value;
  }
  return VDIT_OK;
}

// A member that must be null or absent in a text-to-video model (image conditioning).
static vdit_status require_null(const vdit_json *d, vdit_json_value root, const char *source, const char *key) {
  vdit_json_value v = vdit_json_find(d, root, key);
  if (v == VDIT_JSON_NONE || vdit_json_type_of(d, v) == VDIT_JSON_NULL) return VDIT_OK;
  return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED,
                    "%s: \"%s\" is set: an image-to-video model; vdit runs the Wan2.1 text-to-video transformer",
                    source, key);
}

static vdit_status parse_diffusers(const vdit_json *d, vdit_json_value root, const char *source,
                                   vdit_model_hints *h) {
  VDIT_TRY(read_size(d, root, source, "num_attention_heads", &h->heads));
  VDIT_TRY(read_size(d, root, source, "attention_head_dim", &h->head_dim));
  if (h->heads > 0 && h->head_dim > 0) h->dim = h->heads * h->head_dim;
  VDIT_TRY(read_size(d, root, source, "num_layers", &h->layers));
  VDIT_TRY(read_size(d, root, source, "ffn_dim", &h->ffn_dim));
  VDIT_TRY(read_size(d, root, source, "freq_dim", &h->freq_dim));
  VDIT_TRY(read_size(d, root, source, "text_dim", &h->text_dim));
  VDIT_TRY(read_size(d, root, source, "in_channels", &h->in_channels));
  VDIT_TRY(read_size(d, root, source, "out_channels", &h->out_channels));
  // diffusers: out_channels = out_channels or in_channels
  if (h->out_channels < 0) h->out_channels = h->in_channels;
  VDIT_TRY(read_bool(d, root, source, "cross_attn_norm", &h->cross_attn_norm));
  vdit_json_value qk = vdit_json_find(d, root, "qk_norm");
  if (qk != VDIT_JSON_NONE) {
    if (vdit_json_type_of(d, qk) == VDIT_JSON_NULL) h->qk_norm = 0;
    else {
      const char *text = vdit_json_string(d, qk, NULL);
      if (!text)
        return VDIT_ERROR(VDIT_ERROR_CORRUPT_FILE, "%s: \"qk_norm\" must be a string or null, got %s", source,
                          vdit_json_type_description(vdit_json_type_of(d, qk)));
      if (strcmp(text, "rms_norm_across_heads") != 0) {
        char quoted[80];
        return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED,
                          "%s: \"qk_norm\" is \"%s\"; vdit implements \"rms_norm_across_heads\" (Wan2.1) or null",
                          source, model_quote(text, 40, quoted, sizeof quoted));
      }
      h->qk_norm = 1;
    }
  }
  VDIT_TRY(require_null(d, root, source, "added_kv_proj_dim"));
  VDIT_TRY(require_null(d, root, source, "image_dim"));
  VDIT_TRY(require_null(d, root, source, "pos_embed_seq_len"));
  return VDIT_OK;
}

static vdit_status parse_wan(const vdit_json *d, vdit_json_value root, const char *source, vdit_model_hints *h) {
  VDIT_TRY(read_size(d, root, source, "dim", &h->dim));
  VDIT_TRY(read_size(d, root, source, "num_heads", &h->heads));
  VDIT_TRY(read_size(d, root, source, "num_layers", &h->layers));
  VDIT_TRY(read_size(d, root, source, "ffn_dim", &h->ffn_dim));
  VDIT_TRY(read_size(d, root, source, "freq_dim", &h->freq_dim));
  VDIT_TRY(read_size(d, root, source, "text_dim", &h->text_dim));
  VDIT_TRY(read_size(d, root, source, "in_dim", &h->in_channels));
  VDIT_TRY(read_size(d, root, source, "out_dim", &h->out_channels));
  VDIT_TRY(read_bool(d, root, source, "cross_attn_norm", &h->cross_attn_norm));
  VDIT_TRY(read_bool(d, root, source, "qk_norm", &h->qk_norm));
  vdit_json_value type = vdit_json_find(d, root, "model_type");
  if (type != VDIT_JSON_NONE && vdit_json_type_of(d, type) != VDIT_JSON_NULL) {
    const char *text = vdit_json_string(d, type, NULL);
    if (!text)
      return VDIT_ERROR(VDIT_ERROR_CORRUPT_FILE, "%s: \"model_type\" must be a string, got %s", source,
                        vdit_json_type_description(vdit_json_type_of(d, type)));
    if (strcmp(text, "t2v") != 0) {
      char quoted[80];
      return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED,
                        "%s: \"model_type\" is \"%s\"; vdit runs the Wan2.1 text-to-video transformer (t2v)", source,
                        model_quote(text, 40, quoted, sizeof quoted));
    }
  }
  return VDIT_OK;
}

vdit_status vdit_model_hints_parse(const char *text, size_t length, const char *source, vdit_model_hints *hints) {
  if (!text || !hints) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_model_hints_parse: NULL argument");
  if (!source) source = "config.json";
  vdit_model_hints_init(hints);
  vdit_json *d = NULL;
  vdit_json_error error;
  if (vdit_json_parse(text, length, NULL, &d, &error) != VDIT_OK)
    return VDIT_ERROR(VDIT_ERROR_CORRUPT_FILE, "%s: not valid JSON: %s at byte %zu", source, error.message,
                      error.offset);
  vdit_status status = VDIT_OK;
  vdit_json_value root = vdit_json_root(d);
  if (vdit_json_type_of(d, root) != VDIT_JSON_OBJECT) {
    status = VDIT_ERROR(VDIT_ERROR_CORRUPT_FILE, "%s: a model config must be a JSON object, got %s", source,
                        vdit_json_type_description(vdit_json_type_of(d, root)));
    goto done;
  }
  const char *class_name = vdit_json_string(d, vdit_json_find(d, root, "_class_name"), NULL);
  if (class_name && strcmp(class_name, "WanTransformer3DModel") != 0 && strcmp(class_name, "WanModel") != 0) {
    char quoted[80];
    status = VDIT_ERROR(VDIT_ERROR_UNSUPPORTED,
                        "%s describes a %s, not the Wan2.1 transformer (WanTransformer3DModel or WanModel)", source,
                        model_quote(class_name, 40, quoted, sizeof quoted));
    goto done;
  }
  int diffusers = vdit_json_find(d, root, "num_attention_heads") != VDIT_JSON_NONE ||
                  vdit_json_find(d, root, "attention_head_dim") != VDIT_JSON_NONE ||
                  (class_name && strcmp(class_name, "WanTransformer3DModel") == 0);
  int wan = vdit_json_find(d, root, "num_heads") != VDIT_JSON_NONE || vdit_json_find(d, root, "dim") != VDIT_JSON_NONE ||
            (class_name && strcmp(class_name, "WanModel") == 0);
  if (diffusers == wan) {
    status = VDIT_ERROR(VDIT_ERROR_CORRUPT_FILE,
                        diffusers ? "%s mixes diffusers keys (num_attention_heads) and Wan keys (num_heads, dim)"
                                  : "%s is not a Wan2.1 transformer config: it has neither num_attention_heads "
                                    "(diffusers) nor num_heads (Wan)",
                        source);
    goto done;
  }
  hints->format = diffusers ? VDIT_MODEL_NAMING_DIFFUSERS : VDIT_MODEL_NAMING_WAN;
  status = diffusers ? parse_diffusers(d, root, source, hints) : parse_wan(d, root, source, hints);
  if (status != VDIT_OK) goto done;
  status = read_eps(d, root, source, &hints->eps);
  if (status != VDIT_OK) goto done;
  status = read_patch(d, root, source, hints->patch);
  if (status != VDIT_OK) goto done;
  if (hints->dim > 0 && hints->heads > 0 && hints->dim % hints->heads != 0)
    status = VDIT_ERROR(VDIT_ERROR_CORRUPT_FILE, "%s: dim %" PRId64 " is not a multiple of num_heads %" PRId64,
                        source, hints->dim, hints->heads);
done:
  vdit_json_free(d);
  if (status != VDIT_OK) vdit_model_hints_init(hints);
  return status;
}

vdit_status vdit_model_hints_read(const char *path, vdit_model_hints *hints) {
  if (!path || !hints) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_model_hints_read: NULL argument");
  vdit_model_hints_init(hints);
  FILE *file = fopen(path, "rb");
  if (!file) return VDIT_ERROR(VDIT_ERROR_IO, "cannot open %s: %s", path, strerror(errno));
  enum { MAX_CONFIG_BYTES = 1 << 20 };
  char *text = malloc(MAX_CONFIG_BYTES + 1);
  if (!text) {
    fclose(file);
    return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "out of memory reading %s", path);
  }
  size_t length = fread(text, 1, MAX_CONFIG_BYTES + 1, file);
  int failed = ferror(file);
  fclose(file);
  vdit_status status;
  if (failed) status = VDIT_ERROR(VDIT_ERROR_IO, "cannot read %s", path);
  else if (length > MAX_CONFIG_BYTES)
    status = VDIT_ERROR(VDIT_ERROR_CORRUPT_FILE, "%s is larger than 1 MiB: not a model config.json", path);
  else status = vdit_model_hints_parse(text, length, path, hints);
  free(text);
  return status;
}

// ---------------------------------------------------------------- presets and checks

vdit_status vdit_model_config_preset(const char *name, vdit_model_config *config) {
  if (!name || !config) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_model_config_preset: NULL argument");
  memset(config, 0, sizeof *config);
  config->head_dim = 128;
  config->freq_dim = 256;
  config->text_dim = 4096;
  config->in_channels = config->out_channels = 16;
  config->patch[0] = 1, config->patch[1] = 2, config->patch[2] = 2;
  config->eps = 1e-6;
  config->rope_theta = 10000;
  config->qk_norm = config->cross_attn_norm = 1;
  config->naming = VDIT_MODEL_NAMING_DIFFUSERS;
  config->heads_from_config = 1;
  if (strcmp(name, "wan2.1-1.3b") == 0) {
    config->heads = 12, config->layers = 30, config->ffn_dim = 8960;
  } else if (strcmp(name, "wan2.1-14b") == 0) {
    config->heads = 40, config->layers = 40, config->ffn_dim = 13824;
  } else {
    char quoted[80];
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "unknown model preset '%s' (available: wan2.1-1.3b, wan2.1-14b)",
                      model_quote(name, 40, quoted, sizeof quoted));
  }
  config->dim = config->heads * config->head_dim;
  return VDIT_OK;
}

vdit_status vdit_model_config_validate(const vdit_model_config *c) {
  if (!c) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "model config is NULL");
  const struct {
    const char *name;
    int64_t value;
  } sizes[] = {{"dim", c->dim},           {"heads", c->heads},         {"head_dim", c->head_dim},
               {"layers", c->layers},     {"ffn_dim", c->ffn_dim},     {"freq_dim", c->freq_dim},
               {"text_dim", c->text_dim}, {"in_channels", c->in_channels}, {"out_channels", c->out_channels},
               {"patch[0]", c->patch[0]}, {"patch[1]", c->patch[1]},   {"patch[2]", c->patch[2]}};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
    if (sizes[i].value < 1 || sizes[i].value > (INT64_C(1) << 24))
      return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "model config: %s is %" PRId64 ", outside 1..16777216",
                        sizes[i].name, sizes[i].value);
  if (c->patch[0] > 1024 || c->patch[1] > 1024 || c->patch[2] > 1024)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "model config: patch size above 1024");
  if (c->heads * c->head_dim != c->dim)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT,
                      "model config: dim %" PRId64 " is not heads %" PRId64 " x head_dim %" PRId64, c->dim, c->heads,
                      c->head_dim);
  if (c->head_dim % 2 != 0)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT,
                      "model config: head_dim %" PRId64 " is odd (RoPE rotates pairs of channels)", c->head_dim);
  if (!(c->eps >= 0 && c->eps < 1))
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "model config: eps %g outside [0, 1)", c->eps);
  if (!(c->rope_theta > 1 && isfinite(c->rope_theta)))
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "model config: rope_theta %g must be finite and > 1",
                      c->rope_theta);
  if ((unsigned)c->naming >= VDIT_MODEL_NAMING_COUNT)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "model config: invalid naming %d", (int)c->naming);
  if (memchr(c->prefix, '\0', sizeof c->prefix) == NULL)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "model config: prefix is not terminated");
  return VDIT_OK;
}

char *vdit_model_config_describe(const vdit_model_config *c, char *buffer, size_t size) {
  snprintf(buffer, size,
           "dim %" PRId64 " = %" PRId64 " heads x %" PRId64 ", %" PRId64 " layer%s, ffn %" PRId64 ", freq %" PRId64
           ", text %" PRId64 ", %" PRId64 " -> %" PRId64 " channels, patch (%" PRId64 ", %" PRId64 ", %" PRId64
           "), eps %g%s%s",
           c->dim, c->heads, c->head_dim, c->layers, c->layers == 1 ? "" : "s", c->ffn_dim, c->freq_dim, c->text_dim, c->in_channels,
           c->out_channels, c->patch[0], c->patch[1], c->patch[2], c->eps, c->qk_norm ? ", qk_norm" : "",
           c->cross_attn_norm ? ", cross_attn_norm" : "");
  return buffer;
}
