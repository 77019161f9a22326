// k-means steps of clustered attention on the GPU (issue 9): the assignment as one tensor-core
// kernel with the argmin fused, and the stable counting sort by cluster in parallel.
//
// Assignment: per token t of a (b, h) slice, argmin_c |c|^2 - 2 x_t . c (ties to the lower c).
// A first kernel writes the centroids as TF32 (rounded to nearest, 10-bit mantissas) into
// zero-padded (Cpad, 64 or 128) tiles; then one block of 8 warps takes 128 tokens and walks the
// centroid tiles of 128 (cp.async, double-buffered): the products x . c come from mma.sync
// m16n8k8 on TF32 operands with fp32 accumulation (x, from bf16 / fp16 inputs, is exact in
// TF32), each thread folds its accumulators into a running (score, c) minimum in registers, and only the
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

#define ASSIGN_TOKENS 128    // tokens a block
#define ASSIGN_CENTROIDS 128 // centroids a tile
#define ASSIGN_THREADS 256
#define SORT_CHUNK 512
#define SCAN_THREADS 1024

static __device__ __forceinline__ uint32_t to_tf32(float v) {
  uint32_t r;
  asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(v));
  return r;
}

static __device__ __forceinline__ void mma_tf32(float (&d)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3,
                                                uint32_t b0, uint32_t b1) {
  asm("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
               "{%0,%1,%2,%3};"
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
               : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

static __device__ __forceinline__ void cp_async16(void *shared, const void *global) {
  const unsigned dst = (unsigned)__cvta_generic_to_shared(shared);
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(dst), "l"(global));
}

// (score, c) lexicographic: the smaller score, then the lower c.
static __device__ __forceinline__ bool better(float s, int c, float best, int best_c) {
  return s < best || (s == best && c < best_c);
}

static __host__ __device__ int assign_dp(int64_t D) { return D <= 64 ? 64 : 128; }
static __host__ __device__ int64_t assign_cpad(int C) { return ((int64_t)C + ASSIGN_CENTROIDS - 1) / ASSIGN_CENTROIDS * ASSIGN_CENTROIDS; }

extern "C" size_t vdit_attn_cuda_cluster_assign_floats(int64_t bh, int C) {
  return (size_t)(bh * assign_cpad(C) * (128 + 1));
}

// The centroids as TF32 (rounded to nearest) in (BH, Cpad, DP), zero past C and D, and the
// norms in (BH, Cpad), +inf past C: tiles the assignment copies without conversions or checks.
static __global__ void assign_prepare_kernel(const float *__restrict__ centroids, const float *__restrict__ norms, int C,
                                             int64_t D, int DP, int64_t Cpad, uint32_t *__restrict__ ct,
                                             float *__restrict__ np) {
  const int64_t bh = blockIdx.y, c = blockIdx.x;
  const float *row = centroids + (bh * C + c) * D;
  uint32_t *out = ct + (bh * Cpad + c) * DP;
  for (int d = threadIdx.x; d < DP; d += blockDim.x) out[d] = (c < C && d < D) ? to_tf32(row[d]) : 0u;
  if (threadIdx.x == 0) np[bh * Cpad + c] = c < C ? norms[bh * C + c] : INFINITY;
}

// Centroid tile i (128 rows of DP TF32 words from ct) into buffer i % 2 of cs (rows ld = DP + 16
// apart) as 16-byte cp.async chunks, one commit group.
template <int DP>
static __device__ __forceinline__ void load_tile(uint32_t *cs, const uint32_t *cb, int i) {
  constexpr int ld = DP + 16;
  uint32_t *dst = cs + (i % 2) * ASSIGN_CENTROIDS * ld;
  const uint32_t *src = cb + (int64_t)i * ASSIGN_CENTROIDS * DP;
  for (int e = threadIdx.x; e < ASSIGN_CENTROIDS * DP / 4; e += ASSIGN_THREADS) {
    const int r = e / (DP / 4), k = 4 * (e % (DP / 4));
    cp_async16(dst + r * ld + k, src + (int64_t)r * DP + k);
  }
  asm volatile("cp.async.commit_group;");
}

// Grid (ceil(S / 128), BH), 256 threads, one block an SM. Shared: xs [128][ld] (the tokens as
// TF32 bits), cs [2][128][ld] (centroid tiles, cp.async double buffer), red 128 x 2 (score, c);
// ld = DP + 16 words, so the 16-byte fragment loads below are conflict-free. Warp w: tokens
// 32 (w / 2) .. +32 (two m16 tiles), centroids 64 (w % 2) .. +64 of the tile (eight n8 tiles).
// The k index of the mma is mapped onto the head dim in groups of 16 columns: thread (g, q)
// loads columns 4q .. 4q + 3 of its rows as one float4 and feeds 4q, 4q + 1 to the first k8
// step and 4q + 2, 4q + 3 to the second (A and B use the same map, so the sum over d is the
// same sum in another order).
template <int DP>
static __global__ void __launch_bounds__(ASSIGN_THREADS, 1)
    assign_kernel(const float *__restrict__ x, const uint32_t *__restrict__ ct, const float *__restrict__ np, int64_t S,
                  int C, int D, int64_t Cpad, int32_t *__restrict__ assign) {
  constexpr int ld = DP + 16;
  extern __shared__ __align__(16) uint32_t smem[];
  uint32_t *xs = smem, *cs = xs + ASSIGN_TOKENS * ld;
  float *red_s = (float *)(cs + 2 * ASSIGN_CENTROIDS * ld);
  int *red_c = (int *)(red_s + ASSIGN_TOKENS * 2);
  const int64_t bh = blockIdx.y, t0 = (int64_t)blockIdx.x * ASSIGN_TOKENS;
  const uint32_t *cb = ct + bh * Cpad * DP;
  const float *nb = np + bh * Cpad;
  const int tiles = (int)(Cpad / ASSIGN_CENTROIDS);
  load_tile<DP>(cs, cb, 0);
  const float *xb = x + bh * S * D;
  if (D % 4 == 0) {
    for (int e = threadIdx.x; e < ASSIGN_TOKENS * DP / 4; e += ASSIGN_THREADS) {
      const int r = e / (DP / 4), k = 4 * (e % (DP / 4));
      const int64_t t = t0 + r;
      uint4 v = make_uint4(0u, 0u, 0u, 0u);
      if (t < S && k < D) {
        const float4 f = *(const float4 *)(xb + t * D + k);
        v = make_uint4(to_tf32(f.x), to_tf32(f.y), to_tf32(f.z), to_tf32(f.w));
      }
      *(uint4 *)(xs + r * ld + k) = v;
    }
  } else {
    for (int e = threadIdx.x; e < ASSIGN_TOKENS * DP; e += ASSIGN_THREADS) {
      const int r = e / DP, k = e % DP;
      const int64_t t = t0 + r;
      xs[r * ld + k] = (t < S && k < D) ? to_tf32(xb[t * D + k]) : 0u;
    }
  }
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, q = lane % 4;
  const int row0 = (warp / 2) * 32, col0 = (warp % 2) * 64;
  // best[m][h]: rows row0 + 16 m + g + 8 h
  float best[2][2] = {{INFINITY, INFINITY}, {INFINITY, INFINITY}};
  int best_c[2][2] = {{0x7fffffff, 0x7fffffff}, {0x7fffffff, 0x7fffffff}};
  for (int i = 0; i < tiles; i++) {
    if (i + 1 < tiles) {
      load_tile<DP>(cs, cb, i + 1);
      asm volatile("cp.async.wait_group 1;");
    } else {
      asm volatile("cp.async.wait_group 0;");
    }
    __syncthreads(); // tile i (and, the first time, xs) visible to every warp
    const uint32_t *ctile = cs + (i % 2) * ASSIGN_CENTROIDS * ld;
    float acc[2][8][4];
#pragma unroll
    for (int m = 0; m < 2; m++)
#pragma unroll
      for (int n = 0; n < 8; n++)
#pragma unroll
        for (int j = 0; j < 4; j++) acc[m][n][j] = 0.0f;
#pragma unroll 2
    for (int k = 0; k < DP; k += 16) {
      uint4 a[2][2]; // [m][row g, row g + 8]
#pragma unroll
      for (int m = 0; m < 2; m++) {
        a[m][0] = *(const uint4 *)(xs + (row0 + 16 * m + g) * ld + k + 4 * q);
        a[m][1] = *(const uint4 *)(xs + (row0 + 16 * m + g + 8) * ld + k + 4 * q);
      }
#pragma unroll
      for (int n = 0; n < 8; n++) {
        const uint4 b = *(const uint4 *)(ctile + (col0 + 8 * n + g) * ld + k + 4 * q);
#pragma unroll
        for (int m = 0; m < 2; m++) {
          mma_tf32(acc[m][n], a[m][0].x, a[m][1].x, a[m][0].y, a[m][1].y, b.x, b.y);
          mma_tf32(acc[m][n], a[m][0].z, a[m][1].z, a[m][0].w, a[m][1].w, b.z, b.w);
        }
      }
    }
    // accumulator j of tile (m, n): row 16 m + g + 8 (j / 2), centroid 8 n + 2 q + j % 2; the
    // centroids rise within the thread, so a strict < keeps the lower one of a tie
    const int c0 = i * ASSIGN_CENTROIDS;
#pragma unroll
    for (int n = 0; n < 8; n++)
#pragma unroll
      for (int j = 0; j < 4; j++) {
        const int c = c0 + col0 + 8 * n + 2 * q + (j % 2);
        const float nc = __ldg(nb + c);
#pragma unroll
        for (int m = 0; m < 2; m++) {
          const float sc = __fsub_rn(nc, __fmul_rn(2.0f, acc[m][n][j]));
          if (sc < best[m][j / 2]) best[m][j / 2] = sc, best_c[m][j / 2] = c;
        }
      }
    __syncthreads(); // buffer i % 2 is refilled by the next iteration's load
  }
  // the 4 lanes of a row, then the 2 warps of a row
#pragma unroll
  for (int m = 0; m < 2; m++)
#pragma unroll
    for (int h = 0; h < 2; h++) {
      float sc = best[m][h];
      int c = best_c[m][h];
      for (int o = 1; o < 4; o *= 2) {
        const float so = __shfl_xor_sync(0xffffffffu, sc, o);
        const int co = __shfl_xor_sync(0xffffffffu, c, o);
        if (better(so, co, sc, c)) sc = so, c = co;
      }
      if (q == 0) {
        const int r = row0 + 16 * m + g + 8 * h;
        red_s[r * 2 + warp % 2] = sc;
        red_c[r * 2 + warp % 2] = c;
      }
    }
  __syncthreads();
  for (int r = threadIdx.x; r < ASSIGN_TOKENS; r += ASSIGN_THREADS) {
    const int64_t t = t0 + r;
    if (t >= S) continue;
    float sc = red_s[r * 2];
    int c = red_c[r * 2];
    if (better(red_s[r * 2 + 1], red_c[r * 2 + 1], sc, c)) sc = red_s[r * 2 + 1], c = red_c[r * 2 + 1];
    assign[bh * S + t] = (c == 0x7fffffff || c >= C) ? 0 : c; // every score NaN: cluster 0, as the CPU
  }
}

static size_t assign_shared_bytes(int DP) {
  return (size_t)(ASSIGN_TOKENS + 2 * ASSIGN_CENTROIDS) * (DP + 16) * 4 + ASSIGN_TOKENS * 2 * 8;
}

extern "C" cudaError_t vdit_attn_cuda_cluster_assign(const vdit_attn_cuda_cluster_args *a, const float *x, int64_t S,
                                                     int C, const float *centroids, int32_t *assign, cudaStream_t stream) {
  if (a->bh == 0 || S == 0) return cudaSuccess;
  if (a->dim < 1 || a->dim > 128 || C < 1 || a->bh > 65535 || !a->assign_work) return cudaErrorInvalidValue;
  const int DP = assign_dp(a->dim);
  const int64_t Cpad = assign_cpad(C);
  uint32_t *ct = (uint32_t *)a->assign_work;
  float *np = a->assign_work + a->bh * Cpad * DP;
  assign_prepare_kernel<<<dim3((unsigned)Cpad, (unsigned)a->bh), 128, 0, stream>>>(centroids, a->norms, C, a->dim, DP,
                                                                                   Cpad, ct, np);
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) return e;
  const size_t shared = assign_shared_bytes(DP);
  const dim3 grid((unsigned)((S + ASSIGN_TOKENS - 1) / ASSIGN_TOKENS), (unsigned)a->bh);
  if (DP == 64) {
    if ((e = cudaFuncSetAttribute(assign_kernel<64>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)shared)) != cudaSuccess)
      return e;
    assign_kernel<64><<<grid, ASSIGN_THREADS, shared, stream>>>(x, ct, np, S, C, (int)a->dim, Cpad, assign);
  } else {
    if ((e = cudaFuncSetAttribute(assign_kernel<128>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)shared)) != cudaSuccess)
      return e;
    assign_kernel<128><<<grid, ASSIGN_THREADS, shared, stream>>>(x, ct, np, S, C, (int)a->dim, Cpad, assign);
  }
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
