// SLA2 kernels (see sla_cuda.h for the sequence). Tiles are 128 x 128 (tokens x head dim, or
// head dim x head dim) in shared memory with a row stride of 136 elements, so the fragment
// loads of mma.sync m16n8k16 hit 32 different banks; one thread block of 8 warps computes a
// 128 x 128 product, warp w owning rows 16 w .. 16 w + 15 (mma_rows16). Products take bf16 /
// f16 operands (the tensors' dtype) and accumulate in fp32; sums over blocks are fp32 in a
// fixed order.
#include "attn/cuda/attn_cuda_common.cuh"
#include "attn/cuda/sla_cuda.h"
#include "attn/sla_exact.h"

#define SLA_D 128
#define SLA_LD 136
#define SLA_TILE (128 * SLA_LD)
#define SLA_THREADS 256
// prepare and leftout: 512 threads, 2 CTAs an SM at <= 64 registers (32 warps an SM instead of 16;
// round 15, H200: prepare 0.152 -> 0.135 ms, out (then) 0.236 -> 0.231 against 256 threads at 124-128)
#define SLA_WIDE 512

template <typename T> static __device__ __forceinline__ float sla_ld(const void *base, int64_t off) {
  return attn_dtype_traits<T>::to_float(reinterpret_cast<const T *>(base)[off]);
}

template <typename T> static __device__ __forceinline__ void sla_add(void *base, int64_t off, float x) {
  T *p = reinterpret_cast<T *>(base) + off;
  *p = attn_dtype_traits<T>::from_float(attn_dtype_traits<T>::to_float(*p) + x);
}

static __device__ __forceinline__ uint32_t sla_ld32(const void *p) { return *reinterpret_cast<const uint32_t *>(p); }

// The forward's small kernels (pool, topk, prepare, totals, leftout) are launched with programmatic
// dependent launch: each grid is set up while its predecessor drains (the launch gaps: -0.007 ms of
// 0.88, round 21), and each waits for its predecessor (griddepcontrol.wait, a no-op in a normal
// launch) before its first global access, so the data order is a normal launch's.
static __device__ __forceinline__ void sla_grid_wait() { asm volatile("griddepcontrol.wait;\n" ::: "memory"); }
static cudaLaunchConfig_t sla_pdl_config(dim3 grid, dim3 block, size_t smem, cudaStream_t stream, cudaLaunchAttribute *attr) {
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = grid, cfg.blockDim = block, cfg.dynamicSmemBytes = smem, cfg.stream = stream;
  attr->id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr->val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = attr, cfg.numAttrs = 1;
  return cfg;
}

// bf16-bit storage of the per-block matrices (H_J, dHc_I)
static __device__ __forceinline__ float bf(const uint16_t *p, int64_t i) { return __bfloat162float(__ushort_as_bfloat16(p[i])); }
static __device__ __forceinline__ void store_bf2(uint16_t *p, float a, float b) {
  *reinterpret_cast<__nv_bfloat162 *>(p) = __floats2bfloat162_rn(a, b);
}

static __device__ __forceinline__ void sla_zero(float acc[16][4]) {
#pragma unroll
  for (int nt = 0; nt < 16; nt++) acc[nt][0] = acc[nt][1] = acc[nt][2] = acc[nt][3] = 0.0f;
}

// acc (16 x 128) += A[row0 .. row0 + 15][0 .. 127] B with A stored [m][k] and B stored
// transposed, Bt [n][k], both at row stride SLA_LD. Fragment of the thread: rows row0 + g and
// row0 + g + 8, columns nt * 8 + 2 t and + 1 (g = lane / 4, t = lane % 4).
template <typename T>
static __device__ __forceinline__ void mma_rows16(const T *sA, const T *sBt, int row0, float acc[16][4]) {
  const int lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
#pragma unroll 2
  for (int k0 = 0; k0 < 128; k0 += 16) {
    uint32_t a[4];
    a[0] = sla_ld32(sA + (row0 + g) * SLA_LD + k0 + 2 * t);
    a[1] = sla_ld32(sA + (row0 + g + 8) * SLA_LD + k0 + 2 * t);
    a[2] = sla_ld32(sA + (row0 + g) * SLA_LD + k0 + 8 + 2 * t);
    a[3] = sla_ld32(sA + (row0 + g + 8) * SLA_LD + k0 + 8 + 2 * t);
#pragma unroll
    for (int nt = 0; nt < 16; nt++) {
      const T *bp = sBt + (nt * 8 + g) * SLA_LD + k0 + 2 * t;
      attn_dtype_traits<T>::mma(acc[nt], a, sla_ld32(bp), sla_ld32(bp + 8));
    }
  }
}

// Sum / max over aligned groups of 2 * FIRST lanes (FIRST = 16: the warp; 8: each half-warp),
// by xor shuffles from distance FIRST down to 1.
template <int FIRST> static __device__ __forceinline__ float lanes_sum(float x) {
#pragma unroll
  for (int o = FIRST; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
  return x;
}
template <int FIRST> static __device__ __forceinline__ float lanes_max(float x) {
#pragma unroll
  for (int o = FIRST; o > 0; o >>= 1) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, o));
  return x;
}
static __device__ __forceinline__ float warp_sum(float x) { return lanes_sum<16>(x); }
static __device__ __forceinline__ float warp_max(float x) { return lanes_max<16>(x); }
static __device__ __forceinline__ float half_sum(float x) { return lanes_sum<8>(x); }
static __device__ __forceinline__ float half_max(float x) { return lanes_max<8>(x); }
static __device__ __forceinline__ float quad_sum(float x) {
  x += __shfl_xor_sync(0xffffffffu, x, 1);
  return x + __shfl_xor_sync(0xffffffffu, x, 2);
}

// phi of a 128-value row held by a warp, x[j] = element lane + 32 j; *m, *s: y = e^(x - m) / s
// (softmax) so that the backward can recompute y from x.
static __device__ __forceinline__ void warp_phi(int feature, const float x[4], float y[4], float *m_out, float *s_out) {
  if (feature == VDIT_ATTN_SLA_ELU) {
#pragma unroll
    for (int j = 0; j < 4; j++) y[j] = x[j] > 0.0f ? x[j] + 1.0f : expf(x[j]);
    *m_out = 0.0f, *s_out = 1.0f;
    return;
  }
  float m = fmaxf(fmaxf(x[0], x[1]), fmaxf(x[2], x[3]));
  m = warp_max(m);
  float s = 0.0f;
#pragma unroll
  for (int j = 0; j < 4; j++) s += (y[j] = expf(x[j] - m));
  s = warp_sum(s);
  const float inv = 1.0f / s;
#pragma unroll
  for (int j = 0; j < 4; j++) y[j] *= inv;
  *m_out = m, *s_out = s;
}

static __device__ __forceinline__ float phi_again(int feature, float x, float m, float s) {
  if (feature == VDIT_ATTN_SLA_ELU) return x > 0.0f ? x + 1.0f : expf(x);
  return expf(x - m) / s;
}

static __device__ __forceinline__ float sla_alpha(const float *logit, int h) { return 1.0f / (1.0f + expf(-logit[h])); }

// ---------------------------------------------------------------- 16-byte row chunks
// Rows of Q, K, V, O are read and written as 16-byte chunks of 8 elements when every base is
// 16-byte aligned and every stride a multiple of 8 (a.vec, checked on the host), else element
// by element. In a 256-thread block, thread tid handles chunk tid % 16 of rows tid / 16 + 16 j
// (j < 8): a 128-row tile is 8 loads a thread, all in flight at once, and the 16 threads of a
// row are one half-warp (row reductions are 4 shuffles).
static __device__ __forceinline__ uint4 sla_ld8(const void *base, int64_t off, int vec) {
  const uint16_t *p = reinterpret_cast<const uint16_t *>(base) + off;
  if (vec) return __ldg(reinterpret_cast<const uint4 *>(p));
  uint32_t w[4];
#pragma unroll
  for (int i = 0; i < 4; i++) w[i] = (uint32_t)p[2 * i] | ((uint32_t)p[2 * i + 1] << 16);
  return make_uint4(w[0], w[1], w[2], w[3]);
}

static __device__ __forceinline__ void sla_st8(void *base, int64_t off, uint4 v, int vec) {
  uint16_t *p = reinterpret_cast<uint16_t *>(base) + off;
  if (vec) {
    *reinterpret_cast<uint4 *>(p) = v;
    return;
  }
  const uint32_t w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
  for (int i = 0; i < 4; i++) p[2 * i] = (uint16_t)(w[i] & 0xffffu), p[2 * i + 1] = (uint16_t)(w[i] >> 16);
}

template <typename T> static __device__ __forceinline__ float sla_bits_to_float(uint32_t bits16);
template <> __device__ __forceinline__ float sla_bits_to_float<__nv_bfloat16>(uint32_t bits16) { return __uint_as_float(bits16 << 16); }
template <> __device__ __forceinline__ float sla_bits_to_float<__half>(uint32_t bits16) {
  return __half2float(__ushort_as_half((unsigned short)bits16));
}

template <typename T> static __device__ __forceinline__ void sla_unpack8(uint4 v, float x[8]) {
  const uint32_t w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
  for (int i = 0; i < 4; i++) {
    x[2 * i] = sla_bits_to_float<T>(w[i] & 0xffffu);
    x[2 * i + 1] = sla_bits_to_float<T>(w[i] >> 16);
  }
}

template <typename T> static __device__ __forceinline__ uint4 sla_pack8(const float x[8]) {
  return make_uint4(attn_dtype_traits<T>::pack(x[0], x[1]), attn_dtype_traits<T>::pack(x[2], x[3]),
                    attn_dtype_traits<T>::pack(x[4], x[5]), attn_dtype_traits<T>::pack(x[6], x[7]));
}

// 2^x by the special-function unit (relative error ~2^-22, flushes results below 2^-126 to 0).
static __device__ __forceinline__ float sla_ex2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}

