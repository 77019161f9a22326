// Attention on the CPU, dense and block-sparse: tiled online softmax in fp32 (FlashAttention's
// algorithm in plain C). Arrays are contiguous (B, H, S, D). Inner loops run over a contiguous
// axis (head dim or key column) so the compiler vectorises them without reassociating sums.
// This is the CPU block-sparse executor: with problem->map a query tile visits only the key
// blocks its map row lists (in chunks of up to TILE_K keys), the backward's key tiles only
// the query blocks of the transposed map; without a map every key (dense). Extras
// (attn.h) start each row's softmax state; the PV threshold skips acc += P V for a chunk
// when every row of the query tile trails its running max by more than lambda there.
//
// Forward: per (b, h, query tile of TILE_Q rows), stream key tiles of TILE_K rows:
//   S = scale Q K^T (masked), m' = max(m, rowmax S), P = exp(S - m'),
//   l' = exp(m - m') l + rowsum P, O' = exp(m - m') O + P V;  O = O'/l, LSE = m + log l.
// Backward, two passes that recompute P = exp(scale Q K^T - LSE) tile by tile:
//   pass 1 per key tile:   dV += P^T dO, dK += scale dS^T Q
//   pass 2 per query tile: dQ += scale dS K
//   with dS = P * (dO V^T - delta), delta = rowsum(dO * O). No S x S matrix is stored.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attn/attn_kernels.h"

enum { TILE_Q = 64, TILE_K = 128 };

// Scratch of one thread: tiles sized for head dim D.
typedef struct tile_scratch {
  float *q;      // (TILE_Q, D)
  float *kt;     // (D, TILE_K), the key tile transposed
  float *vt;     // (D, TILE_K), the value tile transposed (backward)
  float *s;      // (TILE_Q, TILE_K) scores, then probabilities
  float *dp;     // (TILE_Q, TILE_K)
  float *acc;    // (TILE_Q, D) output or dQ accumulator
  float *acc2;   // (TILE_K, D) dV accumulator (backward)
  float *acc3;   // (TILE_K, D) dK accumulator (backward)
  float *row_max, *row_sum, *delta; // (TILE_Q)
  int64_t *limit;                    // (TILE_Q)
} tile_scratch;

static int scratch_init(tile_scratch *t, int64_t D) {
  size_t floats = (size_t)(2 * TILE_Q * D + 2 * D * TILE_K + 2 * TILE_Q * TILE_K + 2 * TILE_K * D + 3 * TILE_Q);
  float *block = malloc(floats * sizeof(float));
  t->limit = malloc(TILE_Q * sizeof *t->limit);
  if (!block || !t->limit) {
    free(block);
    free(t->limit);
    return 0;
  }
  t->q = block;
  t->acc = t->q + TILE_Q * D;
  t->kt = t->acc + TILE_Q * D;
  t->vt = t->kt + D * TILE_K;
  t->s = t->vt + D * TILE_K;
  t->dp = t->s + TILE_Q * TILE_K;
  t->acc2 = t->dp + TILE_Q * TILE_K;
  t->acc3 = t->acc2 + TILE_K * D;
  t->row_max = t->acc3 + TILE_K * D;
  t->row_sum = t->row_max + TILE_Q;
  t->delta = t->row_sum + TILE_Q;
  return 1;
}

static void scratch_free(tile_scratch *t) {
  free(t->q);
  free(t->limit);
}

// (rows, D) -> (D, TILE_K) transposed copy, zero-padded past `rows`.
static void load_transposed(float *restrict out, const float *restrict in, int64_t rows, int64_t D) {
  for (int64_t d = 0; d < D; d++) {
    for (int64_t j = 0; j < rows; j++) out[d * TILE_K + j] = in[j * D + d];
    for (int64_t j = rows; j < TILE_K; j++) out[d * TILE_K + j] = 0.0f;
  }
}

// s[i][j] = scale * a[i] . bt[:, j] for i < rows_a, j < TILE_K.
static void scores_tile(float *restrict s, const float *restrict a, const float *restrict bt, int64_t rows_a,
                        int64_t D, float scale) {
  for (int64_t i = 0; i < rows_a; i++) {
    float *restrict si = s + i * TILE_K;
    for (int64_t j = 0; j < TILE_K; j++) si[j] = 0.0f;
    for (int64_t d = 0; d < D; d++) {
      float a_id = a[i * D + d];
      const float *restrict bd = bt + d * TILE_K;
      for (int64_t j = 0; j < TILE_K; j++) si[j] += a_id * bd[j];
    }
    for (int64_t j = 0; j < TILE_K; j++) si[j] *= scale;
  }
}

