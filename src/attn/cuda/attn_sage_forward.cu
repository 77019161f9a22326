// Sage attention forward on Hopper (the contract: src/attn/attn_sage.h; the lab:
// dev/sage/README.md). Four launches on one stream:
//   stats   per (b, h) and channel: sum of K and max |V| over keys < n (vdit_attn_sage_stats)
//   quant Q Q codes and Q scale * softmax scale * log2 e per group; scale * (q . mu) per row
//   quant K (K - mu) codes and scales per group
//   quant V V^T e4m3 codes, per-channel scale amax / 448, keys permuted per 32 (fp8 only)
//   forward one block of two consumer warpgroups per 128 query rows (the dense wgmma kernel's
//           structure, attn_forward_wgmma.cu): per 128-key tile
//             S = Q K^T   wgmma m64n128k32 s8 x s8 -> s32, both from shared memory (K-major)
//             dequant     float(s32) * (q scale * k scale): exact int -> float by the 2^23 trick
//             softmax     online in log2 units; P' = 2^(t - m + log2 448) for fp8
//             O_tile = P V  wgmma m64n128k32 e4m3 with P from registers, V^T from shared
//                         memory, a fresh fp32 accumulator per tile; O = O * alpha + O_tile
//             (half: P in bf16/fp16, O += P V with the dense kernel's m64n128k16)
//           epilogue O * (1 / l) * v_scale, LSE corrected by scale * (q . mu)
// Head dim 128 only (one 128-byte swizzle row per 8-bit token); 16-byte aligned tensors.
#include "attn/attn_sage.h"
#include "attn/cuda/attn_sage_cuda.h"
#include "attn/cuda/attn_sage_wgmma.cuh"
#include "attn/cuda/attn_wgmma_tiles.cuh"
#include "base/cuda_check.h"
#include "num/format_convert.h"

#include <limits.h>

#define SAGE_D 128

static size_t align256(size_t n) { return (n + 255) & ~(size_t)255; }

// Pieces of the workspace for one problem (see attn_sage_cuda.h); group strides per (b, h)
// are the largest any granularity needs.
typedef struct sage_ws {
  int8_t *q8, *k8;
  uint8_t *vt8;
  float *qsf, *ks, *kstat, *qmu;
  int sq_pad, sk_pad, qg_stride, kg_stride;
} sage_ws;

static size_t sage_ws_layout(int64_t B, int64_t H, int64_t Sq, int64_t Sk, void *base, sage_ws *w) {
  const int64_t bh = B * H, sq_pad = (Sq + 127) / 128 * 128, sk_pad = (Sk + 127) / 128 * 128;
  const int64_t qg = sq_pad / 2, kg = sk_pad / 32; // per-thread groups: 8 per 16 rows, 4 per 128 keys
  size_t sizes[7] = {align256((size_t)(bh * sq_pad * SAGE_D)), align256((size_t)(bh * sk_pad * SAGE_D)),
                     align256((size_t)(bh * sk_pad * SAGE_D)), align256((size_t)(bh * qg) * 4),
                     align256((size_t)(bh * kg) * 4), align256((size_t)(bh * 2 * SAGE_D) * 4),
                     align256((size_t)(bh * Sq) * 4)};
  size_t offset[7], total = 0;
  for (int i = 0; i < 7; i++) offset[i] = total, total += sizes[i];
  if (w) {
    char *c = (char *)base;
    w->q8 = (int8_t *)(c + offset[0]);
    w->k8 = (int8_t *)(c + offset[1]);
    w->vt8 = (uint8_t *)(c + offset[2]);
    w->qsf = (float *)(c + offset[3]);
    w->ks = (float *)(c + offset[4]);
    w->kstat = (float *)(c + offset[5]);
    w->qmu = (float *)(c + offset[6]);
    w->sq_pad = (int)sq_pad;
    w->sk_pad = (int)sk_pad;
    w->qg_stride = (int)qg;
    w->kg_stride = (int)kg;
  }
  return total > 0 ? total : 256;
}

extern "C" size_t vdit_attn_sage_cuda_workspace_bytes(int64_t batch, int64_t heads, int64_t seq_q, int64_t seq_k,
                                                      int64_t head_dim) {
  (void)head_dim; // 128 (vdit_attn_sage_cuda_fits)
  return sage_ws_layout(batch, heads, seq_q, seq_k, NULL, NULL);
}

