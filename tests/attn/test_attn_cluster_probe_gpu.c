// The GPU pair scores of clustered attention (src/attn/cuda/attn_cluster_probe.cu, the centroid
// scores of attn_cluster_gemm.cu) against fp64 references computed from the GPU's own routing
// inputs (centroids, V means, permutation, fragments, the fp32 Q, K, V), after an EAR forward
// with config.gpu_routing:
//  1. svg mass: softmax_c(qbar_a . kbar_c scale + log n_c) n_f / n_c summed over each key tile's
//     fragments; the GPU's dot products are fp32-accurate (TF32 hi / lo), so every mass is
//     within 1e-4 of itself (+ 1e-7) of the fp64 value;
//  2. EAR probe: err[a][j] = |N'_j - N_j - o_hat (L'_j - L_j)|_1 / Z for centroid a and key tile j
//     (cluster.h step 4; o_hat = sum_c softmax_c(qbar_a . kbar_c scale + log n_c) vbar_c, Z exact,
//     since round 18); 16-bit scores and probabilities, so the errors must match to 3% in sum and
//     each within 2% of the largest + 5% of itself; o_hat itself (W Vbar on bf16 hi / lo tensor
//     cores since round 20) within 3e-4 of sum_c w_c |vbar_c| (+ 1e-7) of the fp64 value.
// Shapes: D = 128 and 64 (16-byte loads), 66 (element loads; the executor refuses this D after
// the routing, which is what is checked), Sk not a multiple of 64, more than 128 query clusters
// (two row blocks), bf16 and fp16, and key tiles of more than 16 fragments (400 key clusters in
// 1024 keys). Skips (exit 77) without the CUDA
// backend or a GPU.
// Also, on the same forward, two integer results exactly:
//  3. the key fragments (runs of one cluster in each key tile, in the permuted order) against the
//     host's walk over the GPU's own assignment and permutation;
//  4. ear's selection (attn_cluster_select.cu: radix passes over every SM, the ragged tail) against
//     the host's greedy order on the GPU's own pair scores: pairs by score / cols_j descending
//     (ties to the lower pair index), each taken while its cost still fits the budget. A case of
//     71 x 71 tiles (5041 pairs a head: two radix blocks, ragged edge tiles) exercises both.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vdit/vdit.h"

#ifdef VDIT_HAVE_CUDA
#include "attn/attn_inputs.h"
#include "attn/attn_kernels.h"
#include "attn/cluster.h"
#endif

#define TEST_NAME "test_attn_cluster_probe_gpu"

#ifdef VDIT_HAVE_CUDA
// Device array -> fresh host array (NULL on failure).
static void *download(vdit_device device, const void *src, size_t bytes) {
  void *out = malloc(bytes ? bytes : 1);
  if (out && vdit_memcpy(VDIT_CPU, out, device, src, bytes) != VDIT_OK) {
    free(out);
    return NULL;
  }
  return out;
}

static vdit_status make_tensor(vdit_tensor *t, const float *bhsd, vdit_dtype dtype, int64_t B, int64_t H, int64_t S, int64_t D) {
  const int64_t shape[4] = {B, H, S, D};
  vdit_tensor host;
  VDIT_TRY(vdit_tensor_alloc(&host, dtype, VDIT_CPU, 4, shape));
  vdit_status status = vdit_attn_tensor_from_bhsd(bhsd, VDIT_ATTN_LAYOUT_BHSD, &host);
  if (status == VDIT_OK) status = vdit_tensor_alloc(t, dtype, VDIT_CUDA(0), 4, shape);
  if (status == VDIT_OK) status = vdit_tensor_copy(t, &host);
  vdit_tensor_free(&host);
  return status;
}

static double dot64(const float *a, const float *b, int64_t D) {
  double s = 0.0;
  for (int64_t d = 0; d < D; d++) s += (double)a[d] * (double)b[d];
  return s;
}

