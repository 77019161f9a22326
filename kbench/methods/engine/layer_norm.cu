// layer_norm (engine, CUDA): a block per row; mean, then the centred variance (two passes
// over the row, which stays in L1/L2), affine.
#define ROWS a.n[0]
#include "kb.h"

// Block-wide sum and max over 256 threads (8 warps): shuffles, then one warp over the partials.
static __device__ __attribute__((unused)) float kb_block_sum(float v, float *shared) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  if ((threadIdx.x & 31) == 0) shared[threadIdx.x >> 5] = v;
  __syncthreads();
  v = threadIdx.x < (blockDim.x >> 5) ? shared[threadIdx.x] : 0.0f;
  if (threadIdx.x < 32)
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  if (threadIdx.x == 0) shared[0] = v;
  __syncthreads();
  v = shared[0];
  __syncthreads();
  return v;
}
static __device__ __attribute__((unused)) float kb_block_max(float v, float *shared) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  if ((threadIdx.x & 31) == 0) shared[threadIdx.x >> 5] = v;
  __syncthreads();
  v = threadIdx.x < (blockDim.x >> 5) ? shared[threadIdx.x] : -KB_INF;
  if (threadIdx.x < 32)
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  if (threadIdx.x == 0) shared[0] = v;
  __syncthreads();
  v = shared[0];
  __syncthreads();
  return v;
}

// One block of 256 threads per row.
KB_EXTERN_C __global__ void kb_plan(kb_args a, kb_launch *l) {
  l->stages = 1;
  l->grid[0][0] = (kb_u32)ROWS, l->grid[0][1] = 1, l->grid[0][2] = 1;
  l->block[0][0] = 256, l->block[0][1] = 1, l->block[0][2] = 1;
  l->shared_bytes[0] = 0;
}

KB_EXTERN_C __global__ void kb_stage0(kb_args a) {
  __shared__ float shared[32];
  kb_i64 cols = a.n[1], r = blockIdx.x;
  const float *x = (const float *)a.in[0] + r * cols, *w = (const float *)a.in[1], *b = (const float *)a.in[2];
  float *y = (float *)a.out[0] + r * cols;
  float s = 0.0f;
  for (kb_i64 c = threadIdx.x; c < cols; c += blockDim.x) s += x[c];
  float mean = kb_block_sum(s, shared) / (float)cols;
  float v = 0.0f;
  for (kb_i64 c = threadIdx.x; c < cols; c += blockDim.x) v += (x[c] - mean) * (x[c] - mean);
  float rstd = rsqrtf(kb_block_sum(v, shared) / (float)cols + a.f[0]);
  for (kb_i64 c = threadIdx.x; c < cols; c += blockDim.x) y[c] = (x[c] - mean) * rstd * w[c] + b[c];
}
