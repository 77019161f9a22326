// The host side of clustered attention on CUDA. The routing (k-means, permutation, SVG / EAR
// selection, compensation terms) runs on the host copy of Q, K, V with the CPU specification
// (cluster_cpu.c), or with config.gpu_routing on the GPU (cuda/attn_cluster.cu: means,
// fragments; attn_cluster_kmeans.cu: assignment, sort; attn_cluster_gemm.cu: centroid scores,
// compensation counts; attn_cluster_probe.cu: svg mass, EAR probe; attn_cluster_comp.cu: the
// fused compensation; attn_cluster_select.cu: selection and map); the GPU gets the permutations,
// the map and the extras, gathers Q, K, V into
// cluster order (cuda/attn_cluster.cu), runs the block-sparse executor and scatters O, LSE
// (and dQ, dK, dV) back. Without the CUDA backend every call is VDIT_ERROR_NO_DEVICE.
#include <stdlib.h>
#include <string.h>

#include "attn/cluster.h"

#ifdef VDIT_HAVE_CUDA
#include "attn/cuda/attn_cluster.h"
#include "base/cuda_check.h"
#endif

void vdit_attn_cluster_gpu_free(vdit_attn_cluster_gpu *g) {
  if (g->device.type != VDIT_DEVICE_CUDA) return;
  void **all[] = {(void **)&g->q_perm, (void **)&g->k_perm, (void **)&g->extra_max, (void **)&g->extra_sum,
                  (void **)&g->extra_num, (void **)&g->q_centroids,
                  (void **)&g->k_centroids, (void **)&g->v_means, (void **)&g->norms, (void **)&g->mass, (void **)&g->err,
                  (void **)&g->score, (void **)&g->q_assign, (void **)&g->k_assign, (void **)&g->q_count,
                  (void **)&g->k_count, (void **)&g->q_offsets, (void **)&g->k_offsets, (void **)&g->frag_offsets,
                  (void **)&g->frag_cluster, (void **)&g->frag_count, (void **)&g->selected, (void **)&g->workspace,
                  (void **)&g->scratch, (void **)&g->cscore,
                  (void **)&g->probe_o,
                  (void **)&g->comp_count, (void **)&g->select_work, (void **)&g->sort_work,
                  (void **)&g->k_split, (void **)&g->assign_work};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
    vdit_device_free(g->device, *all[i]);
    *all[i] = NULL;
  }
#ifdef VDIT_HAVE_CUDA
  vdit_attn_cuda_cluster_lt_destroy(g->lt);
  vdit_attn_cuda_cluster_marks *marks = g->marks;
  if (marks) {
    for (int i = 0; i < VDIT_ATTN_CUDA_CLUSTER_MARKS; i++)
      if (marks->event[i]) cudaEventDestroy(marks->event[i]);
    free(marks);
  }
  if (g->select_host) cudaFreeHost(g->select_host);
#endif
  g->select_host = NULL;
  g->marks = NULL;
  g->lt = NULL;
  vdit_attn_block_map_free(&g->map);
  vdit_attn_block_map_free(&g->map_t);
  vdit_tensor *tensors[] = {&g->q, &g->k, &g->v, &g->o, &g->lse, &g->d_o, &g->dq, &g->dk, &g->dv};
  for (size_t i = 0; i < sizeof tensors / sizeof tensors[0]; i++) vdit_tensor_free(tensors[i]);
  vdit_host_free(g->host_qkv);
  g->host_qkv = NULL;
}

#ifdef VDIT_HAVE_CUDA
// Device tensor t -> host fp32 (B, H, S, D).
static vdit_status download(const vdit_tensor *t, vdit_attn_layout layout, float *out) {
  vdit_tensor host;
  VDIT_TRY(vdit_tensor_alloc(&host, t->dtype, VDIT_CPU, t->ndim, t->shape));
  vdit_status status = vdit_tensor_copy(&host, t);
  if (status == VDIT_OK) status = vdit_attn_tensor_to_bhsd(&host, layout, out);
  vdit_tensor_free(&host);
  return status;
}

