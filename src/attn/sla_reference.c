// fp64 reference of SLA2 (attn_kernels.h): the definition written out per query row, with sums
// over tokens (never the per-block H_J, z_J the kernels use), on a host block map. The
// router's relaxation, with tile_weight = e^(s - s0) (1 at the current scores): the sparse
// weight c_IJ = tile_weight of a kept block, tile_weight - 1 of a block left out; every key
// enters the sparse softmax with weight c (the max subtracted is over the kept keys) and the
// linear branch with weight 1 - c. A row whose query block keeps every key block has O_l = 0.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attn/attn_kernels.h"

void vdit_attn_sla_phi_f64(vdit_attn_sla_feature feature, const double *x, int64_t n, double *y) {
  if (feature == VDIT_ATTN_SLA_ELU) {
    for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] + 1.0 : exp(x[i]);
    return;
  }
  double m = -INFINITY, sum = 0.0;
  for (int64_t i = 0; i < n; i++) m = x[i] > m ? x[i] : m;
  for (int64_t i = 0; i < n; i++) sum += (y[i] = exp(x[i] - m));
  for (int64_t i = 0; i < n; i++) y[i] /= sum;
}

void vdit_attn_sla_phi_backward_f64(vdit_attn_sla_feature feature, const double *x, const double *y, const double *dy,
                                    int64_t n, double *dx) {
  if (feature == VDIT_ATTN_SLA_ELU) {
    for (int64_t i = 0; i < n; i++) dx[i] = x[i] > 0 ? dy[i] : dy[i] * y[i];
    return;
  }
  double dot = 0.0;
  for (int64_t i = 0; i < n; i++) dot += y[i] * dy[i];
  for (int64_t i = 0; i < n; i++) dx[i] = y[i] * (dy[i] - dot);
}

// Block means (nb, D) and projections (nb, D_r) of x (seq, D).
static void features(const double *x, int64_t seq, int64_t D, int64_t block, int64_t nb, const double *w, int64_t Dr,
                     double *pooled, double *proj) {
  for (int64_t J = 0; J < nb; J++) {
    const int64_t t0 = J * block, t1 = t0 + block < seq ? t0 + block : seq;
    for (int64_t d = 0; d < D; d++) {
      double sum = 0.0;
      for (int64_t t = t0; t < t1; t++) sum += x[t * D + d];
      pooled[J * D + d] = sum / (double)(t1 - t0);
    }
    for (int64_t r = 0; r < Dr; r++) {
      double acc = 0.0;
      for (int64_t d = 0; d < D; d++) acc += pooled[J * D + d] * w[d * Dr + r];
      proj[J * Dr + r] = acc;
    }
  }
}

vdit_status vdit_attn_sla_reference_scores(const vdit_attn_problem *problem, const vdit_attn_sla_reference *r,
                                           const vdit_attn_block_map *map, const double *q, const double *k,
                                           double *scores) {
  const vdit_attn_shape s = problem->shape;
  const int64_t D = s.head_dim, Dr = r->router_dim, qb = map->q_blocks, kb = map->k_blocks;
  double *work = malloc((size_t)((qb + kb) * (D + Dr) + 1) * sizeof *work);
  if (!work) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "sla reference: no memory");
  double *pq = work, *pk = pq + qb * D, *rq = pk + kb * D, *rk = rq + qb * Dr;
  for (int64_t bh = 0; bh < s.batch * s.heads; bh++) {
    const int64_t h = bh % s.heads;
    features(q + bh * s.seq_q * D, s.seq_q, D, map->block_q, qb, r->wq + h * D * Dr, Dr, pq, rq);
    features(k + bh * s.seq_k * D, s.seq_k, D, map->block_k, kb, r->wk + h * D * Dr, Dr, pk, rk);
    for (int64_t I = 0; I < qb; I++)
      for (int64_t J = 0; J < kb; J++) {
        double dot = 0.0;
        for (int64_t e = 0; e < Dr; e++) dot += rq[I * Dr + e] * rk[J * Dr + e];
        scores[(bh * qb + I) * kb + J] = dot / sqrt((double)Dr);
      }
  }
  free(work);
  return VDIT_OK;
}