extern "C" int vdit_attn_sage_cuda_fits(const vdit_attn_cuda_params *p) {
  if (p->D != SAGE_D) return 0;
  const int64_t strides[] = {p->q_ss, p->k_ss, p->v_ss, p->o_ss, p->q_sb, p->k_sb,
                             p->v_sb, p->o_sb, p->q_sh, p->k_sh, p->v_sh, p->o_sh};
  for (size_t i = 0; i < sizeof strides / sizeof strides[0]; i++)
    if (strides[i] % 8) return 0;
  const void *bases[] = {p->q, p->k, p->v, p->o};
  for (size_t i = 0; i < sizeof bases / sizeof bases[0]; i++)
    if ((uintptr_t)bases[i] % 16) return 0;
  return 1;
}

// ---------------------------------------------------------------- quantization kernels

// Group of token r of a 128-token block and the block's group count (attn_sage.h's maps).
template <bool IS_Q> static __device__ __forceinline__ int sage_local_group(int gran, int r) {
  if (gran == VDIT_ATTN_SAGE_PER_WARP) return IS_Q ? r / 16 : r / 64;
  if (gran == VDIT_ATTN_SAGE_PER_THREAD) return IS_Q ? (r / 16) * 8 + (r % 8) : (r % 8) / 2;
  return 0;
}
template <bool IS_Q> static __device__ __forceinline__ int sage_block_groups(int gran) {
  if (gran == VDIT_ATTN_SAGE_PER_WARP) return IS_Q ? 8 : 2;
  if (gran == VDIT_ATTN_SAGE_PER_THREAD) return IS_Q ? 64 : 4;
  return 1;
}

// One 128-token block of Q or K per CTA: thread 2r + half handles channels 64 half.. of token r.
template <typename T, bool IS_Q>
static __global__ void __launch_bounds__(256) sage_quant_qk_kernel(const vdit_attn_cuda_params p, const sage_ws w,
                                                                   int gran, float sl2) {
  typedef attn_dtype_traits<T> tt;
  const int b = blockIdx.z, h = blockIdx.y, bh = b * p.H + h, tid = threadIdx.x;
  const int r = tid >> 1, hf = tid & 1, tok = blockIdx.x * 128 + r;
  const int S = IS_Q ? p.Sq : p.Sk, spad = IS_Q ? w.sq_pad : w.sk_pad;
  const int n = attn_key_len(p, b);
  const float *mu_sum = w.kstat + (int64_t)bh * 2 * SAGE_D;
  const T *g = IS_Q ? reinterpret_cast<const T *>(p.q) + b * p.q_sb + h * p.q_sh
                    : reinterpret_cast<const T *>(p.k) + b * p.k_sb + h * p.k_sh;
  const int64_t ss = IS_Q ? p.q_ss : p.k_ss;
  float x[64];
  float amax = 0.0f, dot = 0.0f;
#pragma unroll
  for (int c = 0; c < 8; c++) {
    union {
      uint4 u;
      T e[8];
    } chunk;
    chunk.u = make_uint4(0, 0, 0, 0);
    if (tok < S) chunk.u = *reinterpret_cast<const uint4 *>(g + (int64_t)tok * ss + hf * 64 + c * 8);
#pragma unroll
    for (int e = 0; e < 8; e++) {
      const int d = hf * 64 + c * 8 + e;
      const float v = tt::to_float(chunk.e[e]);
      const float mu = n > 0 ? __fdiv_rn(mu_sum[d], (float)n) : 0.0f;
      if (IS_Q) {
        dot = __fadd_rn(dot, __fmul_rn(v, mu));
        x[c * 8 + e] = v;
      } else {
        x[c * 8 + e] = tok < S ? __fsub_rn(v, mu) : 0.0f;
      }
      amax = fmaxf(amax, fabsf(x[c * 8 + e]));
    }
  }
  amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, 1));
  __shared__ float tok_amax[128], group_scale[64];
  if (hf == 0) tok_amax[r] = amax;
  if (IS_Q) {
    const float other = __shfl_xor_sync(0xffffffffu, dot, 1);
    if (hf == 0 && tok < S) w.qmu[(int64_t)bh * p.Sq + tok] = __fmul_rn(p.scale, __fadd_rn(dot, other));
  }
  __syncthreads();
  const int groups = sage_block_groups<IS_Q>(gran);
  if (tid < groups) {
    float m = 0.0f;
    for (int rr = 0; rr < 128; rr++)
      if (sage_local_group<IS_Q>(gran, rr) == tid) m = fmaxf(m, tok_amax[rr]);
    const float scale = __fdiv_rn(m, 127.0f);
    group_scale[tid] = scale;
    if (IS_Q) w.qsf[(int64_t)bh * w.qg_stride + blockIdx.x * groups + tid] = __fmul_rn(scale, sl2);
    else w.ks[(int64_t)bh * w.kg_stride + blockIdx.x * groups + tid] = scale;
  }
  __syncthreads();
  const float scale = group_scale[sage_local_group<IS_Q>(gran, r)];
  int8_t *out = (IS_Q ? w.q8 : w.k8) + ((int64_t)bh * spad + tok) * SAGE_D + hf * 64;
