// Clustered attention's pair scores on the GPU (step 4 of src/attn/cluster.h): the svg mass
// from the centroid scores, and the EAR probe as one fused tensor-core pass and a light error kernel.
//
// Centroid scores cs (BH, cq, ck) = Qbar Kbar^T come from attn_cluster_gemm.cu (TF32 hi / lo:
// fp32 accuracy). mass[a][j] = sum over the fragments f of key tile j of softmax_c(cs[a][c] scale
// + log n_c) n_f / n_c, one block per query cluster (the CPU's formula; its dot products summed
// in another order, so masses may differ from the host's in the last bits and rankings only
// where two masses are that close).
//
// The probe (since round 18), for each query centroid qbar_a and key tile j (over the Sk keys in
// cluster order):
//   err[a][j] = |N'_j - N_j - o_hat (L'_j - L_j)|_1 / Z
// with N_j, L_j the tile's exact numerator and denominator and N'_j, L'_j its fragments' centroid
// terms (the CPU's cluster_probe), Z = sum over all keys of exp(qbar_a . k scale - m) exact, and
// o_hat = sum_c softmax_c(cs[a][c] scale + log n_c) vbar_c the centroid's output estimated from
// the centroids (the svg mass's weights; probe_ohat_kernel). Since o_hat is known before any key,
// every (centroid block, key tile) is independent: probe_tile_kernel writes mt_j (the tile's
// reference max), L_j at mt_j and the numerator |...|_1 at mt_j (3 floats), and
// probe_finish_kernel folds Z = sum_j L_j exp(mt_j - m) and the scaling. Until round 17 o was the
// centroid's exact output, known only after every key: a flash forward with O accumulators and
// chunk partials (255 registers, spills), (D + 2) floats a (centroid, tile) written (403 MB at
// S = 32760) and an error kernel reading them back (0.18 ms on the H200).
// K and V are read in cluster order through the permutation (no gathered copy), from the 16-bit
// inputs themselves by 16-byte cp.async into double-buffered shared tiles (element loads where D,
// a stride or the base is not a multiple of 8 elements), zero-filled past Sk and past D; no fp32
// copy of K since round 17.
// Tensor cores, one warp per 16 centroids, 8 warps a block, fp32 accumulation, mma.sync m16n8k16
// in the inputs' 16-bit type: the scores as q_hi . k + q_lo . k (the centroids split into a
// 16-bit hi / lo pair: 16 significant bits of qbar in bf16, 22 in fp16; K exact), P V with V's
// tiles by ldmatrix.trans (P rounded to the type, 2^-9 relative in bf16, and the row sums L taken
// over the rounded P, so N and L use the same weights). The probabilities by __expf. The scores
// are routing scores: they decide which tile pairs run exactly, never an output value.
// H200 (round 18, one call): o_hat + the per-tile kernel 0.828 ms (ncu: o_hat 0.102, the per-tile
// kernel 0.733) + the finish kernel 0.011, against round 17's probe 1.014 + 0.179 (error kernel)
// in the same call. Round 17 (one call): the one-pass kernel + combine 1.024 ms with these scores, against
// 1.161 with round 16's TF32 scores (qbar rounded to TF32 against K from an fp32 copy, which the
// conversion step made in 0.085 ms more) and 1.13 with 4 warps a block and two blocks an SM
// (110 KB of shared memory a block); both deleted. Earlier: TF32 P V from an fp32 copy of V
// 0.998 against 0.975 ms (round 15, deleted in round 16); two passes 1.60 ms against one pass's
// 1.16 (round 14, deleted in round 15).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <math.h>

#include "attn/cuda/attn_cluster.h"
#include "attn/cuda/attn_cluster_async.cuh"
#include "vdit/attn.h"

#define PROBE_WARPS 8
#define PROBE_THREADS (32 * PROBE_WARPS)
#define PROBE_ROWS (16 * PROBE_WARPS) // centroids per block
// The tile loaders stride by PROBE_THREADS (compile time: their loops unroll, each thread's
// permutation loads and cp.async issue in one batch); round 17 timed them striding by blockDim.x.
#define PROBE_KEYS 64                 // keys per step
#define PROBE_TILE 128                // the routing tile
#define PROBE_FRAGS 16                // fragments a tile whose V means pass 2 stages (one k-step per 8)

// ---------------------------------------------------------------- small helpers
static __device__ __forceinline__ uint32_t tf32_bits(float x) {
  uint32_t r;
  asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
  return r;
}

