// SLA2 sparse-linear attention on the CPU (fp32, (B, H, S, D) arrays): the router, the forward
// (the block-sparse executor for the sparse branch, the linear branch from per-key-block
// H_J = phi(K_J)^T V_J and z_J = sum phi(K_J)), and the backward with the router's relaxed
// gradient (include/vdit/attn.h, "SLA2"; docs/attention.md gives the formulas).
//
// The linear branch of query block I needs the sums over the key blocks its map row leaves
// out; they are taken as total minus kept blocks when fewer blocks are kept than left out,
// else summed over the left-out blocks directly, so no sum cancels more than half its terms.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attn/attn_kernels.h"
#include "attn/attn_sage.h"
#include "attn/sla_exact.h"

void vdit_attn_sla_phi(vdit_attn_sla_feature feature, const float *x, int64_t n, float *y) {
  if (feature == VDIT_ATTN_SLA_ELU) {
    for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] + 1.0f : expf(x[i]);
    return;
  }
  float m = -INFINITY;
  for (int64_t i = 0; i < n; i++) m = x[i] > m ? x[i] : m;
  double sum = 0.0;
  for (int64_t i = 0; i < n; i++) {
    y[i] = expf(x[i] - m);
    sum += y[i];
  }
  const float inv = (float)(1.0 / sum);
  for (int64_t i = 0; i < n; i++) y[i] *= inv;
}

vdit_status vdit_attn_sla_weights_init(vdit_attn_sla_weights *w, const vdit_attn_sla_config *c, int64_t heads,
                                       int64_t head_dim, int32_t default_block) {
  memset(w, 0, sizeof *w);
  if (!(c->topk > 0.0f && c->topk <= 1.0f))
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "attention: sla topk must be in (0, 1], got %g", (double)c->topk);
  if (c->router_dim < 1 || c->router_dim > 256)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "attention: sla router_dim must be in 1..256, got %d", c->router_dim);
  if ((unsigned)c->feature > VDIT_ATTN_SLA_ELU)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "attention: invalid sla feature map %d", (int)c->feature);
  if ((!c->router_wq) != (!c->router_wk))
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "attention: sla needs both router matrices or neither");
  if (!c->router_wq && c->router_dim > head_dim)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "attention: the default (identity) sla router needs router_dim <= D");
  if (c->block < 0) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "attention: sla block must be >= 0 (0 = default)");
  w->heads = heads;
  w->dim = head_dim;
  w->router_dim = c->router_dim;
  w->block = c->block ? c->block : default_block;
  w->topk = c->topk;
  w->feature = c->feature;
  const int64_t n = heads * head_dim * c->router_dim;
  w->wq = calloc((size_t)(2 * n + heads + 1), sizeof(float));
  if (!w->wq) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "attention: no memory for sla parameters");
  w->wk = w->wq + n;
  w->alpha_logit = w->wk + n;
  for (int64_t h = 0; h < heads; h++) // identity on the first D_r dims
    for (int64_t r = 0; r < c->router_dim && r < head_dim; r++) {
      w->wq[(h * head_dim + r) * c->router_dim + r] = 1.0f;
      w->wk[(h * head_dim + r) * c->router_dim + r] = 1.0f;
    }
  vdit_attn_sla_weights_refresh(w, c);
  return VDIT_OK;
}

void vdit_attn_sla_weights_refresh(vdit_attn_sla_weights *w, const vdit_attn_sla_config *c) {
  const int64_t n = w->heads * w->dim * w->router_dim;
  if (c->router_wq) memcpy(w->wq, c->router_wq, (size_t)n * sizeof *w->wq);
  if (c->router_wk) memcpy(w->wk, c->router_wk, (size_t)n * sizeof *w->wk);
  if (c->alpha_logit) memcpy(w->alpha_logit, c->alpha_logit, (size_t)w->heads * sizeof *w->alpha_logit);
}

void vdit_attn_sla_weights_free(vdit_attn_sla_weights *w) {
  free(w->wq);
  w->wq = w->wk = w->alpha_logit = NULL;
}

