// Dense attention forward on Hopper: wgmma (the kernel lab's version 2, dev/attn/fwd_v2.cu).
// The launcher first tries version 3 (attn_forward_tma.cu), which covers everything this kernel
// does; this one runs only when the driver refuses a tensor map for version 3.
//
// One block of two warpgroups computes BM = 128 query rows of one (batch, head); warpgroup w
// owns rows 64w..64w+63. Per key tile of BN keys:
//   S = Q K^T   wgmma m64nBNk16, A (Q) and B (K) from shared memory, both K-major
//   softmax     online, in registers (raw scores, exp2f with the scale folded into one FFMA)
//   O += P V    wgmma m64nDk16, A (P) from registers (the S accumulator fragment is the A
//               fragment), B (V) from shared memory read N-major (transposed by the descriptor)
// Tiles live in shared memory as [head-dim block of 64][rows][64] with the 128-byte swizzle
// (16-byte chunk c of row r at c ^ (r % 8)), the layout both wgmma and the descriptors expect;
// cp.async fills them STAGES deep (all 256 threads load; no producer warp), and a
// fence.proxy.async orders those generic-proxy writes before the tensor cores read them.
// Key tiles past the last row's key limit are never loaded, tiles every row sees in full run
// without the mask, rows without keys end with O = 0 and LSE = -inf.
// This is also the block-sparse executor: with a block map (p.map_offsets) the block visits
// only the key tiles its query block's row lists (a 128-key block is BN = 128 tile, or two
// 64-key tiles at D = 64); dense attention is the same loop over the implicit full list.
// Softmax extras start each row's (max, sum, O) state; with a PV threshold a warpgroup skips
// the P V product of a tile when all its 64 rows trail their running max by more than lambda. Needs D = 64 or 128,
// 16-byte aligned bases and strides that are multiples of 8 (vdit_attn_cuda_forward_wgmma_fits).
// Configurations: D = 128: BN = 128, 2 stages, one block an SM (212 registers; the lab's
// choice, 3 stages timed the same). D = 64: BN = 64, 3 stages, two blocks an SM (115
// registers): the per-tile __syncthreads keeps a block's two warpgroups in lockstep, so the
// tensor cores idle during its softmax; a second resident block fills those gaps. At D = 64
// the softmax is the larger share of a tile (half the GEMM work of D = 128 per score).
#include "attn/cuda/attn_wgmma_tiles.cuh"

