// Capture of chosen blocks' self-attention Q, K, V from a forward pass into a safetensors
// file (include/vdit/model.h, docs/model.md "Capture").
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vdit/model.h"

typedef struct captured_layer {
  int64_t layer;
  vdit_tensor qkv[3]; // (B, L, nh, d) f32, owned; ndim 0 until a pass reached the block
} captured_layer;

struct vdit_model_capture {
  int all;                 // every block (layers grow as the pass reaches them)
  captured_layer *layers;  // sorted by layer
  size_t count, capacity;
  vdit_model_observer next;
  void *next_user;
};

static int compare_layers(const void *a, const void *b) {
  int64_t x = ((const captured_layer *)a)->layer, y = ((const captured_layer *)b)->layer;
  return (x > y) - (x < y);
}

static vdit_status reserve(vdit_model_capture *c, size_t count) {
  if (count <= c->capacity) return VDIT_OK;
  size_t capacity = c->capacity ? c->capacity * 2 : 8;
  while (capacity < count) capacity *= 2;
  captured_layer *grown = realloc(c->layers, capacity * sizeof *grown);
  if (!grown) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "capture: no memory for %zu layers", count);
  memset(grown + c->capacity, 0, (capacity - c->capacity) * sizeof *grown);
  c->layers = grown;
  c->capacity = capacity;
  return VDIT_OK;
}

vdit_status vdit_model_capture_create(const int64_t *layers, size_t layer_count, vdit_model_capture **capture) {
  if (!capture) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "capture: NULL argument");
  *capture = NULL;
  if (layer_count && !layers) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "capture: layers is NULL");
  vdit_model_capture *c = calloc(1, sizeof *c);
  if (!c) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "capture: no memory");
  c->all = layer_count == 0;
  vdit_status status = reserve(c, layer_count);
  for (size_t i = 0; i < layer_count && status == VDIT_OK; i++) {
    if (layers[i] < 0) status = VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "capture: layer %" PRId64 " < 0", layers[i]);
    for (size_t j = 0; j < i && status == VDIT_OK; j++)
      if (layers[j] == layers[i])
        status = VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "capture: layer %" PRId64 " given twice", layers[i]);
    if (status == VDIT_OK) c->layers[c->count++].layer = layers[i];
  }
  if (status != VDIT_OK) {
    vdit_model_capture_free(c);
    return status;
  }
  if (c->count) qsort(c->layers, c->count, sizeof *c->layers, compare_layers);
  *capture = c;
  return VDIT_OK;
}

void vdit_model_capture_free(vdit_model_capture *capture) {
  if (!capture) return;
  for (size_t i = 0; i < capture->count; i++)
    for (int t = 0; t < 3; t++) vdit_tensor_free(&capture->layers[i].qkv[t]);
  free(capture->layers);
  free(capture);
}

void vdit_model_capture_chain(vdit_model_capture *capture, vdit_model_observer next, void *next_user) {
  if (!capture) return;
  capture->next = next;
  capture->next_user = next_user;
}

static captured_layer *find(const vdit_model_capture *c, int64_t layer) {
  for (size_t i = 0; i < c->count; i++)
    if (c->layers[i].layer == layer) return &c->layers[i];
  return NULL;
}

// "blocks.N.attn1.q" -> N and 0 (q), 1 (k), 2 (v); 0 when the name is something else.
static int parse_name(const char *name, int64_t *layer, int *which) {
  if (strncmp(name, "blocks.", 7) != 0) return 0;
  const char *p = name + 7;
  int64_t n = 0;
  int digits = 0;
  while (*p >= '0' && *p <= '9' && digits < 18) n = n * 10 + (*p++ - '0'), digits++;
  if (!digits || strncmp(p, ".attn1.", 7) != 0) return 0;
  p += 7;
  if (p[1] != '\0') return 0;
  if (*p == 'q') *which = 0;
  else if (*p == 'k') *which = 1;
  else if (*p == 'v') *which = 2;
  else return 0;
  *layer = n;
  return 1;
}

static vdit_status keep(vdit_model_capture *c, int64_t layer, int which, const vdit_tensor *tensor) {
  captured_layer *slot = find(c, layer);
  if (!slot && c->all) {
    VDIT_TRY(reserve(c, c->count + 1));
    slot = &c->layers[c->count++];
    memset(slot, 0, sizeof *slot);
    slot->layer = layer;
    qsort(c->layers, c->count, sizeof *c->layers, compare_layers);
    slot = find(c, layer);
  }
  if (!slot) return VDIT_OK;
  if (tensor->dtype != VDIT_DTYPE_F32)
    return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "capture: blocks.%" PRId64 " is %s; the capture keeps f32", layer,
                      vdit_dtype_name(tensor->dtype));
  vdit_tensor *dst = &slot->qkv[which];
  if (dst->ndim == 0 || !vdit_tensor_same_shape(dst, tensor)) {
    vdit_tensor_free(dst);
    VDIT_TRY(vdit_tensor_alloc(dst, VDIT_DTYPE_F32, VDIT_CPU, tensor->ndim, tensor->shape));
  }
  return vdit_tensor_copy(dst, tensor); // from a GPU too (the copy stages it)
}

