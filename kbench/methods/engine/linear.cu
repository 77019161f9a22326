// linear (engine, CUDA): y (M, N) = x (M, K) W (N, K)^T + b, shared-memory tiled SIMT GEMM:
// 64 x 64 output tiles, 16-deep K slices, 256 threads of 4 x 4 outputs each.
#include "kb.h"

#define BM 64
#define BN 64
#define BK 16

KB_EXTERN_C __global__ void kb_plan(kb_args a, kb_launch *l) {
  l->stages = 1;
  l->grid[0][0] = (kb_u32)((a.n[1] + BN - 1) / BN), l->grid[0][1] = (kb_u32)((a.n[0] + BM - 1) / BM), l->grid[0][2] = 1;
  l->block[0][0] = 256, l->block[0][1] = 1, l->block[0][2] = 1;
  l->shared_bytes[0] = 0;
}

KB_EXTERN_C __global__ void __launch_bounds__(256) kb_stage0(kb_args a) {
  __shared__ float xs[BK][BM + 4], ws[BK][BN + 4];
  kb_i64 M = a.n[0], N = a.n[1], K = a.n[2];
  kb_i64 m0 = (kb_i64)blockIdx.y * BM, n0 = (kb_i64)blockIdx.x * BN;
  const float *x = (const float *)a.in[0], *w = (const float *)a.in[1], *bias = (const float *)a.in[2];
  int tid = threadIdx.x, ty = tid / 16, tx = tid % 16;
  float acc[4][4];
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 4; j++) acc[i][j] = 0.0f;
  for (kb_i64 k0 = 0; k0 < K; k0 += BK) {
    for (int e = tid; e < BM * BK; e += 256) {
      int r = e / BK, k = e % BK;
      kb_i64 gm = m0 + r, gn = n0 + r, gk = k0 + k;
      xs[k][r] = gm < M && gk < K ? x[gm * K + gk] : 0.0f;
      ws[k][r] = gn < N && gk < K ? w[gn * K + gk] : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int k = 0; k < BK; k++) {
      float av[4], bv[4];
      for (int i = 0; i < 4; i++) av[i] = xs[k][ty * 4 + i], bv[i] = ws[k][tx * 4 + i];
      for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) acc[i][j] += av[i] * bv[j];
    }
    __syncthreads();
  }
  for (int i = 0; i < 4; i++) {
    kb_i64 m = m0 + ty * 4 + i;
    if (m >= M) continue;
    for (int j = 0; j < 4; j++) {
      kb_i64 n = n0 + tx * 4 + j;
      if (n < N) ((float *)a.out[0])[m * N + n] = acc[i][j] + bias[n];
    }
  }
}
