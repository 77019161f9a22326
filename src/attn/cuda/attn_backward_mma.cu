// Dense attention backward, generic path, and the two steps every backward path shares.
// FlashAttention-2 style with mma.sync m16n8k16 for any head dim up to 256 and any strides (the
// kernel lab's version 1, dev/attn/bwd_v1.cu; the engine keeps only its generic
// configurations: D = 64 and 128 with aligned strides take the wgmma main kernel).
//
// Three launches:
//   1. preprocess: Delta_i = rowsum(dO_i * O_i) (fp32, (B, H, Sq)) and dQ_acc = 0 (fp32,
//      (B, H, Sq, DPAD)).
//   2. main: one block per BN keys of one (batch, head); K and V tiles stay in shared memory,
//      Q, dO, LSE and Delta tiles of BM queries stream through a two-stage cp.async ring.
//      Each warp owns 16 keys (and a DPAD/WD slice of the head dim) and keeps dK, dV in
//      registers. Per query tile, with scores transposed (keys as rows, so the accumulator
//      fragments of P^T and dS^T are directly the A fragments of the dV and dK products):
//        S^T = K Q^T, P^T = exp2(S^T * scale*log2e - LSE*log2e)   (masked entries 0)
//        dP^T = V dO^T, dV += P^T dO, dS^T = P^T * (dP^T - Delta), dK += dS^T Q
//      dS^T goes to shared memory; then dQ_acc += dS K (fp32 atomics, float2 red on sm_90).
//      Query tiles before the first one that sees this key block are skipped (binary search on
//      the monotone key limit); tiles every query sees in full run without the mask.
//   3. dq: dQ = scale * dQ_acc in the input dtype. dK is scaled in the main kernel's epilogue.
// No S x S matrix exists anywhere.
#include "attn/cuda/attn_cuda_common.cuh"

template <typename T>
static __global__ void attn_backward_preprocess_kernel(const vdit_attn_cuda_params p, float *delta, float *dq_acc, int dpad) {
  typedef attn_dtype_traits<T> tt;
  const int warps = blockDim.x >> 5, lane = threadIdx.x & 31;
  const int64_t total = (int64_t)p.B * p.H * p.Sq;
  for (int64_t row = (int64_t)blockIdx.x * warps + (threadIdx.x >> 5); row < total; row += (int64_t)gridDim.x * warps) {
    const int i = (int)(row % p.Sq);
    const int64_t bh = row / p.Sq;
    const int h = (int)(bh % p.H), b = (int)(bh / p.H);
    const T *o = reinterpret_cast<const T *>(p.o) + b * p.o_sb + (int64_t)i * p.o_ss + h * p.o_sh;
    const T *d_o = reinterpret_cast<const T *>(p.d_o) + b * p.do_sb + (int64_t)i * p.do_ss + h * p.do_sh;
    float acc = 0.0f;
    for (int d = lane; d < p.D; d += 32) acc += tt::to_float(o[d]) * tt::to_float(d_o[d]);
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, off);
    if (lane == 0) delta[row] = acc;
    float4 *dq = reinterpret_cast<float4 *>(dq_acc + row * dpad);
    for (int d = lane; d < dpad / 4; d += 32) dq[d] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
  }
}

template <typename T>
static __global__ void attn_backward_dq_kernel(const vdit_attn_cuda_params p, const float *dq_acc, int dpad) {
  typedef attn_dtype_traits<T> tt;
  const int64_t total = (int64_t)p.B * p.H * p.Sq * p.D;
  for (int64_t idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; idx < total; idx += (int64_t)gridDim.x * blockDim.x) {
    const int d = (int)(idx % p.D);
    const int64_t row = idx / p.D;
    const int i = (int)(row % p.Sq);
    const int64_t bh = row / p.Sq;
    const int h = (int)(bh % p.H), b = (int)(bh / p.H);
    T *dq = reinterpret_cast<T *>(p.dq) + b * p.dq_sb + (int64_t)i * p.dq_ss + h * p.dq_sh;
    dq[d] = tt::from_float(dq_acc[row * dpad + d] * p.scale);
  }
}