static vdit_status alloc_bhsd(vdit_tensor *t, vdit_dtype dtype, vdit_device device, int64_t batch, int64_t heads,
                              int64_t seq, int64_t dim) {
  if (t->data) return VDIT_OK;
  const int64_t shape[4] = {batch, heads, seq, dim};
  return vdit_tensor_alloc(t, dtype, device, dim > 0 ? 4 : 3, shape);
}

// Moves rows between the caller's tensor `strided` (in `layout`; LSE when dim == 1) and the
// contiguous cluster-ordered `contiguous`.
static vdit_status move_rows(const vdit_attn_cluster_state *st, const vdit_tensor *strided, vdit_attn_layout layout,
                             const vdit_tensor *contiguous, const int32_t *perm, int64_t seq, int gather) {
  vdit_attn_cuda_cluster_rows a;
  memset(&a, 0, sizeof a);
  a.src = gather ? strided->data : contiguous->data;
  a.dst = gather ? contiguous->data : strided->data;
  a.element_bytes = (int)(vdit_dtype_bits(strided->dtype) / 8);
  a.gather = gather;
  a.bh = st->bh;
  a.heads = contiguous->shape[1];
  a.seq = seq;
  if (strided->ndim == 3) { // LSE (B, H, S), contiguous
    a.dim = 1;
    a.sb = strided->stride[0], a.sh = strided->stride[1], a.ss = strided->stride[2];
  } else {
    a.dim = st->dim;
    vdit_attn_cuda_strides_bsh(strided, layout, &a.sb, &a.ss, &a.sh);
  }
  a.perm = perm;
  VDIT_CUDA_TRY(vdit_attn_cuda_cluster_rows_move(&a, 0));
  return VDIT_OK;
}

static vdit_attn_problem executor_problem(const vdit_attn_problem *problem, const vdit_attn_cluster_gpu *g) {
  vdit_attn_problem p = *problem;
  p.config.method = VDIT_ATTN_BLOCK;
  p.config.layout = VDIT_ATTN_LAYOUT_BHSD;
  p.map = &g->map;
  p.map_t = g->map_t_ready ? &g->map_t : NULL;
  p.extras = (vdit_attn_softmax_extras){g->extra_max, g->extra_sum, g->extra_num, 0.0f};
  return p;
}
#endif

#ifdef VDIT_HAVE_CUDA
// The arrays every CUDA plan needs: permutations, extras and the map on the GPU.
static vdit_status gpu_common_alloc(vdit_attn_cluster_state *st, const vdit_attn_shape *s) {
  vdit_attn_cluster_gpu *g = &st->gpu;
  if (g->q_perm) return VDIT_OK;
  VDIT_TRY(vdit_device_alloc(g->device, (size_t)(st->bh * st->seq_q) * 4, (void **)&g->q_perm));
  VDIT_TRY(vdit_device_alloc(g->device, (size_t)(st->bh * st->seq_k) * 4, (void **)&g->k_perm));
  VDIT_TRY(vdit_device_alloc(g->device, (size_t)(st->bh * st->seq_q) * 4, (void **)&g->extra_max));
  VDIT_TRY(vdit_device_alloc(g->device, (size_t)(st->bh * st->seq_q) * 4, (void **)&g->extra_sum));
  VDIT_TRY(vdit_device_alloc(g->device, (size_t)(st->bh * st->seq_q * st->dim) * 4, (void **)&g->extra_num));
  return vdit_attn_block_map_alloc(&g->map, g->device, s->batch, s->heads, s->seq_q, s->seq_k, VDIT_ATTN_CLUSTER_TILE,
                                   VDIT_ATTN_CLUSTER_TILE);
}

