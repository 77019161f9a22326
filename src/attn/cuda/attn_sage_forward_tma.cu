// Sage attention forward on Hopper, version 3: the dense version 3's structure
// (attn_forward_tma.cu: TMA on mbarrier stages, two consumer warpgroups taking turns to issue
// their GEMMs, S_j and P_{j-1} V_{j-1} in flight together) over the sage quantized workspace
// (attn_sage_cuda.h), with the arithmetic of version 2 (attn_sage_forward.cu) unchanged, so the
// contract of src/attn/attn_sage.h and the CPU emulation hold as they are.
//
// One block of two warpgroups (256 threads) per 128 query rows of one (batch, head); warpgroup
// c owns rows 64c..64c+63. Every tile is 128 rows of 128 bytes (8-bit codes at D = 128) with the
// 128-byte swizzle, one TMA box of a 2-d uint8 tensor map:
//   Q codes   (bh * Sq_pad rows, 128)  box at row bh * Sq_pad + m0
//   K codes   (bh * Sk_pad rows, 128)  box at row bh * Sk_pad + 128 tile
//   V^T codes (bh * 128 rows, Sk_pad)  box at (column 128 tile, row bh * 128): [d][key], keys
//                                      in the P fragment's order (sage_fragment_position)
// so a stage (K + V^T) is 32 KB, half the dense kernel's. Per warpgroup and 128-key tile:
//   S_j = Q K_j^T   wgmma m64n128k32 s8 x s8 -> s32 (both K-major from shared memory)
//   softmax_j       straight from the int32 scores, one FFMA and one MUFU a score (attn_sage.h);
//                   P' as e4m3 codes into shared-memory buffer j % 2 (this warpgroup's 64 rows)
//   OT = P_j V_j    wgmma m64n136k32 e4m3, both operands from shared memory (K-major), a fresh
//                   fp32 accumulator, columns 128..135 the row sums (8 rows of ones after V^T);
//                   O = O * alpha_j + OT (two-level accumulation)
// software-pipelined as the dense version 3:
//   S_0; softmax_0
//   for j >= 1: issue S_j, O = O * alpha_{j-2} + OT (P_{j-2} V_{j-2}) while S_j runs, issue
//               OT = P_{j-1} V_{j-1} (two groups in flight), wait S_j, softmax_j while OT runs,
//               wait OT, release stage j - 2 (its last use ordered by this step's turn barrier)
//   O = O * alpha_{n-2} + OT; OT = P_{n-1} V_{n-1}; O = O * alpha_{n-1} + OT
// The warpgroups take turns issuing (named barriers 1 and 2), so one's softmax runs while the
// other's GEMMs keep the tensor cores busy. The second warpgroup to release a stage refills it.
// The key tiles are the query block's list of 128-key blocks (p.map_offsets, the block-sparse
// executor's walk) or the implicit full list.
// Why P goes through shared memory (ptxas 13.0, read in the SASS): an instruction after the
// wait for S_j that writes a register of an earlier wgmma group (P over S in place, or P into
// the A registers of P V) makes ptxas wait for every wgmma in flight there, so softmax_j would
// not overlap P_{j-1} V_{j-1}; the softmax only reads S.
// Registers: S (int32) 64, OT and O 68 each, 200 live across the softmax; 255 used, no spills
// (per-block). Shared memory: Q 16 KB, 4 stages x 33 KB, 2 P' buffers x 16 KB, the 16-bit O
// staging tile 32 KB.
// H100 (dev/sage/README.md, run 5): 9.98 ms per-block at B=1 H=12 S=32760 D=128 = 1.22x the
// dense version 3; latency-bound (ncu: tensor pipe 35%, issue slots 45% busy). With the two-phase
// softmax (both rows' maxima, then both rows' exps; row sums in 4 chains): 9.71 ms = 1.28x.
// H200 (runs 6-8): descriptors built once and a quarter of the exp2 on the FMA pipe (the MUFU
// offload, attn_sage.h): 9.88 -> 9.70 ms = 1.23-1.25x our dense; ncu: barrier stalls lead.
// H200 (run 12): the row sums by the tensor cores (P V at N = 136, below): 9.70 -> 9.41 ms =
// 1.24-1.29x our dense.
// H200 (round 11, lab run 15): the loop bounds broadcast from lane 0 (below), so the wgmma
// descriptors stay on the uniform datapath (SASS: 715 -> 683 instructions a warp and step, R2UR
// 30 -> 2): 9.36 -> 8.98 ms = 1.35x our dense.
// H200 (round 13, lab run 19): O's fold under S_{j+1} (after the V wait) with 5 of the 16 key
// groups on the polynomial (SAGE_POLY_GROUPS 0x8889): 9.03 -> 8.91 ms = 1.38x our dense; the fold
// alone lost 1.4%, 5/16 alone tied (-0.6%), 1/8 tied, 3/16 lost 2.6% (docs/attention.md).
// H200 (round 14, lab run 21b): five other placements of 5 or 6 groups (0x4891, 0x9111, 0x9249,
// 0x8899, 0x2491) and both rows' codes of an n-tile pair together all lost to 0x8889 (1.3-5.6%).
// H200 (round 15, lab run 22, lab commit df3403e): P V by head-dim halves (N = 64 + 72) so that only
// 32-36 OT registers are live during the softmax (255 -> 248 registers) lost 2-10% (9.12-9.82 ms
// against 8.95); with the halves a third consumer warpgroup (168 registers) still spills 300 B (this
// kernel: 1636) and 128 x 256 key tiles 40 B, both with serialized wgmmas (ptxas C7511 / C7512), so
// neither was built.
// H200 (round 16, lab run 25): the unmasked loop unrolled by 4 (the stages), so each step's stage and
// P' buffer are constants (716 -> 666 instructions a warp and step): 8.92 -> 8.57 ms = 1.44x our
// dense; the stage ring in unsigned arithmetic with descriptor bases made once 9.18, unrolled by 2
// 9.05, both + unrolled by 4 8.75 (docs/attention.md, "Forward, ninth H200 round").
#include "attn/attn_sage.h"
#include "attn/cuda/attn_sage_cuda.h"
#include "attn/cuda/attn_sage_wgmma.cuh"
#include "attn/cuda/attn_sla_epilogue.cuh"
#include "attn/cuda/attn_tma.cuh"
#include "attn/cuda/attn_wgmma_tiles.cuh"