// dx = J^T dy for y = phi(x) (x and y of one row).
static void phi_backward(vdit_attn_sla_feature feature, const float *x, const float *y, const float *dy, int64_t n,
                         float *dx) {
  if (feature == VDIT_ATTN_SLA_ELU) {
    for (int64_t i = 0; i < n; i++) dx[i] = x[i] > 0.0f ? dy[i] : dy[i] * y[i];
    return;
  }
  double dot = 0.0;
  for (int64_t i = 0; i < n; i++) dot += (double)y[i] * dy[i];
  for (int64_t i = 0; i < n; i++) dx[i] = y[i] * (dy[i] - (float)dot);
}

// Block means (nb, D) of rows of x (seq, D) and their projections (nb, D_r) by w (D, D_r), in
// sla_exact.h's order.
static void router_features(const float *x, int64_t seq, int64_t D, int32_t block, int32_t nb, const float *w,
                            int64_t Dr, float *pooled, float *proj) {
  for (int32_t J = 0; J < nb; J++) {
    const int64_t t0 = (int64_t)J * block, t1 = t0 + block < seq ? t0 + block : seq;
    for (int64_t d = 0; d < D; d++) {
      float sum = 0.0f;
      for (int64_t t = t0; t < t1; t++) sum = sla_mean_step(sum, x[t * D + d]);
      pooled[J * D + d] = sla_mean_finish(sum, (int)(t1 - t0));
    }
    for (int64_t r = 0; r < Dr; r++) {
      float acc = 0.0f;
      for (int64_t d = 0; d < D; d++) acc = sla_madd(acc, pooled[J * D + d], w[d * Dr + r]);
      proj[J * Dr + r] = acc;
    }
  }
}

// scores (qb, kb) from the projections.
static void router_scores(const float *rq, const float *rk, int32_t qb, int32_t kb, int64_t Dr, float *scores) {
  const float scale = sla_score_scale((int)Dr);
  for (int32_t I = 0; I < qb; I++)
    for (int32_t J = 0; J < kb; J++) {
      float dot = 0.0f;
      for (int64_t r = 0; r < Dr; r++) dot = sla_madd(dot, rq[I * Dr + r], rk[J * Dr + r]);
      scores[(int64_t)I * kb + J] = VDIT_FMUL(dot, scale);
    }
}

vdit_status vdit_attn_sla_route_cpu(const vdit_attn_problem *problem, const vdit_attn_sla_weights *w, const float *q,
                                    const float *k, vdit_attn_block_map *map) {
  const vdit_attn_shape s = problem->shape;
  const int64_t D = s.head_dim, Dr = w->router_dim;
  const int32_t qb = map->q_blocks, kb = map->k_blocks;
  if (map->device.type != VDIT_DEVICE_CPU || map->block_q != w->block || map->block_k != w->block)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "sla router: needs a host map of %d x %d blocks", w->block, w->block);
  const int keep = sla_topk_count(w->topk, kb);
  const size_t per = (size_t)(qb * D + kb * D + qb * Dr + kb * Dr) + (size_t)qb * kb;
  int failed = 0;
