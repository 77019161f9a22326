// CPU emulation of VDIT_ATTN_SAGE (the contract in attn_sage.h): the same scales, INT8 and
// e4m3 codes, tile boundaries and two-level accumulation as the CUDA kernels, so the two agree
// up to accumulation order and the exp2 approximation. Kept out of src/attn/cpu/ (which is
// built with -ffp-contract=fast) so that every rounding here is the one written.
// Integer tile products are exact int32 sums, as on the tensor cores.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attn/attn_sage.h"
#include "num/format_convert.h"

// Heads run in parallel only when the work (B H Sq Sk D multiply-adds) pays for the threads.
#define SAGE_CPU_PARALLEL_MIN 4e6

// ---------------------------------------------------------------- shared helpers
static float dot_f32(const float *a, const float *b, int64_t n) {
  float s = 0.0f;
  for (int64_t d = 0; d < n; d++) s = VDIT_FADD(s, VDIT_FMUL(a[d], b[d]));
  return s;
}

static int64_t key_length(const vdit_attn_problem *p, int64_t b) {
  return p->config.key_lengths ? p->config.key_lengths[b] : p->shape.seq_k;
}

// mu[d] = mean over keys j < n of k[j, d] (0 when n = 0): the K-smoothing vector.
static void key_mean(const float *k, int64_t n, int64_t dim, float *mu) {
  for (int64_t d = 0; d < dim; d++) {
    double s = 0.0;
    for (int64_t j = 0; j < n; j++) s += k[j * dim + d];
    mu[d] = n > 0 ? (float)(s / (double)n) : 0.0f;
  }
}

// The channel split (attn_sage.h): K's outlier channels of one (b, h), ascending; returns their
// count (0 .. SAGE_SPLIT_MAX). a_d = max over keys j < n of |fp32(k[j, d] - mu[d])|, m = the
// lower median of a_d over the D channels (sorted a[(D - 1) / 2]); channel d splits when a_d >
// fp32(SAGE_SPLIT_RATIO * m); past SAGE_SPLIT_MAX the largest a_d are kept (ties: lower d).
// Fewer than SAGE_SPLIT_MIN_KEYS keys never split.
int sage_split_channels(const float *k, int64_t n, int64_t dim, const float *mu, int *channels) {
  float a[256], sorted[256];
  if (n < SAGE_SPLIT_MIN_KEYS || dim > 256) return 0;
  for (int64_t d = 0; d < dim; d++) {
    float m = 0.0f;
    for (int64_t j = 0; j < n; j++) m = fmaxf(m, fabsf(VDIT_FSUB(k[j * dim + d], mu[d])));
    a[d] = sorted[d] = m;
  }
  for (int64_t i = 1; i < dim; i++) { // insertion sort: D <= 256
    const float x = sorted[i];
    int64_t j = i;
    for (; j > 0 && sorted[j - 1] > x; j--) sorted[j] = sorted[j - 1];
    sorted[j] = x;
  }
  const float limit = VDIT_FMUL(SAGE_SPLIT_RATIO, sorted[(dim - 1) / 2]);
  int count = 0;
  for (int64_t d = 0; d < dim; d++) {
    if (!(a[d] > limit)) continue;
    if (count < SAGE_SPLIT_MAX) {
      channels[count++] = (int)d;
      continue;
    }
    int low = 0; // the kept channel with the smallest a (the last such: the highest d on ties)
    for (int c = 1; c < count; c++)
      if (a[channels[c]] <= a[channels[low]]) low = c;
    if (a[d] > a[channels[low]]) { // replace it, keep the list ascending
      for (int c = low; c + 1 < count; c++) channels[c] = channels[c + 1];
      channels[count - 1] = (int)d;
    }
  }
  return count;
}

int sage_split_head(const vdit_attn_problem *problem, int64_t b, const float *k, int *channels) {
  float mu[256];
  const int64_t D = problem->shape.head_dim;
  if (D > 256) return 0;
  const int64_t n = key_length(problem, b);
  key_mean(k, n, D, mu);
  return sage_split_channels(k, n, D, mu, channels);
}

