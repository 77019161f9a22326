// Block-mass distillation for SLA2's router (sla_router_fit.h), fp32 inputs, double sums.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attn/sla_router_fit.h"

static int64_t blocks_of(int64_t seq, int32_t block) { return (seq + block - 1) / block; }

static vdit_status check_shape(const vdit_attn_shape *s, int32_t block, const char *what) {
  if (s->seq_q != s->seq_k || s->batch < 1 || s->heads < 1 || s->seq_q < 1 || s->head_dim < 1 || block < 1)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: needs Sq = Sk, positive sizes and block", what);
  return VDIT_OK;
}

vdit_status vdit_attn_sla_block_mass(const vdit_attn_shape *shape, int32_t block, const float *q, const float *k,
                                     double *mass) {
  VDIT_TRY(check_shape(shape, block, "sla block mass"));
  const vdit_attn_shape s = *shape;
  const int64_t S = s.seq_q, D = s.head_dim, nb = blocks_of(S, block), BH = s.batch * s.heads;
  const float scale = 1.0f / sqrtf((float)D);
  memset(mass, 0, (size_t)(BH * nb * nb) * sizeof *mass);
  int failed = 0;
  // one task per (b, h, query block): its rows' scores (S), then softmax mass per key block
#pragma omp parallel for schedule(dynamic) reduction(| : failed)
  for (int64_t task = 0; task < BH * nb; task++) {
    const int64_t bh = task / nb, I = task % nb;
    float *row = malloc((size_t)S * sizeof *row);
    if (!row) {
      failed = 1;
      continue;
    }
    const float *qh = q + bh * S * D, *kh = k + bh * S * D;
    double *out = mass + task * nb;
    const int64_t i0 = I * block, i1 = i0 + block < S ? i0 + block : S;
    for (int64_t i = i0; i < i1; i++) {
      const float *qi = qh + i * D;
      float m = -INFINITY;
      for (int64_t t = 0; t < S; t++) {
        const float *kt = kh + t * D;
        float dot = 0.0f;
        for (int64_t d = 0; d < D; d++) dot += qi[d] * kt[d];
        row[t] = dot * scale;
        m = row[t] > m ? row[t] : m;
      }
      double sum = 0.0;
      for (int64_t t = 0; t < S; t++) sum += exp((double)row[t] - m);
      const double inv = 1.0 / (sum * (double)(i1 - i0));
      for (int64_t J = 0; J < nb; J++) {
        const int64_t t0 = J * block, t1 = t0 + block < S ? t0 + block : S;
        double part = 0.0;
        for (int64_t t = t0; t < t1; t++) part += exp((double)row[t] - m);
        out[J] += part * inv;
      }
    }
    free(row);
  }
  if (failed) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "sla block mass: no memory for a score row");
  return VDIT_OK;
}

// Block means (nb, D) of the rows of x (S, D).
static void block_means(const float *x, int64_t S, int64_t D, int32_t block, int64_t nb, double *pooled) {
  for (int64_t J = 0; J < nb; J++) {
    const int64_t t0 = J * block, t1 = t0 + block < S ? t0 + block : S;
    for (int64_t d = 0; d < D; d++) {
      double sum = 0.0;
      for (int64_t t = t0; t < t1; t++) sum += x[t * D + d];
      pooled[J * D + d] = sum / (double)(t1 - t0);
    }
  }
}

// proj (nb, Dr) = pooled (nb, D) w (D, Dr)
static void project(const double *pooled, const float *w, int64_t nb, int64_t D, int64_t Dr, double *proj) {
  for (int64_t J = 0; J < nb; J++)
    for (int64_t r = 0; r < Dr; r++) {
      double acc = 0.0;
      for (int64_t d = 0; d < D; d++) acc += pooled[J * D + d] * w[d * Dr + r];
      proj[J * Dr + r] = acc;
    }
}

