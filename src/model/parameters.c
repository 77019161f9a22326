// The parameter table of the Wan2.1 T2V transformer: every parameter's diffusers and Wan
// names (docs/wan-model.md, "Weight names"), its place in vdit_model_weights and its shape.
// Loading, gradients, the tests and `vdit inspect` all walk this one table.
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "model/model_internal.h"

#define TOP(field) offsetof(vdit_model_weights, field)
#define BLOCK(field) offsetof(vdit_model_block_weights, field)

// Top-level parameters, in the order vdit_model_parameter lists them (the head comes after
// the blocks, see model_param_at).
static const model_param_desc top_params[] = {
    {{"patch_embedding.weight", "patch_embedding.weight"}, TOP(patch_weight), MODEL_SHAPE_PATCH, MODEL_ALWAYS},
    {{"patch_embedding.bias", "patch_embedding.bias"}, TOP(patch_bias), MODEL_SHAPE_D, MODEL_ALWAYS},
    {{"condition_embedder.time_embedder.linear_1.weight", "time_embedding.0.weight"}, TOP(time_in.weight),
     MODEL_SHAPE_D_FREQ, MODEL_ALWAYS},
    {{"condition_embedder.time_embedder.linear_1.bias", "time_embedding.0.bias"}, TOP(time_in.bias), MODEL_SHAPE_D,
     MODEL_ALWAYS},
    {{"condition_embedder.time_embedder.linear_2.weight", "time_embedding.2.weight"}, TOP(time_out.weight),
     MODEL_SHAPE_D_D, MODEL_ALWAYS},
    {{"condition_embedder.time_embedder.linear_2.bias", "time_embedding.2.bias"}, TOP(time_out.bias), MODEL_SHAPE_D,
     MODEL_ALWAYS},
    {{"condition_embedder.time_proj.weight", "time_projection.1.weight"}, TOP(time_proj.weight), MODEL_SHAPE_6D_D,
     MODEL_ALWAYS},
    {{"condition_embedder.time_proj.bias", "time_projection.1.bias"}, TOP(time_proj.bias), MODEL_SHAPE_6D,
     MODEL_ALWAYS},
    {{"condition_embedder.text_embedder.linear_1.weight", "text_embedding.0.weight"}, TOP(text_in.weight),
     MODEL_SHAPE_D_TEXT, MODEL_ALWAYS},
    {{"condition_embedder.text_embedder.linear_1.bias", "text_embedding.0.bias"}, TOP(text_in.bias), MODEL_SHAPE_D,
     MODEL_ALWAYS},
    {{"condition_embedder.text_embedder.linear_2.weight", "text_embedding.2.weight"}, TOP(text_out.weight),
     MODEL_SHAPE_D_D, MODEL_ALWAYS},
    {{"condition_embedder.text_embedder.linear_2.bias", "text_embedding.2.bias"}, TOP(text_out.bias), MODEL_SHAPE_D,
     MODEL_ALWAYS},
    // after the blocks:
    {{"scale_shift_table", "head.modulation"}, TOP(head_modulation), MODEL_SHAPE_TABLE2, MODEL_ALWAYS},
    {{"proj_out.weight", "head.head.weight"}, TOP(head.weight), MODEL_SHAPE_OUT_D, MODEL_ALWAYS},
    {{"proj_out.bias", "head.head.bias"}, TOP(head.bias), MODEL_SHAPE_OUT, MODEL_ALWAYS},
};
enum { TOP_COUNT = sizeof top_params / sizeof top_params[0], TOP_BEFORE_BLOCKS = 12 };

