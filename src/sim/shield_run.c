// Retention failures injected into a real model run (vdit/shield.h): the tamper hook hands
// each block's Q, K, V, O to vdit_sim_inject_f32_masked with the lifetime the recorded trace
// gives it. Every pass stores a tensor at the same cells with the same lifetime, so its weak
// cells (vdit_sim_weak_mask) are drawn once, on the first pass, and kept.
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vdit/num.h"
#include "vdit/shield.h"

typedef struct injector {
  const vdit_shield_trace *trace;
  const vdit_sim_retention *retention;
  const vdit_sim_policy *policy[VDIT_SHIELD_KIND_COUNT]; // per kind (K and V may differ)
  const vdit_sim_energy_model *energy;
  vdit_shield_result *result;
  double abs_error[VDIT_SHIELD_KIND_COUNT], abs_sum[VDIT_SHIELD_KIND_COUNT];
  float *clean;       // scratch: the bf16-rounded tensor before injection
  size_t clean_size;
  uint16_t **masks;   // per trace tensor: its weak cells, NULL until first seen
} injector;

static int kind_of(const char *tail) {
  if (strcmp(tail, "attn1.q") == 0) return VDIT_SHIELD_Q;
  if (strcmp(tail, "attn1.k") == 0) return VDIT_SHIELD_K;
  if (strcmp(tail, "attn1.v") == 0) return VDIT_SHIELD_V;
  if (strcmp(tail, "attn1.o") == 0) return VDIT_SHIELD_O;
  return -1;
}

static vdit_status inject(void *user, const char *name, vdit_tensor *tensor) {
  injector *in = user;
  char *end = NULL;
  long long n = strncmp(name, "blocks.", 7) == 0 ? strtoll(name + 7, &end, 10) : -1;
  int kind = n >= 0 && end && *end == '.' ? kind_of(end + 1) : -1;
  if (kind < 0 || n >= in->trace->layers) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "shield: unexpected tensor %s", name);
  const vdit_sim_tensor *t = &in->trace->tensors[n * VDIT_SHIELD_KIND_COUNT + kind];
  const size_t words = (size_t)vdit_tensor_numel(tensor);
  if (tensor->dtype != VDIT_DTYPE_F32 || !vdit_tensor_is_contiguous(tensor))
    return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "shield: %s must be a contiguous f32 tensor", name);
  if (words != t->word_count)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT,
                      "shield: %s has %zu elements but the recorded pass had %zu (the workload's shapes changed)", name,
                      words, t->word_count);
  if (words > in->clean_size) {
    float *grown = realloc(in->clean, words * sizeof *grown);
    if (!grown) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "shield: no memory for %zu words", words);
    in->clean = grown;
    in->clean_size = words;
  }
  float *x = tensor->data;
  for (size_t i = 0; i < words; i++) in->clean[i] = vdit_bf16_to_float(vdit_bf16_from_float(x[i]));
  vdit_sim_report part;
  memset(&part, 0, sizeof part);
  uint16_t **mask = &in->masks[n * VDIT_SHIELD_KIND_COUNT + kind];
  if (!*mask) {
    *mask = malloc((words ? words : 1) * sizeof **mask);
    if (!*mask) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "shield: no memory for the weak cells of %s", name);
    VDIT_TRY(vdit_sim_weak_mask(in->retention, in->policy[kind], t, *mask));
  }
  VDIT_TRY(vdit_sim_inject_f32_masked(in->retention, in->policy[kind], in->energy, t, *mask, in->clean, x, &part));
  vdit_sim_report_add(&in->result->report, &part);
  vdit_sim_report_add(&in->result->per_kind[kind], &part);
  for (size_t i = 0; i < words; i++) {
    in->abs_error[kind] += fabs((double)x[i] - (double)in->clean[i]);
    in->abs_sum[kind] += fabs((double)in->clean[i]);
  }
  if (n == 0 && kind == VDIT_SHIELD_Q) in->result->passes++;
  return VDIT_OK;
}

static vdit_status check_pair(const vdit_tensor *reference, const vdit_tensor *x) {
  if (!reference || !x || reference->dtype != VDIT_DTYPE_F32 || x->dtype != VDIT_DTYPE_F32 ||
      !vdit_tensor_same_shape(reference, x) || !vdit_tensor_is_contiguous(reference) || !vdit_tensor_is_contiguous(x))
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "shield: output and reference must be contiguous f32 of one shape");
  return VDIT_OK;
}

