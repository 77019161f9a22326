// SLA2's fitting check (sla_fit.h). Tensors are (B, H, S, D) in the BHSD layout on the spec's
// device; the loss, its gradient dO and Adam run on the host (the parameters are small).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attn/attn_kernels.h"
#include "attn/sla_exact.h"
#include "attn/sla_fit.h"
#include "attn/sla_router_fit.h"

typedef struct fit_data {
  vdit_tensor q, k, v, o, lse, d_o, dq, dk, dv;
  double *target; // dense O, (B, H, S, D)
  float *hq, *hk, *hv; // host fp32 Q, K, V (mass objective), or NULL
  double *mass;   // dense attention's block mass (B, H, nb, nb) (mass objective), or NULL
} fit_data;

static void fit_data_free(fit_data *d) {
  vdit_tensor *all[] = {&d->q, &d->k, &d->v, &d->o, &d->lse, &d->d_o, &d->dq, &d->dk, &d->dv};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) vdit_tensor_free(all[i]);
  free(d->target);
  free(d->hq);
  free(d->mass);
  memset(d, 0, sizeof *d);
}

// A (B, H, S, D) tensor of `dtype` on `device` holding host fp32 values (rounded to dtype).
static vdit_status upload(const vdit_attn_sla_fit_spec *spec, const float *values, vdit_tensor *out) {
  const vdit_attn_shape s = spec->shape;
  const int64_t shape[4] = {s.batch, s.heads, s.seq_q, s.head_dim};
  vdit_tensor host;
  VDIT_TRY(vdit_tensor_alloc(&host, spec->dtype, VDIT_CPU, 4, shape));
  vdit_status status = vdit_attn_tensor_from_bhsd(values, VDIT_ATTN_LAYOUT_BHSD, &host);
  if (status == VDIT_OK) status = vdit_tensor_alloc(out, spec->dtype, spec->device, 4, shape);
  if (status == VDIT_OK) status = vdit_tensor_copy(out, &host);
  vdit_tensor_free(&host);
  return status;
}

static vdit_status download(const vdit_tensor *t, float *values) {
  vdit_tensor host;
  VDIT_TRY(vdit_tensor_alloc(&host, t->dtype, VDIT_CPU, t->ndim, t->shape));
  vdit_status status = vdit_tensor_copy(&host, t);
  if (status == VDIT_OK) status = vdit_attn_tensor_to_bhsd(&host, VDIT_ATTN_LAYOUT_BHSD, values);
  vdit_tensor_free(&host);
  return status;
}

static vdit_status alloc_like(const vdit_attn_sla_fit_spec *spec, vdit_tensor *t) {
  const vdit_attn_shape s = spec->shape;
  const int64_t shape[4] = {s.batch, s.heads, s.seq_q, s.head_dim};
  return vdit_tensor_alloc(t, spec->dtype, spec->device, 4, shape);
}