#pragma omp parallel for schedule(dynamic) reduction(| : failed)
  for (int64_t bh = 0; bh < s.batch * s.heads; bh++) {
    float *work = malloc(per * sizeof *work);
    if (!work) {
      failed = 1;
      continue;
    }
    float *pq = work, *pk = pq + qb * D, *rq = pk + kb * D, *rk = rq + qb * Dr, *scores = rk + kb * Dr;
    const int64_t h = bh % s.heads;
    router_features(q + bh * s.seq_q * D, s.seq_q, D, w->block, qb, w->wq + h * D * Dr, Dr, pq, rq);
    router_features(k + bh * s.seq_k * D, s.seq_k, D, w->block, kb, w->wk + h * D * Dr, Dr, pk, rk);
    router_scores(rq, rk, qb, kb, Dr, scores);
    for (int32_t I = 0; I < qb; I++) {
      const int64_t row = bh * qb + I;
      int32_t *out = map->col_index + row * keep;
      int n = 0;
      const float *sr = scores + (int64_t)I * kb;
      for (int32_t J = 0; J < kb; J++) {
        int rank = 0;
        for (int32_t J2 = 0; J2 < kb && rank < keep; J2++) rank += sla_ranks_before(sr[J2], J2, sr[J], J);
        if (rank < keep) out[n++] = J;
      }
      map->row_offsets[row] = (int32_t)(row * keep);
      (void)n;
    }
    free(work);
  }
  map->row_offsets[s.batch * s.heads * qb] = (int32_t)(s.batch * s.heads * qb * keep);
  if (failed) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "sla router: no memory for the block scores");
  return VDIT_OK;
}

// Per (b, h) linear-branch state: phi(K) (Sk, D), H_J (kb, D, D), z_J (kb, D), their totals.
typedef struct linear_state {
  float *phik, *hj, *zj, *h_all, *z_all;
  float *hc, *zc; // one query block's left-out sums (D, D), (D)
} linear_state;

static float *linear_state_alloc(const vdit_attn_shape *s, int32_t kb, linear_state *st) {
  const int64_t D = s->head_dim;
  const size_t n = (size_t)(s->seq_k * D + kb * D * D + kb * D + 2 * (D * D + D));
  float *block = malloc(n * sizeof *block);
  if (!block) return NULL;
  st->phik = block;
  st->hj = st->phik + s->seq_k * D;
  st->zj = st->hj + kb * D * D;
  st->h_all = st->zj + kb * D;
  st->z_all = st->h_all + D * D;
  st->hc = st->z_all + D;
  st->zc = st->hc + D * D;
  return block;
}

static void linear_state_fill(const vdit_attn_shape *s, vdit_attn_sla_feature feature, int32_t block, int32_t kb,
                              const float *k, const float *v, linear_state *st) {
  const int64_t D = s->head_dim;
  for (int64_t t = 0; t < s->seq_k; t++) vdit_attn_sla_phi(feature, k + t * D, D, st->phik + t * D);
  memset(st->h_all, 0, (size_t)(D * D + D) * sizeof(float)); // h_all and z_all
  for (int32_t J = 0; J < kb; J++) {
    float *hj = st->hj + (int64_t)J * D * D, *zj = st->zj + (int64_t)J * D;
    memset(hj, 0, (size_t)(D * D) * sizeof *hj);
    memset(zj, 0, (size_t)D * sizeof *zj);
    const int64_t t0 = (int64_t)J * block, t1 = t0 + block < s->seq_k ? t0 + block : s->seq_k;
    for (int64_t t = t0; t < t1; t++) {
      const float *u = st->phik + t * D, *vt = v + t * D;
      for (int64_t d = 0; d < D; d++) {
        zj[d] += u[d];
        for (int64_t e = 0; e < D; e++) hj[d * D + e] += u[d] * vt[e];
      }
    }
    for (int64_t i = 0; i < D * D; i++) st->h_all[i] += hj[i];
    for (int64_t d = 0; d < D; d++) st->z_all[d] += zj[d];
  }
}

// Whether J is listed in the ascending list kept[0..n).
static int listed(const int32_t *kept, int32_t n, int32_t J) {
  for (int32_t e = 0; e < n; e++)
    if (kept[e] == J) return 1;
  return 0;
}

// dst (count) = sum over the blocks a row leaves out of src (kb, count): total minus the kept
// ones, or the left-out ones directly, whichever sums fewer terms. Returns 0 when every block
// is kept (nothing left to the linear branch).
static int left_out_sum(const float *src, const float *total, int64_t count, int32_t kb, const int32_t *kept,
                        int32_t n, float *dst) {
  if (n >= kb) return 0;
  if (n <= kb - n) {
    memcpy(dst, total, (size_t)count * sizeof *dst);
    for (int32_t e = 0; e < n; e++)
      for (int64_t i = 0; i < count; i++) dst[i] -= src[(int64_t)kept[e] * count + i];
  } else {
    memset(dst, 0, (size_t)count * sizeof *dst);
    for (int32_t J = 0; J < kb; J++)
      if (!listed(kept, n, J))
        for (int64_t i = 0; i < count; i++) dst[i] += src[(int64_t)J * count + i];
  }
  return 1;
}