// phi of a 128-value row held by a half-warp, 8 values a thread (every lane must call it: the
// reductions shuffle); y = 0 where !valid. The forward's phi (prepare; the executor's epilogue
// computes phi(Q) the same way): e^(x - m) as
// 2^(x log2e - m log2e), one FFMA and one MUFU a value (the backward recomputes phi with expf:
// its products are bf16 anyway).
static __device__ __forceinline__ void half_phi(int feature, const float x[8], float y[8], int valid) {
  if (feature == VDIT_ATTN_SLA_ELU) {
#pragma unroll
    for (int j = 0; j < 8; j++) y[j] = valid ? (x[j] > 0.0f ? x[j] + 1.0f : expf(x[j])) : 0.0f;
    return;
  }
  const float log2e = 1.4426950408889634f;
  float m = x[0];
#pragma unroll
  for (int j = 1; j < 8; j++) m = fmaxf(m, x[j]);
  m = half_max(m);
  const float ml = m * log2e;
  float s = 0.0f;
#pragma unroll
  for (int j = 0; j < 8; j++) s += (y[j] = sla_ex2(fmaf(x[j], log2e, -ml)));
  s = half_sum(s);
  const float inv = valid ? 1.0f / s : 0.0f;
#pragma unroll
  for (int j = 0; j < 8; j++) y[j] *= inv;
}

// acc (16 x NCOL) += A B with A = St^T for St stored [k][m] (rows m0 = row0 .. row0 + 15 of A
// are columns of St) and B stored [k][n]: both operands by ldmatrix.trans (sB + n0 as above).
template <typename T, int NCOL = 128>
static __device__ __forceinline__ void mma_rows16_tkn(const T *sAt, const T *sB, int row0, float acc[][4]) {
  const int lane = threadIdx.x & 31, li = lane >> 3, lj = lane & 7;
#pragma unroll 2
  for (int k0 = 0; k0 < 128; k0 += 16) {
    // matrices (k0, m0), (k0, m0 + 8), (k0 + 8, m0), (k0 + 8, m0 + 8): a0 .. a3
    uint32_t a[4];
    ldsm_x4_t(a, smem_u32(sAt + (k0 + (li >> 1) * 8 + lj) * SLA_LD + row0 + (li & 1) * 8));
#pragma unroll
    for (int np = 0; np < NCOL / 16; np++) {
      uint32_t bq[4];
      ldsm_x4_t(bq, smem_u32(sB + (k0 + (li & 1) * 8 + lj) * SLA_LD + np * 16 + (li >> 1) * 8));
      attn_dtype_traits<T>::mma(acc[2 * np], a, bq[0], bq[1]);
      attn_dtype_traits<T>::mma(acc[2 * np + 1], a, bq[2], bq[3]);
    }
  }
}
// ---------------------------------------------------------------- router
// The mean of column tid (< 128) of the first n rows of a 128 x 128 tile at row stride SLA_LD,
// in token order (sla_exact.h: the CPU's bits).
template <typename T> static __device__ __forceinline__ float sla_column_mean(const T *tile, int col, int n) {
  float sum = 0.0f;
#pragma unroll 8
  for (int t = 0; t < n; t++) sum = sla_mean_step(sum, attn_dtype_traits<T>::to_float(tile[t * SLA_LD + col]));
  return sla_mean_finish(sum, n);
}

// Block means and projections of Q and K in one launch: grid (qb + kb, BH), 256 threads;
// blocks x < qb take query block x, the others key block x - qb. The 128 x 128 tile comes in
// by 16-byte loads (all rows in flight), then thread d < 128 sums its column in token order
// from shared memory and thread r < D_r projects (sla_exact.h's order: the CPU's bits). With
// a.keys_pooled the key blocks' means are in pooled_k already (prepare wrote them): grid
// (qb + kb / 8 rounded up, BH), and each key-side block projects 8 key blocks, a warp each.
template <typename T> static __global__ void __launch_bounds__(SLA_THREADS) sla_pool_kernel(const vdit_attn_sla_cuda_args a) {
  sla_grid_wait(); // before any global access (programmatic dependent launch)
  extern __shared__ __align__(16) unsigned char smem_raw[];
  T *tile = reinterpret_cast<T *>(smem_raw);
  float *pooled = reinterpret_cast<float *>(tile + SLA_TILE);
  const int side = (int)blockIdx.x >= a.qb, J = side ? (int)blockIdx.x - a.qb : (int)blockIdx.x;
  const int bh = blockIdx.y, b = bh / a.H, h = bh % a.H, tid = threadIdx.x, c = tid & 15, r0 = tid >> 4;
  if (side && a.keys_pooled) { // uniform over the block: 8 key blocks 8 J .. 8 J + 7, one a warp
    const int warp = tid >> 5, lane = tid & 31, JJ = 8 * J + warp;
    if (JJ >= a.kb) return; // no barrier below
    const float *mean = a.pooled_k + ((int64_t)bh * a.kb + JJ) * SLA_D;
    const float *w = a.wk + (int64_t)h * SLA_D * a.Dr;
    float *proj = a.proj_k + ((int64_t)bh * a.kb + JJ) * a.Dr;
    for (int r = lane; r < a.Dr; r += 32) {
      float acc = 0.0f;
#pragma unroll 16
      for (int e = 0; e < SLA_D; e++) acc = sla_madd(acc, __ldg(mean + e), __ldg(w + e * a.Dr + r));
      proj[r] = acc;
    }
    return;
  }
  const void *x = side ? a.k : a.q;
  const int64_t base = side ? (int64_t)b * a.k_sb + (int64_t)h * a.k_sh : (int64_t)b * a.q_sb + (int64_t)h * a.q_sh;
  const int64_t ss = side ? a.k_ss : a.q_ss;
  const int seq = side ? a.Sk : a.Sq, nb = side ? a.kb : a.qb;
  const int t0 = J * SLA_D, n = min(SLA_D, seq - t0);
  uint4 rows[8];
#pragma unroll
  for (int j = 0; j < 8; j++) {
    const int r = r0 + 16 * j;
    rows[j] = r < n ? sla_ld8(x, base + (int64_t)(t0 + r) * ss + 8 * c, a.vec) : make_uint4(0u, 0u, 0u, 0u);
  }
#pragma unroll
  for (int j = 0; j < 8; j++) *reinterpret_cast<uint4 *>(tile + (r0 + 16 * j) * SLA_LD + 8 * c) = rows[j];
  __syncthreads();
  if (tid < SLA_D) {
    const float mean = sla_column_mean<T>(tile, tid, n);
    pooled[tid] = mean;
    (side ? a.pooled_k : a.pooled_q)[((int64_t)bh * nb + J) * SLA_D + tid] = mean;
  }
  __syncthreads();
  const float *w = (side ? a.wk : a.wq) + (int64_t)h * SLA_D * a.Dr;
  float *proj = (side ? a.proj_k : a.proj_q) + ((int64_t)bh * nb + J) * a.Dr;
  for (int r = tid; r < a.Dr; r += SLA_THREADS) {
    float acc = 0.0f;
#pragma unroll 16
    for (int e = 0; e < SLA_D; e++) acc = sla_madd(acc, pooled[e], __ldg(w + e * a.Dr + r));
    proj[r] = acc;
  }
}

// Scores of query block I against every key block and the Top-k, by rank counting: grid (qb,
// BH), 256 threads, kb floats + kb bytes of dynamic shared memory. Every row keeps exactly
// `keep` blocks. Used when the sort below does not fit (more than SLA_TOPK_SORT_MAX key blocks,
// or its shared memory above SLA_TOPK_SMEM_MAX).
static __global__ void __launch_bounds__(SLA_THREADS) sla_topk_count_kernel(const vdit_attn_sla_cuda_args a) {
  sla_grid_wait(); // before any global access (programmatic dependent launch)
  extern __shared__ __align__(16) unsigned char smem_raw[];
  float *sc = reinterpret_cast<float *>(smem_raw);
  unsigned char *flag = smem_raw + (size_t)a.kb * sizeof(float);
  const int I = blockIdx.x, bh = blockIdx.y, tid = threadIdx.x;
  const float *rq = a.proj_q + ((int64_t)bh * a.qb + I) * a.Dr;
  const float scale = sla_score_scale(a.Dr);
  for (int J = tid; J < a.kb; J += SLA_THREADS) {
    const float *rk = a.proj_k + ((int64_t)bh * a.kb + J) * a.Dr;
    float dot = 0.0f;
    for (int r = 0; r < a.Dr; r++) dot = sla_madd(dot, rq[r], rk[r]);
    sc[J] = VDIT_FMUL(dot, scale);
  }
  __syncthreads();
  for (int J = tid; J < a.kb; J += SLA_THREADS) {
    int rank = 0;
    for (int J2 = 0; J2 < a.kb && rank < a.keep; J2++) rank += sla_ranks_before(sc[J2], J2, sc[J], J);
    flag[J] = rank < a.keep;
  }
  __syncthreads();
  if (tid == 0) {
    const int64_t row = (int64_t)bh * a.qb + I, first = row * a.keep;
    int n = 0;
    for (int J = 0; J < a.kb; J++)
      if (flag[J]) a.col_index[first + n++] = J;
    a.row_offsets[row] = (int32_t)first;
    if (row == (int64_t)a.B * a.H * a.qb - 1) a.row_offsets[row + 1] = (int32_t)(first + a.keep);
  }
}

// Top-k by a bitonic sort, one warp per query block, SLA_TOPK_ROWS rows per thread block:
// grid (ceil(qb / SLA_TOPK_ROWS), BH), 32 * SLA_TOPK_ROWS threads. The head's key projections
// come into shared memory first (rows padded to D_r + 1 floats: lane J reads row J, so the 32
// lanes hit 32 banks; read from global by lane they were 32 cache lines a load). Each warp
// computes its row's kb scores, 8 independent serial sums a lane (sla_exact.h's order: the
// CPU's bits), sorts 64-bit keys (score in an order-keeping encoding << 32 | ~J: descending =
// higher score, then lower J, sla_ranks_before's order) over n2 = kb rounded up to a power of
// two (padding keys 0 sort last), flags the first `keep` and writes the flagged J ascending by
// ballots. Shared: kb (D_r + 1) floats, then per warp n2 keys and n2 flag bytes.
#define SLA_TOPK_ROWS 8
#define SLA_TOPK_SORT_MAX 1024
#define SLA_TOPK_SMEM_MAX (200 * 1024)

