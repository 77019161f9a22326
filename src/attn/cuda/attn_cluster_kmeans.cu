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
// a 1.6 GB write and read per iteration). Three kernels (vdit_attn_cuda_cluster_args.assign_kernel):
//   r16_kernel (default since round 16): wgmma m64n64k16, the tokens as A in registers, the
//     centroids from 128-byte-swizzled shared tiles, four warpgroups of 64 tokens, one block an SM;
//   a16_kernel: mma.sync m16n8k16 with ldmatrix fragments, 8 warps of 32 x 32, two blocks an SM
//     (VDIT_CLUSTER_ASSIGN=mma);
//   assign_kernel: the first one, TF32 mma.sync m16n8k8 on centroids rounded to TF32, 128
//     centroids a tile, one block an SM (VDIT_CLUSTER_ASSIGN=tf32; kept for comparison).
// H200, Q and K assignments of one warm iteration (S = 32760, Cq = 256, Ck = 1024, 12 heads, 129
// GFLOP of x . c, 258 executed with hi and lo), the step's time with norms and splits: r16 0.648 /
// 0.651 ms, the previous default (wgmma with both operands from shared tiles, two warpgroups of 64
// tokens, two blocks an SM) 0.703 / 0.709 ms, the same call each (round 16; deleted); r16 with the
// argmin overlapped with the next tile's wgmma (two accumulators, wait_group 1, three warpgroups
// for the registers) 0.664 ms (deleted). ncu on that one's key call: tensor pipe 47%, issue slots
// 48%, 0.93 eligible warps a scheduler: latency-bound, neither the tensor cores nor the issue
// saturated. What the GPU and the CPU (exact fp32 products in
// order) agree on: see vdit_attn_cuda_cluster_assign in attn_cluster.h.
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

// (score, c) lexicographic: the smaller score, then the lower c.
static __device__ __forceinline__ bool better(float s, int c, float best, int best_c) {
  return s < best || (s == best && c < best_c);
}