vdit_status vdit_attn_sla_forward_cpu(const vdit_attn_problem *problem, const vdit_attn_sla_weights *w, const float *q,
                                      const float *k, const float *v, float *o, float *lse, float *o_s, float *o_l) {
  const vdit_attn_shape s = problem->shape;
  const vdit_attn_block_map *map = problem->map;
  if (!map) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "sla forward: no block map");
  // the sparse branch: exact, or through the sage emulation on the map (sla(sage=1), FP8 P V:
  // the 16-bit dtype argument is unused)
  if (problem->config.sla.sage) VDIT_TRY(vdit_attn_cpu_sage_forward(problem, VDIT_DTYPE_BF16, q, k, v, o_s, lse));
  else VDIT_TRY(vdit_attn_cpu_dense_forward(problem, q, k, v, o_s, lse));
  const int64_t D = s.head_dim;
  const int32_t qb = map->q_blocks, kb = map->k_blocks, block = map->block_q;
  int failed = 0;
#pragma omp parallel for schedule(dynamic) reduction(| : failed)
  for (int64_t bh = 0; bh < s.batch * s.heads; bh++) {
    linear_state st;
    float *block_mem = linear_state_alloc(&s, kb, &st);
    float *u = malloc((size_t)D * sizeof *u);
    if (!block_mem || !u) {
      free(block_mem);
      free(u);
      failed = 1;
      continue;
    }
    linear_state_fill(&s, w->feature, map->block_k, kb, k + bh * s.seq_k * D, v + bh * s.seq_k * D, &st);
    const float alpha = vdit_attn_sla_alpha(w, bh % s.heads);
    for (int32_t I = 0; I < qb; I++) {
      const int64_t row = bh * qb + I;
      const int32_t *kept = map->col_index + map->row_offsets[row];
      const int32_t n = map->row_offsets[row + 1] - map->row_offsets[row];
      const int linear = left_out_sum(st.hj, st.h_all, D * D, kb, kept, n, st.hc) &&
                         left_out_sum(st.zj, st.z_all, D, kb, kept, n, st.zc);
      const int64_t i0 = (int64_t)I * block, i1 = i0 + block < s.seq_q ? i0 + block : s.seq_q;
      for (int64_t i = i0; i < i1; i++) {
        const int64_t at = (bh * s.seq_q + i) * D;
        float *ol = o_l + at;
        memset(ol, 0, (size_t)D * sizeof *ol);
        if (linear) {
          vdit_attn_sla_phi(w->feature, q + at, D, u);
          double den = 0.0;
          for (int64_t d = 0; d < D; d++) den += (double)u[d] * st.zc[d];
          for (int64_t d = 0; d < D; d++)
            for (int64_t e = 0; e < D; e++) ol[e] += u[d] * st.hc[d * D + e];
          const float inv = den > 0.0 ? (float)(1.0 / den) : 0.0f;
          for (int64_t e = 0; e < D; e++) ol[e] *= inv;
        }
        for (int64_t e = 0; e < D; e++) o[at + e] = alpha * o_s[at + e] + (1.0f - alpha) * ol[e];
      }
    }
    free(block_mem);
    free(u);
  }
  if (failed) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "sla forward: no memory for the linear branch");
  return VDIT_OK;
}