// INT8 codes of x (rows x dim) with one scale per row group: group(row) in [0, groups).
// scale = amax / 127, code = round_half_even(x / scale), 0 when the group is all zero.
static void quantize_groups(const float *x, int64_t rows, int64_t dim, int64_t groups, int granularity, int kind,
                            int8_t *codes, float *scales) {
  for (int64_t g = 0; g < groups; g++) scales[g] = 0.0f;
  for (int64_t r = 0; r < rows; r++) {
    int64_t g = kind == 0 ? sage_q_group(granularity, r) : kind == 1 ? sage_k_group(granularity, r) : r / SAGE_BWD_BM;
    if (kind == 3) g = r / SAGE_BWD_BN;
    for (int64_t d = 0; d < dim; d++) scales[g] = fmaxf(scales[g], fabsf(x[r * dim + d]));
  }
  for (int64_t g = 0; g < groups; g++) scales[g] = sage_int8_scale(scales[g]);
  for (int64_t r = 0; r < rows; r++) {
    int64_t g = kind == 0 ? sage_q_group(granularity, r) : kind == 1 ? sage_k_group(granularity, r) : r / SAGE_BWD_BM;
    if (kind == 3) g = r / SAGE_BWD_BN;
    const float s = scales[g];
    for (int64_t d = 0; d < dim; d++)
      codes[r * dim + d] = s > 0.0f ? vdit_num_encode_i8(VDIT_FDIV(x[r * dim + d], s)) : 0;
  }
}
enum { GROUP_Q_FWD = 0, GROUP_K_FWD = 1, GROUP_BWD_Q = 2, GROUP_BWD_K = 3 };

static int32_t dot_i8(const int8_t *a, const int8_t *b, int64_t n) {
  int32_t s = 0;
  for (int64_t d = 0; d < n; d++) s += (int32_t)a[d] * (int32_t)b[d];
  return s;
}

static float round_half(vdit_dtype half, float x) {
  return half == VDIT_DTYPE_F16 ? vdit_num_decode_f16(vdit_num_encode_f16(x)) : vdit_num_decode_bf16(vdit_num_encode_bf16(x));
}

// The split channels' score in log2 units: fp32 sum over c ascending of the exact products of
// the 16-bit q_O and k_O (the GPU's bf16 wgmma into a separate fp32 accumulator), times
// softmax_scale * log2 e.
static float split_score(const float *qo, const float *ko, int ns, float sl2) {
  float s = 0.0f;
  for (int c = 0; c < ns; c++) s = VDIT_FADD(s, VDIT_FMUL(qo[c], ko[c]));
  return VDIT_FMUL(s, sl2);
}

// ---------------------------------------------------------------- forward
typedef struct sage_fwd_head {
  float *mu, *kp, *qp, *qsf, *ks, *vq, *vs, *qmu, *bias, *row;
  float *qo, *ko; // the split channels' 16-bit Q (Sq, SAGE_SPLIT_MAX) and unsmoothed K (Sk, SAGE_SPLIT_MAX)
  int8_t *q8, *k8;
  void *block;
} sage_fwd_head;

static void fwd_head_free(sage_fwd_head *w) { free(w->block); }

static int fwd_head_alloc(const vdit_attn_shape *s, int granularity, sage_fwd_head *w) {
  const int64_t D = s->head_dim, Sq = s->seq_q, Sk = s->seq_k;
  const int64_t nqg = sage_q_groups(granularity, Sq), nkg = sage_k_groups(granularity, Sk);
  size_t floats = (size_t)(D + Sk * D + Sq * D + nqg + nkg + Sk * D + D + Sq + Sk + 4 * Sk + 8 + (Sq + Sk) * SAGE_SPLIT_MAX);
  size_t bytes = floats * sizeof(float) + (size_t)(Sq * D + Sk * D);
  w->block = malloc(bytes);
  if (!w->block) return 0;
  float *f = w->block;
  w->mu = f, f += D;
  w->kp = f, f += Sk * D;
  w->qp = f, f += Sq * D;
  w->qsf = f, f += nqg;
  w->ks = f, f += nkg;
  w->vq = f, f += Sk * D;
  w->vs = f, f += D;
  w->qmu = f, f += Sq;
  w->bias = f, f += Sk;
  w->row = f, f += 4 * Sk + 8;
  w->qo = f, f += Sq * SAGE_SPLIT_MAX;
  w->ko = f, f += Sk * SAGE_SPLIT_MAX;
  w->q8 = (int8_t *)f;
  w->k8 = w->q8 + Sq * D;
  return 1;
}

// One (b, h): q (Sq, D), k, v (Sk, D) -> o (Sq, D), lse (Sq).
// A block map's rows for one (b, h) (NULL offsets: every block), 128 x 128 blocks.
typedef struct sage_walk {
  const int32_t *offsets, *index;
} sage_walk;

static sage_walk walk_of(const vdit_attn_block_map *map, int64_t bh) {
  sage_walk w = {NULL, NULL};
  if (map) {
    w.offsets = map->row_offsets + bh * map->q_blocks;
    w.index = map->col_index;
  }
  return w;
}