double vdit_shield_rel_l1(const vdit_tensor *reference, const vdit_tensor *x) {
  if (check_pair(reference, x) != VDIT_OK) return NAN;
  const float *r = reference->data, *y = x->data;
  double error = 0, sum = 0;
  for (int64_t i = 0; i < vdit_tensor_numel(x); i++) {
    error += fabs((double)y[i] - (double)r[i]);
    sum += fabs((double)r[i]);
  }
  return sum > 0 ? error / sum : (error > 0 ? INFINITY : 0);
}

double vdit_shield_psnr_db(const vdit_tensor *reference, const vdit_tensor *x) {
  if (check_pair(reference, x) != VDIT_OK) return NAN;
  const float *r = reference->data, *y = x->data;
  const int64_t n = vdit_tensor_numel(x);
  if (n == 0) return NAN;
  double lo = INFINITY, hi = -INFINITY, squared = 0;
  for (int64_t i = 0; i < n; i++) {
    lo = fmin(lo, r[i]);
    hi = fmax(hi, r[i]);
    double d = (double)y[i] - (double)r[i];
    squared += d * d;
  }
  if (squared == 0) return INFINITY;
  if (!isfinite(squared)) return -INFINITY;
  double peak = hi - lo;
  return 10 * log10(peak * peak / (squared / (double)n));
}

vdit_status vdit_shield_run(const vdit_shield_trace *trace, const vdit_sim_retention *retention,
                            const vdit_sim_policy *policy, const vdit_sim_energy_model *energy,
                            vdit_shield_workload workload, void *user, const vdit_tensor *reference,
                            vdit_tensor *output, vdit_shield_result *result) {
  if (!policy) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "shield: NULL argument");
  const vdit_sim_policy *policies[VDIT_SHIELD_KIND_COUNT] = {policy, policy, policy, policy};
  return vdit_shield_run_kinds(trace, retention, policies, energy, workload, user, reference, output, result);
}

vdit_status vdit_shield_run_kinds(const vdit_shield_trace *trace, const vdit_sim_retention *retention,
                                  const vdit_sim_policy *const policies[VDIT_SHIELD_KIND_COUNT],
                                  const vdit_sim_energy_model *energy, vdit_shield_workload workload, void *user,
                                  const vdit_tensor *reference, vdit_tensor *output, vdit_shield_result *result) {
  if (!trace || !trace->tensors || !retention || !policies || !workload || !output || !result)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "shield: NULL argument");
  memset(result, 0, sizeof *result);
  VDIT_TRY(vdit_sim_retention_check(retention));
  for (int k = 0; k < VDIT_SHIELD_KIND_COUNT; k++) VDIT_TRY(vdit_sim_policy_check(policies[k]));
  VDIT_TRY(check_pair(reference, output));
  const size_t tensors = (size_t)trace->layers * VDIT_SHIELD_KIND_COUNT;
  injector in = {.trace = trace, .retention = retention, .energy = energy, .result = result};
  for (int k = 0; k < VDIT_SHIELD_KIND_COUNT; k++) in.policy[k] = policies[k];
  in.masks = calloc(tensors, sizeof *in.masks);
  if (!in.masks) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "shield: no memory for %zu tensors", tensors);
  vdit_model_run_options hooks = {.tamper = inject, .tamper_user = &in};
  vdit_status status = workload(user, &hooks, output);
  free(in.clean);
  for (size_t i = 0; i < tensors; i++) free(in.masks[i]);
  free(in.masks);
  if (status != VDIT_OK) return status;
  for (int k = 0; k < VDIT_SHIELD_KIND_COUNT; k++)
    result->tensor_rel_l1[k] = in.abs_sum[k] > 0 ? in.abs_error[k] / in.abs_sum[k] : 0;
  result->output_rel_l1 = vdit_shield_rel_l1(reference, output);
  result->output_psnr_db = vdit_shield_psnr_db(reference, output);
  const float *r = reference->data, *y = output->data;
  for (int64_t i = 0; i < vdit_tensor_numel(output); i++)
    result->output_max_abs_error = fmax(result->output_max_abs_error, fabs((double)y[i] - (double)r[i]));
  return VDIT_OK;
}