typedef struct routing_inputs {
  float *qc, *kc, *vm, *kf, *vf, *mass, *err, *score, *ohat;
  int32_t *q_count, *k_count, *k_perm, *fo, *fc, *fn, *k_assign;
  unsigned char *selected;
} routing_inputs;

static void routing_inputs_free(routing_inputs *r) {
  void *all[] = {r->qc,      r->kc,      r->vm,     r->kf, r->vf, r->mass, r->err,      r->q_count,
                 r->k_count, r->k_perm,  r->fo,     r->fc, r->fn, r->score, r->k_assign, r->selected, r->ohat};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free(all[i]);
}

static int64_t tile_len(int64_t t, int64_t S) { return S - 128 * t < 128 ? S - 128 * t : 128; }

// 3. The fragments of slice bh against the host's walk: per key tile the runs of one cluster in
// the permuted order (offset of the tile's first run, each run's cluster and length).
static void check_fragments(const vdit_attn_cluster_state *st, const routing_inputs *r, int64_t bh, const char *what) {
  const int64_t Sk = st->seq_k, kt = st->k_tiles, maxf = st->max_fragments;
  const int32_t *a = r->k_assign + bh * Sk, *perm = r->k_perm + bh * Sk, *fo = r->fo + bh * (kt + 1);
  const int32_t *fc = r->fc + bh * maxf, *fn = r->fn + bh * maxf;
  int64_t f = 0, bad = 0;
  for (int64_t j = 0; j < kt && !bad; j++) {
    if (fo[j] != f) bad++;
    int previous = -1;
    for (int64_t q = 128 * j; q < 128 * j + tile_len(j, Sk) && !bad; q++) {
      const int c = a[perm[q]];
      if (c != previous) { // a new run: fragment f
        if (f >= maxf || fc[f] != c) bad++;
        f++, previous = c;
      }
    }
  }
  if (!bad && fo[kt] != f) bad++;
  for (int64_t j = 0; j < kt && !bad; j++) {
    int64_t e = fo[j], run = 0;
    int previous = -1;
    for (int64_t q = 128 * j; q < 128 * j + tile_len(j, Sk); q++) {
      const int c = a[perm[q]];
      if (c != previous && run > 0) bad += fn[e] != run, e++, run = 0;
      previous = c, run++;
    }
    bad += fn[e] != run;
  }
  if (bad) CHECK_FAIL_("%s bh %lld: fragments differ from the host's walk", what, (long long)bh);
}

// 4. ear's selection of slice bh against the host's greedy order on the GPU's pair scores.
static uint64_t order_key(float key, int64_t index) {
  uint32_t u;
  memcpy(&u, &key, 4);
  u ^= (u >> 31) ? 0xffffffffu : 0x80000000u;
  return ((uint64_t)(~u) << 32) | (uint64_t)(uint32_t)index;
}

static int compare_u64(const void *x, const void *y) {
  const uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
  return a < b ? -1 : a > b;
}

static void check_selection(const vdit_attn_cluster_state *st, const routing_inputs *r, int64_t bh, const char *what) {
  const int64_t qt = st->q_tiles, kt = st->k_tiles, n = qt * kt, Sq = st->seq_q, Sk = st->seq_k;
  const float *score = r->score + bh * n;
  const unsigned char *sel = r->selected + bh * n;
  uint64_t *keys = malloc((size_t)n * sizeof *keys);
  unsigned char *want = calloc((size_t)n, 1);
  if (!keys || !want) {
    CHECK_FAIL_("%s: out of host memory", what);
    free(keys), free(want);
    return;
  }
  for (int64_t e = 0; e < n; e++) keys[e] = order_key(score[e] / (float)tile_len(e % kt, Sk), e);
  qsort(keys, (size_t)n, sizeof *keys, compare_u64);
  const long long allowed = (long long)floor((double)st->config.budget * (double)Sq * (double)Sk);
  long long used = 0;
  int64_t taken = 0, bad = 0;
  for (int64_t x = 0; x < n; x++) {
    const int64_t e = (int64_t)(uint32_t)keys[x];
    const long long cost = tile_len(e / kt, Sq) * tile_len(e % kt, Sk);
    if (used + cost <= allowed) want[e] = 1, used += cost, taken++;
  }
  for (int64_t e = 0; e < n; e++) bad += want[e] != (sel[e] != 0);
  CHECK(taken > 0 && taken < n);
  if (bad) CHECK_FAIL_("%s bh %lld: %lld of %lld pairs selected otherwise than the host's greedy order", what, (long long)bh,
                       (long long)bad, (long long)n);
  free(keys), free(want);
}

