// k-means steps of clustered attention on the GPU (issue 9): the assignment as one tensor-core
// kernel with the argmin fused, and the stable counting sort by cluster in parallel.
//
// Assignment: per token t of a (b, h) slice, argmin_c |c|^2 - 2 x_t . c (ties to the lower c).
// One block of 4 warps takes 64 tokens and walks the centroids in tiles of 128: the products
// x . c come from mma.sync m16n8k8 on TF32 operands with fp32 accumulation (x, from bf16 / fp16
// inputs, is exact in TF32; the centroids are rounded to nearest, 10-bit mantissas), each
// thread folds its accumulators into a running (score, c) minimum in registers, and only the
// assignment is written: the (S, C) distance matrix never leaves the SM (at S = 32760, C = 1024,
// H = 12 it was a 1.6 GB write and read per iteration). What the GPU and the CPU (exact fp32
// products in order) agree on: see vdit_attn_cuda_cluster_assign in attn_cluster.h.
//
// Sort (stable counting sort, perm lists each cluster's tokens in token order):
//   1. histogram: per chunk of 512 tokens the count of each cluster, hist (BH, C, chunks);
//   2. scan: per slice one block scans hist in (cluster, chunk) order into the first position
//      of each (cluster, chunk) run, and writes count and offsets;
//   3. scatter: per chunk one warp walks its tokens in order, 32 at a time, ranks the equal
//      clusters among the lanes (__match_any_sync) and writes perm.
#include "attn/cuda/attn_cluster.h"

#define ASSIGN_TOKENS 64    // tokens a block
#define ASSIGN_CENTROIDS 128 // centroids a tile
#define ASSIGN_THREADS 128
#define SORT_CHUNK 512
#define SCAN_THREADS 1024

static __device__ __forceinline__ uint32_t to_tf32(float v) {
  uint32_t r;
  asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(v));
  return r;
}

