// vdit bench model: one forward step of a Wan2.1 preset on a GPU with random bf16 weights
// (Philox), timed with CUDA events (median of --reps after --warmup), its peak GPU memory
// (cudaMemGetInfo: free memory before the weights minus free memory after the runs, with the
// stream-ordered pool kept at its high-water mark), and the split of the step into GEMMs,
// attention and the rest: the step's GEMMs and attention calls are replayed alone at the
// model's shapes (one block's worth, times the layers) and timed the same way; the rest is
// the step time minus both (norms, modulation, RoPE, residuals, embeddings, the head and the
// small embedding/head GEMMs). --save DIR writes the weights (diffusers names), the inputs,
// our output and a diffusers config.json so bench/model_peer.py can run diffusers on the same
// numbers.
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/gpu_timer.h"
#include "commands.h"
#include "vdit/vdit.h"

#ifdef VDIT_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

typedef struct model_flags {
  const char *config, *save, *attn;
  int64_t batch, frames, height, width, text_tokens, reps, warmup, seed, timestep;
  int json, no_split, profile;
} model_flags;

#ifdef VDIT_HAVE_CUDA
static int compare_doubles(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median_of(double *v, int64_t n) {
  qsort(v, (size_t)n, sizeof *v, compare_doubles);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Every parameter from Philox, rounded to bf16 (so a bf16 peer holds the same values):
// Linear weights N(0, 1/fan_in), biases N(0, 0.02^2), norm weights 1 + N(0, 0.1^2),
// scale_shift_tables N(0, 1/D).
static vdit_status fill_weights(vdit_model_weights *w, uint64_t seed) {
  const size_t count = vdit_model_parameter_count(&w->config);
  uint64_t offset = 0;
  for (size_t p = 0; p < count; p++) {
    char name[256];
    vdit_tensor *t;
    VDIT_TRY(vdit_model_parameter(w, p, VDIT_MODEL_NAMING_DIFFUSERS, name, sizeof name, &t));
    const int64_t n = vdit_tensor_numel(t);
    double mean = 0, std;
    if (strstr(name, "scale_shift_table")) std = 1.0 / sqrt((double)w->config.dim);
    else if (strstr(name, "norm")) mean = strstr(name, ".bias") ? 0.0 : 1.0, std = strstr(name, ".bias") ? 0.02 : 0.1;
    else if (t->ndim == 1) std = 0.02;
    else std = 1.0 / sqrt((double)(n / t->shape[0]));
    vdit_tensor f32, low;
    VDIT_TRY(vdit_tensor_alloc(&f32, VDIT_DTYPE_F32, w->device, t->ndim, t->shape));
    vdit_status status = vdit_tensor_alloc(&low, VDIT_DTYPE_BF16, w->device, t->ndim, t->shape);
    if (status == VDIT_OK) status = vdit_tensor_fill_normal(&f32, seed, offset, mean, std);
    if (status == VDIT_OK) status = vdit_tensor_convert(&low, &f32);
    if (status == VDIT_OK) status = vdit_tensor_convert(t, &low);
    vdit_tensor_free(&f32);
    vdit_tensor_free(&low);
    VDIT_TRY(status);
    offset += (uint64_t)n;
  }
  return VDIT_OK;
}

// A bf16 GPU tensor of N(0, 1) values.
static vdit_status random_bf16(vdit_tensor *t, int ndim, const int64_t *shape, uint64_t seed) {
  vdit_tensor f32;
  VDIT_TRY(vdit_tensor_alloc(t, VDIT_DTYPE_BF16, VDIT_CUDA(0), ndim, shape));
  VDIT_TRY(vdit_tensor_alloc(&f32, VDIT_DTYPE_F32, VDIT_CUDA(0), ndim, shape));
  vdit_status status = vdit_tensor_fill_normal(&f32, seed, 0, 0.0, 1.0);
  if (status == VDIT_OK) status = vdit_tensor_convert(t, &f32);
  vdit_tensor_free(&f32);
  return status;
}

typedef struct split_times {
  double gemm_ms, attention_ms; // per step (one block's replay times the layers)
  double self_attention_ms, self_attention_bhsd_ms; // one self-attention call, (B, S, H, D) and (B, H, S, D)
  double call_ms[4]; // one call each: D x D Linear, FFN in (bias + GELU epilogue), FFN in (bias only), FFN out
} split_times;
static const char *const gemm_call_names[4] = {"linear_d_d", "ffn_in_gelu", "ffn_in_bias_only", "ffn_out"};

// (B, S, H * d) tensors seen as (B, S, H, d) (bhsd 0), or as (B, H, S, d) (bhsd 1: the same
// memory read in the other layout, for timing only).
static vdit_status attention(const vdit_attn_method_config *method, const vdit_tensor *q, const vdit_tensor *k,
                             const vdit_tensor *v, vdit_tensor *o, vdit_tensor *lse, int64_t heads, int bhsd) {
  vdit_attn_config config;
  memset(&config, 0, sizeof config);
  vdit_attn_config_set_method(&config, method);
  config.layout = bhsd ? VDIT_ATTN_LAYOUT_BHSD : VDIT_ATTN_LAYOUT_BSHD;
  vdit_tensor qh = *q, kh = *k, vh = *v, oh = *o;
  vdit_tensor *all[] = {&qh, &kh, &vh, &oh};
  for (int i = 0; i < 4; i++) {
    vdit_tensor *t = all[i];
    const int64_t D = t->shape[2];
    const int64_t shape[4] = {t->shape[0], bhsd ? heads : t->shape[1], bhsd ? t->shape[1] : heads, D / heads};
    VDIT_TRY(vdit_tensor_reshape(t, 4, shape, t));
  }
  vdit_attn_plan *plan = NULL;
  VDIT_TRY(vdit_attn_plan_create(&plan, &config, &qh, &kh, &vh));
  vdit_status status = vdit_attn_forward(plan, &qh, &kh, &vh, &oh, lse);
  vdit_attn_plan_free(plan);
  return status;
}

// The block's GEMMs and attention calls alone, at the step's shapes, with block 0's weights
// and block 0's self-attention method (cross-attention is dense, as in the model).
static vdit_status replay_split(const vdit_model_weights *w, const vdit_attn_method_config *self_method, int64_t B,
                                int64_t L, int64_t S, int64_t reps, vdit_gpu_timer *timer, split_times *out) {
  const vdit_attn_method_config dense = vdit_attn_method_defaults(VDIT_ATTN_DENSE);
  const vdit_model_config *cfg = &w->config;
  const vdit_model_block_weights *bw = &w->blocks[0];
  const int64_t D = cfg->dim;
  vdit_tensor x, y, q, k, v, h, ctx, k2, v2, lse;
  memset(out, 0, sizeof *out);
  VDIT_TRY(random_bf16(&x, 3, (int64_t[]){B, L, D}, 11));
  VDIT_TRY(random_bf16(&ctx, 3, (int64_t[]){B, S, D}, 12));
  VDIT_TRY(vdit_tensor_alloc(&y, VDIT_DTYPE_BF16, VDIT_CUDA(0), 3, (int64_t[]){B, L, D}));
  VDIT_TRY(random_bf16(&q, 3, (int64_t[]){B, L, D}, 13));
  VDIT_TRY(random_bf16(&k, 3, (int64_t[]){B, L, D}, 14));
  VDIT_TRY(random_bf16(&v, 3, (int64_t[]){B, L, D}, 15));
  VDIT_TRY(vdit_tensor_alloc(&h, VDIT_DTYPE_BF16, VDIT_CUDA(0), 3, (int64_t[]){B, L, cfg->ffn_dim}));
  VDIT_TRY(random_bf16(&k2, 3, (int64_t[]){B, S, D}, 16));
  VDIT_TRY(random_bf16(&v2, 3, (int64_t[]){B, S, D}, 17));
  VDIT_TRY(vdit_tensor_alloc(&lse, VDIT_DTYPE_F32, VDIT_CUDA(0), 3, (int64_t[]){B, cfg->heads, L}));
  double *calls = calloc((size_t)reps * 4, sizeof *calls);
  double *gemm = calloc((size_t)reps, sizeof *gemm), *attn = calloc((size_t)reps, sizeof *attn),
         *self_bshd = calloc((size_t)reps, sizeof *self_bshd), *self_bhsd = calloc((size_t)reps, sizeof *self_bhsd);
  vdit_status status =
      calls && gemm && attn && self_bshd && self_bhsd ? VDIT_OK : VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "bench model: no memory");
  for (int64_t r = -1; status == VDIT_OK && r < reps; r++) { // r = -1: warm-up
    double seconds = 0;
    status = vdit_gpu_timer_start(timer);
    const vdit_model_linear *self[] = {&bw->self_q, &bw->self_k, &bw->self_v, &bw->self_out, &bw->cross_q,
                                       &bw->cross_out};
    for (size_t i = 0; status == VDIT_OK && i < 6; i++)
      status = vdit_ops_linear_forward(&x, &self[i]->weight, &self[i]->bias, &y);
    if (status == VDIT_OK) status = vdit_ops_linear_forward(&ctx, &bw->cross_k.weight, &bw->cross_k.bias, &k2);
    if (status == VDIT_OK) status = vdit_ops_linear_forward(&ctx, &bw->cross_v.weight, &bw->cross_v.bias, &v2);
    if (status == VDIT_OK) status = vdit_ops_linear_gelu_forward(&x, &bw->ffn_in.weight, &bw->ffn_in.bias, NULL, &h);
    if (status == VDIT_OK) status = vdit_ops_linear_forward(&h, &bw->ffn_out.weight, &bw->ffn_out.bias, &y);
    if (status == VDIT_OK) status = vdit_gpu_timer_stop(timer, &seconds);
    if (r >= 0) gemm[r] = seconds * 1e3;
    if (status == VDIT_OK) status = vdit_gpu_timer_start(timer);
    if (status == VDIT_OK) status = attention(self_method, &q, &k, &v, &y, &lse, cfg->heads, 0);
    if (status == VDIT_OK) status = attention(&dense, &q, &k2, &v2, &y, &lse, cfg->heads, 0);
    if (status == VDIT_OK) status = vdit_gpu_timer_stop(timer, &seconds);
    if (r >= 0) attn[r] = seconds * 1e3;
    for (int c = 0; c < 4; c++) {
      if (status == VDIT_OK) status = vdit_gpu_timer_start(timer);
      if (status == VDIT_OK) {
        if (c == 0) status = vdit_ops_linear_forward(&x, &bw->self_q.weight, &bw->self_q.bias, &y);
        else if (c == 1) status = vdit_ops_linear_gelu_forward(&x, &bw->ffn_in.weight, &bw->ffn_in.bias, NULL, &h);
        else if (c == 2) status = vdit_ops_linear_forward(&x, &bw->ffn_in.weight, &bw->ffn_in.bias, &h);
        else status = vdit_ops_linear_forward(&h, &bw->ffn_out.weight, &bw->ffn_out.bias, &y);
      }
      if (status == VDIT_OK) status = vdit_gpu_timer_stop(timer, &seconds);
      if (r >= 0) calls[c * reps + r] = seconds * 1e3;
    }
    for (int bhsd = 0; bhsd < 2; bhsd++) {
      if (status == VDIT_OK) status = vdit_gpu_timer_start(timer);
      if (status == VDIT_OK) status = attention(self_method, &q, &k, &v, &y, &lse, cfg->heads, bhsd);
      if (status == VDIT_OK) status = vdit_gpu_timer_stop(timer, &seconds);
      if (r >= 0) (bhsd ? self_bhsd : self_bshd)[r] = seconds * 1e3;
    }
  }
  if (status == VDIT_OK) {
    out->gemm_ms = median_of(gemm, reps) * (double)cfg->layers;
    out->attention_ms = median_of(attn, reps) * (double)cfg->layers;
    out->self_attention_ms = median_of(self_bshd, reps);
    out->self_attention_bhsd_ms = median_of(self_bhsd, reps);
    for (int c = 0; c < 4; c++) out->call_ms[c] = median_of(calls + c * reps, reps);
  }
  free(calls);
  free(gemm);
  free(attn);
  free(self_bshd);
  free(self_bhsd);
  vdit_tensor *all[] = {&x, &y, &q, &k, &v, &h, &ctx, &k2, &v2, &lse};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) vdit_tensor_free(all[i]);
  return status;
}

