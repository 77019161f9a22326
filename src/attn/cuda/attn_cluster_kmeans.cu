// k-means steps of clustered attention on the GPU (issue 9): the assignment as one tensor-core
// kernel with the argmin fused, and the stable counting sort by cluster in parallel.
//
// Assignment: per token t of a (b, h) slice, argmin_c |c|^2 - 2 x_t . c (ties to the lower c).
// x is the bf16 / fp16 input itself (read through its strides, no fp32 copy since round 16), exact
// in that type; a first kernel splits each
// centroid into hi = rn16(c) and lo = rn16(c - hi) (16 significant bits of c for bf16, 22 for
// fp16) in zero-padded (Cpad, 2 DP) rows with the norms (+inf past C); then a block takes its
// tokens (as 16-bit values in shared memory or registers) and walks the centroid tiles of 64 rows
// (cp.async, multi-buffered): x . c = x . hi + x . lo with fp32 accumulation, each thread folds its
// accumulators into a running (score, c) minimum in registers, and only the assignment is
// written: the (S, C) distance matrix never leaves the SM (at S = 32760, C = 1024, H = 12 it was
// a 1.6 GB write and read per iteration). The kernel (r16_kernel, since round 16): wgmma
// m64n64k16, the tokens as A in registers, the centroids from 128-byte-swizzled shared tiles, four
// warpgroups of 64 tokens, one block an SM.
// H200, Q and K assignments of one warm iteration (S = 32760, Cq = 256, Ck = 1024, 12 heads, 129
// GFLOP of x . c, 258 executed with hi and lo), the step's time with norms and splits: r16 0.648 /
// 0.651 ms, the previous default (wgmma with both operands from shared tiles, two warpgroups of 64
// tokens, two blocks an SM) 0.703 / 0.709 ms, the same call each (round 16; deleted); r16 with the
// argmin overlapped with the next tile's wgmma (two accumulators, wait_group 1, three warpgroups
// for the registers) 0.664 ms (deleted). ncu on that one's key call: tensor pipe 47%, issue slots
// 48%, 0.93 eligible warps a scheduler: latency-bound, neither the tensor cores nor the issue
// saturated. Deleted in round 17 (lab switches until then): mma.sync m16n8k16 with ldmatrix
// fragments, 8 warps of 32 x 32, two blocks an SM (VDIT_CLUSTER_ASSIGN=mma: 1.67 ms for two
// iterations in round 12 against wgmma's 1.41), and the first kernel, TF32 mma.sync m16n8k8 on
// centroids rounded to TF32 (VDIT_CLUSTER_ASSIGN=tf32: 2.97 ms). What the GPU and the CPU (exact
// fp32 products in order) agree on: see vdit_attn_cuda_cluster_assign in attn_cluster.h.
//
// Sort (stable counting sort, perm lists each cluster's tokens in token order):
//   1. histogram: per chunk of 512 tokens the count of each cluster, hist (BH, chunks, C);
//   2. scans: one thread per (slice, cluster) scans its column of hist over the chunks (a warp's
//      loads coalesced) into each chunk's position within the cluster, and writes count; one
//      block per slice scans the counts into offsets;
//   3. scatter: per chunk one warp walks its tokens in order, 32 at a time, ranks the equal
//      clusters among the lanes (__match_any_sync) and writes perm at offset + position + rank.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "attn/cuda/attn_cluster.h"
#include "attn/cuda/attn_cluster_async.cuh"
#include "attn/cuda/attn_wgmma.cuh"

#define SORT_CHUNK 512
#define SCAN_THREADS 1024

// (score, c) lexicographic: the smaller score, then the lower c.
static __device__ __forceinline__ bool better(float s, int c, float best, int best_c) {
  return s < best || (s == best && c < best_c);
}

static __host__ __device__ int assign_dp(int64_t D) { return D <= 64 ? 64 : 128; }

// ---------------------------------------------------------------- 16-bit assignment
#define A16_CENTROIDS 64 // centroids a tile

