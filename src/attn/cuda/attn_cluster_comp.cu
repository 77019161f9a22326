// Clustered attention's centroid compensation (step 5 of src/attn/cluster.h) as one fused
// tensor-core kernel: per permuted query row p of query tile i (slice bh), with n_c = the
// tokens of key cluster c in the key tiles row i skips (comp_count, one exponent per cluster:
// the fragments of one cluster share q . kbar_c),
//   m = max_c (q . kbar_c scale + log n_c),  w_c = n_c exp(q . kbar_c scale - m),
//   extra_max = m, extra_sum = sum_c w_c, extra_num (D) = sum_c w_c vbar_c,
// the softmax extras the executor starts each row from. It is a flash-attention forward of the
// query tile against the ck centroids (online max, 64 centroids a step) with log n_c added to
// the scores; no (Sq, ck) matrix is written (the GEMM path wrote G = 1.6 GB at S = 32760 and
// rewrote it, 5.1 ms on the H200).
//
// Tensor cores: mma.sync m16n8k16 in the input's 16-bit type (bf16, or fp16 for fp16 inputs),
// fp32 accumulation. Q holds 16-bit values (exact); Kbar enters as a hi + lo pair of that type
// (hi = rn(x), lo = rn(x - hi): 16 significant bits of x in bf16, 22 in fp16), so the scores are
// q . kbar to ~2^-16 of sum |q_d kbar_d|; Vbar is rounded to the 16-bit type once (2^-9 relative
// in bf16: the same rounding as the executor's V, whose values are 16-bit; its lo part, a
// quarter of the MMAs, changed the rel L1 against dense at the H200 bench shape in the sixth
// digit, 0.285526 -> 0.285527, and took the kernel 2.36 -> 2.05 ms, round 13); the weights
// w_c are rounded to the 16-bit type as the executor rounds its P (2^-9 relative in bf16, 2^-11
// in fp16), and extra_sum sums the rounded weights, so numerator and denominator use the same
// ones. Exponents in base 2: s2 = s scale log2(e) + log2(n_c) (ex2 / lg2), m = m2 ln 2.
// Shared per block (128 rows = one query tile, 8 warps of 16 rows): the Q tile, then
// double-buffered 64-centroid tiles of Kbar hi, lo, Vbar hi (cp.async, rows padded to DP
// columns by the split kernel; a fourth slot per buffer is left as it was timed) and their
// counts; only the 64-centroid chunks with a skipped token in the row are visited.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <math.h>

#include "attn/cuda/attn_cluster.h"
#include "attn/cuda/attn_cluster_async.cuh"
#include "vdit/attn.h"

#define COMP_WARPS 8
#define COMP_THREADS (32 * COMP_WARPS)
#define COMP_ROWS (16 * COMP_WARPS) // query rows a block: the routing tile
#define COMP_KEYS 64                // centroids a step
#define COMP_MAX_CHUNKS 128         // ck <= 8192

// ---------------------------------------------------------------- 16-bit helpers
template <int HALF>
struct comp_type;
template <>
struct comp_type<0> {
  typedef __nv_bfloat16 t;
  static __device__ __forceinline__ t from(float x) { return __float2bfloat16_rn(x); }
  static __device__ __forceinline__ float to(t x) { return __bfloat162float(x); }
  static __device__ __forceinline__ uint32_t pack(float lo, float hi) {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *(uint32_t *)&v;
  }
};
template <>
struct comp_type<1> {
  typedef __half t;
  static __device__ __forceinline__ t from(float x) { return __float2half_rn(x); }
  static __device__ __forceinline__ float to(t x) { return __half2float(x); }
  static __device__ __forceinline__ uint32_t pack(float lo, float hi) {
    __half2 v = __floats2half2_rn(lo, hi);
    return *(uint32_t *)&v;
  }
};

// ---------------------------------------------------------------- the split
// split (3 of 4 slots, BH, ck, DP) 16-bit: Kbar hi, Kbar lo, Vbar hi, zeros past D.
template <int HALF>
static __global__ void comp_split_kernel(const float *__restrict__ kc, const float *__restrict__ vm, int64_t rows, int D,
                                         int DP, typename comp_type<HALF>::t *__restrict__ split) {
  typedef comp_type<HALF> T;
  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x, n = rows * DP;
  if (i >= n) return;
  const int64_t r = i / DP;
  const int d = (int)(i % DP);
  const float k = d < D ? kc[r * D + d] : 0.0f, v = d < D ? vm[r * D + d] : 0.0f;
  const typename T::t kh = T::from(k), vh = T::from(v);
  split[i] = kh;
  split[n + i] = T::from(k - T::to(kh));
  split[2 * n + i] = vh;
}

