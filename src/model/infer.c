// A checkpoint's config from its tensor names and shapes (docs/wan-model.md, "Config from
// tensor names and shapes"), with the number of heads from config.json, then a check of
// every tensor against that config: present, the right shape and a readable dtype, and no
// tensor left over.
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "model/model_internal.h"

// Tensors that give the name set away: the time embedder's first Linear.
static const char *const anchors[VDIT_MODEL_NAMING_COUNT] = {
    "condition_embedder.time_embedder.linear_1.weight", "time_embedding.0.weight"};

// Parts of the names of image-to-video and VACE checkpoints (docs/wan-model.md, scope).
static const char *const unsupported_parts[] = {
    "add_k_proj", "add_v_proj", "norm_added_k", "image_embedder", "img_emb", "k_img", "v_img", "norm_k_img",
    "vace_",
};

// Name of the checkpoint for messages: the file, or the first shard and how many more.
static char *checkpoint_name(const vdit_safetensors *const *files, size_t count, char *buffer, size_t size) {
  if (count == 1) snprintf(buffer, size, "%s", vdit_safetensors_path(files[0]));
  else snprintf(buffer, size, "%s (+%zu more shards)", vdit_safetensors_path(files[0]), count - 1);
  return buffer;
}

static int ends_with(const char *text, const char *suffix, size_t *prefix_length) {
  size_t n = strlen(text), m = strlen(suffix);
  if (n < m || strcmp(text + n - m, suffix) != 0) return 0;
  *prefix_length = n - m;
  return n == m || text[n - m - 1] == '.'; // the suffix starts a name component
}

// The name set and the prefix of every name, from the anchor tensor; rejects image-to-video
// and VACE checkpoints by name.
static vdit_status detect_naming(const vdit_safetensors *const *files, size_t count, vdit_model_config *config) {
  char where[512], quoted[200], other[200];
  const char *found_name = NULL;
  int found = -1;
  for (size_t f = 0; f < count; f++) {
    size_t n = vdit_safetensors_count(files[f]);
    for (size_t i = 0; i < n; i++) {
      vdit_safetensors_info info;
      VDIT_TRY(vdit_safetensors_entry(files[f], i, &info));
      for (size_t u = 0; u < sizeof unsupported_parts / sizeof unsupported_parts[0]; u++)
        if (strstr(info.name, unsupported_parts[u]))
          return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED,
                            "%s: tensor '%s' belongs to an image-to-video or VACE model; vdit runs the Wan2.1 "
                            "text-to-video transformer",
                            vdit_safetensors_path(files[f]), model_quote(info.name, 120, quoted, sizeof quoted));
      for (int naming = 0; naming < VDIT_MODEL_NAMING_COUNT; naming++) {
        size_t prefix_length;
        if (!ends_with(info.name, anchors[naming], &prefix_length)) continue;
        if (found >= 0)
          return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT,
                            "%s: two time embedders, '%s' and '%s': not one Wan2.1 checkpoint",
                            checkpoint_name(files, count, where, sizeof where),
                            model_quote(found_name, 120, other, sizeof other),
                            model_quote(info.name, 120, quoted, sizeof quoted));
        if (prefix_length >= sizeof config->prefix)
          return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: the name prefix of '%s' is longer than %zu characters",
                            vdit_safetensors_path(files[f]), model_quote(info.name, 120, quoted, sizeof quoted),
                            sizeof config->prefix - 1);
        found = naming;
        found_name = info.name;
        memcpy(config->prefix, info.name, prefix_length);
        config->prefix[prefix_length] = '\0';
      }
    }
  }
  if (found < 0)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT,
                      "%s is not a Wan2.1 transformer checkpoint: it has no tensor %s (diffusers names) or %s (Wan "
                      "names)",
                      checkpoint_name(files, count, where, sizeof where), anchors[0], anchors[1]);
  config->naming = (vdit_model_naming)found;
  return VDIT_OK;
}

