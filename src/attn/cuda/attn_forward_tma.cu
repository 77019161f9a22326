// Dense and block-sparse attention forward on Hopper, version 3 (the kernel lab's
// dev/attn/fwd_v3.cu): wgmma fed by the bulk tensor copy engine (TMA), two warpgroups that
// overlap their softmax with the tensor cores.
//
// One block of two warpgroups (256 threads) computes BM = 128 query rows of one (batch, head);
// warpgroup c owns rows 64c..64c+63. K and V tiles of BN = 128 keys arrive by TMA
// (cp.async.bulk.tensor; one thread issues) into STAGES shared-memory stages and complete on
// mbarriers full_k[s], full_v[s]; the second warpgroup to finish with a stage refills it with
// tile j + STAGES (a shared counter decides who is second), so no warp only loads.
// Each warpgroup software-pipelines its tile loop:
//   S_0 = Q K_0^T; softmax_0
//   for j >= 1: issue S_j = Q K_j^T and O += P_{j-1} V_{j-1} (two wgmma groups in flight),
//               wait S_j, softmax_j while P_{j-1} V_{j-1} runs,
//               wait P V, release tile j - 1's stage, rescale O, P_j to registers
//   O += P_{n-1} V_{n-1}
// and the two warpgroups take turns issuing their GEMMs (named barriers 1 and 2: bar.sync on its
// own before the issue, bar.arrive on the other's after it), so one warpgroup's softmax runs
// while the other's GEMMs keep the tensor cores busy.
// Tiles are [D/64][rows][64] with the 128-byte swizzle: what a TMA box of 64 x rows elements with
// CU_TENSOR_MAP_SWIZZLE_128B writes (zero-filled past the tensor's end), and what the wgmma
// descriptors of the version 2 path (attn_forward_wgmma.cu) read.
// The block-sparse executor walks the query block's list of 128-key blocks (p.map_offsets), the
// dense forward the implicit full list; softmax extras start each row's (max, sum, O) state;
// with the PV threshold a warpgroup drops a tile's P V (P zeroed) when all its 64 rows trail
// their running max by more than lambda, as the version 2 kernel skips it (no work saved here).
// SLA2's linear branch (LIN, D = 128, p.lin_hc set) is mixed in the epilogue while O_s is in
// registers: the query block's left-out sum Hc_I (D x D, [d][e]) comes by TMA (a fourth tensor
// map) into the K slot of the first stage that is released with no tile left to refill it
// (stage count % STAGES: at the start when count < STAGES), so the load overlaps the last
// tiles; phi(Q) is computed from the Q tile straight into the P operand's register layout (row
// max over the quad, unnormalised) while the warpgroup's last P V runs (its S registers are free
// then; round 19), O_l = phi(Q) Hc by one register-A wgmma per
// warpgroup (Hc read N-major like V) into the S registers, divided by phi(Q) . zc, and O = alpha
// O_s + (1 - alpha) O_l is what the epilogue stores (O_s too when p.o_sparse is set). The
// other methods' instantiations (LIN = false) are the kernel as it was.
// The low-bit sparse branch (sla(sage=1), attn_sage_forward_tma.cu) runs the same phi / mix
// arithmetic from attn_sla_epilogue.cuh; this kernel keeps its own lambdas: calling the header's
// functions here changed its SASS (8520 -> 8624 instructions, bf16 LIN instance), untimed.
// Compiler notes (ptxas 13.0): a branch the compiler takes for divergent between wgmma issues
// (an mbarrier retry loop written in C) makes it serialize every wgmma of the kernel (C7520), so
// the wait loop lives in the asm and branches with bra.uni on a warp vote; a third, producer
// warpgroup with setmaxnreg was tried and dropped (the consumers were still compiled to the
// 168-register entry budget of a 384-thread block: spills and serialized wgmmas, C7512).
#include "attn/cuda/attn_tma.cuh"
#include "attn/cuda/attn_wgmma_tiles.cuh"

// Where version 3 runs and its stages (from the lab's measurements, dev/attn/README.md).
static const int tma_stages_d128 = 3, tma_stages_d64 = 3;
static int tma_head_dim_ok(int D) { return D == 128 || D == 64; }

template <bool B> struct tma_flag {
  static constexpr bool value = B;
};