// ---------------------------------------------------------------- the fused kernel
template <int DP>
static size_t comp_shared_bytes() {
  constexpr int LDH = DP + 8; // 16-bit elements a row: rows 16 bytes apart in banks, ldmatrix without conflicts
  return (size_t)(COMP_ROWS + 2 * 4 * COMP_KEYS) * LDH * 2 + 2 * COMP_KEYS * 4 + COMP_MAX_CHUNKS * 4;
}

// Block (query tile i, slice bh).
template <int DP, int HALF>
static __global__ void __launch_bounds__(COMP_THREADS) comp_fused_kernel(vdit_attn_cuda_cluster_args a,
                                                                        const typename comp_type<HALF>::t *split) {
  typedef comp_type<HALF> T;
  typedef typename T::t elem;
  constexpr int LDH = DP + 8;
  constexpr int TILE = COMP_KEYS * LDH; // one 64-centroid tile of one of the four arrays
  extern __shared__ float4 comp_shared[];
  elem *qs = (elem *)comp_shared;
  elem *kv = qs + COMP_ROWS * LDH;                 // [buf][4 arrays][COMP_KEYS][LDH]
  int32_t *cnt = (int32_t *)(kv + 2 * 4 * TILE);   // [buf][COMP_KEYS]
  int32_t *chunks = cnt + 2 * COMP_KEYS;           // the visited chunks
  __shared__ int chunk_count;
  const int i = blockIdx.x, D = (int)a.dim, ck = a.ck;
  const int64_t bh = blockIdx.y, Sq = a.seq_q;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, g = lane / 4, t = lane % 4;
  const int32_t *count = a.comp_count + (bh * a.q_tiles + i) * ck;
  const int64_t n_split = a.bh * ck * DP;
  const elem *split_k = split + bh * ck * DP; // + 0 / 1 / 2 n_split: Kbar hi / lo, Vbar hi

  // the chunks of 64 centroids with a skipped token in this row
  const int n_chunks = (ck + COMP_KEYS - 1) / COMP_KEYS;
  for (int c = threadIdx.x; c < n_chunks; c += COMP_THREADS) chunks[c] = 0;
  __syncthreads();
  for (int k = threadIdx.x; k < ck; k += COMP_THREADS)
    if (count[k] != 0) chunks[k / COMP_KEYS] = 1;
  __syncthreads();
  if (threadIdx.x == 0) {
    int n = 0;
    for (int c = 0; c < n_chunks; c++)
      if (chunks[c]) chunks[n++] = c;
    chunk_count = n;
  }
  // Q tile: rows 128 i + r in cluster order, from the 16-bit input through the permutation (its
  // bits as they are), zeros past Sq and past D
  {
    const int32_t *perm = a.q_perm + bh * Sq;
    uint16_t *q16s = (uint16_t *)qs;
    if (x16_vec(a.q16, D)) {
      for (int idx = threadIdx.x; idx < COMP_ROWS * (DP / 8); idx += COMP_THREADS) {
        const int r = idx / (DP / 8), d = 8 * (idx % (DP / 8));
        const int64_t p = (int64_t)i * COMP_ROWS + r;
        uint4 v = make_uint4(0u, 0u, 0u, 0u);
        if (p < Sq && d < D) v = *(const uint4 *)(x16_row(a.q16, bh, perm[p]) + d);
        *(uint4 *)(q16s + r * LDH + d) = v;
      }
    } else {
      for (int idx = threadIdx.x; idx < COMP_ROWS * DP; idx += COMP_THREADS) {
        const int r = idx / DP, d = idx % DP;
        const int64_t p = (int64_t)i * COMP_ROWS + r;
        q16s[r * LDH + d] = p < Sq && d < D ? x16_row(a.q16, bh, perm[p])[d] : (uint16_t)0;
      }
    }
  }
  __syncthreads();
  const int steps = chunk_count;
  // one step's loads: the four 64 x DP tiles and the 64 counts of chunk `c` into buffer `buf`
  auto load_step = [&](int c, int buf) {
    elem *dst = kv + buf * 4 * TILE;
    constexpr int C8 = DP / 8; // 16-byte pieces a row
    for (int idx = threadIdx.x; idx < 3 * COMP_KEYS * C8; idx += COMP_THREADS) {
      const int arr = idx / (COMP_KEYS * C8), rem = idx % (COMP_KEYS * C8), r = rem / C8, e = 8 * (rem % C8);
      const int key = c * COMP_KEYS + r;
      const int ok = key < ck;
      const elem *src = split_k + arr * n_split + (int64_t)(ok ? key : 0) * DP + e;
      cp_async16(dst + arr * TILE + r * LDH + e, src, ok ? 16 : 0);
    }
    if (threadIdx.x < COMP_KEYS) {
      const int key = c * COMP_KEYS + threadIdx.x;
      cp_async4(cnt + buf * COMP_KEYS + threadIdx.x, key < ck ? count + key : count, key < ck ? 4 : 0);
    }
  };
  if (steps > 0) load_step(chunks[0], 0);
  cp_async_commit();
  // the warp's Q fragments (16 rows x DP): A of m16n8k16, matrices (rows 0-7 | 8-15) x (k 0-7 | 8-15)
  uint32_t qa[DP / 16][4];
  {
    const int mi = lane / 8, rr = lane % 8;
    const elem *q0 = qs + (warp * 16 + rr + 8 * (mi & 1)) * LDH + 8 * (mi >> 1);
#pragma unroll
    for (int kk = 0; kk < DP / 16; kk++) ldsm_x4(qa[kk], q0 + 16 * kk);
  }
  const float c2 = a.scale * 1.4426950408889634f; // scale log2(e)
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
  float o[DP / 8][4];
#pragma unroll
  for (int n = 0; n < DP / 8; n++) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;
  for (int step = 0; step < steps; step++) {
    const int buf = step & 1;
    if (step + 1 < steps) {
      load_step(chunks[step + 1], buf ^ 1);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    const elem *kh = kv + buf * 4 * TILE, *kl = kh + TILE, *vh = kh + 2 * TILE;
    const int32_t *cn = cnt + buf * COMP_KEYS;
    // scores (16 x 64 per warp) = Q (Kbar hi + Kbar lo)^T; B matrices (keys 0-7 | 8-15) x (k 0-7 | 8-15)
    float s[COMP_KEYS / 8][4];
#pragma unroll
    for (int n = 0; n < COMP_KEYS / 8; n++) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.0f;
    {
      const int mi = lane / 8, rr = lane % 8;
      const int off = (8 * (mi >> 1) + rr) * LDH + 8 * (mi & 1);
#pragma unroll
      for (int kk = 0; kk < DP / 16; kk++)
#pragma unroll
        for (int np = 0; np < COMP_KEYS / 16; np++) {
          uint32_t b[4], c[4];
          ldsm_x4(b, kh + off + 16 * np * LDH + 16 * kk);
          ldsm_x4(c, kl + off + 16 * np * LDH + 16 * kk);
          mma16<HALF>(s[2 * np], qa[kk], b[0], b[1]);
          mma16<HALF>(s[2 * np + 1], qa[kk], b[2], b[3]);
          mma16<HALF>(s[2 * np], qa[kk], c[0], c[1]);
          mma16<HALF>(s[2 * np + 1], qa[kk], c[2], c[3]);
        }
    }
    // base-2 exponents with log2 n_c; the online max; weights rounded to 16 bits (A of P V)
    float lg[COMP_KEYS / 8][2];
#pragma unroll
    for (int n = 0; n < COMP_KEYS / 8; n++)
#pragma unroll
      for (int e = 0; e < 2; e++) {
        const int32_t nc = cn[8 * n + 2 * t + e];
        lg[n][e] = nc > 0 ? __log2f((float)nc) : -INFINITY;
      }
    uint32_t pa[COMP_KEYS / 16][4];
#pragma unroll
    for (int r = 0; r < 2; r++) {
      float mx = -INFINITY;
#pragma unroll
      for (int n = 0; n < COMP_KEYS / 8; n++)
#pragma unroll
        for (int e = 0; e < 2; e++) {
          const float v = lg[n][e] == -INFINITY ? -INFINITY : fmaf(s[n][2 * r + e], c2, lg[n][e]);
          s[n][2 * r + e] = v;
          mx = fmaxf(mx, v);
        }
      const float m_new = fmaxf(m[r], quad_max(mx));
      const float alpha = m[r] == -INFINITY ? (m_new == -INFINITY ? 1.0f : 0.0f) : exp2f(m[r] - m_new);
      float sum = 0.0f;
#pragma unroll
      for (int n = 0; n < COMP_KEYS / 8; n++) {
        const float w0 = s[n][2 * r] == -INFINITY ? 0.0f : exp2f(s[n][2 * r] - m_new);
        const float w1 = s[n][2 * r + 1] == -INFINITY ? 0.0f : exp2f(s[n][2 * r + 1] - m_new);
        const uint32_t packed = T::pack(w0, w1);
        const elem *pe = (const elem *)&packed;
        sum += T::to(pe[0]) + T::to(pe[1]);
        // A of m16n8k16 for keys 16 kk..: (g, 2t..) = n-tile 2kk, (g + 8, 2t..), (g, 2t + 8..) = n-tile 2kk + 1, ...
        pa[n / 2][(n & 1) * 2 + r] = packed;
      }
      l[r] = l[r] * alpha + sum;
#pragma unroll
      for (int n = 0; n < DP / 8; n++) o[n][2 * r] *= alpha, o[n][2 * r + 1] *= alpha;
      m[r] = m_new;
    }
    // o += W Vbar; B by ldmatrix.trans: matrices (keys 0-7 | 8-15) x (d 0-7 | 8-15)
    {
      const int mi = lane / 8, rr = lane % 8;
      const int off = (rr + 8 * (mi & 1)) * LDH + 8 * (mi >> 1);
#pragma unroll
      for (int kk = 0; kk < COMP_KEYS / 16; kk++)
#pragma unroll
        for (int np = 0; np < DP / 16; np++) {
          uint32_t b[4];
          ldsm_x4_trans(b, vh + off + 16 * kk * LDH + 16 * np);
          mma16<HALF>(o[2 * np], pa[kk], b[0], b[1]);
          mma16<HALF>(o[2 * np + 1], pa[kk], b[2], b[3]);
        }
    }
    __syncthreads(); // this buffer is refilled two steps on
  }
#pragma unroll
  for (int r = 0; r < 2; r++) {
    const float lr = quad_sum(l[r]);
    const int64_t p = (int64_t)i * COMP_ROWS + warp * 16 + g + 8 * r;
    if (p >= Sq) continue;
    const int64_t row = bh * Sq + p;
    if (t == 0) {
      a.extra_max[row] = m[r] > -INFINITY ? m[r] * 0.6931471805599453f : 0.0f;
      a.extra_sum[row] = lr;
    }
    float *out = a.extra_num + row * D;
#pragma unroll
    for (int n = 0; n < DP / 8; n++) {
      const int d = 8 * n + 2 * t;
      if (d < D) out[d] = o[n][2 * r];
      if (d + 1 < D) out[d + 1] = o[n][2 * r + 1];
    }
  }
}

template <int DP, int HALF>
static cudaError_t comp_run(const vdit_attn_cuda_cluster_args *a, cudaStream_t stream) {
  typedef typename comp_type<HALF>::t elem;
  elem *split = (elem *)a->scratch;
  const int64_t rows = a->bh * a->ck;
  comp_split_kernel<HALF><<<(unsigned)((rows * DP + 255) / 256), 256, 0, stream>>>(a->k_centroids, a->v_means, rows,
                                                                                  (int)a->dim, DP, split);
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess || (e = vdit_attn_cuda_cluster_mark(a, VDIT_ATTN_CLUSTER_STAGE_COMP_PREPARE, stream)) != cudaSuccess)
    return e;
  const size_t shared = comp_shared_bytes<DP>();
  if ((e = cudaFuncSetAttribute(comp_fused_kernel<DP, HALF>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)shared)) !=
      cudaSuccess)
    return e;
  comp_fused_kernel<DP, HALF><<<dim3((unsigned)a->q_tiles, (unsigned)a->bh), COMP_THREADS, shared, stream>>>(*a, split);
  if ((e = cudaGetLastError()) != cudaSuccess) return e;
  return vdit_attn_cuda_cluster_mark(a, VDIT_ATTN_CLUSTER_STAGE_COMP_G, stream);
}

extern "C" size_t vdit_attn_cuda_cluster_comp_split_floats(int64_t bh, int ck) { return (size_t)(2 * bh * ck * 128); }

extern "C" cudaError_t vdit_attn_cuda_cluster_compensate_fused(const vdit_attn_cuda_cluster_args *a, cudaStream_t stream) {
  if (a->bh == 0 || a->seq_q == 0 || a->q_tiles == 0) return cudaSuccess;
  if (a->dim > 128 || a->ck > COMP_MAX_CHUNKS * COMP_KEYS || a->bh > 65535) return cudaErrorInvalidValue;
  if (a->dim <= 64) return a->half_inputs ? comp_run<64, 1>(a, stream) : comp_run<64, 0>(a, stream);
  return a->half_inputs ? comp_run<128, 1>(a, stream) : comp_run<128, 0>(a, stream);
}
