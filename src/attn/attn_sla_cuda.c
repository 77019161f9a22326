// The host side of SLA2 on CUDA (kernels in src/attn/cuda/sla_cuda.cu): device buffers,
// parameter uploads, and the sequence of launches of the forward and the backward. Without
// the CUDA backend every call is VDIT_ERROR_NO_DEVICE.
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "attn/attn_kernels.h"
#include "attn/sla_exact.h"

#ifdef VDIT_HAVE_CUDA
#include "attn/cuda/sla_cuda.h"
#include "base/cuda_check.h"
#endif

void vdit_attn_sla_cuda_free(vdit_attn_sla_cuda *c) {
  (void)vdit_attn_sla_cuda_profile(c, 0);
  vdit_device_free(c->device, c->params);
  vdit_host_free(c->params_host);
  vdit_device_free(c->device, c->o_s);
  vdit_device_free(c->device, c->router);
  vdit_device_free(c->device, c->linear);
  vdit_device_free(c->device, c->backward);
  memset(c, 0, sizeof *c);
}

#ifdef VDIT_HAVE_CUDA
static size_t align256(size_t n) { return (n + 255) & ~(size_t)255; }

static void sizes(const vdit_attn_problem *problem, const vdit_attn_sla_weights *w, int64_t *BH, int64_t *qb, int64_t *kb) {
  const vdit_attn_shape s = problem->shape;
  *BH = s.batch * s.heads;
  *qb = (s.seq_q + w->block - 1) / w->block;
  *kb = (s.seq_k + w->block - 1) / w->block;
}

vdit_status vdit_attn_sla_cuda_init(vdit_attn_sla_cuda *c, const vdit_attn_problem *problem, const vdit_attn_sla_weights *w,
                                    vdit_dtype dtype, vdit_device device) {
  memset(c, 0, sizeof *c);
  c->device = device;
  VDIT_TRY(vdit_device_check(device));
  const vdit_attn_shape s = problem->shape;
  int64_t BH, qb, kb;
  sizes(problem, w, &BH, &qb, &kb);
  if (kb > 8192) return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "attention: sla on CUDA takes at most 8192 key blocks");
  const int64_t D = s.head_dim, Dr = w->router_dim;
  size_t elem;
  VDIT_TRY(vdit_dtype_storage_bytes(dtype, 1, &elem));
  vdit_status status = vdit_device_alloc(device, (size_t)(2 * w->heads * D * Dr + w->heads) * sizeof(float), (void **)&c->params);
  if (status == VDIT_OK) status = vdit_device_alloc(device, (size_t)(BH * s.seq_q * D) * elem + 256, &c->o_s);
  if (status == VDIT_OK)
    status = vdit_device_alloc(device, (size_t)(BH * (qb + kb) * (D + Dr)) * sizeof(float) + 1024, (void **)&c->router);
  if (status == VDIT_OK)
    status = vdit_device_alloc(device,
                               (size_t)(BH * (kb + qb) * D * D) * 2 +
                                   (size_t)(BH * (kb * D + D * D + D + VDIT_SLA_CUDA_TOTAL_FLOATS + qb * D)) * sizeof(float) + 1024,
                               (void **)&c->linear);
  if (status != VDIT_OK) vdit_attn_sla_cuda_free(c);
  return status;
}

