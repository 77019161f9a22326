// Clustered attention routing on the CPU (the specification; steps in cluster.h): k-means,
// permutation, key fragments, SVG / EAR routing into the block map, and the compensation
// terms as softmax extras. One (b, h) slice per OpenMP task.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attn/cluster.h"

// Philox stream offsets: initialisation and re-seeding draws, per slice and cluster.
// Philox offsets of the initialisation (iteration -1) and re-seeding draws: slice, iteration,
// then the cluster index added by the caller.
static uint64_t kmeans_stream(int which, int64_t bh, int32_t iteration) {
  return (1ull << 46) + ((uint64_t)which << 45) + ((uint64_t)bh << 28) + ((uint64_t)(iteration + 1) << 20);
}

static float dot(const float *a, const float *b, int64_t D) {
  float sum = 0.0f;
  for (int64_t d = 0; d < D; d++) sum += a[d] * b[d];
  return sum;
}

// One token index per cluster, stratified: floor((c + u_c) S / C).
static void seed_token(uint64_t seed, uint64_t stream, int32_t c, int32_t C, int64_t S, const float *x, int64_t D,
                       float *centroid) {
  float u;
  vdit_rng_uniform(seed, stream + (uint64_t)c, 1, &u);
  int64_t t = (int64_t)floor(((double)c + (double)u) * (double)S / (double)C);
  if (t >= S) t = S - 1;
  if (t < 0) t = 0;
  memcpy(centroid, x + t * D, (size_t)D * sizeof *centroid);
}

// Assignment: argmin_c |c|^2 - 2 x.c (ties to the lower c) over clusters.
static void kmeans_assign(const float *x, int64_t S, int64_t D, const float *centroids, const float *norms, int32_t C,
                          int32_t *assign) {
  for (int64_t t = 0; t < S; t++) {
    const float *xt = x + t * D;
    float best = INFINITY;
    int32_t arg = 0;
    for (int32_t c = 0; c < C; c++) {
      const float score = norms[c] - 2.0f * dot(xt, centroids + (int64_t)c * D, D);
      if (score < best) best = score, arg = c;
    }
    assign[t] = arg;
  }
}

// Means of the members in token order (sums in double); returns the empty clusters, which keep
// count 0 and get a drawn token as centroid when `reseed`.
static int32_t kmeans_update(const float *x, int64_t S, int64_t D, const int32_t *assign, int32_t C, float *centroids,
                             int32_t *count, double *sums, uint64_t seed, uint64_t stream) {
  memset(sums, 0, (size_t)(C * D) * sizeof *sums);
  memset(count, 0, (size_t)C * sizeof *count);
  for (int64_t t = 0; t < S; t++) {
    double *s = sums + (int64_t)assign[t] * D;
    for (int64_t d = 0; d < D; d++) s[d] += x[t * D + d];
    count[assign[t]]++;
  }
  int32_t empty = 0;
  for (int32_t c = 0; c < C; c++) {
    if (count[c] == 0) {
      empty++;
      seed_token(seed, stream, c, C, S, x, D, centroids + (int64_t)c * D);
      continue;
    }
    for (int64_t d = 0; d < D; d++) centroids[(int64_t)c * D + d] = (float)(sums[(int64_t)c * D + d] / count[c]);
  }
  return empty;
}

static int32_t kmeans(const float *x, int64_t S, int64_t D, int32_t C, int iterations, int warm, uint64_t seed,
                      int which, int64_t bh, float *centroids, int32_t *assign, int32_t *count, float *norms,
                      double *sums) {
  if (!warm)
    for (int32_t c = 0; c < C; c++) seed_token(seed, kmeans_stream(which, bh, -1), c, C, S, x, D, centroids + (int64_t)c * D);
  int32_t empty = 0;
  for (int it = 0; it < iterations; it++) {
    for (int32_t c = 0; c < C; c++) norms[c] = dot(centroids + (int64_t)c * D, centroids + (int64_t)c * D, D);
    kmeans_assign(x, S, D, centroids, norms, C, assign);
    empty = kmeans_update(x, S, D, assign, C, centroids, count, sums, seed, kmeans_stream(which, bh, it));
  }
  return empty;
}

