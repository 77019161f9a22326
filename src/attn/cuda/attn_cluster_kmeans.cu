// k-means steps of clustered attention on the GPU (issue 9): the assignment as one tensor-core
// kernel with the argmin fused, and the stable counting sort by cluster in parallel.
//
// Assignment: per token t of a (b, h) slice, argmin_c |c|^2 - 2 x_t . c (ties to the lower c).
// x is the bf16 / fp16 input itself (read through its strides, no fp32 copy since round 16), exact
// in that type; a first kernel splits each
// centroid into hi = rn16(c) and lo = rn16(c - hi) (16 significant bits of c for bf16, 22 for
// fp16) in zero-padded (Cpad, 2 DP) rows with the norms (+inf past C); then a block takes its
// tokens (as 16-bit values in shared memory or registers) and walks the centroid tiles of 128 rows
// (cp.async, double-buffered): x . c = x . hi + x . lo with fp32 accumulation, each thread folds its
// accumulators into a running (score, c) minimum in registers, and only the assignment is
// written: the (S, C) distance matrix never leaves the SM (at S = 32760, C = 1024, H = 12 it was
// a 1.6 GB write and read per iteration). The kernel (r16_kernel, since round 16; round 21's form):
// wgmma m64n128k16, the tokens as A in registers, the centroids from 128-byte-swizzled shared
// tiles of 128 rows, four warpgroups of 64 tokens, one persistent block an SM.
// H200, Q and K assignments of one warm iteration (S = 32760, Cq = 256, Ck = 1024, 12 heads, 129
// GFLOP of x . c, 258 executed with hi and lo), the step's time with norms and splits, the same
// call each: round 21's form 0.559 ms against round 16's 0.662 / 0.649 (one block a 256-token
// block, 64-centroid tiles, the tile loads' address arithmetic redone every tile, 550 instructions
// a thread a 64-centroid tile); the same with 64-centroid tiles (three stages) 0.602, with one
// block an item (not persistent) 0.645 (round 21). Round 16: the previous default (wgmma with
// both operands from shared tiles, two warpgroups of 64 tokens, two blocks an SM) 0.703 / 0.709
// ms (deleted); r16 with the argmin overlapped with the next tile's wgmma (two accumulators,
// wait_group 1, three warpgroups for the registers) 0.664 ms (deleted). ncu on that one's key
// call: tensor pipe 47%, issue slots 48%, 0.93 eligible warps a scheduler: latency-bound, neither
// the tensor cores nor the issue saturated. Deleted in round 17 (lab switches until then):
// mma.sync m16n8k16 with ldmatrix fragments, 8 warps of 32 x 32, two blocks an SM
// (VDIT_CLUSTER_ASSIGN=mma: 1.67 ms for two iterations in round 12 against wgmma's 1.41), and the
// first kernel, TF32 mma.sync m16n8k8 on centroids rounded to TF32 (VDIT_CLUSTER_ASSIGN=tf32:
// 2.97 ms). What the GPU and the CPU (exact
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
#define A16_PAD 128 // centroid rows padded to a multiple of this (the tile)

static __host__ __device__ int64_t a16_cpad(int C) { return ((int64_t)C + A16_PAD - 1) / A16_PAD * A16_PAD; }

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
// The products x . hi + x . lo (fp32 accumulation) by wgmma m64n128k16 with the tokens as the A
// operand in registers (loaded once per item by ldmatrix from the swizzled x tile) and the
// centroid tiles of 128 rows as B from shared memory: per k16 step the tensor cores read only B
// from shared memory. 512 threads = four warpgroups of 64 tokens, one block an SM, persistent:
// the work items are (slice, 256-token block) pairs, item = bh * blocks + block, and block b of
// the grid (one block an SM) takes items b, b + grid, ...; each centroid tile streamed from L2
// serves 256 tokens. A block's centroid tiles form one stream over its items (tile g: tile
// g % tiles of its item g / tiles), double-buffered across item boundaries, and the next item's x
// is loaded into xs as soon as every warp holds the current item's A fragments (an extra barrier
// once an item), so an item after the block's first needs no prologue of its own.
// Shared (1024-byte aligned): xs [DP/64][256][64], then R16_STAGES stages of [hi | lo] centroid
// tiles [DP/64][128][64] (64 KB at DP = 128), then the stages' norms [R16_STAGES][128]; tile g + 1
// is loaded while tile g is multiplied (the stage it fills was last read in iteration g - 1,
// which every warpgroup has left at iteration g's barrier).
// Epilogue per tile and row: the tile's minimum and its index first (one FFMA, compare and two
// selects a score, the index an immediate), then one compare against the running minimum.
#define R16_TOKENS 256
#define R16_THREADS 512
#define R16_CENTROIDS 128 // a tile
#define R16_STAGES 2

