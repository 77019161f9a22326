// SpargeAttention2's mask prediction on the GPU: the CPU predictor (src/attn/sparge_mask.c)
// step for step, with every sum in the order sparge_exact.h fixes, so the maps are identical.
// Threads of the stats kernels: 8 slots x L lanes (L = D / 8, D a power of two in 8..256),
// thread r * L + c holds channels 8c .. 8c + 7 of the tokens r, r + 8, ... of its block (one
// 16-byte load per token), so a warp reads 32 / L tokens per load, coalesced.
//   1. stats (pass 0)  grid (Q blocks + K blocks, B*H): block sums (slot partials, pairwise
//                      tree of the 8 slots in shared memory); Q blocks then finish: mean and
//                      self-similarity from the tokens kept in shared memory (dots: lane
//                      partials over 8 channels, butterfly over the L lanes); K blocks store
//                      their sums, and the last K block of each (b, h) to finish (atomic
//                      counter) sums K's global mean in block order
//   2. stats (pass 1)  grid (K blocks, B*H): K's smoothed means and self-similarities
//   3. scores          64 x 64 tiles of s_ij = scale * qmean_i . kmean_j per (b, h), a 4 x 4
//                      register tile per thread, the dot's chunk tree merged as chunks finish
//   4. select          per query block: candidates keyed (descending score, ascending index),
//                      bitonic sort in shared memory, Top-k count, Top-p prefix (exp in
//                      parallel, thread 0 sums in rank order), bitmap row and row count
//   5. scan + fill     offsets and ascending column lists (attn_block_map.cu)
#include "attn/cuda/attn_block_map.cuh"
#include "attn/cuda/attn_cuda_common.cuh"
#include "attn/sparge_exact.h"

static size_t align256(size_t n) { return (n + 255) & ~(size_t)255; }

#define SPARGE_TILE 64     // score tile (query blocks x key blocks)
#define SPARGE_SELECT 256  // threads of the select kernel

// Workspace pieces, 256-byte aligned, in this order.
struct sparge_workspace {
  float *sums, *means, *sims, *kglobal, *scores;
  int *counters;
  unsigned char *bitmap;
};

static sparge_workspace sparge_carve(const vdit_attn_cuda_sparge_args *a, void *base, size_t *bytes) {
  const size_t blocks = (size_t)a->BH * (size_t)(a->q_blocks + a->k_blocks);
  const size_t cells = (size_t)a->BH * a->q_blocks * a->k_blocks;
  const size_t sizes[7] = {blocks * a->D * sizeof(float), blocks * a->D * sizeof(float), blocks * sizeof(float),
                           (size_t)a->BH * a->D * sizeof(float), cells * sizeof(float), (size_t)a->BH * sizeof(int), cells};
  char *p = (char *)base;
  void *at[7];
  size_t off = 0;
  for (int i = 0; i < 7; i++) {
    at[i] = p ? p + off : NULL;
    off += align256(sizes[i]);
  }
  if (bytes) *bytes = off + 256;
  sparge_workspace w = {(float *)at[0], (float *)at[1], (float *)at[2], (float *)at[3], (float *)at[4], (int *)at[5],
                        (unsigned char *)at[6]};
  return w;
}

extern "C" size_t vdit_attn_cuda_sparge_workspace_bytes(const vdit_attn_cuda_sparge_args *a) {
  size_t bytes = 0;
  sparge_carve(a, NULL, &bytes);
  return bytes;
}

// (is_k, pointer offset of token 0 of the (b, h) slice, token stride, first token, block tokens)
struct block_ref {
  int is_k;
  int64_t base, ss;
  int t0, n;
};