// c (16 x 8) += a (16 x 8, row) b (8 x 8, col); lane g = lane / 4, t = lane % 4:
// a = (g, t), (g + 8, t), (g, t + 4), (g + 8, t + 4); b = (k t, n g), (k t + 4, n g);
// c = (g, 2t), (g, 2t + 1), (g + 8, 2t), (g + 8, 2t + 1).
static __device__ __forceinline__ void mma_tf32(float *c, uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t b0,
                                                uint32_t b1) {
  asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
               "{%0, %1, %2, %3};\n"
               : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
               : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

// P V in 16 bits (PV = PROBE_PV_BF16 or PROBE_PV_F16, the inputs' type): V's tile is loaded from
// the 16-bit input itself (load_values16: no fp32 copy, half the bytes) into rows of LDH = DP + 8
// elements (16 bytes apart in banks: ldmatrix without conflicts), B fragments by
// ldmatrix.trans (matrices (keys 0-7 | 8-15) x (d 0-7 | 8-15)); mma m16n8k16, half the MMAs of
// TF32 m16n8k8 (round 15's lab switch back to TF32 P V, deleted in round 16). P enters as the score layout's pairs (keys 16 kk + 2t.. of n-tiles
// 2kk, 2kk + 1: the A fragment as it lies); the caller has rounded P to the 16-bit type and
// summed the rounded values, so numerator and denominator use the same weights (as the
// executor and the compensation do).
enum { PROBE_PV_BF16 = 1, PROBE_PV_F16 = 2 };

template <int PV>
static __device__ __forceinline__ uint32_t pack16(float lo, float hi) {
  if (PV == PROBE_PV_F16) {
    __half2 v = __floats2half2_rn(lo, hi);
    return *(uint32_t *)&v;
  }
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *(uint32_t *)&v;
}

template <int PV>
static __device__ __forceinline__ float round16(float x) {
  return PV == PROBE_PV_F16 ? __half2float(__float2half_rn(x)) : __bfloat162float(__float2bfloat16_rn(x));
}

// Values [k0, k0 + PROBE_KEYS) of one slice (x: the 16-bit input's slice, rows ss elements
// apart, original order; perm: cluster order -> token) into dst (PROBE_KEYS rows of LDH = DP + 8
// elements), zeros past Sk and past D. vec: D % 8 == 0, ss % 8 == 0 and x 16-byte aligned
// (16-byte cp.async), else element by element (plain loads and stores, visible after the step's
// barrier like the asynchronous ones).
template <int DP>
static __device__ __forceinline__ void load_values16(const uint16_t *x, int64_t ss, const int32_t *perm, int64_t Sk, int D,
                                                     int64_t k0, uint16_t *dst, int vec) {
  constexpr int LDH = DP + 8;
  if (vec) {
    constexpr int C8 = DP / 8;
    for (int idx = threadIdx.x; idx < PROBE_KEYS * C8; idx += PROBE_THREADS) {
      const int r = idx / C8, c = 8 * (idx % C8);
      const int64_t p = k0 + r;
      const int ok = p < Sk && c < D;
      cp_async16(dst + r * LDH + c, ok ? x + (int64_t)perm[p] * ss + c : x, ok ? 16 : 0);
    }
  } else {
    for (int idx = threadIdx.x; idx < PROBE_KEYS * DP; idx += PROBE_THREADS) {
      const int r = idx / DP, c = idx % DP;
      const int64_t p = k0 + r;
      dst[r * LDH + c] = p < Sk && c < D ? x[(int64_t)perm[p] * ss + c] : (uint16_t)0;
    }
  }
}

// K's and V's tiles of keys [k0, k0 + PROBE_KEYS) (as load_values16 each) with one permutation
// read a row for both: a thread's rows r0 + i RSTEP first read their tokens into registers (the
// loads in flight together), then issue the 16-byte cp.async of K and V. Element loads (not vec)
// go through load_values16. H200, round 18 (same call): the per-tile kernel + o_hat 0.828 ms
// against 0.980 with K and V each by load_values16 (a permutation read per row and tensor,
// each cp.async waiting on its own read): deleted.
template <int DP>
static __device__ __forceinline__ void load_kv16(const uint16_t *kx, int64_t kss, const uint16_t *vx, int64_t vss,
                                                 const int32_t *perm, int64_t Sk, int D, int64_t k0, uint16_t *kdst,
                                                 uint16_t *vdst, int kvec, int vvec) {
  constexpr int LDH = DP + 8, C8 = DP / 8, RSTEP = PROBE_THREADS / C8, N = PROBE_KEYS / RSTEP;
  if (kvec && vvec) {
    const int r0 = threadIdx.x / C8, c = 8 * (threadIdx.x % C8);
    int32_t tok[N];
#pragma unroll
    for (int i = 0; i < N; i++) {
      const int64_t p = k0 + r0 + i * RSTEP;
      tok[i] = p < Sk ? __ldg(perm + p) : -1;
    }
#pragma unroll
    for (int i = 0; i < N; i++) {
      const int r = r0 + i * RSTEP, ok = tok[i] >= 0 && c < D;
      cp_async16(kdst + r * LDH + c, ok ? kx + (int64_t)tok[i] * kss + c : kx, ok ? 16 : 0);
      cp_async16(vdst + r * LDH + c, ok ? vx + (int64_t)tok[i] * vss + c : vx, ok ? 16 : 0);
    }
  } else {
    load_values16<DP>(kx, kss, perm, Sk, D, k0, kdst, kvec);
    load_values16<DP>(vx, vss, perm, Sk, D, k0, vdst, vvec);
  }
}

template <int DP, int PV>
static __device__ __forceinline__ void pv_step16(const float p[PROBE_KEYS / 8][4], const uint16_t *vs, float acc[DP / 8][4]) {
  constexpr int LDH = DP + 8;
  const int lane = threadIdx.x % 32, mi = lane / 8, rr = lane % 8;
  const uint16_t *v0 = vs + (rr + 8 * (mi & 1)) * LDH + 8 * (mi >> 1);
#pragma unroll
  for (int kk = 0; kk < PROBE_KEYS / 16; kk++) {
    const uint32_t a[4] = {pack16<PV>(p[2 * kk][0], p[2 * kk][1]), pack16<PV>(p[2 * kk][2], p[2 * kk][3]),
                           pack16<PV>(p[2 * kk + 1][0], p[2 * kk + 1][1]), pack16<PV>(p[2 * kk + 1][2], p[2 * kk + 1][3])};
#pragma unroll
    for (int np = 0; np < DP / 16; np++) {
      uint32_t b[4];
      ldsm_x4_trans(b, v0 + 16 * kk * LDH + 16 * np);
      mma16<PV == PROBE_PV_F16>(acc[2 * np], a, b[0], b[1]);
      mma16<PV == PROBE_PV_F16>(acc[2 * np + 1], a, b[2], b[3]);
    }
  }
}

// The centroids' scores with K as 16-bit tiles (since round 17): the centroids as a hi / lo pair
// in the inputs' 16-bit type (hi = rn(qbar), lo = rn(qbar - hi): 16 significant bits of qbar in
// bf16, 22 in fp16, against TF32's 11), K's tile straight from the 16-bit input
// (exact), s = q_hi . k + q_lo . k by mma m16n8k16 with fp32 accumulation. Tiles: qh, ql (ROWS
// rows of LDH = DP + 8 elements), ks (PROBE_KEYS rows of LDH), all read by ldmatrix (non-trans:
// K stored [key][d] is B's column layout). Per k16 step: A hi and lo by one ldmatrix.x4 each
// (matrices (rows 0-7 | 8-15) x (d 0-7 | 8-15)), B by one per 16 keys (matrices (keys 0-7 | 8-15)
// x (d 0-7 | 8-15)), four MMAs. The result has the TF32 path's layout.
template <int DP, int PV>
static __device__ __forceinline__ void scores_step16(const uint16_t *qh, const uint16_t *ql, const uint16_t *ks,
                                                     float s[PROBE_KEYS / 8][4]) {
  constexpr int LDH = DP + 8;
  const int lane = threadIdx.x % 32, mi = lane / 8, rr = lane % 8;
  const int qoff = (threadIdx.x / 32 * 16 + rr + 8 * (mi & 1)) * LDH + 8 * (mi >> 1);
  const uint16_t *kb = ks + (rr + 8 * (mi >> 1)) * LDH + 8 * (mi & 1);
#pragma unroll
  for (int n = 0; n < PROBE_KEYS / 8; n++) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.0f;
#pragma unroll
  for (int k = 0; k < DP / 16; k++) {
    uint32_t ah[4], al[4];
    ldsm_x4(ah, qh + qoff + 16 * k);
    ldsm_x4(al, ql + qoff + 16 * k);
#pragma unroll
    for (int np = 0; np < PROBE_KEYS / 16; np++) {
      uint32_t b[4];
      ldsm_x4(b, kb + 16 * np * LDH + 16 * k);
      mma16<PV == PROBE_PV_F16>(s[2 * np], ah, b[0], b[1]);
      mma16<PV == PROBE_PV_F16>(s[2 * np + 1], ah, b[2], b[3]);
      mma16<PV == PROBE_PV_F16>(s[2 * np], al, b[0], b[1]);
      mma16<PV == PROBE_PV_F16>(s[2 * np + 1], al, b[2], b[3]);
    }
  }
}

// Centroids [row0, row0 + ROWS) of one slice (qc: (cq, D) fp32) as hi / lo 16-bit tiles qh, ql
// (rows of LDH = DP + 8), zeros past cq and past D; plain stores, visible after the first
// step's barrier.
template <int DP, int ROWS, int PV>
static __device__ __forceinline__ void load_centroids16(const float *qc, int cq, int D, int row0, uint16_t *qh,
                                                        uint16_t *ql) {
  constexpr int LDH = DP + 8;
  for (int idx = threadIdx.x; idx < ROWS * DP / 2; idx += PROBE_THREADS) {
    const int r = idx / (DP / 2), c = 2 * (idx % (DP / 2));
    const int ok = row0 + r < cq;
    const float v0 = ok && c < D ? qc[(int64_t)(row0 + r) * D + c] : 0.0f;
    const float v1 = ok && c + 1 < D ? qc[(int64_t)(row0 + r) * D + c + 1] : 0.0f;
    const float h0 = round16<PV>(v0), h1 = round16<PV>(v1);
    *(uint32_t *)(qh + r * LDH + c) = pack16<PV>(h0, h1);
    *(uint32_t *)(ql + r * LDH + c) = pack16<PV>(v0 - h0, v1 - h1);
  }
}

// Shared memory: the centroids' hi and lo 16-bit tiles (PROBE_ROWS x (DP + 8) each),
// double-buffered 16-bit K tiles (PROBE_KEYS x (DP + 8)), PROBE_FRAGS rows of V means (fp32,
// DP + 4), double-buffered 16-bit V tiles (PROBE_KEYS x (DP + 8)): 144 KB at DP = 128, one block
// an SM (the registers allow no more: 255 a thread).
template <int DP>
static size_t probe_shared_bytes() {
  return (size_t)2 * PROBE_ROWS * (DP + 8) * 2 + (size_t)2 * PROBE_KEYS * (DP + 8) * 2 +
         (size_t)PROBE_FRAGS * (DP + 4) * sizeof(float) + (size_t)2 * PROBE_KEYS * (DP + 8) * 2 +
         (size_t)PROBE_ROWS * (DP + 4) * sizeof(float);
}

// ---------------------------------------------------------------- the fragments' centroid terms
// The fragments' centroid terms as one more tensor-core k-step per tile: the V means of the
// tile's first PROBE_FRAGS fragments are staged in shared memory (fbuf: PROBE_FRAGS rows, LD
// floats apart, zeros past the tile's fragments) with the loads of the tile's second step, their
// weights w_af = n_f exp(cs[a][c(f)] scale - m_a) form a 16 x 8 P block per k-step (A fragment:
// rows g, g + 8 x fragments t, t + 4), and acc += W Vbar runs as three TF32 products (w_hi v_hi +
// w_hi v_lo + w_lo v_hi: hi = tf32(x), lo = tf32(x - hi)), i.e. at fp32 accuracy like the scalar
// sums it replaces. A tile with more than PROBE_FRAGS fragments adds the rest by the scalar path.
// Fragments [f_begin, f_begin + PROBE_FRAGS) of one tile: their clusters' V means (vm: (ck, D))
// into fbuf, zeros for the slots past f_end and past D.
template <int DP>
static __device__ __forceinline__ void load_fragment_means(const float *vm, const int32_t *fc, int32_t f_begin,
                                                           int32_t f_end, int D, float *fbuf, int vec) {
  constexpr int LD = DP + 4;
  if (vec) {
    constexpr int C4 = DP / 4;
    for (int idx = threadIdx.x; idx < PROBE_FRAGS * C4; idx += PROBE_THREADS) {
      const int r = idx / C4, c = 4 * (idx % C4);
      const int ok = f_begin + r < f_end && c < D;
      cp_async16(fbuf + r * LD + c, ok ? vm + (int64_t)fc[f_begin + r] * D + c : vm, ok ? 16 : 0);
    }
  } else {
    for (int idx = threadIdx.x; idx < PROBE_FRAGS * DP; idx += PROBE_THREADS) {
      const int r = idx / DP, c = idx % DP;
      const int ok = f_begin + r < f_end && c < D;
      cp_async4(fbuf + r * LD + c, ok ? vm + (int64_t)fc[f_begin + r] * D + c : vm, ok ? 4 : 0);
    }
  }
}

// hi = tf32(x) (nearest), lo = tf32(x - hi): x = hi + lo to ~2^-22 of x.
static __device__ __forceinline__ void tf32_split(float x, uint32_t *hi, uint32_t *lo) {
  *hi = tf32_bits(x);
  *lo = tf32_bits(x - __uint_as_float(*hi));
}

// The fragments' centroid terms of key tile j added into acc (16 x DP per warp, score layout):
// acc += W Vbar with W[row][f] = n_f exp(cs[row][c(f)] scale - mref[row]) over the tile's fragments
// (the first PROBE_FRAGS staged in fbuf, by tensor cores; the rest by the scalar path). Returns
// in lc the rows' sums of W (summed over the quad: every lane of the quad holds the row's sum).
template <int DP>
static __device__ __forceinline__ void probe_tile_centroid_terms(const vdit_attn_cuda_cluster_args &a, int64_t bh,
                                                                 int j, const int row[2], const float mref[2],
                                                                 float acc[DP / 8][4], const float *fbuf,
                                                                 float lc_out[2]) {
  constexpr int LD = DP + 4;
  const int D = (int)a.dim, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const int32_t *fo = a.frag_offsets + bh * (a.k_tiles + 1);
  const int32_t *fc = a.frag_cluster + bh * a.max_fragments, *fn = a.frag_count + bh * a.max_fragments;
  const float *vm = a.v_means + bh * a.ck * D;
  const int32_t f_begin = fo[j], f_end = fo[j + 1];
  const int32_t f_staged = f_end - f_begin < PROBE_FRAGS ? f_end : f_begin + PROBE_FRAGS;
  const float *cs[2];
  float lc[2] = {0.0f, 0.0f};
#pragma unroll
  for (int r = 0; r < 2; r++) cs[r] = a.cscore + (bh * a.cq + (row[r] < a.cq ? row[r] : 0)) * a.ck;
  // the staged fragments, 8 per k-step: this thread's weights are rows g, g + 8 (r = 0, 1) x
  // fragments 8 ks + t, 8 ks + t + 4 (h = 0, 1)
#pragma unroll
  for (int ks = 0; ks < PROBE_FRAGS / 8; ks++) {
    if (f_begin + 8 * ks >= f_staged) break; // uniform over the block
    float w[2][2];
#pragma unroll
    for (int r = 0; r < 2; r++)
#pragma unroll
      for (int h = 0; h < 2; h++) {
        const int32_t f = f_begin + 8 * ks + t + 4 * h;
        w[r][h] = row[r] < a.cq && f < f_staged ? (float)fn[f] * expf(cs[r][fc[f]] * a.scale - mref[r]) : 0.0f;
        lc[r] += w[r][h];
      }
    uint32_t wh[4], wl[4]; // A fragment: (g, t), (g + 8, t), (g, t + 4), (g + 8, t + 4)
    tf32_split(w[0][0], &wh[0], &wl[0]);
    tf32_split(w[1][0], &wh[1], &wl[1]);
    tf32_split(w[0][1], &wh[2], &wl[2]);
    tf32_split(w[1][1], &wh[3], &wl[3]);
    const float *v0 = fbuf + (8 * ks + t) * LD + g; // B: (k t, n g), (k t + 4, n g)
#pragma unroll
    for (int n = 0; n < DP / 8; n++) {
      uint32_t bh0, bl0, bh1, bl1;
      tf32_split(v0[8 * n], &bh0, &bl0);
      tf32_split(v0[4 * LD + 8 * n], &bh1, &bl1);
      mma_tf32(acc[n], wh[0], wh[1], wh[2], wh[3], bh0, bh1);
      mma_tf32(acc[n], wh[0], wh[1], wh[2], wh[3], bl0, bl1);
      mma_tf32(acc[n], wl[0], wl[1], wl[2], wl[3], bh0, bh1);
    }
  }
#pragma unroll
  for (int r = 0; r < 2; r++) {
    const int valid = row[r] < a.cq;
    float lcr = quad_sum(lc[r]);
    // fragments past the staged ones (rare: more than PROBE_FRAGS clusters in one key tile)
    for (int32_t f = f_staged; f < f_end; f++) {
      const int c = fc[f];
      const float w = valid ? (float)fn[f] * expf(cs[r][c] * a.scale - mref[r]) : 0.0f;
      lcr += w;
      const float *vr = vm + (int64_t)c * D;
#pragma unroll
      for (int n = 0; n < DP / 8; n++) {
        const int d = 8 * n + 2 * t;
        if (d < D) acc[n][2 * r] += w * vr[d];
        if (d + 1 < D) acc[n][2 * r + 1] += w * vr[d + 1];
      }
    }
    lc_out[r] = lcr;
  }
}

// ---------------------------------------------------------------- the per-tile probe (round 18)
// Every (128 centroids, key tile) independently: block (row block rb, chunk c, slice bh) walks the
// chunk's key tiles; per tile the reference starts at the largest centroid score of its fragments
// (cs scale: so no centroid weight exceeds n_f) and an online softmax over the tile's 64-key steps
// raises it to mt_j = max(that, the tile's largest score). After the tile's last step, with
// N_j, L_j the tile's numerator and denominator at mt_j and N'_j, L'_j its fragments' centroid
// terms at mt_j:
//   tile_ref = mt_j, tile_den = L_j, tile_err = |N'_j - N_j - o_hat (L'_j - L_j)|_1
// (o_hat: probe_o, the centroid's output estimated from the centroids, in shared memory). No
// state crosses tiles: no O accumulators, no chunk partials; probe_finish_kernel then forms
// m = max_j mt_j, Z = sum_j L_j exp(mt_j - m) (exact) and err_j = tile_err exp(mt_j - m) / Z.
template <int DP, int PV>
static __global__ void __launch_bounds__(PROBE_THREADS, 1)
    probe_tile_kernel(vdit_attn_cuda_cluster_args a, int tiles_per_chunk, float *tile_ref, float *tile_den,
                      float *tile_err) {
  constexpr int LD = DP + 4, LDH = DP + 8, ROWS = PROBE_ROWS;
  extern __shared__ float4 probe_shared[];
  // qh, ql, kbuf16 (2 tiles), fbuf (PROBE_FRAGS rows), vbuf16 (2 tiles), ohat (ROWS rows)
  uint16_t *qh = (uint16_t *)probe_shared, *ql = qh + ROWS * LDH, *kbuf16 = ql + ROWS * LDH;
  float *fbuf = (float *)(kbuf16 + 2 * PROBE_KEYS * LDH);
  uint16_t *vbuf16 = (uint16_t *)(fbuf + PROBE_FRAGS * LD);
  float *ohat = (float *)(vbuf16 + 2 * PROBE_KEYS * LDH);
  const int rb = blockIdx.x, chunk = blockIdx.y, D = (int)a.dim;
  const int64_t bh = blockIdx.z, Sk = a.seq_k;
  const int vec = D % 4 == 0;
  const uint16_t *kx16 = a.k16.data + (bh / a.k16.heads) * a.k16.sb + (bh % a.k16.heads) * a.k16.sh;
  const int kvec16 = x16_vec(a.k16, D);
  const uint16_t *vx16 = a.v16 + (bh / a.heads) * a.v_sb + (bh % a.heads) * a.v_sh;
  const int vec16 = D % 8 == 0 && a.v_ss % 8 == 0 && a.v_sb % 8 == 0 && a.v_sh % 8 == 0 && (uintptr_t)a.v16 % 16 == 0;
  const float *vm = a.v_means + bh * a.ck * D;
  const int32_t *perm = a.k_perm + bh * Sk;
  const int32_t *fo = a.frag_offsets + bh * (a.k_tiles + 1), *fc = a.frag_cluster + bh * a.max_fragments;
  const int64_t k_begin = (int64_t)chunk * tiles_per_chunk * PROBE_TILE;
  const int64_t k_end = k_begin + (int64_t)tiles_per_chunk * PROBE_TILE < Sk ? k_begin + (int64_t)tiles_per_chunk * PROBE_TILE : Sk;
  const int steps = k_end > k_begin ? (int)((k_end - k_begin + PROBE_KEYS - 1) / PROBE_KEYS) : 0;
  load_centroids16<DP, ROWS, PV>(a.q_centroids + bh * a.cq * D, a.cq, D, rb * ROWS, qh, ql);
  // o_hat of the block's rows (plain stores, visible after the first step's barrier), zeros past cq and D
  for (int idx = threadIdx.x; idx < ROWS * DP; idx += PROBE_THREADS) {
    const int r = idx / DP, c = idx % DP, q = rb * ROWS + r;
    ohat[r * LD + c] = q < a.cq && c < D ? a.probe_o[(bh * a.cq + q) * D + c] : 0.0f;
  }
  // Each step's K and V tiles go into buffer step % 2. The fragments' V means of tile j go into
  // fbuf (one buffer) with the loads of the tile's second step, issued while its first step runs
  // (after the barrier that ended the previous tile's epilogue); a tile of one step (the chunk's
  // ragged last, or a chunk of one step) loads them at its own step, before the wait.
  if (steps > 0) {
    load_kv16<DP>(kx16, a.k16.ss, vx16, a.v_ss, perm, k_end, D, k_begin, kbuf16, vbuf16, kvec16, vec16);
    if (steps == 1) {
      const int j = (int)(k_begin / PROBE_TILE);
      load_fragment_means<DP>(vm, fc, fo[j], fo[j + 1], D, fbuf, vec);
    }
  }
  cp_async_commit();
  const int lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  int row[2];
  const float *cs[2];
#pragma unroll
  for (int r = 0; r < 2; r++) {
    row[r] = rb * ROWS + threadIdx.x / 32 * 16 + g + 8 * r;
    cs[r] = a.cscore + (bh * a.cq + (row[r] < a.cq ? row[r] : 0)) * a.ck;
  }
  // m: the tile's running reference; lt: the thread's partial row sums over the tile
  float m[2] = {0.0f, 0.0f}, lt[2] = {0.0f, 0.0f};
  float acc[DP / 8][4];
#pragma unroll
  for (int n = 0; n < DP / 8; n++)
#pragma unroll
    for (int e = 0; e < 4; e++) acc[n][e] = 0.0f;
  for (int step = 0; step < steps; step++) {
    const int buf = step & 1;
    const int64_t k0 = k_begin + (int64_t)step * PROBE_KEYS;
    const int j = (int)(k0 / PROBE_TILE);
    if (step + 1 < steps) {
      const int64_t k1 = k0 + PROBE_KEYS;
      load_kv16<DP>(kx16, a.k16.ss, vx16, a.v_ss, perm, k_end, D, k1, kbuf16 + (buf ^ 1) * PROBE_KEYS * LDH,
                    vbuf16 + (buf ^ 1) * PROBE_KEYS * LDH, kvec16, vec16);
      if (k1 % PROBE_TILE != 0) { // the tile's second step
        const int j1 = (int)(k1 / PROBE_TILE);
        load_fragment_means<DP>(vm, fc, fo[j1], fo[j1 + 1], D, fbuf, vec);
      }
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      if (step > 0 && k0 % PROBE_TILE == 0) { // a tile of one step after an earlier tile
        load_fragment_means<DP>(vm, fc, fo[j], fo[j + 1], D, fbuf, vec);
        cp_async_commit();
      }
      cp_async_wait<0>();
    }
    if (k0 % PROBE_TILE == 0) { // the tile's first step: the reference starts at its fragments' largest centroid score
#pragma unroll
      for (int r = 0; r < 2; r++) {
        float x = -INFINITY;
        for (int32_t f = fo[j] + t; f < fo[j + 1]; f += 4) x = fmaxf(x, cs[r][fc[f]] * a.scale);
        m[r] = quad_max(x); // finite: a tile has a fragment
      }
    }
    __syncthreads();
    float s[PROBE_KEYS / 8][4];
    scores_step16<DP, PV>(qh, ql, kbuf16 + buf * PROBE_KEYS * LDH, s);
#pragma unroll
    for (int r = 0; r < 2; r++) {
      float mx = -INFINITY;
#pragma unroll
      for (int n = 0; n < PROBE_KEYS / 8; n++)
#pragma unroll
        for (int e = 0; e < 2; e++) {
          const int64_t key = k0 + 8 * n + 2 * t + e;
          const float v = key < k_end ? s[n][2 * r + e] * a.scale : -INFINITY;
          s[n][2 * r + e] = v;
          mx = fmaxf(mx, v);
        }
      const float m_new = fmaxf(m[r], quad_max(mx));
      const float alpha = __expf(m[r] - m_new);
      float sum = 0.0f;
#pragma unroll
      for (int n = 0; n < PROBE_KEYS / 8; n++)
#pragma unroll
        for (int e = 0; e < 2; e++) {
          const float v = s[n][2 * r + e];
          const float w = v == -INFINITY ? 0.0f : round16<PV>(__expf(v - m_new));
          s[n][2 * r + e] = w;
          sum += w;
        }
      lt[r] = lt[r] * alpha + sum;
      if (alpha != 1.0f) {
#pragma unroll
        for (int n = 0; n < DP / 8; n++) acc[n][2 * r] *= alpha, acc[n][2 * r + 1] *= alpha;
      }
      m[r] = m_new;
    }
    pv_step16<DP, PV>(s, vbuf16 + buf * PROBE_KEYS * LDH, acc);
    if ((k0 + PROBE_KEYS) % PROBE_TILE == 0 || k0 + PROBE_KEYS >= k_end) { // the tile's last step
#pragma unroll
      for (int n = 0; n < DP / 8; n++)
#pragma unroll
        for (int e = 0; e < 4; e++) acc[n][e] = -acc[n][e];
      float lc[2];
      probe_tile_centroid_terms<DP>(a, bh, j, row, m, acc, fbuf, lc); // acc = N'_j - N_j
#pragma unroll
      for (int r = 0; r < 2; r++) {
        const float ltr = quad_sum(lt[r]), dl = lc[r] - ltr;
        const float *oh = ohat + (threadIdx.x / 32 * 16 + g + 8 * r) * LD + 2 * t;
        float e = 0.0f; // columns past D: acc and o_hat are 0 there
#pragma unroll
        for (int n = 0; n < DP / 8; n++) {
          const float2 o2 = *(const float2 *)(oh + 8 * n);
          e += fabsf(acc[n][2 * r] - o2.x * dl) + fabsf(acc[n][2 * r + 1] - o2.y * dl);
        }
        e = quad_sum(e); // every lane: the shuffle names the whole warp
        if (row[r] < a.cq && t == 0) {
          const int64_t index = (bh * a.cq + row[r]) * a.k_tiles + j;
          tile_ref[index] = m[r], tile_den[index] = ltr, tile_err[index] = e;
        }
      }
      lt[0] = lt[1] = 0.0f;
#pragma unroll
      for (int n = 0; n < DP / 8; n++) acc[n][0] = acc[n][1] = acc[n][2] = acc[n][3] = 0.0f;
    }
    __syncthreads(); // this buffer is refilled two steps on
  }
}

// One warp per (bh, a): m = max_j mt_j, Z = sum_j L_j exp(mt_j - m) (the exact denominator, in
// double), err_j = tile_err_j exp(mt_j - m) / Z (0 for an empty cluster).
static __global__ void __launch_bounds__(256) probe_finish_kernel(vdit_attn_cuda_cluster_args a, const float *tile_ref,
                                                                  const float *tile_den, const float *tile_err) {
  const int64_t ca = (int64_t)blockIdx.x * 8 + threadIdx.x / 32; // bh * cq + a
  const int lane = threadIdx.x % 32;
  if (ca >= a.bh * a.cq) return;
  const int64_t base = ca * a.k_tiles;
  float *err = a.err + base;
  if (a.q_count[ca] == 0) {
    for (int j = lane; j < a.k_tiles; j += 32) err[j] = 0.0f;
    return;
  }
  float m = -INFINITY;
  for (int j = lane; j < a.k_tiles; j += 32) m = fmaxf(m, tile_ref[base + j]);
  for (int s = 16; s > 0; s /= 2) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, s));
  double z = 0.0;
  for (int j = lane; j < a.k_tiles; j += 32) z += (double)tile_den[base + j] * (double)expf(tile_ref[base + j] - m);
  for (int s = 16; s > 0; s /= 2) z += __shfl_xor_sync(0xffffffffu, z, s);
  const float inv = (float)(1.0 / z);
  for (int j = lane; j < a.k_tiles; j += 32) err[j] = tile_err[base + j] * expf(tile_ref[base + j] - m) * inv;
}

