// Block maps of the block-sparse executor (include/vdit/attn.h): allocation, the full map,
// validation, copies between devices, the transposed map and block counts. Host maps are
// handled here; device maps go through the CUDA kernels of src/attn/cuda/attn_block_map.cu
// (attn_sparse_cuda.c).
#include <stdlib.h>
#include <string.h>

#include "attn/attn_kernels.h"

void vdit_attn_block_sizes(vdit_device device, int64_t head_dim, int32_t *block_q, int32_t *block_k) {
  (void)device, (void)head_dim; // 128 x 128 everywhere today (the CUDA forward splits a block in two 64-key tiles at D = 64)
  *block_q = 128;
  *block_k = 128;
}

static int64_t map_rows(const vdit_attn_block_map *map) { return map->batch * map->heads * map->q_blocks; }

vdit_status vdit_attn_block_map_alloc(vdit_attn_block_map *map, vdit_device device, int64_t batch, int64_t heads,
                                      int64_t seq_q, int64_t seq_k, int32_t block_q, int32_t block_k) {
  memset(map, 0, sizeof *map);
  if (batch < 0 || heads < 0 || seq_q < 0 || seq_k < 0 || block_q < 1 || block_k < 1)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "block map: bad shape (B=%lld H=%lld Sq=%lld Sk=%lld, blocks %d x %d)",
                      (long long)batch, (long long)heads, (long long)seq_q, (long long)seq_k, block_q, block_k);
  const int64_t q_blocks = (seq_q + block_q - 1) / block_q, k_blocks = (seq_k + block_k - 1) / block_k;
  const int64_t rows = batch * heads * q_blocks, capacity = rows * k_blocks;
  if (capacity >= INT32_MAX || rows >= INT32_MAX)
    return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "block map: %lld blocks exceed the int32 offsets (use larger blocks)",
                      (long long)capacity);
  map->batch = batch;
  map->heads = heads;
  map->seq_q = seq_q;
  map->seq_k = seq_k;
  map->block_q = block_q;
  map->block_k = block_k;
  map->q_blocks = (int32_t)q_blocks;
  map->k_blocks = (int32_t)k_blocks;
  map->capacity = capacity;
  map->device = device;
  vdit_status status = vdit_device_alloc(device, (size_t)(rows + 1) * sizeof(int32_t), (void **)&map->row_offsets);
  if (status == VDIT_OK) status = vdit_device_alloc(device, (size_t)(capacity + 1) * sizeof(int32_t), (void **)&map->col_index);
  if (status == VDIT_OK) {
    if (device.type == VDIT_DEVICE_CPU) memset(map->row_offsets, 0, (size_t)(rows + 1) * sizeof(int32_t));
    else status = vdit_attn_cuda_block_map_clear(map);
  }
  if (status != VDIT_OK) vdit_attn_block_map_free(map);
  return status;
}

void vdit_attn_block_map_free(vdit_attn_block_map *map) {
  if (!map) return;
  vdit_device_free(map->device, map->row_offsets);
  vdit_device_free(map->device, map->col_index);
  map->row_offsets = NULL;
  map->col_index = NULL;
}

vdit_status vdit_attn_block_map_fill_full(vdit_attn_block_map *map) {
  if (map->device.type != VDIT_DEVICE_CPU) return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "block map: fill_full needs a host map");
  const int64_t rows = map_rows(map);
  int64_t n = 0;
  for (int64_t r = 0; r < rows; r++) {
    map->row_offsets[r] = (int32_t)n;
    for (int32_t j = 0; j < map->k_blocks; j++) map->col_index[n++] = j;
  }
  map->row_offsets[rows] = (int32_t)n;
  return VDIT_OK;
}