// The whole routing on the host copy (the CPU specification), results uploaded.
static vdit_status route_on_host(const vdit_attn_problem *problem, vdit_attn_cluster_state *st, const vdit_tensor *q,
                                 const vdit_tensor *k, const vdit_tensor *v) {
  vdit_attn_cluster_gpu *g = &st->gpu;
  const size_t nq = (size_t)(st->bh * st->seq_q * st->dim), nk = (size_t)(st->bh * st->seq_k * st->dim);
  if (!g->host_qkv) {
    g->host_qkv = vdit_host_alloc((nq + 2 * nk + 1) * sizeof(float), VDIT_HOST_ALIGNMENT);
    if (!g->host_qkv) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "clustered attention: no host memory for Q, K, V");
  }
  float *hq = g->host_qkv, *hk = hq + nq, *hv = hk + nk;
  const vdit_attn_layout layout = problem->config.layout;
  const double start = vdit_time_seconds();
  VDIT_TRY(download(q, layout, hq));
  VDIT_TRY(download(k, layout, hk));
  VDIT_TRY(download(v, layout, hv));
  VDIT_TRY(vdit_attn_cluster_route_cpu(problem, st, hq, hk, hv));
  VDIT_TRY(gpu_common_alloc(st, &problem->shape));
  VDIT_TRY(vdit_memcpy(g->device, g->q_perm, VDIT_CPU, st->q_perm, (size_t)(st->bh * st->seq_q) * 4));
  VDIT_TRY(vdit_memcpy(g->device, g->k_perm, VDIT_CPU, st->k_perm, (size_t)(st->bh * st->seq_k) * 4));
  VDIT_TRY(vdit_memcpy(g->device, g->extra_max, VDIT_CPU, st->extra_max, (size_t)(st->bh * st->seq_q) * 4));
  VDIT_TRY(vdit_memcpy(g->device, g->extra_sum, VDIT_CPU, st->extra_sum, (size_t)(st->bh * st->seq_q) * 4));
  VDIT_TRY(vdit_memcpy(g->device, g->extra_num, VDIT_CPU, st->extra_num, nq * 4));
  VDIT_TRY(vdit_attn_block_map_copy(&g->map, &st->map));
  g->map_t_ready = 0;
  st->stats.route_seconds = vdit_time_seconds() - start;
  return VDIT_OK;
}

// cuBLASLt's workspace for the GEMM steps.
#define CLUSTER_WORKSPACE_BYTES ((size_t)32 << 20)