enum { TMA_BAR_TURN0 = 1, TMA_BAR_WG0 = 3 }; // named barriers: 1, 2 issue turns; 3, 4 within warpgroup 0, 1

// 2^x by the special-function unit (the linear branch's phi, as sla_cuda.cu's prepare computes phi(K))
static __device__ __forceinline__ float tma_ex2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}

template <typename T, int D, int STAGES, bool PV, bool LIN>
static __global__ void __launch_bounds__(256, 1)
    attn_forward_tma_kernel(const __grid_constant__ vdit_attn_cuda_params p, const __grid_constant__ CUtensorMap tq,
                            const __grid_constant__ CUtensorMap tk, const __grid_constant__ CUtensorMap tv,
                            const __grid_constant__ CUtensorMap th) {
  constexpr int BM = 128, BN = 128;
  constexpr int SREG = BN / 2, OREG = D / 2, SN = BN / 8, DB = D / 64;
  constexpr uint32_t TILE_BYTES = BN * D * sizeof(T), Q_BYTES = BM * D * sizeof(T);
  static_assert(D == 64 || D == 128, "wgmma path: head dim 64 or 128");
  static_assert(!LIN || (D == 128 && !PV), "the linear branch's epilogue: D = 128, no PV threshold");
  typedef attn_dtype_traits<T> tt;

  extern __shared__ unsigned char smem_raw[];
  __shared__ __align__(8) uint64_t bars[2 + 2 * STAGES]; // Q, full_k[STAGES], full_v[STAGES], Hc (LIN)
  __shared__ int released[STAGES];                       // warpgroups done with a stage, over all its uses
  __shared__ int pv_vote[2][8];                           // PV: per warp, does every row trail (by entry parity)
  const uint32_t pad = (1024u - (smem_u32(smem_raw) & 1023u)) & 1023u; // 1024-byte aligned swizzle atoms
  T *sQ = reinterpret_cast<T *>(smem_raw + pad);                        // [D/64][BM][64]
  const uint32_t sq_addr = smem_u32(sQ);
  const uint32_t sk_addr = sq_addr + Q_BYTES;             // STAGES x [D/64][BN][64]
  const uint32_t sv_addr = sk_addr + STAGES * TILE_BYTES; // STAGES x [D/64][BN][64]
  const uint32_t bar_q = smem_u32(&bars[0]);
  const uint32_t bar_fk = bar_q + 8, bar_fv = bar_q + 8 + 8 * STAGES, bar_h = bar_q + 8 + 16 * STAGES;

  const int b = blockIdx.z, h = blockIdx.y;
  const int m0 = (int)(gridDim.x - 1 - blockIdx.x) * BM;
  const int tid = threadIdx.x;

  const int key_len = attn_key_len(p, b);
  const int last_row = min(m0 + BM, p.Sq) - 1;
  const int limit_max = attn_key_limit(p, key_len, last_row);
  const int limit_min = attn_key_limit(p, key_len, m0);
  const int ntiles = (limit_max + BN - 1) / BN;
  // the key tiles to visit: entry e of the list names 128-key block list[e] (= tile list[e])
  const int32_t *list = nullptr;
  int count = ntiles;
  if (p.map_offsets) {
    const int r = (b * p.H + h) * p.map_rows + m0 / BM;
    const int begin = p.map_offsets[r];
    list = p.map_index + begin;
    count = p.map_offsets[r + 1] - begin;
    while (count > 0 && list[count - 1] >= ntiles) count--;
  }
#define TILE_OF(j) (list ? list[j] : (j))
  // entries from jm on are tiles some row sees only in part (the list ascends)
  int jm = count;
  while (jm > 0 && (TILE_OF(jm - 1) + 1) * BN > limit_min) jm--;

  // K and V of entry j into stage j % STAGES (one thread)
  auto load_kv = [&](int j) {
    const int st = j % STAGES, row = TILE_OF(j) * BN;
    tma_mbar_expect_tx(bar_fk + 8 * st, TILE_BYTES);
#pragma unroll
    for (int db = 0; db < DB; db++) tma_load_4d(sk_addr + st * TILE_BYTES + db * BN * 128, &tk, db * 64, row, h, b, bar_fk + 8 * st);
    tma_mbar_expect_tx(bar_fv + 8 * st, TILE_BYTES);
#pragma unroll
    for (int db = 0; db < DB; db++) tma_load_4d(sv_addr + st * TILE_BYTES + db * BN * 128, &tv, db * 64, row, h, b, bar_fv + 8 * st);
  };
  // LIN: Hc of this query block (rows m0 .. m0 + 127 of the (D, qb * 128, H, B) map) into the K
  // slot of stage st, which no tile uses again (one thread)
  auto load_hc = [&](int st) {
    tma_mbar_expect_tx(bar_h, TILE_BYTES);
#pragma unroll
    for (int db = 0; db < DB; db++) tma_load_4d(sk_addr + st * TILE_BYTES + db * BN * 128, &th, db * 64, m0, h, b, bar_h);
  };

  if (tid == 0) {
    tma_mbar_init(bar_q, 1);
    for (int s = 0; s < STAGES; s++) {
      tma_mbar_init(bar_fk + 8 * s, 1);
      tma_mbar_init(bar_fv + 8 * s, 1);
      released[s] = 0;
    }
    if (LIN) tma_mbar_init(bar_h, 1);
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    fence_proxy_async();
    if (count > 0 || LIN) { // the linear branch needs Q even with no key block
      tma_mbar_expect_tx(bar_q, Q_BYTES);
#pragma unroll
      for (int db = 0; db < DB; db++) tma_load_4d(sq_addr + db * BM * 128, &tq, db * 64, m0, h, b, bar_q);
      for (int j = 0; j < STAGES && j < count; j++) load_kv(j);
    }
    if (LIN && count < STAGES) load_hc(count); // a stage no tile uses
  }
  __syncthreads();

  const int c = __shfl_sync(0xffffffffu, tid >> 7, 0); // warpgroup, warp-uniform for the compiler
  const int ct = tid & 127, w4 = ct >> 5, lane = tid & 31, g = lane >> 2, t = lane & 3;
  const float sl2 = p.scale * ATTN_LOG2E;
  const int wrow = c * 64 + w4 * 16; // first row of this warp within the block's tile
  int row_limit[2];
#pragma unroll
  for (int r = 0; r < 2; r++) {
    const int row = m0 + wrow + g + 8 * r;
    row_limit[r] = row < p.Sq ? attn_key_limit(p, key_len, row) : 0;
  }
  float o[OREG], s[SREG];
  uint32_t pa[BN / 16][4];
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
  const uint32_t q_addr = sq_addr + c * 64 * 128;
  const float pv_raw = PV ? p.pv_threshold / p.scale : 0.0f; // lambda in raw-score units

  // S = Q K^T of entry j into s (one wgmma group, not waited for)
  auto issue_s = [&](int j) {
    const uint32_t k_addr = sk_addr + (j % STAGES) * TILE_BYTES;
#pragma unroll
    for (int kk = 0; kk < D / 16; kk++) {
      const uint64_t da = gmma_desc(q_addr + (kk >> 2) * BM * 128 + (kk & 3) * 32, 16, 1024);
      const uint64_t dbk = gmma_desc(k_addr + (kk >> 2) * BN * 128 + (kk & 3) * 32, 16, 1024);
      wg_ss_n128<T>(s, da, dbk, kk > 0);
    }
    wgmma_commit();
  };
  // O += P V of entry j (P in pa), one wgmma group. V read N-major: LBO = BN*128 bytes to the
  // next 64-wide head-dim block, SBO = 1024 bytes to the next 8 keys, 2048 bytes per 16 keys.
  auto issue_pv = [&](int j) {
    const uint32_t v_addr = sv_addr + (j % STAGES) * TILE_BYTES;
#pragma unroll
    for (int kk = 0; kk < BN / 16; kk++) wg_rs<T, D>(o, pa[kk], gmma_desc(v_addr + kk * 2048, BN * 128, 1024));
    wgmma_commit();
  };
  // mask (when `masked`, a compile-time choice) and online softmax of entry j in s: P in s,
  // alpha = the factor O must be scaled by; with PV this warp's vote on skipping P V (every row
  // of the warp trails its running max by more than lambda on this tile) goes to pv_vote
  auto softmax = [&](int j, float alpha[2], auto masked) {
    if (decltype(masked)::value) {
      const int n0 = TILE_OF(j) * BN;
#pragma unroll
      for (int n = 0; n < SN; n++)
#pragma unroll
        for (int e = 0; e < 4; e++)
          s[4 * n + e] = fminf(s[4 * n + e], n0 + n * 8 + 2 * t + (e & 1) >= row_limit[e >> 1] ? -INFINITY : INFINITY);
    }
    bool trails = true;
#pragma unroll
    for (int r = 0; r < 2; r++) {
      float mx = -INFINITY;
#pragma unroll
      for (int n = 0; n < SN; n++) mx = fmaxf(mx, fmaxf(s[4 * n + 2 * r], s[4 * n + 2 * r + 1]));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
      if (PV) trails = trails && (mx == -INFINITY || row_max[r] - mx > pv_raw);
      mx = fmaxf(mx, row_max[r]);
      const float m_use = mx == -INFINITY ? 0.0f : mx * sl2;
      alpha[r] = exp2f(row_max[r] * sl2 - m_use);
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
      row_sum[r] = row_sum[r] * alpha[r] + sum;
    }
    if (PV) {
      const int all = __all_sync(0xffffffffu, trails);
      if (lane == 0) pv_vote[j & 1][4 * c + w4] = all;
    }
  };
  auto rescale_o = [&](const float alpha[2]) {
#pragma unroll
    for (int r = 0; r < 2; r++)
#pragma unroll
      for (int n = 0; n < D / 8; n++) {
        o[4 * n + 2 * r] *= alpha[r];
        o[4 * n + 2 * r + 1] *= alpha[r];
      }
  };
  // P of entry j to registers; with PV, zero when the warpgroup voted to skip (O += 0 V leaves O
  // as it is, bit for bit, and the max did not move, so alpha = 1: the version 2 kernel's skip).
  // A select, not a branch: a branch writing wgmma operand registers may serialize every wgmma.
  // The votes were published by a barrier of this warpgroup after softmax (release or below).
  auto pack_p = [&](int j) { // k-step kk of P V covers keys 16kk..16kk+15 = S n-tiles 2kk, 2kk+1
    uint32_t keep = 0xffffffffu;
    if (PV) {
      const int *v = pv_vote[j & 1] + 4 * c;
      keep = v[0] && v[1] && v[2] && v[3] ? 0u : 0xffffffffu;
    }
#pragma unroll
    for (int kk = 0; kk < BN / 16; kk++) {
      pa[kk][0] = tt::pack(s[8 * kk + 0], s[8 * kk + 1]) & keep;
      pa[kk][1] = tt::pack(s[8 * kk + 2], s[8 * kk + 3]) & keep;
      pa[kk][2] = tt::pack(s[8 * kk + 4], s[8 * kk + 5]) & keep;
      pa[kk][3] = tt::pack(s[8 * kk + 6], s[8 * kk + 7]) & keep;
    }
  };
  auto fence_all = [&]() {
#pragma unroll
    for (int i = 0; i < SREG; i++) reg_fence(s[i]);
#pragma unroll
    for (int i = 0; i < OREG; i++) reg_fence(o[i]);
#pragma unroll
    for (int kk = 0; kk < BN / 16; kk++)
#pragma unroll
      for (int e = 0; e < 4; e++) reg_fence(pa[kk][e]);
  };
  // this warpgroup is done with entry jr's stage; the second warpgroup to say so refills it
  auto release = [&](int jr) {
    named_bar_sync(TMA_BAR_WG0 + c, 128);
    if (ct == 0) {
      const int old = atomicAdd(&released[jr % STAGES], 1);
      if ((old & 1) && jr + STAGES < count) load_kv(jr + STAGES);
      else if (LIN && (old & 1) && jr + STAGES == count) load_hc(jr % STAGES); // the first stage left free
    }
  };
  auto turn_begin = [&]() { named_bar_sync(TMA_BAR_TURN0 + c, 256); };
  auto turn_end = [&]() { named_bar_arrive(TMA_BAR_TURN0 + 1 - c, 256); };

  // LIN: phi(Q) of this warp's rows into s (the S layout) and den = phi(Q) . zc per row. The
  // softmax phi is left unnormalised (e^(q - max q), no 1 / sum): the factor cancels in O_l =
  // phi Hc / (phi . zc), which saves the row sum, two shuffles and 64 multiplies (round 19).
  float den[2] = {0.0f, 0.0f};
  auto lin_phi = [&]() {
    // Q rows g, g + 8 of the warp in the S layout: s[4 n + 2 r + e] = Q[row r][8 n + 2 t + e]
#pragma unroll
    for (int r = 0; r < 2; r++) {
      const int row = wrow + g + 8 * r;
#pragma unroll
      for (int n = 0; n < D / 8; n++) {
        const uint32_t w = *reinterpret_cast<const uint32_t *>(sQ + (n >> 3) * BM * 64 + row * 64 + (((n & 7) ^ (row & 7)) << 3) + 2 * t);
        s[4 * n + 2 * r] = tt::to_float(*reinterpret_cast<const T *>(&w));
        s[4 * n + 2 * r + 1] = tt::to_float(*(reinterpret_cast<const T *>(&w) + 1));
      }
    }
#pragma unroll
    for (int r = 0; r < 2; r++) { // phi over the row (the quad holds it)
      if (p.lin_feature == VDIT_ATTN_SLA_ELU) {
#pragma unroll
        for (int i = 0; i < D / 4; i++) {
          const int k = 4 * (i >> 1) + 2 * r + (i & 1);
          s[k] = s[k] > 0.0f ? s[k] + 1.0f : expf(s[k]);
        }
      } else {
        const float log2e = 1.4426950408889634f;
        float mx = -INFINITY;
#pragma unroll
        for (int n = 0; n < D / 8; n++) mx = fmaxf(mx, fmaxf(s[4 * n + 2 * r], s[4 * n + 2 * r + 1]));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
        const float ml = mx * log2e;
#pragma unroll
        for (int n = 0; n < D / 8; n++) {
          s[4 * n + 2 * r] = tma_ex2(fmaf(s[4 * n + 2 * r], log2e, -ml));
          s[4 * n + 2 * r + 1] = tma_ex2(fmaf(s[4 * n + 2 * r + 1], log2e, -ml));
        }
      }
    }
    { // den = phi(Q) . zc per row (zc of this query block: 512 bytes, from L2)
      const float *zc = p.lin_zc + (((int64_t)b * p.H + h) * gridDim.x + m0 / BM) * D;
#pragma unroll
      for (int n = 0; n < D / 8; n++) {
        const float2 z = __ldg(reinterpret_cast<const float2 *>(zc + 8 * n + 2 * t));
#pragma unroll
        for (int r = 0; r < 2; r++) den[r] += s[4 * n + 2 * r] * z.x + s[4 * n + 2 * r + 1] * z.y;
      }
#pragma unroll
      for (int r = 0; r < 2; r++) {
        den[r] += __shfl_xor_sync(0xffffffffu, den[r], 1);
        den[r] += __shfl_xor_sync(0xffffffffu, den[r], 2);
      }
    }
  };
  if (count > 0) {
    if (c == 1) named_bar_arrive(TMA_BAR_TURN0, 256); // warpgroup 0 issues first
    tma_mbar_wait(bar_q, 0);
    tma_mbar_wait(bar_fk, 0);
    turn_begin();
    fence_all();
    wgmma_fence();
    issue_s(0);
    turn_end();
    wgmma_wait<0>();
    fence_all();
    {
      float alpha[2];
      softmax(0, alpha, tma_flag<true>());
      rescale_o(alpha); // O is zero unless the extras started it
    }
    if (PV) named_bar_sync(TMA_BAR_WG0 + c, 128); // publishes the votes
    pack_p(0);
    auto step = [&](int j, auto masked) {
      tma_mbar_wait(bar_fk + 8 * (j % STAGES), (j / STAGES) & 1);
      turn_begin();
      fence_all();
      wgmma_fence();
      issue_s(j);
      tma_mbar_wait(bar_fv + 8 * ((j - 1) % STAGES), ((j - 1) / STAGES) & 1);
      issue_pv(j - 1);
      turn_end();
      wgmma_wait<1>(); // S_j done, P_{j-1} V_{j-1} may still run
      fence_all();
      float alpha[2];
      softmax(j, alpha, masked);
      wgmma_wait<0>();
      fence_all();
      release(j - 1); // (its barrier also publishes the votes)
      rescale_o(alpha);
      pack_p(j);
    };
    const int js = max(1, jm);
    for (int j = 1; j < js; j++) step(j, tma_flag<false>());
    for (int j = js; j < count; j++) step(j, tma_flag<true>());
    const int jl = count - 1;
    tma_mbar_wait(bar_fv + 8 * (jl % STAGES), (jl / STAGES) & 1);
    turn_begin();
    fence_all();
    wgmma_fence();
    issue_pv(jl);
    if (c == 0) turn_end(); // warpgroup 1's last hand-over would have no taker
    if (LIN) lin_phi(); // s and den are free: phi(Q) and den while the last P V runs
    wgmma_wait<0>();
    fence_all();
  }
#undef TILE_OF

  // LIN: O_l of this warp's rows into s (unnormalised); phi(Q) came under the last P V unless count = 0
  if (LIN) {
    tma_mbar_wait(bar_q, 0); // (already complete unless count = 0)
    if (count == 0) lin_phi();
    pack_p(0); // phi(Q) as the A operand (k-step kk: head dims 16 kk .. 16 kk + 15); no votes without PV
#pragma unroll
    for (int i = 0; i < SREG; i++) s[i] = 0.0f;
    fence_all();
    tma_mbar_wait(bar_h, 0);
    wgmma_fence();
    { // O_l = phi(Q) Hc: Hc [d][e] read N-major like V (d the reduction dim)
      const uint32_t h_addr = sk_addr + (count % STAGES) * TILE_BYTES;
#pragma unroll
      for (int kk = 0; kk < D / 16; kk++) wg_rs<T, D>(s, pa[kk], gmma_desc(h_addr + kk * 2048, BN * 128, 1024));
      wgmma_commit();
    }
    wgmma_wait<0>();
    fence_all();
  }

  // epilogue: normalise, LSE, O through this warpgroup's own rows of the Q tile
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
  // o to rows of og (strides ss, element units) through this warpgroup's rows of the Q tile,
  // [D/64][BM][64] swizzled: chunk n of row r in block n / 8 at chunk (n % 8) ^ (r % 8)
  auto store_o = [&](T *og, int64_t ss) {
#pragma unroll
    for (int r = 0; r < 2; r++) {
      const int row = wrow + g + 8 * r;
#pragma unroll
      for (int n = 0; n < D / 8; n++)
        *reinterpret_cast<uint32_t *>(sQ + (n >> 3) * BM * 64 + row * 64 + (((n & 7) ^ (row & 7)) << 3) + 2 * t) =
            tt::pack(o[4 * n + 2 * r], o[4 * n + 2 * r + 1]);
    }
    named_bar_sync(TMA_BAR_WG0 + c, 128);
    constexpr int CH = D / 8;
#pragma unroll
    for (int it = 0; it < 64 * CH / 128; it++) {
      const int idx = it * 128 + ct;
      const int r = c * 64 + idx / CH, ch = idx % CH;
      const int row = m0 + r;
      if (row < p.Sq)
        *reinterpret_cast<uint4 *>(og + (int64_t)row * ss + ch * 8) =
            *reinterpret_cast<const uint4 *>(sQ + (ch >> 3) * BM * 64 + r * 64 + (((ch & 7) ^ (r & 7)) << 3));
    }
  };
  if (LIN) {
    if (p.o_sparse) { // O_s for the backward
      store_o(reinterpret_cast<T *>(p.o_sparse) + b * p.os_sb + h * p.os_sh, p.os_ss);
      named_bar_sync(TMA_BAR_WG0 + c, 128); // the warpgroup has read its rows of the tile
    }
    const float alpha = 1.0f / (1.0f + expf(-p.lin_alpha_logit[h]));
#pragma unroll
    for (int r = 0; r < 2; r++) {
      const float il = den[r] > 0.0f ? 1.0f / den[r] : 0.0f;
#pragma unroll
      for (int n = 0; n < D / 8; n++) {
        o[4 * n + 2 * r] = alpha * o[4 * n + 2 * r] + (1.0f - alpha) * (s[4 * n + 2 * r] * il);
        o[4 * n + 2 * r + 1] = alpha * o[4 * n + 2 * r + 1] + (1.0f - alpha) * (s[4 * n + 2 * r + 1] * il);
      }
    }
  }
  store_o(reinterpret_cast<T *>(p.o) + b * p.o_sb + h * p.o_sh, p.o_ss);
}

