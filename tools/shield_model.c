// `vdit shield --model` (shield_model.h).
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "shield_model.h"
#include "svg_plot.h"
#include "vdit/shield.h"

// One forward pass of the model on the inputs: the workload of the measurement.
typedef struct forward_workload {
  const vdit_model_weights *weights;
  const model_run_inputs *inputs;
  const vdit_attn_method_config *methods;
} forward_workload;

static vdit_status run_forward(void *user, const vdit_model_run_options *hooks, vdit_tensor *output) {
  const forward_workload *f = user;
  vdit_model_run_options options = *hooks;
  options.self_attn = f->methods;
  return vdit_model_forward(f->weights, &options, &f->inputs->video, &f->inputs->timesteps, &f->inputs->context,
                            output, NULL);
}

typedef struct policy_run {
  vdit_sim_policy policy;
  vdit_sim_policy by_kind[VDIT_SHIELD_KIND_COUNT]; // the policy each kind ran
  vdit_shield_result result;
} policy_run;

void shield_print_number(double x) {
  if (isfinite(x)) printf("%.6g", x);
  else printf("null");
}

double shield_saving(const vdit_shield_result *r, double standard_pj) {
  const double passes = r->passes > 1 ? (double)r->passes : 1; // the report sums every pass
  return standard_pj > 0 ? 1 - vdit_sim_report_refresh_pj(&r->report) / (passes * standard_pj) : 0;
}

// Lifetime statistics of a kind over the blocks (seconds): mean, min, max.
static void lifetimes(const vdit_shield_trace *t, int kind, double out[3]) {
  out[0] = 0, out[1] = INFINITY, out[2] = 0;
  for (int64_t n = 0; n < t->layers; n++) {
    const vdit_sim_tensor *x = &t->tensors[n * VDIT_SHIELD_KIND_COUNT + kind];
    double life = x->t_read_s - x->t_write_s;
    out[0] += life / (double)t->layers, out[1] = fmin(out[1], life), out[2] = fmax(out[2], life);
  }
}

static const char *sweep_param(const shield_model_flags *flags) {
  return flags->sweep_param ? flags->sweep_param : "persistent-us";
}

vdit_sim_policy shield_sweep_policy(const shield_model_flags *flags, double value) {
  vdit_sim_policy p = flags->sweep_base;
  const char *param = sweep_param(flags);
  if (strcmp(param, "transient-us") == 0)
    p.refresh_interval_s[VDIT_SIM_LIFETIME_TRANSIENT][VDIT_SIM_SEGMENT_MANTISSA] = value * 1e-6;
  else if (strcmp(param, "protect") == 0)
    p.protected_mantissa_bits[VDIT_SIM_LIFETIME_TRANSIENT] = p.protected_mantissa_bits[VDIT_SIM_LIFETIME_PERSISTENT] = (int)value;
  else if (strcmp(param, "guard") == 0) p.bin_guard = value;
  else if (strcmp(param, "profiles") == 0) p.bin_profile_rounds = (int)value;
  else if (strcmp(param, "k-us") == 0 || strcmp(param, "v-us") == 0 || strcmp(param, "k-guard") == 0 ||
           strcmp(param, "v-guard") == 0 || strcmp(param, "k-tolerate") == 0 || strcmp(param, "v-tolerate") == 0) {
  } // per kind: shield_sweep_kinds, shield_kind_layouts
  else p.refresh_interval_s[VDIT_SIM_LIFETIME_PERSISTENT][VDIT_SIM_SEGMENT_MANTISSA] = value * 1e-6;
  return p;
}

