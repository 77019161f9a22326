// The attention entry point: validates tensors against the config, builds a plan, and
// dispatches forward and backward to the method's implementation on the tensors' device.
// The CPU path gathers Q/K/V (any dtype, either layout, any strides with a contiguous head
// dim) into fp32 (B, H, S, D) arrays, runs the fp32 kernels and scatters the results back.
// The CUDA path (bf16, f16) runs the kernels of src/attn/cuda on the tensors in place
// (attn_dense_cuda.c); its plan holds the key lengths and the backward workspace on the GPU.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attn/attn_kernels.h"
#include "attn/attn_sage.h"
#include "attn/cluster.h"
#include "vdit/attn.h"

struct vdit_attn_plan {
  vdit_attn_problem problem; // problem.config.key_lengths points at key_lengths below
  vdit_dtype dtype;
  vdit_device device;
  int64_t *key_lengths;
  vdit_attn_cuda_resources cuda; // CUDA plans only
  // block-sparse methods: the map in use (sparge: owned, predicted; block: the caller's),
  // its transpose (built at the first backward after the map changed) and sparge's state
  vdit_attn_block_map owned_map, map_t;
  const vdit_attn_block_map *map;
  int map_ready, map_t_ready, hold_mask;
  vdit_attn_sparge_head *per_head; // copy of config.sparge.per_head
  void *predict_workspace;         // CUDA mask prediction scratch
  size_t predict_workspace_bytes;
  vdit_attn_cluster_state *cluster; // VDIT_ATTN_EAR, VDIT_ATTN_SVG
  // SLA2: resolved parameters (host), the forward's branch outputs O_s, O_l for the backward
  // (CPU: fp32 (B, H, Sq, D); CUDA: see attn_sla_cuda.c) and the CUDA state
  vdit_attn_sla_weights sla;
  float *sla_os, *sla_ol;
  int sla_forward_done;
  vdit_attn_sla_cuda sla_cuda;
};

const char *vdit_attn_method_name(vdit_attn_method method) {
  switch (method) {
    case VDIT_ATTN_DENSE: return "dense";
    case VDIT_ATTN_SAGE: return "sage";
    case VDIT_ATTN_BLOCK: return "block";
    case VDIT_ATTN_SPARGE: return "sparge";
    case VDIT_ATTN_SLA: return "sla";
    case VDIT_ATTN_EAR: return "ear";
    case VDIT_ATTN_SVG: return "svg";
    case VDIT_ATTN_METHOD_COUNT: break;
  }
  return "unknown";
}

vdit_status vdit_attn_method_parse(const char *name, vdit_attn_method *method) {
  for (int m = 0; m < VDIT_ATTN_METHOD_COUNT; m++)
    if (strcmp(name, vdit_attn_method_name((vdit_attn_method)m)) == 0) {
      *method = (vdit_attn_method)m;
      return VDIT_OK;
    }
  return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "unknown attention method '%s' (available: dense, sage, block, sparge, sla, ear, svg)", name);
}

const char *vdit_attn_sage_granularity_name(vdit_attn_sage_granularity granularity) {
  switch (granularity) {
    case VDIT_ATTN_SAGE_PER_BLOCK: return "block";
    case VDIT_ATTN_SAGE_PER_WARP: return "warp";
    case VDIT_ATTN_SAGE_PER_THREAD: return "thread";
    case VDIT_ATTN_SAGE_GRANULARITY_COUNT: break;
  }
  return "unknown";
}

vdit_status vdit_attn_sage_granularity_parse(const char *name, vdit_attn_sage_granularity *granularity) {
  for (int g = 0; g < VDIT_ATTN_SAGE_GRANULARITY_COUNT; g++)
    if (strcmp(name, vdit_attn_sage_granularity_name((vdit_attn_sage_granularity)g)) == 0) {
      *granularity = (vdit_attn_sage_granularity)g;
      return VDIT_OK;
    }
  return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "unknown sage granularity '%s' (block, warp or thread)", name);
}

const char *vdit_attn_sage_pv_name(vdit_attn_sage_pv pv) {
  switch (pv) {
    case VDIT_ATTN_SAGE_PV_FP8: return "fp8";
    case VDIT_ATTN_SAGE_PV_HALF: return "half";
    case VDIT_ATTN_SAGE_PV_COUNT: break;
  }
  return "unknown";
}

vdit_status vdit_attn_sage_pv_parse(const char *name, vdit_attn_sage_pv *pv) {
  for (int v = 0; v < VDIT_ATTN_SAGE_PV_COUNT; v++)
    if (strcmp(name, vdit_attn_sage_pv_name((vdit_attn_sage_pv)v)) == 0) {
      *pv = (vdit_attn_sage_pv)v;
      return VDIT_OK;
    }
  return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "unknown sage P V precision '%s' (fp8 or half)", name);
}

const char *vdit_attn_sage_split_name(vdit_attn_sage_split split) {
  switch (split) {
    case VDIT_ATTN_SAGE_SPLIT_OFF: return "off";
    case VDIT_ATTN_SAGE_SPLIT_AUTO: return "auto";
    case VDIT_ATTN_SAGE_SPLIT_COUNT: break;
  }
  return "unknown";
}

vdit_status vdit_attn_sage_split_parse(const char *name, vdit_attn_sage_split *split) {
  for (int v = 0; v < VDIT_ATTN_SAGE_SPLIT_COUNT; v++)
    if (strcmp(name, vdit_attn_sage_split_name((vdit_attn_sage_split)v)) == 0) {
      *split = (vdit_attn_sage_split)v;
      return VDIT_OK;
    }
  return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "unknown sage channel split '%s' (off or auto)", name);
}

