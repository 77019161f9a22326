// `vdit attn check` as a library function (see attn_check.h).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attn/attn_check.h"
#include "attn/attn_kernels.h"
#include "attn/cluster.h"
#include "attn/sla_check.h"
#include "base/gpu_timer.h"

vdit_attn_tolerance vdit_attn_check_tolerance(vdit_attn_method method, vdit_dtype dtype, int backward) {
  // Sage (INT8 scores, FP8 P V, INT8 backward): the acceptance bounds, whatever the
  // dtype: forward cosine >= 0.999 and rel L1 <= 0.02; gradients cosine >= 0.99 (rel L1 and
  // the max error follow from a 0.99 cosine: about 0.14 relative RMS).
  if (method == VDIT_ATTN_SAGE)
    return backward ? (vdit_attn_tolerance){0.15, 0.99, 0.5} : (vdit_attn_tolerance){0.02, 0.999, 0.1};
  // Relative to the reference's magnitude; rounding the output alone costs ~2^-9 relative
  // in bf16, 2^-12 in fp16. Gradients pass through more roundings.
  switch (dtype) {
    case VDIT_DTYPE_F32: return (vdit_attn_tolerance){1e-4, 0.99999, 1e-3};
    case VDIT_DTYPE_F16: return backward ? (vdit_attn_tolerance){4e-3, 0.9999, 2e-2} : (vdit_attn_tolerance){2e-3, 0.9999, 1e-2};
    default: return backward ? (vdit_attn_tolerance){2e-2, 0.999, 8e-2} : (vdit_attn_tolerance){1e-2, 0.999, 5e-2};
  }
}

// The method whose tolerance applies: sage's for sparge and sla on the sage path.
static vdit_attn_method tolerance_method(const vdit_attn_config *config) {
  const int sage = (config->method == VDIT_ATTN_SPARGE && config->sparge.sage) || (config->method == VDIT_ATTN_SLA && config->sla.sage);
  return sage ? VDIT_ATTN_SAGE : config->method;
}

static int within(const vdit_error_stats *e, const vdit_attn_tolerance *t) {
  if (e->nonfinite) return 0;
  // An exactly zero reference (dQ and dK of a single key: the softmax is constant) has no
  // magnitude to be relative to; then the result must be within max_err in absolute terms
  // (inputs are O(1)), and the cosine is meaningless.
  if (e->reference_max == 0) return e->max_err <= t->max_err;
  return e->rel_l1 <= t->rel_l1 && e->cos >= t->min_cos && e->max_err <= t->max_err;
}

// Round every value to `dtype` and back, so the reference sees exactly the kernel's inputs.
static vdit_status round_to_dtype(vdit_dtype dtype, float *x, size_t n) {
  if (dtype == VDIT_DTYPE_F32 || n == 0) return VDIT_OK;
  size_t bytes;
  VDIT_TRY(vdit_dtype_storage_bytes(dtype, n, &bytes));
  void *tmp = vdit_host_alloc(bytes, VDIT_HOST_ALIGNMENT);
  if (!tmp) return vdit_error_set(VDIT_ERROR_OUT_OF_MEMORY, __FILE__, __LINE__, "check: no memory");
  vdit_status status = vdit_convert_from_float(dtype, n, x, tmp);
  if (status == VDIT_OK) status = vdit_convert_to_float(dtype, n, tmp, x);
  vdit_host_free(tmp);
  return status;
}

static void layout_shape(vdit_attn_layout layout, const vdit_attn_shape *s, int64_t seq, int64_t out[4]) {
  out[0] = s->batch;
  out[1] = layout == VDIT_ATTN_LAYOUT_BSHD ? seq : s->heads;
  out[2] = layout == VDIT_ATTN_LAYOUT_BSHD ? s->heads : seq;
  out[3] = s->head_dim;
}

// A device tensor holding `values` ((B, H, S, D) fp32) in the spec's dtype and layout.
static vdit_status upload(const vdit_attn_check_spec *spec, const float *values, int64_t seq, vdit_tensor *out) {
  int64_t shape[4];
  layout_shape(spec->config.layout, &spec->shape, seq, shape);
  vdit_tensor host;
  VDIT_TRY(vdit_tensor_alloc(&host, spec->dtype, VDIT_CPU, 4, shape));
  vdit_status status = vdit_attn_tensor_from_bhsd(values, spec->config.layout, &host);
  if (status == VDIT_OK) status = vdit_tensor_alloc(out, spec->dtype, spec->device, 4, shape);
  if (status == VDIT_OK) status = vdit_tensor_copy(out, &host);
  vdit_tensor_free(&host);
  return status;
}

static vdit_status alloc_poisoned(const vdit_attn_check_spec *spec, int64_t seq, vdit_tensor *out) {
  int64_t shape[4];
  layout_shape(spec->config.layout, &spec->shape, seq, shape);
  VDIT_TRY(vdit_tensor_alloc(out, spec->dtype, spec->device, 4, shape));
  return vdit_tensor_poison(out);
}