static __device__ __forceinline__ void mma_tf32(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
               "{%0,%1,%2,%3};"
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// (score, c) lexicographic: the smaller score, then the lower c.
static __device__ __forceinline__ bool better(float s, int c, float best, int best_c) {
  return s < best || (s == best && c < best_c);
}

// Grid (ceil(S / 64), BH), 128 threads. Shared: xs [64][ld], cs [128][ld] (TF32 bits, ld = Dp + 4,
// Dp = D rounded up to 8, zero padded), ns [128] norms (+inf past C), red 64 x 2 (score, c).
// Warp w: tokens 32 (w / 2) .. +32 (two m16 tiles), centroids 64 (w % 2) .. +64 of the tile (8 n8
// tiles); the row stride ld = Dp + 4 makes the fragment loads (row g, column t) conflict-free.
static __global__ void __launch_bounds__(ASSIGN_THREADS, 2)
    assign_kernel(const float *__restrict__ x, const float *__restrict__ centroids, const float *__restrict__ norms,
                  int64_t S, int C, int D, int32_t *__restrict__ assign) {
  extern __shared__ uint32_t smem[];
  const int Dp = (D + 7) / 8 * 8, ld = Dp + 4;
  uint32_t *xs = smem, *cs = xs + ASSIGN_TOKENS * ld;
  float *ns = (float *)(cs + ASSIGN_CENTROIDS * ld);
  float *red_s = ns + ASSIGN_CENTROIDS;
  int *red_c = (int *)(red_s + ASSIGN_TOKENS * 2);
  const int64_t bh = blockIdx.y, t0 = (int64_t)blockIdx.x * ASSIGN_TOKENS;
  const float *xb = x + bh * S * D, *cb = centroids + bh * (int64_t)C * D, *nb = norms + bh * (int64_t)C;
  for (int e = threadIdx.x; e < ASSIGN_TOKENS * Dp; e += ASSIGN_THREADS) {
    const int r = e / Dp, d = e % Dp;
    const int64_t t = t0 + r;
    xs[r * ld + d] = (t < S && d < D) ? to_tf32(xb[t * D + d]) : 0u;
  }
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, q = lane % 4;
  const int row0 = (warp / 2) * 32, col0 = (warp % 2) * 64;
  // best[m][h]: rows row0 + 16 m + g + 8 h
  float best[2][2] = {{INFINITY, INFINITY}, {INFINITY, INFINITY}};
  int best_c[2][2] = {{0x7fffffff, 0x7fffffff}, {0x7fffffff, 0x7fffffff}};
  for (int c0 = 0; c0 < C; c0 += ASSIGN_CENTROIDS) {
    __syncthreads(); // the previous tile is consumed
    for (int e = threadIdx.x; e < ASSIGN_CENTROIDS * Dp; e += ASSIGN_THREADS) {
      const int r = e / Dp, d = e % Dp, c = c0 + r;
      cs[r * ld + d] = (c < C && d < D) ? to_tf32(cb[(int64_t)c * D + d]) : 0u;
    }
    for (int r = threadIdx.x; r < ASSIGN_CENTROIDS; r += ASSIGN_THREADS) ns[r] = c0 + r < C ? nb[c0 + r] : INFINITY;
    __syncthreads();
    float acc[2][8][4];
#pragma unroll
    for (int m = 0; m < 2; m++)
#pragma unroll
      for (int n = 0; n < 8; n++)
#pragma unroll
        for (int i = 0; i < 4; i++) acc[m][n][i] = 0.0f;
    for (int k = 0; k < Dp; k += 8) {
      uint32_t a[2][4];
#pragma unroll
      for (int m = 0; m < 2; m++) {
        const uint32_t *xr = xs + (row0 + 16 * m + g) * ld + k + q;
        a[m][0] = xr[0], a[m][1] = xr[8 * ld], a[m][2] = xr[4], a[m][3] = xr[8 * ld + 4];
      }
#pragma unroll
      for (int n = 0; n < 8; n++) {
        const uint32_t *cr = cs + (col0 + 8 * n + g) * ld + k + q;
        const uint32_t b0 = cr[0], b1 = cr[4];
        mma_tf32(acc[0][n], a[0], b0, b1);
        mma_tf32(acc[1][n], a[1], b0, b1);
      }
    }
    // accumulator i of tile (m, n): row 16 m + g + 8 (i / 2), centroid 8 n + 2 q + i % 2; the
    // centroids rise within the thread, so a strict < keeps the lower one of a tie
#pragma unroll
    for (int n = 0; n < 8; n++)
#pragma unroll
      for (int i = 0; i < 4; i++) {
        const int cl = col0 + 8 * n + 2 * q + (i % 2);
        const float nc = ns[cl];
#pragma unroll
        for (int m = 0; m < 2; m++) {
          const float s = __fsub_rn(nc, __fmul_rn(2.0f, acc[m][n][i]));
          if (s < best[m][i / 2]) best[m][i / 2] = s, best_c[m][i / 2] = c0 + cl;
        }
      }
  }
  // the 4 lanes of a row, then the 2 warps of a row
#pragma unroll
  for (int m = 0; m < 2; m++)
#pragma unroll
    for (int h = 0; h < 2; h++) {
      float s = best[m][h];
      int c = best_c[m][h];
      for (int o = 1; o < 4; o *= 2) {
        const float so = __shfl_xor_sync(0xffffffffu, s, o);
        const int co = __shfl_xor_sync(0xffffffffu, c, o);
        if (better(so, co, s, c)) s = so, c = co;
      }
      if (q == 0) {
        const int r = row0 + 16 * m + g + 8 * h;
        red_s[r * 2 + warp % 2] = s;
        red_c[r * 2 + warp % 2] = c;
      }
    }
  __syncthreads();
  for (int r = threadIdx.x; r < ASSIGN_TOKENS; r += ASSIGN_THREADS) {
    const int64_t t = t0 + r;
    if (t >= S) continue;
    float s = red_s[r * 2];
    int c = red_c[r * 2];
    if (better(red_s[r * 2 + 1], red_c[r * 2 + 1], s, c)) s = red_s[r * 2 + 1], c = red_c[r * 2 + 1];
    assign[bh * S + t] = c == 0x7fffffff ? 0 : c; // every score NaN: cluster 0, as the CPU
  }
}

static size_t assign_shared_bytes(int D) {
  const int Dp = (D + 7) / 8 * 8, ld = Dp + 4;
  return (size_t)(ASSIGN_TOKENS + ASSIGN_CENTROIDS) * ld * 4 + ASSIGN_CENTROIDS * 4 + ASSIGN_TOKENS * 2 * 8;
}

extern "C" cudaError_t vdit_attn_cuda_cluster_assign(const vdit_attn_cuda_cluster_args *a, const float *x, int64_t S,
                                                     int C, const float *centroids, int32_t *assign, cudaStream_t stream) {
  if (a->bh == 0 || S == 0) return cudaSuccess;
  if (a->dim < 1 || a->dim > 128 || C < 1 || a->bh > 65535) return cudaErrorInvalidValue;
  const size_t shared = assign_shared_bytes((int)a->dim);
  cudaError_t e = cudaFuncSetAttribute(assign_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)shared);
  if (e != cudaSuccess) return e;
  const dim3 grid((unsigned)((S + ASSIGN_TOKENS - 1) / ASSIGN_TOKENS), (unsigned)a->bh);
  assign_kernel<<<grid, ASSIGN_THREADS, shared, stream>>>(x, centroids, a->norms, S, C, (int)a->dim, assign);
  return cudaGetLastError();
}

