// fp64 reference attention: the specification every kernel is tested against. Materialises
// one row of scores at a time; plain loops, no tricks.
#include <math.h>
#include <stdlib.h>

#include "attn/attn_kernels.h"

// Keys row i may see: j < limit and, with a block map, j's key block listed in i's row.
// Returns how many; allowed has Sk entries.
static int64_t allowed_keys(const vdit_attn_problem *problem, int64_t b, int64_t h, int64_t i, int64_t limit,
                            unsigned char *allowed) {
  const vdit_attn_block_map *map = problem->map;
  const int64_t seq_k = problem->shape.seq_k;
  for (int64_t j = 0; j < seq_k; j++) allowed[j] = j < limit && !map;
  if (!map) return limit;
  const int64_t r = (b * problem->shape.heads + h) * map->q_blocks + i / map->block_q;
  int64_t count = 0;
  for (int32_t e = map->row_offsets[r]; e < map->row_offsets[r + 1]; e++)
    for (int64_t j = (int64_t)map->col_index[e] * map->block_k; j < (map->col_index[e] + 1) * (int64_t)map->block_k; j++)
      if (j < limit) {
        allowed[j] = 1;
        count++;
      }
  return count;
}

vdit_status vdit_attn_reference_forward(const vdit_attn_problem *problem, const double *q, const double *k,
                                        const double *v, double *o, double *lse) {
  const vdit_attn_shape s = problem->shape;
  const int64_t D = s.head_dim;
  int failed = 0;
#pragma omp parallel for collapse(2) schedule(dynamic) reduction(| : failed)
  for (int64_t b = 0; b < s.batch; b++)
    for (int64_t h = 0; h < s.heads; h++) {
      double *scores = malloc((size_t)(s.seq_k ? s.seq_k : 1) * sizeof *scores);
      unsigned char *allowed = malloc((size_t)(s.seq_k ? s.seq_k : 1));
      if (!scores || !allowed) {
        free(scores);
        free(allowed);
        failed = 1;
        continue;
      }
      const double *kh = k + (b * s.heads + h) * s.seq_k * D;
      const double *vh = v + (b * s.heads + h) * s.seq_k * D;
      for (int64_t i = 0; i < s.seq_q; i++) {
        const double *qi = q + ((b * s.heads + h) * s.seq_q + i) * D;
        double *oi = o + ((b * s.heads + h) * s.seq_q + i) * D;
        int64_t limit = vdit_attn_key_limit(&problem->config, b, i, s.seq_q, s.seq_k);
        const int64_t seen = allowed_keys(problem, b, h, i, limit, allowed);
        double max_score = -INFINITY;
        for (int64_t j = 0; j < limit; j++) {
          if (!allowed[j]) continue;
          double dot = 0;
          for (int64_t d = 0; d < D; d++) dot += qi[d] * kh[j * D + d];
          scores[j] = dot * (double)problem->scale;
          if (scores[j] > max_score) max_score = scores[j];
        }
        double sum = 0;
        for (int64_t j = 0; j < limit; j++)
          if (allowed[j]) sum += exp(scores[j] - max_score);
        for (int64_t d = 0; d < D; d++) oi[d] = 0;
        for (int64_t j = 0; j < limit; j++) {
          if (!allowed[j]) continue;
          double p = exp(scores[j] - max_score) / sum;
          for (int64_t d = 0; d < D; d++) oi[d] += p * vh[j * D + d];
        }
        lse[(b * s.heads + h) * s.seq_q + i] = seen ? max_score + log(sum) : -INFINITY;
      }
      free(scores);
      free(allowed);
    }
  return failed ? VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "reference attention: no memory for a score row") : VDIT_OK;
}

// dV = P^T dO; dP = dO V^T; dS = P * (dP - rowsum(dO * O)); dQ = scale dS K; dK = scale dS^T Q.
vdit_status vdit_attn_reference_backward(const vdit_attn_problem *problem, const double *q, const double *k,
                                         const double *v, const double *d_o, double *dq, double *dk, double *dv) {
  const vdit_attn_shape s = problem->shape;
  const int64_t D = s.head_dim;
  const double scale = (double)problem->scale;
  int failed = 0;
#pragma omp parallel for collapse(2) schedule(dynamic) reduction(| : failed)
  for (int64_t b = 0; b < s.batch; b++)
    for (int64_t h = 0; h < s.heads; h++) {
      const int64_t q_base = (b * s.heads + h) * s.seq_q * D, k_base = (b * s.heads + h) * s.seq_k * D;
      double *p = malloc((size_t)(s.seq_k ? s.seq_k : 1) * sizeof *p);
      double *o_row = malloc((size_t)D * sizeof *o_row);
      unsigned char *allowed = malloc((size_t)(s.seq_k ? s.seq_k : 1));
      if (!p || !o_row || !allowed) {
        free(p);
        free(o_row);
        free(allowed);
        failed = 1;
        continue;
      }
      for (int64_t j = 0; j < s.seq_k * D; j++) dk[k_base + j] = dv[k_base + j] = 0;
      for (int64_t i = 0; i < s.seq_q; i++) {
        const double *qi = q + q_base + i * D, *doi = d_o + q_base + i * D;
        double *dqi = dq + q_base + i * D;
        for (int64_t d = 0; d < D; d++) dqi[d] = 0;
        int64_t limit = vdit_attn_key_limit(&problem->config, b, i, s.seq_q, s.seq_k);
        if (allowed_keys(problem, b, h, i, limit, allowed) == 0) continue;
        double max_score = -INFINITY, sum = 0;
        for (int64_t j = 0; j < limit; j++) {
          p[j] = -INFINITY;
          if (!allowed[j]) continue;
          double dot = 0;
          for (int64_t d = 0; d < D; d++) dot += qi[d] * k[k_base + j * D + d];
          p[j] = dot * scale;
          if (p[j] > max_score) max_score = p[j];
        }
        for (int64_t j = 0; j < limit; j++) sum += (p[j] = exp(p[j] - max_score));
        for (int64_t d = 0; d < D; d++) o_row[d] = 0;
        for (int64_t j = 0; j < limit; j++) {
          p[j] /= sum;
          for (int64_t d = 0; d < D; d++) o_row[d] += p[j] * v[k_base + j * D + d];
        }
        double delta = 0; // rowsum(dO * O)
        for (int64_t d = 0; d < D; d++) delta += doi[d] * o_row[d];
        for (int64_t j = 0; j < limit; j++) {
          if (!allowed[j]) continue;
          double dp = 0;
          for (int64_t d = 0; d < D; d++) {
            dp += doi[d] * v[k_base + j * D + d];
            dv[k_base + j * D + d] += p[j] * doi[d];
          }
          double ds = p[j] * (dp - delta) * scale;
          for (int64_t d = 0; d < D; d++) {
            dqi[d] += ds * k[k_base + j * D + d];
            dk[k_base + j * D + d] += ds * qi[d];
          }
        }
      }
      free(p);
      free(o_row);
      free(allowed);
    }
  return failed ? VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "reference attention backward: no memory") : VDIT_OK;
}
