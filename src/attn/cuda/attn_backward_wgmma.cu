// Dense attention backward on Hopper: the wgmma main kernel (the kernel lab's version 2,
// dev/attn/bwd_v2.cu). The preprocess and dQ conversion are attn_backward_mma.cu's.
//
// One block of two warpgroups owns BN = 128 keys of one (batch, head), warpgroup w keys
// 64w..64w+63, dK and dV (64 x D each) in its registers. Query tiles of BM queries stream
// through a two-stage cp.async ring (Q, dO, LSE, Delta): BM = 64 at D = 128; BM = 128 at
// D = 64 (the lab's variant 1: +31% over BM = 64 there, since dQ is then split by queries and
// each dQ element takes one atomic add per block instead of two). Per query tile:
//   S^T = K Q^T, dP^T = V dO^T        wgmma m64nBMk16, both operands K-major from shared memory
//   P^T = exp2(S^T*scale*log2e - LSE*log2e) (masked: 0), dS^T = P^T * (dP^T - Delta)
//   dV += P^T dO, dK += dS^T Q        wgmma m64nDk16, A from registers (accumulator fragments),
//                                     B (dO, Q) read N-major from the same shared tiles
//   dS^T -> shared memory; dQ_acc += dS K   wgmma m64n64k16 with A (dS) M-major and B (K)
//                                     N-major, then float2 atomics. D = 128: warpgroup w takes
//                                     head-dim half w over all 128 keys; D = 64: warpgroup w
//                                     takes queries 64w.. over all 128 keys.
// Needs D = 64 or 128, 16-byte aligned bases and strides that are multiples of 8
// (vdit_attn_cuda_backward_wgmma_fits).
// Block-sparse executor: with the transposed map (p.mapt_offsets) the block visits only the
// query tiles of the 128-query blocks that list its key block (two 64-query tiles per block
// at D = 128); dense attention is the implicit full list from the first query tile that sees
// a key of the block.
#include "attn/cuda/attn_wgmma_tiles.cuh"

template <typename T, int BM, int D, int NT>
static __device__ __forceinline__ void issue_query_tile(const vdit_attn_cuda_params &p, int qt, T *sQ, T *sdO, float *sLse, float *sDelta,
                                                  int *sLim, const T *qg, const T *dog, const float *lse_g,
                                                  const float *delta_g, int key_len) {
  const int m0 = qt * BM;
  load_tile_gmma<T, BM, D, NT>(sQ, qg, p.q_ss, m0, p.Sq);
  load_tile_gmma<T, BM, D, NT>(sdO, dog, p.do_ss, m0, p.Sq);
  for (int idx = threadIdx.x; idx < 2 * BM; idx += NT) {
    const int r = idx % BM, row = m0 + r;
    const bool ok = row < p.Sq;
    if (idx < BM) {
      cp_async4(smem_u32(sLse + r), ok ? lse_g + row : lse_g, ok);
      sLim[r] = ok ? attn_key_limit(p, key_len, row) : 0;
    } else {
      cp_async4(smem_u32(sDelta + r), ok ? delta_g + row : delta_g, ok);
    }
  }
}

template <typename T, int BM> static __device__ __forceinline__ void wg_ss_nbm(float *d, uint64_t da, uint64_t db, int scale_d) {
  if (BM == 128) wg_ss_n128<T>(d, da, db, scale_d);
  else wg_ss_n64<T>(d, da, db, scale_d);
}