void shield_sweep_name(const shield_model_flags *flags, double value, char *name, size_t size) {
  const char *param = sweep_param(flags), *policy = vdit_sim_policy_name(flags->sweep_base.kind);
  if (strcmp(param, "transient-us") == 0) snprintf(name, size, "%s@t%gus", policy, value);
  else if (strcmp(param, "protect") == 0) snprintf(name, size, "%s@p%g", policy, value);
  else if (strcmp(param, "guard") == 0) snprintf(name, size, "%s@g%g", policy, value);
  else if (strcmp(param, "profiles") == 0) snprintf(name, size, "%s@r%g", policy, value);
  else if (strcmp(param, "k-us") == 0) snprintf(name, size, "%s@k%gus", policy, value);
  else if (strcmp(param, "v-us") == 0) snprintf(name, size, "%s@v%gus", policy, value);
  else if (strcmp(param, "k-guard") == 0) snprintf(name, size, "%s@kg%g", policy, value);
  else if (strcmp(param, "v-guard") == 0) snprintf(name, size, "%s@vg%g", policy, value);
  else if (strcmp(param, "k-tolerate") == 0) snprintf(name, size, "%s@kt%g", policy, value);
  else if (strcmp(param, "v-tolerate") == 0) snprintf(name, size, "%s@vt%g", policy, value);
  else snprintf(name, size, "%s@%gus", policy, value);
}

int shield_sweep_check(const shield_model_flags *flags, const double *values, int count) {
  static const char *const params[] = {"persistent-us", "transient-us", "protect", "k-us",     "v-us",
                                       "guard",         "k-guard",      "v-guard", "profiles", "k-tolerate",
                                       "v-tolerate",    NULL};
  const char *param = sweep_param(flags);
  int known = 0;
  for (int i = 0; params[i]; i++) known |= strcmp(param, params[i]) == 0;
  if (!known) return cli_unknown_word("shield", "sweep parameter", "", param, params, "see 'vdit shield --help'");
  if (strcmp(param, "protect") == 0)
    for (int i = 0; i < count; i++)
      if (values[i] != floor(values[i]) || values[i] > VDIT_SIM_MANTISSA_BITS)
        return cli_usage_error("shield", "see 'vdit shield --help'", "--sweep-param protect takes whole numbers 0..7, got %g", values[i]);
  if (strcmp(param, "profiles") == 0)
    for (int i = 0; i < count; i++)
      if (values[i] != floor(values[i]) || values[i] < 1 || values[i] > 64)
        return cli_usage_error("shield", "see 'vdit shield --help'", "--sweep-param profiles takes whole numbers 1..64, got %g", values[i]);
  if (strstr(param, "tolerate")) {
    for (int i = 0; i < count; i++)
      if (values[i] != floor(values[i]) || values[i] < 0 || values[i] > 255)
        return cli_usage_error("shield", "see 'vdit shield --help'", "--sweep-param k-tolerate and v-tolerate take whole numbers 0..255, got %g", values[i]);
  }
  if (strstr(param, "guard") || strcmp(param, "profiles") == 0 || strstr(param, "tolerate")) {
    int binned = 0;
    for (int c = 0; c < VDIT_SIM_LIFETIME_CLASS_COUNT; c++) binned |= flags->sweep_base.binned[c];
    for (int i = 0; i < count; i++)
      if (!(values[i] > 0)) return cli_usage_error("shield", "see 'vdit shield --help'", "--sweep-param guard takes values > 0, got %g", values[i]);
    if (!binned) return cli_usage_error("shield", "see 'vdit shield --help'", "--sweep-param guard and profiles need --bins");
  }
  return -1;
}

void shield_kind_policies(const vdit_sim_policy *policy, const double kind_us[VDIT_SHIELD_KIND_COUNT],
                          const double kind_guard[VDIT_SHIELD_KIND_COUNT], vdit_sim_policy out[VDIT_SHIELD_KIND_COUNT]) {
  for (int k = 0; k < VDIT_SHIELD_KIND_COUNT; k++) {
    out[k] = *policy;
    if (kind_guard && kind_guard[k] >= 0) out[k].bin_guard = kind_guard[k];
    if (!kind_us || kind_us[k] < 0) continue;
    for (int c = 0; c < VDIT_SIM_LIFETIME_CLASS_COUNT; c++) {
      out[k].refresh_interval_s[c][VDIT_SIM_SEGMENT_MANTISSA] = kind_us[k] * 1e-6;
      out[k].binned[c] = 0;
    }
  }
}

