// Model weights: one host allocation holding the blocks array and every parameter as f32,
// filled from safetensors shards in either name set and F32, BF16 or F16.
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "model/model_internal.h"
#include "vdit/ops.h"

enum { FLOATS_PER_LINE = VDIT_HOST_ALIGNMENT / sizeof(float) }; // each tensor starts 64-byte aligned

vdit_status vdit_model_weights_alloc(const vdit_model_config *config, vdit_model_weights *w) {
  if (!w) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_model_weights_alloc: weights is NULL");
  memset(w, 0, sizeof *w);
  VDIT_TRY(vdit_model_config_validate(config));
  const size_t params = vdit_model_parameter_count(config);
  // Sizes first, overflow-checked.
  size_t floats = 0;
  for (size_t p = 0; p < params; p++) {
    model_param param;
    model_param_at(config, p, &param);
    int64_t dims[VDIT_MAX_DIMS];
    int ndim = model_param_shape(config, param.desc->shape, dims);
    size_t n = 1;
    for (int i = 0; i < ndim; i++)
      if (!vdit_size_mul(n, (size_t)dims[i], &n)) n = SIZE_MAX;
    size_t padded = n / FLOATS_PER_LINE * FLOATS_PER_LINE;
    if (padded != n && !vdit_size_add(padded, FLOATS_PER_LINE, &padded)) padded = SIZE_MAX;
    if (n == SIZE_MAX || padded == SIZE_MAX || !vdit_size_add(floats, padded, &floats))
      return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "model weights: the size overflows");
  }
  size_t blocks_bytes, float_bytes, total;
  if (!vdit_size_mul((size_t)config->layers, sizeof(vdit_model_block_weights), &blocks_bytes) ||
      !vdit_size_add(blocks_bytes, VDIT_HOST_ALIGNMENT - 1, &blocks_bytes) ||
      !vdit_size_mul(floats, sizeof(float), &float_bytes) || !vdit_size_add(blocks_bytes, float_bytes, &total))
    return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "model weights: the size overflows");
  blocks_bytes = blocks_bytes / VDIT_HOST_ALIGNMENT * VDIT_HOST_ALIGNMENT;
  total = blocks_bytes + float_bytes;
  char *base = vdit_host_alloc(total, VDIT_HOST_ALIGNMENT);
  if (!base)
    return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "model weights: cannot allocate %zu bytes (%.2f GiB)", total,
                      (double)total / (1 << 30));
  memset(base, 0, blocks_bytes);
  w->config = *config;
  w->device = VDIT_CPU;
  w->matrix_dtype = VDIT_DTYPE_F32;
  w->bytes = float_bytes;
  w->allocation = base;
  w->blocks = (vdit_model_block_weights *)base;
  w->data = (float *)(base + blocks_bytes);
  w->floats = floats;
  float *next = w->data;
  for (size_t p = 0; p < params; p++) {
    model_param param;
    model_param_at(config, p, &param);
    int64_t dims[VDIT_MAX_DIMS];
    int ndim = model_param_shape(config, param.desc->shape, dims);
    vdit_tensor *t = model_param_tensor(w, &param);
    vdit_status status = vdit_tensor_view(t, next, VDIT_DTYPE_F32, VDIT_CPU, ndim, dims, NULL);
    if (status != VDIT_OK) {
      vdit_model_weights_free(w);
      return status;
    }
    size_t n = (size_t)vdit_tensor_numel(t);
    memset(next + n, 0, (FLOATS_PER_LINE - n % FLOATS_PER_LINE) % FLOATS_PER_LINE * sizeof(float));
    next += (n + FLOATS_PER_LINE - 1) / FLOATS_PER_LINE * FLOATS_PER_LINE;
  }
  return VDIT_OK;
}