// Per key of one row: c (the sparse weight, 0 for keys of blocks left out) and whether the
// row's query block keeps every key block.
// kept[t] = 1 for keys of kept blocks; c[t] their sparse weight (tile_weight, or 1), and for
// keys of left-out blocks tile_weight - 1 (0 without tile_weight).
static int row_weights(const vdit_attn_block_map *map, const double *tile_weight, int64_t bh, int64_t I, int64_t seq_k,
                       double *c, unsigned char *kept) {
  const int64_t row = bh * map->q_blocks + I;
  for (int64_t t = 0; t < seq_k; t++) {
    kept[t] = 0;
    c[t] = tile_weight ? tile_weight[row * map->k_blocks + t / map->block_k] - 1.0 : 0.0;
  }
  for (int32_t e = map->row_offsets[row]; e < map->row_offsets[row + 1]; e++) {
    const int64_t J = map->col_index[e];
    const double wgt = tile_weight ? tile_weight[row * map->k_blocks + J] : 1.0;
    for (int64_t t = J * map->block_k; t < (J + 1) * map->block_k && t < seq_k; t++) c[t] = wgt, kept[t] = 1;
  }
  return map->row_offsets[row + 1] - map->row_offsets[row] >= map->k_blocks;
}

static double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

vdit_status vdit_attn_sla_reference_forward(const vdit_attn_problem *problem, const vdit_attn_sla_reference *r,
                                            const double *tile_weight, const double *q, const double *k,
                                            const double *v, double *o, double *lse, double *o_s, double *o_l) {
  const vdit_attn_shape s = problem->shape;
  const vdit_attn_block_map *map = problem->map;
  if (!map || map->device.type != VDIT_DEVICE_CPU) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "sla reference: needs a host map");
  const int64_t D = s.head_dim, Sk = s.seq_k;
  int failed = 0;
#pragma omp parallel for schedule(dynamic) reduction(| : failed)
  for (int64_t bh = 0; bh < s.batch * s.heads; bh++) {
    double *work = malloc((size_t)(3 * Sk + Sk * D + 4 * D) * sizeof *work);
    unsigned char *kept = malloc((size_t)Sk + 1);
    if (!work || !kept) {
      free(work), free(kept);
      failed = 1;
      continue;
    }
    double *c = work, *sc = c + Sk, *beta = sc + Sk, *phik = beta + Sk, *u = phik + Sk * D, *os = u + D, *ol = os + D;
    const double alpha = sigmoid(r->alpha_logit[bh % s.heads]);
    const double *kh = k + bh * Sk * D, *vh = v + bh * Sk * D;
    for (int64_t t = 0; t < Sk; t++) vdit_attn_sla_phi_f64(r->feature, kh + t * D, D, phik + t * D);
    for (int64_t i = 0; i < s.seq_q; i++) {
      const int64_t at = (bh * s.seq_q + i) * D, I = i / map->block_q;
      const int all_kept = row_weights(map, tile_weight, bh, I, Sk, c, kept);
      // sparse branch: keys of weight c (left-out keys have c = 0 unless relaxed)
      double m = -INFINITY;
      for (int64_t t = 0; t < Sk; t++) {
        double dot = 0.0;
        for (int64_t d = 0; d < D; d++) dot += q[at + d] * kh[t * D + d];
        sc[t] = dot * problem->scale;
        if (kept[t]) m = sc[t] > m ? sc[t] : m;
      }
      double z = 0.0;
      for (int64_t d = 0; d < D; d++) os[d] = 0.0;
      for (int64_t t = 0; t < Sk && m > -INFINITY; t++) {
        if (c[t] == 0.0) continue;
        const double p = c[t] * exp(sc[t] - m);
        z += p;
        for (int64_t d = 0; d < D; d++) os[d] += p * vh[t * D + d];
      }
      for (int64_t d = 0; d < D; d++) os[d] = z > 0 ? os[d] / z : 0.0;
      lse[bh * s.seq_q + i] = z > 0 ? m + log(z) : -INFINITY;
      // linear branch: every key with weight 1 - c
      for (int64_t d = 0; d < D; d++) ol[d] = 0.0;
      if (!all_kept) {
        vdit_attn_sla_phi_f64(r->feature, q + at, D, u);
        double den = 0.0;
        for (int64_t t = 0; t < Sk; t++) {
          double b = 0.0;
          for (int64_t d = 0; d < D; d++) b += u[d] * phik[t * D + d];
          b *= 1.0 - c[t];
          den += b;
          for (int64_t d = 0; d < D; d++) ol[d] += b * vh[t * D + d];
        }
        for (int64_t d = 0; d < D; d++) ol[d] = den > 0 ? ol[d] / den : 0.0;
      }
      for (int64_t d = 0; d < D; d++) {
        o[at + d] = alpha * os[d] + (1.0 - alpha) * ol[d];
        if (o_s) o_s[at + d] = os[d];
        if (o_l) o_l[at + d] = ol[d];
      }
    }
    free(work);
    free(kept);
  }
  if (failed) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "sla reference: no memory");
  return VDIT_OK;
}