static __host__ __device__ int64_t a16_cpad(int C) { return ((int64_t)C + A16_CENTROIDS - 1) / A16_CENTROIDS * A16_CENTROIDS; }

// 16-bit conversions: rn of an fp32 value, and back.
template <int F16> static __device__ __forceinline__ unsigned short to16(float v) {
  if (F16) return __half_as_ushort(__float2half_rn(v));
  return __bfloat16_as_ushort(__float2bfloat16_rn(v));
}
template <int F16> static __device__ __forceinline__ float from16(unsigned short v) {
  if (F16) return __half2float(__ushort_as_half(v));
  return __bfloat162float(__ushort_as_bfloat16(v));
}

// Centroid c as (Cpad, 2 DP) 16-bit rows: hi = rn(c) in [0, DP), lo = rn(c - hi) in [DP, 2 DP)
// (c - hi is exact in fp32), zero past C and D; norms (Cpad), +inf past C.
template <int F16>
static __global__ void a16_prepare_kernel(const float *__restrict__ centroids, const float *__restrict__ norms, int C,
                                          int64_t D, int DP, int64_t Cpad, unsigned short *__restrict__ ct,
                                          float *__restrict__ np) {
  const int64_t bh = blockIdx.y, c = blockIdx.x;
  const float *row = centroids + (bh * C + c) * D;
  unsigned short *out = ct + (bh * Cpad + c) * 2 * DP;
  for (int d = threadIdx.x; d < DP; d += blockDim.x) {
    const float v = (c < C && d < D) ? row[d] : 0.0f;
    const unsigned short hi = to16<F16>(v);
    out[d] = hi;
    out[DP + d] = to16<F16>(v - from16<F16>(hi));
  }
  if (threadIdx.x == 0) np[bh * Cpad + c] = c < C ? norms[bh * C + c] : INFINITY;
}

// element (r, k) of a [cols/64][rows][64] 128-byte-swizzled tile (16-byte chunk c of row r at c ^ (r % 8))
template <int ROWS> static __device__ __forceinline__ int sw128_at(int r, int k) {
  return (k >> 6) * ROWS * 64 + r * 64 + ((((k & 63) >> 3) ^ (r & 7)) << 3) + (k & 7);
}

// Tokens t0 .. t0 + ROWS - 1 of slice bh of the 16-bit input x into the 128-byte-swizzled tile xs
// [DP/64][ROWS][64] (their bits as they are: no conversion pass, no fp32 copy), zeros past S and
// past D: 16-byte cp.async pieces (the caller's next commit group) where x16_vec allows, else
// element stores.
template <int ROWS, int DP, int NT>
static __device__ __forceinline__ void x16_load_tile(const vdit_attn_cuda_cluster_x16 &x, int64_t bh, int64_t t0, int64_t S,
                                                     int D, unsigned short *xs) {
  if (x16_vec(x, D)) {
    for (int e = threadIdx.x; e < ROWS * DP / 8; e += NT) {
      const int r = e / (DP / 8), k = 8 * (e % (DP / 8));
      const int64_t t = t0 + r;
      const int ok = t < S && k < D;
      cp_async16(xs + sw128_at<ROWS>(r, k), ok ? x16_row(x, bh, t) + k : x.data, ok ? 16 : 0);
    }
  } else {
    for (int e = threadIdx.x; e < ROWS * DP; e += NT) {
      const int r = e / DP, k = e % DP;
      const int64_t t = t0 + r;
      xs[sw128_at<ROWS>(r, k)] = (t < S && k < D) ? x16_row(x, bh, t)[k] : (unsigned short)0;
    }
  }
}