// o_hat (probe_o, (BH, cq, D)): each centroid's output estimated from the centroids,
// sum_c w_ac vbar_c with W = softmax_c(cs[a][c] scale + log n_c) (the svg mass's weights, written
// by mass_rows_kernel), i.e. per slice the product W (cq, ck) x Vbar (ck, D) on 16-bit tensor
// cores: both fp32 operands split into a bf16 hi / lo pair (hi = rn(x), lo = rn(x - hi): x to
// 2^-16 |x|; bf16 keeps fp32's range, so no weight underflows and no V mean overflows) and
// W Vbar = Wh Vh + Wh Vl + Wl Vh by mma m16n8k16 with fp32 accumulation (Wl Vl <= 2^-16 |w v| left
// out): each term within ~3 2^-16 of w_c vbar_c. Block (32 centroids, 64 columns of D, slice,
// split), 4 warps of 16 x 32; the fp32 tiles of W (32 x OHAT_KC) and Vbar (OHAT_KC x 64) staged by
// cp.async in three stages, split when the fragments are read. The key clusters are cut into
// OHAT_SPLIT parts (blocks of their own: a quarter of the stages each, four times the blocks), whose
// partial products ohat_sum_kernel adds in part order. Until round 19 one warp a centroid formed
// its weights again and 4 threads a column summed them in fp32 (0.102 ms on the H200 at B=1,
// H=12, cq=256, ck=1024: shared-memory bound, 4 shared loads a cluster for 4 FMAs). Round 20 (one
// call each): o_hat + the tile kernel 0.835-0.840 -> 0.776 ms with this kernel in 4 parts, 0.782
// with all of ck in one block: o_hat ~0.04 ms either way, not the 0.01-0.02 predicted (each warp
// splits its own fp32 fragments, ~6 instructions a pair for 12 MMAs a k-step: splitting once when
// staging is the next thing to try).
#define OHAT_ROWS 32
#define OHAT_COLS 64
#define OHAT_KC 32
#define OHAT_THREADS 128
#define OHAT_SPLIT 4             // parts of the key clusters (blocks of their own)
#define OHAT_LDW (OHAT_KC + 8)   // floats: float2 A reads without bank conflicts
#define OHAT_LDV (OHAT_COLS + 4) // floats: B reads (keys 2t, 2t + 1 x column g) without conflicts

