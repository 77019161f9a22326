// Lifetimes of a model's self-attention tensors from a recorded forward pass (vdit/shield.h):
// the observer's calls split the pass into ops, each op is timed (cost model or wall clock),
// and Q, K, V, O of every block get their write and last-read times.
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vdit/num.h"
#include "vdit/shield.h"

const char *vdit_shield_kind_name(vdit_shield_kind kind) {
  switch (kind) {
    case VDIT_SHIELD_Q: return "q";
    case VDIT_SHIELD_K: return "k";
    case VDIT_SHIELD_V: return "v";
    case VDIT_SHIELD_O: return "o";
    default: return "unknown";
  }
}

vdit_shield_timing vdit_shield_timing_default(void) {
  vdit_shield_timing t = {.clock = VDIT_SHIELD_CLOCK_COST_MODEL,
                          .tops = 8,
                          .bandwidth_gbs = 64,
                          .bytes_per_element = 2,
                          .time_scale = 1,
                          .kv_steps = 1};
  return t;
}

// What an op does, for the cost model.
typedef struct op_cost {
  double flops, bytes;
} op_cost;

// A Linear (M, K) x (K, N): 2 M K N FLOPs; reads the weight and the input, writes the output.
static op_cost linear(double m, double k, double n, double e) { return (op_cost){2 * m * k * n, e * (k * n + m * k + m * n)}; }
static op_cost add(op_cost a, op_cost b) { return (op_cost){a.flops + b.flops, a.bytes + b.bytes}; }

// The recorder's state.
typedef struct recorder {
  const vdit_model_config *config;
  vdit_shield_timing timing;
  double clock;       // target seconds since the pass began
  double last_wall;   // wall clock of the last event (measured clock)
  int done;           // the first pass ended ("output" seen)
  int64_t batch, tokens, text_tokens;
  double *written;    // layers x kinds: write times (-1 unseen)
  double *attn_end;   // layers: attention end (O written, Q last read)
  double *oproj_end;  // layers: output projection end (O last read)
  double step_s;
  int64_t ops;
  vdit_status status;
} recorder;

// The cost of the op that ends at observer event `name` (docs/shield.md, "Cost model").
static op_cost event_cost(const recorder *r, const char *name) {
  const vdit_model_config *c = r->config;
  const double e = r->timing.bytes_per_element, B = r->timing.per_sample ? 1.0 : (double)r->batch, L = (double)r->tokens, S = (double)r->text_tokens;
  const double D = (double)c->dim, F = (double)c->ffn_dim, BL = B * L, BS = B * S;
  const double P = (double)(c->patch[0] * c->patch[1] * c->patch[2]);
  const char *tail = name;
  if (strncmp(name, "blocks.", 7) == 0) {
    tail = strchr(name + 7, '.');
    tail = tail ? tail + 1 : "";
    if (strcmp(tail, "attn1.q") == 0) // LayerNorm + modulate, the q/k/v Linears, RMSNorm, RoPE
      return add(linear(BL, D, 3 * D, e), (op_cost){12 * BL * D, e * 6 * BL * D});
    if (strcmp(tail, "attn1.k") == 0 || strcmp(tail, "attn1.v") == 0) return (op_cost){0, 0}; // same moment as q
    if (strcmp(tail, "attn1.o") == 0) // softmax(Q K^T) V, flash-style: Q, K, V read once, O written
      return (op_cost){4 * B * L * L * D, e * 4 * BL * D};
    if (strcmp(tail, "attn1") == 0) return linear(BL, D, D, e);
    if (strcmp(tail, "attn2") == 0) // gated residual, LayerNorm, q, k and v of the text, attention, out
      return add(add(linear(BL, D, D, e), linear(BS, D, 2 * D, e)),
                 add((op_cost){4 * B * L * S * D, e * (2 * BL * D + 2 * BS * D)}, linear(BL, D, D, e)));
    if (strcmp(tail, "ffn") == 0) return add(linear(BL, D, F, e), linear(BL, F, D, e));
    if (strcmp(tail, "out") == 0) return (op_cost){3 * BL * D, e * 3 * BL * D};
    return (op_cost){0, 0};
  }
  if (strcmp(name, "time.temb") == 0) return add(linear(B, (double)c->freq_dim, D, e), linear(B, D, D, e));
  if (strcmp(name, "time.proj") == 0) return linear(B, D, 6 * D, e);
  if (strcmp(name, "text_embedding") == 0) return add(linear(BS, (double)c->text_dim, D, e), linear(BS, D, D, e));
  if (strcmp(name, "patch_embedding") == 0) return linear(BL, (double)c->in_channels * P, D, e);
  if (strcmp(name, "head.modulated") == 0) return (op_cost){4 * BL * D, e * 2 * BL * D};
  if (strcmp(name, "head.proj_out") == 0) return linear(BL, D, P * (double)c->out_channels, e);
  return (op_cost){0, 0};
}

