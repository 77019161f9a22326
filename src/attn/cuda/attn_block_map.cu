// Block maps on the GPU: compressed rows <-> a byte bitmap, the exclusive scan of row counts
// into offsets, and the transpose (key block -> query blocks) the backward walks. Used by the
// plan (vdit_attn_block_map_transpose) and by sparge's mask prediction (sparge_mask.cu).
// Bitmap layout: byte (pair * rows + row) * cols + col, pair = b * H + h.
#include "attn/cuda/attn_block_map.cuh"

// One block per row: clear its bitmap row, then set the listed columns.
static __global__ void map_to_bitmap_kernel(const int32_t *__restrict__ offsets, const int32_t *__restrict__ index, int cols,
                                            unsigned char *__restrict__ bitmap) {
  const int64_t r = blockIdx.x;
  unsigned char *row = bitmap + r * cols;
  for (int c = threadIdx.x; c < cols; c += blockDim.x) row[c] = 0;
  __syncthreads();
  for (int e = offsets[r] + threadIdx.x; e < offsets[r + 1]; e += blockDim.x) row[index[e]] = 1;
}

// counts of the rows of the (possibly transposed) bitmap, into offsets[r + 1]
static __global__ void bitmap_counts_kernel(const unsigned char *__restrict__ bitmap, int BH, int rows, int cols,
                                            int transposed, int32_t *__restrict__ offsets) {
  const int64_t r = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (r >= (int64_t)BH * rows) return;
  const int64_t pair = r / rows, row = r % rows;
  int n = 0;
  for (int c = 0; c < cols; c++)
    n += transposed ? bitmap[(pair * cols + c) * rows + row] : bitmap[r * cols + c];
  offsets[r + 1] = n;
  if (r == 0) offsets[0] = 0;
}

// Exclusive scan in place: offsets[1..n] hold counts on entry, offsets[0..n] offsets on exit.
// One block of 1024 threads, each scanning a contiguous chunk.
static __global__ void __launch_bounds__(1024) scan_kernel(int32_t *offsets, int64_t n) {
  __shared__ int32_t partial[1024];
  const int64_t chunk = (n + 1023) / 1024;
  const int64_t lo = 1 + threadIdx.x * chunk, hi = min(lo + chunk, n + 1);
  int32_t sum = 0;
  for (int64_t i = lo; i < hi; i++) sum += offsets[i];
  partial[threadIdx.x] = sum;
  __syncthreads();
  for (int off = 1; off < 1024; off <<= 1) {
    const int32_t add = threadIdx.x >= (unsigned)off ? partial[threadIdx.x - off] : 0;
    __syncthreads();
    partial[threadIdx.x] += add;
    __syncthreads();
  }
  int32_t run = threadIdx.x ? partial[threadIdx.x - 1] : 0;
  for (int64_t i = lo; i < hi; i++) {
    run += offsets[i];
    offsets[i] = run;
  }
  if (threadIdx.x == 0) offsets[0] = 0;
}

// One warp per row: 32 columns at a time, compacted in ascending order by a ballot.
static __global__ void bitmap_fill_kernel(const unsigned char *__restrict__ bitmap, int BH, int rows, int cols,
                                          int transposed, const int32_t *__restrict__ offsets, int32_t *__restrict__ index) {
  const int64_t r = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
  const int lane = threadIdx.x & 31;
  if (r >= (int64_t)BH * rows) return; // whole warps leave together
  const int64_t pair = r / rows, row = r % rows;
  int32_t e = offsets[r];
  for (int c0 = 0; c0 < cols; c0 += 32) {
    const int c = c0 + lane;
    const int bit = c < cols && (transposed ? bitmap[(pair * cols + c) * rows + row] : bitmap[r * cols + c]);
    const unsigned set = __ballot_sync(0xffffffffu, bit);
    if (bit) index[e + __popc(set & ((1u << lane) - 1u))] = c;
    e += __popc(set);
  }
}

cudaError_t vdit_attn_cuda_bitmap_to_map(const unsigned char *bitmap, const vdit_attn_cuda_map *m, int transposed, int counts_ready,
                               cudaStream_t stream) {
  const int64_t n = (int64_t)m->BH * m->rows;
  const unsigned grid = (unsigned)((n + 255) / 256);
  if (n == 0) return cudaSuccess;
  if (!counts_ready) bitmap_counts_kernel<<<grid, 256, 0, stream>>>(bitmap, m->BH, m->rows, m->cols, transposed, m->offsets);
  scan_kernel<<<1, 1024, 0, stream>>>(m->offsets, n);
  bitmap_fill_kernel<<<(unsigned)((n + 7) / 8), 256, 0, stream>>>(bitmap, m->BH, m->rows, m->cols, transposed, m->offsets, m->index);
  return cudaGetLastError();
}

extern "C" cudaError_t vdit_attn_cuda_map_transpose(const vdit_attn_cuda_map *m, const vdit_attn_cuda_map *t,
                                                    unsigned char *bitmap, cudaStream_t stream) {
  const int64_t n = (int64_t)m->BH * m->rows;
  if (n == 0) return cudaSuccess;
  map_to_bitmap_kernel<<<(unsigned)n, 128, 0, stream>>>(m->offsets, m->index, m->cols, bitmap);
  // t's rows are m's columns: read the bitmap transposed
  return vdit_attn_cuda_bitmap_to_map(bitmap, t, 1, 0, stream);
}