// 1 for the parameters of a Linear or of the patch embedding (the GEMM operands), which a GPU
// model keeps in its matrix dtype.
static int param_is_matrix(const vdit_model_weights *w, const model_param *param) {
  const vdit_tensor *t = model_param_tensor(w, param);
  if (param->block < 0) {
    if (t == &w->patch_weight || t == &w->patch_bias) return 1;
    const vdit_model_linear *top[] = {&w->time_in, &w->time_out, &w->time_proj, &w->text_in, &w->text_out, &w->head};
    for (size_t i = 0; i < sizeof top / sizeof top[0]; i++)
      if (t == &top[i]->weight || t == &top[i]->bias) return 1;
    return 0;
  }
  const vdit_model_block_weights *b = &w->blocks[param->block];
  const vdit_model_linear *lin[] = {&b->self_q,  &b->self_k,  &b->self_v,  &b->self_out, &b->cross_q,
                                    &b->cross_k, &b->cross_v, &b->cross_out, &b->ffn_in,  &b->ffn_out};
  for (size_t i = 0; i < sizeof lin / sizeof lin[0]; i++)
    if (t == &lin[i]->weight || t == &lin[i]->bias) return 1;
  return 0;
}

vdit_status vdit_model_weights_alloc_on(const vdit_model_config *config, vdit_device device, vdit_dtype matrix_dtype,
                                        vdit_model_weights *w) {
  if (!w) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_model_weights_alloc_on: weights is NULL");
  memset(w, 0, sizeof *w);
  if (matrix_dtype != VDIT_DTYPE_F32 && matrix_dtype != VDIT_DTYPE_BF16)
    return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "model weights: matrix dtype %s (f32 or bf16)", vdit_dtype_name(matrix_dtype));
  if (device.type == VDIT_DEVICE_CPU) {
    if (matrix_dtype != VDIT_DTYPE_F32)
      return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "model weights: the CPU model keeps f32 weights");
    return vdit_model_weights_alloc(config, w);
  }
  VDIT_TRY(vdit_device_check(device));
  VDIT_TRY(vdit_model_config_validate(config));
  const size_t params = vdit_model_parameter_count(config);
  size_t blocks_bytes;
  if (!vdit_size_mul((size_t)config->layers, sizeof(vdit_model_block_weights), &blocks_bytes))
    return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "model weights: the size overflows");
  w->allocation = vdit_host_alloc(blocks_bytes ? blocks_bytes : 1, VDIT_HOST_ALIGNMENT);
  if (!w->allocation) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "model weights: no memory for the blocks array");
  memset(w->allocation, 0, blocks_bytes ? blocks_bytes : 1);
  w->config = *config;
  w->blocks = (vdit_model_block_weights *)w->allocation;
  w->device = device;
  w->matrix_dtype = matrix_dtype;
  // Two passes: sizes (each tensor rounded up to 256 bytes), then views into the block.
  size_t total = 0;
  for (int pass = 0; pass < 2; pass++) {
    size_t offset = 0;
    for (size_t p = 0; p < params; p++) {
      model_param param;
      model_param_at(config, p, &param);
      int64_t dims[VDIT_MAX_DIMS];
      int ndim = model_param_shape(config, param.desc->shape, dims);
      const vdit_dtype dtype = param_is_matrix(w, &param) ? matrix_dtype : VDIT_DTYPE_F32;
      size_t n = (size_t)vdit_dtype_bits(dtype) / 8;
      for (int i = 0; i < ndim; i++)
        if (!vdit_size_mul(n, (size_t)dims[i], &n)) n = SIZE_MAX;
      if (n == SIZE_MAX || !vdit_size_add(n, 255, &n) || !vdit_size_add(offset, n / 256 * 256, &offset)) {
        vdit_model_weights_free(w);
        return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "model weights: the size overflows");
      }
      if (pass == 1) {
        vdit_status status = vdit_tensor_view(model_param_tensor(w, &param), (char *)w->data + (offset - n / 256 * 256),
                                              dtype, device, ndim, dims, NULL);
        if (status != VDIT_OK) {
          vdit_model_weights_free(w);
          return status;
        }
      }
    }
    if (pass == 0) {
      total = offset;
      void *block = NULL;
      vdit_status status = vdit_device_alloc(device, total ? total : 256, &block);
      if (status != VDIT_OK) {
        vdit_model_weights_free(w);
        return status;
      }
      w->data = block;
      w->bytes = total;
      w->floats = total / sizeof(float);
    }
  }
  vdit_model_weights_zero(w); // the gaps (and everything) defined
  return VDIT_OK;
}