// ---------------------------------------------------------------- 16-bit assignment by wgmma, x in registers
// The same products again (x . hi + x . lo, fp32 accumulation), by wgmma m64n64k16 with the tokens
// as the A operand in registers (loaded once per block by ldmatrix from the swizzled x tile) and
// the centroid tiles as B from shared memory: per k16 step the tensor cores read only B's 2 KB
// from shared memory (round 15's kernel read A's 2 KB too, which at the tensor rate is the whole
// shared-memory bandwidth). Grid (ceil(S / 256), BH), 512 threads = four warpgroups of 64 tokens,
// one block an SM: each centroid tile streamed from L2 serves 256 tokens (128 in round 15's).
// Shared (1024-byte aligned): xs [DP/64][256][64], then R16_STAGES stages of [hi | lo] centroid
// tiles [DP/64][64][64]; tile i + 2 is loaded while tile i is multiplied (the stage it fills was
// last read in iteration i - 1, which every warpgroup has left at iteration i's barrier).
#define R16_TOKENS 256
#define R16_THREADS 512
#define R16_STAGES 3

static size_t r16_shared_bytes(int DP) {
  return ((size_t)DP * R16_TOKENS + R16_STAGES * (size_t)2 * DP * A16_CENTROIDS) * 2 + 1024; // + alignment slack
}

// d (64 x 64 fp32) += a (64 x 16: this warp's 16 rows as the mma.sync A fragment) b (K-major
// shared tile, descriptor db); no transpose.
// The two instantiations differ only in the operand type of the instruction (R16_MMA's argument).
#define R16_MMA(TYPE)                                                                                                   \
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"                                                         \
               "wgmma.mma_async.sync.aligned.m64n64k16.f32." TYPE "." TYPE " "                                         \
               "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, " \
               "%22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, {%32, %33, %34, %35}, %36, p, 1, 1, 0;\n}\n"     \
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),     \
                 "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), \
                 "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]),           \
                 "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]),           \
                 "+f"(d[30]), "+f"(d[31])                                                                              \
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(1))
template <int F16>
static __device__ __forceinline__ void r16_mma(float (&d)[32], const uint32_t (&a)[4], uint64_t db) {
  if (F16)
    R16_MMA("f16");
  else
    R16_MMA("bf16");
}
#undef R16_MMA

// Centroid tile i (64 rows of 2 DP values: hi | lo) into stage s (hi tile, then lo tile), one
// commit group (R16_THREADS threads).
template <int DP>
static __device__ __forceinline__ void r16_load_tile(unsigned short *stage, const unsigned short *cb, int i) {
  constexpr int chunks = 2 * DP / 8, half = DP / 8;
  const unsigned short *src = cb + (int64_t)i * A16_CENTROIDS * 2 * DP;
  for (int e = threadIdx.x; e < A16_CENTROIDS * chunks; e += R16_THREADS) {
    const int r = e / chunks, c = e % chunks, part = c / half, cc = c % half;
    cp_async16(stage + part * DP * A16_CENTROIDS + sw128_at<A16_CENTROIDS>(r, 8 * cc), src + (int64_t)r * 2 * DP + 8 * c, 16);
  }
  cp_async_commit();
}

