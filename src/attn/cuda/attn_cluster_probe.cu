// Clustered attention's pair scores on the GPU (step 4 of src/attn/cluster.h): the svg mass
// from the centroid scores, and the EAR probe as one fused tensor-core pass and a light error kernel.
//
// Centroid scores cs (BH, cq, ck) = Qbar Kbar^T come from attn_cluster_gemm.cu (TF32 hi / lo:
// fp32 accuracy). mass[a][j] = sum over the fragments f of key tile j of softmax_c(cs[a][c] scale
// + log n_c) n_f / n_c, one block per query cluster (the CPU's formula; its dot products summed
// in another order, so masses may differ from the host's in the last bits and rankings only
// where two masses are that close).
//
// The probe, for each query centroid qbar_a: m = max_t qbar_a . k_t scale, Z = sum_t
// exp(qbar_a . k_t scale - m), o = sum_t exp(...) v_t / Z (over the Sk keys in cluster order),
// then per key tile j
//   err[a][j] = |N'_j - N_j - o (L'_j - L_j)|_1 / Z
// with N_j, L_j the tile's exact numerator and denominator and N'_j, L'_j its fragments'
// centroid terms (the CPU's cluster_probe). One pass (probe_fused_kernel): per (128 centroids,
// chunk of key tiles) a flash-attention forward of the centroids (online softmax over 64-key
// steps, partial (m, l, O) merged by probe_combine_kernel into probe_m, probe_z, probe_o = o),
// which also writes each tile's difference relative to its own reference max; the light
// probe_finish_kernel forms err with the final m, Z, o. Nothing of size cq x Sk is formed (the
// GEMM version wrote a 400 MB P at S = 32760 and read it three times; the two-pass version,
// which recomputed the scores against the final m, took 1.60 ms against the one pass's 1.16 on
// the H200, round 14, and was deleted in round 15).
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
// H200 (round 17, one call): the one-pass kernel + combine 1.024 ms with these scores, against
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
// The tile loaders below stride by blockDim.x (as timed in round 17), not by PROBE_THREADS as in
// round 16: their loops are then not unrolled, and the TF32 kernel of the same call took 1.161 ms
// against round 16's 0.972. The compile-time stride is the next thing to time.
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
    for (int idx = threadIdx.x; idx < PROBE_KEYS * C8; idx += blockDim.x) {
      const int r = idx / C8, c = 8 * (idx % C8);
      const int64_t p = k0 + r;
      const int ok = p < Sk && c < D;
      cp_async16(dst + r * LDH + c, ok ? x + (int64_t)perm[p] * ss + c : x, ok ? 16 : 0);
    }
  } else {
    for (int idx = threadIdx.x; idx < PROBE_KEYS * DP; idx += blockDim.x) {
      const int r = idx / DP, c = idx % DP;
      const int64_t p = k0 + r;
      dst[r * LDH + c] = p < Sk && c < D ? x[(int64_t)perm[p] * ss + c] : (uint16_t)0;
    }
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
  for (int idx = threadIdx.x; idx < ROWS * DP / 2; idx += blockDim.x) {
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
         (size_t)PROBE_FRAGS * (DP + 4) * sizeof(float) + (size_t)2 * PROBE_KEYS * (DP + 8) * 2;
}

// One warp per (bh, a): the chunks' (m, l, O) merged into probe_m, probe_z, probe_o = O / Z.
static __global__ void probe_combine_kernel(vdit_attn_cuda_cluster_args a, int chunks, int dp, const float *part) {
  const int64_t row = (int64_t)blockIdx.x * 8 + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= a.bh * a.cq) return;
  const int64_t stride = a.bh * a.cq * (dp + 2);
  float m = -INFINITY;
  for (int c = 0; c < chunks; c++) m = fmaxf(m, part[c * stride + row * (dp + 2)]);
  double z = 0.0;
  for (int c = 0; c < chunks; c++) {
    const float *p = part + c * stride + row * (dp + 2);
    if (p[0] > -INFINITY) z += (double)p[1] * (double)expf(p[0] - m);
  }
  const float inv = (float)(1.0 / z);
  for (int d = lane; d < a.dim; d += 32) {
    float sum = 0.0f;
    for (int c = 0; c < chunks; c++) {
      const float *p = part + c * stride + row * (dp + 2);
      if (p[0] > -INFINITY) sum += p[2 + d] * expf(p[0] - m);
    }
    a.probe_o[row * a.dim + d] = sum * inv;
  }
  if (lane == 0) a.probe_m[row] = m, a.probe_z[row] = (float)z;
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
    for (int idx = threadIdx.x; idx < PROBE_FRAGS * C4; idx += blockDim.x) {
      const int r = idx / C4, c = 4 * (idx % C4);
      const int ok = f_begin + r < f_end && c < D;
      cp_async16(fbuf + r * LD + c, ok ? vm + (int64_t)fc[f_begin + r] * D + c : vm, ok ? 16 : 0);
    }
  } else {
    for (int idx = threadIdx.x; idx < PROBE_FRAGS * DP; idx += blockDim.x) {
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

// ---------------------------------------------------------------- one pass (the default)
// Pass 1 and pass 2 fused: the scores and P V are formed once. Block (row block rb, chunk c,
// slice bh) runs pass 1's online softmax over the chunk's keys (part: m, l, O as pass 1) and keeps
// a second accumulator for the current tile, N_j relative to the running max m_run (rescaled by
// the same alpha). After a tile's last step: O += N_j, then with the tile's reference
// mt = max(m_run, max over its fragments of cs scale) (so no centroid weight exceeds n_f, whatever
// keys come later), the tile's difference relative to mt
//   dn_j = (N'_j - N_j) exp(m_run - mt) (D floats),  dl_j = (L'_j - L_j) exp(m_run - mt)
// goes to memory with mt (tile_num (BH, cq, k_tiles, D), tile_den and tile_ref (BH, cq, k_tiles)).
// probe_finish_kernel then forms err = exp(mt - m) |dn_j - o dl_j|_1 / Z with the final m, Z, o:
// the same quantity as pass 2's (which recomputed P against the final m), with the exponentials
// split in two factors (a few ulps apart).
template <int DP, int PV>
static __global__ void __launch_bounds__(PROBE_THREADS, 1)
    probe_fused_kernel(vdit_attn_cuda_cluster_args a, int tiles_per_chunk, float *part,
                       float *tile_num, float *tile_den, float *tile_ref) {
  constexpr int LD = DP + 4, LDH = DP + 8, ROWS = PROBE_ROWS;
  extern __shared__ float4 probe_shared[];
  // qh, ql, kbuf16 (2 tiles), fbuf (PROBE_FRAGS rows), vbuf16 (2 tiles)
  uint16_t *qh = (uint16_t *)probe_shared, *ql = qh + ROWS * LDH, *kbuf16 = ql + ROWS * LDH;
  float *fbuf = (float *)(kbuf16 + 2 * PROBE_KEYS * LDH);
  uint16_t *vbuf16 = (uint16_t *)(fbuf + PROBE_FRAGS * LD);
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
  // Each step's K and V tiles go into buffer step % 2. The fragments' V means of tile j go into
  // fbuf (one buffer) with the loads of the tile's second step, issued while its first step runs
  // (after the barrier that ended the previous tile's epilogue); a tile of one step (the chunk's
  // ragged last, or a chunk of one step) loads them at its own step, before the wait.
  if (steps > 0) {
    load_values16<DP>(kx16, a.k16.ss, perm, k_end, D, k_begin, kbuf16, kvec16);
    load_values16<DP>(vx16, a.v_ss, perm, k_end, D, k_begin, vbuf16, vec16);
    if (steps == 1) {
      const int j = (int)(k_begin / PROBE_TILE);
      load_fragment_means<DP>(vm, fc, fo[j], fo[j + 1], D, fbuf, vec);
    }
  }
  cp_async_commit();
  const int lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  int row[2];
#pragma unroll
  for (int r = 0; r < 2; r++) row[r] = rb * ROWS + threadIdx.x / 32 * 16 + g + 8 * r;
  // m: running max; l, lt: the thread's partial row sums over the chunk and over the tile
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f}, lt[2] = {0.0f, 0.0f};
  float o[DP / 8][4], acc[DP / 8][4];
#pragma unroll
  for (int n = 0; n < DP / 8; n++)
#pragma unroll
    for (int e = 0; e < 4; e++) o[n][e] = acc[n][e] = 0.0f;
  for (int step = 0; step < steps; step++) {
    const int buf = step & 1;
    const int64_t k0 = k_begin + (int64_t)step * PROBE_KEYS;
    if (step + 1 < steps) {
      const int64_t k1 = k0 + PROBE_KEYS;
      load_values16<DP>(kx16, a.k16.ss, perm, k_end, D, k1, kbuf16 + (buf ^ 1) * PROBE_KEYS * LDH, kvec16);
      load_values16<DP>(vx16, a.v_ss, perm, k_end, D, k1, vbuf16 + (buf ^ 1) * PROBE_KEYS * LDH, vec16);
      if (k1 % PROBE_TILE != 0) { // the tile's second step
        const int j = (int)(k1 / PROBE_TILE);
        load_fragment_means<DP>(vm, fc, fo[j], fo[j + 1], D, fbuf, vec);
      }
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      if (step > 0 && k0 % PROBE_TILE == 0) { // a tile of one step after an earlier tile
        const int j = (int)(k0 / PROBE_TILE);
        load_fragment_means<DP>(vm, fc, fo[j], fo[j + 1], D, fbuf, vec);
        cp_async_commit();
      }
      cp_async_wait<0>();
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
      const float alpha = m[r] == -INFINITY ? 0.0f : __expf(m[r] - m_new);
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
      l[r] = l[r] * alpha + sum;
      lt[r] = lt[r] * alpha + sum;
      if (alpha != 1.0f) {
#pragma unroll
        for (int n = 0; n < DP / 8; n++) {
          o[n][2 * r] *= alpha, o[n][2 * r + 1] *= alpha;
          acc[n][2 * r] *= alpha, acc[n][2 * r + 1] *= alpha;
        }
      }
      m[r] = m_new;
    }
    pv_step16<DP, PV>(s, vbuf16 + buf * PROBE_KEYS * LDH, acc);
    if ((k0 + PROBE_KEYS) % PROBE_TILE == 0 || k0 + PROBE_KEYS >= k_end) { // the tile's last step
      const int j = (int)(k0 / PROBE_TILE);
      // the tile's reference mt and the factor c = exp(m_run - mt) <= 1
      const int32_t f_begin = fo[j], f_end = fo[j + 1];
      float mt[2], c[2];
#pragma unroll
      for (int r = 0; r < 2; r++) {
        const float *cs = a.cscore + (bh * a.cq + (row[r] < a.cq ? row[r] : 0)) * a.ck;
        float x = m[r]; // finite: the tile has a key
        for (int32_t f = f_begin + t; f < f_end; f += 4) x = fmaxf(x, cs[fc[f]] * a.scale);
        mt[r] = quad_max(x);
        c[r] = __expf(m[r] - mt[r]);
      }
#pragma unroll
      for (int n = 0; n < DP / 8; n++)
#pragma unroll
        for (int e = 0; e < 4; e++) {
          o[n][e] += acc[n][e];
          acc[n][e] = -acc[n][e] * c[e / 2];
        }
      float lc[2];
      probe_tile_centroid_terms<DP>(a, bh, j, row, mt, acc, fbuf, lc);
#pragma unroll
      for (int r = 0; r < 2; r++) {
        const float ltr = quad_sum(lt[r]); // every lane: the shuffle names the whole warp
        if (row[r] >= a.cq) continue;
        const int64_t index = (bh * a.cq + row[r]) * a.k_tiles + j;
        float *out = tile_num + index * D;
#pragma unroll
        for (int n = 0; n < DP / 8; n++) {
          const int d = 8 * n + 2 * t;
          if (vec) {
            if (d < D) *(float2 *)(out + d) = make_float2(acc[n][2 * r], acc[n][2 * r + 1]);
          } else {
            if (d < D) out[d] = acc[n][2 * r];
            if (d + 1 < D) out[d + 1] = acc[n][2 * r + 1];
          }
        }
        if (t == 0) tile_den[index] = lc[r] - ltr * c[r], tile_ref[index] = mt[r];
      }
      lt[0] = lt[1] = 0.0f;
#pragma unroll
      for (int n = 0; n < DP / 8; n++) acc[n][0] = acc[n][1] = acc[n][2] = acc[n][3] = 0.0f;
    }
    __syncthreads(); // this buffer is refilled two steps on
  }
#pragma unroll
  for (int r = 0; r < 2; r++) {
    const float lr = quad_sum(l[r]);
    if (row[r] >= a.cq) continue;
    float *out = part + (((int64_t)chunk * a.bh + bh) * a.cq + row[r]) * (DP + 2);
    if (t == 0) out[0] = m[r], out[1] = lr;
#pragma unroll
    for (int n = 0; n < DP / 8; n++) out[2 + 8 * n + 2 * t] = o[n][2 * r], out[3 + 8 * n + 2 * t] = o[n][2 * r + 1];
  }
}

// One warp per (bh, a, j): err = exp(mt - m) |dn_j - o dl_j|_1 / Z (0 for an empty cluster).
static __global__ void __launch_bounds__(256) probe_finish_kernel(vdit_attn_cuda_cluster_args a, const float *tile_num,
                                                                  const float *tile_den, const float *tile_ref) {
  const int64_t index = (int64_t)blockIdx.x * 8 + threadIdx.x / 32; // (bh * cq + a) * k_tiles + j
  const int lane = threadIdx.x % 32;
  if (index >= a.bh * a.cq * a.k_tiles) return;
  const int64_t ca = index / a.k_tiles; // bh * cq + a
  const int D = (int)a.dim;
  const float *dn = tile_num + index * D, *o = a.probe_o + ca * D;
  const float dl = tile_den[index];
  float e = 0.0f;
  for (int d = lane; d < D; d += 32) e += fabsf(dn[d] - o[d] * dl);
  for (int s = 16; s > 0; s /= 2) e += __shfl_xor_sync(0xffffffffu, e, s);
  if (lane == 0) {
    const float mt = tile_ref[index], m = a.probe_m[ca];
    a.err[index] = a.q_count[ca] == 0 || mt == -INFINITY ? 0.0f : e * expf(mt - m) / a.probe_z[ca];
  }
}

// ---------------------------------------------------------------- svg mass
static __device__ float block_reduce_max(float v, float *red) {
  for (int o = 16; o > 0; o /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  if (threadIdx.x % 32 == 0) red[threadIdx.x / 32] = v;
  __syncthreads();
  float r = red[0];
  for (int w = 1; w < (int)(blockDim.x / 32); w++) r = fmaxf(r, red[w]);
  __syncthreads();
  return r;
}

static __device__ double block_reduce_sum(double v, double *red) {
  for (int o = 16; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
  if (threadIdx.x % 32 == 0) red[threadIdx.x / 32] = v;
  __syncthreads();
  double r = 0.0;
  for (int w = 0; w < (int)(blockDim.x / 32); w++) r += red[w];
  __syncthreads();
  return r;
}

// One block per (query cluster a, bh): the softmax over the key clusters of cs[a] scale + log n_c,
// per key token, then the tile sums over the fragments (each tile's sum in fragment order, as
// the CPU). Shared: ck floats.
static __global__ void __launch_bounds__(256) mass_rows_kernel(vdit_attn_cuda_cluster_args a) {
  extern __shared__ float mass_p[];
  __shared__ float red[8];
  __shared__ double red_d[8];
  const int cl = blockIdx.x;
  const int64_t bh = blockIdx.y;
  float *row = a.mass + (bh * a.cq + cl) * a.k_tiles;
  if (a.q_count[bh * a.cq + cl] == 0) {
    for (int j = threadIdx.x; j < a.k_tiles; j += blockDim.x) row[j] = 0.0f;
    return;
  }
  const int32_t *kn = a.k_count + bh * a.ck;
  const float *cs = a.cscore + (bh * a.cq + cl) * a.ck;
  float local = -INFINITY;
  for (int c = threadIdx.x; c < a.ck; c += blockDim.x) {
    const float v = kn[c] > 0 ? __fadd_rn(__fmul_rn(cs[c], a.scale), logf((float)kn[c])) : -INFINITY;
    mass_p[c] = v;
    local = fmaxf(local, v);
  }
  const float m = block_reduce_max(local, red);
  double z = 0.0;
  for (int c = threadIdx.x; c < a.ck; c += blockDim.x) z += (mass_p[c] = kn[c] > 0 ? expf(mass_p[c] - m) : 0.0f);
  z = block_reduce_sum(z, red_d);
  for (int c = threadIdx.x; c < a.ck; c += blockDim.x)
    mass_p[c] = kn[c] > 0 ? (float)((double)mass_p[c] / z / kn[c]) : 0.0f;
  __syncthreads();
  const int32_t *fo = a.frag_offsets + bh * (a.k_tiles + 1);
  const int32_t *fc = a.frag_cluster + bh * a.max_fragments, *fn = a.frag_count + bh * a.max_fragments;
  for (int j = threadIdx.x; j < a.k_tiles; j += blockDim.x) {
    float sum = 0.0f;
    for (int32_t f = fo[j]; f < fo[j + 1]; f++) sum = __fadd_rn(sum, __fmul_rn(mass_p[fc[f]], (float)fn[f]));
    row[j] = sum;
  }
}

extern "C" cudaError_t vdit_attn_cuda_cluster_mass(const vdit_attn_cuda_cluster_args *a, cudaStream_t stream) {
  if (a->bh == 0 || a->cq == 0) return cudaSuccess;
  const size_t shared = (size_t)a->ck * sizeof(float);
  if (shared > 48 * 1024) return cudaErrorInvalidValue; // ck <= 12288
  mass_rows_kernel<<<dim3((unsigned)a->cq, (unsigned)a->bh), 256, shared, stream>>>(*a);
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

// The chunk partials (64 chunks at most), then the one-pass kernel's tile differences.
extern "C" size_t vdit_attn_cuda_cluster_probe_floats(int64_t bh, int cq, int k_tiles, int64_t dim) {
  return (size_t)64 * bh * cq * (128 + 2) + (size_t)bh * cq * k_tiles * (dim + 2);
}

// P V and the scores in the inputs' 16-bit type (PV).
template <int DP, int PV>
static cudaError_t probe_run(const vdit_attn_cuda_cluster_args *a, float *part, cudaStream_t stream) {
  const size_t shared = probe_shared_bytes<DP>();
  cudaError_t e;
  if ((e = cudaFuncSetAttribute(probe_fused_kernel<DP, PV>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)shared)) !=
      cudaSuccess)
    return e;
  const unsigned row_blocks = (unsigned)((a->cq + PROBE_ROWS - 1) / PROBE_ROWS);
  const int chunks = probe_chunks(a);
  const int tiles_per_chunk = (a->k_tiles + chunks - 1) / chunks;
  const int used_chunks = (a->k_tiles + tiles_per_chunk - 1) / tiles_per_chunk;
  const dim3 grid(row_blocks, (unsigned)used_chunks, (unsigned)a->bh);
  float *tile_num = part + (size_t)64 * a->bh * a->cq * (128 + 2);
  float *tile_den = tile_num + (size_t)a->bh * a->cq * a->k_tiles * a->dim;
  float *tile_ref = tile_den + (size_t)a->bh * a->cq * a->k_tiles;
  probe_fused_kernel<DP, PV><<<grid, PROBE_THREADS, shared, stream>>>(*a, tiles_per_chunk, part, tile_num, tile_den, tile_ref);
  if ((e = cudaGetLastError()) != cudaSuccess) return e;
  probe_combine_kernel<<<(unsigned)((a->bh * a->cq + 7) / 8), 256, 0, stream>>>(*a, used_chunks, DP, part);
  if ((e = cudaGetLastError()) != cudaSuccess ||
      (e = vdit_attn_cuda_cluster_mark(a, VDIT_ATTN_CLUSTER_STAGE_PROBE_SCORES, stream)) != cudaSuccess)
    return e;
  const int64_t n = a->bh * a->cq * a->k_tiles;
  probe_finish_kernel<<<(unsigned)((n + 7) / 8), 256, 0, stream>>>(*a, tile_num, tile_den, tile_ref);
  if ((e = cudaGetLastError()) != cudaSuccess) return e;
  return vdit_attn_cuda_cluster_mark(a, VDIT_ATTN_CLUSTER_STAGE_PROBE_ERR, stream);
}

template <int DP>
static cudaError_t probe_run_type(const vdit_attn_cuda_cluster_args *a, float *part, cudaStream_t stream) {
  return a->half_inputs ? probe_run<DP, PROBE_PV_F16>(a, part, stream) : probe_run<DP, PROBE_PV_BF16>(a, part, stream);
}

extern "C" cudaError_t vdit_attn_cuda_cluster_probe(const vdit_attn_cuda_cluster_args *a, cudaStream_t stream) {
  if (a->bh == 0 || a->cq == 0 || a->k_tiles == 0) return cudaSuccess;
  if (a->dim > 128 || a->k_tiles > 65535) return cudaErrorInvalidValue;
  // past the centroid scores' part of the scratch (Qbar's TF32 split, vdit_attn_cuda_cluster_centroid_scores)
  float *part = a->scratch + vdit_attn_cuda_cluster_centroid_scratch_floats(a->bh, a->cq, a->dim);
  return a->dim <= 64 ? probe_run_type<64>(a, part, stream) : probe_run_type<128>(a, part, stream);
}