static vdit_status download(const vdit_attn_check_spec *spec, const vdit_tensor *t, float *values) {
  vdit_tensor host;
  VDIT_TRY(vdit_tensor_alloc(&host, t->dtype, VDIT_CPU, t->ndim, t->shape));
  vdit_status status = vdit_tensor_copy(&host, t);
  if (status == VDIT_OK) {
    if (t->ndim == 4) status = vdit_attn_tensor_to_bhsd(&host, spec->config.layout, values);
    else memcpy(values, host.data, (size_t)vdit_tensor_numel(&host) * sizeof(float));
  }
  vdit_tensor_free(&host);
  return status;
}

// LSE: rows without keys must be -inf exactly; the rest compare like any tensor.
static vdit_error_stats lse_stats(size_t n, const float *lse, const double *reference) {
  float *finite = malloc((n + 1) * sizeof *finite);
  double *finite_ref = malloc((n + 1) * sizeof *finite_ref);
  size_t m = 0;
  int64_t wrong_empty = 0;
  for (size_t i = 0; finite && finite_ref && i < n; i++) {
    if (isinf(reference[i])) {
      wrong_empty += !(isinf(lse[i]) && lse[i] < 0);
      continue;
    }
    finite[m] = lse[i];
    finite_ref[m++] = reference[i];
  }
  vdit_error_stats stats = vdit_error_stats_f32(m, finite, finite_ref);
  if (!finite || !finite_ref) stats.nonfinite = 1;
  stats.nonfinite += wrong_empty;
  stats.count = (int64_t)n;
  if (stats.nonfinite) stats.rel_l1 = stats.rel_rms = stats.cos = stats.max_err = NAN;
  free(finite);
  free(finite_ref);
  return stats;
}

typedef struct check_buffers {
  float *q, *k, *v, *d_o, *o, *lse, *dq, *dk, *dv;
  double *rq, *rk, *rv, *rdo, *ro, *rlse, *rdq, *rdk, *rdv;
} check_buffers;

static void buffers_free(check_buffers *b) {
  void *all[] = {b->q, b->k, b->v, b->d_o, b->o, b->lse, b->dq, b->dk, b->dv,
                 b->rq, b->rk, b->rv, b->rdo, b->ro, b->rlse, b->rdq, b->rdk, b->rdv};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free(all[i]);
}

static vdit_status buffers_alloc(const vdit_attn_shape *s, check_buffers *b) {
  memset(b, 0, sizeof *b);
  size_t nq = (size_t)(s->batch * s->heads * s->seq_q * s->head_dim) + 1;
  size_t nk = (size_t)(s->batch * s->heads * s->seq_k * s->head_dim) + 1;
  size_t nl = (size_t)(s->batch * s->heads * s->seq_q) + 1;
  float **f[] = {&b->q, &b->d_o, &b->o, &b->dq, &b->k, &b->v, &b->dk, &b->dv, &b->lse};
  size_t fn[] = {nq, nq, nq, nq, nk, nk, nk, nk, nl};
  double **d[] = {&b->rq, &b->rdo, &b->ro, &b->rdq, &b->rk, &b->rv, &b->rdk, &b->rdv, &b->rlse};
  for (int i = 0; i < 9; i++) {
    *f[i] = malloc(fn[i] * sizeof(float));
    *d[i] = malloc(fn[i] * sizeof(double));
    if (!*f[i] || !*d[i]) {
      buffers_free(b);
      return vdit_error_set(VDIT_ERROR_OUT_OF_MEMORY, __FILE__, __LINE__, "check: no host memory for the reference");
    }
  }
  return VDIT_OK;
}

// The spec's inputs: given arrays, or the synthetic kind.
static vdit_status fill_inputs(const vdit_attn_check_spec *spec, float *q, float *k, float *v) {
  const vdit_attn_shape s = spec->shape;
  if (!spec->given_q) return vdit_attn_inputs_fill(spec->inputs, spec->seed, &s, q, k, v);
  if (!spec->given_k || !spec->given_v)
    return vdit_error_set(VDIT_ERROR_INVALID_ARGUMENT, __FILE__, __LINE__, "check: given Q without K or V");
  memcpy(q, spec->given_q, (size_t)(s.batch * s.heads * s.seq_q * s.head_dim) * sizeof *q);
  memcpy(k, spec->given_k, (size_t)(s.batch * s.heads * s.seq_k * s.head_dim) * sizeof *k);
  memcpy(v, spec->given_v, (size_t)(s.batch * s.heads * s.seq_k * s.head_dim) * sizeof *v);
  return VDIT_OK;
}

static void widen(const float *x, double *out, size_t n) {
  for (size_t i = 0; i < n; i++) out[i] = x[i];
}