template <int DP, int F16>
static __global__ void __launch_bounds__(R16_THREADS, 1)
    r16_kernel(vdit_attn_cuda_cluster_x16 x, const unsigned short *__restrict__ ct, const float *__restrict__ np,
               int64_t S, int C, int D, int64_t Cpad, int32_t *__restrict__ assign) {
  extern __shared__ unsigned char r16_raw[];
  const uint32_t pad = (1024u - ((uint32_t)__cvta_generic_to_shared(r16_raw) & 1023u)) & 1023u;
  unsigned short *xs = (unsigned short *)(r16_raw + pad), *cs = xs + DP * R16_TOKENS;
  constexpr int stage_elems = 2 * DP * A16_CENTROIDS;
  const int64_t bh = blockIdx.y, t0 = (int64_t)blockIdx.x * R16_TOKENS;
  const unsigned short *cb = ct + bh * Cpad * 2 * DP;
  const float *nb = np + bh * Cpad;
  const int tiles = (int)(Cpad / A16_CENTROIDS);
  x16_load_tile<R16_TOKENS, DP, R16_THREADS>(x, bh, t0, S, D, xs); // in tile 0's commit group
  r16_load_tile<DP>(cs, cb, 0);
  if (tiles > 1) r16_load_tile<DP>(cs + stage_elems, cb, 1);
  const int wg = threadIdx.x / 128, warp = (threadIdx.x / 32) % 4, lane = threadIdx.x % 32, q = lane % 4;
  uint32_t xa[DP / 16][4]; // this warp's 16 tokens x DP as A fragments
  float best[2] = {INFINITY, INFINITY}; // rows 64 wg + 16 warp + lane / 4 (+ 8)
  int best_c[2] = {0x7fffffff, 0x7fffffff};
  float acc[32];
  for (int i = 0; i < tiles; i++) {
    if (i + 1 < tiles) cp_async_wait<1>();
    else cp_async_wait<0>();
    fence_proxy_async(); // the tiles written by cp.async, for wgmma's reads
    __syncthreads();     // tile i (and xs) visible; every warpgroup done with tile i - 1's stage
    if (i == 0) {
      // ldmatrix x4: matrices (rows 0-7 | 8-15) x (k 0-7 | 8-15) of the warp's rows: the A layout
      const int mi = lane / 8, rr = lane % 8, row = 64 * wg + 16 * warp + rr + 8 * (mi & 1);
#pragma unroll
      for (int kk = 0; kk < DP / 16; kk++) ldsm_x4(xa[kk], xs + sw128_at<R16_TOKENS>(row, 16 * kk + 8 * (mi >> 1)));
    }
    if (i + 2 < tiles) r16_load_tile<DP>(cs + ((i + 2) % R16_STAGES) * stage_elems, cb, i + 2);
    const uint32_t hi_addr = (uint32_t)__cvta_generic_to_shared(cs + (i % R16_STAGES) * stage_elems);
    const uint32_t lo_addr = hi_addr + DP * A16_CENTROIDS * 2;
#pragma unroll
    for (int j = 0; j < 32; j++) acc[j] = 0.0f;
#pragma unroll
    for (int j = 0; j < 32; j++) reg_fence(acc[j]);
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < DP / 16; kk++) {
      r16_mma<F16>(acc, xa[kk], gmma_desc(hi_addr + (kk >> 2) * A16_CENTROIDS * 128 + (kk & 3) * 32, 16, 1024));
      r16_mma<F16>(acc, xa[kk], gmma_desc(lo_addr + (kk >> 2) * A16_CENTROIDS * 128 + (kk & 3) * 32, 16, 1024));
    }
    wgmma_commit();
    wgmma_wait<0>();
#pragma unroll
    for (int j = 0; j < 32; j++) reg_fence(acc[j]);
    // acc[4 n + j]: row 16 warp + lane / 4 + 8 (j / 2), centroid 8 n + 2 q + j % 2 of the tile;
    // the centroids rise within the thread, so a strict < keeps the lower one of a tie
    const int c0 = i * A16_CENTROIDS;
#pragma unroll
    for (int n = 0; n < 8; n++) {
      const int c = c0 + 8 * n + 2 * q;
      const float2 nc = __ldg((const float2 *)(nb + c));
#pragma unroll
      for (int j = 0; j < 4; j++) {
        const float sc = __fsub_rn(j % 2 ? nc.y : nc.x, __fmul_rn(2.0f, acc[4 * n + j]));
        if (sc < best[j / 2]) best[j / 2] = sc, best_c[j / 2] = c + j % 2;
      }
    }
  }
