// Dense attention forward, generic path: FlashAttention-2 style with mma.sync m16n8k16, for
// any head dim up to 256 and any strides (the kernel lab's version 1, dev/attn/fwd_v1.cu; the
// engine keeps only its generic configurations, since D = 64 and 128 with aligned strides take
// the wgmma path).
//
// One block computes BM query rows of one (batch, head): the Q tile sits in shared memory,
// K and V tiles of BN keys stream through a two-stage ring, each warp owns 16*MT query rows
// and keeps their O accumulator (16*MT x DPAD fp32) and online-softmax state in registers.
// Elements are loaded one by one (no alignment needed) into tiles with the head dim padded
// to DPAD = 64, 128 or 256 with zeros. Scores are kept raw; exp2f(s * scale*log2e - m) folds
// the scale into one FFMA. Key tiles past the last row's key limit are never loaded; tiles
// every row sees in full run without the mask. Grid (ceil(Sq / BM), H, B), heaviest (last,
// for causal) query tiles first.
#include "attn/cuda/attn_cuda_common.cuh"

template <typename T, int DPAD, int BM, int BN, int NW, int MINB, bool EXACT, bool VEC>
static __global__ void __launch_bounds__(NW * 32, MINB) attn_forward_mma_kernel(const vdit_attn_cuda_params p) {
  constexpr int NT = NW * 32;
  constexpr int MT = BM / (16 * NW); // 16-row m-tiles per warp
  constexpr int KSTEPS = DPAD / 16;  // k-steps of S = Q K^T
  constexpr int SN = BN / 8;         // n-tiles of S
  constexpr int ON = DPAD / 8;       // n-tiles of O
  static_assert(MT >= 1 && MT * 16 * NW == BM, "BM must be 16 * NW * MT");
  static_assert(BN % 16 == 0, "BN must be a multiple of 16");
  typedef attn_dtype_traits<T> tt;

  extern __shared__ __align__(128) unsigned char smem_raw[];
  T *sQ = reinterpret_cast<T *>(smem_raw); // BM x DPAD
  T *sK = sQ + BM * DPAD;                  // 2 x BN x DPAD
  T *sV = sK + 2 * BN * DPAD;              // 2 x BN x DPAD

  const int D = EXACT ? DPAD : p.D;
  const int b = blockIdx.z, h = blockIdx.y;
  const int m0 = (int)(gridDim.x - 1 - blockIdx.x) * BM;
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int g = lane >> 2, t = lane & 3;
  const T *qg = reinterpret_cast<const T *>(p.q) + b * p.q_sb + h * p.q_sh;
  const T *kg = reinterpret_cast<const T *>(p.k) + b * p.k_sb + h * p.k_sh;
  const T *vg = reinterpret_cast<const T *>(p.v) + b * p.v_sb + h * p.v_sh;
  T *og = reinterpret_cast<T *>(p.o) + b * p.o_sb + h * p.o_sh;
  const float sl2 = p.scale * ATTN_LOG2E;

  const int key_len = attn_key_len(p, b);
  const int last_row = min(m0 + BM, p.Sq) - 1;
  const int limit_max = attn_key_limit(p, key_len, last_row);
  const int limit_min = attn_key_limit(p, key_len, m0);
  const int ntiles = (limit_max + BN - 1) / BN;
  const int nfull = limit_min / BN; // tiles [0, nfull) are seen in full by every row

  const int wrow = warp * 16 * MT; // first row of this warp within the tile
  int row_limit[MT][2];
#pragma unroll
  for (int mt = 0; mt < MT; mt++)
#pragma unroll
    for (int r = 0; r < 2; r++) {
      int row = m0 + wrow + mt * 16 + g + 8 * r;
      row_limit[mt][r] = row < p.Sq ? attn_key_limit(p, key_len, row) : 0;
    }

  float o[MT][ON][4];
  float row_max[MT][2], row_sum[MT][2];
#pragma unroll
  for (int mt = 0; mt < MT; mt++) {
#pragma unroll
    for (int n = 0; n < ON; n++)
#pragma unroll
      for (int e = 0; e < 4; e++) o[mt][n][e] = 0.0f;
#pragma unroll
    for (int r = 0; r < 2; r++) {
      row_max[mt][r] = -INFINITY;
      row_sum[mt][r] = 0.0f;
    }
  }

  if (ntiles > 0) {
    load_tile<T, BM, DPAD, NT, VEC>(sQ, qg, p.q_ss, m0, p.Sq, D);
    load_tile<T, BN, DPAD, NT, VEC>(sK, kg, p.k_ss, 0, p.Sk, D);
    load_tile<T, BN, DPAD, NT, VEC>(sV, vg, p.v_ss, 0, p.Sk, D);
    cp_async_commit();
    if (ntiles > 1) {
      load_tile<T, BN, DPAD, NT, VEC>(sK + BN * DPAD, kg, p.k_ss, BN, p.Sk, D);
      load_tile<T, BN, DPAD, NT, VEC>(sV + BN * DPAD, vg, p.v_ss, BN, p.Sk, D);
      cp_async_commit();
    }
  }

  for (int j = 0; j < ntiles; j++) {
    if (j + 1 < ntiles) cp_async_wait<1>();
    else cp_async_wait<0>();
    __syncthreads();
    const T *sKj = sK + (j & 1) * BN * DPAD;
    const T *sVj = sV + (j & 1) * BN * DPAD;

    // S = Q K^T: (16 MT x BN) per warp
    float s[MT][SN][4];
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
      for (int n = 0; n < SN; n++)
#pragma unroll
        for (int e = 0; e < 4; e++) s[mt][n][e] = 0.0f;
#pragma unroll
    for (int kk = 0; kk < KSTEPS; kk++) {
      uint32_t a[MT][4];
#pragma unroll
      for (int mt = 0; mt < MT; mt++)
        ldsm_x4(a[mt], smem_u32(sQ + swz<DPAD>(wrow + mt * 16 + (lane & 15), 2 * kk + (lane >> 4))));
#pragma unroll
      for (int np = 0; np < SN / 2; np++) {
        uint32_t bb[4];
        ldsm_x4(bb, smem_u32(sKj + swz<DPAD>(np * 16 + (lane & 7) + ((lane >> 4) << 3), 2 * kk + ((lane >> 3) & 1))));
#pragma unroll
        for (int mt = 0; mt < MT; mt++) {
          tt::mma(s[mt][2 * np], a[mt], bb[0], bb[1]);
          tt::mma(s[mt][2 * np + 1], a[mt], bb[2], bb[3]);
        }
      }
    }

    if (j >= nfull) {
      const int n0 = j * BN;
#pragma unroll
      for (int mt = 0; mt < MT; mt++)
#pragma unroll
        for (int n = 0; n < SN; n++)
#pragma unroll
          for (int e = 0; e < 4; e++) {
            int col = n0 + n * 8 + 2 * t + (e & 1);
            if (col >= row_limit[mt][e >> 1]) s[mt][n][e] = -INFINITY;
          }
    }

    // online softmax: rows g and g + 8 of each m-tile; a row's 4 threads are lanes 4g..4g+3
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
      for (int r = 0; r < 2; r++) {
        float mx = row_max[mt][r];
#pragma unroll
        for (int n = 0; n < SN; n++) mx = fmaxf(mx, fmaxf(s[mt][n][2 * r], s[mt][n][2 * r + 1]));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
        const float m_use = mx == -INFINITY ? 0.0f : mx * sl2;
        const float alpha = exp2f(row_max[mt][r] * sl2 - m_use);
        row_max[mt][r] = mx;
        float sum = 0.0f;
#pragma unroll
        for (int n = 0; n < SN; n++) {
          float p0 = exp2f(fmaf(s[mt][n][2 * r], sl2, -m_use));
          float p1 = exp2f(fmaf(s[mt][n][2 * r + 1], sl2, -m_use));
          s[mt][n][2 * r] = p0;
          s[mt][n][2 * r + 1] = p1;
          sum += p0 + p1;
        }
        row_sum[mt][r] = row_sum[mt][r] * alpha + sum;
#pragma unroll
        for (int n = 0; n < ON; n++) {
          o[mt][n][2 * r] *= alpha;
          o[mt][n][2 * r + 1] *= alpha;
        }
      }

    // O += P V: P's accumulator fragments are the A fragments of the k-steps over keys
#pragma unroll
    for (int kk = 0; kk < BN / 16; kk++) {
      uint32_t a[MT][4];
#pragma unroll
      for (int mt = 0; mt < MT; mt++) {
        a[mt][0] = tt::pack(s[mt][2 * kk][0], s[mt][2 * kk][1]);
        a[mt][1] = tt::pack(s[mt][2 * kk][2], s[mt][2 * kk][3]);
        a[mt][2] = tt::pack(s[mt][2 * kk + 1][0], s[mt][2 * kk + 1][1]);
        a[mt][3] = tt::pack(s[mt][2 * kk + 1][2], s[mt][2 * kk + 1][3]);
      }
#pragma unroll
      for (int dp = 0; dp < ON / 2; dp++) {
        uint32_t bb[4];
        ldsm_x4_t(bb, smem_u32(sVj + swz<DPAD>(kk * 16 + (lane & 7) + (((lane >> 3) & 1) << 3), 2 * dp + (lane >> 4))));
#pragma unroll
        for (int mt = 0; mt < MT; mt++) {
          tt::mma(o[mt][2 * dp], a[mt], bb[0], bb[1]);
          tt::mma(o[mt][2 * dp + 1], a[mt], bb[2], bb[3]);
        }
      }
    }
    __syncthreads();
    if (j + 2 < ntiles) {
      load_tile<T, BN, DPAD, NT, VEC>(sK + (j & 1) * BN * DPAD, kg, p.k_ss, (j + 2) * BN, p.Sk, D);
      load_tile<T, BN, DPAD, NT, VEC>(sV + (j & 1) * BN * DPAD, vg, p.v_ss, (j + 2) * BN, p.Sk, D);
      cp_async_commit();
    }
  }

  // epilogue: normalise, LSE, stage O through sQ for coalesced stores
  float *lse = p.lse + ((int64_t)b * p.H + h) * p.Sq;
#pragma unroll
  for (int mt = 0; mt < MT; mt++)
#pragma unroll
    for (int r = 0; r < 2; r++) {
      float l = row_sum[mt][r];
      l += __shfl_xor_sync(0xffffffffu, l, 1);
      l += __shfl_xor_sync(0xffffffffu, l, 2);
      const float inv = l > 0.0f ? 1.0f / l : 0.0f;
      const int row = m0 + wrow + mt * 16 + g + 8 * r;
      if (t == 0 && row < p.Sq) lse[row] = l > 0.0f ? (row_max[mt][r] * sl2 + __log2f(l)) * ATTN_LN2 : -INFINITY;
#pragma unroll
      for (int n = 0; n < ON; n++) {
        o[mt][n][2 * r] *= inv;
        o[mt][n][2 * r + 1] *= inv;
      }
    }
  __syncthreads(); // every warp is done reading sQ
#pragma unroll
  for (int mt = 0; mt < MT; mt++)
#pragma unroll
    for (int r = 0; r < 2; r++) {
      const int row = wrow + mt * 16 + g + 8 * r;
#pragma unroll
      for (int n = 0; n < ON; n++)
        *reinterpret_cast<uint32_t *>(sQ + swz<DPAD>(row, n) + 2 * t) = tt::pack(o[mt][n][2 * r], o[mt][n][2 * r + 1]);
    }
  __syncthreads();
  constexpr int CH = DPAD / 8;
#pragma unroll
  for (int it = 0; it < BM * CH / NT; it++) {
    int idx = it * NT + tid;
    int r = idx / CH, c = idx % CH;
    int row = m0 + r;
    if (row >= p.Sq || c * 8 >= D) continue;
    const T *src = sQ + swz<DPAD>(r, c);
    T *dst = og + (int64_t)row * p.o_ss + c * 8;
    if (VEC) {
      *reinterpret_cast<uint4 *>(dst) = *reinterpret_cast<const uint4 *>(src);
    } else {
      for (int e = 0; e < 8 && c * 8 + e < D; e++) dst[e] = src[e];
    }
  }
}