// Inputs of `seed` (or the given ones), on the device, and dense attention's O on the host;
// with keep_host also host copies of Q, K, V (for the block mass and the oracle).
static vdit_status fit_data_init(const vdit_attn_sla_fit_spec *spec, uint64_t seed, uint64_t token_seed, const float *const given[3],
                                 int keep_host, float *host, fit_data *d) {
  memset(d, 0, sizeof *d);
  const vdit_attn_shape s = spec->shape;
  const size_t n = (size_t)(s.batch * s.heads * s.seq_q * s.head_dim);
  float *hq = host, *hk = hq + n, *hv = hk + n;
  vdit_status status = VDIT_OK;
  if (given) {
    memcpy(hq, given[0], n * sizeof *hq);
    memcpy(hk, given[1], n * sizeof *hk);
    memcpy(hv, given[2], n * sizeof *hv);
  } else {
    status = vdit_attn_inputs_fill_tokens(spec->inputs, seed, token_seed, &s, hq, hk, hv);
  }
  if (status == VDIT_OK && keep_host) {
    d->hq = malloc(3 * n * sizeof *d->hq);
    if (!d->hq) status = VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "sla fit: no memory for host Q, K");
    if (status == VDIT_OK) {
      d->hk = d->hq + n;
      d->hv = d->hk + n;
      memcpy(d->hq, hq, n * sizeof *hq);
      memcpy(d->hk, hk, n * sizeof *hk);
      memcpy(d->hv, hv, n * sizeof *hv);
    }
  }
  if (status == VDIT_OK) status = upload(spec, hq, &d->q);
  if (status == VDIT_OK) status = upload(spec, hk, &d->k);
  if (status == VDIT_OK) status = upload(spec, hv, &d->v);
  vdit_tensor *outs[] = {&d->o, &d->d_o, &d->dq, &d->dk, &d->dv};
  for (int i = 0; i < 5 && status == VDIT_OK; i++) status = alloc_like(spec, outs[i]);
  const int64_t lse_shape[3] = {s.batch, s.heads, s.seq_q};
  if (status == VDIT_OK) status = vdit_tensor_alloc(&d->lse, VDIT_DTYPE_F32, spec->device, 3, lse_shape);
  d->target = malloc((n + 1) * sizeof *d->target);
  if (!d->target && status == VDIT_OK) status = VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "sla fit: no memory");
  vdit_attn_config dense;
  memset(&dense, 0, sizeof dense);
  dense.layout = VDIT_ATTN_LAYOUT_BHSD;
  vdit_attn_plan *plan = NULL;
  if (status == VDIT_OK) status = vdit_attn_plan_create(&plan, &dense, &d->q, &d->k, &d->v);
  if (status == VDIT_OK) status = vdit_attn_forward(plan, &d->q, &d->k, &d->v, &d->o, &d->lse);
  vdit_attn_plan_free(plan);
  if (status == VDIT_OK) status = download(&d->o, hq); // hq reused: the inputs are on the device now
  for (size_t i = 0; status == VDIT_OK && i < n; i++) d->target[i] = hq[i];
  if (status != VDIT_OK) fit_data_free(d);
  return status;
}

// SLA2's O against the target: relative L1; with train, also the loss, dO and a backward.
static vdit_status evaluate(const vdit_attn_sla_fit_spec *spec, const vdit_attn_config *config, fit_data *d, float *host,
                            int train, double *rel_l1, double *loss, double *sparsity) {
  const vdit_attn_shape s = spec->shape;
  const size_t n = (size_t)(s.batch * s.heads * s.seq_q * s.head_dim);
  vdit_attn_plan *plan = NULL;
  vdit_status status = vdit_attn_plan_create(&plan, config, &d->q, &d->k, &d->v);
  if (status == VDIT_OK) status = vdit_attn_forward(plan, &d->q, &d->k, &d->v, &d->o, &d->lse);
  if (status == VDIT_OK && sparsity) status = vdit_attn_block_map_count(vdit_attn_plan_block_map(plan), NULL, sparsity);
  if (status == VDIT_OK) status = download(&d->o, host);
  if (status == VDIT_OK) {
    const vdit_error_stats e = vdit_error_stats_f32(n, host, d->target);
    *rel_l1 = e.rel_l1;
  }
  if (status == VDIT_OK && train) {
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
      const double e = host[i] - d->target[i];
      sum += e * e;
      host[i] = (float)(2.0 * e / (double)n);
    }
    *loss = sum / (double)n;
    vdit_tensor staged;
    status = upload(spec, host, &staged);
    if (status == VDIT_OK) {
      status = vdit_tensor_copy(&d->d_o, &staged);
      vdit_tensor_free(&staged);
    }
    if (status == VDIT_OK)
      status = vdit_attn_backward(plan, &d->q, &d->k, &d->v, &d->o, &d->lse, &d->d_o, &d->dq, &d->dk, &d->dv);
  }
  vdit_attn_plan_free(plan);
  return status;
}

