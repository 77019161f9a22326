// SLA2's part of `vdit attn check` (attn_check.c): the fp64 reference on the method's map, and
// central finite differences of the reference's relaxed forward against its gradients.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attn/attn_kernels.h"
#include "attn/sla_check.h"

// sum(d_o * O) of the relaxed forward with tile weights e^(s(W) - s0) (router entries) or 1.
static vdit_status relaxed_loss(const vdit_attn_problem *problem, const vdit_attn_sla_reference *r, const double *s0,
                                int router, const double *q, const double *k, const double *v, const double *d_o,
                                double *scratch_o, double *scratch_l, double *scores, double *loss) {
  const vdit_attn_shape s = problem->shape;
  const vdit_attn_block_map *map = problem->map;
  const size_t tiles = (size_t)(s.batch * s.heads * map->q_blocks * map->k_blocks);
  if (router) {
    VDIT_TRY(vdit_attn_sla_reference_scores(problem, r, map, q, k, scores));
    for (size_t i = 0; i < tiles; i++) scores[i] = exp(scores[i] - s0[i]);
  }
  VDIT_TRY(vdit_attn_sla_reference_forward(problem, r, router ? scores : NULL, q, k, v, scratch_o, scratch_l, NULL, NULL));
  const size_t nq = (size_t)(s.batch * s.heads * s.seq_q * s.head_dim);
  double sum = 0.0;
  for (size_t i = 0; i < nq; i++) sum += d_o[i] * scratch_o[i];
  *loss = sum;
  return VDIT_OK;
}

