// Sage attention forward on Hopper (the contract: src/attn/attn_sage.h; the lab:
// dev/sage/README.md), version 2. On one stream:
//   quantize  stats, then the Q, K and (fp8 only) V^T codes (vdit_attn_sage_quantize,
//             attn_sage_quant.cu, shared with version 3)
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
static size_t sage_ws_layout(int64_t B, int64_t H, int64_t Sq, int64_t Sk, void *base, vdit_attn_sage_ws_view *w) {
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


template <typename T, bool FP8, int GRAN, int STAGES>
static __global__ void __launch_bounds__(256, 1) sage_forward_kernel(const vdit_attn_cuda_params p, const vdit_attn_sage_ws_view w,
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
          const float x = fmaf(__int_as_float((int)((unsigned)sacc[i] + 0x4B400000u)), n < 8 ? c0 : c1, -k2[r][n >> 3]);
          // FP8: the contract's polynomial on the offload keys (n-tile n = 8-key group n), as the
          // emulation and version 3: with the row sum over the rounded P' a code flipped by the
          // MUFU's approximation moves l (and the LSE) by up to 1/16 of that P'
          s[i] = FP8 && ((SAGE_POLY_GROUPS >> n) & 1u) ? sage_exp2_poly(x) : sage_ex2(x);
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
      for (int n = 0; n < 16; n++) // FP8: the sum of the e4m3-rounded P' (attn_sage.h)
        sum = __fadd_rn(sum, FP8 ? sage_e4m3_pair_sum(s[4 * n + 2 * r], s[4 * n + 2 * r + 1])
                                 : __fadd_rn(s[4 * n + 2 * r], s[4 * n + 2 * r + 1]));
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
static cudaError_t launch_forward(const vdit_attn_cuda_params *p, const vdit_attn_sage_ws_view *w, float sl2, cudaStream_t stream) {
  const size_t vbytes = FP8 ? 128 * 128 : 128 * 128 * 2;
  const size_t smem = 128 * 128 + STAGES * (128 * 128 + vbytes) + 1024;
  void (*kernel)(const vdit_attn_cuda_params, const vdit_attn_sage_ws_view, float) = sage_forward_kernel<T, FP8, GRAN, STAGES>;
  cudaError_t err = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
  if (err != cudaSuccess) return err;
  dim3 grid((unsigned)((p->Sq + 127) / 128), (unsigned)p->H, (unsigned)p->B);
  kernel<<<grid, 256, smem, stream>>>(*p, *w, sl2);
  return cudaGetLastError();
}

template <typename T, bool FP8>
// 2 stages: the lab's timed choice (3 stages and a deferred P V wait were slower, dev/sage)
static cudaError_t forward_gran(const vdit_attn_cuda_params *p, const vdit_attn_sage_ws_view *w, float sl2, int gran,
                                cudaStream_t stream) {
  if (gran == VDIT_ATTN_SAGE_PER_WARP) return launch_forward<T, FP8, VDIT_ATTN_SAGE_PER_WARP, 2>(p, w, sl2, stream);
  if (gran == VDIT_ATTN_SAGE_PER_THREAD) return launch_forward<T, FP8, VDIT_ATTN_SAGE_PER_THREAD, 2>(p, w, sl2, stream);
  return launch_forward<T, FP8, VDIT_ATTN_SAGE_PER_BLOCK, 2>(p, w, sl2, stream);
}

template <typename T>
static cudaError_t sage_forward_all(const vdit_attn_sage_cuda_params *sp, const vdit_attn_sage_ws_view *w, cudaStream_t stream) {
  const vdit_attn_cuda_params *p = &sp->base;
  const float sl2 = p->scale * SAGE_LOG2E; // one fp32 rounding, as the CPU's VDIT_FMUL
  if (sp->pv_fp8 && sp->fwd_path != VDIT_ATTN_SAGE_FWD_V2) { // version 3 (attn_sage_forward_tma.cu)
    const cudaError_t v3 = vdit_attn_sage_forward_tma(sp, w, stream);
    if (v3 != cudaErrorNotSupported || p->lin_hc) return v3;
  }
  if (p->lin_hc) return cudaErrorNotSupported; // SLA2's epilogue (sla(sage=1)) lives in version 3 only
  const cudaError_t err = vdit_attn_sage_quantize(sp, w, stream);
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
  vdit_attn_sage_ws_view w;
  sage_ws_layout(p->B, p->H, p->Sq, p->Sk, sp->workspace, &w);
  if (p->dtype == VDIT_DTYPE_BF16) VDIT_CUDA_TRY(sage_forward_all<__nv_bfloat16>(sp, &w, stream));
  else VDIT_CUDA_TRY(sage_forward_all<__half>(sp, &w, stream));
  VDIT_CUDA_TRY_LAUNCH();
  return VDIT_OK;
}