// ---------------------------------------------------------------- stable counting sort
static __host__ __device__ int64_t sort_chunks(int64_t S) { return (S + SORT_CHUNK - 1) / SORT_CHUNK; }

extern "C" size_t vdit_attn_cuda_cluster_sort_ints(int64_t bh, int64_t S, int C) {
  return (size_t)(bh * (int64_t)C * sort_chunks(S));
}

// Grid (chunks, BH), SORT_CHUNK threads; shared: C ints. hist[(bh C + c) chunks + chunk].
static __global__ void __launch_bounds__(SORT_CHUNK) sort_hist_kernel(const int32_t *__restrict__ assign, int64_t S, int C,
                                                                     int32_t *__restrict__ hist) {
  extern __shared__ int32_t h[];
  const int64_t bh = blockIdx.y, chunks = gridDim.x, t = (int64_t)blockIdx.x * SORT_CHUNK + threadIdx.x;
  for (int c = threadIdx.x; c < C; c += SORT_CHUNK) h[c] = 0;
  __syncthreads();
  if (t < S) atomicAdd(&h[assign[bh * S + t]], 1);
  __syncthreads();
  for (int c = threadIdx.x; c < C; c += SORT_CHUNK) hist[(bh * C + c) * chunks + blockIdx.x] = h[c];
}