static int64_t max_limit_of(const int64_t *limit, int64_t rows) {
  int64_t m = 0;
  for (int64_t i = 0; i < rows; i++)
    if (limit[i] > m) m = limit[i];
  return m;
}

// Query tiles: each lies in one query block (map row) of the map, or TILE_Q rows without one.
typedef struct tile_grid {
  int64_t per_block;   // tiles per query block
  int64_t block_rows;  // rows per query block
  int64_t blocks;      // query blocks per (b, h)
} tile_grid;

static tile_grid query_tiles(const vdit_attn_problem *problem) {
  const vdit_attn_shape s = problem->shape;
  tile_grid g;
  g.block_rows = problem->map ? problem->map->block_q : TILE_Q;
  g.per_block = (g.block_rows + TILE_Q - 1) / TILE_Q;
  g.blocks = (s.seq_q + g.block_rows - 1) / g.block_rows;
  return g;
}

// Key ranges [begin, end) of query block `qb` of (b, h): the listed blocks, or one range of all keys.
typedef struct key_list {
  const int32_t *blocks;
  int32_t count;
  int64_t block_k;
} key_list;

static key_list keys_of(const vdit_attn_block_map *map, int64_t bh, int64_t row_block, int64_t seq) {
  key_list list = {NULL, 1, seq};
  if (!map) return list;
  const int64_t r = bh * map->q_blocks + row_block;
  list.blocks = map->col_index + map->row_offsets[r];
  list.count = map->row_offsets[r + 1] - map->row_offsets[r];
  list.block_k = map->block_k;
  return list;
}

static void key_range(const key_list *list, int32_t e, int64_t *begin, int64_t *end) {
  const int64_t block = list->blocks ? list->blocks[e] : 0;
  *begin = block * list->block_k;
  *end = *begin + list->block_k;
}