// A block's parameters, names after "blocks.n.". The cross-attention LayerNorm is norm2 in
// diffusers and norm3 in Wan (the swap of docs/wan-model.md).
static const model_param_desc block_params[] = {
    {{"scale_shift_table", "modulation"}, BLOCK(modulation), MODEL_SHAPE_TABLE6, MODEL_ALWAYS},
    {{"attn1.to_q.weight", "self_attn.q.weight"}, BLOCK(self_q.weight), MODEL_SHAPE_D_D, MODEL_ALWAYS},
    {{"attn1.to_q.bias", "self_attn.q.bias"}, BLOCK(self_q.bias), MODEL_SHAPE_D, MODEL_ALWAYS},
    {{"attn1.to_k.weight", "self_attn.k.weight"}, BLOCK(self_k.weight), MODEL_SHAPE_D_D, MODEL_ALWAYS},
    {{"attn1.to_k.bias", "self_attn.k.bias"}, BLOCK(self_k.bias), MODEL_SHAPE_D, MODEL_ALWAYS},
    {{"attn1.to_v.weight", "self_attn.v.weight"}, BLOCK(self_v.weight), MODEL_SHAPE_D_D, MODEL_ALWAYS},
    {{"attn1.to_v.bias", "self_attn.v.bias"}, BLOCK(self_v.bias), MODEL_SHAPE_D, MODEL_ALWAYS},
    {{"attn1.to_out.0.weight", "self_attn.o.weight"}, BLOCK(self_out.weight), MODEL_SHAPE_D_D, MODEL_ALWAYS},
    {{"attn1.to_out.0.bias", "self_attn.o.bias"}, BLOCK(self_out.bias), MODEL_SHAPE_D, MODEL_ALWAYS},
    {{"attn1.norm_q.weight", "self_attn.norm_q.weight"}, BLOCK(self_norm_q), MODEL_SHAPE_D, MODEL_IF_QK_NORM},
    {{"attn1.norm_k.weight", "self_attn.norm_k.weight"}, BLOCK(self_norm_k), MODEL_SHAPE_D, MODEL_IF_QK_NORM},
    {{"norm2.weight", "norm3.weight"}, BLOCK(cross_norm_weight), MODEL_SHAPE_D, MODEL_IF_CROSS_ATTN_NORM},
    {{"norm2.bias", "norm3.bias"}, BLOCK(cross_norm_bias), MODEL_SHAPE_D, MODEL_IF_CROSS_ATTN_NORM},
    {{"attn2.to_q.weight", "cross_attn.q.weight"}, BLOCK(cross_q.weight), MODEL_SHAPE_D_D, MODEL_ALWAYS},
    {{"attn2.to_q.bias", "cross_attn.q.bias"}, BLOCK(cross_q.bias), MODEL_SHAPE_D, MODEL_ALWAYS},
    {{"attn2.to_k.weight", "cross_attn.k.weight"}, BLOCK(cross_k.weight), MODEL_SHAPE_D_D, MODEL_ALWAYS},
    {{"attn2.to_k.bias", "cross_attn.k.bias"}, BLOCK(cross_k.bias), MODEL_SHAPE_D, MODEL_ALWAYS},
    {{"attn2.to_v.weight", "cross_attn.v.weight"}, BLOCK(cross_v.weight), MODEL_SHAPE_D_D, MODEL_ALWAYS},
    {{"attn2.to_v.bias", "cross_attn.v.bias"}, BLOCK(cross_v.bias), MODEL_SHAPE_D, MODEL_ALWAYS},
    {{"attn2.to_out.0.weight", "cross_attn.o.weight"}, BLOCK(cross_out.weight), MODEL_SHAPE_D_D, MODEL_ALWAYS},
    {{"attn2.to_out.0.bias", "cross_attn.o.bias"}, BLOCK(cross_out.bias), MODEL_SHAPE_D, MODEL_ALWAYS},
    {{"attn2.norm_q.weight", "cross_attn.norm_q.weight"}, BLOCK(cross_norm_q), MODEL_SHAPE_D, MODEL_IF_QK_NORM},
    {{"attn2.norm_k.weight", "cross_attn.norm_k.weight"}, BLOCK(cross_norm_k), MODEL_SHAPE_D, MODEL_IF_QK_NORM},
    {{"ffn.net.0.proj.weight", "ffn.0.weight"}, BLOCK(ffn_in.weight), MODEL_SHAPE_FF_D, MODEL_ALWAYS},
    {{"ffn.net.0.proj.bias", "ffn.0.bias"}, BLOCK(ffn_in.bias), MODEL_SHAPE_FF, MODEL_ALWAYS},
    {{"ffn.net.2.weight", "ffn.2.weight"}, BLOCK(ffn_out.weight), MODEL_SHAPE_D_FF, MODEL_ALWAYS},
    {{"ffn.net.2.bias", "ffn.2.bias"}, BLOCK(ffn_out.bias), MODEL_SHAPE_D, MODEL_ALWAYS},
};
enum { BLOCK_COUNT = sizeof block_params / sizeof block_params[0] };