static vdit_status gpu_routing_alloc(vdit_attn_cluster_state *st) {
  vdit_attn_cluster_gpu *g = &st->gpu;
  if (g->q_centroids) return VDIT_OK;
  const size_t BH = (size_t)st->bh, D = (size_t)st->dim, cmax = (size_t)(st->cq > st->ck ? st->cq : st->ck);
  struct {
    void **ptr;
    size_t bytes;
  } arrays[] = {
      {(void **)&g->q_centroids, BH * st->cq * D * 4},
      {(void **)&g->k_centroids, BH * st->ck * D * 4},  {(void **)&g->v_means, BH * st->ck * D * 4},
      {(void **)&g->norms, BH * cmax * 4},              {(void **)&g->mass, BH * st->cq * st->k_tiles * 4},
      {(void **)&g->err, BH * st->cq * st->k_tiles * 4}, {(void **)&g->score, BH * st->q_tiles * st->k_tiles * 4},
      {(void **)&g->q_assign, BH * st->seq_q * 4},      {(void **)&g->k_assign, BH * st->seq_k * 4},
      {(void **)&g->q_count, BH * st->cq * 4},          {(void **)&g->k_count, BH * st->ck * 4},
      {(void **)&g->q_offsets, BH * (st->cq + 1) * 4},  {(void **)&g->k_offsets, BH * (st->ck + 1) * 4},
      {(void **)&g->frag_offsets, BH * (st->k_tiles + 1) * 4}, {(void **)&g->frag_cluster, BH * st->max_fragments * 4},
      {(void **)&g->frag_count, BH * st->max_fragments * 4},   {(void **)&g->selected, BH * st->q_tiles * st->k_tiles},
      {(void **)&g->workspace, CLUSTER_WORKSPACE_BYTES},
      {(void **)&g->scratch, 4 * vdit_attn_cuda_cluster_scratch_floats(st->bh, st->seq_q, st->seq_k, st->dim, st->cq, st->ck,
                                                                       st->k_tiles)},
      {(void **)&g->cscore, BH * st->cq * st->ck * 4},
      {(void **)&g->probe_o, BH * st->cq * D * 4},
      {(void **)&g->comp_count, BH * st->q_tiles * st->ck * 4},
      {(void **)&g->select_work, vdit_attn_cuda_cluster_select_bytes(st->bh, st->q_tiles, st->k_tiles)},
      {(void **)&g->k_split, 2 * BH * st->ck * D * 4},
      {(void **)&g->assign_work, 4 * vdit_attn_cuda_cluster_assign_floats(st->bh, (int)cmax)},
      {(void **)&g->sort_work, 4 * (vdit_attn_cuda_cluster_sort_ints(st->bh, st->seq_q, st->cq) >
                                            vdit_attn_cuda_cluster_sort_ints(st->bh, st->seq_k, st->ck)
                                        ? vdit_attn_cuda_cluster_sort_ints(st->bh, st->seq_q, st->cq)
                                        : vdit_attn_cuda_cluster_sort_ints(st->bh, st->seq_k, st->ck))},
  };
  for (size_t i = 0; i < sizeof arrays / sizeof arrays[0]; i++) VDIT_TRY(vdit_device_alloc(g->device, arrays[i].bytes, arrays[i].ptr));
  if (!g->lt && vdit_attn_cuda_cluster_lt_create(&g->lt) != cudaSuccess)
    return VDIT_ERROR(VDIT_ERROR_CUDA, "clustered attention: cuBLASLt handle creation failed");
  if (!g->select_host) VDIT_CUDA_TRY(cudaMallocHost(&g->select_host, (size_t)st->bh * (sizeof(long long) + sizeof(float))));
  if (!g->marks) {
    vdit_attn_cuda_cluster_marks *marks = calloc(1, sizeof *marks);
    if (!marks) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "clustered attention: no host memory for the step events");
    g->marks = marks;
    for (int i = 0; i < VDIT_ATTN_CUDA_CLUSTER_MARKS; i++) VDIT_CUDA_TRY(cudaEventCreate(&marks->event[i]));
  }
  return VDIT_OK;
}