vdit_status vdit_attn_cpu_dense_forward(const vdit_attn_problem *problem, const float *q, const float *k,
                                        const float *v, float *o, float *lse) {
  const vdit_attn_shape s = problem->shape;
  const int64_t D = s.head_dim;
  const tile_grid grid = query_tiles(problem);
  const vdit_attn_softmax_extras extras = problem->extras;
  const float lambda = extras.pv_threshold;
  int failed = 0;
#pragma omp parallel reduction(| : failed)
  {
    tile_scratch t;
    int ok = scratch_init(&t, D);
    failed |= !ok;
#pragma omp for collapse(3) schedule(dynamic)
    for (int64_t b = 0; b < s.batch; b++)
      for (int64_t h = 0; h < s.heads; h++)
        for (int64_t tile = 0; tile < grid.blocks * grid.per_block; tile++) {
          const int64_t bh = b * s.heads + h, qb = tile / grid.per_block;
          const int64_t i0 = qb * grid.block_rows + (tile % grid.per_block) * TILE_Q;
          const int64_t block_end = (qb + 1) * grid.block_rows < s.seq_q ? (qb + 1) * grid.block_rows : s.seq_q;
          if (!ok || i0 >= block_end) continue;
          const int64_t rows = block_end - i0 < TILE_Q ? block_end - i0 : TILE_Q;
          float *o_tile = o + (bh * s.seq_q + i0) * D;
          float *lse_tile = lse + bh * s.seq_q + i0;
          memcpy(t.q, q + (bh * s.seq_q + i0) * D, (size_t)(rows * D) * sizeof(float));
          for (int64_t i = 0; i < rows; i++) {
            t.limit[i] = vdit_attn_key_limit(&problem->config, b, i0 + i, s.seq_q, s.seq_k);
            const int64_t row = bh * s.seq_q + i0 + i;
            const int extra = extras.row_sum && extras.row_sum[row] > 0.0f;
            t.row_max[i] = extra ? extras.row_max[row] : -INFINITY;
            t.row_sum[i] = extra ? extras.row_sum[row] : 0.0f;
            for (int64_t d = 0; d < D; d++) t.acc[i * D + d] = extra ? extras.numerator[row * D + d] : 0.0f;
          }
          const int64_t key_end = max_limit_of(t.limit, rows);
          const float *kh = k + bh * s.seq_k * D, *vh = v + bh * s.seq_k * D;
          const key_list list = keys_of(problem->map, bh, qb, s.seq_k);
          for (int32_t e = 0; e < list.count; e++) {
            int64_t range_begin, range_end;
            key_range(&list, e, &range_begin, &range_end);
            if (range_end > key_end) range_end = key_end;
            for (int64_t j0 = range_begin; j0 < range_end; j0 += TILE_K) {
              const int64_t cols = range_end - j0 < TILE_K ? range_end - j0 : TILE_K;
              load_transposed(t.kt, kh + j0 * D, cols, D);
              scores_tile(t.s, t.q, t.kt, rows, D, problem->scale);
              // PV skip: every row's chunk max trails its running max by more than lambda
              int skip_pv = lambda > 0.0f;
              for (int64_t i = 0; i < rows && skip_pv; i++) {
                const int64_t valid = t.limit[i] - j0 < cols ? t.limit[i] - j0 : cols;
                float tile_max = -INFINITY;
                for (int64_t j = 0; j < valid; j++) tile_max = t.s[i * TILE_K + j] > tile_max ? t.s[i * TILE_K + j] : tile_max;
                if (tile_max > -INFINITY && !(t.row_max[i] - tile_max > lambda)) skip_pv = 0;
              }
              for (int64_t i = 0; i < rows; i++) {
                float *restrict si = t.s + i * TILE_K;
                const int64_t valid = t.limit[i] - j0 < cols ? t.limit[i] - j0 : cols;
                if (valid <= 0) continue;
                float tile_max = -INFINITY;
                for (int64_t j = 0; j < valid; j++) tile_max = si[j] > tile_max ? si[j] : tile_max;
                const float new_max = tile_max > t.row_max[i] ? tile_max : t.row_max[i];
                if (new_max == -INFINITY) continue; // nothing seen yet (all scores -inf cannot happen for finite inputs)
                const float correction = expf(t.row_max[i] - new_max); // 0 on the first tile
                float sum = 0.0f;
                for (int64_t j = 0; j < valid; j++) sum += (si[j] = expf(si[j] - new_max));
                t.row_sum[i] = t.row_sum[i] * correction + sum;
                t.row_max[i] = new_max;
                if (skip_pv) continue; // then new_max is the old max and correction 1
                float *restrict acc_i = t.acc + i * D;
                for (int64_t d = 0; d < D; d++) acc_i[d] *= correction;
                for (int64_t j = 0; j < valid; j++) {
                  const float p = si[j];
                  const float *restrict vj = vh + (j0 + j) * D;
                  for (int64_t d = 0; d < D; d++) acc_i[d] += p * vj[d];
                }
              }
            }
          }
          for (int64_t i = 0; i < rows; i++) {
            const float inverse = t.row_sum[i] > 0.0f ? 1.0f / t.row_sum[i] : 0.0f;
            for (int64_t d = 0; d < D; d++) o_tile[i * D + d] = t.acc[i * D + d] * inverse;
            lse_tile[i] = t.row_sum[i] > 0.0f ? t.row_max[i] + logf(t.row_sum[i]) : -INFINITY;
          }
        }
    if (ok) scratch_free(&t);
  }
  return failed ? VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "attention forward: no memory for tile scratch") : VDIT_OK;
}

// P and dS for one (query tile, key tile) pair; returns 0 when no query row sees the tile.
// On return t->s holds P and t->dp holds scale * dS (rows < q_rows, cols < TILE_K).
static int probabilities_and_ds(tile_scratch *t, const float *q_tile, const float *do_tile,
                                const float *lse_tile, int64_t q_rows, int64_t j0, int64_t cols,
                                int64_t D, float scale) {
  int any = 0;
  for (int64_t i = 0; i < q_rows; i++) any |= t->limit[i] > j0;
  if (!any) return 0;
  scores_tile(t->s, q_tile, t->kt, q_rows, D, scale);
  scores_tile(t->dp, do_tile, t->vt, q_rows, D, 1.0f);
  for (int64_t i = 0; i < q_rows; i++) {
    float *restrict si = t->s + i * TILE_K, *restrict dpi = t->dp + i * TILE_K;
    const int64_t valid = t->limit[i] - j0 < cols ? t->limit[i] - j0 : cols;
    const float row_lse = lse_tile[i];
    for (int64_t j = 0; j < TILE_K; j++) {
      const float p = (j < valid && row_lse > -INFINITY) ? expf(si[j] - row_lse) : 0.0f;
      si[j] = p;
      dpi[j] = p * (dpi[j] - t->delta[i]) * scale;
    }
  }
  return 1;
}