void shield_kind_layouts(const shield_model_flags *flags, double value, vdit_sim_policy out[VDIT_SHIELD_KIND_COUNT]) {
  const char *param = sweep_param(flags);
  for (int k = 0; k < VDIT_SHIELD_KIND_COUNT; k++) {
    vdit_sim_policy *p = &out[k];
    const vdit_sim_lifetime_class c = k == VDIT_SHIELD_K || k == VDIT_SHIELD_V ? VDIT_SIM_LIFETIME_PERSISTENT : VDIT_SIM_LIFETIME_TRANSIENT;
    int tolerate = flags->kind_bin_tolerate[k];
    if (isfinite(value) && ((k == VDIT_SHIELD_K && strcmp(param, "k-tolerate") == 0) ||
                            (k == VDIT_SHIELD_V && strcmp(param, "v-tolerate") == 0)))
      tolerate = (int)value;
    if (flags->kind_bit_planes[k] && p->bin_count > 0) {
      p->binned[c] = 1;
      p->bin_bit_planes = 1;
      for (int b = 0; b < VDIT_SIM_MANTISSA_BITS; b++) p->bin_plane_tolerated[b] = flags->kind_planes[k][b];
    }
    if (tolerate >= 0) {
      p->bin_tolerated_cells = tolerate;
      if (p->bin_bit_planes) // planes: the binned ones tolerate that many
        for (int b = 0; b < VDIT_SIM_MANTISSA_BITS; b++)
          if (p->bin_plane_tolerated[b] >= 0) p->bin_plane_tolerated[b] = tolerate;
    }
  }
}

void shield_print_kind_layout_json(const vdit_sim_policy *policy, const vdit_sim_policy by_kind[VDIT_SHIELD_KIND_COUNT]) {
  int first = 1;
  for (int k = 0; k < VDIT_SHIELD_KIND_COUNT; k++) {
    const vdit_sim_policy *p = &by_kind[k];
    const vdit_sim_lifetime_class c = k == VDIT_SHIELD_K || k == VDIT_SHIELD_V ? VDIT_SIM_LIFETIME_PERSISTENT : VDIT_SIM_LIFETIME_TRANSIENT;
    if (!p->binned[c] || (policy->binned[c] && p->bin_tolerated_cells == policy->bin_tolerated_cells &&
                          p->bin_bit_planes == policy->bin_bit_planes && p->bin_guard == policy->bin_guard))
      continue;
    printf("%s\"%s\": {\"guard\": %g, \"tolerated_cells\": %d", first ? ", \"kind_layout\": {" : ", ",
           vdit_shield_kind_name((vdit_shield_kind)k), p->bin_guard, p->bin_tolerated_cells);
    if (p->bin_bit_planes) {
      printf(", \"bit_planes_top_first\": [");
      for (int b = VDIT_SIM_MANTISSA_BITS - 1 - p->protected_mantissa_bits[c]; b >= 0; b--)
        printf("%d%s", p->bin_plane_tolerated[b], b ? ", " : "");
      printf("]");
    }
    printf("}");
    first = 0;
  }
  if (!first) printf("}");
}

void shield_sweep_kinds(const shield_model_flags *flags, double value, double kind_us[VDIT_SHIELD_KIND_COUNT],
                        double kind_guard[VDIT_SHIELD_KIND_COUNT]) {
  for (int k = 0; k < VDIT_SHIELD_KIND_COUNT; k++) kind_us[k] = flags->kind_mantissa_us[k], kind_guard[k] = flags->kind_bin_guard[k];
  const char *param = sweep_param(flags);
  if (strcmp(param, "k-us") == 0) kind_us[VDIT_SHIELD_K] = value;
  if (strcmp(param, "v-us") == 0) kind_us[VDIT_SHIELD_V] = value;
  if (strcmp(param, "k-guard") == 0) kind_guard[VDIT_SHIELD_K] = value;
  if (strcmp(param, "v-guard") == 0) kind_guard[VDIT_SHIELD_V] = value;
}

