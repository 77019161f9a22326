// `vdit shield --bundle` (shield_model.h): the refresh policies on a model bundle's generated
// clip. Two workloads run under each policy, each with its own recorded trace (vdit/shield.h):
//   generate: vdit_pipe_generate (the bundle's sampler: Euler, CFG as one batch of 2) with a
//             fixed prompt and seed; the output is the clip's pixels (3, F, H, W) in [0, 1].
//   held-out: a velocity MSE on fixed held-out world clips, as vdit_trainer_evaluate computes
//             it (which takes a trainer, not hooks): clip j is world seed data_seed + 2^62 + j
//             (the trainer's held-out indices), its caption in full, noise from Philox stream
//             HELD_OUT_NOISE_SEED (element i of clip j at offset j * clip + i), and in bucket k
//             t = (k + (j + 0.5) / clips) / 5; loss = mean over elements of
//             (model(x_t, 1000 t) - (noise - x0))^2 with x_t = (1 - t) x0 + t noise, in clip
//             pairs (batch 2). The output is the loss per bucket (5); the reported loss is
//             their mean.
// Energy and lifetimes come from the generate workload's first forward pass.
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "shield_model.h"
#include "svg_plot.h"
#include "vdit/pipe.h"
#include "vdit/shield.h"
#include "vdit/train.h"

#define HELD_OUT_NOISE_SEED UINT64_C(0x5e1d)
#define BUCKETS VDIT_TRAIN_BUCKETS

typedef struct generate_workload {
  const vdit_bundle *bundle;
  vdit_generate_options options;
} generate_workload;

static vdit_status run_generate(void *user, const vdit_model_run_options *hooks, vdit_tensor *output) {
  const generate_workload *g = user;
  vdit_generate_options options = g->options;
  options.hooks = hooks;
  return vdit_pipe_generate(g->bundle, &options, output->data);
}

typedef struct held_out_workload {
  const vdit_bundle *bundle;
  int64_t clips;
  float *x0, *noise;      // (clips, 3, F, H, W)
  int32_t *tokens;        // (clips, S)
  vdit_tensor video, timesteps, context, output; // batch 2
} held_out_workload;

static vdit_status run_held_out(void *user, const vdit_model_run_options *hooks, vdit_tensor *output) {
  held_out_workload *h = user;
  const vdit_bundle_config *c = &h->bundle->config;
  const size_t clip = (size_t)(3 * c->frames * c->height * c->width);
  double *loss = calloc(BUCKETS, sizeof *loss);
  if (!loss) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "shield: no memory");
  vdit_status status = VDIT_OK;
  for (int64_t start = 0; start < h->clips && status == VDIT_OK; start += 2) {
    status = vdit_text_embed(h->bundle->token_table, c->vocab, c->model.text_dim, h->tokens + start * c->text_length, 2,
                             c->text_length, h->context.data);
    for (int k = 0; k < BUCKETS && status == VDIT_OK; k++) {
      for (int64_t b = 0; b < 2; b++) {
        const int64_t j = start + b;
        const float t = (float)(((double)k + ((double)j + 0.5) / (double)h->clips) / BUCKETS);
        const float *x0 = h->x0 + (size_t)j * clip, *noise = h->noise + (size_t)j * clip;
        float *xt = (float *)h->video.data + (size_t)b * clip;
        for (size_t i = 0; i < clip; i++) xt[i] = (1.0f - t) * x0[i] + t * noise[i];
        ((float *)h->timesteps.data)[b] = 1000.0f * t;
      }
      vdit_model_run_options options = *hooks;
      options.self_attn = NULL; // dense
      status = vdit_model_forward(&h->bundle->weights, &options, &h->video, &h->timesteps, &h->context, &h->output, NULL);
      const float *out = h->output.data;
      double sum = 0;
      for (int64_t b = 0; b < 2 && status == VDIT_OK; b++) {
        const float *x0 = h->x0 + (size_t)(start + b) * clip, *noise = h->noise + (size_t)(start + b) * clip;
        for (size_t i = 0; i < clip; i++) {
          const double e = (double)out[(size_t)b * clip + i] - ((double)noise[i] - (double)x0[i]);
          sum += e * e;
        }
      }
      loss[k] += sum / (double)clip / (double)h->clips;
    }
  }
  for (int k = 0; k < BUCKETS; k++) ((float *)output->data)[k] = (float)loss[k];
  free(loss);
  return status;
}