// (batch, heads, seq, dim) of a Q/K/V-like tensor in `layout`.
static vdit_status tensor_bhsd(const vdit_tensor *t, const char *name, vdit_attn_layout layout, int64_t out[4]) {
  out[0] = out[1] = out[2] = out[3] = 0;
  if (!t || (!t->data && vdit_tensor_numel(t) > 0))
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "attention: %s is missing", name);
  if (t->ndim != 4)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "attention: %s must have 4 dims (%s), got %d", name,
                      layout == VDIT_ATTN_LAYOUT_BSHD ? "B, S, H, D" : "B, H, S, D", t->ndim);
  if (t->stride[3] != 1)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "attention: %s needs a contiguous head dim (stride 1, got %lld)",
                      name, (long long)t->stride[3]);
  out[0] = t->shape[0];
  out[1] = layout == VDIT_ATTN_LAYOUT_BSHD ? t->shape[2] : t->shape[1];
  out[2] = layout == VDIT_ATTN_LAYOUT_BSHD ? t->shape[1] : t->shape[2];
  out[3] = t->shape[3];
  return VDIT_OK;
}

static void sla_weights_refresh(vdit_attn_plan *plan) {
  vdit_attn_sla_weights_refresh(&plan->sla, &plan->problem.config.sla);
}

// SLA2's plan: the resolved parameters, the router's map, and room for the two branches.
static vdit_status sla_plan_init(vdit_attn_plan *plan, const vdit_attn_config *config) {
  const vdit_attn_shape s = plan->problem.shape;
  if (config->mask != VDIT_ATTN_MASK_NONE || config->key_lengths)
    return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "attention: sla routes unmasked attention only (mask none, no key lengths)");
  if (config->extras.row_max || config->extras.pv_threshold > 0.0f)
    return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "attention: sla takes no softmax extras");
  int32_t block_q, block_k;
  vdit_attn_block_sizes(plan->device, s.head_dim, &block_q, &block_k);
  if (config->sla.sage && (config->sage.pv != VDIT_ATTN_SAGE_PV_FP8 || config->sage.smooth_q))
    return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "attention: sla(sage=1) takes FP8 P V and no Q-smoothing");
  if (config->sla.sage && plan->device.type == VDIT_DEVICE_CUDA && config->sage.granularity != VDIT_ATTN_SAGE_PER_BLOCK)
    return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "attention: sla(sage=1) on CUDA takes per-block scales (gran=block)");
  VDIT_TRY(vdit_attn_sla_weights_init(&plan->sla, &config->sla, s.heads, s.head_dim, block_q));
  const int32_t block = plan->sla.block;
  if (config->sla.sage && block != 128)
    return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "attention: sla(sage=1) needs 128-token blocks (sage's tiles; got %d)", block);
  if (plan->device.type == VDIT_DEVICE_CUDA && (block != block_q || s.head_dim != 128))
    return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "attention: sla on CUDA needs D = 128 and %d-token blocks (got D = %lld, block %d)",
                      block_q, (long long)s.head_dim, block);
  VDIT_TRY(vdit_attn_block_map_alloc(&plan->owned_map, plan->device, s.batch, s.heads, s.seq_q, s.seq_k, block, block));
  plan->map = &plan->owned_map;
  if (plan->device.type == VDIT_DEVICE_CPU) {
    const size_t nq = (size_t)(s.batch * s.heads * s.seq_q * s.head_dim);
    plan->sla_os = vdit_host_alloc((2 * nq + 1) * sizeof(float), VDIT_HOST_ALIGNMENT);
    if (!plan->sla_os) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "attention: no memory for the sla branches");
    plan->sla_ol = plan->sla_os + nq;
    return VDIT_OK;
  }
  return vdit_attn_sla_cuda_init(&plan->sla_cuda, &plan->problem, &plan->sla, plan->dtype, plan->device);
}