#pragma unroll
  for (int c = 0; c < 4; c++) {
    uint32_t word[4];
#pragma unroll
    for (int k = 0; k < 4; k++) word[k] = sage_pack_i8x4(x + c * 16 + k * 4, scale);
    *reinterpret_cast<uint4 *>(out + c * 16) = make_uint4(word[0], word[1], word[2], word[3]);
  }
}

// V^T e4m3 codes of one 128-key block, keys permuted (sage_fragment_position), rows of D.
template <typename T>
static __global__ void __launch_bounds__(256) sage_quant_v_kernel(const vdit_attn_cuda_params p, const sage_ws w) {
  typedef attn_dtype_traits<T> tt;
  const int b = blockIdx.z, h = blockIdx.y, bh = b * p.H + h, tid = threadIdx.x;
  const int r = tid >> 1, hf = tid & 1, j0 = blockIdx.x * 128, tok = j0 + r;
  const float *amax = w.kstat + (int64_t)bh * 2 * SAGE_D + SAGE_D;
  const T *vg = reinterpret_cast<const T *>(p.v) + b * p.v_sb + h * p.v_sh;
  __shared__ __align__(16) uint8_t tile[SAGE_D][128 + 16];
  const int pos = sage_fragment_position(r);
#pragma unroll
  for (int c = 0; c < 8; c++) {
    union {
      uint4 u;
      T e[8];
    } chunk;
    chunk.u = make_uint4(0, 0, 0, 0);
    if (tok < p.Sk) chunk.u = *reinterpret_cast<const uint4 *>(vg + (int64_t)tok * p.v_ss + hf * 64 + c * 8);
#pragma unroll
    for (int e = 0; e < 8; e++) {
      const int d = hf * 64 + c * 8 + e;
      const float vs = __fdiv_rn(amax[d], 448.0f);
      const float v = tt::to_float(chunk.e[e]);
      tile[d][pos] = (tok < p.Sk && vs > 0.0f) ? vdit_num_encode_e4m3(__fdiv_rn(v, vs)) : (uint8_t)0;
    }
  }
  __syncthreads();
  uint8_t *out = w.vt8 + (int64_t)bh * SAGE_D * w.sk_pad + j0;
#pragma unroll
  for (int it = 0; it < 4; it++) {
    const int idx = it * 256 + tid, d = idx >> 3, c = idx & 7;
    *reinterpret_cast<uint4 *>(out + (int64_t)d * w.sk_pad + c * 16) = *reinterpret_cast<const uint4 *>(&tile[d][c * 16]);
  }
}

// ---------------------------------------------------------------- forward kernel
// rows [row0, row0 + 128) of an 8-bit (rows, 128) matrix with row pitch `pitch` bytes into a
// 128B-swizzled [128][128] byte tile (16-byte chunk c of row r at c ^ (r % 8)).
template <int NT>
static __device__ __forceinline__ void load_tile_b8(uint8_t *tile, const uint8_t *g, int64_t pitch) {
#pragma unroll
  for (int it = 0; it < 128 * 8 / NT; it++) {
    const int idx = it * NT + (int)threadIdx.x;
    const int r = idx >> 3, c = idx & 7;
    cp_async16(smem_u32(tile + r * 128 + ((c ^ (r & 7)) << 4)), g + (int64_t)r * pitch + c * 16, true);
  }
}