// Checks mass and err of slice bh against fp64.
static void check_slice(const vdit_attn_cluster_state *st, const routing_inputs *r, int64_t bh, float scale,
                        const char *what) {
  const int64_t D = st->dim, Sk = st->seq_k, cq = st->cq, ck = st->ck, kt = st->k_tiles;
  const float *qc = r->qc + bh * cq * D, *kc = r->kc + bh * ck * D, *vm = r->vm + bh * ck * D;
  const float *kf = r->kf + bh * Sk * D, *vf = r->vf + bh * Sk * D;
  const int32_t *qn = r->q_count + bh * cq, *kn = r->k_count + bh * ck, *perm = r->k_perm + bh * Sk;
  const int32_t *fo = r->fo + bh * (kt + 1), *fc = r->fc + bh * st->max_fragments, *fn = r->fn + bh * st->max_fragments;
  double *p = malloc((size_t)ck * sizeof *p), *s = malloc((size_t)Sk * sizeof *s), *o = malloc((size_t)D * sizeof *o);
  double *n = malloc((size_t)D * sizeof *n), *nc = malloc((size_t)D * sizeof *nc), *ref = malloc((size_t)kt * sizeof *ref);
  if (!p || !s || !o || !n || !nc || !ref) {
    CHECK_FAIL_("%s: out of host memory", what);
    goto done;
  }
  double mass_worst = 0.0, err_sum = 0.0, err_diff = 0.0;
  double ohat_worst = 0.0;
  int mass_bad = 0, err_bad = 0, ohat_bad = 0, checked = 0;
  for (int64_t a = 0; a < cq; a++) {
    const float *mass = r->mass + (bh * cq + a) * kt, *err = r->err + (bh * cq + a) * kt;
    if (qn[a] == 0) {
      for (int64_t j = 0; j < kt; j++) mass_bad += mass[j] != 0.0f || err[j] != 0.0f;
      continue;
    }
    checked++;
    // 1. mass
    double m = -INFINITY, z = 0.0;
    for (int64_t c = 0; c < ck; c++) {
      p[c] = kn[c] > 0 ? dot64(qc + a * D, kc + c * D, D) * scale + log((double)kn[c]) : -INFINITY;
      if (p[c] > m) m = p[c];
    }
    for (int64_t c = 0; c < ck; c++) z += p[c] = kn[c] > 0 ? exp(p[c] - m) : 0.0;
    for (int64_t c = 0; c < ck; c++) p[c] = kn[c] > 0 ? p[c] / z / kn[c] : 0.0;
    for (int64_t j = 0; j < kt; j++) {
      double want = 0.0;
      for (int32_t f = fo[j]; f < fo[j + 1]; f++) want += p[fc[f]] * fn[f];
      const double diff = fabs((double)mass[j] - want);
      if (diff > mass_worst) mass_worst = diff;
      if (!(diff <= 1e-4 * want + 1e-7)) mass_bad++;
    }
    // 2. probe
    double sm = -INFINITY, sz = 0.0;
    for (int64_t t = 0; t < Sk; t++) {
      s[t] = dot64(qc + a * D, kf + (int64_t)perm[t] * D, D) * scale;
      if (s[t] > sm) sm = s[t];
    }
    for (int64_t t = 0; t < Sk; t++) sz += exp(s[t] - sm);
    // o_hat: the centroid's output estimated from the centroids (the mass's weights p_c n_c);
    // the GPU's (W Vbar on bf16 hi / lo pairs, each term within ~3 2^-16, fp32 sums) within
    // 3e-4 of sum_c p_c n_c |vbar_c| (+ 1e-7) of it
    for (int64_t d = 0; d < D; d++) o[d] = n[d] = 0.0;
    for (int64_t c = 0; c < ck; c++)
      for (int64_t d = 0; d < D; d++) o[d] += p[c] * kn[c] * vm[c * D + d], n[d] += p[c] * kn[c] * fabs(vm[c * D + d]);
    for (int64_t d = 0; d < D; d++) {
      const double diff = fabs((double)r->ohat[(bh * cq + a) * D + d] - o[d]);
      if (diff > ohat_worst) ohat_worst = diff;
      if (!(diff <= 3e-4 * n[d] + 1e-7)) ohat_bad++;
    }
    double ref_max = 0.0;
    for (int64_t j = 0; j < kt; j++) {
      double l = 0.0, lc = 0.0;
      for (int64_t d = 0; d < D; d++) n[d] = nc[d] = 0.0;
      const int64_t end = (j + 1) * 128 < Sk ? (j + 1) * 128 : Sk;
      for (int64_t t = j * 128; t < end; t++) {
        const double w = exp(s[t] - sm);
        l += w;
        for (int64_t d = 0; d < D; d++) n[d] += w * vf[(int64_t)perm[t] * D + d];
      }
      for (int32_t f = fo[j]; f < fo[j + 1]; f++) {
        const double w = fn[f] * exp(dot64(qc + a * D, kc + (int64_t)fc[f] * D, D) * scale - sm);
        lc += w;
        for (int64_t d = 0; d < D; d++) nc[d] += w * vm[(int64_t)fc[f] * D + d];
      }
      double e = 0.0;
      for (int64_t d = 0; d < D; d++) e += fabs(nc[d] - n[d] - o[d] * (lc - l));
      ref[j] = e / sz;
      if (ref[j] > ref_max) ref_max = ref[j];
    }
    for (int64_t j = 0; j < kt; j++) {
      const double diff = fabs((double)err[j] - ref[j]);
      err_sum += ref[j], err_diff += diff;
      if (!(diff <= 0.02 * ref_max + 0.05 * ref[j])) {
        if (err_bad < 3)
          CHECK_FAIL_("%s bh %lld: err[%lld][%lld] gpu %.6g ref %.6g (row max %.4g)", what, (long long)bh, (long long)a,
                      (long long)j, (double)err[j], ref[j], ref_max);
        err_bad++;
      }
    }
  }
  CHECK(checked > 0);
  CHECK(err_sum > 0.0);
  if (mass_bad) CHECK_FAIL_("%s bh %lld: %d masses off (worst |diff| %.3g)", what, (long long)bh, mass_bad, mass_worst);
  if (err_bad) CHECK_FAIL_("%s bh %lld: %d probe errors off", what, (long long)bh, err_bad);
  if (ohat_bad) CHECK_FAIL_("%s bh %lld: %d o_hat values off (worst |diff| %.3g)", what, (long long)bh, ohat_bad, ohat_worst);
  if (!(err_diff <= 0.03 * err_sum))
    CHECK_FAIL_("%s bh %lld: probe errors off by %.3g of their sum", what, (long long)bh, err_diff / err_sum);
done:
  free(p), free(s), free(o), free(n), free(nc), free(ref);
}

