// fp64 CPU reference for dense attention, forward and backward, and the error report the lab
// judges kernels by. Header-only, plain C (also compiles as C++), threads through pthreads.
//
// Arrays are canonical (B, H, S, D) doubles. The mask is the key-prefix rule of attn_dev.h:
// query i of batch b attends keys j < ref_key_limit(p, b, i).
//   forward:  s_ij = scale q_i.k_j, lse_i = log sum_j exp(s_ij), o_i = sum_j exp(s_ij - lse_i) v_j
//   backward: p_ij = exp(s_ij - lse_i), delta_i = dO_i.o_i, ds_ij = p_ij (dO_i.v_j - delta_i),
//             dq_i = scale sum_j ds_ij k_j, dk_j = scale sum_i ds_ij q_i, dv_j = sum_i p_ij dO_i
// A query with no key: o = 0, lse = -inf, dq = 0.
#ifndef ATTN_REF_H
#define ATTN_REF_H

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

typedef struct ref_problem {
  int B, H, Sq, Sk, D;
  double scale;
  int mask;                // 0 none, 1 causal, 2 block-causal (as ATTN_MASK_*)
  int64_t block_len;
  const int *key_lens;     // host, B entries, or NULL
} ref_problem;

static inline int ref_key_limit(const ref_problem *p, int b, int i) {
  int64_t limit = p->key_lens ? p->key_lens[b] : p->Sk;
  if (limit > p->Sk) limit = p->Sk;
  int64_t pos = (int64_t)i + p->Sk - p->Sq;
  if (p->mask == 1) {
    if (pos + 1 < limit) limit = pos + 1;
  } else if (p->mask == 2) {
    int64_t m = pos < 0 ? 0 : (pos / p->block_len + 1) * p->block_len;
    if (m < limit) limit = m;
  }
  return limit < 0 ? 0 : (int)limit;
}

// ---------------------------------------------------------------- parallel for
typedef void (*ref_task_fn)(void *ctx, int64_t index);
typedef struct ref_pool {
  ref_task_fn fn;
  void *ctx;
  int64_t n;
  int64_t next;
} ref_pool;

static inline void *ref_worker(void *arg) {
  ref_pool *pool = (ref_pool *)arg;
  for (;;) {
    int64_t i = __atomic_fetch_add(&pool->next, 1, __ATOMIC_RELAXED);
    if (i >= pool->n) break;
    pool->fn(pool->ctx, i);
  }
  return NULL;
}

static inline void ref_parallel_for(int64_t n, ref_task_fn fn, void *ctx) {
  ref_pool pool = {fn, ctx, n, 0};
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  int threads = cores < 1 ? 1 : (cores > 64 ? 64 : (int)cores);
  if (n < threads) threads = (int)(n > 0 ? n : 1);
  pthread_t tid[64];
  int started = 0;
  for (int t = 1; t < threads; t++)
    if (pthread_create(&tid[started], NULL, ref_worker, &pool) == 0) started++;
  ref_worker(&pool);
  for (int t = 0; t < started; t++) pthread_join(tid[t], NULL);
}

// ---------------------------------------------------------------- rows and keys
static inline double ref_dot(const double *a, const double *b, int n) {
  double s = 0;
  for (int d = 0; d < n; d++) s += a[d] * b[d];
  return s;
}