#include <limits.h>

#define SAGE3_STAGES 4 // 4 x 32 KB: 8-bit tiles leave room for one stage more than the dense kernel

enum { SAGE3_BAR_TURN0 = 1, SAGE3_BAR_WG0 = 3 }; // named barriers: 1, 2 issue turns; 3, 4 within warpgroup 0, 1

static __device__ __forceinline__ void st_shared_u32(uint32_t addr, uint32_t v) {
  asm volatile("st.shared.u32 [%0], %1;\n" ::"r"(addr), "r"(v) : "memory");
}

// The low word of gmma_desc(addr, 16, 1024) (address >> 4 in bits 0-13, leading byte offset 1 in
// bits 16-29) without gmma_desc's mask: shared addresses are < 2^18, so a 32-byte k-step adds 2 to
// it with no carry, one integer add instead of gmma_desc's mask, shift and or per k-step.
static __device__ __forceinline__ uint32_t sage3_desc_low(uint32_t smem_addr) { return (smem_addr >> 4) | (1u << 16); }
// the whole descriptor: stride byte offset 1024 >> 4 in bits 32-45, the 128-byte swizzle at bit 62
static __device__ __forceinline__ uint64_t sage3_desc(uint32_t low) { return (uint64_t)low | ((uint64_t)((1024u >> 4) | (1u << 30)) << 32); }

template <bool B> struct sage3_flag {
  static constexpr bool value = B;
};

// The exp2 of the 8-key groups in SAGE_POLY_GROUPS (bit n: accumulator n-tile n, keys 8n..8n+7)
// run on the FMA pipe (sage_exp2_poly, the MUFU offload of attn_sage.h), the others on the MUFU.
// The row sums l (the contract's since 2026-11-28: the sum of the e4m3-rounded P') come from the
// tensor cores: P V runs with N = 136 against 8 rows of e4m3 ones stored after every V^T stage, so
// OT's n-tile 16 (every thread's registers 64..67) holds the tile's row sums and O = O * alpha + OT
// carries them along as it does O; no FADD in the softmax (779 -> 715 instructions a warp and
// step; H200 run 12: 9.70 -> 9.41 ms). Tried and dropped (dev/sage/README.md): a second m64n8k32
// product per k-step into 4 more registers (746 instructions, 12 bytes of spills); a lazy fold (up
// to 2 or 4 tiles' P V in one OT while no row maximum of the warpgroup moves, a vote in the stage
// release's barrier: 9.90-9.99 ms); every exp2 on the MUFU (9.72 ms).
// Step bookkeeping (round 17, sagefwd17; H200 lab run 27: 8.64 -> 8.37 ms, docs/attention.md):
// - the stage release is an atom.shared.exch of the stage's use number + 1 (both warpgroups swap in
//   the same value; the second gets it back and refills), which ptxas does not warp-aggregate as it
//   does an atom.add (VOTEU, FLO, two S2R, two POPC, SHFL.IDX ahead of the refill's TMA);
// - the unmasked softmax's row maximum skips the INT_MIN and -inf cases (no key of an unmasked tile
//   is dead, |S| < 2^22 is never INT_MIN) and, where both 64-key halves share one K scale
//   (per-block, per-thread), takes one integer maximum over the 32 scores and one conversion (c > 0:
//   the float maximum of the scaled halves is the scaled integer maximum, bit for bit);
// - at the end of step j, entry j - 2's stage is released (not j - 1's) by its one thread with no
//   barrier of its own: step j's turn barrier (all 256 threads) already followed every warp's wait
//   for P_{j-2} V_{j-2} (the refill two steps ahead, not three); the last two entries are never
//   released (no refill follows them). Released right after S_j's issue instead, ptxas spilled
//   1157 STL / LDL in the bf16 per-block build (not built).
// LIN (sla(sage=1), SLA2's low-bit sparse branch; p.lin_hc set): the bf16 executor's linear
// branch and mix (attn_forward_tma.cu, attn_sla_epilogue.cuh) in this kernel's epilogue. The
// 16-bit Q tile comes by TMA (map tqh) into the O staging tile, free until the epilogue, at the
// start; the query block's left-out sum Hc_I (D x D, [d][e], map th) into K stages 0 and 1, issued
// by warpgroup 1 once it holds its last issue turn (both warpgroups have then waited for their
// last S, so no K stage is read again; count = 0: at the start); after the last P V, phi(Q) from
// the Q tile, O_l = phi(Q) Hc by one register-A bf16 wgmma group per warpgroup, and the epilogue
// stores O_s (when p.o_sparse is set) and O = alpha O_s + (1 - alpha) O_l. LSE: the sparse
// branch's, as the contract has it. Shared memory as without LIN.
template <typename T, int GRAN, int STAGES, bool LIN>
static __global__ void __launch_bounds__(256, 1)
    sage_forward_tma_kernel(const __grid_constant__ vdit_attn_cuda_params p, const __grid_constant__ vdit_attn_sage_ws_view w,
                            const __grid_constant__ CUtensorMap tq, const __grid_constant__ CUtensorMap tk,
                            const __grid_constant__ CUtensorMap tv, const __grid_constant__ CUtensorMap tqh,
                            const __grid_constant__ CUtensorMap th) {
  constexpr int BM = 128, BN = 128, D = 128;
  constexpr uint32_t TILE = 128 * 128; // bytes of every tile (Q, K, V^T)
  constexpr uint32_t VSTRIDE = TILE + 1024; // a V^T stage and its 8 rows of ones
  constexpr int NO = 68;                    // O and OT registers (n-tile 16: the row sums)
  typedef attn_dtype_traits<T> tt;

  extern __shared__ unsigned char smem_raw[];
  __shared__ __align__(8) uint64_t bars[3 + 2 * STAGES]; // Q, full_k[STAGES], full_v[STAGES], LIN: 16-bit Q, Hc
  __shared__ int released[STAGES];                       // warpgroups done with a stage, over all its uses
  const uint32_t pad = (1024u - (smem_u32(smem_raw) & 1023u)) & 1023u; // 1024-byte aligned swizzle atoms
  const uint32_t sq_addr = smem_u32(smem_raw + pad);
  const uint32_t sk_addr = sq_addr + TILE;          // STAGES x [128 keys][128 bytes]
  const uint32_t sv_addr = sk_addr + STAGES * TILE; // STAGES x [128 channels][128 keys]
  const uint32_t sp_addr = sv_addr + STAGES * VSTRIDE; // 2 buffers x [128 rows][128 keys] of e4m3 P'
  T *sO = reinterpret_cast<T *>(smem_raw + pad + (3 + STAGES) * TILE + STAGES * VSTRIDE); // [D/64][BM][64], the epilogue's
  const uint32_t bar_q = smem_u32(&bars[0]);
  const uint32_t bar_fk = bar_q + 8, bar_fv = bar_q + 8 + 8 * STAGES, bar_qh = bar_q + 8 + 16 * STAGES, bar_h = bar_qh + 8;

  const int b = blockIdx.z, h = blockIdx.y, bh = b * p.H + h;
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
    const int r = bh * p.map_rows + m0 / BM;
    const int begin = p.map_offsets[r];
    list = p.map_index + begin;
    count = p.map_offsets[r + 1] - begin;
    while (count > 0 && list[count - 1] >= ntiles) count--;
  }