// The tensor prefix + name with `ndim` dims; one-line errors name it.
static vdit_status need(const vdit_safetensors *const *files, size_t count, const vdit_model_config *config,
                        const char *name, int ndim, const char *meaning, model_found *found) {
  char full[256], where[512], dims[160];
  snprintf(full, sizeof full, "%s%s", config->prefix, name);
  if (!model_find(files, count, full, found))
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: missing tensor '%s' (%s)",
                      checkpoint_name(files, count, where, sizeof where), full, meaning);
  if (found->info.ndim != ndim)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: tensor '%s' has shape %s; it must have %d dims (%s)",
                      vdit_safetensors_path(files[found->file]), full,
                      model_dims_string(found->info.ndim, found->info.shape, dims, sizeof dims), ndim, meaning);
  for (int i = 0; i < ndim; i++)
    if (found->info.shape[i] < 1 || found->info.shape[i] > (INT64_C(1) << 24))
      return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: tensor '%s' has shape %s, a dim outside 1..16777216",
                        vdit_safetensors_path(files[found->file]), full,
                        model_dims_string(found->info.ndim, found->info.shape, dims, sizeof dims));
  return VDIT_OK;
}

static int exists(const vdit_safetensors *const *files, size_t count, const vdit_model_config *config,
                  const char *name) {
  char full[256];
  model_found found;
  snprintf(full, sizeof full, "%s%s", config->prefix, name);
  return model_find(files, count, full, &found);
}

// 1 + the largest n of the names prefix + "blocks.n.*"; 0 when there is none.
static int64_t count_layers(const vdit_safetensors *const *files, size_t count, const vdit_model_config *config) {
  int64_t layers = 0;
  size_t prefix_length = strlen(config->prefix);
  for (size_t f = 0; f < count; f++)
    for (size_t i = 0; i < vdit_safetensors_count(files[f]); i++) {
      vdit_safetensors_info info;
      if (vdit_safetensors_entry(files[f], i, &info) != VDIT_OK) continue;
      const char *p = info.name;
      if (strncmp(p, config->prefix, prefix_length) != 0 || strncmp(p + prefix_length, "blocks.", 7) != 0) continue;
      p += prefix_length + 7;
      int64_t n = 0;
      int digits = 0;
      while (*p >= '0' && *p <= '9' && digits < 9) n = n * 10 + (*p++ - '0'), digits++;
      if (digits && *p == '.' && n + 1 > layers) layers = n + 1;
    }
  return layers;
}

// A config.json field against the checkpoint's value.
static vdit_status agree(const vdit_model_hints *hints, const char *diffusers_key, const char *wan_key,
                         int64_t hint, int64_t actual, const char *from) {
  if (hint < 0 || hint == actual) return VDIT_OK;
  return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "config.json says %s %" PRId64 " but the checkpoint has %" PRId64 " (%s)",
                    hints->format == VDIT_MODEL_NAMING_WAN ? wan_key : diffusers_key, hint, actual, from);
}

static vdit_status apply_hints(const vdit_model_hints *h, vdit_model_config *c) {
  const int wan = h->format == VDIT_MODEL_NAMING_WAN;
  if (h->heads > 0) {
    if (h->dim > 0 && h->dim != c->dim)
      return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT,
                        wan ? "config.json says dim %" PRId64 " but patch_embedding.weight gives dim %" PRId64
                            : "config.json says num_attention_heads x attention_head_dim = %" PRId64
                              " but patch_embedding.weight gives dim %" PRId64,
                        h->dim, c->dim);
    if (c->dim % h->heads != 0)
      return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT,
                        "config.json says %" PRId64 " heads, which do not divide the model dim %" PRId64, h->heads,
                        c->dim);
    c->heads = h->heads;
    c->head_dim = c->dim / h->heads;
    c->heads_from_config = 1;
  } else if (h->dim > 0 && h->dim != c->dim) {
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT,
                      "config.json says dim %" PRId64 " but patch_embedding.weight gives dim %" PRId64, h->dim, c->dim);
  }
  VDIT_TRY(agree(h, "num_layers", "num_layers", h->layers, c->layers, "blocks.N.*"));
  VDIT_TRY(agree(h, "ffn_dim", "ffn_dim", h->ffn_dim, c->ffn_dim, "the FFN's first Linear"));
  VDIT_TRY(agree(h, "freq_dim", "freq_dim", h->freq_dim, c->freq_dim, "the time embedder's first Linear"));
  VDIT_TRY(agree(h, "text_dim", "text_dim", h->text_dim, c->text_dim, "the text embedder's first Linear"));
  VDIT_TRY(agree(h, "in_channels", "in_dim", h->in_channels, c->in_channels, "patch_embedding.weight"));
  VDIT_TRY(agree(h, "out_channels", "out_dim", h->out_channels, c->out_channels, "the output head"));
  if (h->patch[0] > 0 &&
      (h->patch[0] != c->patch[0] || h->patch[1] != c->patch[1] || h->patch[2] != c->patch[2]))
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT,
                      "config.json says patch_size [%" PRId64 ", %" PRId64 ", %" PRId64 "] but patch_embedding.weight "
                      "has a (%" PRId64 ", %" PRId64 ", %" PRId64 ") kernel",
                      h->patch[0], h->patch[1], h->patch[2], c->patch[0], c->patch[1], c->patch[2]);
  VDIT_TRY(agree(h, "qk_norm", "qk_norm", h->qk_norm, c->qk_norm, "norm_q.weight present or not"));
  VDIT_TRY(agree(h, "cross_attn_norm", "cross_attn_norm", h->cross_attn_norm, c->cross_attn_norm,
                 wan ? "norm3.weight present or not" : "norm2.weight present or not"));
  if (h->eps >= 0) c->eps = h->eps;
  return VDIT_OK;
}