static vdit_status held_out_setup(const vdit_bundle *bundle, int64_t clips, uint64_t data_seed, held_out_workload *h) {
  memset(h, 0, sizeof *h);
  h->bundle = bundle;
  h->clips = clips;
  const vdit_bundle_config *c = &bundle->config;
  const size_t clip = (size_t)(3 * c->frames * c->height * c->width);
  h->x0 = malloc((size_t)clips * clip * sizeof *h->x0);
  h->noise = malloc((size_t)clips * clip * sizeof *h->noise);
  h->tokens = calloc((size_t)(clips * c->text_length), sizeof *h->tokens);
  if (!h->x0 || !h->noise || !h->tokens) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "shield: no memory for %" PRId64 " clips", clips);
  vdit_world_source *world = NULL;
  vdit_train_source source;
  VDIT_TRY(vdit_world_source_create(data_seed, &world, &source));
  vdit_status status = source.fill(source.user, VDIT_TRAIN_HELD_OUT_INDEX, clips, h->x0, h->tokens, c);
  vdit_world_source_free(world);
  VDIT_TRY(status);
  vdit_rng_normal(HELD_OUT_NOISE_SEED, 0, (size_t)clips * clip, h->noise);
  const int64_t video_shape[5] = {2, 3, c->frames, c->height, c->width};
  const int64_t context_shape[3] = {2, c->text_length, c->model.text_dim}, batch_shape[1] = {2};
  VDIT_TRY(vdit_tensor_alloc(&h->video, VDIT_DTYPE_F32, VDIT_CPU, 5, video_shape));
  VDIT_TRY(vdit_tensor_alloc(&h->output, VDIT_DTYPE_F32, VDIT_CPU, 5, video_shape));
  VDIT_TRY(vdit_tensor_alloc(&h->context, VDIT_DTYPE_F32, VDIT_CPU, 3, context_shape));
  return vdit_tensor_alloc(&h->timesteps, VDIT_DTYPE_F32, VDIT_CPU, 1, batch_shape);
}

static void held_out_free(held_out_workload *h) {
  free(h->x0);
  free(h->noise);
  free(h->tokens);
  vdit_tensor_free(&h->video);
  vdit_tensor_free(&h->output);
  vdit_tensor_free(&h->context);
  vdit_tensor_free(&h->timesteps);
}

static double mean_loss(const vdit_tensor *losses) {
  double sum = 0;
  for (int k = 0; k < BUCKETS; k++) sum += ((const float *)losses->data)[k];
  return sum / BUCKETS;
}

typedef struct bundle_run {
  vdit_sim_policy policy;
  double relaxed_us;              // sweep points: the swept value; < 0 for the --policy runs
  double kind_us[VDIT_SHIELD_KIND_COUNT];    // per-kind mantissa intervals (< 0: the policy's)
  double kind_guard[VDIT_SHIELD_KIND_COUNT]; // per-kind bin guards (< 0: the policy's)
  vdit_sim_policy by_kind[VDIT_SHIELD_KIND_COUNT]; // the policy each kind ran
  vdit_shield_result clip, held;  // the clip and the held-out workload
  double loss, loss_change_pct, max_bucket_change_pct;
} bundle_run;

