// fp64 reference of clustered attention for a given routing (cluster.h): written from the
// definition, per token, without the method's fragments, tiles-as-units or online softmax.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attn/cluster.h"

typedef struct slice_view {
  int32_t *pos_q, *pos_k;   // inverse permutations: new position of each original token
  unsigned char *tiles;     // (q_tiles, k_tiles): 1 = computed exactly
  double *kbar, *vbar;      // (Sk, D) per key token: its cluster's means (fp64)
  int32_t q_tiles, k_tiles;
} slice_view;

static void slice_free(slice_view *v) {
  free(v->pos_q), free(v->pos_k), free(v->tiles), free(v->kbar), free(v->vbar);
}

static int slice_init(slice_view *sv, const vdit_attn_cluster_routing *r, int64_t bh, int64_t D, const double *k,
                      const double *v) {
  const int64_t Sq = r->seq_q, Sk = r->seq_k;
  sv->q_tiles = r->map.q_blocks, sv->k_tiles = r->map.k_blocks;
  sv->pos_q = malloc((size_t)Sq * 4);
  sv->pos_k = malloc((size_t)Sk * 4);
  sv->tiles = calloc((size_t)(sv->q_tiles * sv->k_tiles) + 1, 1);
  sv->kbar = calloc((size_t)(Sk * D), sizeof(double));
  sv->vbar = calloc((size_t)(Sk * D), sizeof(double));
  double *sum_k = calloc((size_t)(Sk * D), sizeof(double)), *sum_v = calloc((size_t)(Sk * D), sizeof(double));
  int64_t *count = calloc((size_t)Sk, sizeof(int64_t));
  const int ok = sv->pos_q && sv->pos_k && sv->tiles && sv->kbar && sv->vbar && sum_k && sum_v && count;
  if (ok) {
    for (int64_t p = 0; p < Sq; p++) sv->pos_q[r->q_perm[bh * Sq + p]] = (int32_t)p;
    for (int64_t p = 0; p < Sk; p++) sv->pos_k[r->k_perm[bh * Sk + p]] = (int32_t)p;
    for (int32_t i = 0; i < sv->q_tiles; i++) {
      const int64_t row = bh * sv->q_tiles + i;
      for (int32_t e = r->map.row_offsets[row]; e < r->map.row_offsets[row + 1]; e++)
        sv->tiles[(int64_t)i * sv->k_tiles + r->map.col_index[e]] = 1;
    }
    const int32_t *assign = r->k_assign + bh * Sk;
    for (int64_t j = 0; j < Sk; j++) {
      count[assign[j]]++;
      for (int64_t d = 0; d < D; d++) {
        sum_k[assign[j] * D + d] += k[j * D + d];
        sum_v[assign[j] * D + d] += v[j * D + d];
      }
    }
    for (int64_t j = 0; j < Sk; j++)
      for (int64_t d = 0; d < D; d++) {
        sv->kbar[j * D + d] = sum_k[assign[j] * D + d] / (double)count[assign[j]];
        sv->vbar[j * D + d] = sum_v[assign[j] * D + d] / (double)count[assign[j]];
      }
  }
  free(sum_k), free(sum_v), free(count);
  return ok;
}

static int exact_pair(const slice_view *sv, int64_t i, int64_t j) {
  return sv->tiles[(int64_t)(sv->pos_q[i] / VDIT_ATTN_CLUSTER_TILE) * sv->k_tiles + sv->pos_k[j] / VDIT_ATTN_CLUSTER_TILE];
}

static double dot(const double *a, const double *b, int64_t D) {
  double s = 0;
  for (int64_t d = 0; d < D; d++) s += a[d] * b[d];
  return s;
}

