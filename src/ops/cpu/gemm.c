// fp32 GEMM on the CPU: C (M, N) = op(A) (M, K) op(B) (K, N), written or added to C.
// The GotoBLAS/BLIS scheme in plain C, with C cut into MC x TILE_N tiles that the OpenMP
// threads take one at a time:
//   for each depth slice pc (KC of K):
//     pack A's (MC, KC) block into MR-tall micro-panels and B's (KC, TILE_N) slice into
//     NR-wide micro-panels (contiguous, zero-padded: both stay in L2)
//     for each NR-wide column strip, for each MR-tall row strip: the micro-kernel
// The micro-kernel holds an MR x NR block of C in registers and does one rank-1 update per
// k from the two packed streams, so its inner loop (NR wide) vectorises (-march=native,
// FMA contraction on for src/<layer>/cpu/). Packing costs (MC + TILE_N) / (MC TILE_N) of
// the multiply-adds, about 1%, which buys tiles that need no barrier between threads.
// The store writes only the valid part of a tile, so C may hold NaN outside what it writes,
// and nothing is read from C unless accumulating.
// Summation order per element: k in order within a KC slice (one fp32 FMA chain), slices
// added to C in order; the result does not depend on the thread count.
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "ops/ops_internal.h"

enum {
  MR = 8,       // rows of the micro-tile (broadcast A values)
  NR = 32,      // columns of the micro-tile (vector lanes)
  KC = 256,     // depth of a packed slice: a B micro-panel (KC x NR floats, 32 KiB) sits in L1/L2
  MC = 128,     // rows of a tile: its packed A block (MC x KC floats, 128 KiB) stays in L2
  TILE_N = 256, // columns of a tile: its packed B slice (KC x TILE_N floats, 256 KiB) in L2
};

// Packs rows [i0, i0 + mc) and depth [k0, k0 + kc) of op(A) into ceil(mc / MR) micro-panels,
// each (kc, MR) with element (k, i) at k * MR + i; rows past mc are zero.
static void pack_a(float *restrict out, const float *a, int64_t lda, int trans_a, int64_t i0, int64_t mc, int64_t k0,
                   int64_t kc) {
  for (int64_t ir = 0; ir < mc; ir += MR) {
    const int64_t rows = mc - ir < MR ? mc - ir : MR;
    float *restrict panel = out + ir * kc;
    if (!trans_a) {
      for (int64_t i = 0; i < rows; i++) {
        const float *restrict row = a + (i0 + ir + i) * lda + k0;
        for (int64_t k = 0; k < kc; k++) panel[k * MR + i] = row[k];
      }
    } else {
      for (int64_t k = 0; k < kc; k++) {
        const float *restrict column = a + (k0 + k) * lda + i0 + ir;
        for (int64_t i = 0; i < rows; i++) panel[k * MR + i] = column[i];
      }
    }
    for (int64_t i = rows; i < MR; i++)
      for (int64_t k = 0; k < kc; k++) panel[k * MR + i] = 0.0f;
  }
}

// Packs micro-panel p (columns [j0 + p NR, + NR)) of depth [k0, k0 + kc) of op(B): (kc, NR)
// with element (k, j) at k * NR + j; columns past n are zero.
static void pack_b_panel(float *restrict panel, const float *b, int64_t ldb, int trans_b, int64_t j0, int64_t n,
                         int64_t k0, int64_t kc) {
  const int64_t cols = n - j0 < NR ? n - j0 : NR;
  if (!trans_b) {
    for (int64_t k = 0; k < kc; k++) {
      const float *restrict row = b + (k0 + k) * ldb + j0;
      float *restrict dst = panel + k * NR;
      for (int64_t j = 0; j < cols; j++) dst[j] = row[j];
      for (int64_t j = cols; j < NR; j++) dst[j] = 0.0f;
    }
  } else {
    // Transposing: 8 x 8 blocks so that reads and writes both stay within a few cache lines.
    for (int64_t k8 = 0; k8 < kc; k8 += 8) {
      const int64_t depth = kc - k8 < 8 ? kc - k8 : 8;
      for (int64_t j = 0; j < cols; j++) {
        const float *restrict column = b + (j0 + j) * ldb + k0 + k8;
        for (int64_t k = 0; k < depth; k++) panel[(k8 + k) * NR + j] = column[k];
      }
    }
    for (int64_t k = 0; k < kc; k++)
      for (int64_t j = cols; j < NR; j++) panel[k * NR + j] = 0.0f;
  }
}