static void print_json_run(const bundle_run *r, const shield_model_flags *flags, double standard_pj) {
  shield_print_policy_json(&r->policy, &r->clip, standard_pj);
  shield_print_kind_json(r->kind_us, r->kind_guard);
  shield_print_kind_layout_json(&r->policy, r->by_kind);
  if (r->relaxed_us >= 0) {
    printf(", ");
    shield_sweep_print_json(flags, r->relaxed_us);
  }
  printf(", \"clip\": {\"psnr_db\": ");
  shield_print_number(r->clip.output_psnr_db);
  printf(", \"rel_l1\": ");
  shield_print_number(r->clip.output_rel_l1);
  printf(", \"passes\": %" PRId64 "}, \"held_out\": {\"loss\": ", r->clip.passes);
  shield_print_number(r->loss);
  printf(", \"change_pct\": ");
  shield_print_number(r->loss_change_pct);
  printf(", \"max_bucket_change_pct\": ");
  shield_print_number(r->max_bucket_change_pct);
  printf(", \"passes\": %" PRId64 ", \"failed_bits\": {\"sign_exponent\": %llu, \"mantissa\": %llu}}}", r->held.passes,
         (unsigned long long)r->held.report.failed_bits[0], (unsigned long long)r->held.report.failed_bits[1]);
}