// Forward of query row i of head (b, h): o_row (D) and its lse. Q, K, V point at the head.
static inline void ref_forward_row(const ref_problem *p, int b, int i, const double *qh, const double *kh, const double *vh,
                            double *o_row, double *lse) {
  const int D = p->D, limit = ref_key_limit(p, b, i);
  const double *qi = qh + (int64_t)i * D;
  for (int d = 0; d < D; d++) o_row[d] = 0;
  if (limit == 0) {
    *lse = -INFINITY;
    return;
  }
  double *s = (double *)malloc(sizeof(double) * (size_t)limit);
  if (!s) {
    fprintf(stderr, "ref: out of memory\n");
    exit(2);
  }
  double m = -INFINITY;
  for (int j = 0; j < limit; j++) {
    s[j] = p->scale * ref_dot(qi, kh + (int64_t)j * D, D);
    if (s[j] > m) m = s[j];
  }
  double sum = 0;
  for (int j = 0; j < limit; j++) {
    s[j] = exp(s[j] - m);
    sum += s[j];
  }
  for (int j = 0; j < limit; j++) {
    const double w = s[j] / sum, *vj = vh + (int64_t)j * D;
    for (int d = 0; d < D; d++) o_row[d] += w * vj[d];
  }
  *lse = m + log(sum);
  free(s);
}

// dq of query row i (D), given its lse and delta.
static inline void ref_dq_row(const ref_problem *p, int b, int i, const double *qh, const double *kh, const double *vh,
                       const double *doh, double lse, double delta, double *dq_row) {
  const int D = p->D, limit = ref_key_limit(p, b, i);
  const double *qi = qh + (int64_t)i * D, *doi = doh + (int64_t)i * D;
  for (int d = 0; d < D; d++) dq_row[d] = 0;
  for (int j = 0; j < limit; j++) {
    const double *kj = kh + (int64_t)j * D;
    double pij = exp(p->scale * ref_dot(qi, kj, D) - lse);
    double ds = pij * (ref_dot(doi, vh + (int64_t)j * D, D) - delta);
    for (int d = 0; d < D; d++) dq_row[d] += p->scale * ds * kj[d];
  }
}

// dk and dv of key j (D each), given every query's lse and delta of the head.
static inline void ref_dkdv_row(const ref_problem *p, int b, int j, const double *qh, const double *kh, const double *vh,
                         const double *doh, const double *lse, const double *delta, double *dk_row, double *dv_row) {
  const int D = p->D;
  const double *kj = kh + (int64_t)j * D, *vj = vh + (int64_t)j * D;
  for (int d = 0; d < D; d++) dk_row[d] = dv_row[d] = 0;
  for (int i = 0; i < p->Sq; i++) {
    if (j >= ref_key_limit(p, b, i)) continue;
    const double *qi = qh + (int64_t)i * D, *doi = doh + (int64_t)i * D;
    double pij = exp(p->scale * ref_dot(qi, kj, D) - lse[i]);
    double ds = pij * (ref_dot(doi, vj, D) - delta[i]);
    for (int d = 0; d < D; d++) {
      dv_row[d] += pij * doi[d];
      dk_row[d] += p->scale * ds * qi[d];
    }
  }
}

// ---------------------------------------------------------------- whole problems
typedef struct ref_job {
  const ref_problem *p;
  const double *q, *k, *v, *d_o, *o_in, *lse_in;
  double *o, *lse, *delta, *dq, *dk, *dv;
} ref_job;

static inline void ref_fwd_task(void *ctx, int64_t row) { // row over (B, H, Sq)
  ref_job *j = (ref_job *)ctx;
  const ref_problem *p = j->p;
  const int64_t bh = row / p->Sq;
  const int i = (int)(row % p->Sq), b = (int)(bh / p->H), D = p->D;
  ref_forward_row(p, b, i, j->q + bh * p->Sq * D, j->k + bh * p->Sk * D, j->v + bh * p->Sk * D, j->o + row * D, j->lse + row);
}

static inline void ref_dq_task(void *ctx, int64_t row) {
  ref_job *j = (ref_job *)ctx;
  const ref_problem *p = j->p;
  const int64_t bh = row / p->Sq;
  const int i = (int)(row % p->Sq), b = (int)(bh / p->H), D = p->D;
  ref_dq_row(p, b, i, j->q + bh * p->Sq * D, j->k + bh * p->Sk * D, j->v + bh * p->Sk * D, j->d_o + bh * p->Sq * D,
             j->lse_in[row], j->delta[row], j->dq + row * D);
}