// Every parameter present with its shape and a readable dtype; nothing else in the files.
static vdit_status check_tensors(const vdit_safetensors *const *files, size_t count, const vdit_model_config *config) {
  char name[256], where[512], have[160], want[160];
  const size_t params = vdit_model_parameter_count(config);
  for (size_t p = 0; p < params; p++) {
    model_param param;
    model_param_at(config, p, &param);
    model_param_name(&param, config->naming, config->prefix, name, sizeof name);
    model_found found;
    if (!model_find(files, count, name, &found))
      return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: missing tensor '%s'",
                        checkpoint_name(files, count, where, sizeof where), name);
    int64_t dims[VDIT_MAX_DIMS];
    int ndim = model_param_shape(config, param.desc->shape, dims);
    int same = found.info.ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = found.info.shape[i] == dims[i];
    if (!same)
      return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: tensor '%s' has shape %s, expected %s",
                        vdit_safetensors_path(files[found.file]), name,
                        model_dims_string(found.info.ndim, found.info.shape, have, sizeof have),
                        model_dims_string(ndim, dims, want, sizeof want));
    if (found.info.dtype != VDIT_DTYPE_F32 && found.info.dtype != VDIT_DTYPE_BF16 &&
        found.info.dtype != VDIT_DTYPE_F16)
      return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "%s: tensor '%s' is %s; the loader reads F32, BF16 and F16",
                        vdit_safetensors_path(files[found.file]), name, found.info.dtype_name);
  }
  // Every name a parameter, each in one file only.
  size_t total = 0, prefix_length = strlen(config->prefix);
  for (size_t f = 0; f < count; f++)
    for (size_t i = 0; i < vdit_safetensors_count(files[f]); i++) {
      vdit_safetensors_info info;
      VDIT_TRY(vdit_safetensors_entry(files[f], i, &info));
      total++;
      if (strncmp(info.name, config->prefix, prefix_length) == 0 &&
          model_name_is_param(config, config->naming, info.name + prefix_length)) {
        for (size_t g = 0; g < f; g++) {
          size_t index;
          if (vdit_safetensors_find(files[g], info.name, &index) == VDIT_OK)
            return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "tensor '%s' is in two shards, %s and %s", info.name,
                              vdit_safetensors_path(files[g]), vdit_safetensors_path(files[f]));
        }
        vdit_error_clear();
        continue;
      }
      return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT,
                        "%s: unexpected tensor '%s': not a parameter of a Wan2.1 text-to-video transformer with %s "
                        "names%s%s%s and %" PRId64 " blocks",
                        vdit_safetensors_path(files[f]), model_quote(info.name, 120, have, sizeof have),
                        vdit_model_naming_name(config->naming), config->prefix[0] ? " (prefix '" : "",
                        config->prefix, config->prefix[0] ? "')" : "", config->layers);
    }
  if (total != params)
    return VDIT_ERROR(VDIT_ERROR_INTERNAL, "model: %zu tensors for %zu parameters", total, params);
  return VDIT_OK;
}