#define TILE_OF(j) (list ? list[j] : (j))
  // entries from jm on are tiles some row sees only in part (the list ascends)
  int jm = count;
  while (jm > 0 && (TILE_OF(jm - 1) + 1) * BN > limit_min) jm--;
  // count and jm are block-uniform but come from loads, so ptxas took the loops they bound as
  // divergent and kept the loop counter and the wgmma descriptors derived from it in vector
  // registers (30 R2UR a step); broadcast from lane 0 they are warp-uniform to ptxas, and the
  // descriptor arithmetic runs on the uniform datapath (UIADD3, no R2UR)
  count = __shfl_sync(0xffffffffu, count, 0);
  jm = __shfl_sync(0xffffffffu, jm, 0);

  // K and V^T codes of entry j into stage j % STAGES (one thread)
  auto load_kv = [&](int j, int hint = -1) { // hint: j's stage where the caller knows it, else -1
    const int st = hint >= 0 ? hint : j % STAGES, tile = TILE_OF(j);
    tma_mbar_expect_tx(bar_fk + 8 * st, TILE);
    tma_load_2d(sk_addr + st * TILE, &tk, 0, bh * w.sk_pad + tile * BN, bar_fk + 8 * st);
    tma_mbar_expect_tx(bar_fv + 8 * st, TILE);
    tma_load_2d(sv_addr + st * VSTRIDE, &tv, tile * BN, bh * D, bar_fv + 8 * st);
  };
  // LIN: Hc of this query block (rows m0 .. m0 + 127 of the (D, qb * 128, H, B) map) into K
  // stages 0 and 1 as [D/64][128][64] (one thread)
  auto load_hc = [&]() {
    tma_mbar_expect_tx(bar_h, 2 * TILE);
#pragma unroll
    for (int db = 0; db < 2; db++) tma_load_4d(sk_addr + db * TILE, &th, db * 64, m0, h, b, bar_h);
  };

  if (tid == 0) {
    tma_mbar_init(bar_q, 1);
    for (int s = 0; s < STAGES; s++) {
      tma_mbar_init(bar_fk + 8 * s, 1);
      tma_mbar_init(bar_fv + 8 * s, 1);
      released[s] = 0;
    }
    if (LIN) tma_mbar_init(bar_qh, 1), tma_mbar_init(bar_h, 1);
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    fence_proxy_async();
    if (count > 0) {
      tma_mbar_expect_tx(bar_q, TILE);
      tma_load_2d(sq_addr, &tq, 0, bh * w.sq_pad + m0, bar_q);
      for (int j = 0; j < STAGES && j < count; j++) load_kv(j);
    }
    if (LIN) { // the 16-bit Q tile into the O staging tile; Hc now when no K stage is used
      tma_mbar_expect_tx(bar_qh, 2 * TILE);
#pragma unroll
      for (int db = 0; db < 2; db++) tma_load_4d(smem_u32(sO) + db * TILE, &tqh, db * 64, m0, h, b, bar_qh);
      if (count == 0) load_hc();
    }
  }
  { // e4m3 1.0 (0x38) in B rows 128..135 of every stage's P V (any swizzle: all bytes equal)
    for (int i = tid; i < STAGES * 256; i += 256) st_shared_u32(sv_addr + (i >> 8) * VSTRIDE + TILE + 4 * (i & 255), 0x38383838u);
    fence_proxy_async(); // generic stores, read by the wgmma (async proxy) after the barrier
  }
  __syncthreads();

  const int c = __shfl_sync(0xffffffffu, tid >> 7, 0); // warpgroup, warp-uniform for the compiler
  const int ct = tid & 127, w4 = ct >> 5, lane = tid & 31, g = lane >> 2, t = lane & 3;
  const int wrow = c * 64 + w4 * 16; // first row of this warp within the block's tile
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

  float o[NO], ot[NO];
  int32_t sacc[64]; // S in int32