vdit_status vdit_attn_sla_router_distill(const vdit_attn_shape *shape, int32_t block, int32_t router_dim,
                                         const float *q, const float *k, const double *mass, const float *wq,
                                         const float *wk, double *loss, float *grad_wq, float *grad_wk) {
  VDIT_TRY(check_shape(shape, block, "sla router distill"));
  if (router_dim < 1) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "sla router distill: router_dim must be >= 1");
  const vdit_attn_shape s = *shape;
  const int64_t S = s.seq_q, D = s.head_dim, Dr = router_dim, nb = blocks_of(S, block), BH = s.batch * s.heads;
  const double scale = 1.0 / sqrt((double)Dr), norm = 1.0 / (double)(BH * nb);
  const int grads = grad_wq || grad_wk;
  // per (b, h): pooled q, k (nb, D); projections (nb, Dr); dL/dproj (nb, Dr) twice; a score row;
  // dWq, dWk (D, Dr) each, summed over b afterwards in order
  const size_t per = (size_t)(2 * nb * D + 4 * nb * Dr + nb);
  double *work = malloc((size_t)BH * per * sizeof *work);
  double *part = calloc((size_t)(BH * (2 * D * Dr + 1)), sizeof *part);
  if (!work || !part) {
    free(work), free(part);
    return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "sla router distill: no memory");
  }
#pragma omp parallel for schedule(dynamic)
  for (int64_t bh = 0; bh < BH; bh++) {
    const int64_t h = bh % s.heads;
    double *pq = work + (size_t)bh * per, *pk = pq + nb * D, *rq = pk + nb * D, *rk = rq + nb * Dr;
    double *drq = rk + nb * Dr, *drk = drq + nb * Dr, *srow = drk + nb * Dr;
    double *gq = part + bh * (2 * D * Dr + 1), *gk = gq + D * Dr, *lsum = gk + D * Dr;
    block_means(q + bh * S * D, S, D, block, nb, pq);
    block_means(k + bh * S * D, S, D, block, nb, pk);
    project(pq, wq + h * D * Dr, nb, D, Dr, rq);
    project(pk, wk + h * D * Dr, nb, D, Dr, rk);
    memset(drq, 0, (size_t)(2 * nb * Dr) * sizeof *drq); // drq and drk
    for (int64_t I = 0; I < nb; I++) {
      const double *p = mass + (bh * nb + I) * nb;
      double m = -INFINITY;
      for (int64_t J = 0; J < nb; J++) {
        double dot = 0.0;
        for (int64_t r = 0; r < Dr; r++) dot += rq[I * Dr + r] * rk[J * Dr + r];
        srow[J] = dot * scale;
        m = srow[J] > m ? srow[J] : m;
      }
      double z = 0.0;
      for (int64_t J = 0; J < nb; J++) z += exp(srow[J] - m);
      const double log_z = m + log(z);
      for (int64_t J = 0; J < nb; J++) {
        const double log_soft = srow[J] - log_z;
        if (p[J] > 0.0) *lsum += p[J] * (log(p[J]) - log_soft);
        if (!grads) continue;
        const double g = (exp(log_soft) - p[J]) * norm * scale; // dL/ds_IJ times ds/d(dot)
        for (int64_t r = 0; r < Dr; r++) {
          drq[I * Dr + r] += g * rk[J * Dr + r];
          drk[J * Dr + r] += g * rq[I * Dr + r];
        }
      }
    }
    if (grads) // dWq = Qbar^T dRq, dWk = Kbar^T dRk
      for (int64_t d = 0; d < D; d++)
        for (int64_t r = 0; r < Dr; r++) {
          double aq = 0.0, ak = 0.0;
          for (int64_t I = 0; I < nb; I++) {
            aq += pq[I * D + d] * drq[I * Dr + r];
            ak += pk[I * D + d] * drk[I * Dr + r];
          }
          gq[d * Dr + r] = aq;
          gk[d * Dr + r] = ak;
        }
  }
  double total = 0.0;
  for (int64_t bh = 0; bh < BH; bh++) total += part[bh * (2 * D * Dr + 1) + 2 * D * Dr];
  *loss = total * norm;
  for (int64_t h = 0; grads && h < s.heads; h++)
    for (int64_t i = 0; i < D * Dr; i++) {
      double sq = 0.0, sk = 0.0;
      for (int64_t b = 0; b < s.batch; b++) {
        sq += part[(b * s.heads + h) * (2 * D * Dr + 1) + i];
        sk += part[(b * s.heads + h) * (2 * D * Dr + 1) + D * Dr + i];
      }
      if (grad_wq) grad_wq[h * D * Dr + i] = (float)sq;
      if (grad_wk) grad_wk[h * D * Dr + i] = (float)sk;
    }
  free(work), free(part);
  return VDIT_OK;
}