static __device__ __forceinline__ void split_bf16x2(float x0, float x1, uint32_t *hi, uint32_t *lo) {
  const __nv_bfloat162 h = __floats2bfloat162_rn(x0, x1);
  const float2 hf = __bfloat1622float2(h);
  const __nv_bfloat162 l = __floats2bfloat162_rn(x0 - hf.x, x1 - hf.y);
  *hi = *(const uint32_t *)&h;
  *lo = *(const uint32_t *)&l;
}

// Stage s of probe_ohat_kernel: W[row0.., s KC..] (w: the slice's (cq, ck)) and Vbar[s KC..,
// col0..] (vm: (ck, D)) into wd, vd, zeros past cq, ck and D. wvec: ck % 4 == 0 and w 16-byte
// aligned; vvec: D % 4 == 0 (16-byte cp.async, else 4-byte).
static __device__ __forceinline__ void ohat_load(const float *w, const float *vm, int cq, int ck, int D, int row0, int col0,
                                                 int s, float *wd, float *vd, int wvec, int vvec) {
  const int k0 = s * OHAT_KC;
  if (wvec) {
    for (int idx = threadIdx.x; idx < OHAT_ROWS * OHAT_KC / 4; idx += OHAT_THREADS) {
      const int r = idx / (OHAT_KC / 4), c = 4 * (idx % (OHAT_KC / 4));
      const int ok = row0 + r < cq && k0 + c < ck;
      cp_async16(wd + r * OHAT_LDW + c, ok ? w + (int64_t)(row0 + r) * ck + k0 + c : w, ok ? 16 : 0);
    }
  } else {
    for (int idx = threadIdx.x; idx < OHAT_ROWS * OHAT_KC; idx += OHAT_THREADS) {
      const int r = idx / OHAT_KC, c = idx % OHAT_KC;
      const int ok = row0 + r < cq && k0 + c < ck;
      cp_async4(wd + r * OHAT_LDW + c, ok ? w + (int64_t)(row0 + r) * ck + k0 + c : w, ok ? 4 : 0);
    }
  }
  if (vvec) {
    for (int idx = threadIdx.x; idx < OHAT_KC * OHAT_COLS / 4; idx += OHAT_THREADS) {
      const int r = idx / (OHAT_COLS / 4), c = 4 * (idx % (OHAT_COLS / 4));
      const int ok = k0 + r < ck && col0 + c < D;
      cp_async16(vd + r * OHAT_LDV + c, ok ? vm + (int64_t)(k0 + r) * D + col0 + c : vm, ok ? 16 : 0);
    }
  } else {
    for (int idx = threadIdx.x; idx < OHAT_KC * OHAT_COLS; idx += OHAT_THREADS) {
      const int r = idx / OHAT_COLS, c = idx % OHAT_COLS;
      const int ok = k0 + r < ck && col0 + c < D;
      cp_async4(vd + r * OHAT_LDV + c, ok ? vm + (int64_t)(k0 + r) * D + col0 + c : vm, ok ? 4 : 0);
    }
  }
}