// Kernel arguments from the tensors (either layout) and the plan's buffers.
static void args_init(vdit_attn_sla_cuda *c, const vdit_attn_problem *problem, const vdit_attn_sla_weights *w,
                      const vdit_tensor *q, const vdit_tensor *k, const vdit_tensor *v, vdit_attn_sla_cuda_args *a) {
  const vdit_attn_shape s = problem->shape;
  const vdit_attn_layout layout = problem->config.layout;
  int64_t BH, qb, kb;
  sizes(problem, w, &BH, &qb, &kb);
  const int64_t D = s.head_dim, Dr = w->router_dim;
  memset(a, 0, sizeof *a);
  a->dtype = q->dtype;
  a->B = (int)s.batch, a->H = (int)s.heads, a->Sq = (int)s.seq_q, a->Sk = (int)s.seq_k, a->D = (int)D, a->Dr = (int)Dr;
  a->qb = (int)qb, a->kb = (int)kb, a->block = w->block, a->keep = sla_topk_count(w->topk, (int)kb);
  a->scale = problem->scale;
  a->feature = (int)w->feature;
  a->q = q->data, a->k = k->data, a->v = v->data;
  vdit_attn_cuda_strides_bsh(q, layout, &a->q_sb, &a->q_ss, &a->q_sh);
  vdit_attn_cuda_strides_bsh(k, layout, &a->k_sb, &a->k_ss, &a->k_sh);
  vdit_attn_cuda_strides_bsh(v, layout, &a->v_sb, &a->v_ss, &a->v_sh);
  // O_s: contiguous in the tensors' layout, shape of Q
  a->o_s = c->o_s;
  a->os_sb = s.seq_q * s.heads * D;
  a->os_ss = layout == VDIT_ATTN_LAYOUT_BSHD ? s.heads * D : D;
  a->os_sh = layout == VDIT_ATTN_LAYOUT_BSHD ? D : s.seq_q * D;
  a->wq = c->params;
  a->wk = c->params + w->heads * D * Dr;
  a->alpha_logit = c->params + 2 * w->heads * D * Dr;
  a->pooled_q = c->router;
  a->pooled_k = a->pooled_q + BH * qb * D;
  a->proj_q = a->pooled_k + BH * kb * D;
  a->proj_k = a->proj_q + BH * qb * Dr;
  a->hj = (uint16_t *)c->linear;
  a->zj = (float *)(a->hj + BH * kb * D * D);
  a->h_all = a->zj + BH * kb * D;
  a->z_all = a->h_all + BH * D * D;
  a->total_part = a->z_all + BH * D;
  a->hc = (uint16_t *)(a->total_part + BH * VDIT_SLA_CUDA_TOTAL_FLOATS); // 16-byte aligned: every part above is
  a->zc = (float *)(a->hc + BH * qb * D * D);
  a->events = (cudaEvent_t *)c->events;
  // 16-byte chunks of rows: aligned bases, strides multiples of 8 elements
  const vdit_tensor *t[3] = {q, k, v};
  a->vec = 1;
  for (int i = 0; i < 3; i++) a->vec &= ((uintptr_t)t[i]->data % 16) == 0;
  const int64_t st[9] = {a->q_sb, a->q_ss, a->q_sh, a->k_sb, a->k_ss, a->k_sh, a->v_sb, a->v_ss, a->v_sh};
  for (int i = 0; i < 9; i++) a->vec &= st[i] % 8 == 0;
}

static vdit_status cuda_status(cudaError_t err, const char *what);

vdit_status vdit_attn_sla_cuda_profile(vdit_attn_sla_cuda *c, int on) {
  if (!on) {
    if (c->events) {
      cudaEvent_t *ev = (cudaEvent_t *)c->events;
      for (int i = 0; i < VDIT_SLA_EV_COUNT; i++) cudaEventDestroy(ev[i]);
      free(c->events);
      c->events = NULL;
    }
    return VDIT_OK;
  }
  if (c->events) return VDIT_OK;
  cudaEvent_t *ev = calloc(VDIT_SLA_EV_COUNT, sizeof *ev);
  if (!ev) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "sla profile: no host memory");
  int previous = 0;
  VDIT_TRY(vdit_attn_cuda_device_enter(c->device, &previous));
  vdit_status status = VDIT_OK;
  int made = 0;
  for (; made < VDIT_SLA_EV_COUNT && status == VDIT_OK; made++)
    status = cuda_status(cudaEventCreate(&ev[made]), "event create");
  if (status != VDIT_OK) {
    for (int i = 0; i < made - 1; i++) cudaEventDestroy(ev[i]);
    free(ev);
  } else {
    c->events = ev;
  }
  return vdit_attn_cuda_device_leave(previous, status);
}