#pragma unroll
  for (int h = 0; h < 2; h++) {
    float sc = best[h];
    int c = best_c[h];
    for (int o = 1; o < 4; o *= 2) {
      const float so = __shfl_xor_sync(0xffffffffu, sc, o);
      const int co = __shfl_xor_sync(0xffffffffu, c, o);
      if (better(so, co, sc, c)) sc = so, c = co;
    }
    const int64_t t = t0 + 64 * wg + 16 * warp + lane / 4 + 8 * h;
    if (q == 0 && t < S) assign[bh * S + t] = (c == 0x7fffffff || c >= C) ? 0 : c; // every score NaN: cluster 0
  }
}

template <int DP, int F16>
static cudaError_t r16_launch(const vdit_attn_cuda_cluster_args *a, vdit_attn_cuda_cluster_x16 x, int64_t S, int C,
                              const float *centroids, int32_t *assign, cudaStream_t stream) {
  const int64_t Cpad = a16_cpad(C);
  unsigned short *ct = (unsigned short *)a->assign_work;
  float *np = a->assign_work + a->bh * Cpad * DP;
  a16_prepare_kernel<F16><<<dim3((unsigned)Cpad, (unsigned)a->bh), 128, 0, stream>>>(centroids, a->norms, C, a->dim, DP,
                                                                                     Cpad, ct, np);
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) return e;
  const size_t shared = r16_shared_bytes(DP);
  if ((e = cudaFuncSetAttribute(r16_kernel<DP, F16>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)shared)) !=
      cudaSuccess)
    return e;
  const dim3 grid((unsigned)((S + R16_TOKENS - 1) / R16_TOKENS), (unsigned)a->bh);
  r16_kernel<DP, F16><<<grid, R16_THREADS, shared, stream>>>(x, ct, np, S, C, (int)a->dim, Cpad, assign);
  return cudaGetLastError();
}

extern "C" size_t vdit_attn_cuda_cluster_assign_floats(int64_t bh, int C) {
  return (size_t)(bh * a16_cpad(C) * (128 + 1)); // (Cpad, 2 DP) 16-bit rows and Cpad norms, DP <= 128
}

extern "C" cudaError_t vdit_attn_cuda_cluster_assign(const vdit_attn_cuda_cluster_args *a, vdit_attn_cuda_cluster_x16 x, int64_t S,
                                                     int C, const float *centroids, int32_t *assign, cudaStream_t stream) {
  if (a->bh == 0 || S == 0) return cudaSuccess;
  if (a->dim < 1 || a->dim > 128 || C < 1 || a->bh > 65535 || !a->assign_work) return cudaErrorInvalidValue;
  if (assign_dp(a->dim) == 64) return a->half_inputs ? r16_launch<64, 1>(a, x, S, C, centroids, assign, stream)
                                                     : r16_launch<64, 0>(a, x, S, C, centroids, assign, stream);
  return a->half_inputs ? r16_launch<128, 1>(a, x, S, C, centroids, assign, stream)
                        : r16_launch<128, 0>(a, x, S, C, centroids, assign, stream);
}

// ---------------------------------------------------------------- stable counting sort
static __host__ __device__ int64_t sort_chunks(int64_t S) { return (S + SORT_CHUNK - 1) / SORT_CHUNK; }

extern "C" size_t vdit_attn_cuda_cluster_sort_ints(int64_t bh, int64_t S, int C) {
  return (size_t)(bh * (int64_t)C * sort_chunks(S));
}

// Grid (chunks, BH), SORT_CHUNK threads; shared: C ints. hist[(bh chunks + chunk) C + c].
static __global__ void __launch_bounds__(SORT_CHUNK) sort_hist_kernel(const int32_t *__restrict__ assign, int64_t S, int C,
                                                                     int32_t *__restrict__ hist) {
  extern __shared__ int32_t h[];
  const int64_t bh = blockIdx.y, chunks = gridDim.x, t = (int64_t)blockIdx.x * SORT_CHUNK + threadIdx.x;
  for (int c = threadIdx.x; c < C; c += SORT_CHUNK) h[c] = 0;
  __syncthreads();
  if (t < S) atomicAdd(&h[assign[bh * S + t]], 1);
  __syncthreads();
  for (int c = threadIdx.x; c < C; c += SORT_CHUNK) hist[(bh * chunks + blockIdx.x) * C + c] = h[c];
}

