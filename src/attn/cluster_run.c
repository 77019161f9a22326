// Clustered attention on the CPU after routing: gather Q, K, V into cluster order, run the
// block-sparse executor with the compensation extras, scatter O, LSE (and the gradients) back.
#include <stdlib.h>
#include <string.h>

#include "attn/cluster.h"

// out[p] = in[perm[p]] per slice (rows of D floats); inverse: out[perm[p]] = in[p].
static void permute_rows(const float *in, float *out, const int32_t *perm, int64_t BH, int64_t S, int64_t D, int inverse) {
#pragma omp parallel for schedule(static)
  for (int64_t bh = 0; bh < BH; bh++)
    for (int64_t p = 0; p < S; p++) {
      const int64_t old = perm[bh * S + p];
      const float *src = in + (bh * S + (inverse ? p : old)) * D;
      float *dst = out + (bh * S + (inverse ? old : p)) * D;
      memcpy(dst, src, (size_t)D * sizeof *dst);
    }
}

static vdit_attn_problem executor_problem(const vdit_attn_problem *problem, const vdit_attn_cluster_state *st) {
  vdit_attn_problem p = *problem;
  p.config.method = VDIT_ATTN_BLOCK;
  p.map = &st->map;
  p.map_t = st->map_t_ready ? &st->map_t : NULL;
  p.extras = (vdit_attn_softmax_extras){st->extra_max, st->extra_sum, st->extra_num, 0.0f};
  return p;
}

vdit_status vdit_attn_cluster_forward_cpu(const vdit_attn_problem *problem, vdit_attn_cluster_state *st, const float *q,
                                          const float *k, const float *v, float *o, float *lse) {
  VDIT_TRY(vdit_attn_cluster_route_cpu(problem, st, q, k, v));
  const int64_t BH = st->bh, Sq = st->seq_q, Sk = st->seq_k, D = st->dim;
  float *work = vdit_host_alloc((size_t)(2 * Sq * D * BH + 2 * Sk * D * BH + Sq * BH + 16) * sizeof(float), VDIT_HOST_ALIGNMENT);
  if (!work) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "clustered attention: no host memory for the permuted tensors");
  float *qp = work, *op = qp + BH * Sq * D, *kp = op + BH * Sq * D, *vp = kp + BH * Sk * D, *lp = vp + BH * Sk * D;
  permute_rows(q, qp, st->q_perm, BH, Sq, D, 0);
  permute_rows(k, kp, st->k_perm, BH, Sk, D, 0);
  permute_rows(v, vp, st->k_perm, BH, Sk, D, 0);
  const vdit_attn_problem p = executor_problem(problem, st);
  vdit_status status = vdit_attn_cpu_dense_forward(&p, qp, kp, vp, op, lp);
  if (status == VDIT_OK) {
    permute_rows(op, o, st->q_perm, BH, Sq, D, 1);
    permute_rows(lp, lse, st->q_perm, BH, Sq, 1, 1);
  }
  vdit_host_free(work);
  return status;
}

vdit_status vdit_attn_cluster_backward_cpu(const vdit_attn_problem *problem, vdit_attn_cluster_state *st, const float *q,
                                           const float *k, const float *v, const float *o, const float *lse,
                                           const float *d_o, float *dq, float *dk, float *dv) {
  if (!st->routed) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "attention backward: run the forward first (it routes)");
  if (!st->map_t_ready) {
    vdit_attn_block_map_free(&st->map_t);
    VDIT_TRY(vdit_attn_block_map_transpose(&st->map_t, &st->map));
    st->map_t_ready = 1;
  }
  const int64_t BH = st->bh, Sq = st->seq_q, Sk = st->seq_k, D = st->dim;
  const size_t nq = (size_t)(BH * Sq * D), nk = (size_t)(BH * Sk * D);
  float *work = vdit_host_alloc((4 * nq + 5 * nk + (size_t)(BH * Sq) + 16) * sizeof(float), VDIT_HOST_ALIGNMENT);
  if (!work) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "clustered attention: no host memory for the permuted tensors");
  float *qp = work, *op = qp + nq, *dop = op + nq, *dqp = dop + nq, *kp = dqp + nq, *vp = kp + nk, *dkp = vp + nk,
        *dvp = dkp + nk, *lp = dvp + nk;
  permute_rows(q, qp, st->q_perm, BH, Sq, D, 0);
  permute_rows(o, op, st->q_perm, BH, Sq, D, 0);
  permute_rows(d_o, dop, st->q_perm, BH, Sq, D, 0);
  permute_rows(lse, lp, st->q_perm, BH, Sq, 1, 0);
  permute_rows(k, kp, st->k_perm, BH, Sk, D, 0);
  permute_rows(v, vp, st->k_perm, BH, Sk, D, 0);
  const vdit_attn_problem p = executor_problem(problem, st);
  vdit_status status = vdit_attn_cpu_dense_backward(&p, qp, kp, vp, op, lp, dop, dqp, dkp, dvp);
  if (status == VDIT_OK) {
    permute_rows(dqp, dq, st->q_perm, BH, Sq, D, 1);
    permute_rows(dkp, dk, st->k_perm, BH, Sk, D, 1);
    permute_rows(dvp, dv, st->k_perm, BH, Sk, D, 1);
  }
  vdit_host_free(work);
  return status;
}