static void print_kind_values(const char *key, const double values[VDIT_SHIELD_KIND_COUNT]) {
  int any = 0;
  for (int k = 0; k < VDIT_SHIELD_KIND_COUNT; k++) any |= values[k] >= 0;
  if (!any) return;
  printf(", \"%s\": {", key);
  int first = 1;
  for (int k = 0; k < VDIT_SHIELD_KIND_COUNT; k++)
    if (values[k] >= 0) {
      printf("%s\"%s\": %g", first ? "" : ", ", vdit_shield_kind_name((vdit_shield_kind)k), values[k]);
      first = 0;
    }
  printf("}");
}

void shield_print_kind_json(const double kind_us[VDIT_SHIELD_KIND_COUNT], const double kind_guard[VDIT_SHIELD_KIND_COUNT]) {
  print_kind_values("kind_mantissa_us", kind_us);
  print_kind_values("kind_bin_guard", kind_guard);
}

void shield_sweep_print_json(const shield_model_flags *flags, double value) {
  printf("\"sweep_param\": \"%s\", \"sweep_value\": %g", sweep_param(flags), value);
  if (strcmp(sweep_param(flags), "persistent-us") == 0) printf(", \"relaxed_us\": %g", value);
}

void shield_print_policy_json(const vdit_sim_policy *policy, const vdit_shield_result *r, double standard_pj) {
  printf("{\"policy\": \"%s\", \"intervals_us\": {", vdit_sim_policy_name(policy->kind));
  for (int c = 0; c < VDIT_SIM_LIFETIME_CLASS_COUNT; c++)
    printf("%s\"%s\": {\"sign_exponent\": %g, \"mantissa\": %g}", c ? ", " : "",
           vdit_sim_lifetime_class_name((vdit_sim_lifetime_class)c), policy->refresh_interval_s[c][0] * 1e6,
           policy->refresh_interval_s[c][1] * 1e6);
  printf("}");
  for (int c = 0; c < VDIT_SIM_LIFETIME_CLASS_COUNT; c++)
    if (policy->binned[c]) {
      printf(", \"binned\": {\"class\": \"%s\", \"guard\": %g, \"row_bits\": %d, \"profile_rounds\": %d, \"bins_us\": [",
             vdit_sim_lifetime_class_name((vdit_sim_lifetime_class)c), policy->bin_guard, policy->bin_row_bits,
             policy->bin_profile_rounds);
      for (int b = 0; b < policy->bin_count; b++) printf("%s%g", b ? ", " : "", policy->bin_intervals_s[b] * 1e6);
      printf("]");
      if (policy->bin_tolerated_cells) printf(", \"tolerated_cells\": %d", policy->bin_tolerated_cells);
      printf("}");
    }
  printf(", \"protected_mantissa_bits\": {\"transient\": %d, \"persistent\": %d}, \"spread_refreshes\": %s",
         policy->protected_mantissa_bits[VDIT_SIM_LIFETIME_TRANSIENT],
         policy->protected_mantissa_bits[VDIT_SIM_LIFETIME_PERSISTENT], policy->spread_refreshes ? "true" : "false");
  printf(", \"refresh_pj\": %.6g, \"refresh_saving\": ", vdit_sim_report_refresh_pj(&r->report));
  shield_print_number(shield_saving(r, standard_pj));
  printf(", \"access_pj\": %.6g, \"bits\": {\"sign_exponent\": %llu, \"mantissa\": %llu}, \"failed_bits\": "
         "{\"sign_exponent\": %llu, \"mantissa\": %llu}, \"failed_bits_by_tensor\": {",
         r->report.access_pj, (unsigned long long)r->report.bits[0], (unsigned long long)r->report.bits[1],
         (unsigned long long)r->report.failed_bits[0], (unsigned long long)r->report.failed_bits[1]);
  for (int k = 0; k < VDIT_SHIELD_KIND_COUNT; k++)
    printf("%s\"%s\": {\"sign_exponent\": %llu, \"mantissa\": %llu}", k ? ", " : "",
           vdit_shield_kind_name((vdit_shield_kind)k), (unsigned long long)r->per_kind[k].failed_bits[0],
           (unsigned long long)r->per_kind[k].failed_bits[1]);
  printf("}, \"refresh_pj_by_tensor\": {");
  for (int k = 0; k < VDIT_SHIELD_KIND_COUNT; k++)
    printf("%s\"%s\": %.6g", k ? ", " : "", vdit_shield_kind_name((vdit_shield_kind)k),
           vdit_sim_report_refresh_pj(&r->per_kind[k]));
  printf("}, \"failed_by_bit\": {"); // index = bit position, 0 = mantissa LSB .. 15 = sign
  for (int k = 0; k < VDIT_SHIELD_KIND_COUNT; k++) {
    printf("%s\"%s\": [", k ? ", " : "", vdit_shield_kind_name((vdit_shield_kind)k));
    for (int b = 0; b < VDIT_SIM_WORD_BITS; b++) printf("%s%llu", b ? ", " : "", (unsigned long long)r->per_kind[k].failed_by_bit[b]);
    printf("]");
  }
  printf("}, \"tensor_rel_l1\": {");
  for (int k = 0; k < VDIT_SHIELD_KIND_COUNT; k++) {
    printf("%s\"%s\": ", k ? ", " : "", vdit_shield_kind_name((vdit_shield_kind)k));
    shield_print_number(r->tensor_rel_l1[k]);
  }
  printf("}, \"output\": {\"rel_l1\": ");
  shield_print_number(r->output_rel_l1);
  printf(", \"psnr_db\": ");
  shield_print_number(r->output_psnr_db); // null: identical to the error-free run
  printf(", \"max_abs_error\": ");
  shield_print_number(r->output_max_abs_error);
  printf("}");
}