// SLA2's O with alpha = 1 (O_s) and alpha ~ 0 (O_l) on d; then per head the alpha that
// minimises |O_l + alpha (O_s - O_l) - dense|^2 (clamped to [1e-3, 1 - 1e-3]), written as
// logits to config's alpha_logit. host holds 3 tensors.
static vdit_status fit_alpha(const vdit_attn_sla_fit_spec *spec, const vdit_attn_config *config, float *logits,
                             fit_data *d, float *host) {
  const vdit_attn_shape s = spec->shape;
  const size_t n = (size_t)(s.batch * s.heads * s.seq_q * s.head_dim), per = (size_t)(s.seq_q * s.head_dim);
  float *os = host, *ol = host + n;
  double rel = 0.0, loss = 0.0;
  vdit_status status = VDIT_OK;
  for (int pass = 0; pass < 2 && status == VDIT_OK; pass++) {
    for (int64_t h = 0; h < s.heads; h++) logits[h] = pass == 0 ? 40.0f : -40.0f; // sigmoid: 1 and 4e-18
    status = evaluate(spec, config, d, host + 2 * n, 0, &rel, &loss, NULL);
    if (status == VDIT_OK) memcpy(pass == 0 ? os : ol, host + 2 * n, n * sizeof *os);
  }
  for (int64_t h = 0; status == VDIT_OK && h < s.heads; h++) {
    double num = 0.0, den = 0.0;
    for (int64_t b = 0; b < s.batch; b++) {
      const size_t at = (size_t)(b * s.heads + h) * per;
      for (size_t i = at; i < at + per; i++) {
        const double diff = (double)os[i] - ol[i];
        num += diff * (d->target[i] - ol[i]);
        den += diff * diff;
      }
    }
    double a = den > 0.0 ? num / den : 0.5;
    a = a < 1e-3 ? 1e-3 : (a > 1.0 - 1e-3 ? 1.0 - 1e-3 : a);
    logits[h] = (float)log(a / (1.0 - a));
  }
  return status;
}

// The mass oracle (CPU): SLA2's forward on the map that keeps each row's Top-k blocks by dense
// attention's block mass (what the mass objective's router imitates), alpha per head in closed
// form; relative L1 of O against dense. fit holds host Q, K, V and the mass.
static vdit_status mass_oracle(const vdit_attn_sla_fit_spec *spec, const vdit_attn_config *config, int32_t block,
                               const fit_data *fit, double *rel_l1) {
  const vdit_attn_shape s = spec->shape;
  const int64_t nb = (s.seq_q + block - 1) / block, BH = s.batch * s.heads, per = s.seq_q * s.head_dim;
  const size_t n = (size_t)(BH * per);
  const int keep = sla_topk_count(config->sla.topk, (int)nb);
  vdit_attn_block_map map;
  vdit_attn_sla_weights w;
  memset(&w, 0, sizeof w);
  VDIT_TRY(vdit_attn_block_map_alloc(&map, VDIT_CPU, s.batch, s.heads, s.seq_q, s.seq_k, block, block));
  float *o = malloc((4 * n + (size_t)(BH * s.seq_q) + 1) * sizeof *o), *os = o + n, *ol = os + n, *best = ol + n, *lse = best + n;
  vdit_status status = o ? vdit_attn_sla_weights_init(&w, &config->sla, s.heads, s.head_dim, block)
                         : VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "sla fit: no memory for the oracle");
  for (int64_t row = 0; status == VDIT_OK && row < BH * nb; row++) { // Top-k by mass, ascending indices
    const double *m = fit->mass + row * nb;
    int32_t *out = map.col_index + row * keep;
    int count = 0;
    for (int64_t J = 0; J < nb; J++) {
      int rank = 0;
      for (int64_t J2 = 0; J2 < nb && rank < keep; J2++) rank += m[J2] > m[J] || (m[J2] == m[J] && J2 < J);
      if (rank < keep) out[count++] = (int32_t)J;
    }
    map.row_offsets[row] = (int32_t)(row * keep);
  }
  map.row_offsets[BH * nb] = (int32_t)(BH * nb * keep);
  vdit_attn_problem problem;
  memset(&problem, 0, sizeof problem);
  problem.shape = s;
  problem.scale = 1.0f / sqrtf((float)s.head_dim);
  problem.config = *config;
  problem.map = &map;
  if (status == VDIT_OK) status = vdit_attn_sla_forward_cpu(&problem, &w, fit->hq, fit->hk, fit->hv, o, lse, os, ol);
  for (int64_t h = 0; status == VDIT_OK && h < s.heads; h++) { // closed-form alpha, as fit_alpha
    double num = 0.0, den = 0.0;
    for (int64_t b = 0; b < s.batch; b++)
      for (int64_t i = (b * s.heads + h) * per; i < (b * s.heads + h + 1) * per; i++) {
        const double diff = (double)os[i] - ol[i];
        num += diff * (fit->target[i] - ol[i]);
        den += diff * diff;
      }
    double a = den > 0.0 ? num / den : 0.5;
    a = a < 1e-3 ? 1e-3 : (a > 1.0 - 1e-3 ? 1.0 - 1e-3 : a);
    for (int64_t b = 0; b < s.batch; b++)
      for (int64_t i = (b * s.heads + h) * per; i < (b * s.heads + h + 1) * per; i++)
        best[i] = (float)(a * os[i] + (1.0 - a) * ol[i]);
  }
  if (status == VDIT_OK) *rel_l1 = vdit_error_stats_f32(n, best, fit->target).rel_l1;
  vdit_attn_sla_weights_free(&w);
  vdit_attn_block_map_free(&map);
  free(o);
  return status;
}