// Whether query block qb computes key block kb (binary search in its ascending list).
static int walk_has(const sage_walk *w, int64_t qb, int64_t kb) {
  if (!w->offsets) return 1;
  int32_t lo = w->offsets[qb], hi = w->offsets[qb + 1];
  while (lo < hi) {
    const int32_t mid = lo + (hi - lo) / 2;
    if (w->index[mid] < kb) lo = mid + 1;
    else hi = mid;
  }
  return lo < w->offsets[qb + 1] && w->index[lo] == kb;
}

static void sage_forward_head(const vdit_attn_problem *p, const sage_walk *walk, vdit_dtype half, int64_t b, const float *q, const float *k,
                              const float *v, float *o, float *lse, sage_fwd_head *w) {
  const vdit_attn_shape s = p->shape;
  const int64_t D = s.head_dim, Sq = s.seq_q, Sk = s.seq_k;
  const int gran = (int)p->config.sage.granularity, fp8 = p->config.sage.pv == VDIT_ATTN_SAGE_PV_FP8;
  const int smooth_q = p->config.sage.smooth_q;
  const float sl2 = VDIT_FMUL(p->scale, SAGE_LOG2E);
  const int64_t n = key_length(p, b);

  // K-smoothing and INT8 K; split channels (split=auto) leave K' and the LSE correction (mu = 0
  // there) and keep their unsmoothed 16-bit values in ko
  key_mean(k, n, D, w->mu);
  int split[SAGE_SPLIT_MAX];
  const int ns = p->config.sage.split == VDIT_ATTN_SAGE_SPLIT_AUTO ? sage_split_channels(k, n, D, w->mu, split) : 0;
  for (int c = 0; c < ns; c++) w->mu[split[c]] = 0.0f;
  for (int64_t j = 0; j < Sk; j++)
    for (int64_t d = 0; d < D; d++) w->kp[j * D + d] = VDIT_FSUB(k[j * D + d], w->mu[d]);
  for (int64_t j = 0; j < Sk; j++)
    for (int c = 0; c < ns; c++) {
      w->ko[j * SAGE_SPLIT_MAX + c] = round_half(half, k[j * D + split[c]]);
      w->kp[j * D + split[c]] = 0.0f;
    }
  quantize_groups(w->kp, Sk, D, sage_k_groups(gran, Sk), gran, GROUP_K_FWD, w->k8, w->ks);
  // Q, smoothed per 128-token block if asked; the LSE correction scale * (q . mu)
  for (int64_t i = 0; i < Sq; i++) w->qmu[i] = VDIT_FMUL(p->scale, dot_f32(q + i * D, w->mu, D));
  float qm[256];
  for (int64_t i0 = 0; i0 < Sq; i0 += SAGE_FWD_BM) {
    const int64_t i1 = i0 + SAGE_FWD_BM < Sq ? i0 + SAGE_FWD_BM : Sq;
    for (int64_t d = 0; d < D; d++) {
      double m = 0.0;
      for (int64_t i = i0; i < i1; i++) m += q[i * D + d];
      qm[d] = smooth_q ? (float)(m / (double)(i1 - i0)) : 0.0f;
    }
    for (int64_t i = i0; i < i1; i++)
      for (int64_t d = 0; d < D; d++) w->qp[i * D + d] = VDIT_FSUB(q[i * D + d], qm[d]);
  }
  for (int64_t i = 0; i < Sq; i++) // the split channels' unsmoothed 16-bit Q, out of the INT8 copy
    for (int c = 0; c < ns; c++) {
      w->qo[i * SAGE_SPLIT_MAX + c] = round_half(half, q[i * D + split[c]]);
      w->qp[i * D + split[c]] = 0.0f;
    }
  const int64_t nqg = sage_q_groups(gran, Sq);
  quantize_groups(w->qp, Sq, D, nqg, gran, GROUP_Q_FWD, w->q8, w->qsf);
  for (int64_t g = 0; g < nqg; g++) w->qsf[g] = VDIT_FMUL(w->qsf[g], sl2);
  // V: e4m3 per channel (scale over keys j < n), or the 16-bit values
  for (int64_t d = 0; d < D; d++) {
    float amax = 0.0f;
    for (int64_t j = 0; j < n; j++) amax = fmaxf(amax, fabsf(v[j * D + d]));
    w->vs[d] = fp8 ? sage_fp8_scale(amax) : 1.0f;
  }
  for (int64_t j = 0; j < Sk; j++)
    for (int64_t d = 0; d < D; d++) {
      const float x = v[j * D + d];
      if (!fp8) w->vq[j * D + d] = round_half(half, x);
      else w->vq[j * D + d] = w->vs[d] > 0.0f ? vdit_num_decode_e4m3(vdit_num_encode_e4m3(VDIT_FDIV(x, w->vs[d]))) : 0.0f;
    }

  float *t = w->row, *pq = w->row + Sk, *cs = w->row + 2 * Sk;
  int32_t *acc_i = (int32_t *)(w->row + 3 * Sk);
  float acc[256], tile[256];
  for (int64_t i0 = 0; i0 < Sq; i0 += SAGE_FWD_BM) {
    const int64_t i1 = i0 + SAGE_FWD_BM < Sq ? i0 + SAGE_FWD_BM : Sq;
    if (smooth_q) { // bias_j = (q_mean . K'_j) * scale * log2 e, the block's q_mean recomputed
      for (int64_t d = 0; d < D; d++) {
        double m = 0.0;
        for (int64_t i = i0; i < i1; i++) m += q[i * D + d];
        qm[d] = (float)(m / (double)(i1 - i0));
      }
      for (int64_t j = 0; j < Sk; j++) w->bias[j] = VDIT_FMUL(dot_f32(qm, w->kp + j * D, D), sl2);
    }
    for (int64_t i = i0; i < i1; i++) {
      const int64_t limit = vdit_attn_key_limit(&p->config, b, i, Sq, Sk);
      const float qsf = w->qsf[sage_q_group(gran, i)];
      float m = -INFINITY, l = 0.0f, shift = 0.0f;
      for (int64_t d = 0; d < D; d++) acc[d] = 0.0f;
      // the key tiles: every 128-key block below the limit, or the map's list for this query block
      const int64_t qb = i / SAGE_FWD_BM;
      const int64_t tiles = walk->offsets ? walk->offsets[qb + 1] - walk->offsets[qb] : (limit + SAGE_FWD_BN - 1) / SAGE_FWD_BN;
      for (int64_t e = 0; e < tiles; e++) {
        const int64_t j0 = (walk->offsets ? walk->index[walk->offsets[qb] + e] : e) * SAGE_FWD_BN;
        if (j0 >= limit) break; // ascending
        const int64_t j1 = j0 + SAGE_FWD_BN < Sk ? j0 + SAGE_FWD_BN : Sk;
        float mt = m;
        for (int64_t j = j0; j < j1; j++) {
          if (j >= limit) {
            t[j] = -INFINITY;
            continue;
          }
          const float c = VDIT_FMUL(qsf, w->ks[sage_k_group(gran, j)]);
          const int32_t a = dot_i8(w->q8 + i * D, w->k8 + j * D, D);
          acc_i[j] = a;
          cs[j] = c;
          // split: t = fma(float(dot), c, e), e = the split channels' fp32 score in log2 units
          float x = ns ? fmaf((float)a, c, split_score(w->qo + i * SAGE_SPLIT_MAX, w->ko + j * SAGE_SPLIT_MAX, ns, sl2))
                       : VDIT_FMUL((float)a, c);
          if (smooth_q) x = VDIT_FADD(x, w->bias[j]);
          t[j] = x;
          mt = fmaxf(mt, x);
        }
        const float m_use = mt == -INFINITY ? 0.0f : mt;
        const float alpha = exp2f(VDIT_FSUB(m, m_use));
        m = mt;
        shift = fp8 ? VDIT_FSUB(m_use, SAGE_LOG2_448) : m_use;
        float sum = 0.0f;
        for (int64_t d = 0; d < D; d++) tile[d] = 0.0f;
        for (int64_t j = j0; j < j1; j++) {
          float pj = 0.0f;
          if (t[j] != -INFINITY) { // the GPU's FFMA form of 2^(t - shift), attn_sage.h; split: t - shift
            float x = fmaf((float)(acc_i[j] + (int32_t)SAGE_EXP_BIAS), cs[j], -fmaf(SAGE_EXP_BIAS, cs[j], shift));
            if (ns) x = VDIT_FSUB(t[j], shift);
            else if (smooth_q) x = VDIT_FADD(x, w->bias[j]);
            pj = fp8 && sage_poly_key(j) ? sage_exp2_poly(x) : exp2f(x); // the GPU's MUFU offload keys
          }
          pq[j] = fp8 ? vdit_num_decode_e4m3(vdit_num_encode_e4m3(pj)) : round_half(half, pj);
          // the normalizer: with FP8 P V the row sum of the e4m3-rounded P' (the GPU's tensor
          // cores add it within P V), with 16-bit P V that of the unrounded P
          sum = VDIT_FADD(sum, fp8 ? pq[j] : pj);
          if (pq[j] == 0.0f) continue;
          for (int64_t d = 0; d < D; d++) tile[d] = VDIT_FADD(tile[d], VDIT_FMUL(pq[j], w->vq[j * D + d]));
        }
        l = fmaf(l, alpha, sum);
        for (int64_t d = 0; d < D; d++) acc[d] = fmaf(acc[d], alpha, tile[d]);
      }
      const float inv = l > 0.0f ? VDIT_FDIV(1.0f, l) : 0.0f;
      for (int64_t d = 0; d < D; d++) o[i * D + d] = VDIT_FMUL(VDIT_FMUL(acc[d], inv), w->vs[d]);
      lse[i] = l > 0.0f ? VDIT_FADD(VDIT_FMUL(VDIT_FADD(shift, log2f(l)), SAGE_LN2), w->qmu[i]) : -INFINITY;
    }
  }
}

