// Clustered attention's plan state (cluster.h): defaults, allocation on the plan's device, and
// host copies of the routing for the checks.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attn/cluster.h"

static int32_t ceil_div(int64_t a, int64_t b) { return (int32_t)((a + b - 1) / b); }

vdit_status vdit_attn_cluster_config_resolve(const vdit_attn_config *config, const vdit_attn_shape *s,
                                             vdit_attn_cluster_config *out) {
  vdit_attn_cluster_config c = config->cluster;
  if (c.q_clusters < 0 || c.k_clusters < 0 || c.iterations < 0 || c.warm_iterations < 0)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "clustered attention: cluster counts and iterations must be >= 0");
  if (c.q_clusters == 0) c.q_clusters = ceil_div(s->seq_q, 128);
  if (c.k_clusters == 0) c.k_clusters = ceil_div(s->seq_k, 32);
  if (c.q_clusters > s->seq_q) c.q_clusters = (int32_t)s->seq_q;
  if (c.k_clusters > s->seq_k) c.k_clusters = (int32_t)s->seq_k;
  if (c.iterations == 0) c.iterations = 8;
  // one warm iteration: at S = 32760 on video inputs (H200, round 13) ear's and svg's rel L1
  // against dense rose by <= 0.9% against two (EAR still below SVG2 at 0.1 / 0.3 / 0.5) for
  // about a millisecond less k-means (2.06 -> 1.15 ms)
  if (c.warm_iterations == 0) c.warm_iterations = 1;
  if (c.top_p == 0.0f) c.top_p = 0.9f;
  if (!(c.budget <= 1.0f) || !isfinite(c.budget))
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "clustered attention: budget must be in [0, 1] (got %g)", (double)c.budget);
  if (c.budget < 0.0f && config->method == VDIT_ATTN_EAR)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "ear: needs a budget in [0, 1]");
  if (!(c.top_p > 0.0f && c.top_p <= 1.0f) || !(c.min_fraction >= 0.0f && c.min_fraction <= 1.0f))
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "svg: top_p in (0, 1] and min_fraction in [0, 1]");
  if (config->mask != VDIT_ATTN_MASK_NONE || config->key_lengths)
    return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "clustered attention: unmasked attention only (mask none, no key lengths)");
  if (config->extras.row_max || config->extras.pv_threshold > 0.0f)
    return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "clustered attention: takes no caller extras (it makes its own)");
  *out = c;
  return VDIT_OK;
}

void vdit_attn_cluster_state_free(vdit_attn_cluster_state *st) {
  if (!st) return;
  void **all[] = {(void **)&st->q_centroids, (void **)&st->k_centroids, (void **)&st->v_means, (void **)&st->q_assign,
                  (void **)&st->k_assign, (void **)&st->q_count, (void **)&st->k_count, (void **)&st->q_perm,
                  (void **)&st->k_perm, (void **)&st->frag_offsets, (void **)&st->frag_cluster, (void **)&st->frag_count,
                  (void **)&st->pair_score, (void **)&st->selected, (void **)&st->extra_max, (void **)&st->extra_sum, (void **)&st->extra_num};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
    vdit_device_free(st->device, *all[i]);
    *all[i] = NULL;
  }
  vdit_attn_block_map_free(&st->map);
  vdit_attn_block_map_free(&st->map_t);
  vdit_attn_cluster_gpu_free(&st->gpu);
}

const vdit_attn_block_map *vdit_attn_cluster_map(const vdit_attn_cluster_state *st) {
  if (!st->routed) return NULL;
  return st->target.type == VDIT_DEVICE_CUDA ? &st->gpu.map : &st->map;
}

vdit_status vdit_attn_cluster_state_init(vdit_attn_cluster_state *st, const vdit_attn_config *config,
                                         const vdit_attn_shape *s, vdit_device device) {
  memset(st, 0, sizeof *st);
  VDIT_TRY(vdit_attn_cluster_config_resolve(config, s, &st->config));
  st->device = VDIT_CPU;
  st->target = device;
  st->gpu.device = device;
  st->method = config->method;
  st->bh = s->batch * s->heads;
  st->seq_q = s->seq_q, st->seq_k = s->seq_k, st->dim = s->head_dim;
  st->cq = st->config.q_clusters, st->ck = st->config.k_clusters;
  st->q_tiles = ceil_div(s->seq_q, VDIT_ATTN_CLUSTER_TILE);
  st->k_tiles = ceil_div(s->seq_k, VDIT_ATTN_CLUSTER_TILE);
  st->max_fragments = st->ck + st->k_tiles;
  const size_t BH = (size_t)st->bh, D = (size_t)st->dim;
  struct {
    void **ptr;
    size_t bytes;
  } arrays[] = {
      {(void **)&st->q_centroids, BH * st->cq * D * 4}, {(void **)&st->k_centroids, BH * st->ck * D * 4},
      {(void **)&st->v_means, BH * st->ck * D * 4},     {(void **)&st->q_assign, BH * st->seq_q * 4},
      {(void **)&st->k_assign, BH * st->seq_k * 4},     {(void **)&st->q_count, BH * st->cq * 4},
      {(void **)&st->k_count, BH * st->ck * 4},         {(void **)&st->q_perm, BH * st->seq_q * 4},
      {(void **)&st->k_perm, BH * st->seq_k * 4},       {(void **)&st->frag_offsets, BH * (st->k_tiles + 1) * 4},
      {(void **)&st->frag_cluster, BH * st->max_fragments * 4}, {(void **)&st->frag_count, BH * st->max_fragments * 4},
      {(void **)&st->pair_score, BH * st->q_tiles * st->k_tiles * 4}, {(void **)&st->selected, BH * st->q_tiles * st->k_tiles},
      {(void **)&st->extra_max, BH * st->seq_q * 4},
      {(void **)&st->extra_sum, BH * st->seq_q * 4},    {(void **)&st->extra_num, BH * st->seq_q * D * 4},
  };
  vdit_status status = VDIT_OK;
  for (size_t i = 0; i < sizeof arrays / sizeof arrays[0] && status == VDIT_OK; i++)
    status = vdit_device_alloc(st->device, arrays[i].bytes, arrays[i].ptr);
  if (status == VDIT_OK)
    status = vdit_attn_block_map_alloc(&st->map, st->device, s->batch, s->heads, s->seq_q, s->seq_k, VDIT_ATTN_CLUSTER_TILE,
                                       VDIT_ATTN_CLUSTER_TILE);
  if (status != VDIT_OK) vdit_attn_cluster_state_free(st);
  return status;
}