// A random host map for method block: each block kept with probability `density`, query
// blocks i with i % 4 == 3 empty (their rows must give O = 0 and LSE = -inf).
static vdit_status random_map(const vdit_attn_check_spec *spec, vdit_attn_block_map *map) {
  const vdit_attn_shape s = spec->shape;
  int32_t bq, bk;
  vdit_attn_block_sizes(spec->device, s.head_dim, &bq, &bk);
  VDIT_TRY(vdit_attn_block_map_alloc(map, VDIT_CPU, s.batch, s.heads, s.seq_q, s.seq_k, bq, bk));
  const int64_t rows = s.batch * s.heads * map->q_blocks;
  float *u = malloc((size_t)(rows * map->k_blocks + 1) * sizeof *u);
  if (!u) {
    vdit_attn_block_map_free(map);
    return vdit_error_set(VDIT_ERROR_OUT_OF_MEMORY, __FILE__, __LINE__, "check: no memory for a block map");
  }
  vdit_rng_uniform(spec->seed, 1ull << 44, (size_t)(rows * map->k_blocks), u);
  int32_t n = 0;
  for (int64_t r = 0; r < rows; r++) {
    map->row_offsets[r] = n;
    if (r % map->q_blocks % 4 == 3) continue;
    for (int32_t j = 0; j < map->k_blocks; j++)
      if (u[r * map->k_blocks + j] < spec->block_density) map->col_index[n++] = j;
  }
  map->row_offsets[rows] = n;
  free(u);
  return VDIT_OK;
}

// Host copy of a (host or device) map.
static vdit_status host_map(const vdit_attn_block_map *src, vdit_attn_block_map *dst) {
  VDIT_TRY(vdit_attn_block_map_alloc(dst, VDIT_CPU, src->batch, src->heads, src->seq_q, src->seq_k, src->block_q,
                                     src->block_k));
  vdit_status status = vdit_attn_block_map_copy(dst, src);
  if (status != VDIT_OK) vdit_attn_block_map_free(dst);
  return status;
}

// Rows whose block lists differ.
static int64_t rows_differing(const vdit_attn_block_map *a, const vdit_attn_block_map *b) {
  const int64_t rows = a->batch * a->heads * a->q_blocks;
  int64_t differing = 0;
  for (int64_t r = 0; r < rows; r++) {
    const int32_t na = a->row_offsets[r + 1] - a->row_offsets[r], nb = b->row_offsets[r + 1] - b->row_offsets[r];
    int same = na == nb;
    for (int32_t e = 0; same && e < na; e++) same = a->col_index[a->row_offsets[r] + e] == b->col_index[b->row_offsets[r] + e];
    differing += !same;
  }
  return differing;
}