// DIR/config.json (diffusers), DIR/diffusion_pytorch_model.safetensors, DIR/inputs.safetensors,
// DIR/output.safetensors.
static vdit_status save_all(const char *dir, const vdit_model_weights *w, const vdit_tensor *video,
                            const vdit_tensor *timesteps, const vdit_tensor *context, const vdit_tensor *output) {
  mkdir(dir, 0755);
  char path[1200];
  const vdit_model_config *c = &w->config;
  snprintf(path, sizeof path, "%s/config.json", dir);
  FILE *f = fopen(path, "w");
  if (!f) return VDIT_ERROR(VDIT_ERROR_IO, "bench model: cannot write %s", path);
  fprintf(f,
          "{\"_class_name\": \"WanTransformer3DModel\", \"added_kv_proj_dim\": null, \"attention_head_dim\": %" PRId64
          ", \"cross_attn_norm\": true, \"eps\": 1e-06, \"ffn_dim\": %" PRId64 ", \"freq_dim\": %" PRId64
          ", \"image_dim\": null, \"in_channels\": %" PRId64 ", \"num_attention_heads\": %" PRId64
          ", \"num_layers\": %" PRId64 ", \"out_channels\": %" PRId64 ", \"patch_size\": [%" PRId64 ", %" PRId64
          ", %" PRId64 "], \"pos_embed_seq_len\": null, \"qk_norm\": \"rms_norm_across_heads\", "
          "\"rope_max_seq_len\": 1024, \"text_dim\": %" PRId64 "}\n",
          c->head_dim, c->ffn_dim, c->freq_dim, c->in_channels, c->heads, c->layers, c->out_channels, c->patch[0],
          c->patch[1], c->patch[2], c->text_dim);
  fclose(f);
  const size_t count = vdit_model_parameter_count(c);
  char(*names)[160] = calloc(count, sizeof *names);
  const char **name_list = calloc(count, sizeof *name_list);
  vdit_tensor *host = calloc(count, sizeof *host);
  vdit_status status = names && name_list && host ? VDIT_OK : VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "bench model: no memory");
  for (size_t p = 0; status == VDIT_OK && p < count; p++) {
    vdit_tensor *t;
    status = vdit_model_parameter(w, p, VDIT_MODEL_NAMING_DIFFUSERS, names[p], sizeof names[p], &t);
    name_list[p] = names[p];
    if (status == VDIT_OK) status = vdit_tensor_alloc(&host[p], t->dtype, VDIT_CPU, t->ndim, t->shape);
    if (status == VDIT_OK) status = vdit_tensor_convert(&host[p], t);
  }
  snprintf(path, sizeof path, "%s/diffusion_pytorch_model.safetensors", dir);
  if (status == VDIT_OK) status = vdit_safetensors_write(path, count, name_list, host, 0, NULL, NULL);
  for (size_t p = 0; host && p < count; p++) vdit_tensor_free(&host[p]);
  free(names);
  free(name_list);
  free(host);
  VDIT_TRY(status);
  const vdit_tensor *in[] = {video, timesteps, context, output};
  const char *in_names[] = {"hidden_states", "timestep", "encoder_hidden_states", "output"};
  vdit_tensor h[4];
  memset(h, 0, sizeof h);
  for (int i = 0; status == VDIT_OK && i < 4; i++) {
    status = vdit_tensor_alloc(&h[i], in[i]->dtype, VDIT_CPU, in[i]->ndim, in[i]->shape);
    if (status == VDIT_OK) status = vdit_tensor_convert(&h[i], in[i]);
  }
  snprintf(path, sizeof path, "%s/inputs.safetensors", dir);
  if (status == VDIT_OK) status = vdit_safetensors_write(path, 3, in_names, h, 0, NULL, NULL);
  snprintf(path, sizeof path, "%s/output.safetensors", dir);
  if (status == VDIT_OK) status = vdit_safetensors_write(path, 1, in_names + 3, h + 3, 0, NULL, NULL);
  for (int i = 0; i < 4; i++) vdit_tensor_free(&h[i]);
  return status;
}