#define GPU_TRY(call)                                                                                         \
  do {                                                                                                        \
    cudaError_t gpu_error_ = (call);                                                                          \
    if (gpu_error_ != cudaSuccess)                                                                            \
      return VDIT_ERROR(VDIT_ERROR_CUDA, "clustered attention on the GPU: %s: %s", #call, cudaGetErrorString(gpu_error_)); \
  } while (0)

// Per-step milliseconds of the marks (each mark closes the step since the previous one).
static vdit_status stage_times(const vdit_attn_cuda_cluster_marks *marks, vdit_attn_cluster_stats *stats) {
  for (int i = 0; i < VDIT_ATTN_CLUSTER_STAGES; i++) stats->stage_ms[i] = 0.0;
  stats->stages = 0;
  if (marks->overflow) return VDIT_OK;
  for (int i = 1; i < marks->count; i++) {
    float ms = 0.0f;
    VDIT_CUDA_TRY(cudaEventElapsedTime(&ms, marks->event[i - 1], marks->event[i]));
    if (marks->stage[i] >= 0 && marks->stage[i] < VDIT_ATTN_CLUSTER_STAGES) stats->stage_ms[marks->stage[i]] += ms;
  }
  stats->stages = 1;
  return VDIT_OK;
}

// k-means, fragments, scores, selection and compensation on the GPU.
static vdit_status route_on_gpu_inner(const vdit_attn_problem *problem, vdit_attn_cluster_state *st, const vdit_tensor *q,
                                      const vdit_tensor *k, const vdit_tensor *v) {
  vdit_attn_cluster_gpu *g = &st->gpu;
  if (st->dim > 128 || st->cq > 8192 || st->ck > 8192 || st->k_tiles > 4096 || st->bh > 65535)
    return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "clustered attention: GPU routing needs D <= 128, at most 8192 clusters and 4096 key tiles");
  VDIT_TRY(gpu_common_alloc(st, &problem->shape));
  VDIT_TRY(gpu_routing_alloc(st));
  const vdit_attn_layout layout = problem->config.layout;
  vdit_attn_cuda_cluster_args a;
  memset(&a, 0, sizeof a);
  a.bh = st->bh, a.seq_q = st->seq_q, a.seq_k = st->seq_k, a.dim = st->dim;
  a.cq = st->cq, a.ck = st->ck, a.q_tiles = st->q_tiles, a.k_tiles = st->k_tiles, a.max_fragments = st->max_fragments;
  a.scale = problem->scale;
  a.seed = st->config.seed;
  a.q_centroids = g->q_centroids, a.k_centroids = g->k_centroids, a.v_means = g->v_means, a.norms = g->norms;
  a.q_assign = g->q_assign, a.k_assign = g->k_assign, a.q_count = g->q_count, a.k_count = g->k_count;
  a.q_offsets = g->q_offsets, a.k_offsets = g->k_offsets, a.q_perm = g->q_perm, a.k_perm = g->k_perm;
  a.frag_offsets = g->frag_offsets, a.frag_cluster = g->frag_cluster, a.frag_count = g->frag_count;
  a.mass = g->mass, a.err = g->err, a.score = g->score, a.selected = g->selected;
  a.extra_max = g->extra_max, a.extra_sum = g->extra_sum, a.extra_num = g->extra_num;
  a.lt = g->lt, a.workspace = g->workspace, a.workspace_bytes = CLUSTER_WORKSPACE_BYTES, a.scratch = g->scratch;
  a.cscore = g->cscore;
  a.probe_o = g->probe_o;
  a.comp_count = g->comp_count;
  a.sort_work = g->sort_work;
  a.k_split = g->k_split;
  a.assign_work = g->assign_work;
  a.half_inputs = q->dtype == VDIT_DTYPE_F16;
  // Q, K, V as given (16-bit): the k-means, the means, the probe and the compensation read them
  // directly (no fp32 copies since round 17)
  a.v16 = (const uint16_t *)v->data;
  vdit_attn_cuda_strides_bsh(v, layout, &a.v_sb, &a.v_ss, &a.v_sh);
  a.heads = layout == VDIT_ATTN_LAYOUT_BSHD ? v->shape[2] : v->shape[1];
  a.q16.data = (const uint16_t *)q->data, a.q16.heads = a.heads;
  vdit_attn_cuda_strides_bsh(q, layout, &a.q16.sb, &a.q16.ss, &a.q16.sh);
  a.k16.data = (const uint16_t *)k->data, a.k16.heads = a.heads;
  vdit_attn_cuda_strides_bsh(k, layout, &a.k16.sb, &a.k16.ss, &a.k16.sh);
  vdit_attn_cuda_cluster_marks *marks = g->marks;
  marks->count = 0, marks->overflow = 0;
  a.marks = marks;
  const int warm = st->config.warm_start && g->have_centroids;
  const int iterations = warm ? st->config.warm_iterations : st->config.iterations;
  const double start = vdit_time_seconds();
  GPU_TRY(vdit_attn_cuda_cluster_mark(&a, -1, 0)); // the start
  GPU_TRY(vdit_attn_cuda_cluster_kmeans(&a, 0, iterations, warm, 0));
  GPU_TRY(vdit_attn_cuda_cluster_kmeans(&a, 1, iterations, warm, 0));
  GPU_TRY(vdit_attn_cuda_cluster_prepare(&a, 0));
  GPU_TRY(vdit_attn_cuda_cluster_scores(&a, st->method == VDIT_ATTN_EAR, 0));
  // the selection and the map on the GPU; only the per-slice cost and p come back, into pinned
  // memory, read after the synchronize below (until round 19 a copy into pageable memory here
  // stopped the host until the GPU had caught up, and the GPU then idled until the next launches)
  long long *used = (long long *)g->select_host;
  float *p_used = (float *)(used + st->bh);
  GPU_TRY(vdit_attn_cuda_cluster_select(&a, st->method == VDIT_ATTN_EAR, st->config.budget, st->config.top_p,
                                        st->config.min_fraction, g->select_work, g->map.row_offsets, g->map.col_index, used,
                                        p_used, 0));
  g->map_t_ready = 0;
  GPU_TRY(vdit_attn_cuda_cluster_mark(&a, VDIT_ATTN_CLUSTER_STAGE_SELECT, 0));
  GPU_TRY(vdit_attn_cuda_cluster_compensate(&a, 0));
  GPU_TRY(cudaDeviceSynchronize());
  const double t_compensate = vdit_time_seconds();
  double total_cost = 0.0, p_sum = 0.0;
  for (int64_t bh = 0; bh < st->bh; bh++) total_cost += (double)used[bh], p_sum += p_used[bh];
  st->stats.budget_used = total_cost / ((double)st->bh * (double)st->seq_q * (double)st->seq_k);
  st->stats.top_p = st->method == VDIT_ATTN_SVG ? p_sum / (double)st->bh : 0.0;
  VDIT_TRY(stage_times(marks, &st->stats));
  // small host copies for the statistics (the permutations and the map stay on the GPU:
  // vdit_attn_cluster_routing_get reads them there)
  VDIT_TRY(vdit_memcpy(VDIT_CPU, st->q_count, g->device, g->q_count, (size_t)(st->bh * st->cq) * 4));
  VDIT_TRY(vdit_memcpy(VDIT_CPU, st->k_count, g->device, g->k_count, (size_t)(st->bh * st->ck) * 4));
  VDIT_TRY(vdit_memcpy(VDIT_CPU, st->frag_offsets, g->device, g->frag_offsets, (size_t)(st->bh * (st->k_tiles + 1)) * 4));
  int32_t q_empty = 0, k_empty = 0;
  int64_t fragments = 0;
  for (int64_t i = 0; i < st->bh * st->cq; i++) q_empty += st->q_count[i] == 0;
  for (int64_t i = 0; i < st->bh * st->ck; i++) k_empty += st->k_count[i] == 0;
  for (int64_t bh = 0; bh < st->bh; bh++) fragments += st->frag_offsets[bh * (st->k_tiles + 1) + st->k_tiles];
  st->stats.q_clusters = st->cq, st->stats.k_clusters = st->ck;
  st->stats.q_empty = q_empty, st->stats.k_empty = k_empty;
  st->stats.fragments = fragments;
  st->stats.warm = warm;
  vdit_attn_cluster_pad_factors(st);
  // the three steps from the GPU's clock (k-means with the conversions to fp32; selection =
  // everything from the V means to the block map); the whole routing on the host's
  const double *ms = st->stats.stage_ms;
  double kmeans_ms = 0.0, select_ms = 0.0, compensate_ms = 0.0;
  for (int i = 0; i < VDIT_ATTN_CLUSTER_STAGES; i++) {
    if (i <= VDIT_ATTN_CLUSTER_STAGE_KMEANS_MEANS) kmeans_ms += ms[i];
    else if (i <= VDIT_ATTN_CLUSTER_STAGE_SELECT) select_ms += ms[i];
    else compensate_ms += ms[i];
  }
  st->stats.kmeans_seconds = 1e-3 * kmeans_ms;
  st->stats.select_seconds = 1e-3 * select_ms;
  st->stats.compensate_seconds = 1e-3 * compensate_ms;
  st->stats.route_seconds = t_compensate - start;
  g->have_centroids = 1;
  st->routed = 1;
  return VDIT_OK;
}