// out: part z's (cq, D) products of slice bh at out + (z bh_count + bh) cq D (probe_o when one part).
static __global__ void __launch_bounds__(OHAT_THREADS) probe_ohat_kernel(vdit_attn_cuda_cluster_args a, const float *weights,
                                                                        int wvec, int vvec, int parts, float *out) {
  __shared__ __align__(16) float ws[3][OHAT_ROWS * OHAT_LDW];
  __shared__ __align__(16) float vs[3][OHAT_KC * OHAT_LDV];
  const int64_t bh = blockIdx.z % a.bh;
  const int part = (int)(blockIdx.z / a.bh);
  const int row0 = blockIdx.x * OHAT_ROWS, col0 = blockIdx.y * OHAT_COLS, D = (int)a.dim, ck = a.ck;
  const float *w = weights + (bh * a.cq) * ck, *vm = a.v_means + bh * ck * D;
  // this part's stages [s_begin, s_end) of OHAT_KC key clusters
  const int all = (ck + OHAT_KC - 1) / OHAT_KC, per = (all + parts - 1) / parts;
  const int s_begin = part * per < all ? part * per : all, s_end = s_begin + per < all ? s_begin + per : all;
  const int stages = s_end - s_begin;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const int wr = 16 * (warp & 1), wc = 32 * (warp >> 1); // the warp's rows and columns in the block tile
  float acc[4][4];
#pragma unroll
  for (int n = 0; n < 4; n++) acc[n][0] = acc[n][1] = acc[n][2] = acc[n][3] = 0.0f;
  for (int s = 0; s < 2; s++) {
    if (s < stages) ohat_load(w, vm, a.cq, ck, D, row0, col0, s_begin + s, ws[s % 3], vs[s % 3], wvec, vvec);
    cp_async_commit();
  }
  for (int s = 0; s < stages; s++) {
    if (s + 2 < stages) // into the buffer computed at s - 1 (the barrier below)
      ohat_load(w, vm, a.cq, ck, D, row0, col0, s_begin + s + 2, ws[(s + 2) % 3], vs[(s + 2) % 3], wvec, vvec);
    cp_async_commit();
    cp_async_wait<2>(); // stage s's copies, this thread's
    __syncthreads();    // everyone's
    const float *wb = ws[s % 3] + (wr + g) * OHAT_LDW + 2 * t, *vb = vs[s % 3] + 2 * t * OHAT_LDV + wc + g;
#pragma unroll
    for (int kk = 0; kk < OHAT_KC / 16; kk++) {
      // A: (g, 2t..), (g + 8, 2t..), (g, 2t + 8..), (g + 8, 2t + 8..) of the 16 x 16 step
      uint32_t ah[4], al[4];
#pragma unroll
      for (int i = 0; i < 4; i++) {
        const float2 x = *(const float2 *)(wb + (i & 1) * 8 * OHAT_LDW + (i >> 1) * 8 + 16 * kk);
        split_bf16x2(x.x, x.y, &ah[i], &al[i]);
      }
#pragma unroll
      for (int n = 0; n < 4; n++) {
        // B: (k 2t.., n g), (k 2t + 8.., n g)
        const float *v = vb + 16 * kk * OHAT_LDV + 8 * n;
        uint32_t bh0, bl0, bh1, bl1;
        split_bf16x2(v[0], v[OHAT_LDV], &bh0, &bl0);
        split_bf16x2(v[8 * OHAT_LDV], v[9 * OHAT_LDV], &bh1, &bl1);
        mma16<0>(acc[n], ah, bh0, bh1);
        mma16<0>(acc[n], ah, bl0, bl1);
        mma16<0>(acc[n], al, bh0, bh1);
      }
    }
    __syncthreads(); // buffer s % 3 is refilled at s + 1
  }
  // c: (g, 2t), (g, 2t + 1), (g + 8, 2t), (g + 8, 2t + 1)
#pragma unroll
  for (int n = 0; n < 4; n++)
#pragma unroll
    for (int e = 0; e < 4; e++) {
      const int r = row0 + wr + g + 8 * (e >> 1), c = col0 + wc + 8 * n + 2 * t + (e & 1);
      if (r < a.cq && c < D) out[(((int64_t)part * a.bh + bh) * a.cq + r) * D + c] = acc[n][e];
    }
}