static size_t sla_topk_sort_smem(int kb, int Dr, int n2) {
  return (size_t)kb * (Dr + 1) * sizeof(float) + (size_t)SLA_TOPK_ROWS * n2 * (sizeof(unsigned long long) + 1);
}

// Order-keeping encoding of a non-NaN float: a > b iff enc(a) > enc(b); -0 and +0 both encode
// as +0 (they compare equal, so the tie goes to the lower block as on the CPU).
static __device__ __forceinline__ uint32_t sla_score_key(float x) {
  const uint32_t u = x == 0.0f ? 0u : __float_as_uint(x);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

static __global__ void __launch_bounds__(32 * SLA_TOPK_ROWS) sla_topk_sort_kernel(const vdit_attn_sla_cuda_args a, int n2) {
  sla_grid_wait(); // before any global access (programmatic dependent launch)
  extern __shared__ __align__(16) unsigned char smem_raw[];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, bh = blockIdx.y;
  const int I = blockIdx.x * SLA_TOPK_ROWS + warp, ld = a.Dr + 1;
  float *sk = reinterpret_cast<float *>(smem_raw);
  unsigned long long *keys = reinterpret_cast<unsigned long long *>(smem_raw + (((size_t)a.kb * ld * sizeof(float) + 15) & ~(size_t)15));
  unsigned char *flag = reinterpret_cast<unsigned char *>(keys + (size_t)SLA_TOPK_ROWS * n2) + (size_t)warp * n2;
  keys += (size_t)warp * n2;
  const float *pk = a.proj_k + (int64_t)bh * a.kb * a.Dr;
  for (int idx = threadIdx.x; idx < a.kb * a.Dr; idx += 32 * SLA_TOPK_ROWS) sk[(idx / a.Dr) * ld + idx % a.Dr] = pk[idx];
  __syncthreads();
  if (I >= a.qb) return; // whole warps only: no block-wide barrier below
  const float *rq = a.proj_q + ((int64_t)bh * a.qb + I) * a.Dr;
  const float scale = sla_score_scale(a.Dr);
  for (int J0 = 0; J0 < n2; J0 += 256) {
    float dot[8];
    int row[8];
#pragma unroll
    for (int j = 0; j < 8; j++) dot[j] = 0.0f, row[j] = min(J0 + lane + 32 * j, a.kb - 1) * ld;
    for (int r = 0; r < a.Dr; r++) {
      const float x = __ldg(rq + r);
#pragma unroll
      for (int j = 0; j < 8; j++) dot[j] = sla_madd(dot[j], x, sk[row[j] + r]);
    }
#pragma unroll
    for (int j = 0; j < 8; j++) {
      const int J = J0 + lane + 32 * j;
      if (J >= n2) break;
      unsigned long long key = 0ull;
      if (J < a.kb)
        key = ((unsigned long long)sla_score_key(VDIT_FMUL(dot[j], scale)) << 32) | (unsigned long long)(0xffffffffu - (uint32_t)J);
      keys[J] = key;
      flag[J] = 0;
    }
  }
  // bitonic sort, descending
  for (int size = 2; size <= n2; size <<= 1)
    for (int stride = size >> 1; stride > 0; stride >>= 1) {
      __syncwarp();
      for (int e = lane; e < n2 / 2; e += 32) {
        const int lo = 2 * e - (e & (stride - 1)), hi = lo + stride;
        const unsigned long long x = keys[lo], y = keys[hi];
        const bool down = (lo & size) == 0;
        if ((x < y) == down) {
          keys[lo] = y;
          keys[hi] = x;
        }
      }
    }
  __syncwarp();
  for (int e = lane; e < a.keep; e += 32) flag[0xffffffffu - (uint32_t)(keys[e] & 0xffffffffull)] = 1;
  __syncwarp();
  const int64_t row = (int64_t)bh * a.qb + I, first = row * a.keep;
  int n = 0;
  for (int J0 = 0; J0 < a.kb; J0 += 32) {
    const int J = J0 + lane, f = J < a.kb && flag[J];
    const unsigned mask = __ballot_sync(0xffffffffu, f);
    if (f) a.col_index[first + n + __popc(mask & ((1u << lane) - 1u))] = J;
    n += __popc(mask);
  }
  if (lane == 0) {
    a.row_offsets[row] = (int32_t)first;
    if (row == (int64_t)a.B * a.H * a.qb - 1) a.row_offsets[row + 1] = (int32_t)(first + a.keep);
  }
}

static cudaError_t set_smem(const void *kernel, size_t bytes) {
  return cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes);
}

// Per-kernel timing: the event of stage point `i` when a.events is set (sla_cuda.h).
static void sla_mark(const vdit_attn_sla_cuda_args *a, int i, cudaStream_t stream) {
  if (a->events) cudaEventRecord(a->events[i], stream);
}

template <typename T> static cudaError_t route(const vdit_attn_sla_cuda_args *a, cudaStream_t stream) {
  const int BH = a->B * a->H;
  const size_t pool_smem = SLA_TILE * sizeof(T) + SLA_D * sizeof(float);
  cudaError_t err = set_smem((const void *)sla_pool_kernel<T>, pool_smem);
  int n2 = 1;
  while (n2 < a->kb) n2 <<= 1;
  const int sort = n2 <= SLA_TOPK_SORT_MAX && sla_topk_sort_smem(a->kb, a->Dr, n2) + 16 <= SLA_TOPK_SMEM_MAX;
  const size_t smem = sort ? sla_topk_sort_smem(a->kb, a->Dr, n2) + 16 : (size_t)a->kb * (sizeof(float) + 1);
  if (err == cudaSuccess && smem > 48 * 1024)
    err = set_smem(sort ? (const void *)sla_topk_sort_kernel : (const void *)sla_topk_count_kernel, smem);
  if (err != cudaSuccess) return err;
  sla_mark(a, VDIT_SLA_EV_ROUTE, stream);
  const int key_ctas = a->keys_pooled ? (a->kb + 7) / 8 : a->kb; // projections only: 8 key blocks a CTA
  cudaLaunchAttribute attr;
  cudaLaunchConfig_t cfg = sla_pdl_config(dim3(a->qb + key_ctas, BH), SLA_THREADS, pool_smem, stream, &attr);
  cudaLaunchKernelEx(&cfg, sla_pool_kernel<T>, *a);
  sla_mark(a, VDIT_SLA_EV_POOLED, stream);
  if (sort) {
    cfg = sla_pdl_config(dim3((a->qb + SLA_TOPK_ROWS - 1) / SLA_TOPK_ROWS, BH), 32 * SLA_TOPK_ROWS, smem, stream, &attr);
    cudaLaunchKernelEx(&cfg, sla_topk_sort_kernel, *a, n2);
  } else {
    cfg = sla_pdl_config(dim3(a->qb, BH), SLA_THREADS, smem, stream, &attr);
    cudaLaunchKernelEx(&cfg, sla_topk_count_kernel, *a);
  }
  sla_mark(a, VDIT_SLA_EV_ROUTED, stream);
  return cudaGetLastError();
}

extern "C" cudaError_t vdit_attn_sla_cuda_launch_route(const vdit_attn_sla_cuda_args *a, cudaStream_t stream) {
  return a->dtype == VDIT_DTYPE_BF16 ? route<__nv_bfloat16>(a, stream) : route<__half>(a, stream);
}