template <typename T, int D, int STAGES, bool PV, bool LIN>
static cudaError_t launch_forward_tma(const vdit_attn_cuda_params *p, const CUtensorMap *mq, const CUtensorMap *mk,
                                      const CUtensorMap *mv, const CUtensorMap *mh, cudaStream_t stream) {
  const size_t smem = (size_t)(128 * D + 2 * STAGES * 128 * D) * sizeof(T) + 1024; // + 1024-byte alignment slack
  void (*kernel)(const vdit_attn_cuda_params, const CUtensorMap, const CUtensorMap, const CUtensorMap, const CUtensorMap) =
      attn_forward_tma_kernel<T, D, STAGES, PV, LIN>;
  cudaError_t err = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
  if (err != cudaSuccess) return err;
  dim3 grid((unsigned)((p->Sq + 127) / 128), (unsigned)p->H, (unsigned)p->B);
  kernel<<<grid, 256, smem, stream>>>(*p, *mq, *mk, *mv, *mh);
  return cudaGetLastError();
}

template <bool PV>
static cudaError_t forward_tma_typed(const vdit_attn_cuda_params *p, const CUtensorMap *mq, const CUtensorMap *mk,
                                     const CUtensorMap *mv, cudaStream_t stream) {
  if (p->D == 128) {
    if (p->dtype == VDIT_DTYPE_BF16) return launch_forward_tma<__nv_bfloat16, 128, tma_stages_d128, PV, false>(p, mq, mk, mv, mv, stream);
    return launch_forward_tma<__half, 128, tma_stages_d128, PV, false>(p, mq, mk, mv, mv, stream);
  }
  if (p->dtype == VDIT_DTYPE_BF16) return launch_forward_tma<__nv_bfloat16, 64, tma_stages_d64, PV, false>(p, mq, mk, mv, mv, stream);
  return launch_forward_tma<__half, 64, tma_stages_d64, PV, false>(p, mq, mk, mv, mv, stream);
}

