// The host side of clustered attention on CUDA. The routing (k-means, permutation, SVG / EAR
// selection, compensation terms) runs on the host copy of Q, K, V with the CPU specification
// (cluster_cpu.c); the GPU gets the permutations, the map and the extras, gathers Q, K, V into
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
                  (void **)&g->extra_num};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
    vdit_device_free(g->device, *all[i]);
    *all[i] = NULL;
  }
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

vdit_status vdit_attn_cluster_route_cuda(const vdit_attn_problem *problem, vdit_attn_cluster_state *st,
                                         const vdit_tensor *q, const vdit_tensor *k, const vdit_tensor *v) {
#ifdef VDIT_HAVE_CUDA
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
  if (!g->q_perm) {
    const vdit_attn_shape s = problem->shape;
    VDIT_TRY(vdit_device_alloc(g->device, (size_t)(st->bh * st->seq_q) * 4, (void **)&g->q_perm));
    VDIT_TRY(vdit_device_alloc(g->device, (size_t)(st->bh * st->seq_k) * 4, (void **)&g->k_perm));
    VDIT_TRY(vdit_device_alloc(g->device, (size_t)(st->bh * st->seq_q) * 4, (void **)&g->extra_max));
    VDIT_TRY(vdit_device_alloc(g->device, (size_t)(st->bh * st->seq_q) * 4, (void **)&g->extra_sum));
    VDIT_TRY(vdit_device_alloc(g->device, nq * 4, (void **)&g->extra_num));
    VDIT_TRY(vdit_attn_block_map_alloc(&g->map, g->device, s.batch, s.heads, s.seq_q, s.seq_k, VDIT_ATTN_CLUSTER_TILE,
                                       VDIT_ATTN_CLUSTER_TILE));
  }
  VDIT_TRY(vdit_memcpy(g->device, g->q_perm, VDIT_CPU, st->q_perm, (size_t)(st->bh * st->seq_q) * 4));
  VDIT_TRY(vdit_memcpy(g->device, g->k_perm, VDIT_CPU, st->k_perm, (size_t)(st->bh * st->seq_k) * 4));
  VDIT_TRY(vdit_memcpy(g->device, g->extra_max, VDIT_CPU, st->extra_max, (size_t)(st->bh * st->seq_q) * 4));
  VDIT_TRY(vdit_memcpy(g->device, g->extra_sum, VDIT_CPU, st->extra_sum, (size_t)(st->bh * st->seq_q) * 4));
  VDIT_TRY(vdit_memcpy(g->device, g->extra_num, VDIT_CPU, st->extra_num, nq * 4));
  VDIT_TRY(vdit_attn_block_map_copy(&g->map, &st->map));
  g->map_t_ready = 0;
  st->stats.route_seconds = vdit_time_seconds() - start;
  return VDIT_OK;
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