// probe_o = the parts' products added in part order (n = BH cq D).
static __global__ void ohat_sum_kernel(const float *__restrict__ parts_out, int parts, int64_t n, float *__restrict__ o) {
  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  float sum = parts_out[i];
  for (int z = 1; z < parts; z++) sum += parts_out[(int64_t)z * n + i];
  o[i] = sum;
}

// ---------------------------------------------------------------- svg mass
// MASS_ROWS query clusters of one slice a block (256 threads): warp r forms row r's softmax over
// the key clusters of cs[a] scale + log n_c in shared memory (rows x ck floats; m by a warp max,
// z summed in double), writes its weights w_c = e_c / z (ear: o_hat's W, probe_weights) and keeps
// e_c / z / n_c (per key token); then thread j sums each row's tile j over the fragments (in
// fragment order, as the CPU), reading a fragment's cluster and count once for all the rows.
// Until round 20 one block a query cluster (the fragments read once a row, 3072 blocks at
// B=1, H=12, cq=256) and o_hat formed its weights again in probe_ohat_kernel.
#define MASS_ROWS 8
static __global__ void __launch_bounds__(256) mass_rows_kernel(vdit_attn_cuda_cluster_args a, int rows, float *weights) {
  extern __shared__ float mass_p[]; // (rows, ck)
  const int64_t bh = blockIdx.y;
  const int a0 = blockIdx.x * rows, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int32_t *kn = a.k_count + bh * a.ck;
  for (int r = warp; r < rows; r += 8) {
    const int q = a0 + r;
    if (q >= a.cq) break;
    float *p = mass_p + (int64_t)r * a.ck, *w = weights ? weights + (bh * a.cq + q) * a.ck : NULL;
    if (a.q_count[bh * a.cq + q] == 0) { // an empty cluster: mass 0 (its o_hat is never used)
      for (int c = lane; c < a.ck; c += 32) {
        p[c] = 0.0f;
        if (w) w[c] = 0.0f;
      }
      continue;
    }
    const float *cs = a.cscore + (bh * a.cq + q) * a.ck;
    float m = -INFINITY;
    for (int c = lane; c < a.ck; c += 32) {
      const float v = kn[c] > 0 ? __fadd_rn(__fmul_rn(cs[c], a.scale), logf((float)kn[c])) : -INFINITY;
      p[c] = v;
      m = fmaxf(m, v);
    }
    for (int s = 16; s > 0; s /= 2) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, s));
    double z = 0.0;
    for (int c = lane; c < a.ck; c += 32) z += (p[c] = kn[c] > 0 ? expf(p[c] - m) : 0.0f);
    for (int s = 16; s > 0; s /= 2) z += __shfl_xor_sync(0xffffffffu, z, s);
    for (int c = lane; c < a.ck; c += 32) {
      const double e = (double)p[c] / z;
      if (w) w[c] = (float)e;
      p[c] = kn[c] > 0 ? (float)(e / kn[c]) : 0.0f;
    }
  }
  __syncthreads();
  const int32_t *fo = a.frag_offsets + bh * (a.k_tiles + 1);
  const int32_t *fc = a.frag_cluster + bh * a.max_fragments, *fn = a.frag_count + bh * a.max_fragments;
  const int valid = a.cq - a0 < rows ? a.cq - a0 : rows;
  for (int j = threadIdx.x; j < a.k_tiles; j += blockDim.x) {
    float sum[MASS_ROWS];
#pragma unroll
    for (int r = 0; r < MASS_ROWS; r++) sum[r] = 0.0f;
    const int32_t f_end = fo[j + 1];
    for (int32_t f = fo[j]; f < f_end; f++) {
      const int c = fc[f];
      const float n = (float)fn[f];
#pragma unroll
      for (int r = 0; r < MASS_ROWS; r++)
        if (r < valid) sum[r] = __fadd_rn(sum[r], __fmul_rn(mass_p[(int64_t)r * a.ck + c], n));
    }
#pragma unroll
    for (int r = 0; r < MASS_ROWS; r++)
      if (r < valid) a.mass[(bh * a.cq + a0 + r) * a.k_tiles + j] = sum[r];
  }
}