// Stable counting sort by cluster: perm[new] = old.
static void sort_by_cluster(const int32_t *assign, int64_t S, const int32_t *count, int32_t C, int32_t *perm,
                            int32_t *offset) {
  int32_t total = 0;
  for (int32_t c = 0; c < C; c++) offset[c] = total, total += count[c];
  for (int64_t t = 0; t < S; t++) perm[offset[assign[t]]++] = (int32_t)t;
}

// Runs of one cluster inside one tile of the sorted sequence; returns the fragment count.
static int32_t key_fragments(const int32_t *assign, const int32_t *perm, int64_t S, int32_t tiles, int32_t *offsets,
                             int32_t *cluster, int32_t *count) {
  int32_t n = 0;
  for (int32_t j = 0; j < tiles; j++) {
    offsets[j] = n;
    const int64_t end = (int64_t)(j + 1) * VDIT_ATTN_CLUSTER_TILE < S ? (int64_t)(j + 1) * VDIT_ATTN_CLUSTER_TILE : S;
    for (int64_t p = (int64_t)j * VDIT_ATTN_CLUSTER_TILE; p < end; p++) {
      const int32_t c = assign[perm[p]];
      if (n > offsets[j] && cluster[n - 1] == c) count[n - 1]++;
      else cluster[n] = c, count[n++] = 1;
    }
  }
  offsets[tiles] = n;
  return n;
}

static int64_t tile_length(int32_t tile, int64_t S) {
  const int64_t begin = (int64_t)tile * VDIT_ATTN_CLUSTER_TILE;
  return S - begin < VDIT_ATTN_CLUSTER_TILE ? S - begin : VDIT_ATTN_CLUSTER_TILE;
}

// The centroid estimate of a query's attention over the key clusters: softmax_c(dots_c + log n_c)
// with dots_c = qbar . kbar_c scale, empty clusters (n_c = 0) left out. w[c] = e^(dots_c + log n_c
// - max) (0 for empty clusters; w may be dots itself); returns sum_c w[c], the softmax's divisor.
static double cluster_softmax(const float *dots, const int32_t *kn, int32_t ck, float *w) {
  float m = -INFINITY;
  for (int32_t c = 0; c < ck; c++)
    if (kn[c] > 0 && dots[c] + logf((float)kn[c]) > m) m = dots[c] + logf((float)kn[c]);
  double z = 0.0;
  for (int32_t c = 0; c < ck; c++) z += (w[c] = kn[c] > 0 ? expf(dots[c] + logf((float)kn[c]) - m) : 0.0f);
  return z;
}

// Per query cluster a, the centroid-estimated attention mass of each key tile j (cluster.h
// step 4, svg): mass[a][j] = sum_{fragments f in j} softmax_c(qbar_a . kbar_c scale + log n_c)
// n_f / n_c. work: ck floats.
static void cluster_tile_mass(const vdit_attn_cluster_state *st, int64_t bh, float scale, float *mass, float *p) {
  const int64_t D = st->dim;
  const float *qc = st->q_centroids + bh * st->cq * D, *kc = st->k_centroids + bh * st->ck * D;
  const int32_t *qn = st->q_count + bh * st->cq, *kn = st->k_count + bh * st->ck;
  const int32_t *fo = st->frag_offsets + bh * (st->k_tiles + 1);
  const int32_t *fc = st->frag_cluster + bh * st->max_fragments, *fn = st->frag_count + bh * st->max_fragments;
  for (int32_t a = 0; a < st->cq; a++) {
    float *row = mass + (int64_t)a * st->k_tiles;
    memset(row, 0, (size_t)st->k_tiles * sizeof *row);
    if (qn[a] == 0) continue;
    for (int32_t c = 0; c < st->ck; c++) p[c] = dot(qc + (int64_t)a * D, kc + (int64_t)c * D, D) * scale;
    const double z = cluster_softmax(p, kn, st->ck, p);
    for (int32_t c = 0; c < st->ck; c++) p[c] = kn[c] > 0 ? (float)(p[c] / z / kn[c]) : 0.0f; // per key token
    for (int32_t j = 0; j < st->k_tiles; j++) {
      float sum = 0.0f;
      for (int32_t f = fo[j]; f < fo[j + 1]; f++) sum += p[fc[f]] * (float)fn[f];
      row[j] = sum;
    }
  }
}

