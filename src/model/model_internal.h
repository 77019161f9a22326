// Internal to src/model: the parameter table (each parameter's two names, where it lives in
// vdit_model_weights, its shape) and tensor lookup across the shards of a checkpoint.
#ifndef VDIT_MODEL_INTERNAL_H
#define VDIT_MODEL_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "vdit/model.h"

// A parameter's shape, as a function of the config.
typedef enum model_shape {
  MODEL_SHAPE_D = 0,   // (D)
  MODEL_SHAPE_D_D,     // (D, D)
  MODEL_SHAPE_PATCH,   // (D, C_in, p_t, p_h, p_w)
  MODEL_SHAPE_D_FREQ,  // (D, D_f)
  MODEL_SHAPE_6D_D,    // (6 D, D)
  MODEL_SHAPE_6D,      // (6 D)
  MODEL_SHAPE_D_TEXT,  // (D, D_txt)
  MODEL_SHAPE_FF_D,    // (D_ff, D)
  MODEL_SHAPE_FF,      // (D_ff)
  MODEL_SHAPE_D_FF,    // (D, D_ff)
  MODEL_SHAPE_OUT_D,   // (p_t p_h p_w C_out, D)
  MODEL_SHAPE_OUT,     // (p_t p_h p_w C_out)
  MODEL_SHAPE_TABLE6,  // (1, 6, D)
  MODEL_SHAPE_TABLE2,  // (1, 2, D)
} model_shape;

// Which configs have the parameter.
typedef enum model_presence {
  MODEL_ALWAYS = 0,
  MODEL_IF_QK_NORM,         // norm_q / norm_k
  MODEL_IF_CROSS_ATTN_NORM, // the cross-attention LayerNorm's weight and bias
} model_presence;

typedef struct model_param_desc {
  const char *names[VDIT_MODEL_NAMING_COUNT]; // diffusers, Wan (a block's: after "blocks.n.")
  size_t offset;                              // of the vdit_tensor in vdit_model_weights or
                                              // vdit_model_block_weights
  model_shape shape;
  model_presence presence;
} model_param_desc;

// One parameter of a config: its description and block (-1 for a top-level one).
typedef struct model_param {
  const model_param_desc *desc;
  int64_t block;
} model_param;

int model_param_present(const vdit_model_config *config, const model_param_desc *desc);
// The index-th present parameter of `config` (0 .. vdit_model_parameter_count - 1).
int model_param_at(const vdit_model_config *config, size_t index, model_param *param);
// Its full name (with `prefix`, e.g. config->prefix) in `naming`; returns `buffer`.
char *model_param_name(const model_param *param, vdit_model_naming naming, const char *prefix, char *buffer,
                       size_t size);
int model_param_shape(const vdit_model_config *config, model_shape shape, int64_t dims[VDIT_MAX_DIMS]);
vdit_tensor *model_param_tensor(const vdit_model_weights *weights, const model_param *param);
// 1 if `name` (prefix already removed) is a parameter of `config` in `naming`.
int model_name_is_param(const vdit_model_config *config, vdit_model_naming naming, const char *name);

// A tensor found in one of the shards.
typedef struct model_found {
  size_t file;
  vdit_safetensors_info info;
} model_found;
// 1 and *found when some file has `name`; 0 when none does.
int model_find(const vdit_safetensors *const *files, size_t file_count, const char *name, model_found *found);

// `text` quoted for a one-line message: control characters escaped, long names cut with
// "..." (at most `limit` characters shown). Returns `buffer`.
char *model_quote(const char *text, size_t limit, char *buffer, size_t size);
// "(2, 3, 4)" into buffer.
char *model_dims_string(int ndim, const int64_t *dims, char *buffer, size_t size);

#endif // VDIT_MODEL_INTERNAL_H