// The block-sparse part of a plan: checks the caller's map (block) or allocates the
// predicted one (sparge) with the executor's block sizes on the plan's device.
static vdit_status sparse_plan_init(vdit_attn_plan *plan, const vdit_attn_config *config) {
  const vdit_attn_shape s = plan->problem.shape;
  const vdit_attn_softmax_extras *x = &config->extras;
  if ((x->row_max || x->row_sum || x->numerator) && !(x->row_max && x->row_sum && x->numerator))
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "attention: softmax extras need row_max, row_sum and numerator together");
  if (!(x->pv_threshold >= 0.0f)) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "attention: the PV threshold must be >= 0");
  if (config->method == VDIT_ATTN_EAR || config->method == VDIT_ATTN_SVG) {
    plan->cluster = calloc(1, sizeof *plan->cluster);
    if (!plan->cluster) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "attention: no memory for the cluster state");
    vdit_status status = vdit_attn_cluster_state_init(plan->cluster, config, &s, plan->device);
    if (status != VDIT_OK) {
      free(plan->cluster);
      plan->cluster = NULL;
    }
    return status;
  }
  if (config->method == VDIT_ATTN_SLA) return sla_plan_init(plan, config);
  if (config->method != VDIT_ATTN_BLOCK && config->method != VDIT_ATTN_SPARGE) {
    if (x->row_max || x->pv_threshold > 0.0f)
      return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "attention: softmax extras need method block or sparge");
    return VDIT_OK;
  }
  int32_t block_q, block_k;
  vdit_attn_block_sizes(plan->device, s.head_dim, &block_q, &block_k);
  if (config->method == VDIT_ATTN_BLOCK) {
    const vdit_attn_block_map *m = config->block_map;
    if (!m) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "attention: method block needs config.block_map");
    if (m->batch != s.batch || m->heads != s.heads || m->seq_q != s.seq_q || m->seq_k != s.seq_k ||
        !vdit_device_equal(m->device, plan->device))
      return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "attention: the block map's shape or device differs from the tensors'");
    if (plan->device.type == VDIT_DEVICE_CUDA && (m->block_q != block_q || m->block_k != block_k))
      return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "attention: the CUDA executor needs %d x %d blocks at D = %lld (map has %d x %d)",
                        block_q, block_k, (long long)s.head_dim, m->block_q, m->block_k);
    if (plan->device.type == VDIT_DEVICE_CPU) VDIT_TRY(vdit_attn_block_map_validate(m));
    plan->map = m;
    plan->map_ready = 1;
    return VDIT_OK;
  }
  // sparge
  const vdit_attn_sparge_config *sp = &config->sparge;
  if (config->mask != VDIT_ATTN_MASK_NONE || config->key_lengths)
    return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "attention: sparge predicts masks for unmasked attention only (mask none, no key lengths)");
  if (x->row_max) return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "attention: sparge takes no softmax extras");
  if (sp->sage && (config->sage.smooth_q || sp->params.pv_threshold > 0.0f || x->pv_threshold > 0.0f || sp->per_head))
    return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "attention: sparge on the sage path takes no Q-smoothing, PV threshold "
                      "(lambda) or per-head parameters");
  if (sp->sage && plan->device.type == VDIT_DEVICE_CUDA && s.head_dim != 128)
    return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "attention: sparge on the sage path needs D = 128 on CUDA (got %lld)",
                      (long long)s.head_dim);
  if ((unsigned)sp->rule > VDIT_ATTN_SPARGE_HYBRID)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "attention: invalid sparge rule %d", (int)sp->rule);
  for (int64_t h = 0; h < (sp->per_head ? s.heads : 1); h++) {
    const vdit_attn_sparge_head *p = sp->per_head ? &sp->per_head[h] : &sp->params;
    if (!(p->topk >= 0.0f && p->topk <= 1.0f && p->topp >= 0.0f && p->topp <= 1.0f && p->pv_threshold >= 0.0f &&
          isfinite(p->theta)))
      return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "attention: sparge head %lld: topk and topp in [0, 1], lambda >= 0, theta finite",
                        (long long)h);
  }
  if (sp->per_head) {
    plan->per_head = malloc((size_t)s.heads * sizeof *plan->per_head);
    if (!plan->per_head) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "attention: no memory for per-head parameters");
    memcpy(plan->per_head, sp->per_head, (size_t)s.heads * sizeof *plan->per_head);
    plan->problem.config.sparge.per_head = plan->per_head;
    // one PV threshold per plan in the kernels: the largest asked for (0 keeps it off)
    for (int64_t h = 0; h < s.heads; h++)
      if (plan->per_head[h].pv_threshold > plan->problem.extras.pv_threshold)
        plan->problem.extras.pv_threshold = plan->per_head[h].pv_threshold;
  } else {
    plan->problem.extras.pv_threshold = sp->params.pv_threshold;
  }
  VDIT_TRY(vdit_attn_block_map_alloc(&plan->owned_map, plan->device, s.batch, s.heads, s.seq_q, s.seq_k, block_q, block_k));
  plan->map = &plan->owned_map;
  return VDIT_OK;
}

const vdit_attn_block_map *vdit_attn_plan_block_map(const vdit_attn_plan *plan) {
  if (plan->cluster) return vdit_attn_cluster_map(plan->cluster);
  return plan->map_ready ? plan->map : NULL;
}

vdit_status vdit_attn_plan_cluster_stats(const vdit_attn_plan *plan, vdit_attn_cluster_stats *stats) {
  if (!plan->cluster) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "attention: cluster stats need method ear or svg");
  if (!plan->cluster->routed) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "attention: no forward has run yet");
  *stats = plan->cluster->stats;
  return VDIT_OK;
}

vdit_status vdit_attn_plan_sla_profile(vdit_attn_plan *plan, int on) {
  if (plan->problem.config.method != VDIT_ATTN_SLA || plan->device.type != VDIT_DEVICE_CUDA)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "attention: per-kernel timing needs method sla on CUDA");
  return vdit_attn_sla_cuda_profile(&plan->sla_cuda, on);
}

vdit_status vdit_attn_plan_sla_stages(const vdit_attn_plan *plan, double ms[VDIT_ATTN_SLA_STAGES]) {
  if (plan->problem.config.method != VDIT_ATTN_SLA || plan->device.type != VDIT_DEVICE_CUDA)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "attention: per-kernel timing needs method sla on CUDA");
  return vdit_attn_sla_cuda_stages(&plan->sla_cuda, ms);
}

const vdit_attn_cluster_state *vdit_attn_plan_cluster_state(const vdit_attn_plan *plan) { return plan->cluster; }

void vdit_attn_plan_hold_mask(vdit_attn_plan *plan, int hold) { plan->hold_mask = hold; }