static size_t r16_shared_bytes(int DP) {
  return ((size_t)DP * R16_TOKENS + (size_t)R16_STAGES * 2 * DP * R16_CENTROIDS) * 2 +
         (size_t)R16_STAGES * R16_CENTROIDS * 4 + 1024; // + alignment slack
}

// d (64 x 128 fp32) (+)= a (64 x 16: this warp's 16 rows as the mma.sync A fragment) b (K-major
// shared tile, descriptor db); no transpose; scale_d = 0 for a tile's first product (d ignored).
// The two instantiations differ only in the operand type of the instruction (R16_MMA's argument).
#define R16_MMA(TYPE)                                                                                                  \
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\n"                                                        \
               "wgmma.mma_async.sync.aligned.m64n128k16.f32." TYPE "." TYPE " "                                       \
               "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, "    \
               "%21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, "     \
               "%40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, "      \
               "%59, %60, %61, %62, %63}, {%64, %65, %66, %67}, %68, p, 1, 1, 0;\n}\n"                              \
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),    \
                 "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]),            \
                 "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]),          \
                 "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]),          \
                 "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]),          \
                 "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]),          \
                 "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]),          \
                 "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]),          \
                 "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])           \
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(scale_d))
template <int F16>
static __device__ __forceinline__ void r16_mma(float (&d)[64], const uint32_t (&a)[4], uint64_t db, int scale_d) {
  if (F16)
    R16_MMA("f16");
  else
    R16_MMA("bf16");
}
#undef R16_MMA

// 16 bytes global -> shared (shared address as a 32-bit word), in the current commit group.
static __device__ __forceinline__ void cp_async16_s(uint32_t dst, const void *src) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(dst), "l"(src));
}

// A centroid tile (128 rows of 2 DP values: hi | lo) is 128 * 2 DP / 8 pieces of 16 bytes; thread
// t copies pieces t + R16_THREADS k, k < R16_PIECES: row t / chunks + k R16_ROW_STEP, chunk
// t % chunks (R16_THREADS is a multiple of chunks and R16_ROW_STEP of 8, so the swizzle phase
// r % 8 is the same for every k): one shared and one global offset a thread, set once.
#define R16_CHUNKS(DP) (2 * (DP) / 8)
#define R16_ROW_STEP(DP) (R16_THREADS / R16_CHUNKS(DP))
#define R16_PIECES(DP) (R16_CENTROIDS * R16_CHUNKS(DP) / R16_THREADS)

// Tile (tile_g: its rows in global memory) into the stage at shared address stage_s (hi tile,
// then lo tile) and its norms (norms_g) at ns_s, one commit group; ld_s (bytes), ld_g (elements):
// this thread's first piece.
template <int DP>
static __device__ __forceinline__ void r16_load_tile(uint32_t stage_s, uint32_t ns_s, const unsigned short *tile_g,
                                                     const float *norms_g, uint32_t ld_s, int ld_g) {
#pragma unroll
  for (int k = 0; k < R16_PIECES(DP); k++)
    cp_async16_s(stage_s + ld_s + k * R16_ROW_STEP(DP) * 128, tile_g + ld_g + k * R16_ROW_STEP(DP) * 2 * DP);
  if (threadIdx.x < R16_CENTROIDS / 4) cp_async16_s(ns_s + 16 * threadIdx.x, norms_g + 4 * threadIdx.x);
  cp_async_commit();
}

// The block's next tile in its stream (tile `tile` of item `item`) into stage `stage`; advances
// the three.
template <int DP>
static __device__ __forceinline__ void r16_load_next(uint32_t cs_s, uint32_t ns_s, const unsigned short *ct,
                                                     const float *np, int64_t Cpad, int blocks, int tiles,
                                                     uint32_t ld_s, int ld_g, int &tile, int &item, int &stage) {
  const int64_t bh = item / blocks, c0 = (int64_t)tile * R16_CENTROIDS;
  r16_load_tile<DP>(cs_s + 2 * stage * (2 * DP * R16_CENTROIDS), ns_s + 4 * stage * R16_CENTROIDS,
                    ct + (bh * Cpad + c0) * 2 * DP, np + bh * Cpad + c0, ld_s, ld_g);
  if (++tile == tiles) tile = 0, item += gridDim.x;
  if (++stage == R16_STAGES) stage = 0;
}