#pragma unroll
  for (int i = 0; i < 64; i++) sacc[i] = 0;
#pragma unroll
  for (int i = 0; i < NO; i++) o[i] = ot[i] = 0.0f;
  float row_max[2] = {-INFINITY, -INFINITY}, alpha_prev[2] = {0.0f, 0.0f}, alpha_fold[2] = {0.0f, 0.0f};
  const uint32_t q_addr = sq_addr + c * 64 * 128;
  // the stage of entry j: hint where the caller knows it (the unrolled loop below), else j % STAGES
  auto stage_of = [&](int j, int hint = -1) { return hint >= 0 ? hint : j % STAGES; };
  auto phase_of = [&](int j) { return (uint32_t)((j / STAGES) & 1); };

  // S = Q K^T of entry j into sacc (one wgmma group, not waited for)
  auto issue_s = [&](int j, int hint = -1) {
    const uint32_t k_addr = sk_addr + stage_of(j, hint) * TILE;
    const uint32_t lq = sage3_desc_low(q_addr), lk = sage3_desc_low(k_addr);
#pragma unroll
    for (int kk = 0; kk < D / 32; kk++) wgmma_ss_n128_s8(sacc, sage3_desc(lq + 2 * kk), sage3_desc(lk + 2 * kk), kk > 0);
    wgmma_commit();
  };
  // this warpgroup's 64 rows of P' buffer par = j % 2 (K-major, 128-byte swizzle, like Q)
  auto p_addr = [&](int par) { return sp_addr + par * TILE + c * 64 * 128; };
  // OT = P V of entry j (P' from shared memory; columns 128..135: P' times the ones, the row
  // sums), a fresh accumulator, one wgmma group; k-step kk covers keys 32kk..32kk+31 in the order
  // the V^T quantizer stored them
  auto issue_pv = [&](int j, int par, int hint = -1) {
    const uint32_t v_addr = sv_addr + stage_of(j, hint) * VSTRIDE, pj = p_addr(par);
    const uint32_t lp = sage3_desc_low(pj), lv = sage3_desc_low(v_addr);
#pragma unroll
    for (int kk = 0; kk < 4; kk++) wgmma_ss_n136_e4m3(ot, sage3_desc(lp + 2 * kk), sage3_desc(lv + 2 * kk), kk > 0);
    wgmma_commit();
  };
  // Softmax of entry j straight from the int32 scores (attn_sage.h; version 2's expressions):
  // the row max over the integers of each scale group, then p = 2^(F c - K2) with F the float
  // whose bits are acc + bits(2^23 + 2^22) and K2 = (2^23 + 2^22) c + shift; P' (scaled so its
  // max is 448) goes to P' buffer j % 2 as e4m3; alpha = the factor O must be scaled by.
  // It only reads sacc (masked scores are selected out, not overwritten) and P goes through shared
  // memory: ptxas waits for every wgmma in flight before a write to a register of an earlier wgmma
  // group (the S accumulator, or P as a register A operand), which would stop P_{j-1} V_{j-1}
  // from overlapping this softmax.
  // k-step kk of P V (keys 32kk..) = S n-tiles 4kk..4kk+3, in the order the V^T quantizer stored
  // the keys: the 4 codes of n-tiles (2np, 2np + 1) of row g + 8r are bytes 4t..4t+3 of 16-byte
  // chunk np of the row (chunk np ^ (row % 8) with the swizzle): a conflict-free 32-bit store.
  // K scales of entry j's two 64-key halves, loaded before the step's waits: every asm volatile
  // with a memory clobber (barriers, wgmma waits) keeps a load below it, and a load issued after
  // the S wait put its latency on the critical path of every tile
  auto load_ck = [&](int j, float ck[2]) {
    const int tile = TILE_OF(j);
    if (GRAN == VDIT_ATTN_SAGE_PER_WARP) ck[0] = ksb[2 * tile], ck[1] = ksb[2 * tile + 1];
    else if (GRAN == VDIT_ATTN_SAGE_PER_THREAD) ck[0] = ck[1] = ksb[4 * tile + t];
    else ck[0] = ck[1] = ksb[tile];
  };
  auto softmax = [&](int j, int par, const float ck[2], float alpha[2], auto masked) {
    const uint32_t prow = p_addr(par) + (w4 * 16 + g) * 128 + 4 * t;
    const int tile = TILE_OF(j);
    const float c0 = __fmul_rn(cq, ck[0]), c1 = __fmul_rn(cq, ck[1]);
    const int n0 = tile * BN;
    auto dead = [&](int n, int r, int e) {
      return decltype(masked)::value && n0 + n * 8 + 2 * t + e >= row_limit[r];
    };
    // both rows' maxima first, then both rows' exps: two independent chains a phase
    float shift[2];
#pragma unroll
    for (int r = 0; r < 2; r++) {
      if (!decltype(masked)::value) {
        if (GRAN != VDIT_ATTN_SAGE_PER_WARP) { // c0 == c1
          int mi = sacc[2 * r];
#pragma unroll
          for (int i = 1; i < 32; i++) mi = max(mi, sacc[4 * (i >> 1) + 2 * r + (i & 1)]);
          shift[r] = fmaxf(row_max[r], __fmul_rn(sage_i2f(mi), c0));
        } else {
          int mi0 = sacc[2 * r], mi1 = sacc[32 + 2 * r];
#pragma unroll
          for (int i = 1; i < 16; i++) {
            mi0 = max(mi0, sacc[4 * (i >> 1) + 2 * r + (i & 1)]);
            mi1 = max(mi1, sacc[32 + 4 * (i >> 1) + 2 * r + (i & 1)]);
          }
          shift[r] = fmaxf(row_max[r], fmaxf(__fmul_rn(sage_i2f(mi0), c0), __fmul_rn(sage_i2f(mi1), c1)));
        }
        continue;
      }
      int mi0 = INT_MIN, mi1 = INT_MIN;
#pragma unroll
      for (int n = 0; n < 16; n++)
#pragma unroll
        for (int e = 0; e < 2; e++) {
          const int v = dead(n, r, e) ? INT_MIN : sacc[4 * n + 2 * r + e];
          if (n < 8) mi0 = max(mi0, v);
          else mi1 = max(mi1, v);
        }
      const float t0 = mi0 == INT_MIN ? -INFINITY : __fmul_rn(sage_i2f(mi0), c0);
      const float t1 = mi1 == INT_MIN ? -INFINITY : __fmul_rn(sage_i2f(mi1), c1);
      shift[r] = fmaxf(row_max[r], fmaxf(t0, t1));
    }
#pragma unroll
    for (int r = 0; r < 2; r++) shift[r] = fmaxf(shift[r], __shfl_xor_sync(0xffffffffu, shift[r], 1));
#pragma unroll
    for (int r = 0; r < 2; r++) shift[r] = fmaxf(shift[r], __shfl_xor_sync(0xffffffffu, shift[r], 2));
#pragma unroll
    for (int r = 0; r < 2; r++) {
      const float mx = shift[r], m_use = !decltype(masked)::value || mx != -INFINITY ? mx : 0.0f;
      alpha[r] = sage_ex2(__fsub_rn(row_max[r], m_use));
      row_max[r] = mx;
      shift[r] = __fsub_rn(m_use, SAGE_LOG2_448);
    }
#pragma unroll
    for (int r = 0; r < 2; r++) {
      const float k20 = fmaf(SAGE_EXP_BIAS, c0, shift[r]), k21 = fmaf(SAGE_EXP_BIAS, c1, shift[r]);
#pragma unroll
      for (int np = 0; np < 8; np++) { // n-tiles 2np, 2np + 1
        float pe[4];
#pragma unroll
        for (int q = 0; q < 4; q++) {
          const int n = 2 * np + (q >> 1), e = q & 1, i = 4 * n + 2 * r + e;
          const float f = __int_as_float((int)((unsigned)sacc[i] + 0x4B400000u));
          const float x = fmaf(f, n < 8 ? c0 : c1, n < 8 ? -k20 : -k21);
          pe[q] = (SAGE_POLY_GROUPS >> n) & 1u ? sage_exp2_poly(x) : sage_ex2(x); // MUFU offload (attn_sage.h)
          if (dead(n, r, e)) pe[q] = 0.0f;
        }
        st_shared_u32(prow + r * 8 * 128 + ((np ^ g) << 4), sage_pack_e4m3(pe[0], pe[1], pe[2], pe[3]));
      }
    }
  };

  // O = O * alpha + OT: the second level of the accumulation
  auto accumulate = [&](const float alpha[2]) {
#pragma unroll
    for (int i = 0; i < NO; i++) o[i] = fmaf(o[i], alpha[(i >> 1) & 1], ot[i]);
  };
  auto fence_all = [&]() {
#pragma unroll
    for (int i = 0; i < 64; i++) reg_fence(sacc[i]);
#pragma unroll
    for (int i = 0; i < NO; i++) reg_fence(ot[i]);
#pragma unroll
    for (int i = 0; i < NO; i++) reg_fence(o[i]);
  };
  auto fence_s = [&]() {
#pragma unroll
    for (int i = 0; i < 64; i++) reg_fence(sacc[i]);
  };
  // this warpgroup is done with entry jr's stage; the second warpgroup to say so refills it
  // entry jr's stage done by warpgroup c (the caller's turn barrier orders this after every warp's
  // use of it): both warpgroups swap in use jr / STAGES + 1; the second gets its own value back
  auto release = [&](int jr, int hint = -1) {
    if (ct == 0) {
      const uint32_t use1 = ((uint32_t)jr >> 2) + 1u; // jr >= 0, STAGES = 4
      uint32_t old;
      asm volatile("atom.shared.exch.b32 %0, [%1], %2;\n" : "=r"(old) : "r"(smem_u32(&released[stage_of(jr, hint)])), "r"(use1) : "memory");
      if (old == use1 && jr + STAGES < count) load_kv(jr + STAGES, hint);
    }
  };
  auto turn_begin = [&]() { named_bar_sync(SAGE3_BAR_TURN0 + c, 256); };
  auto turn_end = [&]() { named_bar_arrive(SAGE3_BAR_TURN0 + 1 - c, 256); };

  if (count > 0) {
    if (c == 1) named_bar_arrive(SAGE3_BAR_TURN0, 256); // warpgroup 0 issues first
    float ck[2];
    load_ck(0, ck);
    tma_mbar_wait(bar_q, 0);
    tma_mbar_wait(bar_fk, 0);
    turn_begin();
    fence_all();
    wgmma_fence();
    issue_s(0);
    turn_end();
    wgmma_wait<0>();
    fence_all();
    softmax(0, 0, ck, alpha_prev, sage3_flag<true>());
    fence_proxy_async(); // P' stores visible to the wgmma (async proxy) after the barrier below
    named_bar_sync(SAGE3_BAR_WG0 + c, 128);
    // par = j & 1 and st = j % STAGES, compile-time constants in the unrolled loop (st -1 where
    // not known)
    auto step = [&](int j, auto masked, int par, int st = -1) {
      const int st1 = st >= 0 ? (st + STAGES - 1) % STAGES : -1; // entry j - 1's
      float ckj[2];
      load_ck(j, ckj);
      tma_mbar_wait(bar_fk + 8 * stage_of(j, st), phase_of(j));
      turn_begin();
      fence_all();
      wgmma_fence();
      issue_s(j, st);
      tma_mbar_wait(bar_fv + 8 * stage_of(j - 1, st1), phase_of(j - 1));
      // OT holds P_{j-2} V_{j-2} (zeros at j = 1): fold it while S_j runs. After the wait loop (a
      // basic block of its own), so ptxas cannot hoist the FFMAs between S_j's wgmmas
      accumulate(alpha_fold);
      wgmma_fence(); // the FFMAs read OT, which P_{j-1} V_{j-1} overwrites
      issue_pv(j - 1, 1 - par, st1);
      turn_end();
      wgmma_wait<1>(); // S_j done, P_{j-1} V_{j-1} may still run
      fence_s(); // not OT / P: touching registers of the wgmma in flight would make ptxas wait for it here
      float alpha[2];
      softmax(j, par, ckj, alpha, masked);
      fence_proxy_async(); // P' stores visible to the next P V after the next turn barrier
      wgmma_wait<0>();
      fence_all();
      if (j >= 2) release(j - 2, st >= 0 ? (st + 2) % STAGES : -1);
      alpha_fold[0] = alpha_prev[0], alpha_fold[1] = alpha_prev[1]; // OT's fold waits for S_{j+1}
      alpha_prev[0] = alpha[0];
      alpha_prev[1] = alpha[1];
    };
    const int js = max(1, jm);
    // the unmasked entries unrolled by STAGES, so that every step's stage and P' buffer are
    // constants: the mbarrier, descriptor, P' store and release offsets become immediates (SASS
    // per warp and step 716 -> 666 instructions; H200 run 25: 8.92 -> 8.57 ms, docs/attention.md)
    static_assert(STAGES == 4, "the unrolled loop names 4 stages");
    int j = 1;
    for (; j + 3 < js; j += 4) {
      step(j, sage3_flag<false>(), 1, 1);
      step(j + 1, sage3_flag<false>(), 0, 2);
      step(j + 2, sage3_flag<false>(), 1, 3);
      step(j + 3, sage3_flag<false>(), 0, 0);
    }
    for (; j < js; j++) step(j, sage3_flag<false>(), j & 1);
    for (j = js; j < count; j++) step(j, sage3_flag<true>(), j & 1);
    const int jl = count - 1;
    accumulate(alpha_fold); // P_{n-2} V_{n-2}
    tma_mbar_wait(bar_fv + 8 * (jl % STAGES), (jl / STAGES) & 1);
    turn_begin();
    fence_all();
    wgmma_fence();
    issue_pv(jl, jl & 1);
    if (c == 0) turn_end(); // warpgroup 1's last hand-over would have no taker
    else if (LIN && ct == 0) load_hc(); // both warpgroups are past their last S: the K stages are free
    wgmma_wait<0>();
    fence_all();
    accumulate(alpha_prev);
  }
