// Clustered attention's CUDA kernels (attn_cluster.cu), internal: moving rows between the
// caller's tensors (any strides, head dim contiguous) and the contiguous cluster-ordered
// (B, H, S, D) copies the executor runs on.
#ifndef VDIT_ATTN_CUDA_CLUSTER_H
#define VDIT_ATTN_CUDA_CLUSTER_H

#include <stdint.h>

#include <cuda_runtime.h>

#ifdef __cplusplus
extern "C" {
#endif

// Row (bh, p) of the contiguous side (element (bh * S + p) * D + d) and row (b, perm[bh * S + p],
// h) of the strided side (element b * sb + t * ss + h * sh + d), b = bh / H, h = bh % H.
// gather: contiguous[p] = strided[perm[p]]; scatter (gather = 0): strided[perm[p]] = contiguous[p].
typedef struct vdit_attn_cuda_cluster_rows {
  const void *src;
  void *dst;
  int element_bytes; // 2 or 4
  int gather;
  int64_t bh, heads, seq, dim;
  int64_t sb, ss, sh; // element strides of the strided side
  const int32_t *perm;
} vdit_attn_cuda_cluster_rows;

cudaError_t vdit_attn_cuda_cluster_rows_move(const vdit_attn_cuda_cluster_rows *rows, cudaStream_t stream);

#ifdef __cplusplus
}
#endif

#endif