// exact float of |x| < 2^22
static __device__ __forceinline__ float sage_i2f(int32_t x) { return __fsub_rn(__int_as_float(x + 0x4B400000), SAGE_EXP_BIAS); }

// 2^x on the MUFU alone (results below 2^-126 flush to zero)
static __device__ __forceinline__ float sage_ex2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}

// e4m3 codes of (low, high) in bits 0-7 and 8-15, as num/format_convert.h's encoder rounds
static __device__ __forceinline__ uint32_t sage_cvt_e4m3x2(float low, float high) {
  uint16_t pair;
  asm("cvt.rn.satfinite.e4m3x2.f32 %0, %1, %2;" : "=h"(pair) : "f"(high), "f"(low));
  return pair;
}
static __device__ __forceinline__ uint32_t sage_pack_e4m3(float a, float b, float c, float d) {
  return sage_cvt_e4m3x2(a, b) | (sage_cvt_e4m3x2(c, d) << 16);
}

template <typename T, bool FP8, int GRAN, int STAGES>
static __global__ void __launch_bounds__(256, 1) sage_forward_kernel(const vdit_attn_cuda_params p, const sage_ws w,
                                                                     float sl2) {
  constexpr int BM = 128, BN = 128, D = SAGE_D, NT = 256;
  constexpr int VBYTES = FP8 ? D * BN : BN * D * 2;
  typedef attn_dtype_traits<T> tt;
  extern __shared__ unsigned char smem_raw[];
  const uint32_t pad = (1024u - (smem_u32(smem_raw) & 1023u)) & 1023u;
  uint8_t *sQ = smem_raw + pad;            // [128][128] bytes
  uint8_t *sK = sQ + BM * 128;             // STAGES x [128][128]
  uint8_t *sV = sK + STAGES * BN * 128;    // STAGES x (fp8: [D][BN] bytes; half: [2][BN][64] T)

  const int b = blockIdx.z, h = blockIdx.y, bh = b * p.H + h;
  const int m0 = (int)(gridDim.x - 1 - blockIdx.x) * BM;
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int wg = warp >> 2, w4 = warp & 3, g = lane >> 2, t = lane & 3;
  const uint8_t *q8 = reinterpret_cast<const uint8_t *>(w.q8) + (int64_t)bh * w.sq_pad * D;
  const uint8_t *k8 = reinterpret_cast<const uint8_t *>(w.k8) + (int64_t)bh * w.sk_pad * D;
  const uint8_t *vt8 = w.vt8 + (int64_t)bh * D * w.sk_pad;
  const T *vg = reinterpret_cast<const T *>(p.v) + b * p.v_sb + h * p.v_sh;
  T *og = reinterpret_cast<T *>(p.o) + b * p.o_sb + h * p.o_sh;

  const int key_len = attn_key_len(p, b);
  const int last_row = min(m0 + BM, p.Sq) - 1;
  const int limit_max = attn_key_limit(p, key_len, last_row);
  const int limit_min = attn_key_limit(p, key_len, m0);
  const int ntiles = (limit_max + BN - 1) / BN;
  const int nfull = limit_min / BN;
  // the key tiles to visit (block-sparse walk): with a block map (p.map_offsets, 128 x 128
  // blocks) tile e is key block list[e] of this query block's row, else tile e is block e;
  // tiles at or past the key limit are dropped (the list is ascending)
  const int32_t *list = nullptr;
  int count = ntiles;
  if (p.map_offsets) {
    const int row = bh * p.map_rows + m0 / BM;
    const int begin = p.map_offsets[row];
    list = p.map_index + begin;
    count = p.map_offsets[row + 1] - begin;
    while (count > 0 && list[count - 1] >= ntiles) count--;
  }
#define SAGE_TILE(e) (list ? list[e] : (e))
  const int wrow = wg * 64 + w4 * 16;
  int row_limit[2];
#pragma unroll
  for (int r = 0; r < 2; r++) {
    const int row = m0 + wrow + g + 8 * r;
    row_limit[r] = row < p.Sq ? attn_key_limit(p, key_len, row) : 0;
  }
  // this thread's Q scale (rows g and g + 8 share a group at every granularity)
  const float *qsf = w.qsf + (int64_t)bh * w.qg_stride;
  const float *ksb = w.ks + (int64_t)bh * w.kg_stride;
  float cq;
  if (GRAN == VDIT_ATTN_SAGE_PER_WARP) cq = qsf[(m0 + wrow) / 16];
  else if (GRAN == VDIT_ATTN_SAGE_PER_THREAD) cq = qsf[(m0 + wrow) / 16 * 8 + g];
  else cq = qsf[m0 / BM];

  float o[64], ot[64];
  int32_t sacc[64];
#pragma unroll
  for (int i = 0; i < 64; i++) o[i] = ot[i] = 0.0f, sacc[i] = 0;
  float row_max[2] = {-INFINITY, -INFINITY}, row_sum[2] = {0.0f, 0.0f};

  constexpr int PRE = STAGES - 1; // tiles fetched ahead
  const uint32_t q_addr = smem_u32(sQ) + wg * 64 * 128;
  if (count > 0) {
    load_tile_b8<NT>(sQ, q8 + (int64_t)m0 * D, D);
#pragma unroll
    for (int st = 0; st < PRE; st++) {
      if (st < count) {
        const int kn = SAGE_TILE(st);
        load_tile_b8<NT>(sK + st * BN * 128, k8 + (int64_t)kn * BN * D, D);
        if (FP8) load_tile_b8<NT>(sV + st * VBYTES, vt8 + kn * BN, w.sk_pad);
        else load_tile_gmma<T, BN, D, NT>(reinterpret_cast<T *>(sV + st * VBYTES), vg, p.v_ss, kn * BN, p.Sk);
      }
      cp_async_commit();
    }
  }

  for (int e = 0; e < count; e++) {
    const int j = SAGE_TILE(e); // key block of this step
    cp_async_wait<STAGES - 2>();
    fence_proxy_async();
    __syncthreads();
    {
      const int en = e + PRE;
      if (en < count) {
        const int st = en % STAGES, kn = SAGE_TILE(en);
        load_tile_b8<NT>(sK + st * BN * 128, k8 + (int64_t)kn * BN * D, D);
        if (FP8) load_tile_b8<NT>(sV + st * VBYTES, vt8 + kn * BN, w.sk_pad);
        else load_tile_gmma<T, BN, D, NT>(reinterpret_cast<T *>(sV + st * VBYTES), vg, p.v_ss, kn * BN, p.Sk);
      }
      cp_async_commit();
    }
    const uint32_t k_addr = smem_u32(sK + (e % STAGES) * BN * 128);
    const uint32_t v_addr = smem_u32(sV + (e % STAGES) * VBYTES);

    // S = Q K^T in int32
#pragma unroll
    for (int i = 0; i < 64; i++) reg_fence(sacc[i]);
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < D / 32; kk++)
      wgmma_ss_n128_s8(sacc, gmma_desc(q_addr + kk * 32, 16, 1024), gmma_desc(k_addr + kk * 32, 16, 1024), kk > 0);
    wgmma_commit();
    wgmma_wait<0>();
#pragma unroll
    for (int i = 0; i < 64; i++) reg_fence(sacc[i]);

    // Softmax straight from the int32 scores (attn_sage.h): the row max over the integers of
    // each scale group (rounding is monotonic, so max(acc) * c = max(acc * c)), then
    // p = 2^(F c - K2) with F = 2^23 + 2^22 + acc (exact: |acc| < 2^22, one integer add on the
    // bits) and K2 = (2^23 + 2^22) c + shift: one FFMA and one MUFU per score.
    float ck0, ck1;
    if (GRAN == VDIT_ATTN_SAGE_PER_WARP) ck0 = ksb[2 * j], ck1 = ksb[2 * j + 1];
    else if (GRAN == VDIT_ATTN_SAGE_PER_THREAD) ck0 = ck1 = ksb[4 * j + t];
    else ck0 = ck1 = ksb[j];
    const float c0 = __fmul_rn(cq, ck0), c1 = __fmul_rn(cq, ck1);
    const bool edge = j >= nfull;
    if (edge) {
      const int n0 = j * BN;
#pragma unroll
      for (int n = 0; n < 16; n++)
#pragma unroll
        for (int e = 0; e < 4; e++)
          if (n0 + n * 8 + 2 * t + (e & 1) >= row_limit[e >> 1]) sacc[4 * n + e] = INT_MIN;
    }
    float alpha[2], k2[2][2];
    float s[64];
#pragma unroll
    for (int r = 0; r < 2; r++) {
      int mi0 = INT_MIN, mi1 = INT_MIN;
#pragma unroll
      for (int n = 0; n < 8; n++) mi0 = max(mi0, max(sacc[4 * n + 2 * r], sacc[4 * n + 2 * r + 1]));
#pragma unroll
      for (int n = 8; n < 16; n++) mi1 = max(mi1, max(sacc[4 * n + 2 * r], sacc[4 * n + 2 * r + 1]));
      const float t0 = mi0 == INT_MIN ? -INFINITY : __fmul_rn(sage_i2f(mi0), c0);
      const float t1 = mi1 == INT_MIN ? -INFINITY : __fmul_rn(sage_i2f(mi1), c1);
      float mx = fmaxf(row_max[r], fmaxf(t0, t1));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
      const float m_use = mx == -INFINITY ? 0.0f : mx;
      alpha[r] = sage_ex2(__fsub_rn(row_max[r], m_use));
      row_max[r] = mx;
      const float shift = FP8 ? __fsub_rn(m_use, SAGE_LOG2_448) : m_use;
      k2[r][0] = fmaf(SAGE_EXP_BIAS, c0, shift);
      k2[r][1] = fmaf(SAGE_EXP_BIAS, c1, shift);
#pragma unroll
      for (int n = 0; n < 16; n++)
#pragma unroll
        for (int e = 0; e < 2; e++) {
          const int i = 4 * n + 2 * r + e;
          s[i] = sage_ex2(fmaf(__int_as_float((int)((unsigned)sacc[i] + 0x4B400000u)), n < 8 ? c0 : c1, -k2[r][n >> 3]));
        }
      if (edge) {
#pragma unroll
        for (int n = 0; n < 16; n++)
#pragma unroll
          for (int e = 0; e < 2; e++)
            if (sacc[4 * n + 2 * r + e] == INT_MIN) s[4 * n + 2 * r + e] = 0.0f;
      }
      float sum = 0.0f;
#pragma unroll
      for (int n = 0; n < 16; n++) sum = __fadd_rn(sum, __fadd_rn(s[4 * n + 2 * r], s[4 * n + 2 * r + 1]));
      row_sum[r] = fmaf(row_sum[r], alpha[r], sum);
    }

    if (FP8) {
      // k-step kk: keys 32kk.. = S n-tiles 4kk..4kk+3, in the stored V^T order
      uint32_t pa[4][4];
#pragma unroll
      for (int kk = 0; kk < 4; kk++) {
        const int n = 16 * kk; // s index of n-tile 4kk
        pa[kk][0] = sage_pack_e4m3(s[n + 0], s[n + 1], s[n + 4], s[n + 5]);
        pa[kk][1] = sage_pack_e4m3(s[n + 2], s[n + 3], s[n + 6], s[n + 7]);
        pa[kk][2] = sage_pack_e4m3(s[n + 8], s[n + 9], s[n + 12], s[n + 13]);
        pa[kk][3] = sage_pack_e4m3(s[n + 10], s[n + 11], s[n + 14], s[n + 15]);
      }
#pragma unroll
      for (int i = 0; i < 64; i++) reg_fence(ot[i]);
#pragma unroll
      for (int kk = 0; kk < 4; kk++)
#pragma unroll
        for (int e = 0; e < 4; e++) reg_fence(pa[kk][e]);
      wgmma_fence();
#pragma unroll
      for (int kk = 0; kk < 4; kk++) wgmma_rs_n128_e4m3(ot, pa[kk], gmma_desc(v_addr + kk * 32, 16, 1024), kk > 0);
      wgmma_commit();
      wgmma_wait<0>();
#pragma unroll
      for (int i = 0; i < 64; i++) reg_fence(ot[i]);
#pragma unroll
      for (int i = 0; i < 64; i++) o[i] = fmaf(o[i], alpha[(i >> 1) & 1], ot[i]);
    } else {
#pragma unroll
      for (int i = 0; i < 64; i++) o[i] *= alpha[(i >> 1) & 1];
      uint32_t ph[BN / 16][4];
#pragma unroll
      for (int kk = 0; kk < BN / 16; kk++) {
        ph[kk][0] = tt::pack(s[8 * kk + 0], s[8 * kk + 1]);
        ph[kk][1] = tt::pack(s[8 * kk + 2], s[8 * kk + 3]);
        ph[kk][2] = tt::pack(s[8 * kk + 4], s[8 * kk + 5]);
        ph[kk][3] = tt::pack(s[8 * kk + 6], s[8 * kk + 7]);
      }
#pragma unroll
      for (int i = 0; i < 64; i++) reg_fence(o[i]);
#pragma unroll
      for (int kk = 0; kk < BN / 16; kk++)
#pragma unroll
        for (int e = 0; e < 4; e++) reg_fence(ph[kk][e]);
      wgmma_fence();
#pragma unroll
      for (int kk = 0; kk < BN / 16; kk++) wg_rs<T, D>(o, ph[kk], gmma_desc(v_addr + kk * 2048, BN * 128, 1024));
      wgmma_commit();
      wgmma_wait<0>();
#pragma unroll
      for (int i = 0; i < 64; i++) reg_fence(o[i]);
    }
  }
  cp_async_wait<0>();