vdit_status vdit_attn_sla_reference_backward(const vdit_attn_problem *problem, const vdit_attn_sla_reference *r,
                                             const double *q, const double *k, const double *v, const double *d_o,
                                             double *dq, double *dk, double *dv, double *g_wq, double *g_wk,
                                             double *g_logit) {
  const vdit_attn_shape s = problem->shape;
  const vdit_attn_block_map *map = problem->map;
  if (!map || map->device.type != VDIT_DEVICE_CPU) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "sla reference: needs a host map");
  const int64_t D = s.head_dim, Sk = s.seq_k, Dr = r->router_dim, BH = s.batch * s.heads;
  const int64_t qb = map->q_blocks, kb = map->k_blocks;
  memset(dq, 0, (size_t)(BH * s.seq_q * D) * sizeof *dq);
  memset(dk, 0, (size_t)(BH * Sk * D) * sizeof *dk);
  memset(dv, 0, (size_t)(BH * Sk * D) * sizeof *dv);
  double *g_alpha = calloc((size_t)BH, sizeof *g_alpha);
  double *g_router = calloc((size_t)(BH * 2 * D * Dr + 1), sizeof *g_router);
  if (!g_alpha || !g_router) {
    free(g_alpha), free(g_router);
    return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "sla reference: no memory");
  }
  int failed = 0;