// Item `item`'s x tile into xs (once an item: out of line, so that its address arithmetic holds
// no registers in the tile loop).
template <int DP>
static __device__ __noinline__ void r16_load_x(const vdit_attn_cuda_cluster_x16 &x, int item, int blocks, int64_t S, int D,
                                              unsigned short *xs) {
  x16_load_tile<R16_TOKENS, DP, R16_THREADS>(x, item / blocks, (int64_t)(item % blocks) * R16_TOKENS, S, D, xs);
}

template <int DP, int F16>
static __global__ void __launch_bounds__(R16_THREADS, 1)
    r16_kernel(vdit_attn_cuda_cluster_x16 x, const unsigned short *__restrict__ ct, const float *__restrict__ np,
               int64_t S, int C, int D, int64_t Cpad, int items, int32_t *__restrict__ assign) {
  constexpr int stage_elems = 2 * DP * R16_CENTROIDS;
  extern __shared__ unsigned char r16_raw[];
  const uint32_t pad = (1024u - ((uint32_t)__cvta_generic_to_shared(r16_raw) & 1023u)) & 1023u;
  unsigned short *xs = (unsigned short *)(r16_raw + pad), *cs = xs + DP * R16_TOKENS;
  float *ns = (float *)(cs + R16_STAGES * stage_elems);
  const uint32_t cs_s = (uint32_t)__cvta_generic_to_shared(cs), ns_s = (uint32_t)__cvta_generic_to_shared(ns);
  const int blocks = (int)((S + R16_TOKENS - 1) / R16_TOKENS); // token blocks a slice
  const int tiles = (C + R16_CENTROIDS - 1) / R16_CENTROIDS;   // <= Cpad / R16_CENTROIDS
  int item = blockIdx.x;
  if (item >= items) return;
  const int total = (items - item + gridDim.x - 1) / gridDim.x * tiles; // this block's tile stream
  const int lc = threadIdx.x % R16_CHUNKS(DP), lr = threadIdx.x / R16_CHUNKS(DP);
  const uint32_t ld_s = 2 * ((lc / (DP / 8)) * DP * R16_CENTROIDS + sw128_at<R16_CENTROIDS>(lr, 8 * (lc % (DP / 8))));
  const int ld_g = lr * 2 * DP + 8 * lc;
  int ld_tile = 0, ld_stage = 0, ld_item = item; // the next tile to load
  x16_load_tile<R16_TOKENS, DP, R16_THREADS>(x, item / blocks, (int64_t)(item % blocks) * R16_TOKENS, S, D, xs);
  r16_load_next<DP>(cs_s, ns_s, ct, np, Cpad, blocks, tiles, ld_s, ld_g, ld_tile, ld_item, ld_stage); // x in its group
  const int wg = threadIdx.x / 128, warp = (threadIdx.x / 32) % 4, lane = threadIdx.x % 32, q = lane % 4;
  uint32_t xa[DP / 16][4]; // this warp's 16 tokens x DP as A fragments
  float best[2] = {INFINITY, INFINITY}; // rows 64 wg + 16 warp + lane / 4 (+ 8)
  int best_c[2] = {0x7fffffff, 0x7fffffff};
  float acc[64];
#pragma unroll
  for (int j = 0; j < 64; j++) acc[j] = 0.0f; // every tile's first product ignores it (scale_d 0)
  int i = 0, s = 0; // tile i of the current item, in stage s
  for (int g = 0; g < total; g++) {
    cp_async_wait<0>();  // tile g (an item's first: its x too)
    fence_proxy_async(); // the tiles written by cp.async, for wgmma's reads
    __syncthreads();     // tile g (and xs) visible; every warpgroup done with tile g - 1's stage
    if (i == 0) {
      // ldmatrix x4: matrices (rows 0-7 | 8-15) x (k 0-7 | 8-15) of the warp's rows: the A layout
      const int mi = lane / 8, rr = lane % 8, row = 64 * wg + 16 * warp + rr + 8 * (mi & 1);
#pragma unroll
      for (int kk = 0; kk < DP / 16; kk++) ldsm_x4(xa[kk], xs + sw128_at<R16_TOKENS>(row, 16 * kk + 8 * (mi >> 1)));
      const int next = item + gridDim.x;
      if (next < items) { // the next item's x, once every warp has its fragments (in tile g + 1's group)
        __syncthreads();
        r16_load_x<DP>(x, next, blocks, S, D, xs);
      }
    }
    if (g + 1 < total) r16_load_next<DP>(cs_s, ns_s, ct, np, Cpad, blocks, tiles, ld_s, ld_g, ld_tile, ld_item, ld_stage);
    const uint32_t hi_addr = cs_s + 2 * s * stage_elems;
    const uint32_t lo_addr = hi_addr + DP * R16_CENTROIDS * 2;
#pragma unroll
    for (int j = 0; j < 64; j++) reg_fence(acc[j]);
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < DP / 16; kk++) {
      r16_mma<F16>(acc, xa[kk], gmma_desc(hi_addr + (kk >> 2) * R16_CENTROIDS * 128 + (kk & 3) * 32, 16, 1024), kk != 0);
      r16_mma<F16>(acc, xa[kk], gmma_desc(lo_addr + (kk >> 2) * R16_CENTROIDS * 128 + (kk & 3) * 32, 16, 1024), 1);
    }
    wgmma_commit();
    wgmma_wait<0>();
#pragma unroll
    for (int j = 0; j < 64; j++) reg_fence(acc[j]);
    // acc[4 n + j]: row 16 warp + lane / 4 + 8 (j / 2), centroid 8 n + 2 q + j % 2 of the tile;
    // score |c|^2 - 2 x . c in one rounding (2 x . c is exact); the centroids rise within the
    // thread, so a strict < keeps the lower one of a tie, in the tile and against the earlier tiles
    const float *nsi = ns + s * R16_CENTROIDS;
    float tb[2] = {INFINITY, INFINITY};
    int ti[2] = {0, 0};
#pragma unroll
    for (int n = 0; n < R16_CENTROIDS / 8; n++) {
      const float2 nc = *(const float2 *)(nsi + 8 * n + 2 * q);
#pragma unroll
      for (int j = 0; j < 4; j++) {
        const float sc = fmaf(-2.0f, acc[4 * n + j], j % 2 ? nc.y : nc.x);
        if (sc < tb[j / 2]) tb[j / 2] = sc, ti[j / 2] = 8 * n + j % 2;
      }
    }
#pragma unroll
    for (int h = 0; h < 2; h++)
      if (tb[h] < best[h]) best[h] = tb[h], best_c[h] = i * R16_CENTROIDS + 2 * q + ti[h];
    if (++s == R16_STAGES) s = 0;
    if (++i < tiles) continue;
    // the item's last tile: the quad's minimum of each row, written; the next item
    const int64_t bh = item / blocks, t0 = (int64_t)(item % blocks) * R16_TOKENS;
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
      best[h] = INFINITY, best_c[h] = 0x7fffffff;
    }
    i = 0, item += gridDim.x;
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
  int dev = 0, sms = 0; // persistent: one block an SM
  if ((e = cudaGetDevice(&dev)) != cudaSuccess ||
      (e = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev)) != cudaSuccess)
    return e;
  const int64_t items = a->bh * ((S + R16_TOKENS - 1) / R16_TOKENS); // < 2^31 (checked by the caller)
  const int64_t grid = items < sms ? items : sms;
  r16_kernel<DP, F16><<<(unsigned)grid, R16_THREADS, shared, stream>>>(x, ct, np, S, C, (int)a->dim, Cpad, (int)items,
                                                                       assign);
  return cudaGetLastError();
}

extern "C" size_t vdit_attn_cuda_cluster_assign_floats(int64_t bh, int C) {
  return (size_t)(bh * a16_cpad(C) * (128 + 1)); // (Cpad, 2 DP) 16-bit rows and Cpad norms, DP <= 128
}

extern "C" cudaError_t vdit_attn_cuda_cluster_assign(const vdit_attn_cuda_cluster_args *a, vdit_attn_cuda_cluster_x16 x, int64_t S,
                                                     int C, const float *centroids, int32_t *assign, cudaStream_t stream) {
  if (a->bh == 0 || S == 0) return cudaSuccess;
  if (a->dim < 1 || a->dim > 128 || C < 1 || a->bh > 65535 || !a->assign_work ||
      a->bh * ((S + R16_TOKENS - 1) / R16_TOKENS) * ((C + 127) / 128) > 0x7fffffff) // items and tile streams in int
    return cudaErrorInvalidValue;
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