static vdit_status route_on_gpu(const vdit_attn_problem *problem, vdit_attn_cluster_state *st, const vdit_tensor *q,
                                const vdit_tensor *k, const vdit_tensor *v) {
  int previous = 0;
  VDIT_TRY(vdit_attn_cuda_device_enter(st->gpu.device, &previous));
  return vdit_attn_cuda_device_leave(previous, route_on_gpu_inner(problem, st, q, k, v));
}
#endif

vdit_status vdit_attn_cluster_route_cuda(const vdit_attn_problem *problem, vdit_attn_cluster_state *st,
                                         const vdit_tensor *q, const vdit_tensor *k, const vdit_tensor *v) {
#ifdef VDIT_HAVE_CUDA
  return st->config.gpu_routing ? route_on_gpu(problem, st, q, k, v) : route_on_host(problem, st, q, k, v);
#else
  (void)problem, (void)q, (void)k, (void)v;
  return vdit_device_check(st->target);
#endif
}

vdit_status vdit_attn_cluster_forward_cuda(const vdit_attn_problem *problem, vdit_attn_cuda_resources *resources,
                                           vdit_attn_cluster_state *st, const vdit_tensor *q, const vdit_tensor *k,
                                           const vdit_tensor *v, vdit_tensor *o, vdit_tensor *lse) {
#ifdef VDIT_HAVE_CUDA
  vdit_attn_cluster_gpu *g = &st->gpu;
  const vdit_attn_shape s = problem->shape;
  const vdit_attn_layout layout = problem->config.layout;
  VDIT_TRY(alloc_bhsd(&g->q, q->dtype, g->device, s.batch, s.heads, s.seq_q, s.head_dim));
  VDIT_TRY(alloc_bhsd(&g->k, q->dtype, g->device, s.batch, s.heads, s.seq_k, s.head_dim));
  VDIT_TRY(alloc_bhsd(&g->v, q->dtype, g->device, s.batch, s.heads, s.seq_k, s.head_dim));
  VDIT_TRY(alloc_bhsd(&g->o, q->dtype, g->device, s.batch, s.heads, s.seq_q, s.head_dim));
  VDIT_TRY(alloc_bhsd(&g->lse, VDIT_DTYPE_F32, g->device, s.batch, s.heads, s.seq_q, 0));
  int previous = 0;
  VDIT_TRY(vdit_attn_cuda_device_enter(g->device, &previous));
  vdit_status status = move_rows(st, q, layout, &g->q, g->q_perm, s.seq_q, 1);
  if (status == VDIT_OK) status = move_rows(st, k, layout, &g->k, g->k_perm, s.seq_k, 1);
  if (status == VDIT_OK) status = move_rows(st, v, layout, &g->v, g->k_perm, s.seq_k, 1);
  status = vdit_attn_cuda_device_leave(previous, status);
  const vdit_attn_problem p = executor_problem(problem, g);
  if (status == VDIT_OK) status = vdit_attn_cuda_dense_forward(&p, resources, &g->q, &g->k, &g->v, &g->o, &g->lse);
  if (status != VDIT_OK) return status;
  VDIT_TRY(vdit_attn_cuda_device_enter(g->device, &previous));
  status = move_rows(st, o, layout, &g->o, g->q_perm, s.seq_q, 0);
  if (status == VDIT_OK) status = move_rows(st, lse, layout, &g->lse, g->q_perm, s.seq_q, 0);
  return vdit_attn_cuda_device_leave(previous, status);
#else
  (void)problem, (void)resources, (void)q, (void)k, (void)v, (void)o, (void)lse;
  return vdit_device_check(st->target);
#endif
}

