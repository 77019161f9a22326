// The host side of the CUDA block-map and sparge kernels (src/attn/cuda/attn_block_map.cu,
// sparge_mask.cu): argument checks, workspace, and the current-device dance. Without the
// CUDA backend every call is VDIT_ERROR_NO_DEVICE.
#include <string.h>

#include "attn/attn_kernels.h"

#ifdef VDIT_HAVE_CUDA
#include "attn/cuda/attn_cuda.h"
#include "base/cuda_check.h"
#endif

vdit_status vdit_attn_cuda_block_map_clear(vdit_attn_block_map *map) {
#ifdef VDIT_HAVE_CUDA
  const size_t rows = (size_t)(map->batch * map->heads * map->q_blocks);
  VDIT_CUDA_TRY(cudaMemset(map->row_offsets, 0, (rows + 1) * sizeof(int32_t)));
  return VDIT_OK;
#else
  return vdit_device_check(map->device);
#endif
}

vdit_status vdit_attn_cuda_block_map_transpose(vdit_attn_block_map *t, const vdit_attn_block_map *src) {
#ifdef VDIT_HAVE_CUDA
  const size_t bitmap = (size_t)(src->batch * src->heads) * (size_t)src->q_blocks * (size_t)src->k_blocks;
  void *scratch = NULL;
  VDIT_TRY(vdit_device_alloc(src->device, bitmap + 256, &scratch));
  vdit_attn_cuda_map m = {(int)(src->batch * src->heads), src->q_blocks, src->k_blocks, src->row_offsets, src->col_index};
  vdit_attn_cuda_map mt = {(int)(src->batch * src->heads), t->q_blocks, t->k_blocks, t->row_offsets, t->col_index};
  cudaError_t err = vdit_attn_cuda_map_transpose(&m, &mt, (unsigned char *)scratch, 0);
  if (err == cudaSuccess) err = cudaDeviceSynchronize();
  vdit_device_free(src->device, scratch);
  if (err != cudaSuccess) return VDIT_ERROR(VDIT_ERROR_CUDA, "block map transpose: %s", cudaGetErrorString(err));
  return VDIT_OK;
#else
  (void)t;
  return vdit_device_check(src->device);
#endif
}

vdit_status vdit_attn_cuda_sparge_predict(const vdit_attn_problem *problem, const vdit_attn_sparge_config *sparge,
                                          const vdit_tensor *q, const vdit_tensor *k, vdit_attn_block_map *map,
                                          void **workspace, size_t *workspace_bytes) {
#ifdef VDIT_HAVE_CUDA
  const vdit_attn_shape s = problem->shape;
  vdit_attn_cuda_sparge_args a;
  memset(&a, 0, sizeof a);
  a.dtype = q->dtype;
  a.BH = (int)(s.batch * s.heads);
  a.H = (int)s.heads;
  a.Sq = (int)s.seq_q;
  a.Sk = (int)s.seq_k;
  a.D = (int)s.head_dim;
  a.block_q = map->block_q;
  a.block_k = map->block_k;
  a.q_blocks = map->q_blocks;
  a.k_blocks = map->k_blocks;
  a.scale = problem->scale;
  a.rule = (int)sparge->rule;
  a.sink = sparge->sink;
  a.q = q->data;
  a.k = k->data;
  const vdit_attn_layout layout = problem->config.layout;
  a.q_sb = q->stride[0];
  a.q_ss = layout == VDIT_ATTN_LAYOUT_BSHD ? q->stride[1] : q->stride[2];
  a.q_sh = layout == VDIT_ATTN_LAYOUT_BSHD ? q->stride[2] : q->stride[1];
  a.k_sb = k->stride[0];
  a.k_ss = layout == VDIT_ATTN_LAYOUT_BSHD ? k->stride[1] : k->stride[2];
  a.k_sh = layout == VDIT_ATTN_LAYOUT_BSHD ? k->stride[2] : k->stride[1];
  a.row_offsets = map->row_offsets;
  a.col_index = map->col_index;
  if (!vdit_attn_cuda_sparge_fits(&a))
    return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "sparge on CUDA: needs D a power of two in 8..256 (got %lld), 16-byte aligned Q "
                      "and K with strides in multiples of 8, at most 8192 key blocks", (long long)s.head_dim);
  const size_t need = vdit_attn_cuda_sparge_workspace_bytes(&a);
  if (*workspace_bytes < need) {
    vdit_device_free(map->device, *workspace);
    *workspace = NULL;
    *workspace_bytes = 0;
    VDIT_TRY(vdit_device_alloc(map->device, need, workspace));
    *workspace_bytes = need;
  }
  // per-head parameters: uploaded into the workspace's head table
  vdit_attn_sparge_head heads[64];
  const int table = s.heads <= 64 ? (int)s.heads : 0;
  if (!table && sparge->per_head) return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "sparge on CUDA: per-head parameters for at most 64 heads");
  for (int h = 0; h < table; h++) heads[h] = sparge->per_head ? sparge->per_head[h] : sparge->params;
  a.params = sparge->params;
  a.per_head = sparge->per_head != NULL;
  memcpy(a.head_table, heads, (size_t)table * sizeof heads[0]);
  cudaError_t err = vdit_attn_cuda_sparge(&a, *workspace, 0);
  if (err != cudaSuccess) return VDIT_ERROR(VDIT_ERROR_CUDA, "sparge mask prediction: %s", cudaGetErrorString(err));
  return VDIT_OK;
#else
  (void)problem, (void)sparge, (void)q, (void)k, (void)workspace, (void)workspace_bytes;
  return vdit_device_check(map->device);
#endif
}