vdit_status vdit_attn_plan_create(vdit_attn_plan **plan_out, const vdit_attn_config *config,
                                  const vdit_tensor *q, const vdit_tensor *k, const vdit_tensor *v) {
  *plan_out = NULL;
  if (!config) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "attention: config is NULL");
  if ((unsigned)config->method >= VDIT_ATTN_METHOD_COUNT)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "attention: invalid method %d", (int)config->method);
  if (config->layout != VDIT_ATTN_LAYOUT_BSHD && config->layout != VDIT_ATTN_LAYOUT_BHSD)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "attention: invalid layout %d", (int)config->layout);
  int64_t qs[4], ks[4], vs[4];
  VDIT_TRY(tensor_bhsd(q, "Q", config->layout, qs));
  VDIT_TRY(tensor_bhsd(k, "K", config->layout, ks));
  VDIT_TRY(tensor_bhsd(v, "V", config->layout, vs));
  if (q->dtype != k->dtype || q->dtype != v->dtype)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "attention: Q, K, V dtypes differ (%s, %s, %s)",
                      vdit_dtype_name(q->dtype), vdit_dtype_name(k->dtype), vdit_dtype_name(v->dtype));
  if (q->device.type != k->device.type || q->device.type != v->device.type ||
      q->device.index != k->device.index || q->device.index != v->device.index)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "attention: Q, K, V are on different devices");
  if (q->dtype != VDIT_DTYPE_BF16 && q->dtype != VDIT_DTYPE_F16 && q->dtype != VDIT_DTYPE_F32)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "attention: dtype %s not supported (bf16, f16, or f32 on the CPU)",
                      vdit_dtype_name(q->dtype));
  if (qs[0] != ks[0] || qs[1] != ks[1] || qs[3] != ks[3] || memcmp(ks, vs, sizeof ks) != 0)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT,
                      "attention: shapes disagree: Q (B=%lld, H=%lld, S=%lld, D=%lld), K (%lld, %lld, %lld, %lld), "
                      "V (%lld, %lld, %lld, %lld)",
                      (long long)qs[0], (long long)qs[1], (long long)qs[2], (long long)qs[3], (long long)ks[0],
                      (long long)ks[1], (long long)ks[2], (long long)ks[3], (long long)vs[0], (long long)vs[1],
                      (long long)vs[2], (long long)vs[3]);
  if (qs[3] < 1 || qs[3] > 256)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "attention: head dim %lld outside 1..256", (long long)qs[3]);
  if (config->mask != VDIT_ATTN_MASK_NONE && config->mask != VDIT_ATTN_MASK_CAUSAL &&
      config->mask != VDIT_ATTN_MASK_BLOCK_CAUSAL)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "attention: invalid mask %d", (int)config->mask);
  if (config->mask == VDIT_ATTN_MASK_BLOCK_CAUSAL && config->mask_block_length < 1)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "attention: block-causal mask needs a block length >= 1 (got %lld)",
                      (long long)config->mask_block_length);
  const int sparge_sage = (config->method == VDIT_ATTN_SPARGE && config->sparge.sage) ||
                          (config->method == VDIT_ATTN_SLA && config->sla.sage);
  if ((config->method == VDIT_ATTN_SAGE || sparge_sage) &&
      ((unsigned)config->sage.granularity >= VDIT_ATTN_SAGE_GRANULARITY_COUNT ||
       (unsigned)config->sage.pv >= VDIT_ATTN_SAGE_PV_COUNT || (unsigned)config->sage.split >= VDIT_ATTN_SAGE_SPLIT_COUNT))
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "attention: invalid sage options (granularity %d, pv %d, split %d)",
                      (int)config->sage.granularity, (int)config->sage.pv, (int)config->sage.split);
  if (config->softmax_scale < 0 || !isfinite(config->softmax_scale))
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "attention: softmax scale must be finite and >= 0 (0 = 1/sqrt(D))");
  if (config->key_lengths)
    for (int64_t b = 0; b < qs[0]; b++)
      if (config->key_lengths[b] < 0 || config->key_lengths[b] > ks[2])
        return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "attention: key length %lld of batch %lld outside 0..%lld",
                          (long long)config->key_lengths[b], (long long)b, (long long)ks[2]);
  vdit_attn_plan *plan = calloc(1, sizeof *plan);
  if (!plan) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "attention: no memory for a plan");
  plan->problem.shape = (vdit_attn_shape){qs[0], qs[1], qs[2], ks[2], qs[3]};
  plan->problem.scale = config->softmax_scale > 0 ? config->softmax_scale : 1.0f / sqrtf((float)qs[3]);
  plan->problem.config = *config;
  plan->dtype = q->dtype;
  plan->device = q->device;
  if (config->key_lengths) {
    plan->key_lengths = malloc((size_t)qs[0] * sizeof *plan->key_lengths);
    if (!plan->key_lengths) {
      free(plan);
      return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "attention: no memory for key lengths");
    }
    memcpy(plan->key_lengths, config->key_lengths, (size_t)qs[0] * sizeof *plan->key_lengths);
  }
  plan->problem.config.key_lengths = plan->key_lengths;
  plan->problem.extras = config->extras;
  if (plan->device.type == VDIT_DEVICE_CUDA) {
    vdit_status status = vdit_attn_cuda_resources_init(&plan->cuda, &plan->problem, plan->dtype, plan->device);
    if (status != VDIT_OK) {
      free(plan->key_lengths);
      free(plan);
      return status;
    }
  }
  vdit_status status = sparse_plan_init(plan, config);
  if (status != VDIT_OK) {
    vdit_attn_plan_free(plan);
    return status;
  }
  *plan_out = plan;
  return VDIT_OK;
}