#undef TILE_OF

  // LIN: O_l of this warp's rows, unnormalised, into sl; den its row divisors
  float sl[64], den[2] = {0.0f, 0.0f};
  if (LIN) {
    tma_mbar_wait(bar_qh, 0);
    sla_lin_phi<T>(sO, wrow + g, t, p.lin_feature, p.lin_zc + ((int64_t)bh * gridDim.x + m0 / BM) * D, sl, den);
    uint32_t pa[8][4]; // phi(Q) as the A operand: k-step kk covers head dims 16 kk .. 16 kk + 15
#pragma unroll
    for (int kk = 0; kk < 8; kk++)
#pragma unroll
      for (int e = 0; e < 4; e++) pa[kk][e] = tt::pack(sl[8 * kk + 2 * e], sl[8 * kk + 2 * e + 1]);
#pragma unroll
    for (int i = 0; i < 64; i++) sl[i] = 0.0f;
#pragma unroll
    for (int i = 0; i < 64; i++) reg_fence(sl[i]);
#pragma unroll
    for (int kk = 0; kk < 8; kk++)
#pragma unroll
      for (int e = 0; e < 4; e++) reg_fence(pa[kk][e]);
    tma_mbar_wait(bar_h, 0);
    wgmma_fence();
    // O_l = phi(Q) Hc: Hc [d][e] read N-major like V in the bf16 kernel (d the reduction dim)
#pragma unroll
    for (int kk = 0; kk < 8; kk++) wg_rs<T, 128>(sl, pa[kk], gmma_desc(sk_addr + kk * 2048, BN * 128, 1024));
    wgmma_commit();
    wgmma_wait<0>();
#pragma unroll
    for (int i = 0; i < 64; i++) reg_fence(sl[i]);
  }

  // epilogue: O / l * v_scale, LSE in natural log plus scale * (q . mu) (version 2's expressions)
  const float *vmax = w.kstat + (int64_t)bh * 2 * D + D;
  float *lse = p.lse + (int64_t)bh * p.Sq;