#undef SAGE_TILE

  // epilogue: O / l * v_scale, LSE in natural log plus scale * (q . mu)
  const float *vmax = w.kstat + (int64_t)bh * 2 * D + D;
  float *lse = p.lse + (int64_t)bh * p.Sq;
#pragma unroll
  for (int r = 0; r < 2; r++) {
    float l = row_sum[r];
    l += __shfl_xor_sync(0xffffffffu, l, 1);
    l += __shfl_xor_sync(0xffffffffu, l, 2);
    const float inv = l > 0.0f ? __fdiv_rn(1.0f, l) : 0.0f;
    const int row = m0 + wrow + g + 8 * r;
    const float m_use = row_max[r] == -INFINITY ? 0.0f : row_max[r];
    const float shift = FP8 ? __fsub_rn(m_use, SAGE_LOG2_448) : m_use;
    if (t == 0 && row < p.Sq)
      lse[row] = l > 0.0f ? __fadd_rn(__fmul_rn(__fadd_rn(shift, log2f(l)), SAGE_LN2), w.qmu[(int64_t)bh * p.Sq + row])
                          : -INFINITY;
#pragma unroll
    for (int n = 0; n < 16; n++)
#pragma unroll
      for (int e = 0; e < 2; e++) {
        const int d = 8 * n + 2 * t + e;
        const float vs = FP8 ? __fdiv_rn(vmax[d], 448.0f) : 1.0f;
        o[4 * n + 2 * r + e] = __fmul_rn(__fmul_rn(o[4 * n + 2 * r + e], inv), vs);
      }
  }
  __syncthreads();
  T *sO = reinterpret_cast<T *>(sQ); // 32 KB over sQ and the first K stage