static void print_json_policy(const policy_run *p, double standard_pj) {
  shield_print_policy_json(&p->policy, &p->result, standard_pj);
  shield_print_kind_layout_json(&p->policy, p->by_kind);
  printf("}");
}

static void print_text_row(const char *name, const policy_run *p, double standard_pj) {
  const vdit_shield_result *r = &p->result;
  printf("%-14s %11.4g %7.2f%% %14llu %12llu %10.3g %10.3g %10.3g %10.3g %11.3g %9.2f\n", name,
         vdit_sim_report_refresh_pj(&r->report) * 1e-3, 100 * shield_saving(r, standard_pj),
         (unsigned long long)r->report.failed_bits[0], (unsigned long long)r->report.failed_bits[1],
         r->tensor_rel_l1[0], r->tensor_rel_l1[1], r->tensor_rel_l1[2], r->tensor_rel_l1[3], r->output_rel_l1,
         r->output_psnr_db);
}

// "100,200,400" into values; the count or -1.
int shield_parse_list(const char *text, double *values, int max) {
  int count = 0;
  const char *p = text;
  while (*p) {
    char *end = NULL;
    double v = strtod(p, &end);
    if (end == p || !(v >= 0) || !isfinite(v) || count == max || (*end != ',' && *end)) return -1;
    values[count++] = v;
    p = *end ? end + 1 : end;
  }
  return count;
}