#pragma unroll
  for (int r = 0; r < 2; r++) {
    const float l = o[64 + 2 * r]; // (= o[65 + 2r]) the whole row's sum of its e4m3 codes
    const float inv = l > 0.0f ? __fdiv_rn(1.0f, l) : 0.0f;
    const int row = m0 + wrow + g + 8 * r;
    const float m_use = row_max[r] == -INFINITY ? 0.0f : row_max[r];
    const float shift = __fsub_rn(m_use, SAGE_LOG2_448);
    if (t == 0 && row < p.Sq)
      lse[row] = l > 0.0f ? __fadd_rn(__fmul_rn(__fadd_rn(shift, log2f(l)), SAGE_LN2), w.qmu[(int64_t)bh * p.Sq + row])
                          : -INFINITY;
#pragma unroll
    for (int n = 0; n < 16; n++)
#pragma unroll
      for (int e = 0; e < 2; e++) {
        const int d = 8 * n + 2 * t + e;
        o[4 * n + 2 * r + e] = __fmul_rn(__fmul_rn(o[4 * n + 2 * r + e], inv), __fdiv_rn(vmax[d], 448.0f));
      }
  }
  // o to rows of og (strides ss, element units) through this warpgroup's rows of the staging
  // tile: [D/64][BM][64] swizzled, chunk n of row r in block n / 8 at chunk (n % 8) ^ (r % 8)
  auto store_o = [&](T *og, int64_t ss) {
#pragma unroll
    for (int r = 0; r < 2; r++) {
      const int row = wrow + g + 8 * r;
#pragma unroll
      for (int n = 0; n < D / 8; n++)
        *reinterpret_cast<uint32_t *>(sO + (n >> 3) * BM * 64 + row * 64 + (((n & 7) ^ (row & 7)) << 3) + 2 * t) =
            tt::pack(o[4 * n + 2 * r], o[4 * n + 2 * r + 1]);
    }
    named_bar_sync(SAGE3_BAR_WG0 + c, 128);
    constexpr int CH = D / 8;
#pragma unroll
    for (int it = 0; it < 64 * CH / 128; it++) {
      const int idx = it * 128 + ct;
      const int r = c * 64 + idx / CH, ch = idx % CH;
      const int row = m0 + r;
      if (row < p.Sq)
        *reinterpret_cast<uint4 *>(og + (int64_t)row * ss + ch * 8) =
            *reinterpret_cast<const uint4 *>(sO + (ch >> 3) * BM * 64 + r * 64 + (((ch & 7) ^ (r & 7)) << 3));
    }
  };
  if (LIN) {
    if (p.o_sparse) { // O_s for the backward
      store_o(reinterpret_cast<T *>(p.o_sparse) + b * p.os_sb + h * p.os_sh, p.os_ss);
      named_bar_sync(SAGE3_BAR_WG0 + c, 128); // the warpgroup has read its rows of the tile
    }
    sla_lin_mix<D>(o, sl, den, p.lin_alpha_logit[h]);
  }
  store_o(reinterpret_cast<T *>(p.o) + b * p.o_sb + h * p.o_sh, p.o_ss);
}