vdit_status vdit_attn_cpu_dense_backward(const vdit_attn_problem *problem, const float *q, const float *k,
                                         const float *v, const float *o, const float *lse, const float *d_o,
                                         float *dq, float *dk, float *dv) {
  const vdit_attn_shape s = problem->shape;
  const int64_t D = s.head_dim;
  const float scale = problem->scale;
  const tile_grid qgrid = query_tiles(problem);
  // key tiles: each inside one key block of the map (rows of the transposed map)
  const vdit_attn_block_map *map_t = problem->map_t;
  if (problem->map && !map_t)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "attention backward: a block map needs its transpose");
  const int64_t kblock_rows = map_t ? map_t->block_q : TILE_K;
  const int64_t k_per_block = (kblock_rows + TILE_K - 1) / TILE_K;
  const int64_t k_blocks = (s.seq_k + kblock_rows - 1) / kblock_rows;
  // delta = rowsum(dO * O), (B, H, Sq)
  float *delta = malloc((size_t)(s.batch * s.heads * s.seq_q + 1) * sizeof *delta);
  if (!delta) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "attention backward: no memory for rowsum(dO * O)");
  int failed = 0;
#pragma omp parallel for schedule(static)
  for (int64_t row = 0; row < s.batch * s.heads * s.seq_q; row++) {
    float sum = 0.0f;
    for (int64_t d = 0; d < D; d++) sum += d_o[row * D + d] * o[row * D + d];
    delta[row] = sum;
  }