// EAR probe (cluster.h step 4): per query cluster a, the L1 error of compensating each key tile
// j for the probe query qbar_a: err[a][j] = |N'_j - N_j - o_hat (L'_j - L_j)|_1 / Z, with o_hat
// = sum_c softmax_c(qbar_a . kbar_c scale + log n_c) vbar_c (qbar_a's output estimated from the
// centroids: known before any key, so each tile's term is independent of the others) and Z the
// exact denominator over all keys. Keys in permuted order. work: Sk + 2 ck + 3 D + k_tiles floats.
static void cluster_probe(const vdit_attn_cluster_state *st, int64_t bh, float scale, const float *ks, const float *vs,
                          float *err, float *work) {
  const int64_t D = st->dim, Sk = st->seq_k;
  const int32_t kt = st->k_tiles;
  const float *qc = st->q_centroids + bh * st->cq * D;
  const float *kc = st->k_centroids + bh * st->ck * D, *vm = st->v_means + bh * st->ck * D;
  const int32_t *qn = st->q_count + bh * st->cq, *kn = st->k_count + bh * st->ck;
  const int32_t *fo = st->frag_offsets + bh * (kt + 1);
  const int32_t *fc = st->frag_cluster + bh * st->max_fragments, *fn = st->frag_count + bh * st->max_fragments;
  float *s = work, *cd = s + Sk, *cw = cd + st->ck, *oh = cw + st->ck, *n = oh + D, *nc = n + D, *num = nc + D;
  for (int32_t a = 0; a < st->cq; a++) {
    float *row = err + (int64_t)a * kt;
    memset(row, 0, (size_t)kt * sizeof *row);
    if (qn[a] == 0) continue;
    const float *qv = qc + (int64_t)a * D;
    float m = -INFINITY;
    for (int64_t j = 0; j < Sk; j++) {
      s[j] = dot(qv, ks + j * D, D) * scale;
      if (s[j] > m) m = s[j];
    }
    for (int32_t c = 0; c < st->ck; c++) cd[c] = dot(qv, kc + (int64_t)c * D, D) * scale;
    // o_hat: the key clusters' V means under the centroid softmax
    const double zh = cluster_softmax(cd, kn, st->ck, cw);
    memset(oh, 0, (size_t)D * sizeof *oh);
    for (int32_t c = 0; c < st->ck; c++)
      if (kn[c] > 0)
        for (int64_t d = 0; d < D; d++) oh[d] += cw[c] * vm[(int64_t)c * D + d];
    for (int64_t d = 0; d < D; d++) oh[d] = (float)(oh[d] / zh);
    // per tile: the numerator |N'_j - N_j - o_hat (L'_j - L_j)|_1 (at the reference m); Z
    double z = 0.0;
    for (int32_t j = 0; j < kt; j++) {
      memset(n, 0, (size_t)D * sizeof *n);
      memset(nc, 0, (size_t)D * sizeof *nc);
      float l = 0.0f, lc = 0.0f;
      const int64_t key_begin = (int64_t)j * VDIT_ATTN_CLUSTER_TILE, cols = tile_length(j, Sk);
      for (int64_t u = key_begin; u < key_begin + cols; u++) {
        const float w = expf(s[u] - m);
        l += w;
        for (int64_t d = 0; d < D; d++) n[d] += w * vs[u * D + d];
      }
      for (int32_t f = fo[j]; f < fo[j + 1]; f++) {
        const float w = (float)fn[f] * expf(cd[fc[f]] - m);
        lc += w;
        for (int64_t d = 0; d < D; d++) nc[d] += w * vm[(int64_t)fc[f] * D + d];
      }
      z += l;
      float e = 0.0f;
      for (int64_t d = 0; d < D; d++) e += fabsf(nc[d] - n[d] - oh[d] * (lc - l));
      num[j] = e;
    }
    const float inv = (float)(1.0 / z);
    for (int32_t j = 0; j < kt; j++) row[j] = num[j] * inv;
  }
}