// ---------------------------------------------------------------- linear branch, forward
// H_J = phi(K_J)^T V_J and z_J: grid (kb, BH), NT = SLA_WIDE threads (16 warps). K and V rows
// come in by 16-byte chunks (thread tid: chunk tid % 16 of rows tid / 16 + 32 j, 8 loads a
// thread in flight), phi by half-warp reductions; phi(K) and V are stored [t][d] and [t][e] and
// the product reads both through ldmatrix.trans (warp w: rows d = 16 (w % 8) .. + 15 of H_J,
// columns 64 (w / 8) .. + 63). H_J goes out through shared memory as 16-byte stores (bf16).
// Shared: sP phi(K) (then H_J), sV, zpart (16 warps x 128), and with POOL sK (K as read): the
// key block's mean goes to pooled_k (threads 128 .. 255 sum a column each in token order, as
// the pool kernel does), so that the route need not read K again. 2 CTAs an SM at <= 64
// registers (round 15; at 256 threads and 124 registers, 16 warps an SM, prepare took 0.152 ms
// against 0.135; 3 CTAs of 256 at 80 registers spilled, round 12).
template <typename T, bool POOL, int NT>
static __global__ void __launch_bounds__(NT, 2) sla_prepare_kernel(const vdit_attn_sla_cuda_args a) {
  sla_grid_wait(); // before any global access (programmatic dependent launch)
  constexpr int NW = NT / 32, RS = NT / 16, NJ = SLA_D / RS, NCOL = 8 * SLA_D / NW; // warps, row step, rows a thread, mma columns
  extern __shared__ __align__(16) unsigned char smem_raw[];
  T *sP = reinterpret_cast<T *>(smem_raw);
  T *sV = sP + SLA_TILE;
  float *zpart = reinterpret_cast<float *>(sV + SLA_TILE);
  T *sK = reinterpret_cast<T *>(zpart + NW * SLA_D); // POOL only
  const int J = blockIdx.x, bh = blockIdx.y, b = bh / a.H, h = bh % a.H;
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, c = tid & 15, r0 = tid >> 4;
  const int t0 = J * SLA_D, n = min(SLA_D, a.Sk - t0);
  const int64_t kbase = (int64_t)b * a.k_sb + (int64_t)h * a.k_sh, vbase = (int64_t)b * a.v_sb + (int64_t)h * a.v_sh;
  uint4 kr[NJ], vr[NJ];
#pragma unroll
  for (int j = 0; j < NJ; j++) {
    const int r = r0 + RS * j;
    const uint4 zero = make_uint4(0u, 0u, 0u, 0u);
    kr[j] = r < n ? sla_ld8(a.k, kbase + (int64_t)(t0 + r) * a.k_ss + 8 * c, a.vec) : zero;
    vr[j] = r < n ? sla_ld8(a.v, vbase + (int64_t)(t0 + r) * a.v_ss + 8 * c, a.vec) : zero;
  }
  float z[8] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll
  for (int j = 0; j < NJ; j++) {
    const int r = r0 + RS * j;
    float x[8], y[8];
    sla_unpack8<T>(kr[j], x);
    half_phi(a.feature, x, y, r < n);
#pragma unroll
    for (int e = 0; e < 8; e++) z[e] += y[e];
    *reinterpret_cast<uint4 *>(sP + r * SLA_LD + 8 * c) = sla_pack8<T>(y);
    *reinterpret_cast<uint4 *>(sV + r * SLA_LD + 8 * c) = vr[j];
    if (POOL) *reinterpret_cast<uint4 *>(sK + r * SLA_LD + 8 * c) = kr[j];
  }
  // lanes l and l + 16 hold the same channels of two rows
#pragma unroll
  for (int e = 0; e < 8; e++) z[e] += __shfl_xor_sync(0xffffffffu, z[e], 16);
  if (lane < 16) {
#pragma unroll
    for (int e = 0; e < 8; e++) zpart[warp * SLA_D + 8 * c + e] = z[e];
  }
  __syncthreads();
  if (tid < SLA_D) {
    float sum = 0.0f;
    for (int w = 0; w < NW; w++) sum += zpart[w * SLA_D + tid];
    a.zj[((int64_t)bh * a.kb + J) * SLA_D + tid] = sum;
  } else if (POOL && tid < 2 * SLA_D) {
    a.pooled_k[((int64_t)bh * a.kb + J) * SLA_D + tid - SLA_D] = sla_column_mean<T>(sK, tid - SLA_D, n);
  }
  // warp w: rows d = 16 (w % 8) .. + 15, columns e = n0 .. n0 + NCOL - 1 of H_J
  const int row0 = 16 * (warp & 7), n0 = NCOL * (warp >> 3);
  float acc[NCOL / 8][4];
#pragma unroll
  for (int nt = 0; nt < NCOL / 8; nt++) acc[nt][0] = acc[nt][1] = acc[nt][2] = acc[nt][3] = 0.0f;
  mma_rows16_tkn<T, NCOL>(sP, sV + n0, row0, acc);
  __syncthreads(); // every warp is done with sP: H_J goes there
  uint16_t *sH = reinterpret_cast<uint16_t *>(sP);
  const int g = lane >> 2, t = lane & 3;
#pragma unroll
  for (int nt = 0; nt < NCOL / 8; nt++) {
    const int e = n0 + nt * 8 + 2 * t, d0 = row0 + g;
    store_bf2(sH + d0 * SLA_LD + e, acc[nt][0], acc[nt][1]);
    store_bf2(sH + (d0 + 8) * SLA_LD + e, acc[nt][2], acc[nt][3]);
  }
  __syncthreads();
  uint16_t *out = a.hj + ((int64_t)bh * a.kb + J) * SLA_D * SLA_D;
#pragma unroll
  for (int j = 0; j < NJ; j++) {
    const int q = tid + NT * j, d = q >> 4, e0 = (q & 15) * 8;
    *reinterpret_cast<uint4 *>(out + d * SLA_D + e0) = *reinterpret_cast<const uint4 *>(sH + d * SLA_LD + e0);
  }
}

// Totals over the blocks of per-block matrices (bf16 bits, D x D) and vectors (fp32, D), in a
// fixed order as a two-level tree: part[bh][s] = the sum over split s's blocks (consecutive,
// in order), then the splits summed in order. Partial: grid (SLA_TOT_CHUNKS / 128 rounded up,
// VDIT_SLA_CUDA_TOTAL_SPLITS, BH), 128 threads, each 8 consecutive values (chunk q < 2048:
// matrix values 8 q ..; else vector values 8 (q - 2048) ..), 16-byte loads.
#define SLA_TOT_CHUNKS (SLA_D * SLA_D / 8 + SLA_D / 8)
static __global__ void __launch_bounds__(128) sla_totals_part_kernel(const uint16_t *mats, const float *vecs, int n, float *part) {
  sla_grid_wait(); // before any global access (programmatic dependent launch)
  const int q = blockIdx.x * 128 + threadIdx.x, s = blockIdx.y, bh = blockIdx.z;
  if (q >= SLA_TOT_CHUNKS) return;
  const int j0 = (int)((int64_t)n * s / VDIT_SLA_CUDA_TOTAL_SPLITS), j1 = (int)((int64_t)n * (s + 1) / VDIT_SLA_CUDA_TOTAL_SPLITS);
  float acc[8] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
  if (q < SLA_D * SLA_D / 8) {
    const uint16_t *p = mats + (int64_t)bh * n * SLA_D * SLA_D + 8 * q;
#pragma unroll 4
    for (int J = j0; J < j1; J++) {
      float x[8];
      sla_unpack8<__nv_bfloat16>(__ldg(reinterpret_cast<const uint4 *>(p + (int64_t)J * SLA_D * SLA_D)), x);
#pragma unroll
      for (int e = 0; e < 8; e++) acc[e] += x[e];
    }
  } else {
    const float *p = vecs + (int64_t)bh * n * SLA_D + 8 * (q - SLA_D * SLA_D / 8);
#pragma unroll 4
    for (int J = j0; J < j1; J++) {
      const float4 lo = __ldg(reinterpret_cast<const float4 *>(p + (int64_t)J * SLA_D));
      const float4 hi = __ldg(reinterpret_cast<const float4 *>(p + (int64_t)J * SLA_D + 4));
      acc[0] += lo.x, acc[1] += lo.y, acc[2] += lo.z, acc[3] += lo.w;
      acc[4] += hi.x, acc[5] += hi.y, acc[6] += hi.z, acc[7] += hi.w;
    }
  }
  float4 *o = reinterpret_cast<float4 *>(part + (((int64_t)bh * VDIT_SLA_CUDA_TOTAL_SPLITS + s) * SLA_TOT_CHUNKS + q) * 8);
  o[0] = make_float4(acc[0], acc[1], acc[2], acc[3]);
  o[1] = make_float4(acc[4], acc[5], acc[6], acc[7]);
}

// The splits summed in order: grid (SLA_TOT_CHUNKS * 8 / 256 rounded up, BH), 256 threads.
static __global__ void __launch_bounds__(256) sla_totals_finish_kernel(const float *part, float *mat_total, float *vec_total) {
  sla_grid_wait(); // before any global access (programmatic dependent launch)
  const int idx = blockIdx.x * 256 + threadIdx.x, bh = blockIdx.y;
  if (idx >= SLA_TOT_CHUNKS * 8) return;
  float sum = 0.0f;
#pragma unroll
  for (int s = 0; s < VDIT_SLA_CUDA_TOTAL_SPLITS; s++)
    sum += part[((int64_t)bh * VDIT_SLA_CUDA_TOTAL_SPLITS + s) * SLA_TOT_CHUNKS * 8 + idx];
  if (idx < SLA_D * SLA_D) mat_total[(int64_t)bh * SLA_D * SLA_D + idx] = sum;
  else vec_total[(int64_t)bh * SLA_D + idx - SLA_D * SLA_D] = sum;
}

static void sla_totals(const uint16_t *mats, const float *vecs, int n, int BH, float *part, float *mat_total, float *vec_total,
                       cudaStream_t stream) {
  cudaLaunchAttribute attr;
  cudaLaunchConfig_t cfg = sla_pdl_config(dim3((SLA_TOT_CHUNKS + 127) / 128, VDIT_SLA_CUDA_TOTAL_SPLITS, BH), 128, 0, stream, &attr);
  cudaLaunchKernelEx(&cfg, sla_totals_part_kernel, mats, vecs, n, part);
  cfg = sla_pdl_config(dim3((SLA_TOT_CHUNKS * 8 + 255) / 256, BH), 256, 0, stream, &attr);
  cudaLaunchKernelEx(&cfg, sla_totals_finish_kernel, (const float *)part, mat_total, vec_total);
}

// The left-out sum of one row's (or column's) list: into acc[64] (element idx = tid + 256 j
// of a 128 x 128 matrix) and, for tid < 128, zacc (element tid of a 128-vector). Total minus
// listed when the list is the shorter, else the unlisted summed directly. list ascending.
static __device__ __forceinline__ void left_out_sums(const uint16_t *mats, const float *vecs, const float *mat_total,
                                                     const float *vec_total, int nblocks, const int32_t *list, int n,
                                                     float acc[64], float *zacc) {
  const int tid = threadIdx.x;
  if (n <= nblocks - n) {
#pragma unroll
    for (int j = 0; j < 64; j++) acc[j] = mat_total[tid + 256 * j];
    if (tid < 128) *zacc = vec_total[tid];
    for (int e = 0; e < n; e++) {
      const uint16_t *m = mats + (int64_t)list[e] * SLA_D * SLA_D;
#pragma unroll
      for (int j = 0; j < 64; j++) acc[j] -= bf(m, tid + 256 * j);
      if (tid < 128) *zacc -= vecs[(int64_t)list[e] * SLA_D + tid];
    }
  } else {
#pragma unroll
    for (int j = 0; j < 64; j++) acc[j] = 0.0f;
    if (tid < 128) *zacc = 0.0f;
    int p = 0;
    for (int J = 0; J < nblocks; J++) {
      if (p < n && list[p] == J) {
        p++;
        continue;
      }
      const uint16_t *m = mats + (int64_t)J * SLA_D * SLA_D;
#pragma unroll
      for (int j = 0; j < 64; j++) acc[j] += bf(m, tid + 256 * j);
      if (tid < 128) *zacc += vecs[(int64_t)J * SLA_D + tid];
    }
  }
}