vdit_status vdit_attn_cpu_sage_forward(const vdit_attn_problem *problem, vdit_dtype half, const float *q,
                                       const float *k, const float *v, float *o, float *lse) {
  const vdit_attn_shape s = problem->shape;
  if (s.head_dim > 256) return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "sage attention: head dim %lld > 256", (long long)s.head_dim);
  if (half != VDIT_DTYPE_F16) half = VDIT_DTYPE_BF16;
  const vdit_attn_block_map *map = problem->map;
  if (map && (map->block_q != SAGE_FWD_BM || map->block_k != SAGE_FWD_BN))
    return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "sage attention: a block map needs %d x %d blocks (has %d x %d)", SAGE_FWD_BM,
                      SAGE_FWD_BN, map->block_q, map->block_k);
  const int64_t heads = s.batch * s.heads;
  const int parallel = (double)heads * (double)s.seq_q * (double)s.seq_k * (double)s.head_dim > SAGE_CPU_PARALLEL_MIN;
  int failed = 0;
#pragma omp parallel for schedule(dynamic) reduction(| : failed) if (parallel)
  for (int64_t bh = 0; bh < heads; bh++) {
    sage_fwd_head w;
    if (!fwd_head_alloc(&s, (int)problem->config.sage.granularity, &w)) {
      failed = 1;
      continue;
    }
    const size_t qo = (size_t)(bh * s.seq_q * s.head_dim), ko = (size_t)(bh * s.seq_k * s.head_dim);
    const sage_walk walk = walk_of(map, bh);
    sage_forward_head(problem, &walk, half, bh / s.heads, q + qo, k + ko, v + ko, o + qo, lse + bh * s.seq_q, &w);
    fwd_head_free(&w);
  }
  if (failed) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "sage attention: no memory for a head's quantized copies");
  return VDIT_OK;
}