vdit_status vdit_attn_check_run(const vdit_attn_check_spec *spec, vdit_attn_check_result *result) {
  memset(result, 0, sizeof *result);
  const vdit_attn_shape s = spec->shape;
  if (s.batch < 1 || s.heads < 1 || s.seq_q < 1 || s.seq_k < 1 || s.head_dim < 1)
    return vdit_error_set(VDIT_ERROR_INVALID_ARGUMENT, __FILE__, __LINE__,
                          "check: batch, heads, seq, seq-k and dim must be >= 1");
  const size_t nq = (size_t)(s.batch * s.heads * s.seq_q * s.head_dim);
  const size_t nk = (size_t)(s.batch * s.heads * s.seq_k * s.head_dim);
  const size_t nl = (size_t)(s.batch * s.heads * s.seq_q);
  check_buffers b;
  VDIT_TRY(buffers_alloc(&s, &b));
  vdit_tensor q = {0}, k = {0}, v = {0}, d_o = {0}, o = {0}, lse = {0}, dq = {0}, dk = {0}, dv = {0};
  vdit_attn_plan *plan = NULL;
  vdit_attn_config config = spec->config;
  const int sla = config.method == VDIT_ATTN_SLA;
  const int sparse = config.method == VDIT_ATTN_BLOCK || config.method == VDIT_ATTN_SPARGE || sla;
  const int clustered = config.method == VDIT_ATTN_EAR || config.method == VDIT_ATTN_SVG;
  vdit_attn_block_map given = {0}, given_device = {0}, used = {0}, cpu_mask = {0};
  vdit_attn_cluster_routing routing;
  memset(&routing, 0, sizeof routing);
  // SLA2: resolved parameters, and the method's parameter gradients (float) and the reference's (double)
  vdit_attn_sla_weights sla_w = {0};
  float *sla_grads = NULL;
  double *sla_ref_grads = NULL;
  int64_t sla_np = 0;

  vdit_status status = fill_inputs(spec, b.q, b.k, b.v);
  if (status == VDIT_OK) vdit_rng_normal(spec->seed, 1ull << 43, nq, b.d_o);
  if (status == VDIT_OK) status = round_to_dtype(spec->dtype, b.q, nq);
  if (status == VDIT_OK) status = round_to_dtype(spec->dtype, b.k, nk);
  if (status == VDIT_OK) status = round_to_dtype(spec->dtype, b.v, nk);
  if (status == VDIT_OK) status = round_to_dtype(spec->dtype, b.d_o, nq);
  if (status == VDIT_OK) status = upload(spec, b.q, s.seq_q, &q);
  if (status == VDIT_OK) status = upload(spec, b.k, s.seq_k, &k);
  if (status == VDIT_OK) status = upload(spec, b.v, s.seq_k, &v);
  if (status == VDIT_OK) status = upload(spec, b.d_o, s.seq_q, &d_o);
  if (status == VDIT_OK) status = alloc_poisoned(spec, s.seq_q, &o);
  if (status == VDIT_OK) {
    int64_t lse_shape[3] = {s.batch, s.heads, s.seq_q};
    status = vdit_tensor_alloc(&lse, VDIT_DTYPE_F32, spec->device, 3, lse_shape);
    if (status == VDIT_OK) status = vdit_tensor_poison(&lse);
  }
  if (status == VDIT_OK && spec->backward) status = alloc_poisoned(spec, s.seq_q, &dq);
  if (status == VDIT_OK && spec->backward) status = alloc_poisoned(spec, s.seq_k, &dk);
  if (status == VDIT_OK && spec->backward) status = alloc_poisoned(spec, s.seq_k, &dv);
  vdit_attn_problem problem0 = {s, config.softmax_scale > 0 ? config.softmax_scale : 1.0f / sqrtf((float)s.head_dim),
                                config, NULL, NULL, {0}};
  if (status == VDIT_OK && config.method == VDIT_ATTN_SPARGE && spec->target_sparsity >= 0) {
    int32_t bq, bk;
    vdit_attn_block_sizes(spec->device, s.head_dim, &bq, &bk);
    status = vdit_attn_sparge_calibrate(&problem0, &config.sparge, b.q, b.k, bq, bk, spec->target_sparsity, NULL);
  }
  result->sparge_params = config.sparge.params;
  if (status == VDIT_OK && config.method == VDIT_ATTN_BLOCK) {
    status = random_map(spec, &given);
    if (status == VDIT_OK && spec->device.type != VDIT_DEVICE_CPU) {
      status = vdit_attn_block_map_alloc(&given_device, spec->device, s.batch, s.heads, s.seq_q, s.seq_k, given.block_q,
                                         given.block_k);
      if (status == VDIT_OK) status = vdit_attn_block_map_copy(&given_device, &given);
      config.block_map = &given_device;
    } else {
      config.block_map = &given;
    }
  }
  if (status == VDIT_OK && sla) {
    int32_t bq, bk;
    vdit_attn_block_sizes(spec->device, s.head_dim, &bq, &bk);
    status = vdit_attn_sla_weights_init(&sla_w, &config.sla, s.heads, s.head_dim, bq);
    sla_np = s.heads * s.head_dim * config.sla.router_dim;
    if (status == VDIT_OK) {
      sla_grads = malloc((size_t)(2 * sla_np + s.heads) * sizeof *sla_grads);
      sla_ref_grads = malloc((size_t)(2 * sla_np + s.heads) * sizeof *sla_ref_grads);
      if (!sla_grads || !sla_ref_grads)
        status = vdit_error_set(VDIT_ERROR_OUT_OF_MEMORY, __FILE__, __LINE__, "check: no memory for sla gradients");
    }
    if (status == VDIT_OK) {
      for (int64_t i = 0; i < 2 * sla_np + s.heads; i++) sla_grads[i] = NAN; // unwritten gradients fail
      config.sla.grad_wq = sla_grads;
      config.sla.grad_wk = sla_grads + sla_np;
      config.sla.grad_alpha_logit = sla_grads + 2 * sla_np;
    }
  }
  if (status == VDIT_OK) status = vdit_attn_plan_create(&plan, &config, &q, &k, &v);
  if (status == VDIT_OK) {
    double start = vdit_time_seconds();
    status = vdit_attn_forward(plan, &q, &k, &v, &o, &lse);
    result->forward_seconds = vdit_time_seconds() - start;
  }
  if (status == VDIT_OK && clustered) {
    status = vdit_attn_cluster_routing_get(vdit_attn_plan_cluster_state(plan), &routing);
    if (status == VDIT_OK) status = vdit_attn_plan_cluster_stats(plan, &result->cluster);
    result->sparsity = 1.0 - result->cluster.budget_used;
  }
  if (status == VDIT_OK && sparse) status = host_map(vdit_attn_plan_block_map(plan), &used);
  if (status == VDIT_OK && sparse) status = vdit_attn_block_map_count(&used, NULL, &result->sparsity);
  if (status == VDIT_OK && (config.method == VDIT_ATTN_SPARGE || sla) && spec->device.type != VDIT_DEVICE_CPU) {
    status = vdit_attn_block_map_alloc(&cpu_mask, VDIT_CPU, s.batch, s.heads, s.seq_q, s.seq_k, used.block_q, used.block_k);
    if (status == VDIT_OK)
      status = sla ? vdit_attn_sla_route_cpu(&problem0, &sla_w, b.q, b.k, &cpu_mask)
                   : vdit_attn_sparge_predict_cpu(&problem0, &config.sparge, b.q, b.k, &cpu_mask);
    if (status == VDIT_OK) {
      result->masks_compared = 1;
      result->mask_rows_differing = rows_differing(&used, &cpu_mask);
      result->masks_identical = result->mask_rows_differing == 0;
    }
  }
  if (status == VDIT_OK && spec->backward) {
    double start = vdit_time_seconds();
    status = vdit_attn_backward(plan, &q, &k, &v, &o, &lse, &d_o, &dq, &dk, &dv);
    result->backward_seconds = vdit_time_seconds() - start;
  }
  if (status == VDIT_OK) status = download(spec, &o, b.o);
  if (status == VDIT_OK) status = download(spec, &lse, b.lse);
  if (status == VDIT_OK && spec->backward) status = download(spec, &dq, b.dq);
  if (status == VDIT_OK && spec->backward) status = download(spec, &dk, b.dk);
  if (status == VDIT_OK && spec->backward) status = download(spec, &dv, b.dv);

  if (status == VDIT_OK) {
    vdit_attn_problem problem = {s, plan ? vdit_attn_plan_scale(plan) : 0.0f, config, NULL, NULL, {0}};
    widen(b.q, b.rq, nq);
    widen(b.k, b.rk, nk);
    widen(b.v, b.rv, nk);
    widen(b.d_o, b.rdo, nq);
    if (sparse || clustered) { // quality: O against full dense attention, then the reference on the method's map
      status = vdit_attn_reference_forward(&problem, b.rq, b.rk, b.rv, b.ro, b.rlse);
      result->o_dense = vdit_error_stats_f32(nq, b.o, b.ro);
      problem.map = sparse ? &used : NULL;
    }
    if (status == VDIT_OK && clustered) {
      status = vdit_attn_cluster_reference_forward(&problem, &routing, 1, b.rq, b.rk, b.rv, b.ro, b.rlse);
      result->o_centroid = vdit_error_stats_f32(nq, b.o, b.ro);
      if (status == VDIT_OK) status = vdit_attn_cluster_reference_forward(&problem, &routing, 0, b.rq, b.rk, b.rv, b.ro, b.rlse);
      if (status == VDIT_OK && spec->backward)
        status = vdit_attn_cluster_reference_backward(&problem, &routing, b.rq, b.rk, b.rv, b.ro, b.rlse, b.rdo, b.rdq,
                                                      b.rdk, b.rdv);
    } else if (status == VDIT_OK && sla) {
      status = vdit_attn_sla_check_reference(&problem, &sla_w, b.rq, b.rk, b.rv, b.rdo, spec->backward, b.ro, b.rlse, b.rdq,
                                             b.rdk, b.rdv, sla_ref_grads, sla_ref_grads + sla_np,
                                             sla_ref_grads + 2 * sla_np, &result->fd_checked, &result->fd_max_rel);
    } else {
      if (status == VDIT_OK) status = vdit_attn_reference_forward(&problem, b.rq, b.rk, b.rv, b.ro, b.rlse);
      if (status == VDIT_OK && spec->backward)
        status = vdit_attn_reference_backward(&problem, b.rq, b.rk, b.rv, b.rdo, b.rdq, b.rdk, b.rdv);
    }
    if (status == VDIT_OK && clustered && spec->device.type != VDIT_DEVICE_CPU) {
      // the same check on the CPU: both must reach the same quality against dense
      vdit_attn_check_spec cpu = *spec;
      cpu.device = VDIT_CPU;
      cpu.backward = 0;
      vdit_attn_check_result cpu_result;
      status = vdit_attn_check_run(&cpu, &cpu_result);
      result->cpu_compared = 1;
      result->cpu_o_dense = cpu_result.o_dense;
      const double tolerance = vdit_attn_check_tolerance(tolerance_method(&config), spec->dtype, 0).rel_l1;
      result->cpu_agrees = fabs(result->o_dense.rel_l1 - cpu_result.o_dense.rel_l1) <= 0.1 * cpu_result.o_dense.rel_l1 + tolerance;
    }
  }
  if (status == VDIT_OK) {
    result->forward_tolerance = vdit_attn_check_tolerance(tolerance_method(&spec->config), spec->dtype, 0);
    result->backward_tolerance = vdit_attn_check_tolerance(tolerance_method(&spec->config), spec->dtype, 1);
    result->o = vdit_error_stats_f32(nq, b.o, b.ro);
    result->lse = lse_stats(nl, b.lse, b.rlse);
    result->passed = within(&result->o, &result->forward_tolerance) && result->lse.nonfinite == 0 &&
                     result->lse.max_err <= result->forward_tolerance.max_err &&
                     (!result->masks_compared || result->masks_identical) &&
                     (!result->cpu_compared || result->cpu_agrees);
    // the whole budget must give dense attention
    if (clustered && config.cluster.budget >= 1.0f)
      result->passed = result->passed && within(&result->o_dense, &result->forward_tolerance);
    if (spec->backward) {
      result->dq = vdit_error_stats_f32(nq, b.dq, b.rdq);
      result->dk = vdit_error_stats_f32(nk, b.dk, b.rdk);
      result->dv = vdit_error_stats_f32(nk, b.dv, b.rdv);
      result->passed = result->passed && within(&result->dq, &result->backward_tolerance) &&
                       within(&result->dk, &result->backward_tolerance) &&
                       within(&result->dv, &result->backward_tolerance);
      if (sla) {
        result->d_wq = vdit_error_stats_f32((size_t)sla_np, sla_grads, sla_ref_grads);
        result->d_wk = vdit_error_stats_f32((size_t)sla_np, sla_grads + sla_np, sla_ref_grads + sla_np);
        result->d_alpha = vdit_error_stats_f32((size_t)s.heads, sla_grads + 2 * sla_np, sla_ref_grads + 2 * sla_np);
        result->passed = result->passed && within(&result->d_wq, &result->backward_tolerance) &&
                         within(&result->d_wk, &result->backward_tolerance) &&
                         within(&result->d_alpha, &result->backward_tolerance) && result->fd_max_rel <= 1e-4;
      }
    }
  }
  vdit_attn_plan_free(plan);
  vdit_attn_sla_weights_free(&sla_w);
  free(sla_grads);
  free(sla_ref_grads);
  vdit_attn_block_map_free(&given);
  vdit_attn_block_map_free(&given_device);
  vdit_attn_block_map_free(&used);
  vdit_attn_block_map_free(&cpu_mask);
  vdit_attn_cluster_routing_free(&routing);
  vdit_tensor *all[] = {&q, &k, &v, &d_o, &o, &lse, &dq, &dk, &dv};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) vdit_tensor_free(all[i]);
  buffers_free(&b);
  return status;
}