// ear's softmax weights W (BH, cq, ck) for o_hat: after the centroid scores' and the probe's
// parts of the scratch.
static float *probe_weights(const vdit_attn_cuda_cluster_args *a) {
  return a->scratch + vdit_attn_cuda_cluster_centroid_scratch_floats(a->bh, a->cq, a->dim) +
         (size_t)3 * a->bh * a->cq * a->k_tiles;
}

extern "C" cudaError_t vdit_attn_cuda_cluster_mass(const vdit_attn_cuda_cluster_args *a, int ear, cudaStream_t stream) {
  if (a->bh == 0 || a->cq == 0) return cudaSuccess;
  if ((size_t)a->ck * sizeof(float) > 48 * 1024) return cudaErrorInvalidValue; // ck <= 12288
  const int rows = (size_t)MASS_ROWS * a->ck * sizeof(float) <= 48 * 1024 ? MASS_ROWS : 1; // 8 rows up to ck = 1536
  mass_rows_kernel<<<dim3((unsigned)((a->cq + rows - 1) / rows), (unsigned)a->bh), 256, (size_t)rows * a->ck * sizeof(float),
                     stream>>>(*a, rows, ear ? probe_weights(a) : NULL);
  return cudaGetLastError();
}

// ---------------------------------------------------------------- the probe's launches
// Key-tile chunks: enough blocks for ~4 waves of 132 SMs, at most one chunk a tile.
static int probe_chunks(const vdit_attn_cuda_cluster_args *a) {
  const int64_t blocks = (int64_t)((a->cq + PROBE_ROWS - 1) / PROBE_ROWS) * a->bh;
  int64_t chunks = (4 * 132 + blocks - 1) / blocks;
  if (chunks > 64) chunks = 64;
  if (chunks > a->k_tiles) chunks = a->k_tiles;
  return chunks < 1 ? 1 : (int)chunks;
}