// Grid BH, SCAN_THREADS threads: exclusive scan of hist (C x chunks values, cluster-major) in
// place; count and offsets (C + 1) of the slice. Thread i scans a contiguous run of the values.
static __global__ void __launch_bounds__(SCAN_THREADS) sort_scan_kernel(int32_t *__restrict__ hist, int C, int64_t chunks,
                                                                       int32_t *__restrict__ count,
                                                                       int32_t *__restrict__ offsets) {
  __shared__ int32_t part[SCAN_THREADS];
  const int64_t bh = blockIdx.x, n = (int64_t)C * chunks, per = (n + SCAN_THREADS - 1) / SCAN_THREADS;
  int32_t *v = hist + bh * n;
  const int64_t begin = threadIdx.x * per < n ? threadIdx.x * per : n, end = begin + per < n ? begin + per : n;
  int32_t sum = 0;
  for (int64_t i = begin; i < end; i++) sum += v[i];
  part[threadIdx.x] = sum;
  __syncthreads();
  for (int o = 1; o < SCAN_THREADS; o *= 2) { // Hillis-Steele inclusive scan of the parts
    const int32_t add = threadIdx.x >= (unsigned)o ? part[threadIdx.x - o] : 0;
    __syncthreads();
    part[threadIdx.x] += add;
    __syncthreads();
  }
  int32_t running = threadIdx.x ? part[threadIdx.x - 1] : 0;
  for (int64_t i = begin; i < end; i++) {
    const int32_t value = v[i];
    v[i] = running;
    running += value;
  }
  __syncthreads();
  const int32_t total = part[SCAN_THREADS - 1];
  for (int c = threadIdx.x; c < C; c += SCAN_THREADS) {
    const int32_t first = v[(int64_t)c * chunks];
    const int32_t next = c + 1 < C ? v[(int64_t)(c + 1) * chunks] : total;
    offsets[bh * (C + 1) + c] = first;
    count[bh * C + c] = next - first;
  }
  if (threadIdx.x == 0) offsets[bh * (C + 1) + C] = total;
}

// Grid (chunks, BH), 32 threads; shared: C ints (the chunk's next position of each cluster,
// read only for the clusters the chunk holds).
static __global__ void __launch_bounds__(32) sort_scatter_kernel(const int32_t *__restrict__ assign, int64_t S, int C,
                                                                const int32_t *__restrict__ hist,
                                                                int32_t *__restrict__ perm) {
  extern __shared__ int32_t cursor[];
  const int64_t bh = blockIdx.y, chunks = gridDim.x, begin = (int64_t)blockIdx.x * SORT_CHUNK;
  const int lane = threadIdx.x;
  const int32_t *a = assign + bh * S;
  for (int c = lane; c < C; c += 32) cursor[c] = hist[(bh * C + c) * chunks + blockIdx.x];
  __syncwarp();
  for (int64_t base = begin; base < begin + SORT_CHUNK && base < S; base += 32) {
    const int64_t t = base + lane;
    const int c = t < S ? a[t] : -1;
    const unsigned peers = __match_any_sync(0xffffffffu, c);
    const int rank = __popc(peers & ((1u << lane) - 1u));
    if (c >= 0) perm[bh * S + cursor[c] + rank] = (int32_t)t;
    __syncwarp();
    if (c >= 0 && lane == __ffs(peers) - 1) cursor[c] += __popc(peers);
    __syncwarp();
  }
}

extern "C" cudaError_t vdit_attn_cuda_cluster_sort(const int32_t *assign, int64_t bh, int64_t S, int C, int32_t *work,
                                                   int32_t *count, int32_t *offsets, int32_t *perm, cudaStream_t stream) {
  if (bh == 0) return cudaSuccess;
  if (bh > 65535 || C < 1 || (size_t)C * 4 > 48 * 1024 || (int64_t)C * sort_chunks(S) > 0x7fffffff)
    return cudaErrorInvalidValue;
  const int64_t chunks = sort_chunks(S);
  if (chunks == 0) { // no token: every count 0
    cudaError_t e = cudaMemsetAsync(count, 0, (size_t)(bh * C) * 4, stream);
    return e == cudaSuccess ? cudaMemsetAsync(offsets, 0, (size_t)(bh * (C + 1)) * 4, stream) : e;
  }
  const dim3 grid((unsigned)chunks, (unsigned)bh);
  const size_t shared = (size_t)C * 4;
  sort_hist_kernel<<<grid, SORT_CHUNK, shared, stream>>>(assign, S, C, work);
  sort_scan_kernel<<<(unsigned)bh, SCAN_THREADS, 0, stream>>>(work, C, chunks, count, offsets);
  sort_scatter_kernel<<<grid, 32, shared, stream>>>(assign, S, C, work, perm);
  return cudaGetLastError();
}