vdit_status vdit_attn_sla_backward_cpu(const vdit_attn_problem *problem, const vdit_attn_sla_weights *w, const float *q,
                                       const float *k, const float *v, const float *o_s, const float *o_l,
                                       const float *lse, const float *d_o, float *dq, float *dk, float *dv,
                                       float *g_wq, float *g_wk, float *g_logit) {
  const vdit_attn_shape s = problem->shape;
  const vdit_attn_block_map *map = problem->map, *map_t = problem->map_t;
  if (!map || !map_t) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "sla backward: no block map or transpose");
  const int64_t D = s.head_dim, Dr = w->router_dim, BH = s.batch * s.heads;
  const int32_t qb = map->q_blocks, kb = map->k_blocks, block = map->block_q;
  const size_t nq = (size_t)(BH * s.seq_q * D);
  // sparse branch: the executor's backward with dO_s = alpha dO
  float *d_os = malloc((nq + 1) * sizeof *d_os);
  double *g_alpha = calloc((size_t)BH, sizeof *g_alpha); // per (b, h), summed over b in order below
  float *g_router = calloc((size_t)(BH * 2 * D * Dr) + 1, sizeof *g_router); // per (b, h): dWq, dWk
  if (!d_os || !g_alpha || !g_router) {
    free(d_os), free(g_alpha), free(g_router);
    return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "sla backward: no memory");
  }
  for (int64_t bh = 0; bh < BH; bh++) {
    const float alpha = vdit_attn_sla_alpha(w, bh % s.heads);
    for (int64_t i = 0; i < s.seq_q * D; i++) d_os[bh * s.seq_q * D + i] = alpha * d_o[bh * s.seq_q * D + i];
  }
  vdit_status status = vdit_attn_cpu_dense_backward(problem, q, k, v, o_s, lse, d_os, dq, dk, dv);
  if (status != VDIT_OK) {
    free(d_os), free(g_alpha), free(g_router);
    return status;
  }
  const float rscale = sla_score_scale((int)Dr);
  const int router = g_wq || g_wk; // else the router is frozen: no G
  int failed = 0;