void vdit_attn_plan_free(vdit_attn_plan *plan) {
  if (!plan) return;
  vdit_attn_block_map_free(&plan->owned_map);
  vdit_attn_block_map_free(&plan->map_t);
  vdit_device_free(plan->device, plan->predict_workspace);
  free(plan->per_head);
  if (plan->cluster) vdit_attn_cluster_state_free(plan->cluster);
  free(plan->cluster);
  vdit_attn_sla_weights_free(&plan->sla);
  vdit_host_free(plan->sla_os);
  if (plan->device.type == VDIT_DEVICE_CUDA) vdit_attn_sla_cuda_free(&plan->sla_cuda);
  if (plan->device.type == VDIT_DEVICE_CUDA) vdit_attn_cuda_resources_free(&plan->cuda);
  free(plan->key_lengths);
  free(plan);
}

vdit_attn_shape vdit_attn_plan_shape(const vdit_attn_plan *plan) { return plan->problem.shape; }

float vdit_attn_plan_scale(const vdit_attn_plan *plan) { return plan->problem.scale; }

// A tensor that must match the plan: same dtype (or `dtype` when given), device and
// (B, H, S, D) with S = seq.
static vdit_status check_like(const vdit_attn_plan *plan, const vdit_tensor *t, const char *name, int64_t seq) {
  int64_t s[4];
  VDIT_TRY(tensor_bhsd(t, name, plan->problem.config.layout, s));
  const vdit_attn_shape p = plan->problem.shape;
  if (t->dtype != plan->dtype || t->device.type != plan->device.type || t->device.index != plan->device.index)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "attention: %s must be %s on the device of Q", name,
                      vdit_dtype_name(plan->dtype));
  if (s[0] != p.batch || s[1] != p.heads || s[2] != seq || s[3] != p.head_dim)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "attention: %s has (B, H, S, D) = (%lld, %lld, %lld, %lld), want (%lld, %lld, %lld, %lld)",
                      name, (long long)s[0], (long long)s[1], (long long)s[2], (long long)s[3], (long long)p.batch,
                      (long long)p.heads, (long long)seq, (long long)p.head_dim);
  return VDIT_OK;
}

static vdit_status check_lse(const vdit_attn_plan *plan, const vdit_tensor *lse) {
  const vdit_attn_shape p = plan->problem.shape;
  if (!lse || lse->dtype != VDIT_DTYPE_F32 || lse->ndim != 3 || lse->shape[0] != p.batch || lse->shape[1] != p.heads ||
      lse->shape[2] != p.seq_q || lse->device.type != plan->device.type)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "attention: LSE must be f32 (B, H, Sq) = (%lld, %lld, %lld) on Q's device",
                      (long long)p.batch, (long long)p.heads, (long long)p.seq_q);
  return VDIT_OK;
}

// The contiguous fp32 (B, H, S, D) array `data` viewed with the dims of `t` in `layout`, so
// that vdit_tensor_convert moves values between the two (any dtype, any strides).
static vdit_status bhsd_view(const vdit_tensor *t, vdit_attn_layout layout, float *data, vdit_tensor *view) {
  int64_t s4[4];
  VDIT_TRY(tensor_bhsd(t, "tensor", layout, s4));
  const int64_t seq_stride = s4[3], head_stride = s4[2] * s4[3], batch_stride = s4[1] * s4[2] * s4[3];
  int64_t stride[4] = {batch_stride, head_stride, seq_stride, 1};
  if (layout == VDIT_ATTN_LAYOUT_BSHD) {
    stride[1] = seq_stride;
    stride[2] = head_stride;
  }
  return vdit_tensor_view(view, data, VDIT_DTYPE_F32, VDIT_CPU, 4, t->shape, stride);
}

vdit_status vdit_attn_tensor_to_bhsd(const vdit_tensor *t, vdit_attn_layout layout, float *out) {
  vdit_tensor view;
  VDIT_TRY(bhsd_view(t, layout, out, &view));
  return vdit_tensor_convert(&view, t);
}

vdit_status vdit_attn_tensor_from_bhsd(const float *in, vdit_attn_layout layout, vdit_tensor *t) {
  vdit_tensor view;
  VDIT_TRY(bhsd_view(t, layout, (float *)in, &view)); // read only
  return vdit_tensor_convert(t, &view);
}

// The contiguous fp32 (B, H, Sq) array `array` viewed with the LSE tensor's shape.
static vdit_status lse_view(const vdit_tensor *lse, float *array, vdit_tensor *view) {
  return vdit_tensor_view(view, array, VDIT_DTYPE_F32, VDIT_CPU, 3, lse->shape, NULL);
}

// fp32 work arrays for the CPU path, one allocation.
typedef struct cpu_arrays {
  float *block;
  float *q, *k, *v, *o, *lse, *d_o, *dq, *dk, *dv;
} cpu_arrays;