// ---------------------------------------------------------------- backward (SageBwd)
typedef struct sage_bwd_head {
  float *mu, *kp, *qs, *ks, *dos, *qmu, *l2, *delta, *pt, *dst, *sp, *sdt, *sdq, *dqa, *dka, *dva;
  float *qz, *qo, *ko, *kpo; // split: Q without the split channels (Sq, D); their 16-bit Q, K, K - mu (rows, SAGE_SPLIT_MAX)
  int8_t *q8, *k8, *do8, *p8, *ds8t, *ds8q;
  void *block;
} sage_bwd_head;

static int bwd_head_alloc(const vdit_attn_shape *s, sage_bwd_head *w) {
  const int64_t D = s->head_dim, Sq = s->seq_q, Sk = s->seq_k, BM = SAGE_BWD_BM, BN = SAGE_BWD_BN;
  const int64_t nqb = (Sq + BM - 1) / BM, nkb = (Sk + BN - 1) / BN;
  size_t floats = (size_t)(D + Sk * D + nqb + nkb + nqb + 3 * Sq + 2 * BM * BN + 2 * BN + BM + Sq * D + 2 * Sk * D + 8 +
                           Sq * D + (Sq + 2 * Sk) * SAGE_SPLIT_MAX);
  size_t bytes = floats * sizeof(float) + (size_t)(2 * Sq * D + Sk * D + 3 * BM * BN) + 16;
  w->block = calloc(1, bytes);
  if (!w->block) return 0;
  float *f = w->block;
  w->mu = f, f += D;
  w->kp = f, f += Sk * D;
  w->qs = f, f += nqb;
  w->ks = f, f += nkb;
  w->dos = f, f += nqb;
  w->qmu = f, f += Sq;
  w->l2 = f, f += Sq;
  w->delta = f, f += Sq;
  w->pt = f, f += BM * BN;  // P of the tile, [i][j]
  w->dst = f, f += BM * BN; // dS of the tile, [i][j]
  w->sp = f, f += BN;
  w->sdt = f, f += BN;
  w->sdq = f, f += BM;
  w->dqa = f, f += Sq * D;
  w->dka = f, f += Sk * D;
  w->dva = f, f += Sk * D;
  w->qz = f, f += Sq * D;
  w->qo = f, f += Sq * SAGE_SPLIT_MAX;
  w->ko = f, f += Sk * SAGE_SPLIT_MAX;
  w->kpo = f, f += Sk * SAGE_SPLIT_MAX;
  int8_t *c = (int8_t *)f;
  w->q8 = c, c += Sq * D;
  w->do8 = c, c += Sq * D;
  w->k8 = c, c += Sk * D;
  w->p8 = c, c += BM * BN;   // [j][i]
  w->ds8t = c, c += BM * BN; // [j][i]
  w->ds8q = c;               // [i][j]
  return 1;
}