// score[i][j] (+)= sum over the query-cluster runs of tile i of (run share) x table[a][j].
static void tile_aggregate(const vdit_attn_cluster_state *st, int64_t bh, const float *table, float *score, int add) {
  const int32_t *qa = st->q_assign + bh * st->seq_q, *qp = st->q_perm + bh * st->seq_q;
  for (int32_t i = 0; i < st->q_tiles; i++) {
    float *row = score + (int64_t)i * st->k_tiles;
    if (!add) memset(row, 0, (size_t)st->k_tiles * sizeof *row);
    const int64_t begin = (int64_t)i * VDIT_ATTN_CLUSTER_TILE, rows = tile_length(i, st->seq_q);
    for (int64_t t = begin; t < begin + rows;) {
      const int32_t a = qa[qp[t]];
      int64_t n = 0;
      while (t < begin + rows && qa[qp[t]] == a) t++, n++;
      const float w = (float)n / (float)rows;
      for (int32_t j = 0; j < st->k_tiles; j++) row[j] += w * table[(int64_t)a * st->k_tiles + j];
    }
  }
}

typedef struct ranked_pair {
  float key;
  int32_t index;
} ranked_pair;

static int compare_ranked(const void *a, const void *b) {
  const ranked_pair *x = a, *y = b;
  if (x->key != y->key) return x->key > y->key ? -1 : 1;
  return (x->index > y->index) - (x->index < y->index);
}

// SVG: rows sorted by mass; selected[i * kt + j] = 1 for the kept tiles. Returns the cost.
static int64_t svg_keep(const float *cum, const ranked_pair *order, int32_t qt, int32_t kt, int64_t Sq, int64_t Sk,
                        float p, float min_fraction, unsigned char *selected) {
  int64_t cost = 0;
  int32_t floor_count = (int32_t)ceil((double)min_fraction * kt - 1e-9);
  if (floor_count > kt) floor_count = kt;
  for (int32_t i = 0; i < qt; i++) {
    const float *c = cum + (int64_t)i * kt;
    const float target = p * c[kt - 1];
    int32_t keep = 0;
    if (p > 0.0f) {
      int32_t lo = 0, hi = kt - 1; // first index with cum >= target
      while (lo < hi) {
        const int32_t mid = (lo + hi) / 2;
        if (c[mid] >= target) hi = mid;
        else lo = mid + 1;
      }
      keep = lo + 1;
    }
    if (keep < floor_count) keep = floor_count;
    if (selected) memset(selected + (int64_t)i * kt, 0, (size_t)kt);
    for (int32_t e = 0; e < keep; e++) {
      const int32_t j = order[(int64_t)i * kt + e].index;
      cost += tile_length(i, Sq) * tile_length(j, Sk);
      if (selected) selected[(int64_t)i * kt + j] = 1;
    }
  }
  return cost;
}

