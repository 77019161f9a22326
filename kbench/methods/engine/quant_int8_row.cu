// quant_int8_row (engine, CUDA): a block per row; amax over the bits of |x| (order-free),
// then every thread quantizes its elements with the contract's exact divisions.
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
  __shared__ kb_u32 amax;
  kb_i64 cols = a.n[1], r = blockIdx.x;
  const float *x = (const float *)a.in[0] + r * cols;
  if (threadIdx.x == 0) amax = 0;
  __syncthreads();
  kb_u32 mine = 0;
  for (kb_i64 c = threadIdx.x; c < cols; c += blockDim.x) mine = max(mine, kb_bits(x[c]) & 0x7fffffffu);
  for (int o = 16; o > 0; o >>= 1) mine = max(mine, __shfl_xor_sync(0xffffffffu, mine, o));
  if ((threadIdx.x & 31) == 0) atomicMax(&amax, mine);
  __syncthreads();
  float scale = KB_FDIV(kb_float(amax), 127.0f);
  if (threadIdx.x == 0) ((float *)a.out[1])[r] = scale;
  kb_i8 *q = (kb_i8 *)a.out[0] + r * cols;
  for (kb_i64 c = threadIdx.x; c < cols; c += blockDim.x)
    q[c] = scale > 0.0f ? (kb_i8)kb_round_clamp(KB_FDIV(x[c], scale), -127.0f, 127.0f) : 0;
}