#pragma unroll
  for (int r = 0; r < 2; r++) {
    const int row = wrow + g + 8 * r;
#pragma unroll
    for (int n = 0; n < D / 8; n++)
      *reinterpret_cast<uint32_t *>(sO + swz<D>(row, n) + 2 * t) = tt::pack(o[4 * n + 2 * r], o[4 * n + 2 * r + 1]);
  }
  __syncthreads();
  constexpr int CH = D / 8;
#pragma unroll
  for (int it = 0; it < BM * CH / NT; it++) {
    const int idx = it * NT + tid;
    const int r = idx / CH, c = idx % CH;
    const int row = m0 + r;
    if (row < p.Sq)
      *reinterpret_cast<uint4 *>(og + (int64_t)row * p.o_ss + c * 8) = *reinterpret_cast<const uint4 *>(sO + swz<D>(r, c));
  }
}

template <typename T, bool FP8, int GRAN, int STAGES>
static cudaError_t launch_forward(const vdit_attn_cuda_params *p, const sage_ws *w, float sl2, cudaStream_t stream) {
  const size_t vbytes = FP8 ? 128 * 128 : 128 * 128 * 2;
  const size_t smem = 128 * 128 + STAGES * (128 * 128 + vbytes) + 1024;
  void (*kernel)(const vdit_attn_cuda_params, const sage_ws, float) = sage_forward_kernel<T, FP8, GRAN, STAGES>;
  cudaError_t err = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
  if (err != cudaSuccess) return err;
  dim3 grid((unsigned)((p->Sq + 127) / 128), (unsigned)p->H, (unsigned)p->B);
  kernel<<<grid, 256, smem, stream>>>(*p, *w, sl2);
  return cudaGetLastError();
}