#pragma omp parallel for schedule(dynamic) reduction(| : failed)
  for (int64_t bh = 0; bh < BH; bh++) {
    const int64_t h = bh % s.heads;
    const float alpha = vdit_attn_sla_alpha(w, h);
    const float *qh = q + bh * s.seq_q * D, *kh = k + bh * s.seq_k * D, *vh = v + bh * s.seq_k * D;
    const float *doh = d_o + bh * s.seq_q * D, *osh = o_s + bh * s.seq_q * D, *olh = o_l + bh * s.seq_q * D;
    float *dqh = dq + bh * s.seq_q * D, *dkh = dk + bh * s.seq_k * D, *dvh = dv + bh * s.seq_k * D;
    linear_state st;
    float *block_mem = linear_state_alloc(&s, kb, &st);
    // dHc, dzc per query block; dH_J, dz_J; the router's G (qb, kb); pooled features; row scratch
    const size_t extra = (size_t)(qb * (D * D + D) + D * D + D + (int64_t)qb * kb + qb * D + kb * D + qb * Dr + kb * Dr +
                                  6 * D + D * D + D);
    float *scratch = calloc(extra, sizeof *scratch);
    if (!block_mem || !scratch) {
      free(block_mem), free(scratch);
      failed = 1;
      continue;
    }
    float *dhc = scratch, *dzc = dhc + qb * D * D, *dh = dzc + qb * D, *dz = dh + D * D, *G = dz + D;
    float *pq = G + (int64_t)qb * kb, *pk = pq + qb * D, *rq = pk + kb * D, *rk = rq + qb * Dr;
    float *u = rk + kb * Dr, *du = u + D, *dx = du + D, *dnum = dx + D, *num = dnum + D, *dphi = num + D;
    float *g_total = dphi + D; // (D, D) then (D): sums of dHc, dzc over query blocks
    linear_state_fill(&s, w->feature, map->block_k, kb, kh, vh, &st);
    double ga = 0.0;
    // per query block: the linear branch's gradient to Q, its sums dHc, dzc, and dO (O_s - O_l)
    for (int32_t I = 0; I < qb; I++) {
      const int64_t row = bh * qb + I;
      const int32_t *kept = map->col_index + map->row_offsets[row];
      const int32_t n = map->row_offsets[row + 1] - map->row_offsets[row];
      const int linear = left_out_sum(st.hj, st.h_all, D * D, kb, kept, n, st.hc) &&
                         left_out_sum(st.zj, st.z_all, D, kb, kept, n, st.zc);
      const int64_t i0 = (int64_t)I * block, i1 = i0 + block < s.seq_q ? i0 + block : s.seq_q;
      float *dhc_i = dhc + (int64_t)I * D * D, *dzc_i = dzc + (int64_t)I * D;
      for (int64_t i = i0; i < i1; i++) {
        const float *gi = doh + i * D;
        for (int64_t e = 0; e < D; e++) ga += (double)gi[e] * (osh[i * D + e] - olh[i * D + e]);
        if (!linear) continue;
        vdit_attn_sla_phi(w->feature, qh + i * D, D, u);
        double den = 0.0;
        for (int64_t d = 0; d < D; d++) den += (double)u[d] * st.zc[d];
        if (!(den > 0.0)) continue;
        const float inv = (float)(1.0 / den);
        double g_ol = 0.0;
        for (int64_t e = 0; e < D; e++) {
          dnum[e] = (1.0f - alpha) * gi[e] * inv;
          g_ol += (double)gi[e] * olh[i * D + e];
        }
        const float dden = -(1.0f - alpha) * (float)g_ol * inv;
        for (int64_t d = 0; d < D; d++) {
          float acc = st.zc[d] * dden;
          for (int64_t e = 0; e < D; e++) acc += st.hc[d * D + e] * dnum[e];
          du[d] = acc;
          for (int64_t e = 0; e < D; e++) dhc_i[d * D + e] += u[d] * dnum[e];
          dzc_i[d] += u[d] * dden;
        }
        phi_backward(w->feature, qh + i * D, u, du, D, dx);
        for (int64_t d = 0; d < D; d++) dqh[i * D + d] += dx[d];
      }
    }
    // key blocks: dH_J = sum of dHc over the query blocks that leave J out
    memset(g_total, 0, (size_t)(D * D + D) * sizeof *g_total);
    for (int32_t I = 0; I < qb; I++) {
      for (int64_t i = 0; i < D * D; i++) g_total[i] += dhc[(int64_t)I * D * D + i];
      for (int64_t d = 0; d < D; d++) g_total[D * D + d] += dzc[(int64_t)I * D + d];
    }
    for (int32_t J = 0; J < kb; J++) {
      const int64_t row = bh * kb + J;
      const int32_t *users = map_t->col_index + map_t->row_offsets[row];
      const int32_t n = map_t->row_offsets[row + 1] - map_t->row_offsets[row];
      if (!left_out_sum(dhc, g_total, D * D, qb, users, n, dh)) continue;
      left_out_sum(dzc, g_total + D * D, D, qb, users, n, dz);
      const int64_t t0 = (int64_t)J * map->block_k, t1 = t0 + map->block_k < s.seq_k ? t0 + map->block_k : s.seq_k;
      for (int64_t t = t0; t < t1; t++) {
        const float *pk_t = st.phik + t * D, *vt = vh + t * D;
        for (int64_t e = 0; e < D; e++) {
          float acc = 0.0f;
          for (int64_t d = 0; d < D; d++) acc += pk_t[d] * dh[d * D + e];
          dvh[t * D + e] += acc;
        }
        for (int64_t d = 0; d < D; d++) {
          float acc = dz[d];
          for (int64_t e = 0; e < D; e++) acc += dh[d * D + e] * vt[e];
          dphi[d] = acc;
        }
        phi_backward(w->feature, kh + t * D, pk_t, dphi, D, dx);
        for (int64_t d = 0; d < D; d++) dkh[t * D + d] += dx[d];
      }
    }
    // the router's G_IJ (the relaxation, include/vdit/attn.h), every block: the sparse part is
    // the tile's sum of P (dP - Delta) with P = e^(scale q k - LSE) against the sparse LSE (for
    // left-out blocks too), the linear part -(<H_J, dHc_I> + <z_J, dzc_I>)
    router_features(qh, s.seq_q, D, block, qb, w->wq + h * D * Dr, Dr, pq, rq);
    router_features(kh, s.seq_k, D, map->block_k, kb, w->wk + h * D * Dr, Dr, pk, rk);
    for (int32_t I = 0; router && I < qb; I++) {
      const int64_t i0 = (int64_t)I * block, i1 = i0 + block < s.seq_q ? i0 + block : s.seq_q;
      for (int32_t J = 0; J < kb; J++) {
        const int64_t t0 = (int64_t)J * map->block_k, t1 = t0 + map->block_k < s.seq_k ? t0 + map->block_k : s.seq_k;
        double acc = 0.0;
        for (int64_t i = i0; i < i1; i++) {
          const float l = lse[bh * s.seq_q + i];
          if (isinf(l)) continue;
          double delta = 0.0;
          for (int64_t d = 0; d < D; d++) delta += (double)doh[i * D + d] * osh[i * D + d];
          for (int64_t t = t0; t < t1; t++) {
            double sc = 0.0, dp = 0.0;
            for (int64_t d = 0; d < D; d++) {
              sc += (double)qh[i * D + d] * kh[t * D + d];
              dp += (double)doh[i * D + d] * vh[t * D + d];
            }
            acc += alpha * exp(sc * problem->scale - l) * (dp - delta);
          }
        }
        double lin = 0.0;
        const float *hj = st.hj + (int64_t)J * D * D, *dhc_i = dhc + (int64_t)I * D * D;
        for (int64_t i = 0; i < D * D; i++) lin += (double)hj[i] * dhc_i[i];
        for (int64_t d = 0; d < D; d++) lin += (double)st.zj[(int64_t)J * D + d] * dzc[(int64_t)I * D + d];
        G[(int64_t)I * kb + J] = (float)(acc - lin);
      }
    }
    // dWq = Qbar^T (G Rk) / sqrt(D_r), dWk = Kbar^T (G^T Rq) / sqrt(D_r)
    float *gwq = g_router + bh * 2 * D * Dr, *gwk = gwq + D * Dr;
    for (int32_t I = 0; router && I < qb; I++)
      for (int32_t J = 0; J < kb; J++) {
        const float gij = G[(int64_t)I * kb + J] * rscale;
        if (gij == 0.0f) continue;
        for (int64_t d = 0; d < D; d++)
          for (int64_t r = 0; r < Dr; r++) {
            gwq[d * Dr + r] += gij * pq[I * D + d] * rk[J * Dr + r];
            gwk[d * Dr + r] += gij * pk[J * D + d] * rq[I * Dr + r];
          }
      }
    g_alpha[bh] = ga;
    free(block_mem);
    free(scratch);
  }
  if (failed) status = VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "sla backward: no memory for the linear branch");
  if (status == VDIT_OK) {
    for (int64_t h = 0; h < s.heads; h++) {
      const float a = vdit_attn_sla_alpha(w, h);
      double ga = 0.0;
      for (int64_t b = 0; b < s.batch; b++) ga += g_alpha[b * s.heads + h];
      if (g_logit) g_logit[h] = (float)(ga * a * (1.0 - a));
      for (int64_t i = 0; i < D * Dr; i++) {
        double sq = 0.0, sk = 0.0;
        for (int64_t b = 0; b < s.batch; b++) {
          sq += g_router[(b * s.heads + h) * 2 * D * Dr + i];
          sk += g_router[(b * s.heads + h) * 2 * D * Dr + D * Dr + i];
        }
        if (g_wq) g_wq[h * D * Dr + i] = (float)sq;
        if (g_wk) g_wk[h * D * Dr + i] = (float)sk;
      }
    }
  }
  free(d_os), free(g_alpha), free(g_router);
  return status;
}