// The argmin's end in the TF32 and the mma.sync 16-bit kernels (2 warps per 32 tokens, each
// thread with running minima best[m][h] over its columns for tokens row0 + 16 m + g + 8 h): the 4
// lanes of a token, then the 2 warps of a token through red_s, red_c (TOKENS x 2 in shared memory),
// then one thread per token writes assign_bh[t] (no finite score: cluster 0, as the CPU).
template <int TOKENS>
static __device__ __forceinline__ void argmin_finish(const float (&best)[2][2], const int (&best_c)[2][2], int row0,
                                                     int warp, int lane, float *red_s, int *red_c, int64_t t0, int64_t S,
                                                     int C, int32_t *__restrict__ assign_bh) {
  const int g = lane / 4, q = lane % 4;
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
  for (int r = threadIdx.x; r < TOKENS; r += blockDim.x) {
    const int64_t t = t0 + r;
    if (t >= S) continue;
    float sc = red_s[r * 2];
    int c = red_c[r * 2];
    if (better(red_s[r * 2 + 1], red_c[r * 2 + 1], sc, c)) sc = red_s[r * 2 + 1], c = red_c[r * 2 + 1];
    assign_bh[t] = (c == 0x7fffffff || c >= C) ? 0 : c; // every score NaN: cluster 0, as the CPU
  }
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
    cp_async16(dst + r * ld + k, src + (int64_t)r * DP + k, 16);
  }
  cp_async_commit();
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
    assign_kernel(vdit_attn_cuda_cluster_x16 x, int f16, const uint32_t *__restrict__ ct, const float *__restrict__ np,
                  int64_t S, int C, int D, int64_t Cpad, int32_t *__restrict__ assign) {
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
  // the tokens from the 16-bit input, as TF32 bits (exact)
  for (int e = threadIdx.x; e < ASSIGN_TOKENS * DP; e += ASSIGN_THREADS) {
    const int r = e / DP, k = e % DP;
    const int64_t t = t0 + r;
    uint32_t v = 0u;
    if (t < S && k < D) {
      const unsigned short b = x16_row(x, bh, t)[k];
      v = to_tf32(f16 ? __half2float(__ushort_as_half(b)) : __uint_as_float((unsigned)b << 16));
    }
    xs[r * ld + k] = v;
  }
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, q = lane % 4;
  const int row0 = (warp / 2) * 32, col0 = (warp % 2) * 64;
  // best[m][h]: rows row0 + 16 m + g + 8 h
  float best[2][2] = {{INFINITY, INFINITY}, {INFINITY, INFINITY}};
  int best_c[2][2] = {{0x7fffffff, 0x7fffffff}, {0x7fffffff, 0x7fffffff}};
  for (int i = 0; i < tiles; i++) {
    if (i + 1 < tiles) {
      load_tile<DP>(cs, cb, i + 1);
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
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
  argmin_finish<ASSIGN_TOKENS>(best, best_c, row0, warp, lane, red_s, red_c, t0, S, C, assign + bh * S);
}

// ---------------------------------------------------------------- 16-bit assignment
#define A16_TOKENS 128   // tokens a block
#define A16_CENTROIDS 64 // centroids a tile
#define A16_PAD 8        // row padding in elements: rows 16 bytes past a multiple of 128 apart, so
                         // the 8 row addresses of an ldmatrix hit 8 different 16-byte bank groups

static __host__ __device__ int64_t a16_cpad(int C) { return ((int64_t)C + A16_CENTROIDS - 1) / A16_CENTROIDS * A16_CENTROIDS; }

// 16-bit conversions: rn of an fp32 value, and two of them packed (lo element first).
template <int F16> static __device__ __forceinline__ unsigned short to16(float v) {
  if (F16) return __half_as_ushort(__float2half_rn(v));
  return __bfloat16_as_ushort(__float2bfloat16_rn(v));
}
template <int F16> static __device__ __forceinline__ float from16(unsigned short v) {
  if (F16) return __half2float(__ushort_as_half(v));
  return __bfloat162float(__ushort_as_bfloat16(v));
}
template <int F16> static __device__ __forceinline__ uint32_t pack16(float a, float b) {
  return (uint32_t)to16<F16>(a) | ((uint32_t)to16<F16>(b) << 16);
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

// Centroid tile i (64 rows of 2 DP 16-bit values from ct) into buffer i % 2 of cs (rows
// ld = 2 DP + A16_PAD elements apart: hi at 0, lo at DP) as 16-byte cp.async chunks, one group.
template <int DP>
static __device__ __forceinline__ void a16_load_tile(unsigned short *cs, const unsigned short *cb, int i) {
  constexpr int ld = 2 * DP + A16_PAD, chunks = 2 * DP / 8; // 16-byte chunks a row
  unsigned short *dst = cs + (i % 2) * A16_CENTROIDS * ld;
  const unsigned short *src = cb + (int64_t)i * A16_CENTROIDS * 2 * DP;
  for (int e = threadIdx.x; e < A16_CENTROIDS * chunks; e += ASSIGN_THREADS) {
    const int r = e / chunks, k = 8 * (e % chunks);
    cp_async16(dst + r * ld + k, src + (int64_t)r * 2 * DP + k, 16);
  }
  cp_async_commit();
}

// element (r, k) of a [cols/64][rows][64] 128-byte-swizzled tile (16-byte chunk c of row r at c ^ (r % 8))
template <int ROWS> static __device__ __forceinline__ int sw128_at(int r, int k) {
  return (k >> 6) * ROWS * 64 + r * 64 + ((((k & 63) >> 3) ^ (r & 7)) << 3) + (k & 7);
}

// Element (r, k) of a 16-bit token tile: the 128-byte-swizzled [DP/64][ROWS][64] layout of the
// wgmma kernel (SWZ: what ldmatrix reads there), or rows of DP + A16_PAD elements (the mma.sync kernel); either way the 8
// elements from a multiple of 8 are contiguous.
template <int ROWS, int DP, int SWZ> static __device__ __forceinline__ int x16_at(int r, int k) {
  return SWZ ? sw128_at<ROWS>(r, k) : r * (DP + A16_PAD) + k;
}

// Tokens t0 .. t0 + ROWS - 1 of slice bh of the 16-bit input x into the tile xs (their bits as
// they are: no conversion pass, no fp32 copy), zeros past S and past D: 16-byte cp.async pieces
// (the caller's next commit group) where x16_vec allows, else element stores.
template <int ROWS, int DP, int SWZ, int NT>
static __device__ __forceinline__ void x16_load_tile(const vdit_attn_cuda_cluster_x16 &x, int64_t bh, int64_t t0, int64_t S,
                                                     int D, unsigned short *xs) {
  if (x16_vec(x, D)) {
    for (int e = threadIdx.x; e < ROWS * DP / 8; e += NT) {
      const int r = e / (DP / 8), k = 8 * (e % (DP / 8));
      const int64_t t = t0 + r;
      const int ok = t < S && k < D;
      cp_async16(xs + x16_at<ROWS, DP, SWZ>(r, k), ok ? x16_row(x, bh, t) + k : x.data, ok ? 16 : 0);
    }
  } else {
    for (int e = threadIdx.x; e < ROWS * DP; e += NT) {
      const int r = e / DP, k = e % DP;
      const int64_t t = t0 + r;
      xs[x16_at<ROWS, DP, SWZ>(r, k)] = (t < S && k < D) ? x16_row(x, bh, t)[k] : (unsigned short)0;
    }
  }
}

static size_t a16_shared_bytes(int DP) {
  return ((size_t)A16_TOKENS * (DP + A16_PAD) + 2 * (size_t)A16_CENTROIDS * (2 * DP + A16_PAD)) * 2 +
         A16_TOKENS * 2 * 8;
}

// Grid (ceil(S / 128), BH), 256 threads, two blocks an SM (106.5 KB shared at DP = 128).
// Shared: xs [128][DP + 8] (the tokens, 16-bit), cs [2][64][2 DP + 8] (centroid tiles: hi | lo),
// red 128 x 2 (score, c). Warp w: tokens 32 (w / 2) .. +32 (two m16 tiles), centroids
// 32 (w % 2) .. +32 of the tile (four n8 tiles). Per k16 step: A by two ldmatrix.x4 (m16 x k16
// each), B by four (two n8 tiles x k16 each, hi then lo), 16 MMAs.
template <int DP, int F16>
static __global__ void __launch_bounds__(ASSIGN_THREADS, 2)
    a16_kernel(vdit_attn_cuda_cluster_x16 x, const unsigned short *__restrict__ ct, const float *__restrict__ np,
               int64_t S, int C, int D, int64_t Cpad, int32_t *__restrict__ assign) {
  constexpr int ldx = DP + A16_PAD, ldc = 2 * DP + A16_PAD;
  extern __shared__ __align__(16) unsigned short smem16[];
  unsigned short *xs = smem16, *cs = xs + A16_TOKENS * ldx;
  float *red_s = (float *)(cs + 2 * A16_CENTROIDS * ldc);
  int *red_c = (int *)(red_s + A16_TOKENS * 2);
  const int64_t bh = blockIdx.y, t0 = (int64_t)blockIdx.x * A16_TOKENS;
  const unsigned short *cb = ct + bh * Cpad * 2 * DP;
  const float *nb = np + bh * Cpad;
  const int tiles = (int)(Cpad / A16_CENTROIDS);
  x16_load_tile<A16_TOKENS, DP, 0, ASSIGN_THREADS>(x, bh, t0, S, D, xs); // joins tile 0's commit group
  a16_load_tile<DP>(cs, cb, 0);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, q = lane % 4;
  const int row0 = (warp / 2) * 32, col0 = (warp % 2) * 32;
  // ldmatrix addresses: A (x4 = rows 0-7 / 8-15 at k 0, then at k 8): lane -> row lane % 16,
  // column 8 (lane / 16); B (x4 = n 0-7 at k 0 / k 8, then n 8-15): lane -> row (lane % 8) +
  // 8 (lane / 16), column 8 ((lane / 8) % 2)
  const unsigned short *a_base = xs + (row0 + lane % 16) * ldx + 8 * (lane / 16);
  const int b_off = (col0 + lane % 8 + 8 * (lane / 16)) * ldc + 8 * ((lane / 8) % 2);
  // best[m][h]: rows row0 + 16 m + g + 8 h
  float best[2][2] = {{INFINITY, INFINITY}, {INFINITY, INFINITY}};
  int best_c[2][2] = {{0x7fffffff, 0x7fffffff}, {0x7fffffff, 0x7fffffff}};
  for (int i = 0; i < tiles; i++) {
    if (i + 1 < tiles) {
      a16_load_tile<DP>(cs, cb, i + 1);
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads(); // tile i (and, the first time, xs) visible to every warp
    const unsigned short *b_base = cs + (i % 2) * A16_CENTROIDS * ldc + b_off;
    float acc[2][4][4];
#pragma unroll
    for (int m = 0; m < 2; m++)
#pragma unroll
      for (int n = 0; n < 4; n++)
#pragma unroll
        for (int j = 0; j < 4; j++) acc[m][n][j] = 0.0f;
#pragma unroll 4
    for (int k = 0; k < DP; k += 16) {
      uint32_t a[2][4], bh_[2][4], bl[2][4]; // bh_[p], bl[p]: n8 tiles 2p, 2p + 1 (b0, b1 each)
#pragma unroll
      for (int m = 0; m < 2; m++) ldsm_x4(a[m], a_base + 16 * m * ldx + k);
#pragma unroll
      for (int p = 0; p < 2; p++) {
        ldsm_x4(bh_[p], b_base + 16 * p * ldc + k);
        ldsm_x4(bl[p], b_base + 16 * p * ldc + DP + k);
      }
#pragma unroll
      for (int m = 0; m < 2; m++)
#pragma unroll
        for (int n = 0; n < 4; n++) {
          mma16<F16>(acc[m][n], a[m], bh_[n / 2][2 * (n % 2)], bh_[n / 2][2 * (n % 2) + 1]);
          mma16<F16>(acc[m][n], a[m], bl[n / 2][2 * (n % 2)], bl[n / 2][2 * (n % 2) + 1]);
        }
    }
    // accumulator j of tile (m, n): row 16 m + g + 8 (j / 2), centroid 8 n + 2 q + j % 2; the
    // centroids rise within the thread, so a strict < keeps the lower one of a tie
    const int c0 = i * A16_CENTROIDS + col0;
#pragma unroll
    for (int n = 0; n < 4; n++) {
      const int c = c0 + 8 * n + 2 * q;
      const float2 nc = __ldg((const float2 *)(nb + c));
#pragma unroll
      for (int j = 0; j < 4; j++)
#pragma unroll
        for (int m = 0; m < 2; m++) {
          const float sc = __fsub_rn(j % 2 ? nc.y : nc.x, __fmul_rn(2.0f, acc[m][n][j]));
          if (sc < best[m][j / 2]) best[m][j / 2] = sc, best_c[m][j / 2] = c + j % 2;
        }
    }
    __syncthreads(); // buffer i % 2 is refilled by the next iteration's load
  }
  argmin_finish<A16_TOKENS>(best, best_c, row0, warp, lane, red_s, red_c, t0, S, C, assign + bh * S);
}

template <int DP, int F16>
static cudaError_t a16_launch(const vdit_attn_cuda_cluster_args *a, vdit_attn_cuda_cluster_x16 x, int64_t S, int C,
                              const float *centroids, int32_t *assign, cudaStream_t stream) {
  const int64_t Cpad = a16_cpad(C);
  unsigned short *ct = (unsigned short *)a->assign_work;
  float *np = a->assign_work + a->bh * Cpad * DP; // past the (Cpad, 2 DP) 16-bit rows
  a16_prepare_kernel<F16><<<dim3((unsigned)Cpad, (unsigned)a->bh), 128, 0, stream>>>(centroids, a->norms, C, a->dim, DP,
                                                                                     Cpad, ct, np);
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) return e;
  const size_t shared = a16_shared_bytes(DP);
  if ((e = cudaFuncSetAttribute(a16_kernel<DP, F16>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)shared)) !=
      cudaSuccess)
    return e;
  const dim3 grid((unsigned)((S + A16_TOKENS - 1) / A16_TOKENS), (unsigned)a->bh);
  a16_kernel<DP, F16><<<grid, ASSIGN_THREADS, shared, stream>>>(x, ct, np, S, C, (int)a->dim, Cpad, assign);
  return cudaGetLastError();
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
  x16_load_tile<R16_TOKENS, DP, 1, R16_THREADS>(x, bh, t0, S, D, xs); // in tile 0's commit group
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
      for (int kk = 0; kk < DP / 16; kk++) ldsm_x4(xa[kk], xs + x16_at<R16_TOKENS, DP, 1>(row, 16 * kk + 8 * (mi >> 1)));
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

static size_t assign_shared_bytes(int DP) {
  return (size_t)(ASSIGN_TOKENS + 2 * ASSIGN_CENTROIDS) * (DP + 16) * 4 + ASSIGN_TOKENS * 2 * 8;
}

extern "C" cudaError_t vdit_attn_cuda_cluster_assign(const vdit_attn_cuda_cluster_args *a, vdit_attn_cuda_cluster_x16 x, int64_t S,
                                                     int C, const float *centroids, int32_t *assign, cudaStream_t stream) {
  if (a->bh == 0 || S == 0) return cudaSuccess;
  if (a->dim < 1 || a->dim > 128 || C < 1 || a->bh > 65535 || !a->assign_work) return cudaErrorInvalidValue;
  const int DP = assign_dp(a->dim);
  if (a->assign_kernel == VDIT_ATTN_CUDA_ASSIGN_MMA16) {
    if (DP == 64) return a->half_inputs ? a16_launch<64, 1>(a, x, S, C, centroids, assign, stream)
                                        : a16_launch<64, 0>(a, x, S, C, centroids, assign, stream);
    return a->half_inputs ? a16_launch<128, 1>(a, x, S, C, centroids, assign, stream)
                          : a16_launch<128, 0>(a, x, S, C, centroids, assign, stream);
  }
  if (a->assign_kernel == VDIT_ATTN_CUDA_ASSIGN_WGMMA16) {
    if (DP == 64) return a->half_inputs ? r16_launch<64, 1>(a, x, S, C, centroids, assign, stream)
                                        : r16_launch<64, 0>(a, x, S, C, centroids, assign, stream);
    return a->half_inputs ? r16_launch<128, 1>(a, x, S, C, centroids, assign, stream)
                          : r16_launch<128, 0>(a, x, S, C, centroids, assign, stream);
  }
  if (a->assign_kernel != VDIT_ATTN_CUDA_ASSIGN_TF32) return cudaErrorInvalidValue;
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
    assign_kernel<64><<<grid, ASSIGN_THREADS, shared, stream>>>(x, a->half_inputs, ct, np, S, C, (int)a->dim, Cpad, assign);
  } else {
    if ((e = cudaFuncSetAttribute(assign_kernel<128>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)shared)) != cudaSuccess)
      return e;
    assign_kernel<128><<<grid, ASSIGN_THREADS, shared, stream>>>(x, a->half_inputs, ct, np, S, C, (int)a->dim, Cpad, assign);
  }
  return cudaGetLastError();
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