const char *vdit_model_naming_name(vdit_model_naming naming) {
  switch (naming) {
    case VDIT_MODEL_NAMING_DIFFUSERS: return "diffusers";
    case VDIT_MODEL_NAMING_WAN: return "wan";
    case VDIT_MODEL_NAMING_COUNT: break;
  }
  return "unknown";
}

int model_param_present(const vdit_model_config *config, const model_param_desc *desc) {
  switch (desc->presence) {
    case MODEL_ALWAYS: return 1;
    case MODEL_IF_QK_NORM: return config->qk_norm != 0;
    case MODEL_IF_CROSS_ATTN_NORM: return config->cross_attn_norm != 0;
  }
  return 0;
}

static size_t present_count(const vdit_model_config *config, const model_param_desc *table, size_t count) {
  size_t n = 0;
  for (size_t i = 0; i < count; i++) n += (size_t)model_param_present(config, &table[i]);
  return n;
}

size_t vdit_model_parameter_count(const vdit_model_config *config) {
  if (!config || config->layers < 0) return 0;
  return present_count(config, top_params, TOP_COUNT) +
         (size_t)config->layers * present_count(config, block_params, BLOCK_COUNT);
}

// The index-th present entry of table[first .. last).
static int nth_present(const vdit_model_config *config, const model_param_desc *table, size_t first, size_t last,
                       size_t *index, const model_param_desc **out) {
  for (size_t i = first; i < last; i++) {
    if (!model_param_present(config, &table[i])) continue;
    if (*index == 0) {
      *out = &table[i];
      return 1;
    }
    (*index)--;
  }
  return 0;
}

int model_param_at(const vdit_model_config *config, size_t index, model_param *param) {
  param->desc = NULL;
  param->block = -1;
  if (nth_present(config, top_params, 0, TOP_BEFORE_BLOCKS, &index, &param->desc)) return 1;
  size_t per_block = present_count(config, block_params, BLOCK_COUNT);
  if (per_block && index < (size_t)config->layers * per_block) {
    param->block = (int64_t)(index / per_block);
    index %= per_block;
    return nth_present(config, block_params, 0, BLOCK_COUNT, &index, &param->desc);
  }
  index -= (size_t)config->layers * per_block;
  return nth_present(config, top_params, TOP_BEFORE_BLOCKS, TOP_COUNT, &index, &param->desc);
}

char *model_param_name(const model_param *param, vdit_model_naming naming, const char *prefix, char *buffer,
                       size_t size) {
  if (param->block >= 0)
    snprintf(buffer, size, "%sblocks.%" PRId64 ".%s", prefix, param->block, param->desc->names[naming]);
  else snprintf(buffer, size, "%s%s", prefix, param->desc->names[naming]);
  return buffer;
}

int model_param_shape(const vdit_model_config *c, model_shape shape, int64_t dims[VDIT_MAX_DIMS]) {
  const int64_t D = c->dim, out = c->patch[0] * c->patch[1] * c->patch[2] * c->out_channels;
  switch (shape) {
    case MODEL_SHAPE_D: dims[0] = D; return 1;
    case MODEL_SHAPE_D_D: dims[0] = D, dims[1] = D; return 2;
    case MODEL_SHAPE_PATCH:
      dims[0] = D, dims[1] = c->in_channels, dims[2] = c->patch[0], dims[3] = c->patch[1], dims[4] = c->patch[2];
      return 5;
    case MODEL_SHAPE_D_FREQ: dims[0] = D, dims[1] = c->freq_dim; return 2;
    case MODEL_SHAPE_6D_D: dims[0] = 6 * D, dims[1] = D; return 2;
    case MODEL_SHAPE_6D: dims[0] = 6 * D; return 1;
    case MODEL_SHAPE_D_TEXT: dims[0] = D, dims[1] = c->text_dim; return 2;
    case MODEL_SHAPE_FF_D: dims[0] = c->ffn_dim, dims[1] = D; return 2;
    case MODEL_SHAPE_FF: dims[0] = c->ffn_dim; return 1;
    case MODEL_SHAPE_D_FF: dims[0] = D, dims[1] = c->ffn_dim; return 2;
    case MODEL_SHAPE_OUT_D: dims[0] = out, dims[1] = D; return 2;
    case MODEL_SHAPE_OUT: dims[0] = out; return 1;
    case MODEL_SHAPE_TABLE6: dims[0] = 1, dims[1] = 6, dims[2] = D; return 3;
    case MODEL_SHAPE_TABLE2: dims[0] = 1, dims[1] = 2, dims[2] = D; return 3;
  }
  return 0;
}