// "blocks.N.attn1.X" -> N and the tail after "blocks.N."; -1 for other names.
static int64_t block_of(const char *name, const char **tail) {
  if (strncmp(name, "blocks.", 7) != 0) return -1;
  char *end = NULL;
  long long n = strtoll(name + 7, &end, 10);
  if (end == name + 7 || *end != '.') return -1;
  *tail = end + 1;
  return n;
}

static vdit_status record_event(void *user, const char *name, const vdit_tensor *tensor) {
  recorder *r = user;
  if (r->done) return VDIT_OK;
  const double now = vdit_time_seconds();
  if (strcmp(name, "text_embedding") == 0 && tensor->ndim == 3) r->text_tokens = tensor->shape[1];
  if (strcmp(name, "patch_embedding") == 0 && tensor->ndim == 3) r->batch = tensor->shape[0], r->tokens = tensor->shape[1];
  const char *tail = NULL;
  int64_t n = block_of(name, &tail);
  if (n >= 0 && strcmp(tail, "attn1.q") == 0 && tensor->ndim == 4) r->batch = tensor->shape[0], r->tokens = tensor->shape[1];
  double dt;
  if (r->timing.clock == VDIT_SHIELD_CLOCK_MEASURED) dt = (now - r->last_wall) * r->timing.time_scale;
  else {
    op_cost cost = event_cost(r, name);
    dt = fmax(cost.flops / (r->timing.tops * 1e12), cost.bytes / (r->timing.bandwidth_gbs * 1e9));
  }
  r->clock += dt;
  r->ops++;
  if (n >= 0 && n < r->config->layers) {
    double *w = r->written + n * VDIT_SHIELD_KIND_COUNT;
    if (strcmp(tail, "attn1.q") == 0) w[VDIT_SHIELD_Q] = r->clock;
    else if (strcmp(tail, "attn1.k") == 0) w[VDIT_SHIELD_K] = r->clock;
    else if (strcmp(tail, "attn1.v") == 0) w[VDIT_SHIELD_V] = r->clock;
    else if (strcmp(tail, "attn1.o") == 0) w[VDIT_SHIELD_O] = r->attn_end[n] = r->clock;
    else if (strcmp(tail, "attn1") == 0) r->oproj_end[n] = r->clock;
  }
  if (strcmp(name, "output") == 0) {
    r->step_s = r->clock;
    r->done = 1;
  }
  r->last_wall = vdit_time_seconds(); // the observer's own time is not the model's
  return VDIT_OK;
}

// During the recording Q, K, V, O are held as bf16 (rounded, no failures).
static vdit_status round_tensor(void *user, const char *name, vdit_tensor *tensor) {
  (void)user;
  if (tensor->dtype != VDIT_DTYPE_F32 || !vdit_tensor_is_contiguous(tensor))
    return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "shield: %s must be a contiguous f32 tensor", name);
  float *x = tensor->data;
  const int64_t n = vdit_tensor_numel(tensor);
  for (int64_t i = 0; i < n; i++) x[i] = vdit_bf16_to_float(vdit_bf16_from_float(x[i]));
  return VDIT_OK;
}

void vdit_shield_trace_free(vdit_shield_trace *trace) {
  if (!trace) return;
  free(trace->tensors);
  memset(trace, 0, sizeof *trace);
}