#pragma omp parallel for schedule(dynamic) reduction(| : failed)
  for (int64_t bh = 0; bh < BH; bh++) {
    const size_t n = (size_t)(3 * Sk + 2 * Sk * D + 8 * D + qb * kb + (qb + kb) * (D + Dr));
    double *work = calloc(n, sizeof *work);
    unsigned char *kept = malloc((size_t)Sk + 1);
    if (!work || !kept) {
      free(work), free(kept);
      failed = 1;
      continue;
    }
    double *c = work, *sc = c + Sk, *beta = sc + Sk, *phik = beta + Sk, *dphik = phik + Sk * D;
    double *u = dphik + Sk * D, *du = u + D, *dx = du + D, *os = dx + D, *ol = os + D, *dnum = ol + D;
    double *G = dnum + 2 * D, *pq = G + qb * kb, *pk = pq + qb * D, *rq = pk + kb * D, *rk = rq + qb * Dr;
    const int64_t h = bh % s.heads;
    const double alpha = sigmoid(r->alpha_logit[h]);
    const double *kh = k + bh * Sk * D, *vh = v + bh * Sk * D;
    double *dkh = dk + bh * Sk * D, *dvh = dv + bh * Sk * D;
    for (int64_t t = 0; t < Sk; t++) vdit_attn_sla_phi_f64(r->feature, kh + t * D, D, phik + t * D);
    features(q + bh * s.seq_q * D, s.seq_q, D, map->block_q, qb, r->wq + h * D * Dr, Dr, pq, rq);
    features(kh, Sk, D, map->block_k, kb, r->wk + h * D * Dr, Dr, pk, rk);
    double ga = 0.0;
    for (int64_t i = 0; i < s.seq_q; i++) {
      const int64_t at = (bh * s.seq_q + i) * D, I = i / map->block_q;
      const int all_kept = row_weights(map, NULL, bh, I, Sk, c, kept);
      const double *g = d_o + at;
      // sparse branch (recomputed)
      double m = -INFINITY;
      for (int64_t t = 0; t < Sk; t++) {
        double dot = 0.0;
        for (int64_t d = 0; d < D; d++) dot += q[at + d] * kh[t * D + d];
        sc[t] = dot * problem->scale;
        if (kept[t]) m = sc[t] > m ? sc[t] : m;
      }
      double z = 0.0;
      for (int64_t d = 0; d < D; d++) os[d] = 0.0;
      for (int64_t t = 0; t < Sk && m > -INFINITY; t++) {
        sc[t] = exp(sc[t] - m); // unnormalised P (left-out keys too: the relaxation's derivative)
        if (!kept[t]) continue;
        z += sc[t];
        for (int64_t d = 0; d < D; d++) os[d] += sc[t] * vh[t * D + d];
      }
      for (int64_t d = 0; d < D; d++) os[d] = z > 0 ? os[d] / z : 0.0;
      // linear branch (recomputed)
      double den = 0.0;
      for (int64_t d = 0; d < D; d++) ol[d] = 0.0;
      if (!all_kept) {
        vdit_attn_sla_phi_f64(r->feature, q + at, D, u);
        for (int64_t t = 0; t < Sk; t++) {
          double b = 0.0;
          for (int64_t d = 0; d < D; d++) b += u[d] * phik[t * D + d];
          beta[t] = b;
          if (kept[t]) continue;
          den += b;
          for (int64_t d = 0; d < D; d++) ol[d] += b * vh[t * D + d];
        }
        for (int64_t d = 0; d < D; d++) ol[d] = den > 0 ? ol[d] / den : 0.0;
      }
      for (int64_t d = 0; d < D; d++) ga += g[d] * (os[d] - ol[d]);
      // sparse backward with g_s = alpha g
      double delta = 0.0;
      for (int64_t d = 0; d < D; d++) delta += alpha * g[d] * os[d];
      for (int64_t t = 0; t < Sk && z > 0; t++) {
        const double p = sc[t] / z;
        double dp = 0.0;
        for (int64_t d = 0; d < D; d++) dp += alpha * g[d] * vh[t * D + d];
        const double ds = p * (dp - delta);
        G[I * kb + t / map->block_k] += ds; // d L / d c_t, every key (dc/db = 1)
        if (!kept[t]) continue;
        for (int64_t d = 0; d < D; d++) {
          dvh[t * D + d] += p * alpha * g[d];
          dq[at + d] += problem->scale * ds * kh[t * D + d];
          dkh[t * D + d] += problem->scale * ds * q[at + d];
        }
      }
      // linear backward with g_l = (1 - alpha) g
      if (!all_kept && den > 0) {
        double g_ol = 0.0;
        for (int64_t d = 0; d < D; d++) {
          dnum[d] = (1.0 - alpha) * g[d] / den;
          g_ol += (1.0 - alpha) * g[d] * ol[d];
        }
        const double dden = -g_ol / den;
        for (int64_t d = 0; d < D; d++) du[d] = 0.0;
        for (int64_t t = 0; t < Sk; t++) {
          double nv = 0.0;
          for (int64_t d = 0; d < D; d++) nv += dnum[d] * vh[t * D + d];
          const double dbeta = nv + dden; // d L / d beta_t for a key of weight 1
          G[I * kb + t / map->block_k] -= beta[t] * dbeta; // every key's linear weight 1 - c, dc/db = 1
          if (kept[t]) continue;
          for (int64_t d = 0; d < D; d++) {
            du[d] += dbeta * phik[t * D + d];
            dphik[t * D + d] += dbeta * u[d];
            dvh[t * D + d] += beta[t] * dnum[d];
          }
        }
        vdit_attn_sla_phi_backward_f64(r->feature, q + at, u, du, D, dx);
        for (int64_t d = 0; d < D; d++) dq[at + d] += dx[d];
      }
    }
    for (int64_t t = 0; t < Sk; t++) {
      vdit_attn_sla_phi_backward_f64(r->feature, kh + t * D, phik + t * D, dphik + t * D, D, dx);
      for (int64_t d = 0; d < D; d++) dkh[t * D + d] += dx[d];
    }
    double *gwq = g_router + bh * 2 * D * Dr, *gwk = gwq + D * Dr;
    const double rs = 1.0 / sqrt((double)Dr);
    for (int64_t I = 0; I < qb; I++)
      for (int64_t J = 0; J < kb; J++) {
        const double gij = G[I * kb + J] * rs;
        if (gij == 0.0) continue;
        for (int64_t d = 0; d < D; d++)
          for (int64_t e = 0; e < Dr; e++) {
            gwq[d * Dr + e] += gij * pq[I * D + d] * rk[J * Dr + e];
            gwk[d * Dr + e] += gij * pk[J * D + d] * rq[I * Dr + e];
          }
      }
    g_alpha[bh] = ga;
    free(work);
    free(kept);
  }
  if (!failed)
    for (int64_t h = 0; h < s.heads; h++) {
      const double a = sigmoid(r->alpha_logit[h]);
      double ga = 0.0;
      for (int64_t b = 0; b < s.batch; b++) ga += g_alpha[b * s.heads + h];
      if (g_logit) g_logit[h] = ga * a * (1.0 - a);
      for (int64_t i = 0; i < D * Dr; i++) {
        double sq = 0.0, sk = 0.0;
        for (int64_t b = 0; b < s.batch; b++) {
          sq += g_router[(b * s.heads + h) * 2 * D * Dr + i];
          sk += g_router[(b * s.heads + h) * 2 * D * Dr + D * Dr + i];
        }
        if (g_wq) g_wq[h * D * Dr + i] = sq;
        if (g_wk) g_wk[h * D * Dr + i] = sk;
      }
    }
  free(g_alpha), free(g_router);
  if (failed) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "sla reference: no memory");
  return VDIT_OK;
}