static inline void ref_dkdv_task(void *ctx, int64_t key) { // key over (B, H, Sk)
  ref_job *j = (ref_job *)ctx;
  const ref_problem *p = j->p;
  const int64_t bh = key / p->Sk;
  const int kj = (int)(key % p->Sk), b = (int)(bh / p->H), D = p->D;
  ref_dkdv_row(p, b, kj, j->q + bh * p->Sq * D, j->k + bh * p->Sk * D, j->v + bh * p->Sk * D, j->d_o + bh * p->Sq * D,
               j->lse_in + bh * p->Sq, j->delta + bh * p->Sq, j->dk + key * D, j->dv + key * D);
}

// o (B, H, Sq, D), lse (B, H, Sq).
static inline void ref_forward(const ref_problem *p, const double *q, const double *k, const double *v, double *o, double *lse) {
  ref_job job = {p, q, k, v, NULL, NULL, NULL, o, lse, NULL, NULL, NULL, NULL};
  ref_parallel_for((int64_t)p->B * p->H * p->Sq, ref_fwd_task, &job);
}

// Gradients from the reference forward's o and lse.
static inline void ref_backward(const ref_problem *p, const double *q, const double *k, const double *v, const double *o,
                         const double *lse, const double *d_o, double *dq, double *dk, double *dv) {
  const int64_t rows = (int64_t)p->B * p->H * p->Sq;
  double *delta = (double *)malloc(sizeof(double) * (size_t)(rows > 0 ? rows : 1));
  if (!delta) {
    fprintf(stderr, "ref: out of memory\n");
    exit(2);
  }
  for (int64_t r = 0; r < rows; r++) delta[r] = ref_dot(d_o + r * p->D, o + r * p->D, p->D);
  ref_job job = {p, q, k, v, d_o, o, lse, NULL, NULL, delta, dq, dk, dv};
  ref_parallel_for(rows, ref_dq_task, &job);
  ref_parallel_for((int64_t)p->B * p->H * p->Sk, ref_dkdv_task, &job);
  free(delta);
}

// ---------------------------------------------------------------- error report
// Relative to the reference's magnitude: rel_l1 = sum|x-r| / sum|r|, cos = <x,r>/(|x||r|),
// max_err = max|x-r| / max|r|. Non-finite x makes every metric NaN (no tolerance passes NaN).
typedef struct ref_err {
  double rel_l1, cos, max_err;
  int64_t nonfinite, count;
} ref_err;

typedef struct ref_err_acc {
  double abs_diff, abs_ref, sq_x, sq_ref, dot, max_diff, max_ref;
  int64_t nonfinite, count;
} ref_err_acc;

static inline void ref_err_add(ref_err_acc *a, double x, double r) {
  a->count++;
  if (!isfinite(x)) {
    a->nonfinite++;
    return;
  }
  double diff = fabs(x - r);
  a->abs_diff += diff;
  a->abs_ref += fabs(r);
  a->sq_x += x * x;
  a->sq_ref += r * r;
  a->dot += x * r;
  if (diff > a->max_diff) a->max_diff = diff;
  if (fabs(r) > a->max_ref) a->max_ref = fabs(r);
}

static inline ref_err ref_err_finish(const ref_err_acc *a) {
  ref_err e;
  e.count = a->count;
  e.nonfinite = a->nonfinite;
  if (a->nonfinite) {
    e.rel_l1 = e.cos = e.max_err = NAN;
    return e;
  }
  // an all-zero reference compares absolutely
  e.rel_l1 = a->abs_ref > 0 ? a->abs_diff / a->abs_ref : a->abs_diff;
  e.max_err = a->max_ref > 0 ? a->max_diff / a->max_ref : a->max_diff;
  double norms = sqrt(a->sq_x) * sqrt(a->sq_ref);
  e.cos = norms > 0 ? a->dot / norms : ((a->sq_x == 0 && a->sq_ref == 0) ? 1.0 : 0.0);
  return e;
}

#endif // ATTN_REF_H