vdit_status vdit_attn_sla_fit_run(const vdit_attn_sla_fit_spec *spec, vdit_attn_sla_fit_result *result) {
  float *losses = result->losses;
  memset(result, 0, sizeof *result);
  result->losses = losses;
  result->oracle = -1.0;
  const vdit_attn_shape s = spec->shape;
  if (s.seq_q != s.seq_k || s.batch < 1 || s.heads < 1 || s.seq_q < 1 || s.head_dim < 1 || spec->steps < 1 ||
      !(spec->learning_rate > 0) || !(spec->router_learning_rate >= 0) || !(spec->alpha_init >= 0 && spec->alpha_init < 1) ||
      !(spec->sparsity >= 0 && spec->sparsity < 1) || spec->eval_every < 0 ||
      (unsigned)spec->objective > VDIT_ATTN_SLA_FIT_OUTPUT)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT,
                      "sla fit: needs Sq = Sk, positive sizes, steps and rates, alpha_init and sparsity in [0, 1), "
                      "eval_every >= 0, a known objective");
  if (spec->init_identity && spec->router_dim > s.head_dim)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "sla fit: the identity router needs router_dim <= D");
  const int mass = spec->objective == VDIT_ATTN_SLA_FIT_MASS;
  const int every = spec->eval_every > 0 ? spec->eval_every : 10;
  const size_t n = (size_t)(s.batch * s.heads * s.seq_q * s.head_dim);
  const int64_t np = s.heads * s.head_dim * spec->router_dim, total = 2 * np + s.heads;
  // parameters, gradients, Adam moments, the best validated parameters; host staging for 3 tensors
  float *params = calloc((size_t)(5 * total), sizeof *params);
  float *host = malloc((3 * n + 1) * sizeof *host);
  fit_data fit, held, val;
  memset(&fit, 0, sizeof fit);
  memset(&held, 0, sizeof held);
  memset(&val, 0, sizeof val);
  if (!params || !host) {
    free(params), free(host);
    return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "sla fit: no memory");
  }
  float *grads = params + total, *m1 = grads + total, *m2 = m1 + total, *best = m2 + total;
  vdit_rng_normal(spec->seed, 1ull << 45, (size_t)(2 * np), params); // the untrained router; alpha logits 0
  for (int64_t i = 0; i < 2 * np; i++) params[i] /= sqrtf((float)s.head_dim);
  if (spec->init_identity) {
    memset(params, 0, (size_t)(2 * np) * sizeof *params);
    for (int64_t h = 0; h < s.heads; h++)
      for (int64_t r = 0; r < spec->router_dim; r++) {
        params[(h * s.head_dim + r) * spec->router_dim + r] = 1.0f;
        params[np + (h * s.head_dim + r) * spec->router_dim + r] = 1.0f;
      }
  }
  if (spec->alpha_init > 0.0f) // alpha logits: log(a / (1 - a))
    for (int64_t h = 0; h < s.heads; h++) params[2 * np + h] = logf(spec->alpha_init / (1.0f - spec->alpha_init));
  const float router_lr = spec->router_learning_rate > 0.0f ? spec->router_learning_rate : spec->learning_rate;
  vdit_attn_config config;
  memset(&config, 0, sizeof config);
  config.method = VDIT_ATTN_SLA;
  config.layout = VDIT_ATTN_LAYOUT_BHSD;
  config.sla.topk = (float)(1.0 - spec->sparsity);
  config.sla.router_dim = spec->router_dim;
  config.sla.block = spec->block;
  config.sla.feature = spec->feature;
  config.sla.router_wq = params;
  config.sla.router_wk = params + np;
  config.sla.alpha_logit = params + 2 * np;
  config.sla.grad_wq = grads;
  config.sla.grad_wk = grads + np;
  config.sla.grad_alpha_logit = grads + 2 * np;
  float *logits = params + 2 * np;
  const float *given[3] = {spec->given_q, spec->given_k, spec->given_v};
  const float *held_given[3] = {spec->held_q, spec->held_k, spec->held_v};
  const int synthetic = !spec->given_q, has_held = synthetic || spec->held_q;
  // synthetic held-out and validation sets: new tokens of the same heads (token seeds + 1, + 2),
  // or with held_new_heads new heads too (seeds + 1, + 2)
  const uint64_t seed = spec->seed, head1 = spec->held_new_heads ? seed + 1 : seed, head2 = spec->held_new_heads ? seed + 2 : seed;
  vdit_status status = fit_data_init(spec, seed, seed, synthetic ? NULL : given, mass, host, &fit);
  if (status == VDIT_OK && has_held)
    status = fit_data_init(spec, head1, seed + 1, synthetic ? NULL : held_given, 0, host, &held);
  if (status == VDIT_OK && synthetic) status = fit_data_init(spec, head2, seed + 2, NULL, 0, host, &val);
  int32_t block = 0; // SLA2's block (the plan's), for the block mass
  if (status == VDIT_OK && mass) {
    vdit_attn_plan *plan = NULL;
    status = vdit_attn_plan_create(&plan, &config, &fit.q, &fit.k, &fit.v); // the map exists after a forward
    if (status == VDIT_OK) status = vdit_attn_forward(plan, &fit.q, &fit.k, &fit.v, &fit.o, &fit.lse);
    const vdit_attn_block_map *map = status == VDIT_OK ? vdit_attn_plan_block_map(plan) : NULL;
    if (map) block = map->block_k;
    else if (status == VDIT_OK) status = VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "sla fit: the plan made no block map");
    vdit_attn_plan_free(plan);
    const int64_t nb = block > 0 ? (s.seq_q + block - 1) / block : 0;
    fit.mass = status == VDIT_OK ? malloc((size_t)(s.batch * s.heads * nb * nb) * sizeof *fit.mass) : NULL;
    if (status == VDIT_OK && !fit.mass) status = VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "sla fit: no memory for the block mass");
    if (status == VDIT_OK) status = vdit_attn_sla_block_mass(&s, block, fit.hq, fit.hk, fit.mass);
    if (status == VDIT_OK && spec->device.type == VDIT_DEVICE_CPU)
      status = mass_oracle(spec, &config, block, &fit, &result->oracle);
  }
  fit_data *validation = synthetic ? &val : &fit;
  result->held_untrained = result->held_trained = result->held_identity = result->alpha_only = result->held_alpha_only = -1.0;
  result->identity = -1.0;
  double loss = 0.0;
  if (status == VDIT_OK) status = evaluate(spec, &config, &fit, host, 0, &result->untrained, &loss, NULL);
  if (status == VDIT_OK && has_held) status = evaluate(spec, &config, &held, host, 0, &result->held_untrained, &loss, NULL);
  if (status == VDIT_OK && spec->router_dim <= s.head_dim) { // SLA's pooled-score router, untrained alpha
    vdit_attn_config identity = config;
    identity.sla.router_wq = identity.sla.router_wk = NULL;
    status = evaluate(spec, &identity, &fit, host, 0, &result->identity, &loss, NULL);
    if (status == VDIT_OK && has_held) status = evaluate(spec, &identity, &held, host, 0, &result->held_identity, &loss, NULL);
  }
  const float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;
  double best_err = INFINITY;
  for (int step = 0; step <= spec->steps && status == VDIT_OK; step++) {
    if (step % every == 0 || step == spec->steps) { // validate; keep the best parameters
      double err = 0.0;
      if (mass) status = fit_alpha(spec, &config, logits, &fit, host);
      if (status == VDIT_OK && mass && step == 0) {
        status = evaluate(spec, &config, &fit, host, 0, &result->alpha_only, &loss, NULL);
        if (status == VDIT_OK && has_held) status = evaluate(spec, &config, &held, host, 0, &result->held_alpha_only, &loss, NULL);
      }
      if (status == VDIT_OK) status = evaluate(spec, &config, validation, host, 0, &err, &loss, NULL);
      if (status != VDIT_OK) break;
      if (step == 0) result->validation_start = err;
      if (err < best_err) {
        best_err = err;
        result->best_step = step;
        memcpy(best, params, (size_t)total * sizeof *best);
      }
    }
    if (step == spec->steps) break;
    if (mass) {
      status = vdit_attn_sla_router_distill(&s, block, spec->router_dim, fit.hq, fit.hk, fit.mass, params, params + np,
                                            &loss, grads, grads + np);
      memset(grads + 2 * np, 0, (size_t)s.heads * sizeof *grads); // alpha: closed form at validation
    } else {
      double rel = 0.0;
      status = evaluate(spec, &config, &fit, host, 1, &rel, &loss, NULL);
    }
    if (status != VDIT_OK) break;
    if (result->losses) result->losses[step] = (float)loss;
    const float c1 = 1.0f - powf(beta1, (float)(step + 1)), c2 = 1.0f - powf(beta2, (float)(step + 1));
    for (int64_t i = 0; i < total; i++) {
      const float g = isfinite(grads[i]) ? grads[i] : 0.0f;
      m1[i] = beta1 * m1[i] + (1.0f - beta1) * g;
      m2[i] = beta2 * m2[i] + (1.0f - beta2) * g * g;
      const float lr = i < 2 * np ? router_lr : 5.0f * spec->learning_rate; // alpha logits move faster
      params[i] -= lr * (m1[i] / c1) / (sqrtf(m2[i] / c2) + eps);
    }
  }
  result->validation_best = best_err;
  if (status == VDIT_OK) memcpy(params, best, (size_t)total * sizeof *params);
  if (status == VDIT_OK) status = evaluate(spec, &config, &fit, host, 0, &result->trained, &loss, &result->sparsity);
  if (status == VDIT_OK && has_held) status = evaluate(spec, &config, &held, host, 0, &result->held_trained, &loss, NULL);
  if (status == VDIT_OK) {
    double a = 0.0;
    for (int64_t h = 0; h < s.heads; h++) a += 1.0 / (1.0 + exp(-(double)logits[h]));
    result->alpha_mean = a / (double)s.heads;
  }
  fit_data_free(&fit);
  fit_data_free(&held);
  fit_data_free(&val);
  free(params), free(host);
  return status;
}