int shield_model_main(const model_source_flags *source, const shield_model_flags *flags,
                      const vdit_sim_policy *policies, int count, const vdit_sim_retention *retention,
                      const vdit_sim_energy_model *energy) {
  const char *hint = "see 'vdit shield --help'";
  vdit_shield_timing timing = vdit_shield_timing_default();
  if (strcmp(flags->clock, "model") == 0) timing.clock = VDIT_SHIELD_CLOCK_COST_MODEL;
  else if (strcmp(flags->clock, "measured") == 0) timing.clock = VDIT_SHIELD_CLOCK_MEASURED;
  else {
    static const char *const clocks[] = {"model", "measured", NULL};
    return cli_unknown_word("shield", "clock", "", flags->clock, clocks, hint);
  }
  timing.tops = flags->tops;
  timing.bandwidth_gbs = flags->bandwidth_gbs;
  timing.time_scale = flags->time_scale;
  timing.kv_steps = flags->kv_steps;
  timing.per_sample = flags->per_sample;
  if (!(flags->bandwidth_gbs > 0) || !(flags->time_scale > 0) || flags->kv_steps < 0)
    return cli_usage_error("shield", hint, "--bandwidth-gbs and --time-scale must be > 0, --kv-steps >= 0");
  double sweep[64];
  int sweep_count = 0;
  if (flags->sweep) {
    sweep_count = shield_parse_list(flags->sweep, sweep, 64);
    if (sweep_count <= 0) return cli_usage_error("shield", hint, "--sweep must be a list of intervals in us like 100,200,400, got '%s'", flags->sweep);
  }
  int bad = shield_sweep_check(flags, sweep, sweep_count);
  if (bad >= 0) return bad;
  if (flags->svg && !flags->sweep) return cli_usage_error("shield", hint, "--svg plots the --sweep; give --sweep too");
  vdit_model_attn_policy attention;
  if (vdit_model_attn_policy_load(flags->attention, &attention) != VDIT_OK)
    return cli_usage_error("shield", hint, "%s", vdit_last_error());

  vdit_model_weights w;
  model_run_inputs in;
  int code = model_source_open("shield", hint, source, &w, &in);
  if (code >= 0) return code;
  vdit_attn_method_config *methods = malloc((size_t)w.config.layers * sizeof *methods);
  vdit_tensor reference = {0};
  vdit_shield_trace trace = {0};
  policy_run *runs = calloc((size_t)(count + sweep_count), sizeof *runs);
  vdit_status status = vdit_model_attn_policy_check(&attention, w.config.layers);
  if (status == VDIT_OK && (!methods || !runs)) status = VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "no memory");
  if (status == VDIT_OK) {
    vdit_model_attn_policy_fill(&attention, w.config.layers, 0, methods);
    status = vdit_tensor_alloc(&reference, VDIT_DTYPE_F32, VDIT_CPU, in.output.ndim, in.output.shape);
  }
  forward_workload workload = {&w, &in, methods};
  double start = vdit_time_seconds();
  if (status == VDIT_OK) status = vdit_shield_trace_record(&w.config, &timing, run_forward, &workload, &reference, &trace);
  double forward_s = vdit_time_seconds() - start;
  vdit_sim_report standard_report;
  memset(&standard_report, 0, sizeof standard_report);
  vdit_sim_policy standard = vdit_sim_policy_standard(flags->t_ref_us * 1e-6);
  if (status == VDIT_OK) status = vdit_shield_trace_energy(&trace, &standard, energy, &standard_report);
  const double standard_pj = vdit_sim_report_refresh_pj(&standard_report);
  for (int p = 0; p < count + sweep_count && status == VDIT_OK; p++) {
    runs[p].policy = p < count ? policies[p] : shield_sweep_policy(flags, sweep[p - count]);
    double kind_us[VDIT_SHIELD_KIND_COUNT], kind_guard[VDIT_SHIELD_KIND_COUNT];
    shield_sweep_kinds(flags, p < count ? NAN : sweep[p - count], kind_us, kind_guard);
    if (p < count) memcpy(kind_us, flags->kind_mantissa_us, sizeof kind_us), memcpy(kind_guard, flags->kind_bin_guard, sizeof kind_guard);
    vdit_sim_policy *by_kind = runs[p].by_kind;
    shield_kind_policies(&runs[p].policy, kind_us, kind_guard, by_kind);
    shield_kind_layouts(flags, p < count ? NAN : sweep[p - count], by_kind);
    const vdit_sim_policy *const kinds[VDIT_SHIELD_KIND_COUNT] = {&by_kind[0], &by_kind[1], &by_kind[2], &by_kind[3]};
    status = vdit_shield_run_kinds(&trace, retention, kinds, energy, run_forward, &workload, &reference, &in.output,
                             &runs[p].result);
  }
  if (status == VDIT_OK && flags->svg) {
    double x[64], y[64];
    char label_text[64][32];
    const char *labels[64];
    for (int i = 0; i < sweep_count; i++) {
      x[i] = 100 * shield_saving(&runs[count + i].result, standard_pj);
      y[i] = runs[count + i].result.output_psnr_db;
      snprintf(label_text[i], sizeof label_text[i], "%g us", sweep[i]);
      labels[i] = label_text[i];
    }
    char title[160], caption[200];
    snprintf(title, sizeof title, "SHIELD relaxed K/V mantissa refresh: energy vs output quality");
    snprintf(caption, sizeof caption, "%.80s, t_REF %g us; points labelled with the relaxed interval (infinite PSNR not drawn)",
             source->model, flags->t_ref_us);
    svg_plot plot = {title, "refresh energy saved vs standard (%)", "output PSNR vs error-free run (dB)",
                     (size_t)sweep_count, x, y, labels, caption};
    status = svg_plot_write(flags->svg, &plot);
  }
  if (status == VDIT_OK) {
    double q[3], o[3], kv[3];
    lifetimes(&trace, VDIT_SHIELD_Q, q);
    lifetimes(&trace, VDIT_SHIELD_O, o);
    lifetimes(&trace, VDIT_SHIELD_K, kv);
    const vdit_tensor *t = &in.output;
    char description[512];
    model_source_describe(source, &w, description, sizeof description);
    const int64_t tokens = in.grid[0] * in.grid[1] * in.grid[2];
    if (flags->json) {
      printf("{\"mode\": \"model\", \"model\": ");
      cli_print_json_string(source->model);
      printf(", \"config\": {\"dim\": %" PRId64 ", \"heads\": %" PRId64 ", \"layers\": %" PRId64 ", \"ffn\": %" PRId64
             "}, \"batch\": %" PRId64 ", \"grid\": [%" PRId64 ", %" PRId64 ", %" PRId64 "], \"tokens\": %" PRId64
             ", \"text_tokens\": %" PRId64 ", \"attention\": ",
             w.config.dim, w.config.heads, w.config.layers, w.config.ffn_dim, t->shape[0], in.grid[0], in.grid[1],
             in.grid[2], tokens, in.context.shape[1]);
      char spec[512];
      cli_print_json_string(vdit_model_attn_policy_describe(&attention, spec, sizeof spec));
      printf(", \"timing\": {\"clock\": \"%s\", ", flags->clock);
      if (timing.clock == VDIT_SHIELD_CLOCK_COST_MODEL)
        printf("\"tops\": %g, \"bandwidth_gbs\": %g, ", timing.tops, timing.bandwidth_gbs);
      else printf("\"time_scale\": %g, ", timing.time_scale);
      printf("\"kv_steps\": %" PRId64 ", \"per_sample\": %s, \"ops\": %" PRId64 ", \"step_us\": %.6g, \"q_lifetime_us\": {\"mean\": %.6g, "
             "\"min\": %.6g, \"max\": %.6g}, \"o_lifetime_us\": {\"mean\": %.6g, \"min\": %.6g, \"max\": %.6g}, "
             "\"kv_lifetime_us\": {\"mean\": %.6g, \"min\": %.6g, \"max\": %.6g}}, \"cpu_forward_s\": %.4g, ",
             timing.kv_steps, timing.per_sample ? "true" : "false", trace.ops, trace.step_s * 1e6, q[0] * 1e6, q[1] * 1e6, q[2] * 1e6, o[0] * 1e6,
             o[1] * 1e6, o[2] * 1e6, kv[0] * 1e6, kv[1] * 1e6, kv[2] * 1e6, forward_s);
      printf("\"retention\": {\"median_us\": %.6g, \"sigma\": %g, \"temperature_c\": %g, \"vrt_fraction\": %g, "
             "\"array_seed\": %llu, \"leaking_value\": %d}, \"t_ref_us\": %g, \"standard_refresh_pj\": %.6g, "
             "\"policies\": [",
             retention->median_s * 1e6, retention->sigma, retention->temperature_c, retention->vrt_fraction,
             (unsigned long long)retention->seed, retention->leaking_value, flags->t_ref_us, standard_pj);
      for (int p = 0; p < count; p++) {
        if (p) printf(", ");
        print_json_policy(&runs[p], standard_pj);
      }
      printf("]");
      if (sweep_count) {
        printf(", \"sweep\": [");
        for (int i = 0; i < sweep_count; i++) {
          const vdit_shield_result *r = &runs[count + i].result;
          printf("%s{", i ? ", " : "");
          shield_sweep_print_json(flags, sweep[i]);
          printf(", \"refresh_saving\": ");
          shield_print_number(shield_saving(r, standard_pj));
          printf(", \"failed_bits\": {\"sign_exponent\": %llu, \"mantissa\": %llu}, \"output_rel_l1\": ",
                 (unsigned long long)r->report.failed_bits[0], (unsigned long long)r->report.failed_bits[1]);
          shield_print_number(r->output_rel_l1);
          printf(", \"psnr_db\": ");
          shield_print_number(r->output_psnr_db);
          printf("}");
        }
        printf("]");
      }
      printf("}\n");
    } else {
      printf("vdit shield: %s\n", description);
      printf("run: batch %" PRId64 ", %" PRId64 " tokens (%" PRId64 " x %" PRId64 " x %" PRId64 "), %" PRId64
             " text tokens, attention %s; CPU forward %.2f s\n",
             t->shape[0], tokens, in.grid[0], in.grid[1], in.grid[2], in.context.shape[1],
             vdit_model_attn_policy_describe(&attention, description, sizeof description), forward_s);
      if (timing.clock == VDIT_SHIELD_CLOCK_COST_MODEL)
        printf("timing: cost model at %g TOPS, %g GB/s: ", timing.tops, timing.bandwidth_gbs);
      else printf("timing: measured CPU op times x %g: ", timing.time_scale);
      printf("step %.4g us; Q lives %.3g us, O %.3g us (mean); K, V %.3g..%.3g us%s\n", trace.step_s * 1e6, q[0] * 1e6,
             o[0] * 1e6, kv[1] * 1e6, kv[2] * 1e6, timing.kv_steps > 1 ? " (KV cache)" : "");
      printf("retention: log-normal, median %.4g us, sigma %g, %g C, VRT fraction %g; t_REF %g us\n\n",
             retention->median_s * 1e6, retention->sigma, retention->temperature_c, retention->vrt_fraction,
             flags->t_ref_us);
      printf("%-14s %11s %8s %14s %12s %10s %10s %10s %10s %11s %9s\n", "policy", "refresh_nJ", "saving",
             "failed_sign_exp", "failed_mant", "rel_l1_Q", "rel_l1_K", "rel_l1_V", "rel_l1_O", "out_rel_l1", "PSNR_dB");
      for (int p = 0; p < count; p++) print_text_row(vdit_sim_policy_name(runs[p].policy.kind), &runs[p], standard_pj);
      for (int i = 0; i < sweep_count; i++) {
        char name[32];
        shield_sweep_name(flags, sweep[i], name, sizeof name);
        print_text_row(name, &runs[count + i], standard_pj);
      }
      if (flags->svg) printf("\nwrote %s\n", flags->svg);
    }
  }
  vdit_shield_trace_free(&trace);
  vdit_tensor_free(&reference);
  free(runs);
  free(methods);
  model_run_inputs_free(&in);
  vdit_model_weights_free(&w);
  if (status != VDIT_OK) return cli_report_failure("shield", status);
  return CLI_EXIT_OK;
}