// The next block a left-out sum applies: the listed ones in list order (subtract) or the
// unlisted ones ascending (*p: list position, *J: the last block returned, start -1).
static __device__ __forceinline__ int left_out_next(int subtract, const int32_t *list, int n, int e, int *p, int *J) {
  if (subtract) return list[e];
  for (++*J; *p < n && list[*p] == *J; ++*J) ++*p;
  return *J;
}

// Block J's chunks of this thread (matrix chunks tid + NT j of NT threads, and for tid < 128
// vector element tid) into its own slots of a staging tile (byte 16 (tid + NT j), vector at byte
// 32768 + 4 tid) by cp.async, one commit group.
template <int NT>
static __device__ __forceinline__ void left_out_issue(unsigned char *stage, const uint4 *mbase, const float *vbase, int J) {
  const int tid = threadIdx.x;
  const uint4 *m = mbase + (int64_t)J * (SLA_D * SLA_D / 8);
#pragma unroll
  for (int j = 0; j < SLA_D * SLA_D / 8 / NT; j++) cp_async16(smem_u32(stage + 16 * (tid + NT * j)), m + NT * j, true);
  if (tid < SLA_D) cp_async4(smem_u32(stage + SLA_D * SLA_D * 2 + 4 * tid), vbase + (int64_t)J * SLA_D, true);
  cp_async_commit();
}

// The left-out sum of one row's list, by 16-byte chunks: acc[j][0..7] = values 8 q .. 8 q + 7
// (q = tid + NT j, NT threads) of the 128 x 128 matrix and, for tid < 128, *zacc = element tid of the
// vector. Total minus listed when the list is the shorter, else the unlisted summed directly
// (list ascending; each value's operations in block order). mats: bf16 bits, 16-byte aligned.
// The blocks come through two shared staging tiles by cp.async, two blocks in flight, and a
// loop per direction: stage0, stage1 >= 32768 + 512 bytes each, free on entry; every thread
// reads only its own slots, so there is no barrier inside, but the caller must synchronise
// before it reuses the tiles. (Round 13, H200: out 0.245 -> 0.237 ms against the earlier form,
// loads to registers in one loop for both directions, which selected +x or -x per value and
// formed each chunk's 64-bit address; with only the loop split and loads to registers, ptxas
// kept 4 of the 8 loads in flight and out took 0.243.)
template <int NT>
static __device__ __forceinline__ void left_out_sums8(const uint16_t *mats, const float *vecs, const float *mat_total,
                                                      const float *vec_total, int nblocks, const int32_t *list, int n,
                                                      unsigned char *stage0, unsigned char *stage1, float acc[][8],
                                                      float *zacc) {
  constexpr int NJ = SLA_D * SLA_D / 8 / NT; // chunks a thread
  const int tid = threadIdx.x;
  const uint4 *mbase = reinterpret_cast<const uint4 *>(mats) + tid;
  const float *vbase = vecs + tid;
  const int subtract = n <= nblocks - n, count = subtract ? n : nblocks - n;
  int p = 0, J = -1;
  if (count > 0) left_out_issue<NT>(stage0, mbase, vbase, left_out_next(subtract, list, n, 0, &p, &J));
  if (count > 1) left_out_issue<NT>(stage1, mbase, vbase, left_out_next(subtract, list, n, 1, &p, &J));
  float z = 0.0f;
  if (subtract) {
    const float4 *tot = reinterpret_cast<const float4 *>(mat_total) + 2 * tid;
#pragma unroll
    for (int j = 0; j < NJ; j++) {
      const float4 lo = tot[2 * NT * j], hi = tot[2 * NT * j + 1];
      acc[j][0] = lo.x, acc[j][1] = lo.y, acc[j][2] = lo.z, acc[j][3] = lo.w;
      acc[j][4] = hi.x, acc[j][5] = hi.y, acc[j][6] = hi.z, acc[j][7] = hi.w;
    }
    if (tid < SLA_D) z = vec_total[tid];
  } else {
#pragma unroll
    for (int j = 0; j < NJ; j++)
#pragma unroll
      for (int k = 0; k < 8; k++) acc[j][k] = 0.0f;
  }
  for (int e = 0; e < count; e++) {
    if (e + 1 < count) cp_async_wait<1>();
    else cp_async_wait<0>();
    unsigned char *stage = (e & 1) ? stage1 : stage0;
    uint4 v[NJ];
#pragma unroll
    for (int j = 0; j < NJ; j++) v[j] = *reinterpret_cast<const uint4 *>(stage + 16 * (tid + NT * j));
    const float zv = tid < SLA_D ? *reinterpret_cast<const float *>(stage + SLA_D * SLA_D * 2 + 4 * tid) : 0.0f;
    if (subtract) {
      z -= zv;
#pragma unroll
      for (int j = 0; j < NJ; j++) {
        float x[8];
        sla_unpack8<__nv_bfloat16>(v[j], x);
#pragma unroll
        for (int k = 0; k < 8; k++) acc[j][k] -= x[k];
      }
    } else {
      z += zv;
#pragma unroll
      for (int j = 0; j < NJ; j++) {
        float x[8];
        sla_unpack8<__nv_bfloat16>(v[j], x);
#pragma unroll
        for (int k = 0; k < 8; k++) acc[j][k] += x[k];
      }
    }
    // the slots just read (their values consumed) take block e + 2
    if (e + 2 < count) left_out_issue<NT>(stage, mbase, vbase, left_out_next(subtract, list, n, e + 2, &p, &J));
  }
  if (tid < SLA_D) *zacc = z;
}

// Per query block: Hc, zc (the left-out sums) into a.hc ([d][e], the tensors' dtype) and a.zc,
// for the executor's epilogue (attn_forward_tma.cu, LIN), which computes O_l = phi(Q_I) Hc /
// phi(Q_I) . zc and the mix while O_s is in its registers. Grid (qb, BH), NT = SLA_WIDE threads
// (2 CTAs an SM at <= 64 registers); a row that keeps every block gets Hc = 0, zc = 0 (O_l = 0).
// (Until round 15 a kernel `out` did the left-out sums, phi(Q), the product and the mix after
// the executor: 0.231 ms at 97% on the H200, against this kernel's and the epilogue's cost:
// docs/attention.md, round 16.) Shared: the left-out sums' two staging tiles.
template <typename T, int NT>
static __global__ void __launch_bounds__(NT, 2) sla_leftout_kernel(const vdit_attn_sla_cuda_args a) {
  sla_grid_wait(); // before any global access (programmatic dependent launch)
  constexpr int NJ = SLA_D * SLA_D / 8 / NT; // 16-byte chunks a thread
  extern __shared__ __align__(16) unsigned char smem_raw[];
  unsigned char *stage0 = smem_raw, *stage1 = smem_raw + SLA_D * SLA_D * 2 + SLA_D * 4;
  const int I = blockIdx.x, bh = blockIdx.y, tid = threadIdx.x;
  const int64_t row = (int64_t)bh * a.qb + I;
  const int first = a.row_offsets[row], n = a.row_offsets[row + 1] - first;
  float hc[NJ][8], z = 0.0f;
  left_out_sums8<NT>(a.hj + (int64_t)bh * a.kb * SLA_D * SLA_D, a.zj + (int64_t)bh * a.kb * SLA_D,
                     a.h_all + (int64_t)bh * SLA_D * SLA_D, a.z_all + (int64_t)bh * SLA_D, a.kb, a.col_index + first, n,
                     stage0, stage1, hc, &z);
  uint4 *out = reinterpret_cast<uint4 *>(a.hc + row * SLA_D * SLA_D) + tid; // chunk q = values 8 q .. 8 q + 7
#pragma unroll
  for (int j = 0; j < NJ; j++) out[NT * j] = sla_pack8<T>(hc[j]);
  if (tid < SLA_D) a.zc[row * SLA_D + tid] = z;
}

template <typename T, int NT> static cudaError_t linear_prepare(const vdit_attn_sla_cuda_args *a, cudaStream_t stream) {
  const int BH = a->B * a->H;
  const size_t prep = (a->pool_keys ? 3 : 2) * SLA_TILE * sizeof(T) + NT / 32 * SLA_D * sizeof(float);
  const void *kernel = a->pool_keys ? (const void *)sla_prepare_kernel<T, true, NT> : (const void *)sla_prepare_kernel<T, false, NT>;
  cudaError_t err = set_smem(kernel, prep);
  if (err != cudaSuccess) return err;
  sla_mark(a, VDIT_SLA_EV_PREP, stream);
  cudaLaunchAttribute attr;
  cudaLaunchConfig_t cfg = sla_pdl_config(dim3(a->kb, BH), NT, prep, stream, &attr);
  if (a->pool_keys) cudaLaunchKernelEx(&cfg, sla_prepare_kernel<T, true, NT>, *a);
  else cudaLaunchKernelEx(&cfg, sla_prepare_kernel<T, false, NT>, *a);
  sla_mark(a, VDIT_SLA_EV_PREPARED, stream);
  sla_totals(a->hj, a->zj, a->kb, BH, a->total_part, a->h_all, a->z_all, stream);
  sla_mark(a, VDIT_SLA_EV_TOTALS, stream);
  return cudaGetLastError();
}

template <typename T, int NT> static cudaError_t leftout(const vdit_attn_sla_cuda_args *a, cudaStream_t stream) {
  const int BH = a->B * a->H;
  const size_t smem = 2 * (SLA_D * SLA_D * 2 + SLA_D * 4);
  cudaError_t err = set_smem((const void *)sla_leftout_kernel<T, NT>, smem);
  if (err != cudaSuccess) return err;
  cudaLaunchAttribute attr;
  cudaLaunchConfig_t cfg = sla_pdl_config(dim3(a->qb, BH), NT, smem, stream, &attr);
  cudaLaunchKernelEx(&cfg, sla_leftout_kernel<T, NT>, *a);
  return cudaGetLastError();
}