static vdit_status cpu_arrays_alloc(const vdit_attn_shape *p, int backward, cpu_arrays *a) {
  memset(a, 0, sizeof *a);
  size_t nq = (size_t)(p->batch * p->heads * p->seq_q * p->head_dim);
  size_t nk = (size_t)(p->batch * p->heads * p->seq_k * p->head_dim);
  size_t nl = (size_t)(p->batch * p->heads * p->seq_q);
  size_t total = 2 * nq + 2 * nk + nl + (backward ? 2 * nq + 2 * nk : 0) + 16;
  a->block = vdit_host_alloc(total * sizeof(float), VDIT_HOST_ALIGNMENT);
  if (!a->block) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "attention: no host memory for %zu fp32 work values", total);
  a->q = a->block;
  a->o = a->q + nq;
  a->k = a->o + nq;
  a->v = a->k + nk;
  a->lse = a->v + nk;
  if (backward) {
    a->d_o = a->lse + nl;
    a->dq = a->d_o + nq;
    a->dk = a->dq + nq;
    a->dv = a->dk + nk;
  }
  return VDIT_OK;
}

// The problem a kernel runs: the plan's, with the block map (and its transpose) in use.
static vdit_attn_problem plan_problem(const vdit_attn_plan *plan) {
  vdit_attn_problem problem = plan->problem;
  const vdit_attn_method m = plan->problem.config.method;
  problem.map = (m == VDIT_ATTN_BLOCK || m == VDIT_ATTN_SPARGE || m == VDIT_ATTN_SLA) ? plan->map : NULL;
  problem.map_t = plan->map_t_ready ? &plan->map_t : NULL;
  return problem;
}

// Plain sage, or sparge's map on the sage path (sparge(sage=1)).
static int uses_sage(const vdit_attn_plan *plan) {
  const vdit_attn_config *c = &plan->problem.config;
  return c->method == VDIT_ATTN_SAGE || (c->method == VDIT_ATTN_SPARGE && c->sparge.sage);
}

static int predicts(const vdit_attn_plan *plan) {
  const vdit_attn_method m = plan->problem.config.method;
  return (m == VDIT_ATTN_SPARGE || m == VDIT_ATTN_SLA) && !(plan->hold_mask && plan->map_ready);
}

static vdit_status mask_changed(vdit_attn_plan *plan) {
  plan->map_ready = 1;
  plan->map_t_ready = 0;
  return VDIT_OK;
}

vdit_status vdit_attn_predict(vdit_attn_plan *plan, const vdit_tensor *q, const vdit_tensor *k) {
  const vdit_attn_shape p = plan->problem.shape;
  const int sla = plan->problem.config.method == VDIT_ATTN_SLA;
  if (plan->problem.config.method != VDIT_ATTN_SPARGE && !sla)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "attention: predict needs method sparge or sla");
  VDIT_TRY(check_like(plan, q, "Q", p.seq_q));
  VDIT_TRY(check_like(plan, k, "K", p.seq_k));
  if (sla) sla_weights_refresh(plan);
  if (sla && plan->device.type == VDIT_DEVICE_CUDA) {
    VDIT_TRY(vdit_attn_sla_cuda_route(&plan->sla_cuda, &plan->problem, &plan->sla, q, k, &plan->owned_map));
    return mask_changed(plan);
  }
  if (plan->device.type == VDIT_DEVICE_CUDA) {
    VDIT_TRY(vdit_attn_cuda_sparge_predict(&plan->problem, &plan->problem.config.sparge, q, k, &plan->owned_map,
                                           &plan->predict_workspace, &plan->predict_workspace_bytes));
    return mask_changed(plan);
  }
  const size_t nq = (size_t)(p.batch * p.heads * p.seq_q * p.head_dim), nk = (size_t)(p.batch * p.heads * p.seq_k * p.head_dim);
  float *work = vdit_host_alloc((nq + nk + 1) * sizeof(float), VDIT_HOST_ALIGNMENT);
  if (!work) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "attention: no host memory for the mask prediction");
  vdit_status status = vdit_attn_tensor_to_bhsd(q, plan->problem.config.layout, work);
  if (status == VDIT_OK) status = vdit_attn_tensor_to_bhsd(k, plan->problem.config.layout, work + nq);
  if (status == VDIT_OK)
    status = sla ? vdit_attn_sla_route_cpu(&plan->problem, &plan->sla, work, work + nq, &plan->owned_map)
                 : vdit_attn_sparge_predict_cpu(&plan->problem, &plan->problem.config.sparge, work, work + nq, &plan->owned_map);
  vdit_host_free(work);
  return status == VDIT_OK ? mask_changed(plan) : status;
}

// sage.split = auto asked of the CUDA kernels, which have no channel split yet: K comes to the
// host and every (b, h) runs the split rule (attn_sage.h); a head that would split is an error
// (the CPU device runs the split), a K where nothing splits runs the kernels, which then compute
// exactly what split=auto specifies.
static vdit_status sage_cuda_split_check(const vdit_attn_plan *plan, const vdit_tensor *k) {
  if (plan->problem.config.sage.split != VDIT_ATTN_SAGE_SPLIT_AUTO) return VDIT_OK;
  const vdit_attn_shape p = plan->problem.shape;
  const size_t nk = (size_t)(p.batch * p.heads * p.seq_k * p.head_dim);
  float *work = vdit_host_alloc((nk + 1) * sizeof(float), VDIT_HOST_ALIGNMENT);
  if (!work) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "sage attention: no host memory for the channel split's check");
  vdit_status status = vdit_attn_tensor_to_bhsd(k, plan->problem.config.layout, work);
  for (int64_t bh = 0; status == VDIT_OK && bh < p.batch * p.heads; bh++) {
    int channels[SAGE_SPLIT_MAX];
    const int count = sage_split_head(&plan->problem, bh / p.heads, work + (size_t)(bh * p.seq_k * p.head_dim), channels);
    if (count > 0)
      status = VDIT_ERROR(VDIT_ERROR_UNSUPPORTED,
                          "sage attention on CUDA: split=auto would split %d K channel(s) of head %lld (batch %lld; "
                          "first channel %d), and the CUDA kernels have no channel split yet: run it on the CPU or use split=off",
                          count, (long long)(bh % p.heads), (long long)(bh / p.heads), channels[0]);
  }
  vdit_host_free(work);
  return status;
}