vdit_status vdit_attn_cluster_backward_cuda(const vdit_attn_problem *problem, vdit_attn_cuda_resources *resources,
                                            vdit_attn_cluster_state *st, const vdit_tensor *q, const vdit_tensor *k,
                                            const vdit_tensor *v, const vdit_tensor *o, const vdit_tensor *lse,
                                            const vdit_tensor *d_o, vdit_tensor *dq, vdit_tensor *dk, vdit_tensor *dv) {
#ifdef VDIT_HAVE_CUDA
  if (!st->routed) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "attention backward: run the forward first (it routes)");
  vdit_attn_cluster_gpu *g = &st->gpu;
  const vdit_attn_shape s = problem->shape;
  const vdit_attn_layout layout = problem->config.layout;
  if (!g->map_t_ready) {
    vdit_attn_block_map_free(&g->map_t);
    VDIT_TRY(vdit_attn_block_map_transpose(&g->map_t, &g->map));
    g->map_t_ready = 1;
  }
  VDIT_TRY(alloc_bhsd(&g->d_o, q->dtype, g->device, s.batch, s.heads, s.seq_q, s.head_dim));
  VDIT_TRY(alloc_bhsd(&g->dq, q->dtype, g->device, s.batch, s.heads, s.seq_q, s.head_dim));
  VDIT_TRY(alloc_bhsd(&g->dk, q->dtype, g->device, s.batch, s.heads, s.seq_k, s.head_dim));
  VDIT_TRY(alloc_bhsd(&g->dv, q->dtype, g->device, s.batch, s.heads, s.seq_k, s.head_dim));
  int previous = 0;
  VDIT_TRY(vdit_attn_cuda_device_enter(g->device, &previous));
  vdit_status status = move_rows(st, q, layout, &g->q, g->q_perm, s.seq_q, 1);
  if (status == VDIT_OK) status = move_rows(st, k, layout, &g->k, g->k_perm, s.seq_k, 1);
  if (status == VDIT_OK) status = move_rows(st, v, layout, &g->v, g->k_perm, s.seq_k, 1);
  if (status == VDIT_OK) status = move_rows(st, o, layout, &g->o, g->q_perm, s.seq_q, 1);
  if (status == VDIT_OK) status = move_rows(st, d_o, layout, &g->d_o, g->q_perm, s.seq_q, 1);
  if (status == VDIT_OK) status = move_rows(st, lse, layout, &g->lse, g->q_perm, s.seq_q, 1);
  status = vdit_attn_cuda_device_leave(previous, status);
  const vdit_attn_problem p = executor_problem(problem, g);
  if (status == VDIT_OK)
    status = vdit_attn_cuda_dense_backward(&p, resources, &g->q, &g->k, &g->v, &g->o, &g->lse, &g->d_o, &g->dq, &g->dk, &g->dv);
  if (status != VDIT_OK) return status;
  VDIT_TRY(vdit_attn_cuda_device_enter(g->device, &previous));
  status = move_rows(st, dq, layout, &g->dq, g->q_perm, s.seq_q, 0);
  if (status == VDIT_OK) status = move_rows(st, dk, layout, &g->dk, g->k_perm, s.seq_k, 0);
  if (status == VDIT_OK) status = move_rows(st, dv, layout, &g->dv, g->k_perm, s.seq_k, 0);
  return vdit_attn_cuda_device_leave(previous, status);
#else
  (void)problem, (void)resources, (void)q, (void)k, (void)v, (void)o, (void)lse, (void)d_o, (void)dq, (void)dk, (void)dv;
  return vdit_device_check(st->target);
#endif
}