extern "C" cudaError_t vdit_attn_sla_cuda_launch_linear_prepare(const vdit_attn_sla_cuda_args *a, cudaStream_t stream) {
  return a->dtype == VDIT_DTYPE_BF16 ? linear_prepare<__nv_bfloat16, SLA_WIDE>(a, stream)
                                     : linear_prepare<__half, SLA_WIDE>(a, stream);
}

extern "C" cudaError_t vdit_attn_sla_cuda_launch_leftout(const vdit_attn_sla_cuda_args *a, cudaStream_t stream) {
  return a->dtype == VDIT_DTYPE_BF16 ? leftout<__nv_bfloat16, SLA_WIDE>(a, stream) : leftout<__half, SLA_WIDE>(a, stream);
}

// ---------------------------------------------------------------- backward
// dO_s = alpha_h dO into the o_s-shaped buffer: one thread per element pair... per element.
template <typename T> static __global__ void sla_scale_do_kernel(const vdit_attn_sla_cuda_args a) {
  const int64_t total = (int64_t)a.B * a.Sq * a.H * SLA_D;
  for (int64_t idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; idx < total; idx += (int64_t)gridDim.x * blockDim.x) {
    const int d = (int)(idx % SLA_D);
    int64_t rest = idx / SLA_D;
    const int h = (int)(rest % a.H);
    rest /= a.H;
    const int i = (int)(rest % a.Sq);
    const int b = (int)(rest / a.Sq);
    const float alpha = sla_alpha(a.alpha_logit, h);
    const float g = sla_ld<T>(a.d_o, (int64_t)b * a.do_sb + (int64_t)i * a.do_ss + (int64_t)h * a.do_sh + d);
    reinterpret_cast<T *>(a.d_os)[(int64_t)b * a.os_sb + (int64_t)i * a.os_ss + (int64_t)h * a.os_sh + d] =
        attn_dtype_traits<T>::from_float(alpha * g);
  }
}

extern "C" cudaError_t vdit_attn_sla_cuda_launch_scale_do(const vdit_attn_sla_cuda_args *a, cudaStream_t stream) {
  if (a->dtype == VDIT_DTYPE_BF16) sla_scale_do_kernel<__nv_bfloat16><<<2048, 256, 0, stream>>>(*a);
  else sla_scale_do_kernel<__half><<<2048, 256, 0, stream>>>(*a);
  return cudaGetLastError();
}

// Per query block: O_l again, dQ += the linear branch's part, dHc_I, dzc_I, and the block's
// share of d alpha. Grid (qb, BH). Shared: b0 phi(Q) [i][d], b1 Hc^T [e][d] then dnum^T
// [e][i], b2 Hc [d][e], b3 dnum [i][e], b4 phi(Q)^T [d][i]; per row zc, den, dden, m, s.
template <typename T> static __global__ void __launch_bounds__(SLA_THREADS) sla_linear_q_kernel(const vdit_attn_sla_cuda_args a) {
  extern __shared__ __align__(16) unsigned char smem_raw[];
  T *b0 = reinterpret_cast<T *>(smem_raw), *b1 = b0 + SLA_TILE, *b2 = b1 + SLA_TILE, *b3 = b2 + SLA_TILE, *b4 = b3 + SLA_TILE;
  float *zc = reinterpret_cast<float *>(b4 + SLA_TILE), *den = zc + 128, *dden = den + 128, *rm = dden + 128,
        *rs = rm + 128, *wpart = rs + 128;
  const int I = blockIdx.x, bh = blockIdx.y, b = bh / a.H, h = bh % a.H;
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, t = lane & 3;
  const int64_t row = (int64_t)bh * a.qb + I;
  const int first = a.row_offsets[row], n = a.row_offsets[row + 1] - first;
  const int linear = n < a.kb;
  const float alpha = sla_alpha(a.alpha_logit, h);
  const int64_t qbase = (int64_t)b * a.q_sb + (int64_t)h * a.q_sh;
  float acc[16][4];
  sla_zero(acc);
  if (linear) {
    float hc[64], z = 0.0f;
    left_out_sums(a.hj + (int64_t)bh * a.kb * SLA_D * SLA_D, a.zj + (int64_t)bh * a.kb * SLA_D,
                  a.h_all + (int64_t)bh * SLA_D * SLA_D, a.z_all + (int64_t)bh * SLA_D, a.kb, a.col_index + first, n, hc, &z);
#pragma unroll
    for (int j = 0; j < 64; j++) {
      const int idx = tid + 256 * j, d = idx >> 7, e = idx & 127;
      const T v = attn_dtype_traits<T>::from_float(hc[j]);
      b1[e * SLA_LD + d] = v;
      b2[d * SLA_LD + e] = v;
    }
    if (tid < 128) zc[tid] = z;
  }
  __syncthreads();
  for (int rr = 0; rr < 16; rr++) {
    const int r = warp * 16 + rr, i = I * 128 + r;
    float x[4], y[4] = {0.0f, 0.0f, 0.0f, 0.0f}, m = 0.0f, s = 1.0f;
    if (i < a.Sq && linear) {
#pragma unroll
      for (int j = 0; j < 4; j++) x[j] = sla_ld<T>(a.q, qbase + (int64_t)i * a.q_ss + lane + 32 * j);
      warp_phi(a.feature, x, y, &m, &s);
    }
    float dd = 0.0f;
#pragma unroll
    for (int j = 0; j < 4; j++) {
      const int d = lane + 32 * j;
      const T v = attn_dtype_traits<T>::from_float(y[j]);
      b0[r * SLA_LD + d] = v;
      b4[d * SLA_LD + r] = v;
      dd += linear ? y[j] * zc[d] : 0.0f;
    }
    dd = warp_sum(dd);
    if (lane == 0) den[r] = dd, rm[r] = m, rs[r] = s;
  }
  __syncthreads();
  if (linear) mma_rows16<T>(b0, b1, warp * 16, acc);
  __syncthreads(); // b1 (Hc^T) is free now: dnum^T goes there
  float apart = 0.0f;
#pragma unroll
  for (int half = 0; half < 2; half++) {
    const int r = warp * 16 + g + 8 * half, i = I * 128 + r;
    const int valid = i < a.Sq;
    const float dn = den[r], inv = (linear && dn > 0.0f) ? 1.0f / dn : 0.0f;
    const int64_t go = (int64_t)b * a.do_sb + (int64_t)i * a.do_ss + (int64_t)h * a.do_sh;
    const int64_t oso = (int64_t)b * a.os_sb + (int64_t)i * a.os_ss + (int64_t)h * a.os_sh;
    float gol = 0.0f;
#pragma unroll
    for (int nt = 0; nt < 16; nt++)
#pragma unroll
      for (int c = 0; c < 2; c++) {
        const int e = nt * 8 + 2 * t + c;
        const float gv = valid ? sla_ld<T>(a.d_o, go + e) : 0.0f;
        const float ol = acc[nt][2 * half + c] * inv;
        const float osv = valid ? sla_ld<T>(a.o_s, oso + e) : 0.0f;
        apart += gv * (osv - ol);
        gol += gv * ol;
        const T dnum = attn_dtype_traits<T>::from_float((1.0f - alpha) * gv * inv);
        b3[r * SLA_LD + e] = dnum;
        b1[e * SLA_LD + r] = dnum;
      }
    gol = quad_sum(gol);
    if (t == 0) dden[r] = -(1.0f - alpha) * gol * inv;
  }
  apart = warp_sum(apart);
  if (lane == 0) wpart[warp] = apart;
  __syncthreads();
  if (tid == 0) {
    float sum = 0.0f;
    for (int w = 0; w < 8; w++) sum += wpart[w];
    a.alpha_partial[row] = sum;
  }
  uint16_t *dhc = a.dhc + row * SLA_D * SLA_D;
  if (!linear) { // O_l = 0: nothing flows to Q, Hc or zc
#pragma unroll
    for (int j = 0; j < 64; j++) dhc[tid + 256 * j] = 0; // bf16 +0
    if (tid < 128) a.dzc[row * SLA_D + tid] = 0.0f;
    return;
  }
  // du = dnum Hc^T + zc dden, then dQ += phi's backward
  sla_zero(acc);
  mma_rows16<T>(b3, b2, warp * 16, acc);
#pragma unroll
  for (int half = 0; half < 2; half++) {
    const int r = warp * 16 + g + 8 * half, i = I * 128 + r;
    const int valid = i < a.Sq; // no early exit: the quad sum below needs every lane
    const float m = rm[r], s = rs[r], ddn = dden[r];
    float u[16][2], du[16][2], dot = 0.0f;
#pragma unroll
    for (int nt = 0; nt < 16; nt++)
#pragma unroll
      for (int c = 0; c < 2; c++) {
        const int d = nt * 8 + 2 * t + c;
        const float x = valid ? sla_ld<T>(a.q, qbase + (int64_t)i * a.q_ss + d) : 0.0f;
        u[nt][c] = valid ? phi_again(a.feature, x, m, s) : 0.0f;
        du[nt][c] = acc[nt][2 * half + c] + zc[d] * ddn;
        dot += u[nt][c] * du[nt][c];
      }
    dot = quad_sum(dot);
    if (!valid) continue;
    const int64_t dqo = (int64_t)b * a.dq_sb + (int64_t)i * a.dq_ss + (int64_t)h * a.dq_sh;
#pragma unroll
    for (int nt = 0; nt < 16; nt++)
#pragma unroll
      for (int c = 0; c < 2; c++) {
        const int d = nt * 8 + 2 * t + c;
        float dx;
        if (a.feature == VDIT_ATTN_SLA_ELU) {
          const float x = sla_ld<T>(a.q, qbase + (int64_t)i * a.q_ss + d);
          dx = x > 0.0f ? du[nt][c] : du[nt][c] * u[nt][c];
        } else {
          dx = u[nt][c] * (du[nt][c] - dot);
        }
        sla_add<T>(a.dq, dqo + d, dx);
      }
  }
  // dHc = phi(Q)^T dnum ([d][i] x [i][e]), dzc = phi(Q)^T dden
  sla_zero(acc);
  mma_rows16<T>(b4, b1, warp * 16, acc);
#pragma unroll
  for (int nt = 0; nt < 16; nt++) {
    const int e = nt * 8 + 2 * t, d0 = warp * 16 + g;
    store_bf2(dhc + d0 * SLA_D + e, acc[nt][0], acc[nt][1]);
    store_bf2(dhc + (d0 + 8) * SLA_D + e, acc[nt][2], acc[nt][3]);
  }
  if (tid < 128) {
    float sum = 0.0f;
    for (int r = 0; r < 128; r++) sum += attn_dtype_traits<T>::to_float(b4[tid * SLA_LD + r]) * dden[r];
    a.dzc[row * SLA_D + tid] = sum;
  }
}