void vdit_attn_cluster_routing_free(vdit_attn_cluster_routing *r) {
  if (!r) return;
  free(r->q_perm), free(r->k_perm), free(r->k_assign);
  vdit_attn_block_map_free(&r->map);
  memset(r, 0, sizeof *r);
}

vdit_status vdit_attn_cluster_routing_get(const vdit_attn_cluster_state *st, vdit_attn_cluster_routing *r) {
  memset(r, 0, sizeof *r);
  if (!st->routed) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "clustered attention: no forward has routed yet");
  r->bh = st->bh, r->seq_q = st->seq_q, r->seq_k = st->seq_k;
  r->q_perm = malloc((size_t)(st->bh * st->seq_q) * 4);
  r->k_perm = malloc((size_t)(st->bh * st->seq_k) * 4);
  r->k_assign = malloc((size_t)(st->bh * st->seq_k) * 4);
  vdit_status status = r->q_perm && r->k_perm && r->k_assign
                           ? VDIT_OK
                           : VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "clustered attention: no memory for the routing copy");
  // GPU routing leaves the permutations, the assignment and the map on the GPU only
  const int on_gpu = st->target.type == VDIT_DEVICE_CUDA && st->config.gpu_routing;
  const vdit_device from = on_gpu ? st->gpu.device : st->device;
  if (status == VDIT_OK)
    status = vdit_memcpy(VDIT_CPU, r->q_perm, from, on_gpu ? st->gpu.q_perm : st->q_perm, (size_t)(st->bh * st->seq_q) * 4);
  if (status == VDIT_OK)
    status = vdit_memcpy(VDIT_CPU, r->k_perm, from, on_gpu ? st->gpu.k_perm : st->k_perm, (size_t)(st->bh * st->seq_k) * 4);
  if (status == VDIT_OK)
    status = vdit_memcpy(VDIT_CPU, r->k_assign, from, on_gpu ? st->gpu.k_assign : st->k_assign, (size_t)(st->bh * st->seq_k) * 4);
  if (status == VDIT_OK)
    status = vdit_attn_block_map_alloc(&r->map, VDIT_CPU, st->map.batch, st->map.heads, st->seq_q, st->seq_k,
                                       st->map.block_q, st->map.block_k);
  if (status == VDIT_OK) status = vdit_attn_block_map_copy(&r->map, on_gpu ? &st->gpu.map : &st->map);
  if (status != VDIT_OK) vdit_attn_cluster_routing_free(r);
  return status;
}

void vdit_attn_cluster_pad_factors(vdit_attn_cluster_state *st) {
  int64_t q = 0, k = 0;
  for (int64_t i = 0; i < st->bh * st->cq; i++)
    q += (st->q_count[i] + VDIT_ATTN_CLUSTER_TILE - 1) / VDIT_ATTN_CLUSTER_TILE * VDIT_ATTN_CLUSTER_TILE;
  for (int64_t i = 0; i < st->bh * st->ck; i++)
    k += (st->k_count[i] + VDIT_ATTN_CLUSTER_TILE - 1) / VDIT_ATTN_CLUSTER_TILE * VDIT_ATTN_CLUSTER_TILE;
  st->stats.q_pad_factor = (double)q / (double)(st->bh * st->seq_q);
  st->stats.k_pad_factor = (double)k / (double)(st->bh * st->seq_k);
}

const char *vdit_attn_cluster_stage_name(int stage) {
  static const char *names[VDIT_ATTN_CLUSTER_STAGES] = {
      "kmeans_assign", "kmeans_sort", "kmeans_means", "prepare",      "mass",  "probe_scores",
      "probe_err",     "aggregate",   "select",       "comp_prepare", "comp_g"};
  return stage >= 0 && stage < VDIT_ATTN_CLUSTER_STAGES ? names[stage] : NULL;
}