// Routing into selected (q_tiles, k_tiles); returns the cost in token pairs and svg's p.
static int64_t route(const vdit_attn_cluster_state *st, const float *score, unsigned char *selected, ranked_pair *order,
                     float *cum, float *p_used) {
  const int32_t qt = st->q_tiles, kt = st->k_tiles;
  const int64_t Sq = st->seq_q, Sk = st->seq_k;
  const double budget = st->config.budget;
  *p_used = 0.0f;
  if (budget >= 1.0) {
    memset(selected, 1, (size_t)(qt * kt));
    return Sq * Sk;
  }
  const int64_t allowed = budget < 0 ? 0 : (int64_t)floor(budget * (double)Sq * (double)Sk);
  if (st->method == VDIT_ATTN_EAR) {
    for (int64_t e = 0; e < (int64_t)qt * kt; e++)
      order[e] = (ranked_pair){score[e] / (float)tile_length((int32_t)(e % kt), Sk), (int32_t)e};
    qsort(order, (size_t)qt * kt, sizeof *order, compare_ranked);
    memset(selected, 0, (size_t)(qt * kt));
    int64_t cost = 0;
    for (int64_t e = 0; e < (int64_t)qt * kt; e++) {
      const int32_t i = order[e].index / kt, j = order[e].index % kt;
      const int64_t c = tile_length(i, Sq) * tile_length(j, Sk);
      if (cost + c > allowed) continue;
      cost += c;
      selected[order[e].index] = 1;
    }
    return cost;
  }
  for (int32_t i = 0; i < qt; i++) {
    ranked_pair *o = order + (int64_t)i * kt;
    for (int32_t j = 0; j < kt; j++) o[j] = (ranked_pair){score[(int64_t)i * kt + j], j};
    qsort(o, (size_t)kt, sizeof *o, compare_ranked);
    float total = 0.0f;
    for (int32_t j = 0; j < kt; j++) cum[(int64_t)i * kt + j] = total += o[j].key;
  }
  const float min_fraction = st->config.min_fraction;
  if (budget < 0) {
    *p_used = st->config.top_p;
    return svg_keep(cum, order, qt, kt, Sq, Sk, st->config.top_p, min_fraction, selected);
  }
  float lo = 0.0f, hi = 1.0f; // invariant: cost(lo) fits (or lo = 0)
  if (svg_keep(cum, order, qt, kt, Sq, Sk, 1.0f, min_fraction, NULL) <= allowed) lo = 1.0f;
  else
    for (int it = 0; it < 30; it++) {
      const float mid = 0.5f * (lo + hi);
      if (svg_keep(cum, order, qt, kt, Sq, Sk, mid, min_fraction, NULL) <= allowed) lo = mid;
      else hi = mid;
    }
  *p_used = lo;
  return svg_keep(cum, order, qt, kt, Sq, Sk, lo, min_fraction, selected);
}

// Compensation of one query token (permuted order, tile i) over the fragments of the key tiles
// row i leaves out. cd: its ck cluster logits q . kbar_c * scale.
static void compensate(const vdit_attn_cluster_state *st, int64_t bh, const unsigned char *row_selected, const float *cd,
                       float *row_max, float *row_sum, float *numerator) {
  const int64_t D = st->dim;
  const int32_t kt = st->k_tiles;
  const int32_t *fo = st->frag_offsets + bh * (kt + 1);
  const int32_t *fc = st->frag_cluster + bh * st->max_fragments, *fn = st->frag_count + bh * st->max_fragments;
  const float *vm = st->v_means + bh * st->ck * D;
  float m = -INFINITY;
  for (int32_t j = 0; j < kt; j++)
    if (!row_selected[j])
      for (int32_t f = fo[j]; f < fo[j + 1]; f++) {
        const float logit = cd[fc[f]] + logf((float)fn[f]);
        if (logit > m) m = logit;
      }
  memset(numerator, 0, (size_t)D * sizeof *numerator);
  float l = 0.0f;
  if (m > -INFINITY)
    for (int32_t j = 0; j < kt; j++)
      if (!row_selected[j])
        for (int32_t f = fo[j]; f < fo[j + 1]; f++) {
          const float w = (float)fn[f] * expf(cd[fc[f]] - m);
          l += w;
          for (int64_t d = 0; d < D; d++) numerator[d] += w * vm[(int64_t)fc[f] * D + d];
        }
  *row_max = m > -INFINITY ? m : 0.0f;
  *row_sum = l;
}

vdit_status vdit_attn_cluster_select(vdit_attn_cluster_state *st) {
  const int32_t qt = st->q_tiles, kt = st->k_tiles;
  unsigned char *selected = st->selected;
  int64_t total_cost = 0;
  double p_sum = 0.0;
  int failed = 0;
#pragma omp parallel for schedule(dynamic) reduction(| : failed) reduction(+ : total_cost, p_sum)
  for (int64_t bh = 0; bh < st->bh; bh++) {
    ranked_pair *order = malloc((size_t)(qt * kt + 1) * sizeof *order);
    float *cum = malloc((size_t)(qt * kt + 1) * sizeof *cum);
    if (!order || !cum) {
      free(order), free(cum);
      failed = 1;
      continue;
    }
    float p_used = 0.0f;
    total_cost += route(st, st->pair_score + bh * qt * kt, selected + bh * qt * kt, order, cum, &p_used);
    p_sum += p_used;
    free(order), free(cum);
  }
  if (failed) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "clustered attention: no host memory for the selection");
  vdit_attn_block_map *map = &st->map;
  int32_t used = 0;
  for (int64_t r = 0; r < st->bh * qt; r++) {
    map->row_offsets[r] = used;
    for (int32_t j = 0; j < kt; j++)
      if (selected[r * kt + j]) map->col_index[used++] = j;
  }
  map->row_offsets[st->bh * qt] = used;
  st->map_t_ready = 0;
  st->stats.budget_used = (double)total_cost / ((double)st->bh * (double)st->seq_q * (double)st->seq_k);
  st->stats.top_p = st->method == VDIT_ATTN_SVG ? p_sum / (double)st->bh : 0.0;
  return VDIT_OK;
}