template <typename T, int D, int BN, int STAGES, int MIN_BLOCKS>
static __global__ void __launch_bounds__(256, MIN_BLOCKS) attn_forward_wgmma_kernel(const vdit_attn_cuda_params p) {
  constexpr int BM = 128, NT = 256;
  constexpr int SREG = BN / 2; // S accumulator floats per thread (m64 x BN over 128 threads)
  constexpr int OREG = D / 2;  // O accumulator floats per thread
  constexpr int SN = BN / 8;   // 8-column n-tiles of S
  static_assert(D == 64 || D == 128, "wgmma path: head dim 64 or 128");
  static_assert(BN == 128 || BN == 64, "S uses m64n128k16 or m64n64k16");
  typedef attn_dtype_traits<T> tt;

  extern __shared__ unsigned char smem_raw[];
  const uint32_t pad = (1024u - (smem_u32(smem_raw) & 1023u)) & 1023u; // 1024-byte aligned atoms
  T *sQ = reinterpret_cast<T *>(smem_raw + pad); // [D/64][BM][64]
  T *sK = sQ + BM * D;                           // STAGES x [D/64][BN][64]
  T *sV = sK + STAGES * BN * D;                  // STAGES x [D/64][BN][64]

  const int b = blockIdx.z, h = blockIdx.y;
  const int m0 = (int)(gridDim.x - 1 - blockIdx.x) * BM;
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int wg = warp >> 2, w4 = warp & 3, g = lane >> 2, t = lane & 3;
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
  // the key tiles to visit: list[e] names 128-key block list[e]; RK tiles of BN keys each
  constexpr int RK = 128 / BN;
  const int32_t *list = nullptr;
  int count = ntiles;
  if (p.map_offsets) {
    const int r = (b * p.H + h) * p.map_rows + m0 / BM;
    const int begin = p.map_offsets[r];
    list = p.map_index + begin;
    count = (p.map_offsets[r + 1] - begin) * RK;
    while (count > 0 && list[(count - 1) / RK] * RK + (count - 1) % RK >= ntiles) count--;
  }
#define TILE_OF(j) (list ? list[(j) / RK] * RK + (j) % RK : (j))

  const int wrow = wg * 64 + w4 * 16; // first row of this warp within the tile
  int row_limit[2];
#pragma unroll
  for (int r = 0; r < 2; r++) {
    const int row = m0 + wrow + g + 8 * r;
    row_limit[r] = row < p.Sq ? attn_key_limit(p, key_len, row) : 0;
  }

  float o[OREG], s[SREG];
#pragma unroll
  for (int i = 0; i < OREG; i++) o[i] = 0.0f;
#pragma unroll
  for (int i = 0; i < SREG; i++) s[i] = 0.0f;
  float row_max[2] = {-INFINITY, -INFINITY}, row_sum[2] = {0.0f, 0.0f};
  if (p.extra_sum) { // the extra terms start the online softmax: max in raw-score units, sum on one thread of the quad
#pragma unroll
    for (int r = 0; r < 2; r++) {
      const int row = m0 + wrow + g + 8 * r;
      const int64_t idx = ((int64_t)b * p.H + h) * p.Sq + row;
      if (row >= p.Sq || !(p.extra_sum[idx] > 0.0f)) continue;
      row_max[r] = p.extra_max[idx] / p.scale;
      row_sum[r] = t == 0 ? p.extra_sum[idx] : 0.0f;
      const float *num = p.extra_num + idx * D;
#pragma unroll
      for (int n = 0; n < D / 8; n++) {
        o[4 * n + 2 * r] = num[n * 8 + 2 * t];
        o[4 * n + 2 * r + 1] = num[n * 8 + 2 * t + 1];
      }
    }
  }
  __shared__ int pv_vote[8];
  const float pv_raw = p.pv_threshold > 0.0f ? p.pv_threshold / p.scale : 0.0f; // lambda in raw-score units

  // descriptors: K-major tiles advance 32 bytes per k16 step inside a 128-byte row and jump a
  // whole [rows][64] block every 4 steps; 8-row groups are 1024 bytes apart (SBO).
  const uint32_t q_addr = smem_u32(sQ) + wg * 64 * 128;
  if (count > 0) {
    load_tile_gmma<T, BM, D, NT>(sQ, qg, p.q_ss, m0, p.Sq);
#pragma unroll
    for (int st = 0; st < STAGES - 1; st++) {
      if (st < count) {
        const int jt = TILE_OF(st);
        load_tile_gmma<T, BN, D, NT>(sK + st * BN * D, kg, p.k_ss, jt * BN, p.Sk);
        load_tile_gmma<T, BN, D, NT>(sV + st * BN * D, vg, p.v_ss, jt * BN, p.Sk);
      }
      cp_async_commit();
    }
  }

  for (int j = 0; j < count; j++) {
    cp_async_wait<STAGES - 2>();
    fence_proxy_async();
    __syncthreads();
    {
      const int jn = j + STAGES - 1; // refill the stage tile j - 1 used
      if (jn < count) {
        const int jt = TILE_OF(jn);
        load_tile_gmma<T, BN, D, NT>(sK + (jn % STAGES) * BN * D, kg, p.k_ss, jt * BN, p.Sk);
        load_tile_gmma<T, BN, D, NT>(sV + (jn % STAGES) * BN * D, vg, p.v_ss, jt * BN, p.Sk);
      }
      cp_async_commit();
    }
    const uint32_t k_addr = smem_u32(sK + (j % STAGES) * BN * D);
    const uint32_t v_addr = smem_u32(sV + (j % STAGES) * BN * D);

    // S = Q K^T
#pragma unroll
    for (int i = 0; i < SREG; i++) reg_fence(s[i]);
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < D / 16; kk++) {
      const uint64_t da = gmma_desc(q_addr + (kk >> 2) * BM * 128 + (kk & 3) * 32, 16, 1024);
      const uint64_t db = gmma_desc(k_addr + (kk >> 2) * BN * 128 + (kk & 3) * 32, 16, 1024);
      if (BN == 128) wg_ss_n128<T>(s, da, db, kk > 0);
      else wg_ss_n64<T>(s, da, db, kk > 0);
    }
    wgmma_commit();
    wgmma_wait<0>();
#pragma unroll
    for (int i = 0; i < SREG; i++) reg_fence(s[i]);

    const int jt = TILE_OF(j);
    if ((jt + 1) * BN > limit_min) { // some row sees only part of this tile
      const int n0 = jt * BN;
#pragma unroll
      for (int n = 0; n < SN; n++)
#pragma unroll
        for (int e = 0; e < 4; e++)
          if (n0 + n * 8 + 2 * t + (e & 1) >= row_limit[e >> 1]) s[4 * n + e] = -INFINITY;
    }
    bool trails = true; // both rows trail their running max by more than lambda on this tile
#pragma unroll
    for (int r = 0; r < 2; r++) {
      float mx = -INFINITY;
#pragma unroll
      for (int n = 0; n < SN; n++) mx = fmaxf(mx, fmaxf(s[4 * n + 2 * r], s[4 * n + 2 * r + 1]));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
      trails = trails && (mx == -INFINITY || row_max[r] - mx > pv_raw);
      mx = fmaxf(mx, row_max[r]);
      const float m_use = mx == -INFINITY ? 0.0f : mx * sl2;
      const float alpha = exp2f(row_max[r] * sl2 - m_use);
      row_max[r] = mx;
      float sum = 0.0f;
#pragma unroll
      for (int n = 0; n < SN; n++) {
        const float p0 = exp2f(fmaf(s[4 * n + 2 * r], sl2, -m_use));
        const float p1 = exp2f(fmaf(s[4 * n + 2 * r + 1], sl2, -m_use));
        s[4 * n + 2 * r] = p0;
        s[4 * n + 2 * r + 1] = p1;
        sum += p0 + p1;
      }
      row_sum[r] = row_sum[r] * alpha + sum;
#pragma unroll
      for (int n = 0; n < D / 8; n++) {
        o[4 * n + 2 * r] *= alpha;
        o[4 * n + 2 * r + 1] *= alpha;
      }
    }

    if (p.pv_threshold > 0.0f) { // warpgroup vote: wgmma is collective over its 4 warps
      const int all = __all_sync(0xffffffffu, trails);
      if (lane == 0) pv_vote[warp] = all;
      asm volatile("bar.sync %0, 128;" ::"r"(1 + wg) : "memory");
      const bool skip = pv_vote[4 * wg] && pv_vote[4 * wg + 1] && pv_vote[4 * wg + 2] && pv_vote[4 * wg + 3];
      if (skip) continue; // max unchanged, so O needs no rescale; the sum above already holds P
    }

    // O += P V: k-step kk covers keys 16kk..16kk+15 = S n-tiles 2kk, 2kk+1
    uint32_t pa[BN / 16][4];
#pragma unroll
    for (int kk = 0; kk < BN / 16; kk++) {
      pa[kk][0] = tt::pack(s[8 * kk + 0], s[8 * kk + 1]);
      pa[kk][1] = tt::pack(s[8 * kk + 2], s[8 * kk + 3]);
      pa[kk][2] = tt::pack(s[8 * kk + 4], s[8 * kk + 5]);
      pa[kk][3] = tt::pack(s[8 * kk + 6], s[8 * kk + 7]);
    }
#pragma unroll
    for (int i = 0; i < OREG; i++) reg_fence(o[i]);
#pragma unroll
    for (int kk = 0; kk < BN / 16; kk++)
#pragma unroll
      for (int e = 0; e < 4; e++) reg_fence(pa[kk][e]);
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < BN / 16; kk++) {
      // V read N-major: 64 head-dim elements per 128-byte row; next 64-wide block LBO = BN*128
      // bytes away; next 8 keys SBO = 1024 bytes away; 16 keys per step = 2048 bytes
      const uint64_t db = gmma_desc(v_addr + kk * 2048, BN * 128, 1024);
      wg_rs<T, D>(o, pa[kk], db);
    }
    wgmma_commit();
    wgmma_wait<0>();