// O of `plan`'s last forward (in `o`) against dense attention on the same inputs and device:
// relative L1 and PSNR (peak = max |dense|).
static vdit_status compare_with_dense(const vdit_attn_check_spec *spec, const vdit_tensor *q, const vdit_tensor *k,
                                      const vdit_tensor *v, const vdit_tensor *o, vdit_attn_timing *timing) {
  const vdit_attn_shape s = spec->shape;
  const size_t nq = (size_t)(s.batch * s.heads * s.seq_q * s.head_dim);
  vdit_attn_config config;
  memset(&config, 0, sizeof config);
  config.method = VDIT_ATTN_DENSE;
  config.layout = spec->config.layout;
  config.softmax_scale = spec->config.softmax_scale;
  vdit_tensor dense = {0}, lse = {0};
  vdit_attn_plan *plan = NULL;
  float *a = malloc((2 * nq + 1) * sizeof *a);
  vdit_status status = a ? VDIT_OK : vdit_error_set(VDIT_ERROR_OUT_OF_MEMORY, __FILE__, __LINE__, "bench: no memory");
  if (status == VDIT_OK) status = vdit_tensor_alloc(&dense, o->dtype, o->device, o->ndim, o->shape);
  if (status == VDIT_OK) {
    int64_t lse_shape[3] = {s.batch, s.heads, s.seq_q};
    status = vdit_tensor_alloc(&lse, VDIT_DTYPE_F32, spec->device, 3, lse_shape);
  }
  if (status == VDIT_OK) status = vdit_attn_plan_create(&plan, &config, q, k, v);
  if (status == VDIT_OK) status = vdit_attn_forward(plan, q, k, v, &dense, &lse);
  if (status == VDIT_OK) status = download(spec, o, a);
  if (status == VDIT_OK) status = download(spec, &dense, a + nq);
  if (status == VDIT_OK) {
    double err = 0, ref = 0, sq = 0, peak = 0;
    for (size_t i = 0; i < nq; i++) {
      const double d = (double)a[i] - a[nq + i];
      err += fabs(d), sq += d * d, ref += fabs((double)a[nq + i]);
      if (fabs((double)a[nq + i]) > peak) peak = fabs((double)a[nq + i]);
    }
    timing->o_rel_l1 = ref > 0 ? err / ref : NAN;
    timing->o_psnr = sq > 0 ? 10.0 * log10(peak * peak / (sq / (double)nq)) : INFINITY;
  }
  vdit_attn_plan_free(plan);
  vdit_tensor_free(&dense);
  vdit_tensor_free(&lse);
  free(a);
  return status;
}