// 2-d uint8 tensor map: `rows` rows of `cols` bytes, row pitch `pitch` bytes; boxes of 128 x 128
// bytes with the 128-byte swizzle. 0 when the driver refuses.
static int sage3_tensor_map(tma_encode_fn encode, CUtensorMap *map, const void *base, uint64_t cols, uint64_t rows, uint64_t pitch) {
  const cuuint64_t dims[2] = {(cuuint64_t)cols, (cuuint64_t)rows};
  const cuuint64_t strides[1] = {(cuuint64_t)pitch};
  const cuuint32_t box[2] = {128, 128};
  const cuuint32_t elem_strides[2] = {1, 1};
  return encode(map, CU_TENSOR_MAP_DATA_TYPE_UINT8, 2, (void *)base, dims, strides, box, elem_strides, CU_TENSOR_MAP_INTERLEAVE_NONE,
                CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) == CUDA_SUCCESS;
}

template <typename T, int GRAN, bool LIN>
static cudaError_t sage3_launch(const vdit_attn_cuda_params *p, const vdit_attn_sage_ws_view *w, const CUtensorMap *mq,
                                const CUtensorMap *mk, const CUtensorMap *mv, const CUtensorMap *mqh, const CUtensorMap *mh,
                                cudaStream_t stream) {
  constexpr int STAGES = SAGE3_STAGES;
  // Q, STAGES x (K, V^T (+ 8 rows of ones)), two P' buffers, the 16-bit O staging tile (two tiles'
  // bytes), 1024-byte alignment slack
  const size_t smem = (size_t)(1 + 2 * STAGES + 2 + 2) * 128 * 128 + STAGES * 1024 + 1024;
  void (*kernel)(const vdit_attn_cuda_params, const vdit_attn_sage_ws_view, const CUtensorMap, const CUtensorMap,
                 const CUtensorMap, const CUtensorMap, const CUtensorMap) = sage_forward_tma_kernel<T, GRAN, STAGES, LIN>;
  cudaError_t err = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
  if (err != cudaSuccess) return err;
  dim3 grid((unsigned)((p->Sq + 127) / 128), (unsigned)p->H, (unsigned)p->B);
  kernel<<<grid, 256, smem, stream>>>(*p, *w, *mq, *mk, *mv, *mqh, *mh);
  return cudaGetLastError();
}