#pragma unroll
    for (int i = 0; i < OREG; i++) reg_fence(o[i]);
  }
  cp_async_wait<0>();
#undef TILE_OF

  // epilogue as the mma.sync path: normalise, LSE, stage O through sQ (plain swizzled rows of D)
  float *lse = p.lse + ((int64_t)b * p.H + h) * p.Sq;
#pragma unroll
  for (int r = 0; r < 2; r++) {
    float l = row_sum[r];
    l += __shfl_xor_sync(0xffffffffu, l, 1);
    l += __shfl_xor_sync(0xffffffffu, l, 2);
    const float inv = l > 0.0f ? 1.0f / l : 0.0f;
    const int row = m0 + wrow + g + 8 * r;
    if (t == 0 && row < p.Sq) lse[row] = l > 0.0f ? (row_max[r] * sl2 + __log2f(l)) * ATTN_LN2 : -INFINITY;
#pragma unroll
    for (int n = 0; n < D / 8; n++) {
      o[4 * n + 2 * r] *= inv;
      o[4 * n + 2 * r + 1] *= inv;
    }
  }
  __syncthreads();
#pragma unroll
  for (int r = 0; r < 2; r++) {
    const int row = wrow + g + 8 * r;
#pragma unroll
    for (int n = 0; n < D / 8; n++)
      *reinterpret_cast<uint32_t *>(sQ + swz<D>(row, n) + 2 * t) = tt::pack(o[4 * n + 2 * r], o[4 * n + 2 * r + 1]);
  }
  __syncthreads();
  constexpr int CH = D / 8;