vdit_status vdit_attn_sla_check_reference(const vdit_attn_problem *problem, const vdit_attn_sla_weights *w, const double *q,
                                          const double *k, const double *v, const double *d_o, int backward, double *o,
                                          double *lse, double *dq, double *dk, double *dv, double *g_wq, double *g_wk,
                                          double *g_logit, int *fd_checked, double *fd_max_rel) {
  const vdit_attn_shape s = problem->shape;
  const int64_t np = w->heads * w->dim * w->router_dim;
  *fd_checked = 0;
  *fd_max_rel = 0.0;
  double *params = malloc((size_t)(2 * np + w->heads) * sizeof *params);
  if (!params) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "sla check: no memory");
  for (int64_t i = 0; i < np; i++) params[i] = w->wq[i], params[np + i] = w->wk[i];
  for (int64_t h = 0; h < w->heads; h++) params[2 * np + h] = w->alpha_logit[h];
  vdit_attn_sla_reference r = {w->router_dim, w->feature, params, params + np, params + 2 * np};
  vdit_status status = vdit_attn_sla_reference_forward(problem, &r, NULL, q, k, v, o, lse, NULL, NULL);
  if (status == VDIT_OK && backward)
    status = vdit_attn_sla_reference_backward(problem, &r, q, k, v, d_o, dq, dk, dv, g_wq, g_wk, g_logit);
  const double work = (double)s.batch * s.heads * s.seq_q * s.seq_k * s.head_dim;
  if (status != VDIT_OK || !backward || work > (double)(1 << 24)) {
    free(params);
    return status;
  }
  // finite differences: 3 entries of each router matrix, every alpha logit (up to 4), 2 of Q, K, V
  const vdit_attn_block_map *map = problem->map;
  const size_t tiles = (size_t)(s.batch * s.heads * map->q_blocks * map->k_blocks);
  const size_t nq = (size_t)(s.batch * s.heads * s.seq_q * s.head_dim), nk = (size_t)(s.batch * s.heads * s.seq_k * s.head_dim);
  double *s0 = malloc((2 * tiles + 2 * nq + 2 * nk + s.batch * s.heads * s.seq_q + 1) * sizeof *s0);
  if (!s0) {
    free(params);
    return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "sla check: no memory");
  }
  double *scores = s0 + tiles, *so = scores + tiles, *qq = so + nq, *kk = qq + nq, *vv = kk + nk, *sl = vv + nk;
  memcpy(qq, q, nq * sizeof *qq);
  memcpy(kk, k, nk * sizeof *kk);
  memcpy(vv, v, nk * sizeof *vv);
  status = vdit_attn_sla_reference_scores(problem, &r, map, q, k, s0);
  typedef struct entry { double *x; double analytic; int router; } entry;
  entry entries[32];
  int n = 0;
  for (int t = 0; t < 3; t++) {
    const int64_t i = (int64_t)((t * 7919 + 13) % np);
    entries[n++] = (entry){params + i, g_wq[i], 1};
    const int64_t j = (int64_t)((t * 104729 + 5) % np);
    entries[n++] = (entry){params + np + j, g_wk[j], 1};
  }
  for (int64_t h = 0; h < w->heads && h < 4; h++) entries[n++] = (entry){params + 2 * np + h, g_logit[h], 0};
  for (int t = 0; t < 2; t++) {
    const size_t iq = (size_t)(t * 7717 + 3) % nq, ik = (size_t)(t * 6833 + 11) % nk;
    entries[n++] = (entry){qq + iq, dq[iq], 0};
    entries[n++] = (entry){kk + ik, dk[ik], 0};
    entries[n++] = (entry){vv + ik, dv[ik], 0};
  }
  double fd[32], worst_scale[2] = {0.0, 0.0}; // router entries, the others
  // Richardson: (4 D(h/2) - D(h)) / 3 of central differences D cancels the h^2 term. The
  // relaxation is exponential in the scores (left-out keys may score far above the kept ones),
  // so the curvature varies over orders of magnitude: steps h = 1e-3 .. 1e-10 (relative, a
  // decade apart), and the estimate kept is the one that agrees best with the next larger
  // step's. Steps two decades apart skipped the converged range of a router entry whose
  // estimates only settle below h = 1e-8 (docs example `--sparsity 0.75 --dim 16 --seq 300
  // --seq-k 260 --inputs video`: +3.4e6 picked against -2.1966e7 analytic and converged).
  enum { FD_LEVELS = 8 };
  for (int e = 0; e < n && status == VDIT_OK; e++) {
    const double x0 = *entries[e].x, unit = fabs(x0) > 1.0 ? fabs(x0) : 1.0;
    double estimate[FD_LEVELS] = {0.0};
    for (int level = 0; level < FD_LEVELS && status == VDIT_OK; level++) {
      const double h = pow(10.0, -3.0 - level) * unit;
      double central[2];
      for (int half = 0; half < 2 && status == VDIT_OK; half++) {
        const double step = half ? h / 2 : h;
        double lp = 0.0, lm = 0.0;
        *entries[e].x = x0 + step;
        status = relaxed_loss(problem, &r, s0, entries[e].router, qq, kk, vv, d_o, so, sl, scores, &lp);
        *entries[e].x = x0 - step;
        if (status == VDIT_OK) status = relaxed_loss(problem, &r, s0, entries[e].router, qq, kk, vv, d_o, so, sl, scores, &lm);
        *entries[e].x = x0;
        central[half] = (lp - lm) / (2.0 * step);
      }
      estimate[level] = (4.0 * central[1] - central[0]) / 3.0;
    }
    double best = INFINITY;
    for (int level = 1; level < FD_LEVELS; level++) {
      const double diff = fabs(estimate[level] - estimate[level - 1]);
      if (diff < best) best = diff, fd[e] = estimate[level];
    }
    double *ws = &worst_scale[entries[e].router ? 0 : 1];
    if (fabs(fd[e]) > *ws) *ws = fabs(fd[e]);
  }
  for (int e = 0; e < n && status == VDIT_OK; e++) {
    const double rel =
        fabs(entries[e].analytic - fd[e]) / (fabs(fd[e]) + 1e-6 * worst_scale[entries[e].router ? 0 : 1] + 1e-300);
    if (rel > *fd_max_rel) *fd_max_rel = rel;
  }
  if (status == VDIT_OK) *fd_checked = n;
  free(s0);
  free(params);
  return status;
}