static void run_case(vdit_attn_shape shape, vdit_dtype dtype, int q_clusters, int k_clusters, uint64_t seed) {
  char what[160];
  snprintf(what, sizeof what, "B=%lld H=%lld Sq=%lld Sk=%lld D=%lld %s", (long long)shape.batch, (long long)shape.heads,
           (long long)shape.seq_q, (long long)shape.seq_k, (long long)shape.head_dim, vdit_dtype_name(dtype));
  const int64_t B = shape.batch, H = shape.heads, D = shape.head_dim, BH = B * H;
  float *q = malloc((size_t)(BH * shape.seq_q * D) * 4), *k = malloc((size_t)(BH * shape.seq_k * D) * 4),
        *v = malloc((size_t)(BH * shape.seq_k * D) * 4);
  vdit_tensor tq = {0}, tk = {0}, tv = {0}, to = {0}, tl = {0};
  vdit_attn_plan *plan = NULL;
  routing_inputs r;
  memset(&r, 0, sizeof r);
  if (!q || !k || !v) {
    CHECK_FAIL_("%s: out of host memory", what);
    goto done;
  }
  CHECK_OK(vdit_attn_inputs_fill(VDIT_ATTN_INPUTS_VIDEO_HEADS, seed, &shape, q, k, v));
  vdit_status status = make_tensor(&tq, q, dtype, B, H, shape.seq_q, D);
  if (status == VDIT_OK) status = make_tensor(&tk, k, dtype, B, H, shape.seq_k, D);
  if (status == VDIT_OK) status = make_tensor(&tv, v, dtype, B, H, shape.seq_k, D);
  const int64_t oshape[4] = {B, H, shape.seq_q, D};
  if (status == VDIT_OK) status = vdit_tensor_alloc(&to, dtype, VDIT_CUDA(0), 4, oshape);
  if (status == VDIT_OK) status = vdit_tensor_alloc(&tl, VDIT_DTYPE_F32, VDIT_CUDA(0), 3, oshape);
  vdit_attn_config config;
  memset(&config, 0, sizeof config);
  config.method = VDIT_ATTN_EAR;
  config.layout = VDIT_ATTN_LAYOUT_BHSD;
  config.cluster.budget = 0.3f;
  config.cluster.gpu_routing = 1;
  config.cluster.q_clusters = q_clusters;
  config.cluster.k_clusters = k_clusters;
  config.cluster.seed = seed;
  if (status == VDIT_OK) status = vdit_attn_plan_create(&plan, &config, &tq, &tk, &tv);
  if (status == VDIT_OK) status = vdit_attn_forward(plan, &tq, &tk, &tv, &to, &tl);
  // the executor runs D = 64 and 128 only; other D still route first (the probe's element loads)
  const vdit_attn_cluster_state *st = plan ? vdit_attn_plan_cluster_state(plan) : NULL;
  const int routed_only = status == VDIT_ERROR_UNSUPPORTED && D != 64 && D != 128 && st && st->routed;
  if (!routed_only) CHECK_OK(status);
  if (status != VDIT_OK && !routed_only) goto done;
  CHECK(st != NULL);
  if (!st) goto done;
  const vdit_attn_cluster_gpu *g = &st->gpu;
  const vdit_device dev = g->device;
  const size_t f = sizeof(float), i4 = sizeof(int32_t);
  const int64_t cq = st->cq, ck = st->ck, kt = st->k_tiles, Sk = st->seq_k;
  r.qc = download(dev, g->q_centroids, (size_t)(BH * cq * D) * f);
  r.kc = download(dev, g->k_centroids, (size_t)(BH * ck * D) * f);
  r.vm = download(dev, g->v_means, (size_t)(BH * ck * D) * f);
  // K and V as the GPU reads them (the 16-bit inputs: no fp32 copies since round 17 for K, round
  // 16 for V): the host values rounded
  r.kf = malloc((size_t)(BH * Sk * D) * f);
  r.vf = malloc((size_t)(BH * Sk * D) * f);
  const vdit_tensor *kv[2] = {&tk, &tv};
  float *kv_out[2] = {r.kf, r.vf};
  for (int i = 0; i < 2; i++) {
    if (!kv_out[i]) continue;
    vdit_tensor host = {0};
    if (vdit_tensor_alloc(&host, dtype, VDIT_CPU, 4, kv[i]->shape) != VDIT_OK || vdit_tensor_copy(&host, kv[i]) != VDIT_OK ||
        vdit_attn_tensor_to_bhsd(&host, VDIT_ATTN_LAYOUT_BHSD, kv_out[i]) != VDIT_OK) {
      free(kv_out[i]);
      if (i == 0) r.kf = NULL; else r.vf = NULL;
    }
    vdit_tensor_free(&host);
  }
  r.mass = download(dev, g->mass, (size_t)(BH * cq * kt) * f);
  r.err = download(dev, g->err, (size_t)(BH * cq * kt) * f);
  r.ohat = download(dev, g->probe_o, (size_t)(BH * cq * D) * f);
  r.q_count = download(dev, g->q_count, (size_t)(BH * cq) * i4);
  r.k_count = download(dev, g->k_count, (size_t)(BH * ck) * i4);
  r.k_perm = download(dev, g->k_perm, (size_t)(BH * Sk) * i4);
  r.fo = download(dev, g->frag_offsets, (size_t)(BH * (kt + 1)) * i4);
  r.fc = download(dev, g->frag_cluster, (size_t)(BH * st->max_fragments) * i4);
  r.fn = download(dev, g->frag_count, (size_t)(BH * st->max_fragments) * i4);
  r.k_assign = download(dev, g->k_assign, (size_t)(BH * Sk) * i4);
  r.score = download(dev, g->score, (size_t)(BH * st->q_tiles * kt) * f);
  r.selected = download(dev, g->selected, (size_t)(BH * st->q_tiles * kt));
  if (!r.qc || !r.kc || !r.vm || !r.kf || !r.vf || !r.mass || !r.err || !r.ohat || !r.q_count || !r.k_count || !r.k_perm || !r.fo ||
      !r.fc || !r.fn || !r.k_assign || !r.score || !r.selected) {
    CHECK_FAIL_("%s: download failed", what);
    goto done;
  }
  for (int64_t bh = 0; bh < BH; bh++) {
    check_slice(st, &r, bh, vdit_attn_plan_scale(plan), what);
    check_fragments(st, &r, bh, what);
    check_selection(st, &r, bh, what);
  }
  printf("%s: cq %lld ck %lld k_tiles %lld checked\n", what, (long long)cq, (long long)ck, (long long)kt);
done:
  routing_inputs_free(&r);
  vdit_attn_plan_free(plan);
  vdit_tensor *all[] = {&tq, &tk, &tv, &to, &tl};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) vdit_tensor_free(all[i]);
  free(q), free(k), free(v);
}
#endif

