// Random weights of a given shape and a config from a "key=value,..." spec, for measurements
// without a checkpoint (include/vdit/model.h).
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vdit/model.h"

static int ends_with(const char *text, const char *suffix) {
  size_t n = strlen(text), m = strlen(suffix);
  return n >= m && strcmp(text + n - m, suffix) == 0;
}

void vdit_model_weights_fill_random(vdit_model_weights *weights, uint64_t seed) {
  if (!weights || !weights->data) return;
  size_t count = vdit_model_parameter_count(&weights->config);
  for (size_t i = 0; i < count; i++) {
    char name[256];
    vdit_tensor *t = NULL;
    if (vdit_model_parameter(weights, i, VDIT_MODEL_NAMING_DIFFUSERS, name, sizeof name, &t) != VDIT_OK || !t) continue;
    const uint64_t offset = (uint64_t)i << 40; // a disjoint stream range per parameter
    double mean = 0, std = 0.02;
    if (strstr(name, "scale_shift_table")) {
      std = 0.5;
    } else if (t->ndim >= 2) { // Linear (out, in) or the patch Conv3d (D, C_in, p_t, p_h, p_w)
      int64_t fan_in = vdit_tensor_numel(t) / t->shape[0];
      std = 1.0 / sqrt((double)(fan_in > 0 ? fan_in : 1));
    } else if (ends_with(name, ".weight")) { // a norm's scale
      mean = 1.0, std = 0.2;
    }
    (void)vdit_tensor_fill_normal(t, seed, offset, mean, std); // f32 on the CPU: cannot fail
  }
}

vdit_status vdit_model_config_parse(const char *spec, vdit_model_config *config) {
  if (!spec || !config) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "model config: NULL argument");
  VDIT_TRY(vdit_model_config_preset("wan2.1-1.3b", config));
  int64_t heads = -1;
  const char *p = spec;
  while (*p) {
    const char *end = strchr(p, ',');
    size_t n = end ? (size_t)(end - p) : strlen(p);
    char item[96];
    if (n == 0 || n >= sizeof item)
      return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "model config '%.100s': bad item (key=value, comma-separated)", spec);
    memcpy(item, p, n);
    item[n] = '\0';
    char *equals = strchr(item, '=');
    if (!equals)
      return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "model config '%.100s': '%s' needs '=' (e.g. dim=256)", spec, item);
    *equals = '\0';
    const char *key = item, *value = equals + 1;
    if (strcmp(key, "patch") == 0) {
      long long a, b, c;
      char extra;
      if (sscanf(value, "%lldx%lldx%lld%c", &a, &b, &c, &extra) != 3 || a < 1 || b < 1 || c < 1)
        return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "model config '%.100s': patch must be TxHxW, e.g. 1x2x2", spec);
      config->patch[0] = a, config->patch[1] = b, config->patch[2] = c;
    } else {
      char *stop = NULL;
      long long x = strtoll(value, &stop, 10);
      if (!*value || *stop || x < 1 || x > ((long long)1 << 30))
        return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "model config '%.100s': %s must be an integer in 1..2^30, got '%s'",
                          spec, key, value);
      if (strcmp(key, "dim") == 0) config->dim = x;
      else if (strcmp(key, "heads") == 0) heads = x;
      else if (strcmp(key, "layers") == 0) config->layers = x;
      else if (strcmp(key, "ffn") == 0) config->ffn_dim = x;
      else if (strcmp(key, "freq") == 0) config->freq_dim = x;
      else if (strcmp(key, "text") == 0) config->text_dim = x;
      else if (strcmp(key, "in") == 0) config->in_channels = x;
      else if (strcmp(key, "out") == 0) config->out_channels = x;
      else
        return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT,
                          "model config '%.100s': unknown key '%s' (dim, heads, layers, ffn, freq, text, in, out, patch)",
                          spec, key);
    }
    p += n + (end ? 1 : 0);
  }
  if (heads < 0) {
    if (config->dim % 128 != 0)
      return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT,
                        "model config '%.100s': give heads (dim %" PRId64 " is not a multiple of the head dim 128)", spec,
                        config->dim);
    heads = config->dim / 128;
  }
  if (config->dim % heads != 0)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "model config '%.100s': dim %" PRId64 " is not a multiple of heads %" PRId64,
                      spec, config->dim, heads);
  config->heads = heads;
  config->head_dim = config->dim / heads;
  return vdit_model_config_validate(config);
}