template <typename T>
static cudaError_t sage3_typed(const vdit_attn_sage_cuda_params *sp, const vdit_attn_sage_ws_view *w, const CUtensorMap *mq,
                               const CUtensorMap *mk, const CUtensorMap *mv, cudaStream_t stream) {
  if (sp->granularity == VDIT_ATTN_SAGE_PER_WARP)
    return sage3_launch<T, VDIT_ATTN_SAGE_PER_WARP, false>(&sp->base, w, mq, mk, mv, mq, mq, stream);
  if (sp->granularity == VDIT_ATTN_SAGE_PER_THREAD)
    return sage3_launch<T, VDIT_ATTN_SAGE_PER_THREAD, false>(&sp->base, w, mq, mk, mv, mq, mq, stream);
  return sage3_launch<T, VDIT_ATTN_SAGE_PER_BLOCK, false>(&sp->base, w, mq, mk, mv, mq, mq, stream);
}

extern "C" cudaError_t vdit_attn_sage_forward_tma(const vdit_attn_sage_cuda_params *sp, const vdit_attn_sage_ws_view *w,
                                                  cudaStream_t stream) {
  const vdit_attn_cuda_params *p = &sp->base;
  if (!sp->pv_fp8 || p->D != 128) return cudaErrorNotSupported;
  const tma_encode_fn encode = tma_encoder();
  if (!encode) return cudaErrorNotSupported;
  const uint64_t bh = (uint64_t)p->B * (uint64_t)p->H;
  CUtensorMap mq, mk, mv;
  if (w->sq_pad == 0 || w->sk_pad == 0 || !sage3_tensor_map(encode, &mq, w->q8, 128, bh * (uint64_t)w->sq_pad, 128) ||
      !sage3_tensor_map(encode, &mk, w->k8, 128, bh * (uint64_t)w->sk_pad, 128) ||
      !sage3_tensor_map(encode, &mv, w->vt8, (uint64_t)w->sk_pad, bh * 128, (uint64_t)w->sk_pad))
    return cudaErrorNotSupported;
  CUtensorMap mqh, mh; // LIN: the 16-bit Q and SLA2's Hc (B, H, qb, 128 rows, D) as a (D, qb * 128, H, B) map
  if (p->lin_hc) {
    if (sp->granularity != VDIT_ATTN_SAGE_PER_BLOCK || p->pv_threshold > 0.0f || p->extra_sum) return cudaErrorInvalidValue;
    const int qrows = (p->Sq + 127) / 128 * 128;
    const int bf16 = p->dtype == VDIT_DTYPE_BF16;
    if (!tma_map_16bit(encode, &mqh, bf16, p->q, p->D, p->Sq, p->H, p->B, p->q_ss, p->q_sh, p->q_sb) ||
        !tma_map_16bit(encode, &mh, bf16, p->lin_hc, p->D, qrows, p->H, p->B, p->D, (int64_t)qrows * p->D, (int64_t)p->H * qrows * p->D))
      return cudaErrorNotSupported;
  }
  const cudaError_t err = vdit_attn_sage_quantize(sp, w, stream);
  if (err != cudaSuccess || sp->fwd_path == VDIT_ATTN_SAGE_FWD_QUANT) return err;
  if (p->lin_hc) // per-block scales only (the one instance built)
    return p->dtype == VDIT_DTYPE_BF16
               ? sage3_launch<__nv_bfloat16, VDIT_ATTN_SAGE_PER_BLOCK, true>(p, w, &mq, &mk, &mv, &mqh, &mh, stream)
               : sage3_launch<__half, VDIT_ATTN_SAGE_PER_BLOCK, true>(p, w, &mq, &mk, &mv, &mqh, &mh, stream);
  return p->dtype == VDIT_DTYPE_BF16 ? sage3_typed<__nv_bfloat16>(sp, w, &mq, &mk, &mv, stream) : sage3_typed<__half>(sp, w, &mq, &mk, &mv, stream);
}