vdit_status vdit_model_capture_observe(void *capture, const char *name, const vdit_tensor *tensor) {
  vdit_model_capture *c = capture;
  if (!c || !name || !tensor) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "capture: NULL argument");
  int64_t layer;
  int which;
  if (parse_name(name, &layer, &which)) VDIT_TRY(keep(c, layer, which, tensor));
  return c->next ? c->next(c->next_user, name, tensor) : VDIT_OK;
}

size_t vdit_model_capture_layer_count(const vdit_model_capture *capture) { return capture ? capture->count : 0; }

const vdit_tensor *vdit_model_capture_tensor(const vdit_model_capture *capture, int64_t layer, char which) {
  if (!capture) return NULL;
  const captured_layer *slot = find(capture, layer);
  int index = which == 'q' ? 0 : which == 'k' ? 1 : which == 'v' ? 2 : -1;
  if (!slot || index < 0 || slot->qkv[index].ndim == 0) return NULL;
  return &slot->qkv[index];
}

vdit_status vdit_model_capture_write(const vdit_model_capture *capture, const char *path,
                                     const vdit_model_capture_info *info) {
  if (!capture || !path || !info) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "capture: NULL argument");
  const vdit_model_capture *c = capture;
  if (c->count == 0) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "capture: no layer was captured");
  for (size_t i = 0; i < c->count; i++)
    for (int t = 0; t < 3; t++)
      if (c->layers[i].qkv[t].ndim != 4)
        return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT,
                          "capture: block %" PRId64 " was not reached by the pass (does the model have it?)",
                          c->layers[i].layer);
  const vdit_tensor *q0 = &c->layers[0].qkv[0];
  if (q0->shape[1] != info->grid[0] * info->grid[1] * info->grid[2])
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT,
                      "capture: token grid %" PRId64 " x %" PRId64 " x %" PRId64 " does not give the %" PRId64
                      " tokens of the pass",
                      info->grid[0], info->grid[1], info->grid[2], q0->shape[1]);
  size_t count = c->count * 3;
  const char **names = calloc(count, sizeof *names);
  char *name_text = calloc(count, 48);
  vdit_tensor *tensors = calloc(count, sizeof *tensors);
  size_t layers_size = c->count * 21 + 1;
  char *layers_text = calloc(layers_size, 1);
  vdit_status status = VDIT_OK;
  if (!names || !name_text || !tensors || !layers_text)
    status = VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "capture: no memory");
  size_t used = 0;
  for (size_t i = 0; i < c->count && status == VDIT_OK; i++) {
    used += (size_t)snprintf(layers_text + used, layers_size - used, "%s%" PRId64, i ? "," : "", c->layers[i].layer);
    for (int t = 0; t < 3; t++) {
      char *name = name_text + (i * 3 + (size_t)t) * 48;
      snprintf(name, 48, "blocks.%" PRId64 ".%c", c->layers[i].layer, "qkv"[t]);
      names[i * 3 + (size_t)t] = name;
      tensors[i * 3 + (size_t)t] = c->layers[i].qkv[t];
    }
  }
  if (status == VDIT_OK) {
    char frames[24], height[24], width[24], heads[24], head_dim[24], step[24], timestep[40];
    snprintf(frames, sizeof frames, "%" PRId64, info->grid[0]);
    snprintf(height, sizeof height, "%" PRId64, info->grid[1]);
    snprintf(width, sizeof width, "%" PRId64, info->grid[2]);
    snprintf(heads, sizeof heads, "%" PRId64, q0->shape[2]);
    snprintf(head_dim, sizeof head_dim, "%" PRId64, q0->shape[3]);
    snprintf(step, sizeof step, "%" PRId64, info->step);
    snprintf(timestep, sizeof timestep, "%.17g", info->timestep);
    const char *keys[] = {"format", "layers", "frames", "height", "width", "heads", "head_dim", "step", "timestep"};
    const char *values[] = {"vdit.qkv", layers_text, frames, height, width, heads, head_dim, step, timestep};
    status = vdit_safetensors_write(path, count, names, tensors, sizeof keys / sizeof keys[0], keys, values);
  }
  free(names);
  free(name_text);
  free(tensors);
  free(layers_text);
  return status;
}