// The backward's in-loop INT8 rule (attn_sage.h): inv = 127 / amax (0 when amax = 0), code =
// round_half_even(x * inv) with the product exact, i.e. fma(x, inv, 2^23 + 2^22) - (2^23 + 2^22)
// as the GPU computes it (one FFMA whose low byte is the code). |x * inv| <= 127 (1 + 2^-24).
static float inv_of(float amax) { return amax > 0.0f ? VDIT_FDIV(127.0f, amax) : 0.0f; }
static int8_t code_inv(float x, float inv) { return (int8_t)(int32_t)(fmaf(x, inv, SAGE_EXP_BIAS) - SAGE_EXP_BIAS); }

static void sage_backward_head(const vdit_attn_problem *p, const sage_walk *walk, vdit_dtype half, int64_t b, const float *q,
                               const float *k, const float *v, const float *o, const float *lse, const float *d_o, float *dq,
                               float *dk, float *dv, sage_bwd_head *w) {
  const vdit_attn_shape s = p->shape;
  const int64_t D = s.head_dim, Sq = s.seq_q, Sk = s.seq_k, BM = SAGE_BWD_BM, BN = SAGE_BWD_BN, SM = SAGE_SPLIT_MAX;
  const float sl2 = VDIT_FMUL(p->scale, SAGE_LOG2E);
  const int64_t n = key_length(p, b);
  key_mean(k, n, D, w->mu);
  // the forward's split (same channels from the same K): they leave the INT8 K' and Q (whose
  // scales come from the other channels) and the LSE correction; the score part from the 16-bit
  // q_O, k_O (unsmoothed), dQ's columns from dS K'_O and dK's from dS^T Q_O in 16 bits
  int split[SAGE_SPLIT_MAX];
  const int ns = p->config.sage.split == VDIT_ATTN_SAGE_SPLIT_AUTO ? sage_split_channels(k, n, D, w->mu, split) : 0;
  for (int64_t j = 0; j < Sk; j++)
    for (int c = 0; c < ns; c++) {
      w->ko[j * SM + c] = round_half(half, k[j * D + split[c]]);
      w->kpo[j * SM + c] = round_half(half, VDIT_FSUB(k[j * D + split[c]], w->mu[split[c]]));
    }
  for (int c = 0; c < ns; c++) w->mu[split[c]] = 0.0f;
  for (int64_t j = 0; j < Sk; j++)
    for (int64_t d = 0; d < D; d++) w->kp[j * D + d] = VDIT_FSUB(k[j * D + d], w->mu[d]);
  for (int64_t j = 0; j < Sk; j++)
    for (int c = 0; c < ns; c++) w->kp[j * D + split[c]] = 0.0f;
  quantize_groups(w->kp, Sk, D, (Sk + BN - 1) / BN, 0, GROUP_BWD_K, w->k8, w->ks);
  const float *qi8 = q; // the Q the INT8 codes are made from
  if (ns) {
    memcpy(w->qz, q, (size_t)(Sq * D) * sizeof(float));
    for (int64_t i = 0; i < Sq; i++)
      for (int c = 0; c < ns; c++) {
        w->qo[i * SM + c] = round_half(half, q[i * D + split[c]]);
        w->qz[i * D + split[c]] = 0.0f;
      }
    qi8 = w->qz;
  }
  quantize_groups(qi8, Sq, D, (Sq + BM - 1) / BM, 0, GROUP_BWD_Q, w->q8, w->qs);
  quantize_groups(d_o, Sq, D, (Sq + BM - 1) / BM, 0, GROUP_BWD_Q, w->do8, w->dos);
  for (int64_t i = 0; i < Sq; i++) {
    w->qmu[i] = VDIT_FMUL(p->scale, dot_f32(q + i * D, w->mu, D));
    w->l2[i] = VDIT_FMUL(VDIT_FSUB(lse[i], w->qmu[i]), SAGE_LOG2E);
    w->delta[i] = dot_f32(d_o + i * D, o + i * D, D);
  }
  for (int64_t kb = 0; kb * BN < Sk; kb++) {
    const int64_t j0 = kb * BN, jn = (j0 + BN < Sk ? j0 + BN : Sk) - j0;
    for (int64_t qt = 0; qt * BM < Sq; qt++) {
      const int64_t i0 = qt * BM, in = (i0 + BM < Sq ? i0 + BM : Sq) - i0;
      if (!walk_has(walk, i0 / SAGE_FWD_BM, kb)) continue; // a tile the map leaves out
      const float c = VDIT_FMUL(VDIT_FMUL(w->qs[qt], sl2), w->ks[kb]);
      int any = 0;
      for (int64_t ii = 0; ii < in; ii++) {
        const int64_t i = i0 + ii;
        const int64_t limit = vdit_attn_key_limit(&p->config, b, i, Sq, Sk);
        for (int64_t jj = 0; jj < jn; jj++) {
          const int64_t j = j0 + jj;
          float pv = 0.0f, ds = 0.0f;
          if (j < limit && isfinite(lse[i])) {
            // the GPU's FFMA form of 2^(t - l2), t = dot * c: one FFMA of the exact float of the
            // int32 dot (|dot| < 2^24), attn_sage.h
            const int32_t a = dot_i8(w->q8 + i * D, w->k8 + j * D, D);
            if (ns) // split: the forward's t = fma(float(dot), c, e), then 2^(t - l2)
              pv = exp2f(VDIT_FSUB(fmaf((float)a, c, split_score(w->qo + i * SM, w->ko + j * SM, ns, sl2)), w->l2[i]));
            else pv = exp2f(fmaf((float)a, c, -w->l2[i]));
            const float dp = dot_f32(d_o + i * D, v + j * D, D);
            ds = VDIT_FMUL(pv, VDIT_FSUB(dp, w->delta[i]));
            any = 1;
          }
          w->pt[ii * BN + jj] = pv;
          w->dst[ii * BN + jj] = ds;
        }
      }
      if (!any) continue;
      // per-key scales of P^T and dS^T over the query tile; one scale of dS over the whole tile
      float atile = 0.0f;
      for (int64_t jj = 0; jj < jn; jj++) {
        float ap = 0.0f, ad = 0.0f;
        for (int64_t ii = 0; ii < in; ii++) {
          ap = fmaxf(ap, w->pt[ii * BN + jj]);
          ad = fmaxf(ad, fabsf(w->dst[ii * BN + jj]));
        }
        atile = fmaxf(atile, ad);
        w->sp[jj] = sage_int8_scale(ap);
        w->sdt[jj] = sage_int8_scale(ad);
        const float ip = inv_of(ap), id = inv_of(ad);
        for (int64_t ii = 0; ii < in; ii++) {
          w->p8[jj * BM + ii] = code_inv(w->pt[ii * BN + jj], ip);
          w->ds8t[jj * BM + ii] = code_inv(w->dst[ii * BN + jj], id);
        }
      }
      const float itile = inv_of(atile);
      w->sdq[0] = sage_int8_scale(atile);
      for (int64_t ii = 0; ii < in; ii++)
        for (int64_t jj = 0; jj < jn; jj++) w->ds8q[ii * BN + jj] = code_inv(w->dst[ii * BN + jj], itile);
      // dV += P^T dO, dK' += dS^T Q (int32 over the query tile)
      for (int64_t jj = 0; jj < jn; jj++) {
        const float cv = VDIT_FMUL(w->sp[jj], w->dos[qt]), ck = VDIT_FMUL(w->sdt[jj], w->qs[qt]);
        float *dvj = w->dva + (j0 + jj) * D, *dkj = w->dka + (j0 + jj) * D;
        for (int64_t d = 0; d < D; d++) {
          int32_t av = 0, ak = 0;
          for (int64_t ii = 0; ii < in; ii++) {
            av += (int32_t)w->p8[jj * BM + ii] * (int32_t)w->do8[(i0 + ii) * D + d];
            ak += (int32_t)w->ds8t[jj * BM + ii] * (int32_t)w->q8[(i0 + ii) * D + d];
          }
          dvj[d] = VDIT_FADD(dvj[d], VDIT_FMUL((float)av, cv));
          dkj[d] = VDIT_FADD(dkj[d], VDIT_FMUL((float)ak, ck));
        }
      }
      // dQ += dS K' (int32 over the key block)
      for (int64_t ii = 0; ii < in; ii++) {
        const float cq = VDIT_FMUL(w->sdq[0], w->ks[kb]);
        float *dqi = w->dqa + (i0 + ii) * D;
        for (int64_t d = 0; d < D; d++) {
          int32_t a = 0;
          for (int64_t jj = 0; jj < jn; jj++) a += (int32_t)w->ds8q[ii * BN + jj] * (int32_t)w->k8[(j0 + jj) * D + d];
          dqi[d] = VDIT_FADD(dqi[d], VDIT_FMUL((float)a, cq));
        }
      }
      // split channels (their INT8 codes are 0): dK'_O += dS^T Q_O and dQ_O += dS K'_O with dS
      // rounded to the 16-bit dtype, fp32 sums over the tile (the GPU's bf16 wgmma)
      for (int cc = 0; cc < ns; cc++) {
        const int64_t d = split[cc];
        for (int64_t jj = 0; jj < jn; jj++) {
          float a = 0.0f;
          for (int64_t ii = 0; ii < in; ii++)
            a = VDIT_FADD(a, VDIT_FMUL(round_half(half, w->dst[ii * BN + jj]), w->qo[(i0 + ii) * SM + cc]));
          w->dka[(j0 + jj) * D + d] = VDIT_FADD(w->dka[(j0 + jj) * D + d], a);
        }
        for (int64_t ii = 0; ii < in; ii++) {
          float a = 0.0f;
          for (int64_t jj = 0; jj < jn; jj++)
            a = VDIT_FADD(a, VDIT_FMUL(round_half(half, w->dst[ii * BN + jj]), w->kpo[(j0 + jj) * SM + cc]));
          w->dqa[(i0 + ii) * D + d] = VDIT_FADD(w->dqa[(i0 + ii) * D + d], a);
        }
      }
    }
  }
  for (int64_t i = 0; i < Sq * D; i++) dq[i] = VDIT_FMUL(w->dqa[i], p->scale);
  for (int64_t j = 0; j < Sk * D; j++) dk[j] = VDIT_FMUL(w->dka[j], p->scale);
  for (int64_t j = 0; j < Sk * D; j++) dv[j] = w->dva[j];
  // gradient through mu: dK_j -= mean over keys j < n of dK
  for (int64_t d = 0; d < D && n > 0; d++) {
    double m = 0.0;
    for (int64_t j = 0; j < n; j++) m += dk[j * D + d];
    const float mean = (float)(m / (double)n);
    for (int64_t j = 0; j < n; j++) dk[j * D + d] = VDIT_FSUB(dk[j * D + d], mean);
  }
}