static int compare_doubles(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

// SLA2 on CUDA: `repeat` more forwards with CUDA events between the launches; the median of
// each stage (samples: room for 3 * repeat values).
_Static_assert(VDIT_ATTN_SLA_STAGES == 7, "vdit_attn_timing.sla_stage_ms has 7 stages");
static vdit_status sla_stage_times(vdit_attn_plan *plan, const vdit_tensor *q, const vdit_tensor *k, const vdit_tensor *v,
                                   vdit_tensor *o, vdit_tensor *lse, int repeat, double *samples, vdit_attn_timing *timing) {
  VDIT_TRY(vdit_attn_plan_sla_profile(plan, 1));
  vdit_status status = VDIT_OK;
  for (int stage = 0; stage < VDIT_ATTN_SLA_STAGES && status == VDIT_OK; stage++) timing->sla_stage_ms[stage] = 0.0;
  double *per = malloc((size_t)repeat * VDIT_ATTN_SLA_STAGES * sizeof *per);
  if (!per) status = VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "bench: no host memory");
  for (int run = 0; run < repeat && status == VDIT_OK; run++) {
    double ms[VDIT_ATTN_SLA_STAGES];
    status = vdit_attn_forward(plan, q, k, v, o, lse);
    if (status == VDIT_OK) status = vdit_attn_plan_sla_stages(plan, ms);
    for (int stage = 0; stage < VDIT_ATTN_SLA_STAGES && status == VDIT_OK; stage++) per[stage * repeat + run] = ms[stage];
  }
  for (int stage = 0; stage < VDIT_ATTN_SLA_STAGES && status == VDIT_OK; stage++) {
    for (int run = 0; run < repeat; run++) samples[run] = per[stage * repeat + run];
    qsort(samples, (size_t)repeat, sizeof *samples, compare_doubles);
    timing->sla_stage_ms[stage] = repeat % 2 ? samples[repeat / 2] : 0.5 * (samples[repeat / 2 - 1] + samples[repeat / 2]);
  }
  timing->sla_stages = status == VDIT_OK;
  free(per);
  vdit_status off = vdit_attn_plan_sla_profile(plan, 0);
  return status == VDIT_OK ? off : status;
}