// Issues the loads of query tile qt (Q, dO, LSE, Delta) into one ring slot and writes the
// slot's key limits; the caller commits the cp.async group.
template <typename T, int BM, int DPAD, int NT, bool VEC>
static __device__ __forceinline__ void bwd_issue_q_tile(const vdit_attn_cuda_params &p, int qt, T *sQ, T *sdO, float *sLse, float *sDelta,
                                                 int *sLim, const T *qg, const T *dog, const float *lse_g,
                                                 const float *delta_g, int key_len, int D) {
  const int m0 = qt * BM;
  load_tile<T, BM, DPAD, NT, VEC>(sQ, qg, p.q_ss, m0, p.Sq, D);
  load_tile<T, BM, DPAD, NT, VEC>(sdO, dog, p.do_ss, m0, p.Sq, D);
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

template <typename T, int DPAD, int BM, int NW, int WD, bool EXACT, bool VEC>
static __global__ void __launch_bounds__(NW * 32)
    attn_backward_mma_kernel(const vdit_attn_cuda_params p, const float *__restrict__ delta, float *__restrict__ dq_acc) {
  constexpr int NT = NW * 32;
  constexpr int NWK = NW / WD;        // warps along keys
  constexpr int BN = 16 * NWK;        // keys per block
  constexpr int DW = DPAD / WD;       // head-dim slice of a warp's dK, dV
  constexpr int SN = BM / 8;          // n-tiles of S^T (queries)
  constexpr int KSTEPS = DPAD / 16;   // k-steps over the head dim
  constexpr int QMW = BM / 16;        // dQ phase: warps along queries
  constexpr int QDW = NW / QMW;       // dQ phase: warps along the head dim
  constexpr int QDWID = DPAD / QDW;   // dQ phase: head-dim slice per warp
  static_assert(NW % WD == 0 && DW % 16 == 0, "bad head-dim split");
  static_assert(NW % QMW == 0 && QDWID % 16 == 0, "bad dQ split");
  static_assert(BM % 64 == 0, "dS^T rows are swizzled tiles of BM elements");
  typedef attn_dtype_traits<T> tt;

  extern __shared__ __align__(128) unsigned char smem_raw[];
  T *sK = reinterpret_cast<T *>(smem_raw); // BN x DPAD
  T *sV = sK + BN * DPAD;                  // BN x DPAD
  T *sQ = sV + BN * DPAD;                  // 2 x BM x DPAD
  T *sdO = sQ + 2 * BM * DPAD;             // 2 x BM x DPAD
  T *sdS = sdO + 2 * BM * DPAD;            // BN x BM (dS^T)
  float *sLse = reinterpret_cast<float *>(sdS + BN * BM); // 2 x BM
  float *sDelta = sLse + 2 * BM;                          // 2 x BM
  int *sLim = reinterpret_cast<int *>(sDelta + 2 * BM);   // 2 x BM

  const int D = EXACT ? DPAD : p.D;
  const int b = blockIdx.z, h = blockIdx.y;
  const int n0 = blockIdx.x * BN;
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int g = lane >> 2, t = lane & 3;
  const int kw = warp % NWK, dw = warp / NWK;
  const T *qg = reinterpret_cast<const T *>(p.q) + b * p.q_sb + h * p.q_sh;
  const T *kg = reinterpret_cast<const T *>(p.k) + b * p.k_sb + h * p.k_sh;
  const T *vg = reinterpret_cast<const T *>(p.v) + b * p.v_sb + h * p.v_sh;
  const T *dog = reinterpret_cast<const T *>(p.d_o) + b * p.do_sb + h * p.do_sh;
  const int64_t bh_row = ((int64_t)b * p.H + h) * p.Sq;
  const float *lse_g = p.lse + bh_row;
  const float *delta_g = delta + bh_row;
  float *dq_g = dq_acc + bh_row * DPAD;
  const float sl2 = p.scale * ATTN_LOG2E;

  const int key_len = attn_key_len(p, b);
  const int nqt = (p.Sq + BM - 1) / BM;
  // first query tile whose last row sees key n0
  int lo = 0, hi = nqt;
  while (lo < hi) {
    int mid = (lo + hi) >> 1;
    int last = min(mid * BM + BM, p.Sq) - 1;
    if (attn_key_limit(p, key_len, last) > n0) hi = mid;
    else lo = mid + 1;
  }
  const int qt0 = lo;

  float dk[DW / 8][4], dv[DW / 8][4];
#pragma unroll
  for (int n = 0; n < DW / 8; n++)
#pragma unroll
    for (int e = 0; e < 4; e++) dk[n][e] = dv[n][e] = 0.0f;

  if (qt0 < nqt) {
    load_tile<T, BN, DPAD, NT, VEC>(sK, kg, p.k_ss, n0, p.Sk, D);
    load_tile<T, BN, DPAD, NT, VEC>(sV, vg, p.v_ss, n0, p.Sk, D);
    bwd_issue_q_tile<T, BM, DPAD, NT, VEC>(p, qt0, sQ, sdO, sLse, sDelta, sLim, qg, dog, lse_g, delta_g, key_len, D);
    cp_async_commit();
  }

  const int key0 = n0 + kw * 16 + g; // this thread's keys: key0 and key0 + 8
  for (int qt = qt0; qt < nqt; qt++) {
    const int buf = (qt - qt0) & 1;
    cp_async_wait<0>();
    __syncthreads();
    if (qt + 1 < nqt) {
      bwd_issue_q_tile<T, BM, DPAD, NT, VEC>(p, qt + 1, sQ + (buf ^ 1) * BM * DPAD, sdO + (buf ^ 1) * BM * DPAD, sLse + (buf ^ 1) * BM,
                                             sDelta + (buf ^ 1) * BM, sLim + (buf ^ 1) * BM, qg, dog, lse_g, delta_g, key_len, D);
      cp_async_commit();
    }
    const int m0 = qt * BM;
    const bool need_mask = attn_key_limit(p, key_len, m0) < n0 + BN || m0 + BM > p.Sq;
    const T *sQb = sQ + buf * BM * DPAD;
    const T *sdOb = sdO + buf * BM * DPAD;
    const float *lse_b = sLse + buf * BM;
    const float *delta_b = sDelta + buf * BM;
    const int *lim_b = sLim + buf * BM;

    // S^T = K Q^T and dP^T = V dO^T: (16 keys x BM queries) per warp
    float s[SN][4], dp[SN][4];
#pragma unroll
    for (int n = 0; n < SN; n++)
#pragma unroll
      for (int e = 0; e < 4; e++) s[n][e] = dp[n][e] = 0.0f;
#pragma unroll
    for (int kk = 0; kk < KSTEPS; kk++) {
      uint32_t a[4];
      ldsm_x4(a, smem_u32(sK + swz<DPAD>(kw * 16 + (lane & 15), 2 * kk + (lane >> 4))));
#pragma unroll
      for (int np = 0; np < SN / 2; np++) {
        uint32_t bb[4];
        ldsm_x4(bb, smem_u32(sQb + swz<DPAD>(np * 16 + (lane & 7) + ((lane >> 4) << 3), 2 * kk + ((lane >> 3) & 1))));
        tt::mma(s[2 * np], a, bb[0], bb[1]);
        tt::mma(s[2 * np + 1], a, bb[2], bb[3]);
      }
    }
    // P^T, masked entries exactly 0 (by selection: LSE may be -inf there)
#pragma unroll
    for (int n = 0; n < SN; n++)
#pragma unroll
      for (int c = 0; c < 2; c++) {
        const int q = n * 8 + 2 * t + c;
        const float lse2 = lse_b[q] * ATTN_LOG2E;
#pragma unroll
        for (int r = 0; r < 2; r++) {
          float pv = exp2f(fmaf(s[n][2 * r + c], sl2, -lse2));
          if (need_mask && key0 + 8 * r >= lim_b[q]) pv = 0.0f;
          s[n][2 * r + c] = pv;
        }
      }
#pragma unroll
    for (int kk = 0; kk < KSTEPS; kk++) {
      uint32_t a[4];
      ldsm_x4(a, smem_u32(sV + swz<DPAD>(kw * 16 + (lane & 15), 2 * kk + (lane >> 4))));
#pragma unroll
      for (int np = 0; np < SN / 2; np++) {
        uint32_t bb[4];
        ldsm_x4(bb, smem_u32(sdOb + swz<DPAD>(np * 16 + (lane & 7) + ((lane >> 4) << 3), 2 * kk + ((lane >> 3) & 1))));
        tt::mma(dp[2 * np], a, bb[0], bb[1]);
        tt::mma(dp[2 * np + 1], a, bb[2], bb[3]);
      }
    }
    // dV += P^T dO over this warp's head-dim slice
#pragma unroll
    for (int kq = 0; kq < BM / 16; kq++) {
      uint32_t a[4];
      a[0] = tt::pack(s[2 * kq][0], s[2 * kq][1]);
      a[1] = tt::pack(s[2 * kq][2], s[2 * kq][3]);
      a[2] = tt::pack(s[2 * kq + 1][0], s[2 * kq + 1][1]);
      a[3] = tt::pack(s[2 * kq + 1][2], s[2 * kq + 1][3]);
#pragma unroll
      for (int d2 = 0; d2 < DW / 16; d2++) {
        uint32_t bb[4];
        ldsm_x4_t(bb, smem_u32(sdOb + swz<DPAD>(kq * 16 + (lane & 7) + (((lane >> 3) & 1) << 3), dw * (DW / 8) + 2 * d2 + (lane >> 4))));
        tt::mma(dv[2 * d2], a, bb[0], bb[1]);
        tt::mma(dv[2 * d2 + 1], a, bb[2], bb[3]);
      }
    }
    // dS^T = P^T * (dP^T - Delta)   (the softmax scale is applied to dK and dQ at the end)
#pragma unroll
    for (int n = 0; n < SN; n++)
#pragma unroll
      for (int c = 0; c < 2; c++) {
        const float dl = delta_b[n * 8 + 2 * t + c];
#pragma unroll
        for (int r = 0; r < 2; r++) dp[n][2 * r + c] = s[n][2 * r + c] * (dp[n][2 * r + c] - dl);
      }
    // dK += dS^T Q
#pragma unroll
    for (int kq = 0; kq < BM / 16; kq++) {
      uint32_t a[4];
      a[0] = tt::pack(dp[2 * kq][0], dp[2 * kq][1]);
      a[1] = tt::pack(dp[2 * kq][2], dp[2 * kq][3]);
      a[2] = tt::pack(dp[2 * kq + 1][0], dp[2 * kq + 1][1]);
      a[3] = tt::pack(dp[2 * kq + 1][2], dp[2 * kq + 1][3]);
#pragma unroll
      for (int d2 = 0; d2 < DW / 16; d2++) {
        uint32_t bb[4];
        ldsm_x4_t(bb, smem_u32(sQb + swz<DPAD>(kq * 16 + (lane & 7) + (((lane >> 3) & 1) << 3), dw * (DW / 8) + 2 * d2 + (lane >> 4))));
        tt::mma(dk[2 * d2], a, bb[0], bb[1]);
        tt::mma(dk[2 * d2 + 1], a, bb[2], bb[3]);
      }
    }
    // dS^T to shared memory (one head-dim slice of warps holds all of it)
    if (dw == 0) {
#pragma unroll
      for (int n = 0; n < SN; n++)
#pragma unroll
        for (int r = 0; r < 2; r++)
          *reinterpret_cast<uint32_t *>(sdS + swz<BM>(kw * 16 + g + 8 * r, n) + 2 * t) = tt::pack(dp[n][2 * r], dp[n][2 * r + 1]);
    }
    __syncthreads();
    // dQ_acc += dS K: warp (qm, qd) owns 16 queries x QDWID head-dim columns
    {
      const int qm = warp % QMW, qd = warp / QMW;
      float acc[QDWID / 8][4];
#pragma unroll
      for (int n = 0; n < QDWID / 8; n++)
#pragma unroll
        for (int e = 0; e < 4; e++) acc[n][e] = 0.0f;
#pragma unroll
      for (int kk = 0; kk < BN / 16; kk++) {
        uint32_t a[4];
        ldsm_x4_t(a, smem_u32(sdS + swz<BM>(kk * 16 + (lane & 7) + ((lane >> 4) << 3), 2 * qm + ((lane >> 3) & 1))));
#pragma unroll
        for (int d2 = 0; d2 < QDWID / 16; d2++) {
          uint32_t bb[4];
          ldsm_x4_t(bb, smem_u32(sK + swz<DPAD>(kk * 16 + (lane & 7) + (((lane >> 3) & 1) << 3), qd * (QDWID / 8) + 2 * d2 + (lane >> 4))));
          tt::mma(acc[2 * d2], a, bb[0], bb[1]);
          tt::mma(acc[2 * d2 + 1], a, bb[2], bb[3]);
        }
      }
#pragma unroll
      for (int r = 0; r < 2; r++) {
        const int q = m0 + qm * 16 + g + 8 * r;
        if (q >= p.Sq) continue;
        float *row = dq_g + (int64_t)q * DPAD + qd * QDWID + 2 * t;
#pragma unroll
        for (int n = 0; n < QDWID / 8; n++)
          if (EXACT || qd * QDWID + n * 8 + 2 * t < D)
            atomicAdd(reinterpret_cast<float2 *>(row + n * 8), make_float2(acc[n][2 * r], acc[n][2 * r + 1]));
      }
    }
  }

  // epilogue: dK (scaled) and dV of this warp's keys and head-dim slice
  T *dkg = reinterpret_cast<T *>(p.dk) + b * p.dk_sb + h * p.dk_sh;
  T *dvg = reinterpret_cast<T *>(p.dv) + b * p.dv_sb + h * p.dv_sh;
#pragma unroll
  for (int r = 0; r < 2; r++) {
    const int key = key0 + 8 * r;
    if (key >= p.Sk) continue;
    T *dk_row = dkg + (int64_t)key * p.dk_ss;
    T *dv_row = dvg + (int64_t)key * p.dv_ss;
#pragma unroll
    for (int n = 0; n < DW / 8; n++) {
      const int col = dw * DW + n * 8 + 2 * t;
      const float k0 = dk[n][2 * r] * p.scale, k1 = dk[n][2 * r + 1] * p.scale;
      const float v0 = dv[n][2 * r], v1 = dv[n][2 * r + 1];
      if (VEC) {
        if (col < D) {
          *reinterpret_cast<uint32_t *>(dk_row + col) = tt::pack(k0, k1);
          *reinterpret_cast<uint32_t *>(dv_row + col) = tt::pack(v0, v1);
        }
      } else {
        if (col < D) {
          dk_row[col] = tt::from_float(k0);
          dv_row[col] = tt::from_float(v0);
        }
        if (col + 1 < D) {
          dk_row[col + 1] = tt::from_float(k1);
          dv_row[col + 1] = tt::from_float(v1);
        }
      }
    }
  }
}

// ---------------------------------------------------------------- launch
static int multiprocessor_count(void) {
  int sms = 132, device = 0;
  if (cudaGetDevice(&device) != cudaSuccess || cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess) {
    (void)cudaGetLastError();
    sms = 132;
  }
  return sms;
}

extern "C" int vdit_attn_cuda_padded_head_dim(int head_dim) { return head_dim <= 64 ? 64 : head_dim <= 128 ? 128 : 256; }

extern "C" cudaError_t vdit_attn_cuda_backward_preprocess(const vdit_attn_cuda_params *p, float *delta, float *dq_acc, int dpad,
                                                          cudaStream_t stream) {
  const int blocks = multiprocessor_count() * 8; // grid-stride over the B*H*Sq rows, one warp a row
  if (p->dtype == VDIT_DTYPE_BF16) attn_backward_preprocess_kernel<__nv_bfloat16><<<blocks, 256, 0, stream>>>(*p, delta, dq_acc, dpad);
  else attn_backward_preprocess_kernel<__half><<<blocks, 256, 0, stream>>>(*p, delta, dq_acc, dpad);
  return cudaGetLastError();
}

extern "C" cudaError_t vdit_attn_cuda_backward_dq(const vdit_attn_cuda_params *p, const float *dq_acc, int dpad, cudaStream_t stream) {
  const int blocks = multiprocessor_count() * 16; // grid-stride over the B*H*Sq*D elements
  if (p->dtype == VDIT_DTYPE_BF16) attn_backward_dq_kernel<__nv_bfloat16><<<blocks, 256, 0, stream>>>(*p, dq_acc, dpad);
  else attn_backward_dq_kernel<__half><<<blocks, 256, 0, stream>>>(*p, dq_acc, dpad);
  return cudaGetLastError();
}

template <typename T, int DPAD, int BM, int NW, int WD>
static cudaError_t launch_backward_mma(const vdit_attn_cuda_params *p, const float *delta, float *dq_acc, cudaStream_t stream) {
  constexpr int BN = 16 * (NW / WD);
  const size_t smem = (size_t)(2 * BN * DPAD + 4 * BM * DPAD + BN * BM) * sizeof(T) + 6 * BM * sizeof(float);
  void (*kernel)(const vdit_attn_cuda_params, const float *, float *) = attn_backward_mma_kernel<T, DPAD, BM, NW, WD, false, false>;
  cudaError_t err = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
  if (err != cudaSuccess) return err;
  dim3 grid((unsigned)((p->Sk + BN - 1) / BN), (unsigned)p->H, (unsigned)p->B);
  if (grid.x == 0) return cudaSuccess;
  kernel<<<grid, NW * 32, smem, stream>>>(*p, delta, dq_acc);
  return cudaGetLastError();
}

// 64 queries x 128 keys (8 warps) up to D = 128; at 256 the warps split the head dim in two
// (64 keys a block), since dK and dV alone take 128 registers a thread otherwise.
template <typename T> static cudaError_t backward_mma(const vdit_attn_cuda_params *p, const float *delta, float *dq_acc, int dpad,
                                                      cudaStream_t stream) {
  if (dpad == 64) return launch_backward_mma<T, 64, 64, 8, 1>(p, delta, dq_acc, stream);
  if (dpad == 128) return launch_backward_mma<T, 128, 64, 8, 1>(p, delta, dq_acc, stream);
  return launch_backward_mma<T, 256, 64, 8, 2>(p, delta, dq_acc, stream);
}

extern "C" cudaError_t vdit_attn_cuda_backward_mma(const vdit_attn_cuda_params *p, const float *delta, float *dq_acc, int dpad,
                                                   cudaStream_t stream) {
  if (dpad != vdit_attn_cuda_padded_head_dim(p->D)) return cudaErrorInvalidValue;
  if (p->dtype == VDIT_DTYPE_BF16) return backward_mma<__nv_bfloat16>(p, delta, dq_acc, dpad, stream);
  return backward_mma<__half>(p, delta, dq_acc, dpad, stream);
}