// Grid (ceil(C / 256), BH), 256 threads: thread c scans column c of hist (chunks values, C
// apart, so a warp's loads are coalesced) in place into the exclusive prefix over the chunks
// (each chunk's first position within the cluster); count[bh C + c] = the column's total.
static __global__ void __launch_bounds__(256) sort_chunk_scan_kernel(int32_t *__restrict__ hist, int C, int64_t chunks,
                                                                     int32_t *__restrict__ count) {
  const int c = blockIdx.x * 256 + threadIdx.x;
  const int64_t bh = blockIdx.y;
  if (c >= C) return;
  int32_t *v = hist + bh * chunks * C + c;
  int32_t running = 0;
#pragma unroll 8
  for (int64_t i = 0; i < chunks; i++) {
    const int32_t value = v[i * C];
    v[i * C] = running;
    running += value;
  }
  count[bh * C + c] = running;
}

// Grid BH, SCAN_THREADS threads: offsets (C + 1) = the exclusive scan of count (C) of the slice.
// Thread i scans a contiguous run of the counts.
static __global__ void __launch_bounds__(SCAN_THREADS) sort_scan_kernel(const int32_t *__restrict__ count, int C,
                                                                       int32_t *__restrict__ offsets) {
  __shared__ int32_t part[SCAN_THREADS];
  const int64_t bh = blockIdx.x;
  const int per = (C + SCAN_THREADS - 1) / SCAN_THREADS;
  const int begin = (int)threadIdx.x * per < C ? (int)threadIdx.x * per : C, end = begin + per < C ? begin + per : C;
  const int32_t *n = count + bh * C;
  int32_t *out = offsets + bh * (C + 1);
  int32_t sum = 0;
  for (int i = begin; i < end; i++) sum += n[i];
  part[threadIdx.x] = sum;
  __syncthreads();
  for (int o = 1; o < SCAN_THREADS; o *= 2) { // Hillis-Steele inclusive scan of the parts
    const int32_t add = threadIdx.x >= (unsigned)o ? part[threadIdx.x - o] : 0;
    __syncthreads();
    part[threadIdx.x] += add;
    __syncthreads();
  }
  int32_t running = threadIdx.x ? part[threadIdx.x - 1] : 0;
  for (int i = begin; i < end; i++) {
    out[i] = running;
    running += n[i];
  }
  if (threadIdx.x == 0) out[C] = part[SCAN_THREADS - 1];
}

// Grid (chunks, BH), 32 threads; shared: C ints (the chunk's next position of each cluster:
// the cluster's offset + its count in the chunks before; read only for the clusters the chunk
// holds).
static __global__ void __launch_bounds__(32) sort_scatter_kernel(const int32_t *__restrict__ assign, int64_t S, int C,
                                                                const int32_t *__restrict__ hist,
                                                                const int32_t *__restrict__ offsets,
                                                                int32_t *__restrict__ perm) {
  extern __shared__ int32_t cursor[];
  const int64_t bh = blockIdx.y, chunks = gridDim.x, begin = (int64_t)blockIdx.x * SORT_CHUNK;
  const int lane = threadIdx.x;
  const int32_t *a = assign + bh * S;
  for (int c = lane; c < C; c += 32) cursor[c] = offsets[bh * (C + 1) + c] + hist[(bh * chunks + blockIdx.x) * C + c];
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
  sort_chunk_scan_kernel<<<dim3((unsigned)((C + 255) / 256), (unsigned)bh), 256, 0, stream>>>(work, C, chunks, count);
  sort_scan_kernel<<<(unsigned)bh, SCAN_THREADS, 0, stream>>>(count, C, offsets);
  sort_scatter_kernel<<<grid, 32, shared, stream>>>(assign, S, C, work, offsets, perm);
  return cudaGetLastError();
}