// The per-tile kernel's three floats a (centroid, key tile): mt_j, L_j and the error numerator;
// then o_hat's weights W (cq x ck a slice) and its parts' products (OHAT_SPLIT x cq x D a slice).
extern "C" size_t vdit_attn_cuda_cluster_probe_floats(int64_t bh, int cq, int ck, int k_tiles, int64_t dim) {
  return (size_t)3 * bh * cq * k_tiles + (size_t)bh * cq * ck + (size_t)OHAT_SPLIT * bh * cq * dim;
}

// P V and the scores in the inputs' 16-bit type (PV).
template <int DP, int PV>
static cudaError_t probe_run(const vdit_attn_cuda_cluster_args *a, float *part, cudaStream_t stream) {
  const size_t shared = probe_shared_bytes<DP>();
  cudaError_t e;
  if ((e = cudaFuncSetAttribute(probe_tile_kernel<DP, PV>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)shared)) !=
      cudaSuccess)
    return e;
  // o_hat = W Vbar (W from mass_rows_kernel), in up to OHAT_SPLIT parts of the key clusters
  const float *w = probe_weights(a);
  float *ohat_parts = (float *)w + (size_t)a->bh * a->cq * a->ck;
  const int wvec = a->ck % 4 == 0 && (uintptr_t)w % 16 == 0, vvec = a->dim % 4 == 0 && (uintptr_t)a->v_means % 16 == 0;
  const int all = (a->ck + OHAT_KC - 1) / OHAT_KC;
  int parts = all < OHAT_SPLIT ? all : OHAT_SPLIT;
  parts = (all + (all + parts - 1) / parts - 1) / ((all + parts - 1) / parts); // no empty part
  probe_ohat_kernel<<<dim3((unsigned)((a->cq + OHAT_ROWS - 1) / OHAT_ROWS), (unsigned)((a->dim + OHAT_COLS - 1) / OHAT_COLS),
                           (unsigned)(a->bh * parts)),
                      OHAT_THREADS, 0, stream>>>(*a, w, wvec, vvec, parts, parts > 1 ? ohat_parts : a->probe_o);
  if ((e = cudaGetLastError()) != cudaSuccess) return e;
  if (parts > 1) {
    const int64_t n = a->bh * a->cq * a->dim;
    ohat_sum_kernel<<<(unsigned)((n + 255) / 256), 256, 0, stream>>>(ohat_parts, parts, n, a->probe_o);
    if ((e = cudaGetLastError()) != cudaSuccess) return e;
  }
  const unsigned row_blocks = (unsigned)((a->cq + PROBE_ROWS - 1) / PROBE_ROWS);
  const int chunks = probe_chunks(a);
  const int tiles_per_chunk = (a->k_tiles + chunks - 1) / chunks;
  const int used_chunks = (a->k_tiles + tiles_per_chunk - 1) / tiles_per_chunk;
  const dim3 grid(row_blocks, (unsigned)used_chunks, (unsigned)a->bh);
  float *tile_ref = part, *tile_den = tile_ref + (size_t)a->bh * a->cq * a->k_tiles;
  float *tile_err = tile_den + (size_t)a->bh * a->cq * a->k_tiles;
  probe_tile_kernel<DP, PV><<<grid, PROBE_THREADS, shared, stream>>>(*a, tiles_per_chunk, tile_ref, tile_den, tile_err);
  if ((e = cudaGetLastError()) != cudaSuccess ||
      (e = vdit_attn_cuda_cluster_mark(a, VDIT_ATTN_CLUSTER_STAGE_PROBE_SCORES, stream)) != cudaSuccess)
    return e;
  probe_finish_kernel<<<(unsigned)((a->bh * a->cq + 7) / 8), 256, 0, stream>>>(*a, tile_ref, tile_den, tile_err);
  if ((e = cudaGetLastError()) != cudaSuccess) return e;
  return vdit_attn_cuda_cluster_mark(a, VDIT_ATTN_CLUSTER_STAGE_PROBE_ERR, stream);
}

template <int DP>
static cudaError_t probe_run_type(const vdit_attn_cuda_cluster_args *a, float *part, cudaStream_t stream) {
  return a->half_inputs ? probe_run<DP, PROBE_PV_F16>(a, part, stream) : probe_run<DP, PROBE_PV_BF16>(a, part, stream);
}

extern "C" cudaError_t vdit_attn_cuda_cluster_probe(const vdit_attn_cuda_cluster_args *a, cudaStream_t stream) {
  if (a->bh == 0 || a->cq == 0 || a->k_tiles == 0) return cudaSuccess;
  if (a->dim > 128 || a->k_tiles > 65535 || a->ck > 12288) return cudaErrorInvalidValue;
  // past the centroid scores' part of the scratch (Qbar's TF32 split, vdit_attn_cuda_cluster_centroid_scores)
  float *part = a->scratch + vdit_attn_cuda_cluster_centroid_scratch_floats(a->bh, a->cq, a->dim);
  return a->dim <= 64 ? probe_run_type<64>(a, part, stream) : probe_run_type<128>(a, part, stream);
}