extern "C" int vdit_attn_cuda_forward_tma_fits(const vdit_attn_cuda_params *p) {
  return tma_head_dim_ok(p->D) && p->Sk > 0 && vdit_attn_cuda_forward_wgmma_fits(p);
}

extern "C" cudaError_t vdit_attn_cuda_forward_tma(const vdit_attn_cuda_params *p, cudaStream_t stream) {
  const tma_encode_fn encode = tma_encoder();
  if (!encode) return cudaErrorNotSupported;
  CUtensorMap mq, mk, mv;
  if (!tma_map_16bit(encode, &mq, p->dtype == VDIT_DTYPE_BF16, p->q, p->D, p->Sq, p->H, p->B, p->q_ss, p->q_sh, p->q_sb) ||
      !tma_map_16bit(encode, &mk, p->dtype == VDIT_DTYPE_BF16, p->k, p->D, p->Sk, p->H, p->B, p->k_ss, p->k_sh, p->k_sb) ||
      !tma_map_16bit(encode, &mv, p->dtype == VDIT_DTYPE_BF16, p->v, p->D, p->Sk, p->H, p->B, p->v_ss, p->v_sh, p->v_sb))
    return cudaErrorNotSupported;
  if (p->lin_hc) { // SLA2's epilogue: Hc (B, H, qb, 128 rows, D) contiguous as a (D, qb * 128, H, B) map
    if (p->D != 128 || p->pv_threshold > 0.0f || p->extra_sum) return cudaErrorInvalidValue;
    const int qrows = (p->Sq + 127) / 128 * 128;
    CUtensorMap mh;
    if (!tma_map_16bit(encode, &mh, p->dtype == VDIT_DTYPE_BF16, p->lin_hc, p->D, qrows, p->H, p->B, p->D, (int64_t)qrows * p->D,
                         (int64_t)p->H * qrows * p->D))
      return cudaErrorNotSupported;
    if (p->dtype == VDIT_DTYPE_BF16) return launch_forward_tma<__nv_bfloat16, 128, tma_stages_d128, false, true>(p, &mq, &mk, &mv, &mh, stream);
    return launch_forward_tma<__half, 128, tma_stages_d128, false, true>(p, &mq, &mk, &mv, &mh, stream);
  }
  if (p->pv_threshold > 0.0f) return forward_tma_typed<true>(p, &mq, &mk, &mv, stream);
  return forward_tma_typed<false>(p, &mq, &mk, &mv, stream);
}