vdit_status vdit_attn_forward(vdit_attn_plan *plan, const vdit_tensor *q, const vdit_tensor *k,
                              const vdit_tensor *v, vdit_tensor *o, vdit_tensor *lse) {
  const vdit_attn_shape p = plan->problem.shape;
  VDIT_TRY(check_like(plan, q, "Q", p.seq_q));
  VDIT_TRY(check_like(plan, k, "K", p.seq_k));
  VDIT_TRY(check_like(plan, v, "V", p.seq_k));
  VDIT_TRY(check_like(plan, o, "O", p.seq_q));
  VDIT_TRY(check_lse(plan, lse));
  const int sage = uses_sage(plan);
  const int sla = plan->problem.config.method == VDIT_ATTN_SLA;
  if (plan->problem.config.method == VDIT_ATTN_BLOCK) plan->map_t_ready = 0; // the caller may have changed it
  if (sla) sla_weights_refresh(plan);
  if (plan->device.type == VDIT_DEVICE_CUDA) {
    if (sage) { // plain sage, or sparge's map on the sage kernels
      if (predicts(plan)) VDIT_TRY(vdit_attn_predict(plan, q, k));
      VDIT_TRY(sage_cuda_split_check(plan, k));
      vdit_attn_problem problem = plan_problem(plan);
      return vdit_attn_cuda_sage_forward(&problem, &plan->cuda, q, k, v, o, lse);
    }
    if (plan->cluster) {
      VDIT_TRY(vdit_attn_cluster_route_cuda(&plan->problem, plan->cluster, q, k, v));
      return vdit_attn_cluster_forward_cuda(&plan->problem, &plan->cuda, plan->cluster, q, k, v, o, lse);
    }
    if (sla) { // the linear branch's preparation first: it needs neither the parameters nor the map
      VDIT_TRY(vdit_attn_sla_cuda_prepare(&plan->sla_cuda, &plan->problem, &plan->sla, k, v));
      if (predicts(plan)) VDIT_TRY(vdit_attn_predict(plan, q, k));
      vdit_attn_problem problem = plan_problem(plan);
      VDIT_TRY(vdit_attn_sla_cuda_forward(&plan->sla_cuda, &problem, &plan->cuda, &plan->sla, q, k, v, o, lse));
      plan->sla_forward_done = !plan->problem.config.sla.forward_only; // forward_only keeps nothing for a backward
      return VDIT_OK;
    }
    if (predicts(plan)) VDIT_TRY(vdit_attn_predict(plan, q, k));
    vdit_attn_problem problem = plan_problem(plan);
    return vdit_attn_cuda_dense_forward(&problem, &plan->cuda, q, k, v, o, lse);
  }
  cpu_arrays a;
  VDIT_TRY(cpu_arrays_alloc(&p, 0, &a));
  const vdit_attn_layout layout = plan->problem.config.layout;
  vdit_status status = vdit_attn_tensor_to_bhsd(q, layout, a.q);
  if (status == VDIT_OK) status = vdit_attn_tensor_to_bhsd(k, layout, a.k);
  if (status == VDIT_OK) status = vdit_attn_tensor_to_bhsd(v, layout, a.v);
  if (status == VDIT_OK && predicts(plan)) {
    status = sla ? vdit_attn_sla_route_cpu(&plan->problem, &plan->sla, a.q, a.k, &plan->owned_map)
                 : vdit_attn_sparge_predict_cpu(&plan->problem, &plan->problem.config.sparge, a.q, a.k, &plan->owned_map);
    if (status == VDIT_OK) status = mask_changed(plan);
  }
  vdit_attn_problem problem = plan_problem(plan);
  if (status == VDIT_OK && sla) {
    status = vdit_attn_sla_forward_cpu(&problem, &plan->sla, a.q, a.k, a.v, a.o, a.lse, plan->sla_os, plan->sla_ol);
    plan->sla_forward_done = status == VDIT_OK && !plan->problem.config.sla.forward_only;
  } else if (status == VDIT_OK)
    status = sage            ? vdit_attn_cpu_sage_forward(&problem, plan->dtype, a.q, a.k, a.v, a.o, a.lse)
             : plan->cluster ? vdit_attn_cluster_forward_cpu(&plan->problem, plan->cluster, a.q, a.k, a.v, a.o, a.lse)
                             : vdit_attn_cpu_dense_forward(&problem, a.q, a.k, a.v, a.o, a.lse);
  if (status == VDIT_OK) status = vdit_attn_tensor_from_bhsd(a.o, layout, o);
  vdit_tensor lse_array;
  if (status == VDIT_OK) status = lse_view(lse, a.lse, &lse_array);
  if (status == VDIT_OK) status = vdit_tensor_copy(lse, &lse_array);
  vdit_host_free(a.block);
  return status;
}