template <typename T, int D, int BM>
static __global__ void __launch_bounds__(256, 1)
    attn_backward_wgmma_kernel(const vdit_attn_cuda_params p, const float *__restrict__ delta, float *__restrict__ dq_acc) {
  constexpr int NT = 256, BN = 128;
  constexpr int AREG = D / 2;  // dK, dV floats per thread (m64 x D over 128 threads)
  constexpr int SREG = BM / 2; // S^T, dP^T floats per thread (m64 x BM)
  static_assert(D == 64 || D == 128, "wgmma path: head dim 64 or 128");
  static_assert(BM == 64 || (BM == 128 && D == 64), "query tile 64, or 128 at D = 64");
  typedef attn_dtype_traits<T> tt;

  extern __shared__ unsigned char smem_raw[];
  const uint32_t pad = (1024u - (smem_u32(smem_raw) & 1023u)) & 1023u;
  T *sK = reinterpret_cast<T *>(smem_raw + pad); // [D/64][BN][64]
  T *sV = sK + BN * D;                           // [D/64][BN][64]
  T *sQ = sV + BN * D;                           // 2 x [D/64][BM][64]
  T *sdO = sQ + 2 * BM * D;                      // 2 x [D/64][BM][64]
  T *sdS = sdO + 2 * BM * D;                     // [BM/64][BN][64] (dS^T, 128-byte rows)
  float *sLse = reinterpret_cast<float *>(sdS + BN * BM);
  float *sDelta = sLse + 2 * BM;
  int *sLim = reinterpret_cast<int *>(sDelta + 2 * BM);

  const int b = blockIdx.z, h = blockIdx.y;
  const int n0 = blockIdx.x * BN;
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int wg = warp >> 2, w4 = warp & 3, g = lane >> 2, t = lane & 3;
  const T *qg = reinterpret_cast<const T *>(p.q) + b * p.q_sb + h * p.q_sh;
  const T *kg = reinterpret_cast<const T *>(p.k) + b * p.k_sb + h * p.k_sh;
  const T *vg = reinterpret_cast<const T *>(p.v) + b * p.v_sb + h * p.v_sh;
  const T *dog = reinterpret_cast<const T *>(p.d_o) + b * p.do_sb + h * p.do_sh;
  const int64_t bh_row = ((int64_t)b * p.H + h) * p.Sq;
  const float *lse_g = p.lse + bh_row;
  const float *delta_g = delta + bh_row;
  float *dq_g = dq_acc + bh_row * D;
  const float sl2 = p.scale * ATTN_LOG2E;

  const int key_len = attn_key_len(p, b);
  const int nqt = (p.Sq + BM - 1) / BM;
  int lo = 0, hi = nqt;
  while (lo < hi) {
    const int mid = (lo + hi) >> 1;
    if (attn_key_limit(p, key_len, min(mid * BM + BM, p.Sq) - 1) > n0) hi = mid;
    else lo = mid + 1;
  }
  const int qt0 = lo;
  // the query tiles to visit: list[e] names 128-query block list[e], RQ tiles of BM each
  constexpr int RQ = 128 / BM;
  const int32_t *list = nullptr;
  int count = nqt - qt0;
  if (p.mapt_offsets) {
    const int r = (b * p.H + h) * p.mapt_rows + blockIdx.x;
    const int begin = p.mapt_offsets[r];
    list = p.mapt_index + begin;
    count = (p.mapt_offsets[r + 1] - begin) * RQ;
    while (count > 0 && list[(count - 1) / RQ] * RQ + (count - 1) % RQ >= nqt) count--;
  }
#define QTILE_OF(n) (list ? list[(n) / RQ] * RQ + (n) % RQ : qt0 + (n))

  float dk[AREG], dv[AREG];
#pragma unroll
  for (int i = 0; i < AREG; i++) dk[i] = dv[i] = 0.0f;

  if (count > 0) {
    load_tile_gmma<T, BN, D, NT>(sK, kg, p.k_ss, n0, p.Sk);
    load_tile_gmma<T, BN, D, NT>(sV, vg, p.v_ss, n0, p.Sk);
    issue_query_tile<T, BM, D, NT>(p, QTILE_OF(0), sQ, sdO, sLse, sDelta, sLim, qg, dog, lse_g, delta_g, key_len);
    cp_async_commit();
  }

  const uint32_t k_addr = smem_u32(sK), v_addr = smem_u32(sV), ds_addr = smem_u32(sdS);
  const int key_local0 = wg * 64 + w4 * 16 + g; // this thread's keys (local): +0 and +8
  for (int it = 0; it < count; it++) {
    const int qt = QTILE_OF(it);
    const int buf = it & 1;
    cp_async_wait<0>();
    fence_proxy_async();
    __syncthreads();
    if (it + 1 < count) {
      issue_query_tile<T, BM, D, NT>(p, QTILE_OF(it + 1), sQ + (buf ^ 1) * BM * D, sdO + (buf ^ 1) * BM * D, sLse + (buf ^ 1) * BM,
                                      sDelta + (buf ^ 1) * BM, sLim + (buf ^ 1) * BM, qg, dog, lse_g, delta_g, key_len);
      cp_async_commit();
    }
    const int m0 = qt * BM;
    const bool need_mask = attn_key_limit(p, key_len, m0) < n0 + BN || m0 + BM > p.Sq;
    const uint32_t q_addr = smem_u32(sQ + buf * BM * D), do_addr = smem_u32(sdO + buf * BM * D);
    const float *lse_b = sLse + buf * BM, *delta_b = sDelta + buf * BM;
    const int *lim_b = sLim + buf * BM;

    // S^T and dP^T (64 keys x 64 queries per warpgroup), both in flight together
    float s[SREG], dp[SREG];
#pragma unroll
    for (int i = 0; i < SREG; i++) {
      s[i] = dp[i] = 0.0f;
      reg_fence(s[i]);
      reg_fence(dp[i]);
    }
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < D / 16; kk++) {
      const uint32_t koff = (kk >> 2) * BN * 128 + wg * 64 * 128 + (kk & 3) * 32;
      const uint32_t qoff = (kk >> 2) * BM * 128 + (kk & 3) * 32;
      wg_ss_nbm<T, BM>(s, gmma_desc(k_addr + koff, 16, 1024), gmma_desc(q_addr + qoff, 16, 1024), kk > 0);
    }
#pragma unroll
    for (int kk = 0; kk < D / 16; kk++) {
      const uint32_t koff = (kk >> 2) * BN * 128 + wg * 64 * 128 + (kk & 3) * 32;
      const uint32_t qoff = (kk >> 2) * BM * 128 + (kk & 3) * 32;
      wg_ss_nbm<T, BM>(dp, gmma_desc(v_addr + koff, 16, 1024), gmma_desc(do_addr + qoff, 16, 1024), kk > 0);
    }
    wgmma_commit();
    wgmma_wait<0>();
#pragma unroll
    for (int i = 0; i < SREG; i++) {
      reg_fence(s[i]);
      reg_fence(dp[i]);
    }

    // P^T and dS^T; element 4n + e: key key_local0 + 8 (e >> 1), query 8n + 2t + (e & 1)
#pragma unroll
    for (int n = 0; n < BM / 8; n++)
#pragma unroll
      for (int c = 0; c < 2; c++) {
        const int q = n * 8 + 2 * t + c;
        const float lse2 = lse_b[q] * ATTN_LOG2E, dl = delta_b[q];
        const int lim = lim_b[q];
#pragma unroll
        for (int r = 0; r < 2; r++) {
          float pv = exp2f(fmaf(s[4 * n + 2 * r + c], sl2, -lse2));
          if (need_mask && n0 + key_local0 + 8 * r >= lim) pv = 0.0f;
          s[4 * n + 2 * r + c] = pv;
          dp[4 * n + 2 * r + c] = pv * (dp[4 * n + 2 * r + c] - dl);
        }
      }
    uint32_t pa[BM / 16][4], dsa[BM / 16][4];
#pragma unroll
    for (int kq = 0; kq < BM / 16; kq++)
#pragma unroll
      for (int e = 0; e < 4; e++) {
        pa[kq][e] = tt::pack(s[8 * kq + 2 * e], s[8 * kq + 2 * e + 1]);
        dsa[kq][e] = tt::pack(dp[8 * kq + 2 * e], dp[8 * kq + 2 * e + 1]);
      }

    // dV += P^T dO, dK += dS^T Q: B read N-major (head dim contiguous), 16 queries per step
#pragma unroll
    for (int i = 0; i < AREG; i++) {
      reg_fence(dv[i]);
      reg_fence(dk[i]);
    }
#pragma unroll
    for (int kq = 0; kq < BM / 16; kq++)
#pragma unroll
      for (int e = 0; e < 4; e++) {
        reg_fence(pa[kq][e]);
        reg_fence(dsa[kq][e]);
      }
    wgmma_fence();
#pragma unroll
    for (int kq = 0; kq < BM / 16; kq++) wg_rs<T, D>(dv, pa[kq], gmma_desc(do_addr + kq * 2048, BM * 128, 1024));
#pragma unroll
    for (int kq = 0; kq < BM / 16; kq++) wg_rs<T, D>(dk, dsa[kq], gmma_desc(q_addr + kq * 2048, BM * 128, 1024));
    wgmma_commit();

    // dS^T to shared memory (rows = keys; each block of 64 queries is one 128-byte swizzled row)
#pragma unroll
    for (int n = 0; n < BM / 8; n++)
#pragma unroll
      for (int r = 0; r < 2; r++)
        *reinterpret_cast<uint32_t *>(sdS + (n >> 3) * BN * 64 + swz<64>(key_local0 + 8 * r, n & 7) + 2 * t) =
            tt::pack(dp[4 * n + 2 * r], dp[4 * n + 2 * r + 1]);
    fence_proxy_async();
    __syncthreads();

    // dQ_acc += dS K: A = dS (64 queries x keys) M-major from sdS, B = K N-major.
    // BM = 128: warpgroup w takes queries 64w.. over all keys; BM = 64: see the header.
    {
      constexpr int KSTEPS = (D == 128 || BM == 128) ? BN / 16 : 64 / 16;
      const int key_base = (D == 128 || BM == 128) ? 0 : wg * 64;
      const int dblk = D == 128 ? wg : 0;
      const int qblk = BM == 128 ? wg : 0;
      float acc[32];
#pragma unroll
      for (int i = 0; i < 32; i++) {
        acc[i] = 0.0f;
        reg_fence(acc[i]);
      }
      wgmma_fence();
#pragma unroll
      for (int kk = 0; kk < KSTEPS; kk++) {
        const uint32_t row = (key_base + kk * 16) * 128;
        wg_ss_n64_tt<T>(acc, gmma_desc(ds_addr + qblk * BN * 128 + row, BN * 128, 1024),
                        gmma_desc(k_addr + dblk * BN * 128 + row, BN * 128, 1024), kk > 0);
      }
      wgmma_commit();
      wgmma_wait<0>(); // also completes the dV, dK group
#pragma unroll
      for (int i = 0; i < 32; i++) reg_fence(acc[i]);
#pragma unroll
      for (int r = 0; r < 2; r++) {
        const int q = m0 + qblk * 64 + w4 * 16 + g + 8 * r;
        if (q >= p.Sq) continue;
        float *row = dq_g + (int64_t)q * D + dblk * 64 + 2 * t;
#pragma unroll
        for (int n = 0; n < 8; n++) atomicAdd(reinterpret_cast<float2 *>(row + n * 8), make_float2(acc[4 * n + 2 * r], acc[4 * n + 2 * r + 1]));
      }
    }
#pragma unroll
    for (int i = 0; i < AREG; i++) {
      reg_fence(dv[i]);
      reg_fence(dk[i]);
    }
  }