template <typename T, bool FP8>
// 2 stages: the lab's timed choice (3 stages and a deferred P V wait were slower, dev/sage)
static cudaError_t forward_gran(const vdit_attn_cuda_params *p, const sage_ws *w, float sl2, int gran,
                                cudaStream_t stream) {
  if (gran == VDIT_ATTN_SAGE_PER_WARP) return launch_forward<T, FP8, VDIT_ATTN_SAGE_PER_WARP, 2>(p, w, sl2, stream);
  if (gran == VDIT_ATTN_SAGE_PER_THREAD) return launch_forward<T, FP8, VDIT_ATTN_SAGE_PER_THREAD, 2>(p, w, sl2, stream);
  return launch_forward<T, FP8, VDIT_ATTN_SAGE_PER_BLOCK, 2>(p, w, sl2, stream);
}

template <typename T>
static cudaError_t sage_forward_all(const vdit_attn_sage_cuda_params *sp, const sage_ws *w, cudaStream_t stream) {
  const vdit_attn_cuda_params *p = &sp->base;
  const float sl2 = p->scale * SAGE_LOG2E; // one fp32 rounding, as the CPU's VDIT_FMUL
  if (sp->pv_fp8 && sp->fwd_path != VDIT_ATTN_SAGE_FWD_V2) { // version 3 (attn_sage_forward_tma.cu)
    const vdit_attn_sage_ws_view view = {w->q8, w->k8, w->vt8, w->qsf, w->ks, w->kstat, w->qmu,
                                         w->sq_pad, w->sk_pad, w->qg_stride, w->kg_stride};
    const cudaError_t v3 = vdit_attn_sage_forward_tma(sp, &view, stream);
    if (v3 != cudaErrorNotSupported) return v3;
  }
  // the K codes' region is free until the K codes launch: it holds the stats' partial sums
  cudaError_t err = vdit_attn_sage_stats(p, w->kstat, reinterpret_cast<float *>(w->k8), stream);
  if (err != cudaSuccess) return err;
  dim3 qgrid((unsigned)(w->sq_pad / 128), (unsigned)p->H, (unsigned)p->B);
  dim3 kgrid((unsigned)(w->sk_pad / 128), (unsigned)p->H, (unsigned)p->B);
  sage_quant_qk_kernel<T, true><<<qgrid, 256, 0, stream>>>(*p, *w, sp->granularity, sl2);
  if (w->sk_pad > 0) {
    sage_quant_qk_kernel<T, false><<<kgrid, 256, 0, stream>>>(*p, *w, sp->granularity, sl2);
    if (sp->pv_fp8) sage_quant_v_kernel<T><<<kgrid, 256, 0, stream>>>(*p, *w);
  }
  err = cudaGetLastError();
  if (err != cudaSuccess) return err;
  if (sp->fwd_path == VDIT_ATTN_SAGE_FWD_QUANT) return cudaSuccess;
  if (sp->pv_fp8) return forward_gran<T, true>(p, w, sl2, sp->granularity, stream);
  return forward_gran<T, false>(p, w, sl2, sp->granularity, stream);
}

extern "C" vdit_status vdit_attn_sage_cuda_forward(const vdit_attn_sage_cuda_params *sp, cudaStream_t stream) {
  const vdit_attn_cuda_params *p = &sp->base;
  if (!vdit_attn_sage_cuda_fits(p))
    return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED,
                      "sage attention on CUDA: needs head dim 128, 16-byte aligned tensors and strides in multiples of 8 "
                      "(got D = %d)", p->D);
  if (!sp->workspace || (uintptr_t)sp->workspace % 256)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "sage attention on CUDA: workspace missing or not 256-byte aligned");
  if (p->B == 0 || p->H == 0 || p->Sq == 0) return VDIT_OK;
  sage_ws w;
  sage_ws_layout(p->B, p->H, p->Sq, p->Sk, sp->workspace, &w);
  if (p->dtype == VDIT_DTYPE_BF16) VDIT_CUDA_TRY(sage_forward_all<__nv_bfloat16>(sp, &w, stream));
  else VDIT_CUDA_TRY(sage_forward_all<__half>(sp, &w, stream));
  VDIT_CUDA_TRY_LAUNCH();
  return VDIT_OK;
}