vdit_status vdit_attn_block_map_validate(const vdit_attn_block_map *map) {
  if (map->device.type != VDIT_DEVICE_CPU) return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "block map: validate needs a host map");
  const int64_t rows = map_rows(map);
  if (map->row_offsets[0] != 0) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "block map: row_offsets[0] is not 0");
  for (int64_t r = 0; r < rows; r++) {
    const int32_t begin = map->row_offsets[r], end = map->row_offsets[r + 1];
    if (end < begin || end > map->capacity)
      return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "block map: row %lld offsets %d..%d outside 0..%lld", (long long)r,
                        begin, end, (long long)map->capacity);
    for (int32_t e = begin; e < end; e++) {
      const int32_t j = map->col_index[e];
      if (j < 0 || j >= map->k_blocks || (e > begin && j <= map->col_index[e - 1]))
        return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "block map: row %lld lists key block %d (need ascending, < %d)",
                          (long long)r, j, map->k_blocks);
    }
  }
  return VDIT_OK;
}

vdit_status vdit_attn_block_map_copy(vdit_attn_block_map *dst, const vdit_attn_block_map *src) {
  if (dst->batch != src->batch || dst->heads != src->heads || dst->q_blocks != src->q_blocks ||
      dst->k_blocks != src->k_blocks || dst->block_q != src->block_q || dst->block_k != src->block_k)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "block map copy: the maps' shapes differ");
  const int64_t rows = map_rows(src);
  VDIT_TRY(vdit_memcpy(dst->device, dst->row_offsets, src->device, src->row_offsets, (size_t)(rows + 1) * sizeof(int32_t)));
  int32_t used = 0;
  VDIT_TRY(vdit_memcpy(VDIT_CPU, &used, src->device, src->row_offsets + rows, sizeof used));
  return vdit_memcpy(dst->device, dst->col_index, src->device, src->col_index, (size_t)used * sizeof(int32_t));
}

vdit_status vdit_attn_block_map_transpose(vdit_attn_block_map *t, const vdit_attn_block_map *src) {
  VDIT_TRY(vdit_attn_block_map_alloc(t, src->device, src->batch, src->heads, src->seq_k, src->seq_q, src->block_k,
                                     src->block_q));
  if (src->device.type != VDIT_DEVICE_CPU) {
    vdit_status status = vdit_attn_cuda_block_map_transpose(t, src);
    if (status != VDIT_OK) vdit_attn_block_map_free(t);
    return status;
  }
  // counting sort per (b, h): count per key block, scan, then place query blocks in order
  const int64_t bh_count = src->batch * src->heads;
  for (int64_t bh = 0; bh < bh_count; bh++) {
    int32_t *counts = t->row_offsets + bh * t->q_blocks + 1; // shifted by one: scan in place
    for (int32_t i = 0; i < src->q_blocks; i++) {
      const int64_t r = bh * src->q_blocks + i;
      for (int32_t e = src->row_offsets[r]; e < src->row_offsets[r + 1]; e++) counts[src->col_index[e]]++;
    }
  }
  const int64_t rows = map_rows(t);
  for (int64_t r = 0; r < rows; r++) t->row_offsets[r + 1] += t->row_offsets[r];
  int32_t *fill = malloc((size_t)(rows + 1) * sizeof *fill);
  if (!fill) {
    vdit_attn_block_map_free(t);
    return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "block map transpose: no memory");
  }
  memcpy(fill, t->row_offsets, (size_t)(rows + 1) * sizeof *fill);
  for (int64_t bh = 0; bh < bh_count; bh++)
    for (int32_t i = 0; i < src->q_blocks; i++) {
      const int64_t r = bh * src->q_blocks + i;
      for (int32_t e = src->row_offsets[r]; e < src->row_offsets[r + 1]; e++)
        t->col_index[fill[bh * t->q_blocks + src->col_index[e]]++] = i;
    }
  free(fill);
  return VDIT_OK;
}

vdit_status vdit_attn_block_map_count(const vdit_attn_block_map *map, int64_t *blocks, double *sparsity) {
  int32_t used = 0;
  VDIT_TRY(vdit_memcpy(VDIT_CPU, &used, map->device, map->row_offsets + map_rows(map), sizeof used));
  if (blocks) *blocks = used;
  if (sparsity) *sparsity = map->capacity > 0 ? 1.0 - (double)used / (double)map->capacity : 0.0;
  return VDIT_OK;
}
