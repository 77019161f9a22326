// SpargeAttention2's block masks on the CPU: the specification of the prediction, which the
// CUDA kernels (cuda/sparge_mask.cu) reproduce bit for bit (sparge_exact.h gives the order of
// every sum). Per (batch, head), with blocks of the map's sizes:
//  1. block sums of Q and K (slot order), K's global mean (block sums in order / Sk);
//     K is smoothed: its block means and tokens have the global mean subtracted (a per-row
//     constant in the scores, so the softmax is unchanged, but the cosines become meaningful);
//  2. self-similarity of each block: the mean over its tokens of cos(x_t, mean of the block);
//  3. pooled scores s_ij = scale * qmean_i . kmean_j;
//  4. per query block i: if sim_q(i) < theta every key block is computed; otherwise key
//     blocks with sim_k(j) < theta (and block 0 with the sink) are always computed, and the
//     others are ranked by s_ij (descending, ties to the lower j): Top-k keeps the first
//     ceil(topk * k_blocks), Top-p the fewest whose pooled softmax mass (exp(s - max), summed
//     in rank order) reaches topp of the candidates' total, the hybrid the longer prefix.
#include <stdlib.h>
#include <string.h>

#include "attn/attn_kernels.h"
#include "attn/sparge_exact.h"

// a . b in sparge_exact.h's order (chunks of 8 channels, then a pairwise tree); D <= 8 * 64
static float sparge_dot(const float *a, const float *b, int64_t D) {
  float part[64];
  const int chunks = sparge_chunks(D);
  for (int c = 0; c < chunks; c++) {
    part[c] = 0.0f;
    for (int64_t d = 8 * (int64_t)c; d < 8 * (int64_t)c + 8 && d < D; d++) part[c] = VDIT_FADD(part[c], VDIT_FMUL(a[d], b[d]));
  }
  return sparge_tree(part, chunks);
}

// Per-channel sums of rows t0 .. t1 - 1 of x (rows, D) in slot order (sparge_exact.h).
static void block_sum(const float *x, int64_t D, int64_t t0, int64_t t1, float *sum) {
  for (int64_t d = 0; d < D; d++) {
    float slot[SPARGE_SLOTS];
    for (int r = 0; r < SPARGE_SLOTS; r++) {
      slot[r] = 0.0f;
      for (int64_t t = t0 + r; t < t1; t += SPARGE_SLOTS) slot[r] = VDIT_FADD(slot[r], x[t * D + d]);
    }
    sum[d] = sparge_tree(slot, SPARGE_SLOTS);
  }
}

typedef struct ranked_block {
  float score;
  int32_t index;
} ranked_block;

static int compare_ranked(const void *pa, const void *pb) {
  const ranked_block *a = pa, *b = pb;
  if (a->score != b->score) return a->score > b->score ? -1 : 1;
  return (a->index > b->index) - (a->index < b->index);
}

// Means (block sums / n, K smoothed by `shift`) and self-similarities of `blocks` blocks of
// `rows` rows of x (rows, D); `mean` holds the block sums on entry.
static void block_stats(const float *x, int64_t rows, int64_t D, int32_t block, int32_t blocks, const float *shift,
                        float *mean, float *sim, float *token) {
  for (int32_t i = 0; i < blocks; i++) {
    const int64_t t0 = (int64_t)i * block, t1 = t0 + block < rows ? t0 + block : rows;
    float *m = mean + (int64_t)i * D;
    for (int64_t d = 0; d < D; d++) {
      m[d] = VDIT_FDIV(m[d], (float)(t1 - t0));
      if (shift) m[d] = VDIT_FSUB(m[d], shift[d]);
    }
    const float norm2_mean = sparge_dot(m, m, D);
    float slot[SPARGE_SLOTS] = {0};
    for (int64_t t = t0; t < t1; t++) {
      for (int64_t d = 0; d < D; d++) token[d] = shift ? VDIT_FSUB(x[t * D + d], shift[d]) : x[t * D + d];
      const float cosine = sparge_cosine(sparge_dot(token, m, D), sparge_dot(token, token, D), norm2_mean);
      slot[(t - t0) % SPARGE_SLOTS] = VDIT_FADD(slot[(t - t0) % SPARGE_SLOTS], cosine);
    }
    sim[i] = VDIT_FDIV(sparge_tree(slot, SPARGE_SLOTS), (float)(t1 - t0));
  }
}

vdit_status vdit_attn_sparge_predict_cpu(const vdit_attn_problem *problem, const vdit_attn_sparge_config *sparge,
                                         const float *q, const float *k, vdit_attn_block_map *map) {
  const vdit_attn_shape s = problem->shape;
  const int64_t D = s.head_dim, BH = s.batch * s.heads;
  const int32_t nq = map->q_blocks, nk = map->k_blocks;
  if (D > 8 * 64) return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "sparge: head dim %lld > 512", (long long)D);
  unsigned char *selected = malloc((size_t)(BH * nq * nk) + 1);
  if (!selected) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "sparge: no memory for the block mask");
  int failed = 0;
