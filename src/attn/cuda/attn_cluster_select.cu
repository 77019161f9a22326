// Clustered attention's selection (step 4 of src/attn/cluster.h) on the GPU, with the CPU's
// results: the same order (key descending, ties to the lower index), the same float sums and
// the same bisection, so the pair scores never cross PCIe.
//   ear: pairs in order of key = score / cols_j; the CPU takes each pair whose cost still fits
//        (skipping the others). A cost-weighted radix select over the 64-bit sort key
//        ((~ordered key bits) << 32 | pair) finds T, the first pair whose inclusive prefix cost
//        exceeds the budget: every pair before T is taken; after T only pairs cheaper than the
//        remaining budget can fit, and since the remaining budget is below T's cost (<= 128 x 128)
//        those are ragged edge tiles (the last query tile's row, the last key tile's column),
//        taken one by one in order with block-wide minimum searches over those qt + kt - 1 pairs.
//        The 32-bit key halves and the 16-bit pair costs are formed first by one wide kernel.
//        Each 8-bit radix pass runs over every SM (blocks of RADIX_CHUNK pairs per head, a
//        shared histogram each, added into the head's global histogram of that pass); each
//        block first replays the digits of the passes before from their histograms (one warp,
//        the same choice as the serial scan), so no pass needs a kernel of its own to choose.
//        Passes over pair-index bytes that are zero for every pair (n <= 2^16: bits 16-31) are
//        skipped: their digit is 0. (At S = 32760, 12 heads: 0.31 -> 0.16 ms for the select step
//        against the previous one block per head, H200, round 13.)
//   svg: per (query tile, b, h) one block sorts the row (bitonic, in shared memory) and sums
//        the cumulative mass in order on one thread; then per (b, h) one block bisects p
//        (30 steps, as the CPU) and writes the kept tiles.
#include "attn/cuda/attn_block_map.cuh"
#include "attn/cuda/attn_cluster.h"

#define SELECT_TILE 128
#define SELECT_THREADS 1024
#define RADIX_CHUNK 4096  // pairs a block of a radix pass
#define RADIX_THREADS 256
#define RADIX_PASSES 8    // 8-bit digits of the 64-bit key

static __device__ __forceinline__ int64_t tile_len(int64_t t, int64_t S) {
  const int64_t rest = S - t * SELECT_TILE;
  return rest < SELECT_TILE ? rest : SELECT_TILE;
}

// Ascending order of the result = descending key, then ascending index.
static __device__ __forceinline__ unsigned long long sort_key(float key, int64_t index) {
  unsigned u = __float_as_uint(key);
  u ^= (u >> 31) ? 0xffffffffu : 0x80000000u; // order-preserving
  return ((unsigned long long)(~u) << 32) | (unsigned long long)(uint32_t)index;
}

static __device__ unsigned long long block_min_u64(unsigned long long v, unsigned long long *red) {
  for (int o = 16; o > 0; o /= 2) {
    const unsigned long long other = __shfl_xor_sync(0xffffffffu, v, o);
    v = other < v ? other : v;
  }
  if (threadIdx.x % 32 == 0) red[threadIdx.x / 32] = v;
  __syncthreads();
  unsigned long long r = red[0];
  for (int w = 1; w < (int)(blockDim.x / 32); w++) r = red[w] < r ? red[w] : r;
  __syncthreads();
  return r;
}