int shield_bundle_main(const shield_bundle_flags *b, const shield_model_flags *flags, const vdit_sim_policy *policies,
                       int count, const vdit_sim_retention *retention, const vdit_sim_energy_model *energy) {
  const char *hint = "see 'vdit shield --help'";
  if (strcmp(flags->clock, "model") != 0) return cli_usage_error("shield", hint, "--bundle times ops with the cost model only (--clock model)");
  if (b->steps < 0 || b->steps > 1000) return cli_usage_error("shield", hint, "--steps must be in 0..1000 (0: the bundle's default)");
  if (b->eval_clips < 2 || b->eval_clips > 256 || b->eval_clips % 2)
    return cli_usage_error("shield", hint, "--eval-clips must be even, in 2..256 (clip pairs run as batch 2)");
  if (b->seed < 0 || b->data_seed < 0) return cli_usage_error("shield", hint, "--seed and --data-seed must be >= 0");
  if (flags->kv_steps < 0 || !(flags->bandwidth_gbs > 0)) return cli_usage_error("shield", hint, "--kv-steps must be >= 0 and --bandwidth-gbs > 0");
  double sweep[64];
  int sweep_count = 0;
  if (flags->sweep) {
    sweep_count = shield_parse_list(flags->sweep, sweep, 64);
    if (sweep_count <= 0) return cli_usage_error("shield", hint, "--sweep must be a list of intervals in us like 100,200,400, got '%s'", flags->sweep);
  }
  int bad = shield_sweep_check(flags, sweep, sweep_count);
  if (bad >= 0) return bad;
  if (flags->svg && !flags->sweep) return cli_usage_error("shield", hint, "--svg plots the --sweep; give --sweep too");
  vdit_shield_timing timing = vdit_shield_timing_default();
  timing.tops = flags->tops;
  timing.bandwidth_gbs = flags->bandwidth_gbs;
  timing.kv_steps = flags->kv_steps;
  timing.per_sample = flags->per_sample;

  vdit_bundle bundle;
  memset(&bundle, 0, sizeof bundle);
  vdit_status status = vdit_bundle_load(b->path, &bundle);
  if (status != VDIT_OK) return cli_report_failure("shield", status);
  const vdit_bundle_config *c = &bundle.config;
  generate_workload gen = {.bundle = &bundle};
  vdit_generate_options_default(&gen.options);
  gen.options.prompt = b->prompt;
  gen.options.seed = (uint64_t)b->seed;
  gen.options.steps = b->steps;
  gen.options.cfg = b->cfg;
  const int64_t steps = b->steps > 0 ? b->steps : c->sample_steps;
  const double cfg = b->cfg >= 0 ? b->cfg : c->sample_cfg;
  held_out_workload held;
  const int64_t clip_shape[4] = {3, c->frames, c->height, c->width}, loss_shape[1] = {BUCKETS};
  vdit_tensor clip_ref = {0}, clip_out = {0}, loss_ref = {0}, loss_out = {0};
  vdit_shield_trace clip_trace = {0}, held_trace = {0};
  bundle_run *runs = calloc((size_t)(count + sweep_count), sizeof *runs);
  if (!runs) status = VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "shield: no memory");
  if (status == VDIT_OK) status = held_out_setup(&bundle, b->eval_clips, (uint64_t)b->data_seed, &held);
  if (status == VDIT_OK) status = vdit_tensor_alloc(&clip_ref, VDIT_DTYPE_F32, VDIT_CPU, 4, clip_shape);
  if (status == VDIT_OK) status = vdit_tensor_alloc(&clip_out, VDIT_DTYPE_F32, VDIT_CPU, 4, clip_shape);
  if (status == VDIT_OK) status = vdit_tensor_alloc(&loss_ref, VDIT_DTYPE_F32, VDIT_CPU, 1, loss_shape);
  if (status == VDIT_OK) status = vdit_tensor_alloc(&loss_out, VDIT_DTYPE_F32, VDIT_CPU, 1, loss_shape);
  const double start = vdit_time_seconds();
  if (status == VDIT_OK) status = vdit_shield_trace_record(&c->model, &timing, run_generate, &gen, &clip_ref, &clip_trace);
  const double generate_s = vdit_time_seconds() - start;
  if (status == VDIT_OK) status = vdit_shield_trace_record(&c->model, &timing, run_held_out, &held, &loss_ref, &held_trace);
  const double reference_loss = status == VDIT_OK ? mean_loss(&loss_ref) : NAN;
  // --fp32-floor: the same generation with nothing rounded to bf16, against the bf16 reference:
  // how far the sampler carries the bf16 rounding alone (context for the PSNR threshold)
  double fp32_psnr = NAN, fp32_rel_l1 = NAN;
  if (status == VDIT_OK && b->fp32_floor) {
    const vdit_model_run_options no_hooks = {0};
    status = run_generate(&gen, &no_hooks, &clip_out);
    fp32_psnr = vdit_shield_psnr_db(&clip_ref, &clip_out);
    fp32_rel_l1 = vdit_shield_rel_l1(&clip_ref, &clip_out);
  }
  vdit_sim_report standard_report;
  memset(&standard_report, 0, sizeof standard_report);
  const vdit_sim_policy standard = vdit_sim_policy_standard(flags->t_ref_us * 1e-6);
  if (status == VDIT_OK) status = vdit_shield_trace_energy(&clip_trace, &standard, energy, &standard_report);
  const double standard_pj = vdit_sim_report_refresh_pj(&standard_report);
  for (int p = 0; p < count + sweep_count && status == VDIT_OK; p++) {
    bundle_run *r = &runs[p];
    r->relaxed_us = p < count ? -1 : sweep[p - count];
    r->policy = p < count ? policies[p] : shield_sweep_policy(flags, sweep[p - count]);
    shield_sweep_kinds(flags, p < count ? NAN : sweep[p - count], r->kind_us, r->kind_guard);
    if (p < count) {
      memcpy(r->kind_us, flags->kind_mantissa_us, sizeof r->kind_us);
      memcpy(r->kind_guard, flags->kind_bin_guard, sizeof r->kind_guard);
    }
    vdit_sim_policy *by_kind = r->by_kind;
    shield_kind_policies(&r->policy, r->kind_us, r->kind_guard, by_kind);
    shield_kind_layouts(flags, p < count ? NAN : sweep[p - count], by_kind);
    const vdit_sim_policy *const kinds[VDIT_SHIELD_KIND_COUNT] = {&by_kind[0], &by_kind[1], &by_kind[2], &by_kind[3]};
    status = vdit_shield_run_kinds(&clip_trace, retention, kinds, energy, run_generate, &gen, &clip_ref, &clip_out, &r->clip);
    if (status == VDIT_OK)
      status = vdit_shield_run_kinds(&held_trace, retention, kinds, energy, run_held_out, &held, &loss_ref, &loss_out, &r->held);
    if (status != VDIT_OK) break;
    r->loss = mean_loss(&loss_out);
    r->loss_change_pct = 100 * (r->loss - reference_loss) / reference_loss;
    for (int k = 0; k < BUCKETS; k++) {
      const double ref = ((const float *)loss_ref.data)[k], x = ((const float *)loss_out.data)[k];
      r->max_bucket_change_pct = fmax(r->max_bucket_change_pct, fabs(100 * (x - ref) / ref));
    }
  }
  if (status == VDIT_OK && flags->svg) {
    double x[64], y[64];
    char label_text[64][32];
    const char *labels[64];
    for (int i = 0; i < sweep_count; i++) {
      x[i] = 100 * shield_saving(&runs[count + i].clip, standard_pj);
      y[i] = runs[count + i].clip.output_psnr_db;
      snprintf(label_text[i], sizeof label_text[i], "%g us", sweep[i]);
      labels[i] = label_text[i];
    }
    char caption[240];
    snprintf(caption, sizeof caption, "%.60s, \"%.40s\", seed %" PRId64 ", %" PRId64 " steps, t_REF %g us; points: relaxed K/V mantissa interval",
             b->path, b->prompt, b->seed, steps, flags->t_ref_us);
    svg_plot plot = {"SHIELD on a generated clip: refresh energy vs clip quality", "refresh energy saved vs standard (%)",
                     "clip PSNR vs error-free generation (dB)", (size_t)sweep_count, x, y, labels, caption};
    status = svg_plot_write(flags->svg, &plot);
  }
  if (status == VDIT_OK) {
    double q = 0, kv_max = 0;
    for (int64_t n = 0; n < clip_trace.layers; n++) {
      const vdit_sim_tensor *t = clip_trace.tensors + n * VDIT_SHIELD_KIND_COUNT;
      q += (t[VDIT_SHIELD_Q].t_read_s - t[VDIT_SHIELD_Q].t_write_s) / (double)clip_trace.layers;
      kv_max = fmax(kv_max, t[VDIT_SHIELD_K].t_read_s - t[VDIT_SHIELD_K].t_write_s);
    }
    if (flags->json) {
      printf("{\"mode\": \"bundle\", \"bundle\": ");
      cli_print_json_string(b->path);
      printf(", \"prompt\": ");
      cli_print_json_string(b->prompt);
      printf(", \"seed\": %" PRId64 ", \"steps\": %" PRId64 ", \"cfg\": %g, \"clip\": [3, %" PRId64 ", %" PRId64 ", %" PRId64
             "], \"timing\": {\"clock\": \"model\", \"tops\": %g, \"bandwidth_gbs\": %g, \"kv_steps\": %" PRId64
             ", \"per_sample\": %s, \"step_us\": %.6g, \"q_lifetime_us_mean\": %.6g, \"kv_lifetime_us_max\": %.6g}, \"cpu_generate_s\": %.4g, ",
             b->seed, steps, cfg, c->frames, c->height, c->width, timing.tops, timing.bandwidth_gbs, timing.kv_steps,
             timing.per_sample ? "true" : "false", clip_trace.step_s * 1e6, q * 1e6, kv_max * 1e6, generate_s);
      printf("\"held_out\": {\"clips\": %" PRId64 ", \"data_seed\": %" PRId64 ", \"noise_seed\": %llu, \"loss\": %.6g, "
             "\"loss_by_bucket\": [",
             b->eval_clips, b->data_seed, (unsigned long long)HELD_OUT_NOISE_SEED, reference_loss);
      for (int k = 0; k < BUCKETS; k++) printf("%s%.6g", k ? ", " : "", ((const float *)loss_ref.data)[k]);
      printf("]}, ");
      if (b->fp32_floor) {
        printf("\"fp32_vs_bf16\": {\"psnr_db\": ");
        shield_print_number(fp32_psnr);
        printf(", \"rel_l1\": ");
        shield_print_number(fp32_rel_l1);
        printf("}, ");
      }
      printf("\"retention\": {\"median_us\": %.6g, \"sigma\": %g, \"temperature_c\": %g, \"vrt_fraction\": %g, "
             "\"array_seed\": %llu, \"alternate_block_words\": %llu}, \"t_ref_us\": %g, \"standard_refresh_pj_per_pass\": %.6g, \"policies\": [",
             retention->median_s * 1e6, retention->sigma, retention->temperature_c, retention->vrt_fraction,
             (unsigned long long)retention->seed, (unsigned long long)retention->alternate_block_words, flags->t_ref_us, standard_pj);
      for (int p = 0; p < count; p++) {
        if (p) printf(", ");
        print_json_run(&runs[p], flags, standard_pj);
      }
      printf("], \"sweep\": [");
      for (int i = 0; i < sweep_count; i++) {
        if (i) printf(", ");
        print_json_run(&runs[count + i], flags, standard_pj);
      }
      printf("]}\n");
    } else {
      printf("vdit shield: bundle %s, \"%s\", seed %" PRId64 ", %" PRId64 " steps, cfg %g; CPU generation %.1f s\n", b->path,
             b->prompt, b->seed, steps, cfg, generate_s);
      printf("timing: cost model at %g TOPS, %g GB/s%s: step %.4g us; Q lives %.3g us (mean), K, V up to %.3g us%s\n",
             timing.tops, timing.bandwidth_gbs, timing.per_sample ? ", one sample per pass" : "", clip_trace.step_s * 1e6,
             q * 1e6, kv_max * 1e6, timing.kv_steps == 0 ? " (to their last read)" : "");
      printf("held-out: %" PRId64 " world clips x %d t buckets, velocity MSE %.6g; t_REF %g us\n", b->eval_clips,
             BUCKETS, reference_loss, flags->t_ref_us);
      if (b->fp32_floor)
        printf("fp32 generation (no bf16 rounding) vs the bf16 reference: PSNR %.2f dB, rel L1 %.3g\n", fp32_psnr,
               fp32_rel_l1);
      printf("\n");
      printf("%-14s %8s %15s %12s %9s %11s %10s\n", "policy", "saving", "failed_sign_exp", "failed_mant", "PSNR_dB",
             "clip_rel_l1", "loss_chg%");
      for (int p = 0; p < count + sweep_count; p++) {
        const bundle_run *r = &runs[p];
        char name[32];
        if (r->relaxed_us >= 0) shield_sweep_name(flags, r->relaxed_us, name, sizeof name);
        else snprintf(name, sizeof name, "%s", vdit_sim_policy_name(r->policy.kind));
        printf("%-14s %7.2f%% %15llu %12llu %9.2f %11.3g %10.4f\n", name, 100 * shield_saving(&r->clip, standard_pj),
               (unsigned long long)r->clip.report.failed_bits[0], (unsigned long long)r->clip.report.failed_bits[1],
               r->clip.output_psnr_db, r->clip.output_rel_l1, r->loss_change_pct);
      }
      if (flags->svg) printf("\nwrote %s\n", flags->svg);
    }
  }
  vdit_shield_trace_free(&clip_trace);
  vdit_shield_trace_free(&held_trace);
  vdit_tensor_free(&clip_ref);
  vdit_tensor_free(&clip_out);
  vdit_tensor_free(&loss_ref);
  vdit_tensor_free(&loss_out);
  if (runs) held_out_free(&held);
  free(runs);
  vdit_bundle_free(&bundle);
  if (status != VDIT_OK) return cli_report_failure("shield", status);
  return CLI_EXIT_OK;
}