#pragma unroll
  for (int it = 0; it < BM * CH / NT; it++) {
    const int idx = it * NT + tid;
    const int r = idx / CH, c = idx % CH;
    const int row = m0 + r;
    if (row < p.Sq)
      *reinterpret_cast<uint4 *>(og + (int64_t)row * p.o_ss + c * 8) = *reinterpret_cast<const uint4 *>(sQ + swz<D>(r, c));
  }
}

template <typename T, int D, int BN, int STAGES, int MIN_BLOCKS>
static cudaError_t launch_forward_wgmma(const vdit_attn_cuda_params *p, cudaStream_t stream) {
  const size_t smem = (size_t)(128 * D + 2 * STAGES * BN * D) * sizeof(T) + 1024; // + 1024-byte alignment slack
  void (*kernel)(const vdit_attn_cuda_params) = attn_forward_wgmma_kernel<T, D, BN, STAGES, MIN_BLOCKS>;
  cudaError_t err = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
  if (err != cudaSuccess) return err;
  dim3 grid((unsigned)((p->Sq + 127) / 128), (unsigned)p->H, (unsigned)p->B);
  kernel<<<grid, 256, smem, stream>>>(*p);
  return cudaGetLastError();
}

extern "C" int vdit_attn_cuda_forward_wgmma_fits(const vdit_attn_cuda_params *p) {
  if (p->D != 64 && p->D != 128) return 0;
  const int64_t strides[] = {p->q_ss, p->k_ss, p->v_ss, p->o_ss, p->q_sb, p->k_sb,
                             p->v_sb, p->o_sb, p->q_sh, p->k_sh, p->v_sh, p->o_sh};
  for (size_t i = 0; i < sizeof strides / sizeof strides[0]; i++)
    if (strides[i] % 8) return 0;
  const void *bases[] = {p->q, p->k, p->v, p->o};
  for (size_t i = 0; i < sizeof bases / sizeof bases[0]; i++)
    if ((uintptr_t)bases[i] % 16) return 0;
  return 1;
}

template <typename T> static cudaError_t forward_wgmma(const vdit_attn_cuda_params *p, cudaStream_t stream) {
  if (p->D == 128) return launch_forward_wgmma<T, 128, 128, 2, 1>(p, stream);
  return launch_forward_wgmma<T, 64, 64, 3, 2>(p, stream);
}

extern "C" cudaError_t vdit_attn_cuda_forward_wgmma(const vdit_attn_cuda_params *p, cudaStream_t stream) {
  if (vdit_attn_cuda_forward_tma_fits(p)) { // version 3 where it applies
    const cudaError_t err = vdit_attn_cuda_forward_tma(p, stream);
    if (err != cudaErrorNotSupported || p->lin_hc) return err;
  }
  if (p->lin_hc) return cudaErrorNotSupported; // SLA2's epilogue lives in version 3 only
  if (p->dtype == VDIT_DTYPE_BF16) return forward_wgmma<__nv_bfloat16>(p, stream);
  return forward_wgmma<__half>(p, stream);
}
