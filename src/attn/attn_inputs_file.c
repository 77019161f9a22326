// Attention inputs from a model capture file (attn_inputs.h, docs/model.md "Capture"): the
// real Q, K, V of one block, so the methods are judged on model activations.
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attn/attn_inputs.h"

// The layer numbers of the file's "blocks.N.q" tensors: how many, and the first.
static size_t captured_layers(const vdit_safetensors *file, int64_t *first) {
  size_t found = 0;
  for (size_t i = 0; i < vdit_safetensors_count(file); i++) {
    vdit_safetensors_info info;
    if (vdit_safetensors_entry(file, i, &info) != VDIT_OK) continue;
    long long n;
    char tail[4];
    if (sscanf(info.name, "blocks.%lld.%3s", &n, tail) == 2 && strcmp(tail, "q") == 0) {
      if (!found) *first = n;
      found++;
    }
  }
  return found;
}

// (B, S, H, D) f32 `t` into (B, H, S, D) `out`.
static void to_bhsd(const vdit_tensor *t, float *out) {
  const int64_t B = t->shape[0], S = t->shape[1], H = t->shape[2], D = t->shape[3];
  const float *x = t->data;
  for (int64_t b = 0; b < B; b++)
    for (int64_t s = 0; s < S; s++)
      for (int64_t h = 0; h < H; h++)
        memcpy(out + ((b * H + h) * S + s) * D, x + ((b * S + s) * H + h) * D, (size_t)D * sizeof *out);
}

vdit_status vdit_attn_inputs_read(const char *path, int64_t layer, vdit_attn_shape *shape, float **q, float **k,
                                  float **v) {
  *q = *k = *v = NULL;
  vdit_safetensors *file = NULL;
  VDIT_TRY(vdit_safetensors_open(path, &file));
  vdit_status status = VDIT_OK;
  if (layer < 0) {
    int64_t first = 0;
    size_t count = captured_layers(file, &first);
    if (count == 1) layer = first;
    else
      status = VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s holds Q/K/V of %zu blocks; say which (FILE:LAYER)", path,
                          count);
  }
  vdit_tensor t[3];
  for (int i = 0; i < 3 && status == VDIT_OK; i++) {
    char name[64];
    snprintf(name, sizeof name, "blocks.%" PRId64 ".%c", layer, "qkv"[i]);
    size_t index;
    if (vdit_safetensors_find(file, name, &index) != VDIT_OK) {
      status = VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s has no tensor %s (not a capture of block %" PRId64 ")",
                          path, name, layer);
      break;
    }
    status = vdit_safetensors_tensor_at(file, index, &t[i]);
    if (status == VDIT_OK && (t[i].dtype != VDIT_DTYPE_F32 || t[i].ndim != 4))
      status = VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: %s must be F32 (B, L, heads, head_dim)", path, name);
    if (status == VDIT_OK && i > 0 && !vdit_tensor_same_shape(&t[i], &t[0]))
      status = VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: %s and blocks.%" PRId64 ".q differ in shape", path, name,
                          layer);
  }
  if (status == VDIT_OK) {
    *shape = (vdit_attn_shape){t[0].shape[0], t[0].shape[2], t[0].shape[1], t[0].shape[1], t[0].shape[3]};
    size_t n = (size_t)vdit_tensor_numel(&t[0]);
    float **out[3] = {q, k, v};
    for (int i = 0; i < 3 && status == VDIT_OK; i++) {
      *out[i] = malloc((n ? n : 1) * sizeof(float));
      if (!*out[i]) status = VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "no memory for %s", path);
      else to_bhsd(&t[i], *out[i]);
    }
  }
  if (status != VDIT_OK) {
    free(*q), free(*k), free(*v);
    *q = *k = *v = NULL;
  }
  vdit_safetensors_close(file);
  return status;
}