vdit_status vdit_attn_sla_cuda_stages(const vdit_attn_sla_cuda *c, double ms[VDIT_ATTN_SLA_STAGES]) {
  if (!c->events) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "sla stages: profiling is off");
  cudaEvent_t *ev = (cudaEvent_t *)c->events;
  // stage k runs from point from[k] to point to[k] (sla_cuda.h's VDIT_SLA_EV_*); the whole
  // forward from its first point (prepare's, or the route's when the forward itself prepares)
  const int from[VDIT_ATTN_SLA_STAGES] = {VDIT_SLA_EV_ROUTE, VDIT_SLA_EV_POOLED, VDIT_SLA_EV_SPARSE, VDIT_SLA_EV_PREP,
                                          VDIT_SLA_EV_PREPARED, VDIT_SLA_EV_OUT, c->span_from};
  // (out: the leftout kernel, before the executor since round 16; sparse: the executor with the
  // linear branch's epilogue)
  static const int to[VDIT_ATTN_SLA_STAGES] = {VDIT_SLA_EV_POOLED, VDIT_SLA_EV_ROUTED, VDIT_SLA_EV_SPARSE_DONE,
                                               VDIT_SLA_EV_PREPARED, VDIT_SLA_EV_TOTALS, VDIT_SLA_EV_SPARSE,
                                               VDIT_SLA_EV_DONE};
  int previous = 0;
  VDIT_TRY(vdit_attn_cuda_device_enter(c->device, &previous));
  vdit_status status = cuda_status(cudaEventSynchronize(ev[VDIT_SLA_EV_DONE]), "event synchronize");
  for (int k = 0; k < VDIT_ATTN_SLA_STAGES && status == VDIT_OK; k++) {
    float t = 0.0f;
    status = cuda_status(cudaEventElapsedTime(&t, ev[from[k]], ev[to[k]]), "event elapsed time");
    ms[k] = t;
  }
  return vdit_attn_cuda_device_leave(previous, status);
}

// Wq, Wk and the alpha logits into c->params, unless they equal (bit for bit) the set uploaded
// last (c->params_host): a pageable cudaMemcpy first waits for the stream, so uploading at
// every route and forward left the GPU idle while the host copied and launched (a training
// step that changed them still uploads, as before).
static vdit_status upload_params(vdit_attn_sla_cuda *c, const vdit_attn_sla_weights *w) {
  const size_t n = (size_t)(w->heads * w->dim * w->router_dim), heads = (size_t)w->heads;
  if (c->params_host && memcmp(c->params_host, w->wq, n * sizeof(float)) == 0 &&
      memcmp(c->params_host + n, w->wk, n * sizeof(float)) == 0 &&
      memcmp(c->params_host + 2 * n, w->alpha_logit, heads * sizeof(float)) == 0)
    return VDIT_OK;
  if (!c->params_host) {
    c->params_host = vdit_host_alloc((2 * n + heads) * sizeof(float), VDIT_HOST_ALIGNMENT);
    if (!c->params_host) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "sla: no host memory for the parameters' copy");
  }
  memcpy(c->params_host, w->wq, n * sizeof(float));
  memcpy(c->params_host + n, w->wk, n * sizeof(float));
  memcpy(c->params_host + 2 * n, w->alpha_logit, heads * sizeof(float));
  vdit_status status = vdit_memcpy(c->device, c->params, VDIT_CPU, c->params_host, (2 * n + heads) * sizeof(float));
  if (status != VDIT_OK) { // the device copy is unknown: upload again next time
    vdit_host_free(c->params_host);
    c->params_host = NULL;
  }
  return status;
}

static vdit_status cuda_status(cudaError_t err, const char *what) {
  if (err != cudaSuccess) return VDIT_ERROR(VDIT_ERROR_CUDA, "sla %s: %s", what, cudaGetErrorString(err));
  return VDIT_OK;
}

vdit_status vdit_attn_sla_cuda_route(vdit_attn_sla_cuda *c, const vdit_attn_problem *problem, const vdit_attn_sla_weights *w,
                                     const vdit_tensor *q, const vdit_tensor *k, vdit_attn_block_map *map) {
  int previous = 0;
  VDIT_TRY(vdit_attn_cuda_device_enter(c->device, &previous));
  vdit_status status = upload_params(c, w);
  vdit_attn_sla_cuda_args a;
  args_init(c, problem, w, q, k, k, &a);
  a.row_offsets = map->row_offsets;
  a.col_index = map->col_index;
  a.keys_pooled = c->pooled_k != NULL && c->pooled_k == k->data; // prepare's key means, this K
  c->pooled_k = NULL;
  if (status == VDIT_OK) status = cuda_status(vdit_attn_sla_cuda_launch_route(&a, 0), "router");
  return vdit_attn_cuda_device_leave(previous, status);
}

vdit_status vdit_attn_sla_cuda_prepare(vdit_attn_sla_cuda *c, const vdit_attn_problem *problem, const vdit_attn_sla_weights *w,
                                       const vdit_tensor *k, const vdit_tensor *v) {
  c->pooled_k = c->prepared_k = c->prepared_v = NULL;
  int previous = 0;
  VDIT_TRY(vdit_attn_cuda_device_enter(c->device, &previous));
  vdit_attn_sla_cuda_args a;
  args_init(c, problem, w, k, k, v, &a); // Q unused
  a.pool_keys = 1;
  vdit_status status = cuda_status(vdit_attn_sla_cuda_launch_linear_prepare(&a, 0), "linear branch preparation");
  if (status == VDIT_OK) c->pooled_k = c->prepared_k = k->data, c->prepared_v = v->data;
  return vdit_attn_cuda_device_leave(previous, status);
}