#undef QTILE_OF
  // epilogue: dK (scaled) and dV of this thread's keys
  T *dkg = reinterpret_cast<T *>(p.dk) + b * p.dk_sb + h * p.dk_sh;
  T *dvg = reinterpret_cast<T *>(p.dv) + b * p.dv_sb + h * p.dv_sh;
#pragma unroll
  for (int r = 0; r < 2; r++) {
    const int key = n0 + key_local0 + 8 * r;
    if (key >= p.Sk) continue;
    T *dk_row = dkg + (int64_t)key * p.dk_ss;
    T *dv_row = dvg + (int64_t)key * p.dv_ss;
#pragma unroll
    for (int n = 0; n < D / 8; n++) {
      const int col = n * 8 + 2 * t;
      *reinterpret_cast<uint32_t *>(dk_row + col) = tt::pack(dk[4 * n + 2 * r] * p.scale, dk[4 * n + 2 * r + 1] * p.scale);
      *reinterpret_cast<uint32_t *>(dv_row + col) = tt::pack(dv[4 * n + 2 * r], dv[4 * n + 2 * r + 1]);
    }
  }
}

template <typename T, int D, int BM>
static cudaError_t launch_backward_wgmma(const vdit_attn_cuda_params *p, const float *delta, float *dq_acc, cudaStream_t stream) {
  const size_t smem = (size_t)(2 * 128 * D + 4 * BM * D + 128 * BM) * sizeof(T) + 6 * BM * sizeof(float) + 1024;
  void (*kernel)(const vdit_attn_cuda_params, const float *, float *) = attn_backward_wgmma_kernel<T, D, BM>;
  cudaError_t err = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
  if (err != cudaSuccess) return err;
  dim3 grid((unsigned)((p->Sk + 127) / 128), (unsigned)p->H, (unsigned)p->B);
  if (grid.x == 0) return cudaSuccess;
  kernel<<<grid, 256, smem, stream>>>(*p, delta, dq_acc);
  return cudaGetLastError();
}