#pragma omp parallel reduction(| : failed)
  {
    tile_scratch t;
    int ok = scratch_init(&t, D);
    failed |= !ok;
    // Pass 1: dK and dV, one key tile per task.
#pragma omp for collapse(3) schedule(dynamic)
    for (int64_t b = 0; b < s.batch; b++)
      for (int64_t h = 0; h < s.heads; h++)
        for (int64_t ktile = 0; ktile < k_blocks * k_per_block; ktile++) {
          const int64_t bh = b * s.heads + h, kb = ktile / k_per_block;
          const int64_t j0 = kb * kblock_rows + (ktile % k_per_block) * TILE_K;
          const int64_t kblock_end = (kb + 1) * kblock_rows < s.seq_k ? (kb + 1) * kblock_rows : s.seq_k;
          if (!ok || j0 >= kblock_end) continue;
          const int64_t cols = kblock_end - j0 < TILE_K ? kblock_end - j0 : TILE_K;
          float *dk_tile = dk + (bh * s.seq_k + j0) * D, *dv_tile = dv + (bh * s.seq_k + j0) * D;
          load_transposed(t.kt, k + (bh * s.seq_k + j0) * D, cols, D);
          load_transposed(t.vt, v + (bh * s.seq_k + j0) * D, cols, D);
          memset(t.acc2, 0, (size_t)(cols * D) * sizeof(float));
          memset(t.acc3, 0, (size_t)(cols * D) * sizeof(float));
          // the query blocks that list this key block (all query tiles without a map)
          const key_list blocks = keys_of(map_t, bh, kb, qgrid.blocks);
          for (int32_t e = 0; e < blocks.count; e++) {
            const int64_t qb_first = blocks.blocks ? blocks.blocks[e] : 0;
            const int64_t qb_last = blocks.blocks ? qb_first + 1 : qgrid.blocks;
            for (int64_t qtile = qb_first * qgrid.per_block; qtile < qb_last * qgrid.per_block; qtile++) {
              const int64_t qb = qtile / qgrid.per_block;
              const int64_t i0 = qb * qgrid.block_rows + (qtile % qgrid.per_block) * TILE_Q;
              const int64_t block_end = (qb + 1) * qgrid.block_rows < s.seq_q ? (qb + 1) * qgrid.block_rows : s.seq_q;
              if (i0 >= block_end) continue;
              const int64_t rows = block_end - i0 < TILE_Q ? block_end - i0 : TILE_Q;
              for (int64_t i = 0; i < rows; i++) {
                t.limit[i] = vdit_attn_key_limit(&problem->config, b, i0 + i, s.seq_q, s.seq_k);
                t.delta[i] = delta[bh * s.seq_q + i0 + i];
              }
              const float *q_tile = q + (bh * s.seq_q + i0) * D, *do_tile = d_o + (bh * s.seq_q + i0) * D;
              if (!probabilities_and_ds(&t, q_tile, do_tile, lse + bh * s.seq_q + i0, rows, j0, cols, D, scale))
                continue;
              for (int64_t i = 0; i < rows; i++) {
                const float *restrict doi = do_tile + i * D, *restrict qi = q_tile + i * D;
                for (int64_t j = 0; j < cols; j++) {
                  const float p = t.s[i * TILE_K + j], ds = t.dp[i * TILE_K + j];
                  float *restrict dvj = t.acc2 + j * D, *restrict dkj = t.acc3 + j * D;
                  for (int64_t d = 0; d < D; d++) {
                    dvj[d] += p * doi[d];
                    dkj[d] += ds * qi[d];
                  }
                }
              }
            }
          }
          memcpy(dv_tile, t.acc2, (size_t)(cols * D) * sizeof(float));
          memcpy(dk_tile, t.acc3, (size_t)(cols * D) * sizeof(float));
        }
    // Pass 2: dQ, one query tile per task.
#pragma omp for collapse(3) schedule(dynamic)
    for (int64_t b = 0; b < s.batch; b++)
      for (int64_t h = 0; h < s.heads; h++)
        for (int64_t qtile = 0; qtile < qgrid.blocks * qgrid.per_block; qtile++) {
          const int64_t bh = b * s.heads + h, qb = qtile / qgrid.per_block;
          const int64_t i0 = qb * qgrid.block_rows + (qtile % qgrid.per_block) * TILE_Q;
          const int64_t block_end = (qb + 1) * qgrid.block_rows < s.seq_q ? (qb + 1) * qgrid.block_rows : s.seq_q;
          if (!ok || i0 >= block_end) continue;
          const int64_t rows = block_end - i0 < TILE_Q ? block_end - i0 : TILE_Q;
          float *dq_tile = dq + (bh * s.seq_q + i0) * D;
          for (int64_t i = 0; i < rows; i++) {
            t.limit[i] = vdit_attn_key_limit(&problem->config, b, i0 + i, s.seq_q, s.seq_k);
            t.delta[i] = delta[bh * s.seq_q + i0 + i];
          }
          memset(t.acc, 0, (size_t)(rows * D) * sizeof(float));
          const int64_t key_end = max_limit_of(t.limit, rows);
          const float *q_tile = q + (bh * s.seq_q + i0) * D, *do_tile = d_o + (bh * s.seq_q + i0) * D;
          const key_list list = keys_of(problem->map, bh, qb, s.seq_k);
          for (int32_t e = 0; e < list.count; e++) {
            int64_t range_begin, range_end;
            key_range(&list, e, &range_begin, &range_end);
            if (range_end > key_end) range_end = key_end;
            for (int64_t j0 = range_begin; j0 < range_end; j0 += TILE_K) {
              const int64_t cols = range_end - j0 < TILE_K ? range_end - j0 : TILE_K;
              load_transposed(t.kt, k + (bh * s.seq_k + j0) * D, cols, D);
              load_transposed(t.vt, v + (bh * s.seq_k + j0) * D, cols, D);
              if (!probabilities_and_ds(&t, q_tile, do_tile, lse + bh * s.seq_q + i0, rows, j0, cols, D, scale))
                continue;
              for (int64_t i = 0; i < rows; i++) {
                float *restrict dqi = t.acc + i * D;
                for (int64_t j = 0; j < cols; j++) {
                  const float ds = t.dp[i * TILE_K + j];
                  const float *restrict kj = k + (bh * s.seq_k + j0 + j) * D;
                  for (int64_t d = 0; d < D; d++) dqi[d] += ds * kj[d];
                }
              }
            }
          }
          memcpy(dq_tile, t.acc, (size_t)(rows * D) * sizeof(float));
        }
    if (ok) scratch_free(&t);
  }
  free(delta);
  return failed ? VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "attention backward: no memory for tile scratch") : VDIT_OK;
}