// Per key block: dH_J, dz_J (sums of dHc, dzc over the query blocks that leave J out), then
// dV += phi(K_J) dH_J and dK += phi's backward of dH_J V_J^T + dz_J. Grid (kb, BH). Shared:
// b0 phi(K) [t][d], b1 V [t][e], b2 dH [d][e], b3 dH^T [e][d]; per row m, s; dz.
template <typename T> static __global__ void __launch_bounds__(SLA_THREADS) sla_linear_k_kernel(const vdit_attn_sla_cuda_args a) {
  extern __shared__ __align__(16) unsigned char smem_raw[];
  T *b0 = reinterpret_cast<T *>(smem_raw), *b1 = b0 + SLA_TILE, *b2 = b1 + SLA_TILE, *b3 = b2 + SLA_TILE;
  float *dz = reinterpret_cast<float *>(b3 + SLA_TILE), *rm = dz + 128, *rs = rm + 128;
  const int J = blockIdx.x, bh = blockIdx.y, b = bh / a.H, h = bh % a.H;
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, t = lane & 3;
  const int64_t trow = (int64_t)bh * a.kb + J;
  const int first = a.mapt_offsets[trow], n = a.mapt_offsets[trow + 1] - first;
  if (n >= a.qb) return; // every query block computes J exactly: no linear-branch gradient
  {
    float dh[64], z = 0.0f;
    left_out_sums(a.dhc + (int64_t)bh * a.qb * SLA_D * SLA_D, a.dzc + (int64_t)bh * a.qb * SLA_D,
                  a.g_total + (int64_t)bh * SLA_D * SLA_D, a.g_ztotal + (int64_t)bh * SLA_D, a.qb, a.mapt_index + first, n,
                  dh, &z);
#pragma unroll
    for (int j = 0; j < 64; j++) {
      const int idx = tid + 256 * j, d = idx >> 7, e = idx & 127;
      const T v = attn_dtype_traits<T>::from_float(dh[j]);
      b2[d * SLA_LD + e] = v;
      b3[e * SLA_LD + d] = v;
    }
    if (tid < 128) dz[tid] = z;
  }
  const int t0 = J * 128, nt_rows = min(128, a.Sk - t0);
  const int64_t kbase = (int64_t)b * a.k_sb + (int64_t)h * a.k_sh, vbase = (int64_t)b * a.v_sb + (int64_t)h * a.v_sh;
  for (int rr = 0; rr < 16; rr++) {
    const int r = warp * 16 + rr;
    float x[4], vv[4] = {0.0f, 0.0f, 0.0f, 0.0f}, y[4] = {0.0f, 0.0f, 0.0f, 0.0f}, m = 0.0f, s = 1.0f;
    if (r < nt_rows) {
#pragma unroll
      for (int j = 0; j < 4; j++) {
        x[j] = sla_ld<T>(a.k, kbase + (int64_t)(t0 + r) * a.k_ss + lane + 32 * j);
        vv[j] = sla_ld<T>(a.v, vbase + (int64_t)(t0 + r) * a.v_ss + lane + 32 * j);
      }
      warp_phi(a.feature, x, y, &m, &s);
    }
#pragma unroll
    for (int j = 0; j < 4; j++) {
      b0[r * SLA_LD + lane + 32 * j] = attn_dtype_traits<T>::from_float(y[j]);
      b1[r * SLA_LD + lane + 32 * j] = attn_dtype_traits<T>::from_float(vv[j]);
    }
    if (lane == 0) rm[r] = m, rs[r] = s;
  }
  __syncthreads();
  float acc[16][4];
  // dV (rows t, cols e) = phi(K) [t][d] x dH [d][e]
  sla_zero(acc);
  mma_rows16<T>(b0, b3, warp * 16, acc);
#pragma unroll
  for (int half = 0; half < 2; half++) {
    const int r = warp * 16 + g + 8 * half;
    if (r >= nt_rows) continue;
    const int64_t o = (int64_t)b * a.dv_sb + (int64_t)(t0 + r) * a.dv_ss + (int64_t)h * a.dv_sh;
#pragma unroll
    for (int nt = 0; nt < 16; nt++)
#pragma unroll
      for (int c = 0; c < 2; c++) sla_add<T>(a.dv, o + nt * 8 + 2 * t + c, acc[nt][2 * half + c]);
  }
  // dphi (rows t, cols d) = V [t][e] x dH^T [e][d] + dz, then phi's backward into dK
  sla_zero(acc);
  mma_rows16<T>(b1, b2, warp * 16, acc);
#pragma unroll
  for (int half = 0; half < 2; half++) {
    const int r = warp * 16 + g + 8 * half;
    const int valid = r < nt_rows; // no early exit: the quad sum below needs every lane
    const float m = rm[r], s = rs[r];
    const int64_t ko = kbase + (int64_t)(t0 + r) * a.k_ss;
    float u[16][2], dp[16][2], dot = 0.0f;
#pragma unroll
    for (int nt = 0; nt < 16; nt++)
#pragma unroll
      for (int c = 0; c < 2; c++) {
        const int d = nt * 8 + 2 * t + c;
        u[nt][c] = valid ? phi_again(a.feature, sla_ld<T>(a.k, ko + d), m, s) : 0.0f;
        dp[nt][c] = acc[nt][2 * half + c] + dz[d];
        dot += u[nt][c] * dp[nt][c];
      }
    dot = quad_sum(dot);
    if (!valid) continue;
    const int64_t o = (int64_t)b * a.dk_sb + (int64_t)(t0 + r) * a.dk_ss + (int64_t)h * a.dk_sh;
#pragma unroll
    for (int nt = 0; nt < 16; nt++)
#pragma unroll
      for (int c = 0; c < 2; c++) {
        const int d = nt * 8 + 2 * t + c;
        float dx;
        if (a.feature == VDIT_ATTN_SLA_ELU) dx = sla_ld<T>(a.k, ko + d) > 0.0f ? dp[nt][c] : dp[nt][c] * u[nt][c];
        else dx = u[nt][c] * (dp[nt][c] - dot);
        sla_add<T>(a.dk, o + d, dx);
      }
  }
}

// G's linear part for all pairs: partial[s][bh][I][J] = -sum over split s of the reduction
// index x of X_I[x] Y_J[x], X = (dHc_I, dzc_I), Y = (H_J, z_J) (16512 values, 129 chunks of
// 128). Grid (tiles of 128 x 128 pairs, BH, splits).
template <typename T> static __global__ void __launch_bounds__(SLA_THREADS) sla_router_linear_kernel(const vdit_attn_sla_cuda_args a) {
  extern __shared__ __align__(16) unsigned char smem_raw[];
  T *sX = reinterpret_cast<T *>(smem_raw), *sY = sX + SLA_TILE;
  const int jt_count = (a.kb + 127) / 128;
  const int I0 = (blockIdx.x / jt_count) * 128, J0 = (blockIdx.x % jt_count) * 128;
  const int bh = blockIdx.y, split = blockIdx.z, tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int chunks = SLA_D + 1, per = (chunks + VDIT_SLA_CUDA_SPLITS - 1) / VDIT_SLA_CUDA_SPLITS;
  const int c0 = split * per, c1 = min(chunks, c0 + per);
  float acc[16][4];
  sla_zero(acc);
  for (int c = c0; c < c1; c++) {
    for (int j = 0; j < 64; j++) {
      const int idx = tid + 256 * j, r = idx >> 7, x = idx & 127;
      const int I = I0 + r, J = J0 + r;
      float xv = 0.0f, yv = 0.0f;
      if (c < SLA_D) {
        if (I < a.qb) xv = bf(a.dhc, (((int64_t)bh * a.qb + I) * SLA_D + c) * SLA_D + x);
        if (J < a.kb) yv = bf(a.hj, (((int64_t)bh * a.kb + J) * SLA_D + c) * SLA_D + x);
      } else {
        if (I < a.qb) xv = a.dzc[((int64_t)bh * a.qb + I) * SLA_D + x];
        if (J < a.kb) yv = a.zj[((int64_t)bh * a.kb + J) * SLA_D + x];
      }
      sX[r * SLA_LD + x] = attn_dtype_traits<T>::from_float(xv);
      sY[r * SLA_LD + x] = attn_dtype_traits<T>::from_float(yv);
    }
    __syncthreads();
    mma_rows16<T>(sX, sY, warp * 16, acc);
    __syncthreads();
  }
  const int g = lane >> 2, t = lane & 3;
  float *out = a.g_partial + (((int64_t)split * a.B * a.H + bh) * a.qb) * a.kb;
#pragma unroll
  for (int half = 0; half < 2; half++) {
    const int I = I0 + warp * 16 + g + 8 * half;
    if (I >= a.qb) continue;
#pragma unroll
    for (int nt = 0; nt < 16; nt++)
#pragma unroll
      for (int c = 0; c < 2; c++) {
        const int J = J0 + nt * 8 + 2 * t + c;
        if (J < a.kb) out[(int64_t)I * a.kb + J] = -acc[nt][2 * half + c];
      }
  }
}