vdit_status vdit_attn_bench_run(const vdit_attn_check_spec *spec, int warmup, int repeat, vdit_attn_timing *timing) {
  memset(timing, 0, sizeof *timing);
  if (repeat < 1 || warmup < 0)
    return vdit_error_set(VDIT_ERROR_INVALID_ARGUMENT, __FILE__, __LINE__, "bench: repeat must be >= 1, warmup >= 0");
  const vdit_attn_shape s = spec->shape;
  const size_t nq = (size_t)(s.batch * s.heads * s.seq_q * s.head_dim);
  const size_t nk = (size_t)(s.batch * s.heads * s.seq_k * s.head_dim);
  float *host = malloc((2 * nq + 2 * nk + 1) * sizeof *host);
  double *samples = malloc((size_t)repeat * 3 * sizeof *samples);
  if (!host || !samples) {
    free(host);
    free(samples);
    return vdit_error_set(VDIT_ERROR_OUT_OF_MEMORY, __FILE__, __LINE__, "bench: no host memory for the inputs");
  }
  float *hq = host, *hdo = host + nq, *hk = host + 2 * nq, *hv = hk + nk;
  vdit_tensor q = {0}, k = {0}, v = {0}, d_o = {0}, o = {0}, lse = {0}, dq = {0}, dk = {0}, dv = {0};
  vdit_attn_plan *plan = NULL;
  vdit_status status = fill_inputs(spec, hq, hk, hv);
  if (status == VDIT_OK) vdit_rng_normal(spec->seed, 1ull << 43, nq, hdo);
  if (status == VDIT_OK) status = upload(spec, hq, s.seq_q, &q);
  if (status == VDIT_OK) status = upload(spec, hk, s.seq_k, &k);
  if (status == VDIT_OK) status = upload(spec, hv, s.seq_k, &v);
  if (status == VDIT_OK) status = upload(spec, hdo, s.seq_q, &d_o);
  if (status == VDIT_OK) status = alloc_poisoned(spec, s.seq_q, &o);
  if (status == VDIT_OK) {
    int64_t lse_shape[3] = {s.batch, s.heads, s.seq_q};
    status = vdit_tensor_alloc(&lse, VDIT_DTYPE_F32, spec->device, 3, lse_shape);
  }
  if (status == VDIT_OK && spec->backward) status = alloc_poisoned(spec, s.seq_q, &dq);
  if (status == VDIT_OK && spec->backward) status = alloc_poisoned(spec, s.seq_k, &dk);
  if (status == VDIT_OK && spec->backward) status = alloc_poisoned(spec, s.seq_k, &dv);
  vdit_attn_config config = spec->config;
  const int sparge = config.method == VDIT_ATTN_SPARGE || config.method == VDIT_ATTN_SLA; // predicted maps
  if (config.method == VDIT_ATTN_BLOCK && status == VDIT_OK)
    status = vdit_error_set(VDIT_ERROR_UNSUPPORTED, __FILE__, __LINE__, "bench: method block needs a map (use check)");
  if (status == VDIT_OK && config.method == VDIT_ATTN_SPARGE && spec->target_sparsity >= 0) {
    vdit_attn_problem problem0 = {s, config.softmax_scale > 0 ? config.softmax_scale : 1.0f / sqrtf((float)s.head_dim),
                                  config, NULL, NULL, {0}};
    int32_t bq, bk;
    vdit_attn_block_sizes(spec->device, s.head_dim, &bq, &bk);
    status = vdit_attn_sparge_calibrate(&problem0, &config.sparge, hq, hk, bq, bk, spec->target_sparsity, NULL);
  }
  // SLA2: the backward computes every parameter gradient (as training does)
  float *sla_grads = NULL;
  if (status == VDIT_OK && config.method == VDIT_ATTN_SLA) {
    const int64_t np = s.heads * s.head_dim * config.sla.router_dim;
    sla_grads = malloc((size_t)(2 * np + s.heads + 1) * sizeof *sla_grads);
    if (!sla_grads) status = vdit_error_set(VDIT_ERROR_OUT_OF_MEMORY, __FILE__, __LINE__, "bench: no memory");
    config.sla.grad_wq = sla_grads && !spec->sla_freeze_router ? sla_grads : NULL;
    config.sla.grad_wk = sla_grads && !spec->sla_freeze_router ? sla_grads + np : NULL;
    config.sla.grad_alpha_logit = sla_grads ? sla_grads + 2 * np : NULL;
  }
  if (status == VDIT_OK) status = vdit_attn_plan_create(&plan, &config, &q, &k, &v);
  if (status == VDIT_OK && sparge) { // predict once; sparge then times the executor on the held mask,
    status = vdit_attn_predict(plan, &q, &k); // SLA2's forward routes every time (router included)
    if (status == VDIT_OK) status = vdit_attn_block_map_count(vdit_attn_plan_block_map(plan), NULL, &timing->sparsity);
    if (config.method == VDIT_ATTN_SPARGE) vdit_attn_plan_hold_mask(plan, 1);
  }
  // On a GPU: CUDA events around each run, and L2 flushed first when everything the backward
  // touches would fit in twice its size (else repetitions would time a warm cache).
  const int on_gpu = spec->device.type == VDIT_DEVICE_CUDA;
  vdit_gpu_timer timer;
  memset(&timer, 0, sizeof timer);
  if (status == VDIT_OK && on_gpu) {
    vdit_gpu_info info;
    status = vdit_gpu_query(spec->device.index, &info);
    const double footprint = (double)(4 * nq + 4 * nk) * (double)vdit_dtype_bits(spec->dtype) / 8.0;
    timing->flushed_l2 = status == VDIT_OK && footprint <= 2.0 * (double)info.l2_cache_bytes;
    if (status == VDIT_OK) status = vdit_gpu_timer_init(&timer, spec->device.index, timing->flushed_l2);
    timing->device_events = status == VDIT_OK;
  }
  for (int pass = 0; pass < 3 && status == VDIT_OK; pass++) {
    if ((pass == 1 && !spec->backward) || (pass == 2 && !sparge)) continue;
    for (int run = 0; run < warmup + repeat && status == VDIT_OK; run++) {
      double start = 0.0, seconds = 0.0;
      status = vdit_device_synchronize(spec->device);
      if (status != VDIT_OK) break;
      if (on_gpu) status = vdit_gpu_timer_start(&timer);
      else start = vdit_time_seconds();
      if (status == VDIT_OK)
        status = pass == 0   ? vdit_attn_forward(plan, &q, &k, &v, &o, &lse)
                 : pass == 1 ? vdit_attn_backward(plan, &q, &k, &v, &o, &lse, &d_o, &dq, &dk, &dv)
                             : vdit_attn_predict(plan, &q, &k);
      if (status != VDIT_OK) break;
      if (on_gpu) status = vdit_gpu_timer_stop(&timer, &seconds);
      else seconds = vdit_time_seconds() - start;
      if (run >= warmup) samples[pass * repeat + run - warmup] = seconds;
    }
    if (status == VDIT_OK) {
      qsort(samples + pass * repeat, (size_t)repeat, sizeof *samples, compare_doubles);
      const double *sorted = samples + pass * repeat;
      double median = repeat % 2 ? sorted[repeat / 2] : 0.5 * (sorted[repeat / 2 - 1] + sorted[repeat / 2]);
      if (pass == 0) timing->forward_seconds = median;
      else if (pass == 1) timing->backward_seconds = median;
      else timing->mask_seconds = median;
    }
  }
  if (on_gpu) vdit_gpu_timer_free(&timer);
  if (status == VDIT_OK && on_gpu && config.method == VDIT_ATTN_SLA) status = sla_stage_times(plan, &q, &k, &v, &o, &lse, repeat, samples, timing);
  if (status == VDIT_OK && (config.method == VDIT_ATTN_EAR || config.method == VDIT_ATTN_SVG)) {
    status = vdit_attn_plan_cluster_stats(plan, &timing->cluster);
    timing->sparsity = 1.0 - timing->cluster.budget_used;
  }
  if (status == VDIT_OK && spec->compare_dense) {
    // the last forward's O (a backward pass leaves it alone); sparge: on the held mask
    if (spec->backward) status = vdit_attn_forward(plan, &q, &k, &v, &o, &lse);
    if (status == VDIT_OK) status = compare_with_dense(spec, &q, &k, &v, &o, timing);
  }
  vdit_attn_plan_free(plan);
  free(sla_grads);
  vdit_tensor *all[] = {&q, &k, &v, &d_o, &o, &lse, &dq, &dk, &dv};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) vdit_tensor_free(all[i]);
  free(host);
  free(samples);
  return status;
}