// ---------------------------------------------------------------- launch
template <typename T, int DPAD, int BM, int BN, int NW>
static cudaError_t launch_forward_mma(const vdit_attn_cuda_params *p, cudaStream_t stream) {
  const size_t smem = (size_t)(BM + 4 * BN) * DPAD * sizeof(T);
  void (*kernel)(const vdit_attn_cuda_params) = attn_forward_mma_kernel<T, DPAD, BM, BN, NW, 1, false, false>;
  cudaError_t err = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
  if (err != cudaSuccess) return err;
  dim3 grid((unsigned)((p->Sq + BM - 1) / BM), (unsigned)p->H, (unsigned)p->B);
  kernel<<<grid, NW * 32, smem, stream>>>(*p);
  return cudaGetLastError();
}

// Tiles by padded head dim: 128 x 64 (8 warps) up to D = 128; 64 x 32 (4 warps) at 256, where
// the O accumulator alone takes 128 registers a thread.
template <typename T> static cudaError_t forward_mma(const vdit_attn_cuda_params *p, cudaStream_t stream) {
  if (p->D <= 64) return launch_forward_mma<T, 64, 128, 64, 8>(p, stream);
  if (p->D <= 128) return launch_forward_mma<T, 128, 128, 64, 8>(p, stream);
  return launch_forward_mma<T, 256, 64, 32, 4>(p, stream);
}

extern "C" cudaError_t vdit_attn_cuda_forward_mma(const vdit_attn_cuda_params *p, cudaStream_t stream) {
  if (p->dtype == VDIT_DTYPE_BF16) return forward_mma<__nv_bfloat16>(p, stream);
  return forward_mma<__half>(p, stream);
}