vdit_status vdit_attn_backward(vdit_attn_plan *plan, const vdit_tensor *q, const vdit_tensor *k,
                               const vdit_tensor *v, const vdit_tensor *o, const vdit_tensor *lse,
                               const vdit_tensor *d_o, vdit_tensor *dq, vdit_tensor *dk, vdit_tensor *dv) {
  const vdit_attn_shape p = plan->problem.shape;
  VDIT_TRY(check_like(plan, q, "Q", p.seq_q));
  VDIT_TRY(check_like(plan, k, "K", p.seq_k));
  VDIT_TRY(check_like(plan, v, "V", p.seq_k));
  VDIT_TRY(check_like(plan, o, "O", p.seq_q));
  VDIT_TRY(check_like(plan, d_o, "dO", p.seq_q));
  VDIT_TRY(check_like(plan, dq, "dQ", p.seq_q));
  VDIT_TRY(check_like(plan, dk, "dK", p.seq_k));
  VDIT_TRY(check_like(plan, dv, "dV", p.seq_k));
  VDIT_TRY(check_lse(plan, lse));
  const vdit_attn_method method = plan->problem.config.method;
  const int sage = uses_sage(plan), sla = method == VDIT_ATTN_SLA;
  if (sla && !plan->sla_forward_done)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, plan->problem.config.sla.forward_only
                                                       ? "attention backward: this sla plan is forward_only (its forward keeps no sparse branch)"
                                                       : "attention backward: sla needs this plan's forward first (it keeps both branches)");
  if (method == VDIT_ATTN_BLOCK || method == VDIT_ATTN_SPARGE || sla) {
    // the mask is the forward's, held constant; the backward walks its transpose
    if (!plan->map_ready) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "attention backward: run the forward first (it makes the mask)");
    if (!plan->map_t_ready) {
      vdit_attn_block_map_free(&plan->map_t);
      VDIT_TRY(vdit_attn_block_map_transpose(&plan->map_t, plan->map));
      plan->map_t_ready = 1;
    }
  }
  vdit_attn_problem problem = plan_problem(plan);
  if (plan->device.type == VDIT_DEVICE_CUDA && plan->cluster)
    return vdit_attn_cluster_backward_cuda(&plan->problem, &plan->cuda, plan->cluster, q, k, v, o, lse, d_o, dq, dk, dv);
  const vdit_attn_sla_config *sc = &plan->problem.config.sla;
  if (sla && plan->device.type == VDIT_DEVICE_CUDA)
    return vdit_attn_sla_cuda_backward(&plan->sla_cuda, &problem, &plan->cuda, &plan->sla, q, k, v, lse, d_o, dq, dk, dv,
                                       sc->grad_wq, sc->grad_wk, sc->grad_alpha_logit);
  if (plan->device.type == VDIT_DEVICE_CUDA && sage) VDIT_TRY(sage_cuda_split_check(plan, k));
  if (plan->device.type == VDIT_DEVICE_CUDA)
    return sage ? vdit_attn_cuda_sage_backward(&problem, &plan->cuda, q, k, v, o, lse, d_o, dq, dk, dv)
                : vdit_attn_cuda_dense_backward(&problem, &plan->cuda, q, k, v, o, lse, d_o, dq, dk, dv);
  cpu_arrays a;
  VDIT_TRY(cpu_arrays_alloc(&p, 1, &a));
  const vdit_attn_layout layout = plan->problem.config.layout;
  vdit_status status = vdit_attn_tensor_to_bhsd(q, layout, a.q);
  if (status == VDIT_OK) status = vdit_attn_tensor_to_bhsd(k, layout, a.k);
  if (status == VDIT_OK) status = vdit_attn_tensor_to_bhsd(v, layout, a.v);
  if (status == VDIT_OK) status = vdit_attn_tensor_to_bhsd(o, layout, a.o);
  if (status == VDIT_OK) status = vdit_attn_tensor_to_bhsd(d_o, layout, a.d_o);
  vdit_tensor lse_array;
  if (status == VDIT_OK) status = lse_view(lse, a.lse, &lse_array);
  if (status == VDIT_OK) status = vdit_tensor_copy(&lse_array, lse);
  if (status == VDIT_OK && sla)
    status = vdit_attn_sla_backward_cpu(&problem, &plan->sla, a.q, a.k, a.v, plan->sla_os, plan->sla_ol, a.lse, a.d_o, a.dq,
                                        a.dk, a.dv, sc->grad_wq, sc->grad_wk, sc->grad_alpha_logit);
  else if (status == VDIT_OK)
    status = sage ? vdit_attn_cpu_sage_backward(&problem, plan->dtype, a.q, a.k, a.v, a.o, a.lse, a.d_o, a.dq, a.dk, a.dv)
             : plan->cluster
                 ? vdit_attn_cluster_backward_cpu(&plan->problem, plan->cluster, a.q, a.k, a.v, a.o, a.lse, a.d_o, a.dq, a.dk, a.dv)
                 : vdit_attn_cpu_dense_backward(&problem, a.q, a.k, a.v, a.o, a.lse, a.d_o, a.dq, a.dk, a.dv);
  if (status == VDIT_OK) status = vdit_attn_tensor_from_bhsd(a.dq, layout, dq);
  if (status == VDIT_OK) status = vdit_attn_tensor_from_bhsd(a.dk, layout, dk);
  if (status == VDIT_OK) status = vdit_attn_tensor_from_bhsd(a.dv, layout, dv);
  vdit_host_free(a.block);
  return status;
}