vdit_status vdit_attn_cluster_route_cpu(const vdit_attn_problem *problem, vdit_attn_cluster_state *st, const float *q,
                                        const float *k, const float *v) {
  const int64_t D = st->dim, Sq = st->seq_q, Sk = st->seq_k;
  const int32_t qt = st->q_tiles, kt = st->k_tiles, cq = st->cq, ck = st->ck;
  const int warm = st->config.warm_start && st->have_centroids;
  const int iterations = warm ? st->config.warm_iterations : st->config.iterations;
  const float scale = problem->scale;
  int64_t fragments = 0;
  int32_t q_empty = 0, k_empty = 0;
  int failed = 0;
  double kmeans_time = 0.0, select_time = 0.0, compensate_time = 0.0; // summed over slices
  const double start = vdit_time_seconds();
  const int32_t cmax = cq > ck ? cq : ck;
  const int64_t smax = Sq > Sk ? Sq : Sk;
  // pass 1 per slice: k-means, permutation, fragments, V means, pair scores
#pragma omp parallel for schedule(dynamic) reduction(| : failed) reduction(+ : fragments, q_empty, k_empty, kmeans_time, select_time)
  for (int64_t bh = 0; bh < st->bh; bh++) {
    if (failed) continue;
    const size_t floats = (size_t)(2 * smax * D + cmax + 2 * (int64_t)cq * kt + smax + 2 * ck + 3 * D + kt + 16);
    float *work = malloc(floats * sizeof *work);
    double *sums = malloc((size_t)(cmax * D + 1) * sizeof *sums);
    int32_t *offset = malloc((size_t)(cmax + 1) * sizeof *offset);
    if (!work || !sums || !offset) {
      free(work), free(sums), free(offset);
      failed = 1;
      continue;
    }
    float *ks = work, *vs = ks + smax * D, *norms = vs + smax * D, *table = norms + cmax, *table2 = table + (int64_t)cq * kt,
          *scratch = table2 + (int64_t)cq * kt;
    const float *qh = q + bh * Sq * D, *kh = k + bh * Sk * D, *vh = v + bh * Sk * D;
    float *qc = st->q_centroids + bh * cq * D, *kc = st->k_centroids + bh * ck * D, *vm = st->v_means + bh * ck * D;
    int32_t *qa = st->q_assign + bh * Sq, *ka = st->k_assign + bh * Sk, *qn = st->q_count + bh * cq,
            *kn = st->k_count + bh * ck, *qp = st->q_perm + bh * Sq, *kp = st->k_perm + bh * Sk;
    const double t0 = vdit_time_seconds();
    q_empty += kmeans(qh, Sq, D, cq, iterations, warm, st->config.seed, 0, bh, qc, qa, qn, norms, sums);
    k_empty += kmeans(kh, Sk, D, ck, iterations, warm, st->config.seed, 1, bh, kc, ka, kn, norms, sums);
    const double t1 = vdit_time_seconds();
    sort_by_cluster(qa, Sq, qn, cq, qp, offset);
    sort_by_cluster(ka, Sk, kn, ck, kp, offset);
    fragments += key_fragments(ka, kp, Sk, kt, st->frag_offsets + bh * (kt + 1), st->frag_cluster + bh * st->max_fragments,
                               st->frag_count + bh * st->max_fragments);
    // V means per key cluster (members in token order)
    memset(sums, 0, (size_t)(ck * D) * sizeof *sums);
    for (int64_t t = 0; t < Sk; t++)
      for (int64_t d = 0; d < D; d++) sums[(int64_t)ka[t] * D + d] += vh[t * D + d];
    for (int32_t c = 0; c < ck; c++)
      for (int64_t d = 0; d < D; d++) vm[(int64_t)c * D + d] = kn[c] > 0 ? (float)(sums[(int64_t)c * D + d] / kn[c]) : 0.0f;
    float *score = st->pair_score + bh * qt * kt;
    cluster_tile_mass(st, bh, scale, table, scratch);
    tile_aggregate(st, bh, table, score, 0);
    if (st->method == VDIT_ATTN_EAR) {
      // the probe's error, plus a prior for what a centroid probe cannot see (member queries
      // peakier than their centroid): the pair's centroid-estimated mass times D, the L1 error
      // of losing it whole
      for (int64_t p = 0; p < Sk; p++) memcpy(ks + p * D, kh + (int64_t)kp[p] * D, (size_t)D * sizeof *ks);
      for (int64_t p = 0; p < Sk; p++) memcpy(vs + p * D, vh + (int64_t)kp[p] * D, (size_t)D * sizeof *vs);
      cluster_probe(st, bh, scale, ks, vs, table2, scratch);
      for (int64_t e = 0; e < (int64_t)qt * kt; e++) score[e] *= (float)D;
      tile_aggregate(st, bh, table2, score, 1);
    }
    kmeans_time += t1 - t0, select_time += vdit_time_seconds() - t1;
    free(work), free(sums), free(offset);
  }
  if (failed) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "clustered attention: no host memory for the routing");
  double t_select = vdit_time_seconds();
  VDIT_TRY(vdit_attn_cluster_select(st));
  t_select = vdit_time_seconds() - t_select;
  const double t_compensate = vdit_time_seconds();
  // pass 2 per slice: compensation, permuted order