// acc (MR, NR) = sum over k of a[k] (MR) outer b[k] (NR).
static void micro_kernel(int64_t kc, const float *restrict a, const float *restrict b, float *restrict acc) {
  float c[MR][NR];
  for (int i = 0; i < MR; i++)
    for (int j = 0; j < NR; j++) c[i][j] = 0.0f;
  for (int64_t k = 0; k < kc; k++) {
    const float *restrict ak = a + k * MR;
    const float *restrict bk = b + k * NR;
    for (int i = 0; i < MR; i++) {
      const float ai = ak[i];
      for (int j = 0; j < NR; j++) c[i][j] += ai * bk[j];
    }
  }
  for (int i = 0; i < MR; i++)
    for (int j = 0; j < NR; j++) acc[i * NR + j] = c[i][j];
}

// The valid (rows, cols) corner of acc into C: overwritten or added.
static void store_tile(float *restrict c, int64_t ldc, const float *restrict acc, int64_t rows, int64_t cols, int add) {
  for (int64_t i = 0; i < rows; i++) {
    float *restrict ci = c + i * ldc;
    const float *restrict ai = acc + i * NR;
    if (add)
      for (int64_t j = 0; j < cols; j++) ci[j] += ai[j];
    else
      for (int64_t j = 0; j < cols; j++) ci[j] = ai[j];
  }
}

vdit_status vdit_ops_cpu_gemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                              const float *b, int64_t ldb, float *c, int64_t ldc, int accumulate) {
  if (m <= 0 || n <= 0) return VDIT_OK;
  if (k <= 0) { // an empty sum: C = 0, or C unchanged
    if (!accumulate)
      for (int64_t i = 0; i < m; i++) memset(c + i * ldc, 0, (size_t)n * sizeof(float));
    return VDIT_OK;
  }
  const int64_t m_tiles = (m + MC - 1) / MC, n_tiles = (n + TILE_N - 1) / TILE_N;
  // Threads: at most one per tile, and one for a small product (under 4M multiply-adds,
  // about 0.05 ms on one core), where waking a second thread costs more than it saves.
  int threads = 1;
#ifdef _OPENMP
  threads = omp_get_max_threads();
#endif
  if (threads > m_tiles * n_tiles) threads = (int)(m_tiles * n_tiles);
  if ((double)m * (double)n * (double)k < 4e6) threads = 1;
  const int64_t kc_max = k < KC ? k : KC;
  const size_t a_floats = (size_t)(MC * kc_max), b_floats = (size_t)(TILE_N * kc_max);
  float *pack = vdit_host_alloc((size_t)threads * (a_floats + b_floats) * sizeof(float), VDIT_HOST_ALIGNMENT);
  if (!pack) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "gemm: no memory for packing buffers (%d threads)", threads);

  // Tiles are independent (each packs its own A block and B slice: no barrier between
  // threads until the end) and handed out dynamically, so a thread that the OS preempts
  // does not stall the others.
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    int thread = 0;
#ifdef _OPENMP
    thread = omp_get_thread_num();
#endif
    float *a_pack = pack + (size_t)thread * (a_floats + b_floats), *b_pack = a_pack + a_floats;
    _Alignas(64) float acc[MR * NR];
#pragma omp for schedule(dynamic)
    for (int64_t tile = 0; tile < m_tiles * n_tiles; tile++) {
      const int64_t ic = (tile / n_tiles) * MC, jc = (tile % n_tiles) * TILE_N;
      const int64_t mc = m - ic < MC ? m - ic : MC, nc = n - jc < TILE_N ? n - jc : TILE_N;
      for (int64_t pc = 0; pc < k; pc += KC) {
        const int64_t kc = k - pc < KC ? k - pc : KC;
        const int add = pc > 0 || accumulate;
        pack_a(a_pack, a, lda, trans_a, ic, mc, pc, kc);
        for (int64_t jr = 0; jr < nc; jr += NR) pack_b_panel(b_pack + jr * kc, b, ldb, trans_b, jc + jr, n, pc, kc);
        for (int64_t jr = 0; jr < nc; jr += NR) {
          const int64_t cols = nc - jr < NR ? nc - jr : NR;
          for (int64_t ir = 0; ir < mc; ir += MR) {
            const int64_t rows = mc - ir < MR ? mc - ir : MR;
            micro_kernel(kc, a_pack + ir * kc, b_pack + jr * kc, acc);
            store_tile(c + (ic + ir) * ldc + jc + jr, ldc, acc, rows, cols, add);
          }
        }
      }
    }
  }
  vdit_host_free(pack);
  return VDIT_OK;
}