extern "C" int vdit_attn_cuda_backward_wgmma_fits(const vdit_attn_cuda_params *p) {
  if (p->D != 64 && p->D != 128) return 0;
  const int64_t strides[] = {p->q_sb, p->q_ss, p->q_sh, p->k_sb, p->k_ss, p->k_sh, p->v_sb, p->v_ss, p->v_sh,
                             p->do_sb, p->do_ss, p->do_sh, p->dk_sb, p->dk_ss, p->dk_sh, p->dv_sb, p->dv_ss, p->dv_sh};
  for (size_t i = 0; i < sizeof strides / sizeof strides[0]; i++)
    if (strides[i] % 8) return 0;
  const void *bases[] = {p->q, p->k, p->v, p->d_o, p->dk, p->dv};
  for (size_t i = 0; i < sizeof bases / sizeof bases[0]; i++)
    if ((uintptr_t)bases[i] % 16) return 0;
  return 1;
}

// dq_acc rows are D floats (= the padded head dim for D = 64, 128).
extern "C" cudaError_t vdit_attn_cuda_backward_wgmma(const vdit_attn_cuda_params *p, const float *delta, float *dq_acc,
                                                     cudaStream_t stream) {
  if (p->dtype == VDIT_DTYPE_BF16)
    return p->D == 128 ? launch_backward_wgmma<__nv_bfloat16, 128, 64>(p, delta, dq_acc, stream)
                       : launch_backward_wgmma<__nv_bfloat16, 64, 128>(p, delta, dq_acc, stream);
  return p->D == 128 ? launch_backward_wgmma<__half, 128, 64>(p, delta, dq_acc, stream)
                     : launch_backward_wgmma<__half, 64, 128>(p, delta, dq_acc, stream);
}
