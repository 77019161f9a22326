// Clustered attention on CUDA: the row moves of attn_cluster.h (one thread block per row,
// threads over the head dim).
#include "attn/cuda/attn_cluster.h"

template <typename T>
static __global__ void rows_move_kernel(const T *__restrict__ src, T *__restrict__ dst, int gather, int64_t heads,
                                        int64_t seq, int64_t dim, int64_t sb, int64_t ss, int64_t sh,
                                        const int32_t *__restrict__ perm) {
  const int64_t bh = blockIdx.y, p = blockIdx.x;
  const int64_t t = perm[bh * seq + p];
  const int64_t strided = (bh / heads) * sb + t * ss + (bh % heads) * sh;
  const int64_t contiguous = (bh * seq + p) * dim;
  for (int64_t d = threadIdx.x; d < dim; d += blockDim.x) {
    if (gather) dst[contiguous + d] = src[strided + d];
    else dst[strided + d] = src[contiguous + d];
  }
}

extern "C" cudaError_t vdit_attn_cuda_cluster_rows_move(const vdit_attn_cuda_cluster_rows *a, cudaStream_t stream) {
  if (a->bh == 0 || a->seq == 0) return cudaSuccess;
  if (a->bh > 65535) return cudaErrorInvalidValue;
  const dim3 grid((unsigned)a->seq, (unsigned)a->bh);
  const unsigned threads = a->dim >= 128 ? 128 : a->dim >= 64 ? 64 : 32;
  if (a->element_bytes == 2)
    rows_move_kernel<unsigned short><<<grid, threads, 0, stream>>>((const unsigned short *)a->src, (unsigned short *)a->dst,
                                                                   a->gather, a->heads, a->seq, a->dim, a->sb, a->ss,
                                                                   a->sh, a->perm);
  else if (a->element_bytes == 4)
    rows_move_kernel<float><<<grid, threads, 0, stream>>>((const float *)a->src, (float *)a->dst, a->gather, a->heads,
                                                          a->seq, a->dim, a->sb, a->ss, a->sh, a->perm);
  else
    return cudaErrorInvalidValue;
  return cudaGetLastError();
}