vdit_status vdit_attn_cluster_reference_forward(const vdit_attn_problem *problem, const vdit_attn_cluster_routing *routing,
                                                int all_centroid, const double *q, const double *k, const double *v,
                                                double *o, double *lse) {
  const vdit_attn_shape s = problem->shape;
  const int64_t D = s.head_dim, BH = s.batch * s.heads;
  int failed = 0;
#pragma omp parallel for schedule(dynamic) reduction(| : failed)
  for (int64_t bh = 0; bh < BH; bh++) {
    slice_view sv;
    memset(&sv, 0, sizeof sv);
    const double *kh = k + bh * s.seq_k * D, *vh = v + bh * s.seq_k * D;
    double *score = malloc((size_t)s.seq_k * sizeof *score);
    unsigned char *exact = malloc((size_t)s.seq_k);
    if (!score || !exact || !slice_init(&sv, routing, bh, D, kh, vh)) {
      free(score), free(exact), slice_free(&sv);
      failed = 1;
      continue;
    }
    for (int64_t i = 0; i < s.seq_q; i++) {
      const double *qi = q + (bh * s.seq_q + i) * D;
      double *oi = o + (bh * s.seq_q + i) * D;
      double m = -INFINITY;
      for (int64_t j = 0; j < s.seq_k; j++) {
        exact[j] = !all_centroid && exact_pair(&sv, i, j);
        score[j] = dot(qi, exact[j] ? kh + j * D : sv.kbar + j * D, D) * (double)problem->scale;
        if (score[j] > m) m = score[j];
      }
      double z = 0;
      for (int64_t d = 0; d < D; d++) oi[d] = 0;
      for (int64_t j = 0; j < s.seq_k; j++) {
        const double w = exp(score[j] - m);
        const double *vj = exact[j] ? vh + j * D : sv.vbar + j * D;
        z += w;
        for (int64_t d = 0; d < D; d++) oi[d] += w * vj[d];
      }
      for (int64_t d = 0; d < D; d++) oi[d] /= z;
      lse[bh * s.seq_q + i] = m + log(z);
    }
    free(score), free(exact), slice_free(&sv);
  }
  return failed ? VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "clustered reference: no memory") : VDIT_OK;
}

vdit_status vdit_attn_cluster_reference_backward(const vdit_attn_problem *problem, const vdit_attn_cluster_routing *routing,
                                                 const double *q, const double *k, const double *v, const double *o,
                                                 const double *lse, const double *d_o, double *dq, double *dk, double *dv) {
  const vdit_attn_shape s = problem->shape;
  const int64_t D = s.head_dim, BH = s.batch * s.heads;
  const double scale = problem->scale;
  int failed = 0;
#pragma omp parallel for schedule(dynamic) reduction(| : failed)
  for (int64_t bh = 0; bh < BH; bh++) {
    slice_view sv;
    memset(&sv, 0, sizeof sv);
    const double *qh = q + bh * s.seq_q * D, *kh = k + bh * s.seq_k * D, *vh = v + bh * s.seq_k * D;
    double *dqh = dq + bh * s.seq_q * D, *dkh = dk + bh * s.seq_k * D, *dvh = dv + bh * s.seq_k * D;
    if (!slice_init(&sv, routing, bh, D, kh, vh)) {
      slice_free(&sv);
      failed = 1;
      continue;
    }
    memset(dqh, 0, (size_t)(s.seq_q * D) * sizeof *dqh);
    memset(dkh, 0, (size_t)(s.seq_k * D) * sizeof *dkh);
    memset(dvh, 0, (size_t)(s.seq_k * D) * sizeof *dvh);
    for (int64_t i = 0; i < s.seq_q; i++) {
      const double *qi = qh + i * D, *doi = d_o + (bh * s.seq_q + i) * D;
      const double delta = dot(doi, o + (bh * s.seq_q + i) * D, D), l = lse[bh * s.seq_q + i];
      for (int64_t j = 0; j < s.seq_k; j++) {
        if (!exact_pair(&sv, i, j)) continue;
        const double p = exp(dot(qi, kh + j * D, D) * scale - l);
        const double ds = p * (dot(doi, vh + j * D, D) - delta);
        for (int64_t d = 0; d < D; d++) {
          dvh[j * D + d] += p * doi[d];
          dqh[i * D + d] += scale * ds * kh[j * D + d];
          dkh[j * D + d] += scale * ds * qi[d];
        }
      }
    }
    slice_free(&sv);
  }
  return failed ? VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "clustered reference: no memory") : VDIT_OK;
}