static __device__ __forceinline__ block_ref block_of(const vdit_attn_cuda_sparge_args &a, int blk, int bh) {
  const int b = bh / a.H, h = bh % a.H;
  block_ref r;
  r.is_k = blk >= a.q_blocks;
  if (!r.is_k) {
    r.base = b * a.q_sb + h * a.q_sh;
    r.ss = a.q_ss;
    r.t0 = blk * a.block_q;
    r.n = min(a.block_q, a.Sq - r.t0);
  } else {
    r.base = b * a.k_sb + h * a.k_sh;
    r.ss = a.k_ss;
    r.t0 = (blk - a.q_blocks) * a.block_k;
    r.n = min(a.block_k, a.Sk - r.t0);
  }
  return r;
}

template <typename T> static __device__ __forceinline__ void unpack8(uint4 raw, float *v) {
  const T *h = reinterpret_cast<const T *>(&raw);
#pragma unroll
  for (int e = 0; e < 8; e++) v[e] = attn_dtype_traits<T>::to_float(h[e]);
}

// Sum over the L lanes of a group (aligned, L a power of two <= 32) with ascending offsets;
// `lanes` the warp's lanes taking part (the whole block when it has fewer than 32 threads).
static __device__ __forceinline__ float group_tree(float part, int L, unsigned lanes) {
  for (int off = 1; off < L; off <<= 1) part = __fadd_rn(part, __shfl_xor_sync(lanes, part, off));
  return part;
}

// Dot of 8 channels of x with 8 of y, in channel order.
static __device__ __forceinline__ float dot8(const float *x, const float *y) {
  float p = 0.0f;
#pragma unroll
  for (int e = 0; e < 8; e++) p = __fadd_rn(p, __fmul_rn(x[e], y[e]));
  return p;
}

// Shared memory of the stats kernel: tokens (cached 16-byte chunks, [token / 8][thread]),
// slot partials [8][D], mean [D], shift [D], slot cosines [8].
static size_t stats_smem_bytes(int D, int max_block) {
  return (size_t)((max_block + 7) / 8) * (size_t)(D) * 16 + (size_t)(10 * D + 8) * sizeof(float);
}