vdit_status vdit_shield_trace_record(const vdit_model_config *config, const vdit_shield_timing *timing,
                                     vdit_shield_workload workload, void *user, vdit_tensor *reference,
                                     vdit_shield_trace *trace) {
  if (!config || !timing || !workload || !reference || !trace)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "shield: NULL argument");
  memset(trace, 0, sizeof *trace);
  VDIT_TRY(vdit_model_config_validate(config));
  if (timing->clock == VDIT_SHIELD_CLOCK_COST_MODEL &&
      (!(timing->tops > 0) || !(timing->bandwidth_gbs > 0) || timing->bytes_per_element < 1 ||
       !isfinite(timing->tops) || !isfinite(timing->bandwidth_gbs)))
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "shield: the cost model needs tops > 0, bandwidth > 0 and bytes >= 1");
  if (timing->clock == VDIT_SHIELD_CLOCK_MEASURED && (!(timing->time_scale > 0) || !isfinite(timing->time_scale)))
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "shield: time_scale must be > 0");
  if (timing->kv_steps < 0) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "shield: kv_steps must be >= 0");
  if (timing->per_sample != 0 && timing->per_sample != 1)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "shield: per_sample must be 0 or 1");
  const int64_t layers = config->layers;
  recorder r = {.config = config, .timing = *timing};
  r.written = malloc((size_t)layers * VDIT_SHIELD_KIND_COUNT * sizeof *r.written);
  r.attn_end = malloc((size_t)layers * sizeof *r.attn_end);
  r.oproj_end = malloc((size_t)layers * sizeof *r.oproj_end);
  trace->tensors = calloc((size_t)layers * VDIT_SHIELD_KIND_COUNT, sizeof *trace->tensors);
  vdit_status status = VDIT_OK;
  if (!r.written || !r.attn_end || !r.oproj_end || !trace->tensors)
    status = VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "shield: no memory for %" PRId64 " layers", layers);
  for (int64_t i = 0; status == VDIT_OK && i < layers; i++) {
    r.attn_end[i] = r.oproj_end[i] = -1;
    for (int k = 0; k < VDIT_SHIELD_KIND_COUNT; k++) r.written[i * VDIT_SHIELD_KIND_COUNT + k] = -1;
  }
  if (status == VDIT_OK) {
    vdit_model_run_options hooks = {.observe = record_event, .observe_user = &r, .tamper = round_tensor};
    r.last_wall = vdit_time_seconds();
    status = workload(user, &hooks, reference);
  }
  if (status == VDIT_OK && !r.done)
    status = VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT,
                        "shield: the workload made no forward pass with the hooks (no 'output' event)");
  uint64_t address = 0;
  for (int64_t n = 0; status == VDIT_OK && n < layers; n++) {
    const double *w = r.written + n * VDIT_SHIELD_KIND_COUNT;
    if (w[0] < 0 || w[1] < 0 || w[2] < 0 || w[3] < 0 || r.oproj_end[n] < 0) {
      status = VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "shield: block %" PRId64 "'s attention was not observed", n);
      break;
    }
    const size_t words = (size_t)(r.batch * r.tokens * config->dim);
    const double kv_end = timing->kv_steps == 0 ? r.attn_end[n] : (double)timing->kv_steps * r.step_s;
    const double read[VDIT_SHIELD_KIND_COUNT] = {r.attn_end[n], kv_end, kv_end, r.oproj_end[n]};
    const int kv_persistent = timing->kv_steps > 0;
    for (int k = 0; k < VDIT_SHIELD_KIND_COUNT; k++) {
      vdit_sim_tensor *t = &trace->tensors[n * VDIT_SHIELD_KIND_COUNT + k];
      t->word_address = address;
      t->word_count = words;
      t->t_write_s = w[k];
      t->t_read_s = read[k];
      t->lifetime_class = kv_persistent && (k == VDIT_SHIELD_K || k == VDIT_SHIELD_V) ? VDIT_SIM_LIFETIME_PERSISTENT
                                                                                       : VDIT_SIM_LIFETIME_TRANSIENT;
      address += words;
    }
    trace->attention_s += r.attn_end[n] - w[VDIT_SHIELD_Q];
  }
  free(r.written);
  free(r.attn_end);
  free(r.oproj_end);
  if (status != VDIT_OK) {
    vdit_shield_trace_free(trace);
    return status;
  }
  trace->layers = layers;
  trace->step_s = r.step_s;
  trace->ops = r.ops;
  trace->clock = timing->clock;
  return VDIT_OK;
}

vdit_status vdit_shield_trace_energy(const vdit_shield_trace *trace, const vdit_sim_policy *policy,
                                     const vdit_sim_energy_model *energy, vdit_sim_report *report) {
  if (!trace || !trace->tensors) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "shield: no trace");
  for (int64_t i = 0; i < trace->layers * VDIT_SHIELD_KIND_COUNT; i++) {
    vdit_sim_report part;
    memset(&part, 0, sizeof part);
    VDIT_TRY(vdit_sim_tensor_energy(policy, energy, &trace->tensors[i], &part));
    // vdit_sim_tensor_energy counts no bits; count them as the injection does
    part.bits[VDIT_SIM_SEGMENT_SIGN_EXPONENT] = (uint64_t)trace->tensors[i].word_count * VDIT_SIM_SIGN_EXPONENT_BITS;
    part.bits[VDIT_SIM_SEGMENT_MANTISSA] = (uint64_t)trace->tensors[i].word_count * VDIT_SIM_MANTISSA_BITS;
    vdit_sim_report_add(report, &part);
  }
  return VDIT_OK;
}