// G = sum of the splits, in order: grid-stride over BH qb kb.
static __global__ void sla_router_sum_kernel(const vdit_attn_sla_cuda_args a) {
  const int64_t total = (int64_t)a.B * a.H * a.qb * a.kb;
  for (int64_t idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; idx < total; idx += (int64_t)gridDim.x * blockDim.x) {
    float sum = 0.0f;
    for (int s = 0; s < VDIT_SLA_CUDA_SPLITS; s++) sum += a.g_partial[s * total + idx];
    a.G[idx] = sum;
  }
}

// G's sparse part, every tile (I, J): the sum over the tile of P (dP - Delta) with P =
// e^(scale q k - LSE) against the sparse branch's LSE (kept or not: the relaxation's
// derivative) and dP = dO_s v. Grid (qb, BH); the key blocks stream through shared memory.
// Its cost is that of two of the dense backward's five products, paid only when the router's
// gradient is asked for. Shared: sQ [i][d], sG (dO_s) [i][e], sK, sV [t][*]; per row Delta,
// LSE; per warp partial sums.
template <typename T> static __global__ void __launch_bounds__(SLA_THREADS) sla_router_sparse_kernel(const vdit_attn_sla_cuda_args a) {
  extern __shared__ __align__(16) unsigned char smem_raw[];
  T *sQ = reinterpret_cast<T *>(smem_raw), *sG = sQ + SLA_TILE, *sK = sG + SLA_TILE, *sV = sK + SLA_TILE;
  float *delta = reinterpret_cast<float *>(sV + SLA_TILE), *lse = delta + 128, *red = lse + 128;
  const int I = blockIdx.x, bh = blockIdx.y, b = bh / a.H, h = bh % a.H;
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, t = lane & 3;
  const int64_t row = (int64_t)bh * a.qb + I;
  const int64_t qbase = (int64_t)b * a.q_sb + (int64_t)h * a.q_sh;
  for (int rr = 0; rr < 16; rr++) {
    const int r = warp * 16 + rr, i = I * 128 + r;
    const int valid = i < a.Sq;
    float dl = 0.0f;
#pragma unroll
    for (int j = 0; j < 4; j++) {
      const int d = lane + 32 * j;
      const int64_t os = (int64_t)b * a.os_sb + (int64_t)i * a.os_ss + (int64_t)h * a.os_sh + d;
      const float qv = valid ? sla_ld<T>(a.q, qbase + (int64_t)i * a.q_ss + d) : 0.0f;
      const float gv = valid ? sla_ld<T>(a.d_os, os) : 0.0f;
      const float ov = valid ? sla_ld<T>(a.o_s, os) : 0.0f;
      sQ[r * SLA_LD + d] = attn_dtype_traits<T>::from_float(qv);
      sG[r * SLA_LD + d] = attn_dtype_traits<T>::from_float(gv);
      dl += gv * ov;
    }
    dl = warp_sum(dl);
    if (lane == 0) {
      delta[r] = dl;
      lse[r] = valid ? a.lse[(int64_t)bh * a.Sq + i] : -INFINITY;
    }
  }
  const int64_t kbase = (int64_t)b * a.k_sb + (int64_t)h * a.k_sh, vbase = (int64_t)b * a.v_sb + (int64_t)h * a.v_sh;
  float acc_s[16][4], acc_p[16][4];
  for (int J = 0; J < a.kb; J++) {
    const int t0 = J * 128, nk = min(128, a.Sk - t0);
    __syncthreads(); // the previous tile's readers are done (and, the first time, sQ, sG, delta, lse are written)
    for (int rr = 0; rr < 16; rr++) {
      const int r = warp * 16 + rr;
#pragma unroll
      for (int j = 0; j < 4; j++) {
        const int d = lane + 32 * j;
        const float kv = r < nk ? sla_ld<T>(a.k, kbase + (int64_t)(t0 + r) * a.k_ss + d) : 0.0f;
        const float vv = r < nk ? sla_ld<T>(a.v, vbase + (int64_t)(t0 + r) * a.v_ss + d) : 0.0f;
        sK[r * SLA_LD + d] = attn_dtype_traits<T>::from_float(kv);
        sV[r * SLA_LD + d] = attn_dtype_traits<T>::from_float(vv);
      }
    }
    __syncthreads();
    sla_zero(acc_s);
    sla_zero(acc_p);
    mma_rows16<T>(sQ, sK, warp * 16, acc_s);
    mma_rows16<T>(sG, sV, warp * 16, acc_p);
    float sum = 0.0f;
#pragma unroll
    for (int half = 0; half < 2; half++) {
      const int r = warp * 16 + g + 8 * half;
      const float l = lse[r], dl = delta[r];
      if (l == -INFINITY) continue;
#pragma unroll
      for (int nt = 0; nt < 16; nt++)
#pragma unroll
        for (int c = 0; c < 2; c++) {
          const int col = nt * 8 + 2 * t + c;
          if (col >= nk) continue;
          const float p = expf(acc_s[nt][2 * half + c] * a.scale - l);
          sum += p * (acc_p[nt][2 * half + c] - dl);
        }
    }
    sum = warp_sum(sum);
    if (lane == 0) red[warp] = sum;
    __syncthreads();
    if (tid == 0) {
      float total = 0.0f;
      for (int w = 0; w < 8; w++) total += red[w];
      a.G[row * a.kb + J] += total;
    }
  }
}

// t1 (BH, qb, Dr) = G Rk, t2 (BH, kb, Dr) = G^T Rq: grid (qb + kb, BH), threads over r.
static __global__ void sla_router_t_kernel(const vdit_attn_sla_cuda_args a) {
  const int x = blockIdx.x, bh = blockIdx.y;
  const float *G = a.G + (int64_t)bh * a.qb * a.kb;
  for (int r = threadIdx.x; r < a.Dr; r += blockDim.x) {
    float sum = 0.0f;
    if (x < a.qb) {
      for (int J = 0; J < a.kb; J++) sum += G[(int64_t)x * a.kb + J] * a.proj_k[((int64_t)bh * a.kb + J) * a.Dr + r];
      a.t1[((int64_t)bh * a.qb + x) * a.Dr + r] = sum;
    } else {
      const int J = x - a.qb;
      for (int I = 0; I < a.qb; I++) sum += G[(int64_t)I * a.kb + J] * a.proj_q[((int64_t)bh * a.qb + I) * a.Dr + r];
      a.t2[((int64_t)bh * a.kb + J) * a.Dr + r] = sum;
    }
  }
}

// g_router (BH, 2, D, Dr): dWq = Qbar^T t1 / sqrt(Dr), dWk = Kbar^T t2 / sqrt(Dr): grid (D, BH, 2).
static __global__ void sla_router_w_kernel(const vdit_attn_sla_cuda_args a) {
  const int d = blockIdx.x, bh = blockIdx.y, side = blockIdx.z;
  const int nb = side ? a.kb : a.qb;
  const float *pooled = side ? a.pooled_k : a.pooled_q, *tt = side ? a.t2 : a.t1;
  const float scale = sla_score_scale(a.Dr);
  for (int r = threadIdx.x; r < a.Dr; r += blockDim.x) {
    float sum = 0.0f;
    for (int I = 0; I < nb; I++) sum += pooled[((int64_t)bh * nb + I) * SLA_D + d] * tt[((int64_t)bh * nb + I) * a.Dr + r];
    a.g_router[(((int64_t)bh * 2 + side) * SLA_D + d) * a.Dr + r] = sum * scale;
  }
}

template <typename T> static cudaError_t linear_backward(const vdit_attn_sla_cuda_args *a, int router, cudaStream_t stream) {
  const int BH = a->B * a->H;
  const size_t q_smem = 5 * SLA_TILE * sizeof(T) + (5 * 128 + 8) * sizeof(float);
  const size_t k_smem = 4 * SLA_TILE * sizeof(T) + 3 * 128 * sizeof(float);
  const size_t g_smem = 2 * SLA_TILE * sizeof(T);
  const size_t s_smem = 4 * SLA_TILE * sizeof(T) + (2 * 128 + 8) * sizeof(float);
  cudaError_t err = set_smem((const void *)sla_linear_q_kernel<T>, q_smem);
  if (err == cudaSuccess) err = set_smem((const void *)sla_linear_k_kernel<T>, k_smem);
  if (err == cudaSuccess) err = set_smem((const void *)sla_router_linear_kernel<T>, g_smem);
  if (err == cudaSuccess) err = set_smem((const void *)sla_router_sparse_kernel<T>, s_smem);
  if (err != cudaSuccess) return err;
  sla_linear_q_kernel<T><<<dim3(a->qb, BH), SLA_THREADS, q_smem, stream>>>(*a);
  sla_totals(a->dhc, a->dzc, a->qb, BH, a->total_part, a->g_total, a->g_ztotal, stream);
  sla_linear_k_kernel<T><<<dim3(a->kb, BH), SLA_THREADS, k_smem, stream>>>(*a);
  if (!router) return cudaGetLastError();
  const int tiles = ((a->qb + 127) / 128) * ((a->kb + 127) / 128);
  sla_router_linear_kernel<T><<<dim3(tiles, BH, VDIT_SLA_CUDA_SPLITS), SLA_THREADS, g_smem, stream>>>(*a);
  sla_router_sum_kernel<<<1024, 256, 0, stream>>>(*a);
  sla_router_sparse_kernel<T><<<dim3(a->qb, BH), SLA_THREADS, s_smem, stream>>>(*a);
  sla_router_t_kernel<<<dim3(a->qb + a->kb, BH), 32, 0, stream>>>(*a);
  sla_router_w_kernel<<<dim3(SLA_D, BH, 2), 32, 0, stream>>>(*a);
  return cudaGetLastError();
}

extern "C" cudaError_t vdit_attn_sla_cuda_launch_linear_backward(const vdit_attn_sla_cuda_args *a, int router, cudaStream_t stream) {
  return a->dtype == VDIT_DTYPE_BF16 ? linear_backward<__nv_bfloat16>(a, router, stream)
                                     : linear_backward<__half>(a, router, stream);
}