#pragma omp parallel for schedule(dynamic) reduction(| : failed)
  for (int64_t bh = 0; bh < BH; bh++) {
    const int64_t h = bh % s.heads;
    const vdit_attn_sparge_head p = sparge->per_head ? sparge->per_head[h] : sparge->params;
    const float *qh = q + bh * s.seq_q * D, *kh = k + bh * s.seq_k * D;
    float *work = malloc((size_t)((nq + nk) * D + nq + nk + 2 * D + 2) * sizeof(float));
    ranked_block *ranked = malloc((size_t)(nk + 1) * sizeof *ranked);
    float *cum = malloc((size_t)(nk + 1) * sizeof *cum);
    if (!work || !ranked || !cum) {
      free(work);
      free(ranked);
      free(cum);
      failed = 1;
      continue;
    }
    float *qmean = work, *kmean = qmean + nq * D, *qsim = kmean + nk * D, *ksim = qsim + nq, *kglobal = ksim + nk,
          *token = kglobal + D;
    // block sums (into the means), then K's global mean from its block sums in block order
    for (int32_t i = 0; i < nq; i++) {
      const int64_t t0 = (int64_t)i * map->block_q, t1 = t0 + map->block_q < s.seq_q ? t0 + map->block_q : s.seq_q;
      block_sum(qh, D, t0, t1, qmean + (int64_t)i * D);
    }
    for (int32_t j = 0; j < nk; j++) {
      const int64_t t0 = (int64_t)j * map->block_k, t1 = t0 + map->block_k < s.seq_k ? t0 + map->block_k : s.seq_k;
      block_sum(kh, D, t0, t1, kmean + (int64_t)j * D);
    }
    for (int64_t d = 0; d < D; d++) {
      float total = 0.0f;
      for (int32_t j = 0; j < nk; j++) total = VDIT_FADD(total, kmean[(int64_t)j * D + d]);
      kglobal[d] = VDIT_FDIV(total, (float)s.seq_k);
    }
    block_stats(qh, s.seq_q, D, map->block_q, nq, NULL, qmean, qsim, token);
    block_stats(kh, s.seq_k, D, map->block_k, nk, kglobal, kmean, ksim, token);
    for (int32_t i = 0; i < nq; i++) {
      unsigned char *sel = selected + (bh * nq + i) * nk;
      if (qsim[i] < p.theta) {
        memset(sel, 1, (size_t)nk);
        continue;
      }
      int32_t n = 0;
      for (int32_t j = 0; j < nk; j++) {
        sel[j] = ksim[j] < p.theta || (sparge->sink && j == 0);
        if (sel[j]) continue;
        ranked[n].score = VDIT_FMUL(sparge_dot(qmean + (int64_t)i * D, kmean + (int64_t)j * D, D), problem->scale);
        ranked[n++].index = j;
      }
      qsort(ranked, (size_t)n, sizeof *ranked, compare_ranked);
      int32_t keep = sparge->rule != VDIT_ATTN_SPARGE_TOPP ? sparge_topk_count(p.topk, nk) : 0;
      if (sparge->rule != VDIT_ATTN_SPARGE_TOPK && p.topp > 0.0f && n > 0) {
        float total = 0.0f;
        for (int32_t c = 0; c < n; c++) cum[c] = total = VDIT_FADD(total, sparge_exp(VDIT_FSUB(ranked[c].score, ranked[0].score)));
        const float target = VDIT_FMUL(p.topp, total);
        int32_t c = 0;
        while (c < n - 1 && cum[c] < target) c++;
        if (c + 1 > keep) keep = c + 1;
      }
      if (keep > n) keep = n;
      for (int32_t c = 0; c < keep; c++) sel[ranked[c].index] = 1;
    }
    free(work);
    free(ranked);
    free(cum);
  }
  if (failed) {
    free(selected);
    return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "sparge: no memory for the pooled statistics");
  }
  int64_t used = 0;
  for (int64_t r = 0; r < BH * nq; r++) {
    map->row_offsets[r] = (int32_t)used;
    for (int32_t j = 0; j < nk; j++)
      if (selected[r * nk + j]) map->col_index[used++] = j;
  }
  map->row_offsets[BH * nq] = (int32_t)used;
  free(selected);
  return VDIT_OK;
}

vdit_status vdit_attn_sparge_calibrate(const vdit_attn_problem *problem, vdit_attn_sparge_config *sparge, const float *q,
                                       const float *k, int32_t block_q, int32_t block_k, double target_sparsity,
                                       double *achieved) {
  if (!(target_sparsity >= 0.0 && target_sparsity <= 1.0))
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "sparge: target sparsity %g outside [0, 1]", target_sparsity);
  const vdit_attn_shape s = problem->shape;
  vdit_attn_block_map map;
  VDIT_TRY(vdit_attn_block_map_alloc(&map, VDIT_CPU, s.batch, s.heads, s.seq_q, s.seq_k, block_q, block_k));
  const float density = (float)(1.0 - target_sparsity);
  vdit_status status = VDIT_OK;
  double sparsity = 0.0;
  if (sparge->rule == VDIT_ATTN_SPARGE_TOPK) {
    sparge->params.topk = density;
    sparge->params.topp = 0.0f;
  } else {
    // the hybrid keeps a Top-k floor of half the density; Top-p's p is bisected so that
    // the blocks kept over all rows match the target
    sparge->params.topk = sparge->rule == VDIT_ATTN_SPARGE_HYBRID ? 0.5f * density : 0.0f;
    float lo = 0.0f, hi = 1.0f;
    for (int it = 0; it < 30 && status == VDIT_OK; it++) {
      sparge->params.topp = 0.5f * (lo + hi);
      status = vdit_attn_sparge_predict_cpu(problem, sparge, q, k, &map);
      if (status == VDIT_OK) status = vdit_attn_block_map_count(&map, NULL, &sparsity);
      if (sparsity > target_sparsity) lo = sparge->params.topp;
      else hi = sparge->params.topp;
    }
    sparge->params.topp = hi; // the smallest p found with sparsity <= target
  }
  if (status == VDIT_OK) status = vdit_attn_sparge_predict_cpu(problem, sparge, q, k, &map);
  if (status == VDIT_OK) status = vdit_attn_block_map_count(&map, NULL, &sparsity);
  if (achieved) *achieved = sparsity;
  vdit_attn_block_map_free(&map);
  return status;
}