// A tensor over the O_s buffer (or dO_s) with the shape of `like`, contiguous.
static vdit_status branch_view(void *data, const vdit_tensor *like, vdit_tensor *view) {
  return vdit_tensor_view(view, data, like->dtype, like->device, 4, like->shape, NULL);
}

// Order: (prepare and totals, unless vdit_attn_sla_cuda_prepare ran on these K, V), leftout
// (the left-out sums of every query block), then the executor with SLA2's epilogue: it writes
// O (the mix) and LSE, and O_s into c->o_s for the backward unless the config is forward_only.
vdit_status vdit_attn_sla_cuda_forward(vdit_attn_sla_cuda *c, const vdit_attn_problem *problem, vdit_attn_cuda_resources *r,
                                       const vdit_attn_sla_weights *w, const vdit_tensor *q, const vdit_tensor *k,
                                       const vdit_tensor *v, vdit_tensor *o, vdit_tensor *lse) {
  VDIT_TRY(vdit_attn_cuda_check_lse(lse, r->device));
  int previous = 0;
  cudaEvent_t *ev = (cudaEvent_t *)c->events;
  VDIT_TRY(vdit_attn_cuda_device_enter(c->device, &previous));
  vdit_status status = upload_params(c, w);
  vdit_attn_sla_cuda_args a;
  args_init(c, problem, w, q, k, v, &a);
  a.row_offsets = problem->map->row_offsets;
  a.col_index = problem->map->col_index;
  const int prepared = c->prepared_k == k->data && c->prepared_v == v->data && c->prepared_k != NULL;
  c->span_from = prepared ? VDIT_SLA_EV_PREP : VDIT_SLA_EV_ROUTE;
  c->pooled_k = c->prepared_k = c->prepared_v = NULL;
  if (status == VDIT_OK && !prepared)
    status = cuda_status(vdit_attn_sla_cuda_launch_linear_prepare(&a, 0), "linear branch preparation");
  if (status == VDIT_OK && ev) status = cuda_status(cudaEventRecord(ev[VDIT_SLA_EV_OUT], 0), "event record");
  if (status == VDIT_OK) status = cuda_status(vdit_attn_sla_cuda_launch_leftout(&a, 0), "linear branch (left-out sums)");
  if (status == VDIT_OK && ev) status = cuda_status(cudaEventRecord(ev[VDIT_SLA_EV_SPARSE], 0), "event record");
  if (status == VDIT_OK) { // the sparse branch on the map, the linear branch and the mix in its epilogue
    vdit_attn_cuda_params p;
    vdit_attn_cuda_params_init(&p, problem, r, q, k, v, o, lse);
    p.lin_hc = a.hc;
    p.lin_zc = a.zc;
    p.lin_alpha_logit = a.alpha_logit;
    p.lin_feature = a.feature;
    if (!problem->config.sla.forward_only) {
      p.o_sparse = c->o_s;
      p.os_sb = a.os_sb, p.os_ss = a.os_ss, p.os_sh = a.os_sh;
    }
    // sla(sage=1): the sage quantization of Q, K, V, then the sage forward on the map with the
    // same epilogue (attn_sage_forward_tma.cu, LIN)
    status = problem->config.sla.sage ? vdit_attn_cuda_sage_forward_params(problem, r, &p) : vdit_attn_cuda_forward(&p, 0);
  }
  if (status == VDIT_OK && ev) status = cuda_status(cudaEventRecord(ev[VDIT_SLA_EV_SPARSE_DONE], 0), "event record");
  if (status == VDIT_OK && ev) status = cuda_status(cudaEventRecord(ev[VDIT_SLA_EV_DONE], 0), "event record");
  return vdit_attn_cuda_device_leave(previous, status);
}