// pass 0: every block's sums; Q blocks also their stats; the last K block of a (b, h) its
// global mean. pass 1: K blocks' stats (grid.x = K blocks).
template <typename T>
static __global__ void __launch_bounds__(256) sparge_stats_kernel(const vdit_attn_cuda_sparge_args a, sparge_workspace w, int pass) {
  extern __shared__ __align__(16) unsigned char smem[];
  const int L = a.D >> 3, D = a.D, tid = threadIdx.x, slot = tid / L, c = tid % L;
  const int bh = blockIdx.y, blk = pass ? a.q_blocks + blockIdx.x : blockIdx.x;
  const block_ref r = block_of(a, blk, bh);
  const int per_slot = (r.n + 7) >> 3, max_per_slot = ((a.block_q > a.block_k ? a.block_q : a.block_k) + 7) >> 3;
  uint4 *cache = reinterpret_cast<uint4 *>(smem);
  float *part = reinterpret_cast<float *>(cache + (size_t)max_per_slot * blockDim.x);
  float *mean = part + 8 * D, *shift = mean + D, *cosines = shift + D;
  __shared__ int last;
  const int64_t pair = (int64_t)bh * (a.q_blocks + a.k_blocks);
  const T *x = reinterpret_cast<const T *>(r.is_k ? a.k : a.q) + r.base + (int64_t)8 * c;
  // tokens into shared memory, with the slot sums on pass 0
  float sum[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (int m = 0; m < per_slot; m++) {
    const int t = slot + 8 * m;
    if (t >= r.n) break;
    const uint4 raw = *reinterpret_cast<const uint4 *>(x + (int64_t)(r.t0 + t) * r.ss);
    cache[(size_t)m * blockDim.x + tid] = raw;
    if (!pass) {
      float v[8];
      unpack8<T>(raw, v);
#pragma unroll
      for (int e = 0; e < 8; e++) sum[e] = __fadd_rn(sum[e], v[e]);
    }
  }
  if (!pass) {
#pragma unroll
    for (int e = 0; e < 8; e++) part[slot * D + 8 * c + e] = sum[e];
  }
  __syncthreads();
  if (!pass) {
    for (int d = tid; d < D; d += blockDim.x) {
      float s[SPARGE_SLOTS];
#pragma unroll
      for (int q = 0; q < SPARGE_SLOTS; q++) s[q] = part[q * D + d];
      const float total = sparge_tree(s, SPARGE_SLOTS);
      w.sums[(pair + blk) * D + d] = total;
      mean[d] = __fdiv_rn(total, (float)r.n);
      shift[d] = 0.0f;
    }
    if (r.is_k) { // sums only; the last K block of this (b, h) forms the global mean
      __threadfence();
      __syncthreads();
      if (tid == 0) last = atomicAdd(&w.counters[bh], 1) == a.k_blocks - 1;
      __syncthreads();
      if (!last) return;
      __threadfence();
      for (int d = tid; d < D; d += blockDim.x) {
        float total = 0.0f;
        for (int j = 0; j < a.k_blocks; j++) total = __fadd_rn(total, __ldcg(&w.sums[(pair + a.q_blocks + j) * D + d]));
        w.kglobal[(int64_t)bh * D + d] = __fdiv_rn(total, (float)a.Sk);
      }
      return;
    }
  } else {
    for (int d = tid; d < D; d += blockDim.x) {
      const float g = w.kglobal[(int64_t)bh * D + d];
      shift[d] = g;
      mean[d] = __fsub_rn(__fdiv_rn(w.sums[(pair + blk) * D + d], (float)r.n), g);
    }
  }
  __syncthreads();
  for (int d = tid; d < D; d += blockDim.x) w.means[(pair + blk) * D + d] = mean[d];
  // self-similarity: every group of L lanes forms |mean|^2, then the cosines of its tokens
  float m8[8], g8[8];
#pragma unroll
  for (int e = 0; e < 8; e++) {
    m8[e] = mean[8 * c + e];
    g8[e] = shift[8 * c + e];
  }
  const unsigned lanes = blockDim.x >= 32 ? 0xffffffffu : (1u << blockDim.x) - 1u;
  const float norm2_mean = group_tree(dot8(m8, m8), L, lanes);
  float acc = 0.0f;
  for (int m = 0; m < per_slot; m++) {
    const int t = slot + 8 * m;
    // whole groups stay in step for the shuffles: a slot past the block's end adds nothing
    float v[8];
    unpack8<T>(t < r.n ? cache[(size_t)m * blockDim.x + tid] : make_uint4(0, 0, 0, 0), v);
    if (r.is_k) {
#pragma unroll
      for (int e = 0; e < 8; e++) v[e] = __fsub_rn(v[e], g8[e]);
    }
    const float dot = group_tree(dot8(v, m8), L, lanes), n2 = group_tree(dot8(v, v), L, lanes);
    if (t < r.n) acc = __fadd_rn(acc, sparge_cosine(dot, n2, norm2_mean));
  }
  if (c == 0) cosines[slot] = acc;
  __syncthreads();
  if (tid == 0) {
    float s[SPARGE_SLOTS];
#pragma unroll
    for (int q = 0; q < SPARGE_SLOTS; q++) s[q] = cosines[q];
    w.sims[pair + blk] = __fdiv_rn(sparge_tree(s, SPARGE_SLOTS), (float)r.n);
  }
}

static constexpr int sparge_log2(int n) { return n <= 1 ? 0 : 1 + sparge_log2(n / 2); }

// Scores of a 64 x 64 tile (query blocks i0.., key blocks j0..) of one (b, h); 256 threads,
// thread (ty, tx) the 4 x 4 scores i0 + ty + 16 a, j0 + tx + 16 b. Shared: both tiles of means,
// rows padded to D + 1 floats (conflict-free column reads). CHUNKS = D / 8.
template <int CHUNKS>
static __global__ void __launch_bounds__(256) sparge_scores_kernel(const vdit_attn_cuda_sparge_args a, sparge_workspace w) {
  constexpr int D = 8 * CHUNKS, P = D + 1;
  extern __shared__ float tiles[];
  float *qs = tiles, *ks = tiles + SPARGE_TILE * P;
  const int bh = blockIdx.z, i0 = blockIdx.y * SPARGE_TILE, j0 = blockIdx.x * SPARGE_TILE, tid = threadIdx.x;
  const int tx = tid & 15, ty = tid >> 4;
  const int64_t pair = (int64_t)bh * (a.q_blocks + a.k_blocks);
  for (int e = tid; e < SPARGE_TILE * D; e += 256) {
    const int row = e / D, d = e % D;
    qs[row * P + d] = i0 + row < a.q_blocks ? w.means[(pair + i0 + row) * D + d] : 0.0f;
    ks[row * P + d] = j0 + row < a.k_blocks ? w.means[(pair + a.q_blocks + j0 + row) * D + d] : 0.0f;
  }
  __syncthreads();
  constexpr int LEVELS = sparge_log2(CHUNKS) + 1;
  float stack[4][4][LEVELS];
#pragma unroll
  for (int c = 0; c < CHUNKS; c++) {
    float p[4][4];
#pragma unroll
    for (int u = 0; u < 4; u++)
#pragma unroll
      for (int v = 0; v < 4; v++) p[u][v] = 0.0f;
#pragma unroll
    for (int e = 0; e < 8; e++) {
      float qv[4], kv[4];
#pragma unroll
      for (int u = 0; u < 4; u++) qv[u] = qs[(ty + 16 * u) * P + 8 * c + e];
#pragma unroll
      for (int v = 0; v < 4; v++) kv[v] = ks[(tx + 16 * v) * P + 8 * c + e];
#pragma unroll
      for (int u = 0; u < 4; u++)
#pragma unroll
        for (int v = 0; v < 4; v++) p[u][v] = __fadd_rn(p[u][v], __fmul_rn(qv[u], kv[v]));
    }
    // pairwise tree as chunks finish: chunk c merges with the pending left sums of its trailing set bits
#pragma unroll
    for (int u = 0; u < 4; u++)
#pragma unroll
      for (int v = 0; v < 4; v++) {
        float xsum = p[u][v];
        int level = 0;
#pragma unroll
        for (; level < LEVELS - 1 && ((c >> level) & 1); level++) xsum = __fadd_rn(stack[u][v][level], xsum);
        stack[u][v][level] = xsum;
      }
  }
  constexpr int TOP = LEVELS - 1;
#pragma unroll
  for (int u = 0; u < 4; u++)
#pragma unroll
    for (int v = 0; v < 4; v++) {
      const int i = i0 + ty + 16 * u, j = j0 + tx + 16 * v;
      if (i < a.q_blocks && j < a.k_blocks)
        w.scores[((int64_t)bh * a.q_blocks + i) * a.k_blocks + j] = __fmul_rn(stack[u][v][TOP], a.scale);
    }
}

// Sort key: ascending key = descending score, then ascending index; forced blocks last.
static __device__ __forceinline__ unsigned long long rank_key(float score, int j, int forced) {
  if (score == 0.0f) score = 0.0f; // -0 ties with +0, as on the CPU
  const unsigned bits = __float_as_uint(score);
  const unsigned ordered = (bits & 0x80000000u) ? ~bits : bits | 0x80000000u; // ascending with the score
  const unsigned hi = forced ? 0xffffffffu : ~ordered;
  return ((unsigned long long)hi << 32) | (unsigned)j;
}

// One query block per thread block; shared: keys[n2] (n2 = power of two >= k_blocks), exps[k_blocks].
static __global__ void __launch_bounds__(SPARGE_SELECT) sparge_select_kernel(const vdit_attn_cuda_sparge_args a, sparge_workspace w, int n2) {
  extern __shared__ unsigned long long keys[];
  float *exps = reinterpret_cast<float *>(keys + n2);
  __shared__ int candidates_s, keep_s;
  const int nk = a.k_blocks, i = blockIdx.x, bh = blockIdx.y, tid = threadIdx.x;
  const int h = bh % a.H;
  const vdit_attn_sparge_head p = a.per_head ? a.head_table[h] : a.params;
  const int64_t pair = (int64_t)bh * (a.q_blocks + a.k_blocks);
  const int64_t row = (int64_t)bh * a.q_blocks + i;
  unsigned char *bits = w.bitmap + row * nk;
  if (w.sims[pair + i] < p.theta) { // a dissimilar query block computes every key block
    for (int j = tid; j < nk; j += SPARGE_SELECT) bits[j] = 1;
    if (tid == 0) a.row_offsets[row + 1] = nk;
    return;
  }
  if (tid == 0) candidates_s = 0;
  __syncthreads();
  const float *scores = w.scores + row * nk;
  int mine = 0;
  for (int j = tid; j < n2; j += SPARGE_SELECT) {
    if (j < nk) {
      const int forced = w.sims[pair + a.q_blocks + j] < p.theta || (a.sink && j == 0);
      keys[j] = rank_key(scores[j], j, forced);
      mine += !forced;
    } else {
      keys[j] = ~0ull;
    }
  }
  atomicAdd(&candidates_s, mine);
  // bitonic sort, ascending
  for (int size = 2; size <= n2; size <<= 1)
    for (int stride = size >> 1; stride > 0; stride >>= 1) {
      __syncthreads();
      for (int e = tid; e < n2 / 2; e += SPARGE_SELECT) {
        const int lo = 2 * e - (e & (stride - 1)), hi = lo + stride;
        const unsigned long long x = keys[lo], y = keys[hi];
        const bool up = (lo & size) == 0;
        if ((x > y) == up) {
          keys[lo] = y;
          keys[hi] = x;
        }
      }
    }
  __syncthreads();
  const int n = candidates_s;
  const int topp = a.rule != VDIT_ATTN_SPARGE_TOPK && p.topp > 0.0f && n > 0;
  if (topp) {
    const float top = scores[keys[0] & 0xffffffffu];
    for (int c = tid; c < n; c += SPARGE_SELECT) exps[c] = sparge_exp(__fsub_rn(scores[keys[c] & 0xffffffffu], top));
    __syncthreads();
  }
  if (tid == 0) {
    int keep = a.rule != VDIT_ATTN_SPARGE_TOPP ? sparge_topk_count(p.topk, nk) : 0;
    if (topp) {
      float total = 0.0f;
      for (int c = 0; c < n; c++) total = __fadd_rn(total, exps[c]);
      const float target = __fmul_rn(p.topp, total);
      int c = 0;
      float cum = exps[0];
      while (c < n - 1 && cum < target) {
        c++;
        cum = __fadd_rn(cum, exps[c]);
      }
      if (c + 1 > keep) keep = c + 1;
    }
    keep_s = min(keep, n);
    a.row_offsets[row + 1] = keep_s + (nk - n);
  }
  __syncthreads();
  // rank c < keep: kept candidate; c >= n: forced
  for (int c = tid; c < nk; c += SPARGE_SELECT) bits[keys[c] & 0xffffffffu] = (unsigned char)(c < keep_s || c >= n);
}

template <typename T> static cudaError_t sparge_launch(const vdit_attn_cuda_sparge_args *a, void *workspace, cudaStream_t stream) {
  if (a->BH == 0 || a->q_blocks == 0) return cudaSuccess;
  const sparge_workspace w = sparge_carve(a, workspace, NULL);
  cudaError_t err = cudaMemsetAsync(w.counters, 0, (size_t)a->BH * sizeof(int), stream);
  if (err != cudaSuccess) return err;
  const int threads = a->D; // 8 slots x D / 8 lanes
  const int max_block = a->block_q > a->block_k ? a->block_q : a->block_k;
  const size_t stats_smem = stats_smem_bytes(a->D, max_block);
  if (stats_smem > 48 * 1024) {
    err = cudaFuncSetAttribute(sparge_stats_kernel<T>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)stats_smem);
    if (err != cudaSuccess) return err;
  }
  sparge_stats_kernel<T><<<dim3((unsigned)(a->q_blocks + a->k_blocks), (unsigned)a->BH), threads, stats_smem, stream>>>(*a, w, 0);
  if (a->k_blocks > 0)
    sparge_stats_kernel<T><<<dim3((unsigned)a->k_blocks, (unsigned)a->BH), threads, stats_smem, stream>>>(*a, w, 1);
  if (a->k_blocks > 0) {
    const size_t tile_smem = (size_t)2 * SPARGE_TILE * (a->D + 1) * sizeof(float);
    const dim3 grid((unsigned)((a->k_blocks + SPARGE_TILE - 1) / SPARGE_TILE), (unsigned)((a->q_blocks + SPARGE_TILE - 1) / SPARGE_TILE),
                    (unsigned)a->BH);
#define SPARGE_SCORES(CH)                                                                                                  \
  case 8 * CH:                                                                                                             \
    err = cudaFuncSetAttribute(sparge_scores_kernel<CH>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)tile_smem);     \
    if (err != cudaSuccess) return err;                                                                                    \
    sparge_scores_kernel<CH><<<grid, 256, tile_smem, stream>>>(*a, w);                                                     \
    break;
    switch (a->D) {
      SPARGE_SCORES(1)
      SPARGE_SCORES(2)
      SPARGE_SCORES(4)
      SPARGE_SCORES(8)
      SPARGE_SCORES(16)
      SPARGE_SCORES(32)
      default: return cudaErrorInvalidValue;
    }
#undef SPARGE_SCORES
  }
  int n2 = 1;
  while (n2 < a->k_blocks) n2 <<= 1;
  const size_t select_smem = (size_t)n2 * sizeof(unsigned long long) + (size_t)a->k_blocks * sizeof(float);
  if (select_smem > 48 * 1024) {
    err = cudaFuncSetAttribute(sparge_select_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)select_smem);
    if (err != cudaSuccess) return err;
  }
  sparge_select_kernel<<<dim3((unsigned)a->q_blocks, (unsigned)a->BH), SPARGE_SELECT, select_smem, stream>>>(*a, w, n2);
  err = cudaGetLastError();
  if (err != cudaSuccess) return err;
  vdit_attn_cuda_map m = {a->BH, a->q_blocks, a->k_blocks, a->row_offsets, a->col_index};
  return vdit_attn_cuda_bitmap_to_map(w.bitmap, &m, 0, 1, stream);
}

extern "C" int vdit_attn_cuda_sparge_fits(const vdit_attn_cuda_sparge_args *a) {
  const int max_block = a->block_q > a->block_k ? a->block_q : a->block_k;
  const int d_ok = a->D >= 8 && a->D <= 256 && (a->D & (a->D - 1)) == 0;
  const int aligned = ((uintptr_t)a->q % 16) == 0 && ((uintptr_t)a->k % 16) == 0 && a->q_sb % 8 == 0 && a->q_ss % 8 == 0 &&
                      a->q_sh % 8 == 0 && a->k_sb % 8 == 0 && a->k_ss % 8 == 0 && a->k_sh % 8 == 0;
  return d_ok && aligned && a->k_blocks <= 8192 && stats_smem_bytes(a->D, max_block) <= 200 * 1024;
}

extern "C" cudaError_t vdit_attn_cuda_sparge(const vdit_attn_cuda_sparge_args *a, void *workspace, cudaStream_t stream) {
  if (a->dtype == VDIT_DTYPE_BF16) return sparge_launch<__nv_bfloat16>(a, workspace, stream);
  return sparge_launch<__half>(a, workspace, stream);
}