#pragma omp parallel for schedule(dynamic) reduction(| : failed)
  for (int64_t bh = 0; bh < st->bh; bh++) {
    float *cd = malloc((size_t)(ck + D + 1) * sizeof *cd), *qv = cd + ck;
    if (!cd) {
      failed = 1;
      continue;
    }
    const float *kc = st->k_centroids + bh * ck * D;
    const int32_t *kn = st->k_count + bh * ck, *qp = st->q_perm + bh * Sq;
    for (int64_t p = 0; p < Sq; p++) {
      memcpy(qv, q + (bh * Sq + qp[p]) * D, (size_t)D * sizeof *qv);
      for (int32_t c = 0; c < ck; c++) cd[c] = kn[c] > 0 ? dot(qv, kc + (int64_t)c * D, D) * scale : -INFINITY;
      const int64_t row = bh * Sq + p;
      compensate(st, bh, st->selected + (bh * qt + p / VDIT_ATTN_CLUSTER_TILE) * kt, cd, &st->extra_max[row],
                 &st->extra_sum[row], st->extra_num + row * D);
    }
    free(cd);
  }
  if (failed) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "clustered attention: no host memory for the compensation");
  compensate_time = vdit_time_seconds() - t_compensate;
  st->stats.q_clusters = cq, st->stats.k_clusters = ck;
  st->stats.q_empty = q_empty, st->stats.k_empty = k_empty;
  st->stats.fragments = fragments;
  st->stats.warm = warm;
  vdit_attn_cluster_pad_factors(st);
  // pass 1's slices ran in parallel: split its wall clock in the proportions of their summed times
  const double pass1 = t_compensate - start - t_select, busy = kmeans_time + select_time;
  st->stats.kmeans_seconds = busy > 0 ? pass1 * kmeans_time / busy : 0.0;
  st->stats.select_seconds = (busy > 0 ? pass1 * select_time / busy : 0.0) + t_select;
  st->stats.compensate_seconds = compensate_time;
  st->stats.route_seconds = vdit_time_seconds() - start;
  st->stats.stages = 0; // per-step GPU times: CUDA routing only
  st->have_centroids = 1;
  st->routed = 1;
  return VDIT_OK;
}