// --profile: an observer that records a CUDA event at every named activation of one step, so
// the time between two names (what the model computed in between) can be summed per segment
// over the blocks ("blocks.3.attn1" -> "attn1": from the previous name to the self-attention
// output projection).
#define PROFILE_MAX_EVENTS 1024
typedef struct profile {
  int count;
  cudaEvent_t events[PROFILE_MAX_EVENTS];
  char names[PROFILE_MAX_EVENTS][48];
} profile;

static vdit_status profile_observe(void *user, const char *name, const vdit_tensor *tensor) {
  (void)tensor;
  profile *p = user;
  if (p->count >= PROFILE_MAX_EVENTS) return VDIT_OK;
  const char *segment = name;
  if (strncmp(name, "blocks.", 7) == 0) { // drop the block index
    const char *dot = strchr(name + 7, '.');
    if (dot) segment = dot + 1;
  }
  snprintf(p->names[p->count], sizeof p->names[0], "%s", segment);
  cudaEventRecord(p->events[p->count], 0);
  p->count++;
  return VDIT_OK;
}

// One profiled step; prints each segment's total over the step (JSON object when json).
static vdit_status run_profile(const vdit_model_weights *w, const vdit_tensor *video, const vdit_tensor *timesteps,
                               const vdit_tensor *context, vdit_tensor *output, vdit_model_state *state,
                               const vdit_attn_method_config *methods, int json) {
  profile *p = calloc(1, sizeof *p);
  if (!p) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "bench model: no memory");
  for (int i = 0; i < PROFILE_MAX_EVENTS; i++) cudaEventCreate(&p->events[i]);
  cudaEvent_t start;
  cudaEventCreate(&start);
  vdit_model_run_options run = {.self_attn = methods, .observe = profile_observe, .observe_user = p, .no_grad = 1};
  cudaEventRecord(start, 0);
  vdit_status status = vdit_model_forward(w, &run, video, timesteps, context, output, state);
  if (status == VDIT_OK) status = vdit_device_synchronize(VDIT_CUDA(0));
  char seen[64][48];
  double total[64];
  int segments = 0;
  for (int i = 0; status == VDIT_OK && i < p->count; i++) {
    float ms = 0;
    cudaEventElapsedTime(&ms, i ? p->events[i - 1] : start, p->events[i]);
    int k = 0;
    while (k < segments && strcmp(seen[k], p->names[i]) != 0) k++;
    if (k == segments && segments < 64) {
      snprintf(seen[segments], sizeof seen[0], "%s", p->names[i]);
      total[segments++] = 0;
    }
    if (k < 64) total[k] += ms;
  }
  if (status == VDIT_OK) {
    printf(json ? "{\"profile_ms\": {" : "profile (ms per step, from the previous named activation to this one):\n");
    for (int k = 0; k < segments; k++) {
      if (json) printf("%s\"%s\": %.3f", k ? ", " : "", seen[k], total[k]);
      else printf("  %-20s %9.3f\n", seen[k], total[k]);
    }
    if (json) printf("}}\n");
  }
  for (int i = 0; i < PROFILE_MAX_EVENTS; i++) cudaEventDestroy(p->events[i]);
  cudaEventDestroy(start);
  free(p);
  return status;
}