vdit_status vdit_model_config_infer(const vdit_safetensors *const *files, size_t count, const vdit_model_hints *hints,
                                    vdit_model_config *config) {
  if (!files || count == 0 || !config)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_model_config_infer: no files or no config");
  for (size_t f = 0; f < count; f++)
    if (!files[f]) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_model_config_infer: file %zu is NULL", f);
  vdit_model_hints none;
  if (!hints) {
    vdit_model_hints_init(&none);
    hints = &none;
  }
  memset(config, 0, sizeof *config);
  config->eps = 1e-6;
  config->rope_theta = 10000;
  VDIT_TRY(detect_naming(files, count, config));
  const int wan = config->naming == VDIT_MODEL_NAMING_WAN;

  model_found t;
  VDIT_TRY(need(files, count, config, "patch_embedding.weight", 5, "dim, in_channels, p_t, p_h, p_w", &t));
  config->dim = t.info.shape[0];
  config->in_channels = t.info.shape[1];
  for (int i = 0; i < 3; i++) config->patch[i] = t.info.shape[2 + i];
  config->layers = count_layers(files, count, config);
  char where[512];
  if (config->layers == 0)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: no transformer blocks (no tensor named %sblocks.0.*)",
                      checkpoint_name(files, count, where, sizeof where), config->prefix);
  VDIT_TRY(need(files, count, config, wan ? "blocks.0.ffn.0.weight" : "blocks.0.ffn.net.0.proj.weight", 2,
                "ffn_dim, dim", &t));
  config->ffn_dim = t.info.shape[0];
  VDIT_TRY(need(files, count, config, anchors[config->naming], 2, "dim, freq_dim", &t));
  config->freq_dim = t.info.shape[1];
  VDIT_TRY(need(files, count, config,
                wan ? "text_embedding.0.weight" : "condition_embedder.text_embedder.linear_1.weight", 2,
                "dim, text_dim", &t));
  config->text_dim = t.info.shape[1];
  VDIT_TRY(need(files, count, config, wan ? "head.head.weight" : "proj_out.weight", 2,
                "p_t p_h p_w out_channels, dim", &t));
  const int64_t patch_volume = config->patch[0] * config->patch[1] * config->patch[2];
  if (t.info.shape[0] % patch_volume != 0)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT,
                      "%s: tensor '%s%s' has %" PRId64 " rows, not a multiple of the patch volume p_t p_h p_w = %" PRId64,
                      vdit_safetensors_path(files[t.file]), config->prefix, wan ? "head.head.weight" : "proj_out.weight",
                      t.info.shape[0], patch_volume);
  config->out_channels = t.info.shape[0] / patch_volume;
  config->cross_attn_norm = exists(files, count, config, wan ? "blocks.0.norm3.weight" : "blocks.0.norm2.weight");
  config->qk_norm =
      exists(files, count, config, wan ? "blocks.0.self_attn.norm_q.weight" : "blocks.0.attn1.norm_q.weight");

  VDIT_TRY(apply_hints(hints, config));
  VDIT_TRY(check_tensors(files, count, config)); // the shapes do not depend on the heads
  if (!config->heads_from_config) {
    // Every released Wan2.1 model has head dim 128 (1536 / 12, 5120 / 40).
    if (config->dim % 128 != 0)
      return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT,
                        "%s: cannot tell the number of heads: dim %" PRId64 " is not a multiple of 128 (the head dim "
                        "of every released Wan2.1); give the model's config.json",
                        checkpoint_name(files, count, where, sizeof where), config->dim);
    config->head_dim = 128;
    config->heads = config->dim / 128;
  }
  vdit_status status = vdit_model_config_validate(config);
  if (status != VDIT_OK) {
    char detail[256];
    snprintf(detail, sizeof detail, "%s", vdit_last_error());
    return VDIT_ERROR(status, "%s: %s", checkpoint_name(files, count, where, sizeof where), detail);
  }
  return VDIT_OK;
}