int main(void) {
#ifndef VDIT_HAVE_CUDA
  return check_skip(TEST_NAME, "built without CUDA");
#else
  int count = 0;
  if (vdit_gpu_count(&count) != VDIT_OK || count == 0) return check_skip(TEST_NAME, "no CUDA GPU");
  run_case((vdit_attn_shape){1, 2, 1024, 1024, 128}, VDIT_DTYPE_BF16, 0, 0, 11);
  run_case((vdit_attn_shape){2, 2, 700, 900, 64}, VDIT_DTYPE_F16, 0, 0, 12);
  run_case((vdit_attn_shape){1, 1, 512, 1000, 66}, VDIT_DTYPE_BF16, 0, 0, 13);
  run_case((vdit_attn_shape){1, 2, 2048, 2048, 128}, VDIT_DTYPE_BF16, 200, 256, 14);
  // ~2.5 keys a cluster: ~50 fragments a key tile, past the 16 whose centroid terms pass 2 forms on
  // the tensor cores (the rest by the scalar path)
  run_case((vdit_attn_shape){1, 1, 1024, 1024, 128}, VDIT_DTYPE_BF16, 0, 400, 15);
  // 71 x 71 tiles, ragged (9000 = 70 x 128 + 40): two radix blocks of ear's selection a head
  run_case((vdit_attn_shape){1, 2, 9000, 9000, 64}, VDIT_DTYPE_BF16, 0, 0, 16);
  // 196 key tiles (25000 = 195 x 128 + 40) and one or two row blocks a head: chunks of 4 tiles,
  // so the probe's buffers are refilled across tiles (round 19)
  run_case((vdit_attn_shape){1, 2, 1024, 25000, 64}, VDIT_DTYPE_BF16, 128, 0, 17);
  return check_finish(TEST_NAME);
#endif
}