#endif // VDIT_HAVE_CUDA

int cli_bench_model(int argc, char **argv) {
  static const cli_command command = {"bench model", NULL, "vdit bench model [options]", NULL};
  model_flags f = {"wan2.1-1.3b", NULL, "dense", 1, 81, 480, 832, 512, 10, 3, 1, 500, 0, 0, 0};
  const cli_option options[] = {
      {"config", CLI_STRING, &f.config, "NAME", "model preset: wan2.1-1.3b or wan2.1-14b (default wan2.1-1.3b)"},
      {"batch", CLI_INT, &f.batch, "B", "batch (default 1)"},
      {"frames", CLI_INT, &f.frames, "N", "video frames (default 81: 21 latent frames)"},
      {"height", CLI_INT, &f.height, "PX", "video height in pixels (default 480: 60 latent rows)"},
      {"width", CLI_INT, &f.width, "PX", "video width in pixels (default 832: 104 latent columns)"},
      {"text-tokens", CLI_INT, &f.text_tokens, "N", "text tokens (default 512)"},
      {"reps", CLI_INT, &f.reps, "N", "timed steps, median reported (default 10)"},
      {"warmup", CLI_INT, &f.warmup, "N", "untimed steps first (default 3)"},
      {"seed", CLI_INT, &f.seed, "N", "Philox seed of the weights and inputs (default 1)"},
      {"timestep", CLI_INT, &f.timestep, "T", "diffusion timestep (default 500)"},
      {"attn", CLI_STRING, &f.attn, "POLICY", "self-attention policy of step 0, e.g. 'sparge(topk=0.1)' or 'sage' (default dense; docs/model.md)"},
      {"save", CLI_STRING, &f.save, "DIR", "write weights, inputs, output and config.json for bench/model_peer.py"},
      {"no-split", CLI_FLAG, &f.no_split, NULL, "skip the GEMM / attention replay"},
      {"profile", CLI_FLAG, &f.profile, NULL, "only print the time between the named activations of one step"},
      {"json", CLI_FLAG, &f.json, NULL, "print one JSON object"},
  };
  const char *description =
      "Times one forward step of a Wan2.1 preset on the GPU with random bf16 weights: the VAE's\n"
      "latent of (frames - 1) / 4 + 1 frames at height / 8 x width / 8, 16 channels, patched\n"
      "(1, 2, 2). Reports the median step time, peak GPU memory and the split into GEMMs,\n"
      "attention and the rest.";
  int code = cli_parse(&command, description, options, (int)(sizeof options / sizeof options[0]), argc, argv, NULL, 0,
                       NULL);
  if (code >= 0) return code;
  if (f.reps < 1 || f.warmup < 0 || f.batch < 1 || f.frames < 1 || f.height < 8 || f.width < 8 || f.text_tokens < 1)
    return cli_usage_error("bench model", "see 'vdit bench model --help'", "sizes and --reps must be positive");
  vdit_model_attn_policy policy;
  if (vdit_model_attn_policy_load(f.attn, &policy) != VDIT_OK)
    return cli_usage_error("bench model", "see 'vdit bench model --help'", "%s", vdit_last_error());
  char policy_text[512];
  vdit_model_attn_policy_describe(&policy, policy_text, sizeof policy_text);
#ifndef VDIT_HAVE_CUDA
  return cli_usage_error("bench model", "build with CUDA", "this build has no CUDA backend");
#else
  vdit_model_config cfg;
  if (vdit_model_config_preset(f.config, &cfg) != VDIT_OK) return cli_report_failure("bench model", 1);
  if (vdit_model_attn_policy_check(&policy, cfg.layers) != VDIT_OK)
    return cli_usage_error("bench model", "see 'vdit bench model --help'", "%s", vdit_last_error());
  const int64_t B = f.batch, T = (f.frames - 1) / 4 + 1, Hl = f.height / 8, Wl = f.width / 8, S = f.text_tokens;
  const int64_t L = (T / cfg.patch[0]) * (Hl / cfg.patch[1]) * (Wl / cfg.patch[2]);
  vdit_status status = vdit_device_check(VDIT_CUDA(0));
  if (status != VDIT_OK) return cli_report_failure("bench model", status);
  cudaFree(0); // the context first, so the memory baseline excludes it
  cudaMemPool_t pool;
  uint64_t keep = UINT64_MAX;
  if (cudaDeviceGetDefaultMemPool(&pool, 0) == cudaSuccess)
    cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep);
  size_t free0 = 0, total = 0, free1 = 0;
  cudaMemGetInfo(&free0, &total);

  vdit_model_weights w;
  vdit_tensor video, timesteps, context, output;
  memset(&video, 0, sizeof video);
  memset(&timesteps, 0, sizeof timesteps);
  memset(&context, 0, sizeof context);
  memset(&output, 0, sizeof output);
  vdit_model_state *state = NULL;
  vdit_gpu_timer timer;
  memset(&timer, 0, sizeof timer);
  double *times = calloc((size_t)f.reps, sizeof *times);
  status = vdit_model_weights_alloc_on(&cfg, VDIT_CUDA(0), VDIT_DTYPE_BF16, &w);
  if (status == VDIT_OK) status = fill_weights(&w, (uint64_t)f.seed);
  if (status == VDIT_OK) status = random_bf16(&video, 5, (int64_t[]){B, cfg.in_channels, T, Hl, Wl}, (uint64_t)f.seed + 1);
  if (status == VDIT_OK) status = random_bf16(&context, 3, (int64_t[]){B, S, cfg.text_dim}, (uint64_t)f.seed + 2);
  if (status == VDIT_OK) status = vdit_tensor_alloc(&timesteps, VDIT_DTYPE_F32, VDIT_CUDA(0), 1, (int64_t[]){B});
  if (status == VDIT_OK) status = vdit_tensor_fill_uniform(&timesteps, 0, 0, (double)f.timestep, (double)f.timestep);
  if (status == VDIT_OK)
    status = vdit_tensor_alloc(&output, VDIT_DTYPE_F32, VDIT_CUDA(0), 5,
                               (int64_t[]){B, cfg.out_channels, (T / cfg.patch[0]) * cfg.patch[0],
                                           (Hl / cfg.patch[1]) * cfg.patch[1], (Wl / cfg.patch[2]) * cfg.patch[2]});
  if (status == VDIT_OK) status = vdit_model_state_create(&state);
  if (status == VDIT_OK) status = vdit_gpu_timer_init(&timer, 0, 0);
  vdit_attn_method_config *methods = calloc((size_t)cfg.layers, sizeof *methods);
  if (status == VDIT_OK && !methods) status = VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "bench model: no memory");
  if (status == VDIT_OK) vdit_model_attn_policy_fill(&policy, cfg.layers, 0, methods);
  vdit_model_run_options run = {.self_attn = methods, .no_grad = 1};
  if (status == VDIT_OK && f.profile) {
    for (int i = 0; status == VDIT_OK && i < 2; i++) // a warm-up, then the profiled step
      status = vdit_model_forward(&w, &run, &video, &timesteps, &context, &output, state);
    if (status == VDIT_OK) status = run_profile(&w, &video, &timesteps, &context, &output, state, methods, f.json);
    if (status != VDIT_OK) return cli_report_failure("bench model", status);
    free(times);
    return CLI_EXIT_OK; // the process exit releases the rest
  }
  for (int64_t i = 0; status == VDIT_OK && i < f.warmup + f.reps; i++) {
    double seconds = 0;
    status = vdit_gpu_timer_start(&timer);
    if (status == VDIT_OK) status = vdit_model_forward(&w, &run, &video, &timesteps, &context, &output, state);
    if (status == VDIT_OK) status = vdit_gpu_timer_stop(&timer, &seconds);
    if (i >= f.warmup) times[i - f.warmup] = seconds * 1e3;
  }
  if (status == VDIT_OK) status = vdit_device_synchronize(VDIT_CUDA(0));
  cudaMemGetInfo(&free1, &total);
  const double peak_gib = (double)(free0 - free1) / (double)(1 << 30);
  const double weights_gib = (double)w.bytes / (double)(1 << 30);
  const double state_gib = state ? (double)vdit_model_state_bytes(state) / (double)(1 << 30) : 0;
  split_times split;
  memset(&split, 0, sizeof split);
  if (status == VDIT_OK && !f.no_split) status = replay_split(&w, &methods[0], B, L, S, f.reps, &timer, &split);
  if (status == VDIT_OK && f.save) status = save_all(f.save, &w, &video, &timesteps, &context, &output);
  if (status != VDIT_OK) {
    int rc = cli_report_failure("bench model", status);
    free(times);
    free(methods);
    return rc;
  }
  const double ms = median_of(times, f.reps), min_ms = times[0];
  char gpu[256] = "";
  vdit_gpu_info info;
  if (vdit_gpu_query(0, &info) == VDIT_OK) snprintf(gpu, sizeof gpu, "%s", info.name);
  if (f.json) {
    printf("{\"config\": ");
    cli_print_json_string(f.config);
    printf(", \"gpu\": ");
    cli_print_json_string(gpu);
    printf(", \"attention\": ");
    cli_print_json_string(policy_text);
    printf(", \"batch\": %" PRId64 ", \"frames\": %" PRId64 ", \"height\": %" PRId64 ", \"width\": %" PRId64
           ", \"latent\": [%" PRId64 ", %" PRId64 ", %" PRId64 ", %" PRId64 ", %" PRId64 "], \"tokens\": %" PRId64
           ", \"text_tokens\": %" PRId64 ", \"reps\": %" PRId64 ", \"warmup\": %" PRId64
           ", \"step_ms\": %.3f, \"step_ms_min\": %.3f, \"peak_gib\": %.3f, \"weights_gib\": %.3f, \"state_gib\": %.3f",
           B, f.frames, f.height, f.width, B, cfg.in_channels, T, Hl, Wl, L, S, f.reps, f.warmup, ms, min_ms, peak_gib,
           weights_gib, state_gib);
    if (!f.no_split)
      printf(", \"split_ms\": {\"gemm\": %.3f, \"attention\": %.3f, \"rest\": %.3f}, \"split_method\": \"replay of one "
             "block's GEMMs and attention calls at the step's shapes, times the layers; rest = step - both\"",
             split.gemm_ms, split.attention_ms, ms - split.gemm_ms - split.attention_ms);
    if (!f.no_split)
      printf(", \"self_attention_call_ms\": {\"bshd\": %.3f, \"bhsd\": %.3f}", split.self_attention_ms,
             split.self_attention_bhsd_ms);
    if (!f.no_split) {
      printf(", \"gemm_call_ms\": {");
      for (int c = 0; c < 4; c++) printf("%s\"%s\": %.3f", c ? ", " : "", gemm_call_names[c], split.call_ms[c]);
      printf("}");
    }
    printf(", \"timer\": \"cuda events, median\"}\n");
  } else {
    printf("bench model: %s, latent (%" PRId64 ", %" PRId64 ", %" PRId64 ", %" PRId64 ", %" PRId64 "), %" PRId64
           " tokens, %" PRId64 " text tokens, bf16, attention %s, %s\n",
           f.config, B, cfg.in_channels, T, Hl, Wl, L, S, policy_text, gpu);
    printf("step        %10.2f ms (median of %" PRId64 ", min %.2f)\n", ms, f.reps, min_ms);
    if (!f.no_split)
      printf("  gemm      %10.2f ms\n  attention %10.2f ms (one self-attention call: %.2f ms as (B, S, H, D), %.2f "
             "as (B, H, S, D))\n  rest      %10.2f ms\n",
             split.gemm_ms, split.attention_ms, split.self_attention_ms, split.self_attention_bhsd_ms,
             ms - split.gemm_ms - split.attention_ms);
    printf("peak memory %10.3f GiB (weights %.3f, state %.3f)\n", peak_gib, weights_gib, state_gib);
  }
  free(times);
  free(methods);
  vdit_gpu_timer_free(&timer);
  vdit_model_state_free(state);
  vdit_tensor_free(&video);
  vdit_tensor_free(&timesteps);
  vdit_tensor_free(&context);
  vdit_tensor_free(&output);
  vdit_model_weights_free(&w);
  return CLI_EXIT_OK;
#endif
}