vdit_status vdit_attn_sla_cuda_backward(vdit_attn_sla_cuda *c, const vdit_attn_problem *problem, vdit_attn_cuda_resources *r,
                                        const vdit_attn_sla_weights *w, const vdit_tensor *q, const vdit_tensor *k,
                                        const vdit_tensor *v, const vdit_tensor *lse, const vdit_tensor *d_o,
                                        vdit_tensor *dq, vdit_tensor *dk, vdit_tensor *dv, float *g_wq, float *g_wk,
                                        float *g_logit) {
  const vdit_attn_shape s = problem->shape;
  int64_t BH, qb, kb;
  sizes(problem, w, &BH, &qb, &kb);
  const int64_t D = s.head_dim, Dr = w->router_dim;
  size_t elem;
  VDIT_TRY(vdit_dtype_storage_bytes(q->dtype, 1, &elem));
  // scratch: dO_s, dHc, dzc, totals, G, its split partials, vbar, alpha partials, t1, t2, router grads
  const size_t parts[] = {(size_t)(BH * s.seq_q * D) * elem, (size_t)(BH * qb * D * D) * 2, (size_t)(BH * qb * D) * 4,
                          (size_t)(BH * D * D) * 4, (size_t)(BH * D) * 4, (size_t)(BH * qb * kb) * 4,
                          (size_t)(VDIT_SLA_CUDA_SPLITS * BH * qb * kb) * 4, (size_t)(BH * qb) * 4,
                          (size_t)(BH * qb * Dr) * 4, (size_t)(BH * kb * Dr) * 4, (size_t)(BH * 2 * D * Dr) * 4};
  const int nparts = (int)(sizeof parts / sizeof parts[0]);
  size_t bytes = 0;
  for (int i = 0; i < nparts; i++) bytes += align256(parts[i]);
  if (c->backward_bytes < bytes) {
    vdit_device_free(c->device, c->backward);
    c->backward = NULL;
    c->backward_bytes = 0;
    VDIT_TRY(vdit_device_alloc(c->device, bytes, &c->backward));
    c->backward_bytes = bytes;
  }
  unsigned char *p[11];
  p[0] = (unsigned char *)c->backward;
  for (int i = 1; i < nparts; i++) p[i] = p[i - 1] + align256(parts[i - 1]);
  int previous = 0;
  VDIT_TRY(vdit_attn_cuda_device_enter(c->device, &previous));
  vdit_attn_sla_cuda_args a;
  args_init(c, problem, w, q, k, v, &a);
  a.row_offsets = problem->map->row_offsets;
  a.col_index = problem->map->col_index;
  a.mapt_offsets = problem->map_t->row_offsets;
  a.mapt_index = problem->map_t->col_index;
  a.lse = (const float *)lse->data;
  a.d_o = d_o->data;
  const vdit_attn_layout layout = problem->config.layout;
  vdit_attn_cuda_strides_bsh(d_o, layout, &a.do_sb, &a.do_ss, &a.do_sh);
  a.dq = dq->data, a.dk = dk->data, a.dv = dv->data;
  vdit_attn_cuda_strides_bsh(dq, layout, &a.dq_sb, &a.dq_ss, &a.dq_sh);
  vdit_attn_cuda_strides_bsh(dk, layout, &a.dk_sb, &a.dk_ss, &a.dk_sh);
  vdit_attn_cuda_strides_bsh(dv, layout, &a.dv_sb, &a.dv_ss, &a.dv_sh);
  a.d_os = p[0];
  a.dhc = (uint16_t *)p[1], a.dzc = (float *)p[2], a.g_total = (float *)p[3], a.g_ztotal = (float *)p[4];
  a.G = (float *)p[5], a.g_partial = (float *)p[6], a.alpha_partial = (float *)p[7];
  a.t1 = (float *)p[8], a.t2 = (float *)p[9], a.g_router = (float *)p[10];
  vdit_status status = upload_params(c, w);
  if (status == VDIT_OK) status = cuda_status(vdit_attn_sla_cuda_launch_scale_do(&a, 0), "dO scaling");
  status = vdit_attn_cuda_device_leave(previous, status);
  vdit_tensor os, dos;
  if (status == VDIT_OK) status = branch_view(c->o_s, q, &os);
  if (status == VDIT_OK) status = branch_view(a.d_os, q, &dos);
  if (status == VDIT_OK) status = vdit_attn_cuda_dense_backward(problem, r, q, k, v, &os, lse, &dos, dq, dk, dv);
  if (status != VDIT_OK) return status;
  VDIT_TRY(vdit_attn_cuda_device_enter(c->device, &previous));
  const int router = g_wq || g_wk;
  status = cuda_status(vdit_attn_sla_cuda_launch_linear_backward(&a, router, 0), "linear branch backward");
  // parameter gradients: per (b, h) partials summed over b (and query blocks) on the host
  float *host = NULL;
  const size_t nr = router ? (size_t)(BH * 2 * D * Dr) : 0, na = (size_t)(BH * qb);
  if (status == VDIT_OK && (router || g_logit)) {
    host = malloc((nr + na + 1) * sizeof *host);
    if (!host) status = VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "sla backward: no host memory");
    if (status == VDIT_OK && router) status = vdit_memcpy(VDIT_CPU, host, c->device, a.g_router, nr * sizeof *host);
    if (status == VDIT_OK) status = vdit_memcpy(VDIT_CPU, host + nr, c->device, a.alpha_partial, na * sizeof *host);
  }
  if (status == VDIT_OK && host) {
    const int64_t H = s.heads, n = D * Dr;
    for (int64_t h = 0; h < H; h++) {
      for (int64_t i = 0; router && i < n; i++) {
        double sq = 0.0, sk = 0.0;
        for (int64_t b = 0; b < s.batch; b++) {
          sq += host[((b * H + h) * 2 + 0) * n + i];
          sk += host[((b * H + h) * 2 + 1) * n + i];
        }
        if (g_wq) g_wq[h * n + i] = (float)sq;
        if (g_wk) g_wk[h * n + i] = (float)sk;
      }
      double ga = 0.0;
      for (int64_t b = 0; b < s.batch; b++)
        for (int64_t I = 0; I < qb; I++) ga += host[nr + (b * H + h) * qb + I];
      const double al = 1.0 / (1.0 + exp(-(double)w->alpha_logit[h]));
      if (g_logit) g_logit[h] = (float)(ga * al * (1.0 - al));
    }
  }
  free(host);
  return vdit_attn_cuda_device_leave(previous, status);
}
#else
vdit_status vdit_attn_sla_cuda_profile(vdit_attn_sla_cuda *c, int on) {
  return on ? vdit_device_check(c->device) : VDIT_OK;
}
vdit_status vdit_attn_sla_cuda_stages(const vdit_attn_sla_cuda *c, double ms[VDIT_ATTN_SLA_STAGES]) {
  (void)ms;
  return vdit_device_check(c->device);
}
vdit_status vdit_attn_sla_cuda_init(vdit_attn_sla_cuda *c, const vdit_attn_problem *problem, const vdit_attn_sla_weights *w,
                                    vdit_dtype dtype, vdit_device device) {
  (void)problem, (void)w, (void)dtype;
  memset(c, 0, sizeof *c);
  c->device = device;
  return vdit_device_check(device);
}
vdit_status vdit_attn_sla_cuda_route(vdit_attn_sla_cuda *c, const vdit_attn_problem *problem, const vdit_attn_sla_weights *w,
                                     const vdit_tensor *q, const vdit_tensor *k, vdit_attn_block_map *map) {
  (void)problem, (void)w, (void)q, (void)k, (void)map;
  return vdit_device_check(c->device);
}
vdit_status vdit_attn_sla_cuda_prepare(vdit_attn_sla_cuda *c, const vdit_attn_problem *problem, const vdit_attn_sla_weights *w,
                                       const vdit_tensor *k, const vdit_tensor *v) {
  (void)problem, (void)w, (void)k, (void)v;
  return vdit_device_check(c->device);
}
vdit_status vdit_attn_sla_cuda_forward(vdit_attn_sla_cuda *c, const vdit_attn_problem *problem, vdit_attn_cuda_resources *r,
                                       const vdit_attn_sla_weights *w, const vdit_tensor *q, const vdit_tensor *k,
                                       const vdit_tensor *v, vdit_tensor *o, vdit_tensor *lse) {
  (void)problem, (void)r, (void)w, (void)q, (void)k, (void)v, (void)o, (void)lse;
  return vdit_device_check(c->device);
}
vdit_status vdit_attn_sla_cuda_backward(vdit_attn_sla_cuda *c, const vdit_attn_problem *problem, vdit_attn_cuda_resources *r,
                                        const vdit_attn_sla_weights *w, const vdit_tensor *q, const vdit_tensor *k,
                                        const vdit_tensor *v, const vdit_tensor *lse, const vdit_tensor *d_o,
                                        vdit_tensor *dq, vdit_tensor *dk, vdit_tensor *dv, float *g_wq, float *g_wk,
                                        float *g_logit) {
  (void)problem, (void)r, (void)w, (void)q, (void)k, (void)v, (void)lse, (void)d_o, (void)dq, (void)dk, (void)dv;
  (void)g_wq, (void)g_wk, (void)g_logit;
  return vdit_device_check(c->device);
}
#endif