vdit_status vdit_model_weights_copy(vdit_model_weights *dst, const vdit_model_weights *src) {
  if (!dst || !src || !dst->data || !src->data)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_model_weights_copy: NULL or unallocated weights");
  const vdit_model_config *a = &dst->config, *b = &src->config;
  if (a->dim != b->dim || a->heads != b->heads || a->layers != b->layers || a->ffn_dim != b->ffn_dim ||
      a->freq_dim != b->freq_dim || a->text_dim != b->text_dim || a->in_channels != b->in_channels ||
      a->out_channels != b->out_channels || memcmp(a->patch, b->patch, sizeof a->patch) != 0 ||
      a->qk_norm != b->qk_norm || a->cross_attn_norm != b->cross_attn_norm)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_model_weights_copy: the two weights are of different models");
  const size_t params = vdit_model_parameter_count(a);
  for (size_t p = 0; p < params; p++) {
    vdit_tensor *d, *s;
    VDIT_TRY(vdit_model_parameter(dst, p, VDIT_MODEL_NAMING_DIFFUSERS, NULL, 0, &d));
    VDIT_TRY(vdit_model_parameter(src, p, VDIT_MODEL_NAMING_DIFFUSERS, NULL, 0, &s));
    VDIT_TRY(vdit_tensor_convert(d, s));
  }
  return VDIT_OK;
}

void vdit_model_weights_free(vdit_model_weights *w) {
  if (!w) return;
  if (w->device.type == VDIT_DEVICE_CUDA) vdit_device_free(w->device, w->data);
  vdit_host_free(w->allocation);
  memset(w, 0, sizeof *w);
}

void vdit_model_weights_zero(vdit_model_weights *w) {
  if (!w || !w->data) return;
  if (w->device.type == VDIT_DEVICE_CPU) {
    memset(w->data, 0, w->floats * sizeof(float));
    return;
  }
  vdit_tensor block;
  if (vdit_tensor_view(&block, w->data, VDIT_DTYPE_F32, w->device, 1, (const int64_t[]){(int64_t)w->floats}, NULL) ==
      VDIT_OK)
    (void)vdit_ops_zero(&block);
}

vdit_status vdit_model_weights_read(const vdit_safetensors *const *files, size_t count, vdit_model_weights *w) {
  if (!files || !w || !w->data)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_model_weights_read: NULL files or unallocated weights");
  if (w->device.type != VDIT_DEVICE_CPU)
    return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "vdit_model_weights_read: reads into CPU f32 weights (then "
                                              "vdit_model_weights_copy to the GPU)");
  const vdit_model_config *config = &w->config;
  const size_t params = vdit_model_parameter_count(config);
  char name[256];
  for (size_t p = 0; p < params; p++) {
    model_param param;
    model_param_at(config, p, &param);
    model_param_name(&param, config->naming, config->prefix, name, sizeof name);
    vdit_tensor *t = model_param_tensor(w, &param);
    model_found found;
    if (!model_find(files, count, name, &found))
      return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: missing tensor '%s'", vdit_safetensors_path(files[0]), name);
    const vdit_safetensors_info *info = &found.info;
    int same = info->ndim == t->ndim;
    for (int i = 0; same && i < t->ndim; i++) same = info->shape[i] == t->shape[i];
    if (!same) {
      char have[160], want[160];
      return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: tensor '%s' has shape %s, expected %s",
                        vdit_safetensors_path(files[found.file]), name,
                        model_dims_string(info->ndim, info->shape, have, sizeof have),
                        model_dims_string(t->ndim, t->shape, want, sizeof want));
    }
    const size_t n = (size_t)info->element_count;
    float *out = t->data;
    if (info->dtype == VDIT_DTYPE_F32) {
      memcpy(out, info->data, n * sizeof(float)); // any alignment
    } else if (info->dtype == VDIT_DTYPE_BF16 || info->dtype == VDIT_DTYPE_F16) {
      const void *in = info->data;
      void *bounce = NULL;
      if ((uintptr_t)in % 2 != 0) { // a file written without padding: copy to aligned memory first
        bounce = vdit_host_alloc(n * 2, VDIT_HOST_ALIGNMENT);
        if (!bounce) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "model weights: no memory to read '%s'", name);
        memcpy(bounce, in, n * 2);
        in = bounce;
      }
      vdit_status status = vdit_convert_to_float(info->dtype, n, in, out);
      vdit_host_free(bounce);
      VDIT_TRY(status);
    } else {
      return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "%s: tensor '%s' is %s; the loader reads F32, BF16 and F16",
                        vdit_safetensors_path(files[found.file]), name, info->dtype_name);
    }
  }
  return VDIT_OK;
}