static __device__ long long block_sum_i64(long long v, long long *red) {
  for (int o = 16; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
  if (threadIdx.x % 32 == 0) red[threadIdx.x / 32] = v;
  __syncthreads();
  long long r = 0;
  for (int w = 0; w < (int)(blockDim.x / 32); w++) r += red[w];
  __syncthreads();
  return r;
}

// ear's keys once, over all SMs: key_hi[bh][e] = the upper half of sort_key(score / cols_j, e)
// (the lower half is e itself) and cost[bh][e] = rows_i x cols_j (<= 128 x 128 fits 16 bits),
// so the per-head select below reads 6 bytes a pair per pass and does no division.
static __global__ void ear_keys_kernel(const float *__restrict__ score, int qt, int kt, int64_t Sq, int64_t Sk, int64_t total,
                                       uint32_t *__restrict__ key_hi, unsigned short *__restrict__ cost) {
  const int64_t x = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (x >= total) return;
  const uint32_t e = (uint32_t)(x % ((int64_t)qt * kt)), i = e / (uint32_t)kt, j = e % (uint32_t)kt;
  key_hi[x] = (uint32_t)(sort_key(score[x] / (float)tile_len(j, Sk), 0) >> 32);
  cost[x] = (unsigned short)(tile_len(i, Sq) * tile_len(j, Sk));
}

// ---------------------------------------------------------------- ear on every SM
// The passes actually run: shift[p] of the digit pass p chooses (56, 48, ..., 0, less the
// all-zero pair-index bytes).
typedef struct ear_radix {
  int passes;
  int shift[RADIX_PASSES];
} ear_radix;

// One warp: the digits of passes 0 .. upto - 1 from their histograms hist (RADIX_PASSES x 256,
// one head), as the serial scan chooses them: in each pass the first bucket d (d < 255) where
// acc + hist[d] > allowed, else 255; acc gains the buckets before d. Lane l holds buckets
// 8 l .. 8 l + 7. Returns the prefix (digits in place) and acc in every lane.
static __device__ void ear_replay(const unsigned long long *__restrict__ hist, const ear_radix r, int upto, long long allowed,
                                  unsigned long long *prefix_out, long long *acc_out) {
  const int lane = threadIdx.x % 32;
  unsigned long long prefix = 0ull;
  long long acc = 0;
  for (int p = 0; p < upto; p++) {
    long long h[8], mine = 0;
#pragma unroll
    for (int k = 0; k < 8; k++) h[k] = (long long)hist[p * 256 + 8 * lane + k], mine += h[k];
    long long incl = mine; // inclusive prefix over the lanes
    for (int o = 1; o < 32; o *= 2) {
      const long long other = __shfl_up_sync(0xffffffffu, incl, o);
      if (lane >= o) incl += other;
    }
    long long run = acc + incl - mine;
    int found = -1;
    long long before = 0;
#pragma unroll
    for (int k = 0; k < 8; k++) {
      if (found < 0 && 8 * lane + k < 255 && run + h[k] > allowed) found = 8 * lane + k, before = run;
      run += h[k];
    }
    const unsigned ballot = __ballot_sync(0xffffffffu, found >= 0);
    int d;
    if (ballot) {
      const int first = __ffs(ballot) - 1;
      d = __shfl_sync(0xffffffffu, found, first);
      acc = __shfl_sync(0xffffffffu, before, first);
    } else { // bucket 255: acc + every bucket before it
      const long long all = __shfl_sync(0xffffffffu, incl, 31), last = __shfl_sync(0xffffffffu, h[7], 31);
      d = 255;
      acc = acc + all - last;
    }
    prefix |= (unsigned long long)d << r.shift[p];
  }
  *prefix_out = prefix, *acc_out = acc;
}

// Pass p over RADIX_CHUNK pairs of head blockIdx.y: the cost of the pairs whose key matches the
// prefix so far, by their digit at shift[p], into hist[bh][p].
static __global__ void __launch_bounds__(RADIX_THREADS) ear_radix_kernel(const uint32_t *__restrict__ key_hi,
                                                                        const unsigned short *__restrict__ cost_of, int64_t n,
                                                                        long long allowed, const ear_radix r, int p,
                                                                        unsigned long long *__restrict__ hist) {
  __shared__ unsigned hist32[256];
  __shared__ unsigned long long s_prefix;
  const int64_t bh = blockIdx.y;
  unsigned long long *hh = hist + bh * RADIX_PASSES * 256;
  if (threadIdx.x < 32) {
    unsigned long long prefix;
    long long acc;
    ear_replay(hh, r, p, allowed, &prefix, &acc);
    if (threadIdx.x == 0) s_prefix = prefix;
  }
  for (int d = threadIdx.x; d < 256; d += blockDim.x) hist32[d] = 0u;
  __syncthreads();
  const int shift = r.shift[p];
  const unsigned long long prefix = s_prefix;
  const unsigned long long high_mask = shift == 56 ? 0ull : ~0ull << (shift + 8);
  const uint32_t *kh = key_hi + bh * n;
  const unsigned short *co = cost_of + bh * n;
  const int64_t begin = (int64_t)blockIdx.x * RADIX_CHUNK;
  const int64_t end = begin + RADIX_CHUNK < n ? begin + RADIX_CHUNK : n;
  // a block's costs sum to <= RADIX_CHUNK x 2^14 < 2^32: 32-bit shared adds; a warp whose pairs
  // fall in one bucket (most of them in the first passes) adds once
  for (int64_t base = begin; base < end; base += blockDim.x) { // whole warps in every round
    const int64_t e = base + threadIdx.x;
    int bucket = -1;
    unsigned cost = 0;
    if (e < end) {
      const unsigned long long key = ((unsigned long long)kh[e] << 32) | (unsigned long long)(uint32_t)e;
      if ((key & high_mask) == prefix) bucket = (int)((key >> shift) & 255ull), cost = co[e];
    }
    const int first = __shfl_sync(0xffffffffu, bucket, 0);
    if (__all_sync(0xffffffffu, bucket == first)) {
      const unsigned sum = __reduce_add_sync(0xffffffffu, cost);
      if (threadIdx.x % 32 == 0 && first >= 0) atomicAdd(&hist32[first], sum);
    } else if (bucket >= 0) {
      atomicAdd(&hist32[bucket], cost);
    }
  }
  __syncthreads();
  for (int d = threadIdx.x; d < 256; d += blockDim.x)
    if (hist32[d]) atomicAdd(&hh[p * 256 + d], (unsigned long long)hist32[d]);
}

// After the passes: every pair before T (key < T) is taken, over every SM.
static __global__ void __launch_bounds__(RADIX_THREADS) ear_take_kernel(const uint32_t *__restrict__ key_hi, int64_t n,
                                                                       long long allowed, const ear_radix r,
                                                                       const unsigned long long *__restrict__ hist,
                                                                       unsigned char *__restrict__ selected) {
  __shared__ unsigned long long s_t;
  const int64_t bh = blockIdx.y;
  if (threadIdx.x < 32) {
    unsigned long long T;
    long long acc;
    ear_replay(hist + bh * RADIX_PASSES * 256, r, r.passes, allowed, &T, &acc);
    if (threadIdx.x == 0) s_t = T;
  }
  __syncthreads();
  const unsigned long long T = s_t;
  const uint32_t *kh = key_hi + bh * n;
  unsigned char *sel = selected + bh * n;
  const int64_t begin = (int64_t)blockIdx.x * RADIX_CHUNK;
  const int64_t end = begin + RADIX_CHUNK < n ? begin + RADIX_CHUNK : n;
  for (int64_t e = begin + threadIdx.x; e < end; e += blockDim.x)
    sel[e] = (((unsigned long long)kh[e] << 32) | (unsigned long long)(uint32_t)e) < T;
}

// One block per head: after T the pairs that still fit, one at a time in key order. The budget
// left is below T's cost (<= SELECT_TILE^2), so only ragged pairs can fit: the candidates are
// the last query tile's row and the last key tile's column (every other pair costs SELECT_TILE^2).
static __global__ void __launch_bounds__(RADIX_THREADS) ear_tail_kernel(const uint32_t *__restrict__ key_hi,
                                                                       const unsigned short *__restrict__ cost_of, int qt,
                                                                       int kt, long long allowed, const ear_radix r,
                                                                       const unsigned long long *__restrict__ hist,
                                                                       unsigned char *__restrict__ selected,
                                                                       long long *__restrict__ used) {
  __shared__ unsigned long long red[32];
  __shared__ unsigned long long s_t;
  __shared__ long long s_acc;
  const int64_t bh = blockIdx.x, n = (int64_t)qt * kt;
  if (threadIdx.x < 32) {
    unsigned long long T;
    long long acc;
    ear_replay(hist + bh * RADIX_PASSES * 256, r, r.passes, allowed, &T, &acc);
    if (threadIdx.x == 0) s_t = T, s_acc = acc;
  }
  __syncthreads();
  const uint32_t *kh = key_hi + bh * n;
  const unsigned short *co = cost_of + bh * n;
  unsigned char *sel = selected + bh * n;
  const int candidates = kt + qt - 1; // row qt - 1 (kt pairs), then column kt - 1 of rows 0 .. qt - 2
  long long cost = s_acc;
  unsigned long long last = s_t;
  for (;;) {
    const long long rest = allowed - cost;
    unsigned long long best = ~0ull;
    for (int c = threadIdx.x; c < candidates; c += blockDim.x) {
      const int64_t e = c < kt ? (int64_t)(qt - 1) * kt + c : (int64_t)(c - kt) * kt + (kt - 1);
      if ((long long)co[e] > rest) continue;
      const unsigned long long key = ((unsigned long long)kh[e] << 32) | (unsigned long long)(uint32_t)e;
      if (key > last && key < best) best = key;
    }
    best = block_min_u64(best, red);
    if (best == ~0ull) break;
    const int64_t e = (int64_t)(uint32_t)best;
    if (threadIdx.x == 0) sel[e] = 1;
    cost += co[e];
    last = best;
  }
  if (threadIdx.x == 0) used[bh] = cost;
}

// One block per (query tile i, bh): the row's key tiles by mass (descending, ties to the lower
// j) into order, the running sum into cum, and where tile kt - 1 landed. Shared: kp2 keys
// (kp2 = kt rounded up to a power of two).
static __global__ void svg_sort_kernel(const float *__restrict__ score, int qt, int kt, int kp2, int32_t *__restrict__ order,
                                       float *__restrict__ cum, int32_t *__restrict__ last_pos) {
  extern __shared__ unsigned long long keys[];
  const int64_t row = (int64_t)blockIdx.y * qt + blockIdx.x;
  const float *s = score + row * kt;
  for (int e = threadIdx.x; e < kp2; e += blockDim.x) keys[e] = e < kt ? sort_key(s[e], e) : ~0ull;
  __syncthreads();
  for (int size = 2; size <= kp2; size *= 2)
    for (int stride = size / 2; stride > 0; stride /= 2) {
      for (int e = threadIdx.x; e < kp2; e += blockDim.x) {
        const int partner = e ^ stride;
        if (partner > e) {
          const int ascending = (e & size) == 0;
          const unsigned long long x = keys[e], y = keys[partner];
          if ((x > y) == ascending) keys[e] = y, keys[partner] = x;
        }
      }
      __syncthreads();
    }
  int32_t *o = order + row * kt;
  for (int e = threadIdx.x; e < kt; e += blockDim.x) {
    const int32_t j = (int32_t)(uint32_t)keys[e];
    o[e] = j;
    if (j == kt - 1) last_pos[row] = e;
  }
  if (threadIdx.x == 0) {
    float total = 0.0f;
    float *c = cum + row * kt;
    for (int e = 0; e < kt; e++) c[e] = total += s[(uint32_t)keys[e]];
  }
}

// Kept count of a row for p (the CPU's svg_keep).
static __device__ int svg_keep_count(const float *c, int kt, float p, int floor_count) {
  int keep = 0;
  if (p > 0.0f) {
    const float target = p * c[kt - 1];
    int lo = 0, hi = kt - 1;
    while (lo < hi) {
      const int mid = (lo + hi) / 2;
      if (c[mid] >= target) hi = mid;
      else lo = mid + 1;
    }
    keep = lo + 1;
  }
  return keep < floor_count ? floor_count : keep;
}

static __device__ long long svg_cost(const float *cum, const int32_t *last_pos, int qt, int kt, int64_t Sq, int64_t Sk,
                                     float p, int floor_count, long long *red) {
  long long cost = 0;
  const int64_t last_len = tile_len(kt - 1, Sk);
  for (int i = threadIdx.x; i < qt; i += blockDim.x) {
    const int keep = svg_keep_count(cum + (int64_t)i * kt, kt, p, floor_count);
    const int64_t cols = (int64_t)keep * SELECT_TILE - (last_pos[i] < keep ? SELECT_TILE - last_len : 0);
    cost += tile_len(i, Sq) * cols;
  }
  return block_sum_i64(cost, red);
}

// One block per bh: p bisected (budget >= 0) or top_p, then the kept tiles.
static __global__ void __launch_bounds__(SELECT_THREADS) svg_select_kernel(const int32_t *__restrict__ order,
                                                                          const float *__restrict__ cum,
                                                                          const int32_t *__restrict__ last_pos, int qt,
                                                                          int kt, int64_t Sq, int64_t Sk, long long allowed,
                                                                          int bisect, float top_p, int floor_count,
                                                                          unsigned char *__restrict__ selected,
                                                                          long long *__restrict__ used, float *__restrict__ p_used) {
  __shared__ long long red[32];
  const int64_t bh = blockIdx.x;
  const float *c = cum + bh * qt * kt;
  const int32_t *lp = last_pos + bh * qt;
  float p = top_p;
  if (bisect) {
    float lo = 0.0f, hi = 1.0f;
    if (svg_cost(c, lp, qt, kt, Sq, Sk, 1.0f, floor_count, red) <= allowed) lo = 1.0f;
    else
      for (int it = 0; it < 30; it++) {
        const float mid = 0.5f * (lo + hi);
        if (svg_cost(c, lp, qt, kt, Sq, Sk, mid, floor_count, red) <= allowed) lo = mid;
        else hi = mid;
      }
    p = lo;
  }
  const long long cost = svg_cost(c, lp, qt, kt, Sq, Sk, p, floor_count, red);
  unsigned char *sel = selected + bh * qt * kt;
  for (int64_t e = threadIdx.x; e < (int64_t)qt * kt; e += blockDim.x) sel[e] = 0;
  __syncthreads();
  const int32_t *o = order + bh * qt * kt;
  for (int i = threadIdx.x; i < qt; i += blockDim.x) {
    const int keep = svg_keep_count(c + (int64_t)i * kt, kt, p, floor_count);
    for (int e = 0; e < keep; e++) sel[(int64_t)i * kt + o[(int64_t)i * kt + e]] = 1;
  }
  if (threadIdx.x == 0) used[bh] = cost, p_used[bh] = p;
}

extern "C" size_t vdit_attn_cuda_cluster_select_bytes(int64_t bh, int q_tiles, int k_tiles) {
  const size_t pairs = (size_t)bh * q_tiles * k_tiles;
  // svg: order, cum (pairs), last_pos, used, p; ear: key halves, costs (pairs x 6), then the
  // radix histograms (bh x 8 x 256 x 8 bytes) past the svg part
  return pairs * 8 + (size_t)bh * q_tiles * 4 + (size_t)bh * (8 + 4) + 64 + (size_t)bh * RADIX_PASSES * 256 * 8 + 16;
}

extern "C" cudaError_t vdit_attn_cuda_cluster_select(const vdit_attn_cuda_cluster_args *a, int ear, double budget,
                                                     float top_p, float min_fraction, void *work, int32_t *map_offsets,
                                                     int32_t *map_index, long long *used, float *p_used,
                                                     cudaStream_t stream) {
  const int64_t BH = a->bh, pairs = BH * a->q_tiles * a->k_tiles;
  const int qt = a->q_tiles, kt = a->k_tiles;
  unsigned char *selected = (unsigned char *)a->selected;
  if (BH == 0 || pairs == 0) return cudaSuccess;
  const vdit_attn_cuda_map map = {(int)BH, qt, kt, map_offsets, map_index};
  cudaError_t e;
  const long long allowed = budget < 0 ? 0 : (long long)floor(budget * (double)a->seq_q * (double)a->seq_k);
  // everything: the CPU's shortcut (svg's p reads 0), and ear when every pair fits (a head's
  // pairs cost Sq x Sk in all)
  if (budget >= 1.0 || (ear && allowed >= a->seq_q * a->seq_k)) {
    for (int64_t bh = 0; bh < BH; bh++) used[bh] = (long long)(a->seq_q * a->seq_k), p_used[bh] = 0.0f;
    if ((e = cudaMemsetAsync(selected, 1, (size_t)pairs, stream)) != cudaSuccess) return e;
    return vdit_attn_cuda_bitmap_to_map(selected, &map, 0, 0, stream);
  }
  int32_t *order = (int32_t *)work;
  float *cum = (float *)(order + pairs);
  int32_t *last_pos = (int32_t *)(cum + pairs);
  long long *used_d = (long long *)(((uintptr_t)(last_pos + BH * qt) + 15) & ~(uintptr_t)15);
  float *p_d = (float *)(used_d + BH);
  if (ear) {
    // the keys in the svg arrays' place: 4 + 2 bytes a pair of their 8
    uint32_t *key_hi = (uint32_t *)work;
    unsigned short *cost = (unsigned short *)(key_hi + pairs);
    ear_keys_kernel<<<(unsigned)((pairs + 255) / 256), 256, 0, stream>>>(a->score, qt, kt, a->seq_q, a->seq_k, pairs, key_hi,
                                                                        cost);
    if ((e = cudaGetLastError()) != cudaSuccess) return e;
    // a head's total cost Sq x Sk > allowed here: T exists
    const int64_t n = (int64_t)qt * kt;
    if (a->seq_q * a->seq_k > (1ll << 40) || BH > 65535) return cudaErrorInvalidValue;
    unsigned long long *hist = (unsigned long long *)(((uintptr_t)(p_d + BH) + 15) & ~(uintptr_t)15);
    ear_radix r;
    r.passes = 0;
    for (int shift = 56; shift >= 0; shift -= 8)
      if (shift >= 32 || shift == 0 || ((uint64_t)(n - 1) >> shift) != 0) r.shift[r.passes++] = shift;
    if ((e = cudaMemsetAsync(hist, 0, (size_t)BH * RADIX_PASSES * 256 * 8, stream)) != cudaSuccess) return e;
    const dim3 grid((unsigned)((n + RADIX_CHUNK - 1) / RADIX_CHUNK), (unsigned)BH);
    for (int p = 0; p < r.passes; p++) {
      ear_radix_kernel<<<grid, RADIX_THREADS, 0, stream>>>(key_hi, cost, n, allowed, r, p, hist);
      if ((e = cudaGetLastError()) != cudaSuccess) return e;
    }
    ear_take_kernel<<<grid, RADIX_THREADS, 0, stream>>>(key_hi, n, allowed, r, hist, selected);
    if ((e = cudaGetLastError()) != cudaSuccess) return e;
    ear_tail_kernel<<<(unsigned)BH, RADIX_THREADS, 0, stream>>>(key_hi, cost, qt, kt, allowed, r, hist, selected, used_d);
    if ((e = cudaGetLastError()) != cudaSuccess) return e;
    if ((e = cudaMemsetAsync(p_d, 0, (size_t)BH * sizeof(float), stream)) != cudaSuccess) return e;
  } else {
    int kp2 = 1;
    while (kp2 < kt) kp2 *= 2;
    if ((size_t)kp2 * 8 > 48 * 1024) return cudaErrorInvalidValue;
    svg_sort_kernel<<<dim3((unsigned)qt, (unsigned)BH), 256, (size_t)kp2 * 8, stream>>>(a->score, qt, kt, kp2, order, cum,
                                                                                      last_pos);
    if ((e = cudaGetLastError()) != cudaSuccess) return e;
    int floor_count = (int)ceil((double)min_fraction * kt - 1e-9);
    if (floor_count > kt) floor_count = kt;
    svg_select_kernel<<<(unsigned)BH, SELECT_THREADS, 0, stream>>>(order, cum, last_pos, qt, kt, a->seq_q, a->seq_k, allowed,
                                                                   budget >= 0, top_p, floor_count, selected, used_d, p_d);
    if ((e = cudaGetLastError()) != cudaSuccess) return e;
  }
  if ((e = vdit_attn_cuda_bitmap_to_map(selected, &map, 0, 0, stream)) != cudaSuccess) return e;
  if ((e = cudaMemcpyAsync(used, used_d, (size_t)BH * sizeof(long long), cudaMemcpyDeviceToHost, stream)) != cudaSuccess)
    return e;
  return cudaMemcpyAsync(p_used, p_d, (size_t)BH * sizeof(float), cudaMemcpyDeviceToHost, stream);
}