vdit_status vdit_attn_cpu_sage_backward(const vdit_attn_problem *problem, vdit_dtype half, const float *q, const float *k,
                                        const float *v, const float *o, const float *lse, const float *d_o,
                                        float *dq, float *dk, float *dv) {
  const vdit_attn_shape s = problem->shape;
  if (s.head_dim > 256) return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "sage attention: head dim %lld > 256", (long long)s.head_dim);
  if (half != VDIT_DTYPE_F16) half = VDIT_DTYPE_BF16;
  const int64_t heads = s.batch * s.heads;
  const vdit_attn_block_map *map = problem->map;
  if (map && (map->block_q != SAGE_FWD_BM || map->block_k != SAGE_BWD_BN))
    return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "sage attention backward: a block map needs %d x %d blocks (has %d x %d)",
                      SAGE_FWD_BM, SAGE_BWD_BN, map->block_q, map->block_k);
  const int parallel = (double)heads * (double)s.seq_q * (double)s.seq_k * (double)s.head_dim > SAGE_CPU_PARALLEL_MIN;
  int failed = 0;
#pragma omp parallel for schedule(dynamic) reduction(| : failed) if (parallel)
  for (int64_t bh = 0; bh < heads; bh++) {
    sage_bwd_head w;
    if (!bwd_head_alloc(&s, &w)) {
      failed = 1;
      continue;
    }
    const size_t qo = (size_t)(bh * s.seq_q * s.head_dim), ko = (size_t)(bh * s.seq_k * s.head_dim);
    const sage_walk walk = walk_of(map, bh);
    sage_backward_head(problem, &walk, half, bh / s.heads, q + qo, k + ko, v + ko, o + qo, lse + bh * s.seq_q, d_o + qo, dq + qo,
                       dk + ko, dv + ko, &w);
    free(w.block);
  }
  if (failed) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "sage attention: no memory for a head's backward tiles");
  return VDIT_OK;
}