vdit_tensor *model_param_tensor(const vdit_model_weights *weights, const model_param *param) {
  char *base = param->block >= 0 ? (char *)&weights->blocks[param->block] : (char *)weights;
  return (vdit_tensor *)(base + param->desc->offset);
}

vdit_status vdit_model_parameter(const vdit_model_weights *weights, size_t index, vdit_model_naming naming,
                                 char *name, size_t name_size, vdit_tensor **tensor) {
  if (!weights || (unsigned)naming >= VDIT_MODEL_NAMING_COUNT)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_model_parameter: NULL weights or invalid naming");
  model_param param;
  if (!model_param_at(&weights->config, index, &param))
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "model parameter %zu out of range (%zu parameters)", index,
                      vdit_model_parameter_count(&weights->config));
  if (name) model_param_name(&param, naming, "", name, name_size);
  if (tensor) *tensor = model_param_tensor(weights, &param);
  return VDIT_OK;
}

static int table_has(const vdit_model_config *config, const model_param_desc *table, size_t first, size_t last,
                     vdit_model_naming naming, const char *name) {
  for (size_t i = first; i < last; i++)
    if (model_param_present(config, &table[i]) && strcmp(table[i].names[naming], name) == 0) return 1;
  return 0;
}

int model_name_is_param(const vdit_model_config *config, vdit_model_naming naming, const char *name) {
  if (table_has(config, top_params, 0, TOP_COUNT, naming, name)) return 1;
  if (strncmp(name, "blocks.", 7) != 0) return 0;
  const char *p = name + 7;
  if (*p < '0' || *p > '9' || (p[0] == '0' && p[1] >= '0' && p[1] <= '9')) return 0; // digits, no leading 0
  int64_t block = 0;
  while (*p >= '0' && *p <= '9') {
    if (block > INT64_MAX / 10 - 10) return 0;
    block = block * 10 + (*p++ - '0');
  }
  if (*p != '.' || block >= config->layers) return 0;
  return table_has(config, block_params, 0, BLOCK_COUNT, naming, p + 1);
}

int model_find(const vdit_safetensors *const *files, size_t file_count, const char *name, model_found *found) {
  for (size_t f = 0; f < file_count; f++) {
    size_t index;
    if (vdit_safetensors_find(files[f], name, &index) == VDIT_OK &&
        vdit_safetensors_entry(files[f], index, &found->info) == VDIT_OK) {
      found->file = f;
      return 1;
    }
  }
  vdit_error_clear(); // the misses above are not failures
  return 0;
}

char *model_quote(const char *text, size_t limit, char *buffer, size_t size) {
  size_t used = 0, shown = 0;
  if (size == 0) return buffer;
  for (const unsigned char *c = (const unsigned char *)text; *c && used + 8 < size; c++) {
    if (shown == limit) {
      used += (size_t)snprintf(buffer + used, size - used, "...");
      break;
    }
    if (*c < 0x20 || *c == 0x7f) used += (size_t)snprintf(buffer + used, size - used, "\\x%02x", *c);
    else buffer[used++] = (char)*c;
    shown++;
  }
  buffer[used < size ? used : size - 1] = '\0';
  return buffer;
}

char *model_dims_string(int ndim, const int64_t *dims, char *buffer, size_t size) {
  size_t used = (size_t)snprintf(buffer, size, "(");
  for (int i = 0; i < ndim && used < size; i++)
    used += (size_t)snprintf(buffer + used, size - used, "%s%" PRId64, i ? ", " : "", dims[i]);
  if (used < size) snprintf(buffer + used, size - used, ")");
  return buffer;
}
