// vdit attn check|bench: correctness against the fp64 reference, and timing.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attn/attn_check.h"
#include "attn/attn_kernels.h"
#include "attn/attn_train.h"
#include "attn/sla_fit.h"
#include "commands.h"
#include "vdit/vdit.h"

// The flags `check` and `bench` share, and what they parse into.
typedef struct attn_flags {
  const char *method, *layout, *mask, *dtype, *inputs, *device, *qkv;
  int64_t batch, heads, seq, seq_k, dim, seed, repeat, warmup;
  int json, forward_only, quality;
  float *qkv_values[3]; // Q, K, V read from --qkv (B, H, S, D), or NULL
  const char *sage_gran, *sage_pv;
  int smooth_q;
  // sparse methods
  const char *rule;
  double sparsity, topk, topp, theta, lambda, density;
  int sink;
  const char *tuning, *out; // sparge tuning file to read (check, bench) or write (tune)
  double target;            // tune: relative-L1 target
  vdit_attn_sparge_tuning loaded;
  // clustered methods (ear, svg)
  double budget, top_p, min_fraction;
  int64_t q_clusters, k_clusters, iterations, warm_iterations;
  int warm, gpu_routing;
  // sla
  const char *router, *feature;
  int64_t router_dim;
  double alpha;
  float *sla_params; // Wq, Wk (H, D, D_r), alpha logits (H)
  int freeze_router;
  int sparge_sage; // sparge, sla (its sparse branch): run the map on the sage INT8 path
  const char *sage_split; // sage: off or auto
} attn_flags;

enum { MODE_CHECK = 0, MODE_BENCH = 1, MODE_TUNE = 2 };

// Methods that run on a block map (their check also reports sparsity and the error against dense).
static int is_clustered(vdit_attn_method method) { return method == VDIT_ATTN_EAR || method == VDIT_ATTN_SVG; }
static int is_sparse(vdit_attn_method method) {
  return method == VDIT_ATTN_BLOCK || method == VDIT_ATTN_SPARGE || method == VDIT_ATTN_SLA || is_clustered(method);
}

static void flags_free(attn_flags *f) {
  for (int i = 0; i < 3; i++) free(f->qkv_values[i]), f->qkv_values[i] = NULL;
  vdit_attn_sparge_tuning_free(&f->loaded);
  free(f->sla_params);
  f->sla_params = NULL;
}

// SLA2's parameters from the flags: router matrices (random: Philox normals / sqrt(D) from
// the seed; identity: the plan's default) and alpha = --alpha for every head (1 -> logit 40).
static int sla_setup(const char *name, const char *hint, attn_flags *f, vdit_attn_check_spec *spec) {
  vdit_attn_sla_config *c = &spec->config.sla;
  if (f->router_dim < 1 || f->router_dim > 256) return cli_usage_error(name, hint, "--router-dim must be in 1..256");
  c->router_dim = (int32_t)f->router_dim;
  if (strcmp(f->feature, "softmax") == 0) c->feature = VDIT_ATTN_SLA_SOFTMAX;
  else if (strcmp(f->feature, "elu") == 0) c->feature = VDIT_ATTN_SLA_ELU;
  else return cli_usage_error(name, hint, "unknown --feature '%s' (softmax or elu)", f->feature);
  if (f->sparsity >= 0) c->topk = (float)(1.0 - f->sparsity);
  else if (f->topk >= 0) c->topk = (float)f->topk;
  else return cli_usage_error(name, hint, "sla needs --sparsity X or --topk K");
  if (!(c->topk > 0.0f)) return cli_usage_error(name, hint, "sla keeps at least one block: --sparsity below 1, --topk above 0");
  if (!(f->alpha >= 0 && f->alpha <= 1)) return cli_usage_error(name, hint, "--alpha must be in [0, 1]");
  const int64_t np = f->heads * f->dim * f->router_dim;
  f->sla_params = malloc((size_t)(2 * np + f->heads) * sizeof *f->sla_params);
  if (!f->sla_params) return cli_report_failure(name, VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "no memory for the router"));
  const float logit = f->alpha >= 1 ? 40.0f : f->alpha <= 0 ? -40.0f : (float)log(f->alpha / (1.0 - f->alpha));
  for (int64_t h = 0; h < f->heads; h++) f->sla_params[2 * np + h] = logit;
  c->alpha_logit = f->sla_params + 2 * np;
  if (strcmp(f->router, "random") == 0) {
    vdit_rng_normal((uint64_t)f->seed, 1ull << 45, (size_t)(2 * np), f->sla_params);
    for (int64_t i = 0; i < 2 * np; i++) f->sla_params[i] /= sqrtf((float)f->dim);
    c->router_wq = f->sla_params;
    c->router_wk = f->sla_params + np;
  } else if (strcmp(f->router, "identity") != 0) {
    return cli_usage_error(name, hint, "unknown --router '%s' (random or identity)", f->router);
  } else if (f->router_dim > f->dim) {
    return cli_usage_error(name, hint, "--router identity needs --router-dim <= --dim");
  }
  return -1;
}

// --qkv FILE[:LAYER] split into path (at most `size` bytes) and layer (-1 without); returns
// an exit code, or -1 to go on.
static int split_qkv(const char *name, const char *hint, const char *qkv, char *path, size_t size, int64_t *layer) {
  *layer = -1;
  snprintf(path, size, "%s", qkv);
  char *colon = strrchr(path, ':');
  if (colon && colon[1]) {
    char *end = NULL;
    long long n = strtoll(colon + 1, &end, 10);
    if (*end == '\0') {
      if (n < 0) return cli_usage_error(name, hint, "--qkv FILE:LAYER needs a layer >= 0, got %lld", n);
      *layer = n;
      *colon = '\0';
    }
  }
  return -1;
}

// --qkv FILE[:LAYER]: the captured Q, K, V of one block replace the synthetic inputs.
static int read_qkv(const char *name, const char *hint, attn_flags *f, vdit_attn_check_spec *spec) {
  char path[4096];
  int64_t layer = -1;
  const int code = split_qkv(name, hint, f->qkv, path, sizeof path, &layer);
  if (code >= 0) return code;
  vdit_attn_shape shape;
  vdit_status status = vdit_attn_inputs_read(path, layer, &shape, &f->qkv_values[0], &f->qkv_values[1], &f->qkv_values[2]);
  if (status != VDIT_OK) return cli_report_failure(name, status);
  if (shape.head_dim > 256) return cli_usage_error(name, hint, "the captured head dim %lld is above 256", (long long)shape.head_dim);
  spec->shape = shape;
  spec->given_q = f->qkv_values[0];
  spec->given_k = f->qkv_values[1];
  spec->given_v = f->qkv_values[2];
  f->batch = shape.batch, f->heads = shape.heads, f->seq = shape.seq_q, f->seq_k = shape.seq_k, f->dim = shape.head_dim;
  f->inputs = f->qkv;
  return -1;
}

static int parse_flags(const cli_command *command, const char *description, int is_bench, int argc, char **argv,
                       attn_flags *f, vdit_attn_check_spec *spec) {
  *f = (attn_flags){"dense", "bshd", "none", "bf16", "plain", "cpu", NULL, 1, 2, 256, 0, 64, 0, 0, 2, 0, 0, 0, {NULL}, "block", "fp8", 0,
                    NULL, -1.0, -1.0, -1.0, 0.0, 0.0, 0.5, 0, NULL, NULL, 0.07, {0}, -2.0, -1.0, 0.0, 0, 0, 0, 0, 0, 0,
                    "random", "softmax", 32, 0.7, NULL, 0, 0, "off"};
  if (is_bench) f->repeat = 0; // chosen per device below
  const cli_option options[] = {
      {"method", CLI_STRING, &f->method, "NAME", "attention method: dense, sage, block, sparge, sla, ear or svg (default dense)"},
      {"batch", CLI_INT, &f->batch, "B", "batch size (default 1)"},
      {"heads", CLI_INT, &f->heads, "H", "heads (default 2)"},
      {"seq", CLI_INT, &f->seq, "S", "query tokens (default 256)"},
      {"seq-k", CLI_INT, &f->seq_k, "S", "key tokens (default: --seq)"},
      {"dim", CLI_INT, &f->dim, "D", "head dim, 1..256 (default 64)"},
      {"layout", CLI_STRING, &f->layout, "L", "bshd or bhsd (default bshd)"},
      {"mask", CLI_STRING, &f->mask, "M", "none, causal or block:N (default none)"},
      {"dtype", CLI_STRING, &f->dtype, "T", "bf16, fp16 or fp32 (fp32 on the CPU only; default bf16)"},
      {"inputs", CLI_STRING, &f->inputs, "KIND", "plain, outlier, video or video-heads (default plain)"},
      {"qkv", CLI_STRING, &f->qkv, "FILE[:LAYER]", "Q, K, V of a model block from 'vdit capture' instead of --inputs (sets the shape)"},
      {"device", CLI_STRING, &f->device, "DEV", "cpu or cuda (default cpu)"},
      {"seed", CLI_INT, &f->seed, "N", "Philox seed of the inputs (default 0)"},
      {"forward-only", CLI_FLAG, &f->forward_only, NULL, "skip the backward"},
      {"json", CLI_FLAG, &f->json, NULL, "print one JSON object"},
      {"sage-gran", CLI_STRING, &f->sage_gran, "G", "sage INT8 scale groups: block, warp or thread (default block)"},
      {"sage-pv", CLI_STRING, &f->sage_pv, "P", "sage P V precision: fp8 or half (default fp8)"},
      {"smooth-q", CLI_FLAG, &f->smooth_q, NULL, "sage: also smooth Q (subtract each block's mean)"},
      {"sage-split", CLI_STRING, &f->sage_split, "S", "sage: off, or auto (K's outlier channels out of INT8 Q K^T, in 16 bits; default off)"},
      {"rule", CLI_STRING, &f->rule, "R", "sparge: topk, topp or hybrid (default: hybrid for check, topk for bench)"},
      {"sparsity", CLI_DOUBLE, &f->sparsity, "X", "sparge, sla: fraction of blocks to skip; sparge: sets topk / topp (calibrated on the inputs); sla: topk = 1 - X"},
      {"topk", CLI_DOUBLE, &f->topk, "K", "sparge, sla: fraction of key blocks Top-k keeps per row"},
      {"topp", CLI_DOUBLE, &f->topp, "P", "sparge: pooled softmax mass Top-p keeps per row"},
      {"theta", CLI_DOUBLE, &f->theta, "T", "sparge: self-similarity threshold; blocks below it are always computed (default 0)"},
      {"lambda", CLI_DOUBLE, &f->lambda, "L", "sparge: PV threshold, skip P V of tiles trailing the row max by more (default 0 = off)"},
      {"sink", CLI_FLAG, &f->sink, NULL, "sparge: always compute key block 0"},
      {"sage", CLI_FLAG, &f->sparge_sage, NULL, "sparge, sla: run the map (sla: its sparse branch) on the SageAttention INT8 path (--sage-gran, --sage-pv)"},
      {"density", CLI_DOUBLE, &f->density, "X", "block: probability that the drawn map keeps a block (default 0.5)"},
      {"tuning", CLI_STRING, &f->tuning, "FILE", "sparge: per-head parameters from a tuning file ('vdit attn tune')"},
      {"budget", CLI_DOUBLE, &f->budget, "X", "ear, svg: fraction of the dense work computed exactly, [0, 1] (ear: required)"},
      {"top-p", CLI_DOUBLE, &f->top_p, "P", "svg without --budget: cumulative mass per query tile (default 0.9)"},
      {"min-fraction", CLI_DOUBLE, &f->min_fraction, "X", "svg: key tiles each query tile computes at least (default 0)"},
      {"q-clusters", CLI_INT, &f->q_clusters, "N", "ear, svg: query clusters per head (default ceil(S / 128))"},
      {"k-clusters", CLI_INT, &f->k_clusters, "N", "ear, svg: key clusters per head (default ceil(S / 32))"},
      {"iterations", CLI_INT, &f->iterations, "N", "ear, svg: k-means iterations from the seeded start (default 8)"},
      {"warm-iterations", CLI_INT, &f->warm_iterations, "N", "ear, svg: k-means iterations when warm-starting (default 1)"},
      {"warm", CLI_FLAG, &f->warm, NULL, "ear, svg: warm-start k-means from the previous forward (bench: every run after the first)"},
      {"gpu-routing", CLI_FLAG, &f->gpu_routing, NULL, "ear, svg on cuda: k-means, scores and compensation on the GPU (default: on the host)"},
      {"router", CLI_STRING, &f->router, "R", "sla: router matrices random (Philox, from --seed) or identity (default random)"},
      {"router-dim", CLI_INT, &f->router_dim, "R", "sla: router projection width D_r (default 32)"},
      {"alpha", CLI_DOUBLE, &f->alpha, "A", "sla: mixing ratio alpha of every head, 0..1 (default 0.7)"},
      {"feature", CLI_STRING, &f->feature, "F", "sla: linear-branch feature map softmax or elu (default softmax)"},
      {"quality", CLI_FLAG, &f->quality, NULL, "bench: also compare O with dense attention on the same device (rel L1, PSNR)"},
      {"repeat", CLI_INT, &f->repeat, "N", "timed runs, median reported (bench; default 20 on cuda, 3 on cpu)"},
      {"warmup", CLI_INT, &f->warmup, "N", "untimed runs first (bench; default 2)"},
      {"freeze-router", CLI_FLAG, &f->freeze_router, NULL, "sla bench: time the backward without the router's gradient"},
  };
  const cli_option tune_options[] = {
      {"target", CLI_DOUBLE, &f->target, "E", "relative-L1 target against dense attention (default 0.07)"},
      {"out", CLI_STRING, &f->out, "FILE", "tuning file to write (required)"},
  };
  cli_option all[64];
  int option_count = 0;
  const int base = (int)(sizeof options / sizeof options[0]) - 4; // quality, repeat, warmup, freeze-router are the bench's
  for (int i = 0; i < base; i++) all[option_count++] = options[i];
  if (is_bench == MODE_BENCH)
    for (int i = 0; i < 4; i++) all[option_count++] = options[base + i];
  if (is_bench == MODE_TUNE) all[option_count++] = tune_options[0], all[option_count++] = tune_options[1];
  int code = cli_parse(command, description, all, option_count, argc, argv, NULL, 0, NULL);
  if (code >= 0) return code;
  const char *name = command->name;
  const char *hint = is_bench == MODE_BENCH ? "see 'vdit attn bench --help'"
                     : is_bench == MODE_TUNE ? "see 'vdit attn tune --help'" : "see 'vdit attn check --help'";
  memset(spec, 0, sizeof *spec);
  if (vdit_attn_method_parse(f->method, &spec->config.method) != VDIT_OK)
    return cli_usage_error(name, hint, "%s", vdit_last_error());
  if (vdit_attn_sage_granularity_parse(f->sage_gran, &spec->config.sage.granularity) != VDIT_OK ||
      vdit_attn_sage_pv_parse(f->sage_pv, &spec->config.sage.pv) != VDIT_OK)
    return cli_usage_error(name, hint, "%s", vdit_last_error());
  spec->config.sage.smooth_q = f->smooth_q;
  if (vdit_attn_sage_split_parse(f->sage_split, &spec->config.sage.split) != VDIT_OK)
    return cli_usage_error(name, hint, "%s", vdit_last_error());
  if (strcmp(f->layout, "bshd") == 0) spec->config.layout = VDIT_ATTN_LAYOUT_BSHD;
  else if (strcmp(f->layout, "bhsd") == 0) spec->config.layout = VDIT_ATTN_LAYOUT_BHSD;
  else return cli_usage_error(name, hint, "unknown layout '%s' (bshd or bhsd)", f->layout);
  if (strcmp(f->mask, "none") == 0) spec->config.mask = VDIT_ATTN_MASK_NONE;
  else if (strcmp(f->mask, "causal") == 0) spec->config.mask = VDIT_ATTN_MASK_CAUSAL;
  else if (strncmp(f->mask, "block:", 6) == 0) {
    char *end = NULL;
    long long length = strtoll(f->mask + 6, &end, 10);
    if (end == f->mask + 6 || *end != '\0' || length < 1)
      return cli_usage_error(name, hint, "--mask block:N needs a block length N >= 1, got '%s'", f->mask);
    spec->config.mask = VDIT_ATTN_MASK_BLOCK_CAUSAL;
    spec->config.mask_block_length = length;
  } else return cli_usage_error(name, hint, "unknown mask '%s' (none, causal or block:N)", f->mask);
  if (vdit_dtype_parse(f->dtype, &spec->dtype) != VDIT_OK ||
      (spec->dtype != VDIT_DTYPE_BF16 && spec->dtype != VDIT_DTYPE_F16 && spec->dtype != VDIT_DTYPE_F32))
    return cli_usage_error(name, hint, "--dtype must be bf16, fp16 or fp32, got '%s'", f->dtype);
  if (vdit_attn_inputs_parse(f->inputs, &spec->inputs) != VDIT_OK)
    return cli_usage_error(name, hint, "%s", vdit_last_error());
  code = cli_parse_device(name, f->device, &spec->device);
  if (code >= 0) return code;
  if (f->seq_k == 0) f->seq_k = f->seq;
  if (f->batch < 1 || f->heads < 1 || f->seq < 1 || f->seq_k < 1)
    return cli_usage_error(name, hint, "--batch, --heads, --seq and --seq-k must be >= 1");
  if (f->dim < 1 || f->dim > 256) return cli_usage_error(name, hint, "--dim must be in 1..256, got %lld", (long long)f->dim);
  if (f->seed < 0) return cli_usage_error(name, hint, "--seed must be >= 0");
  if (f->repeat == 0) f->repeat = spec->device.type == VDIT_DEVICE_CUDA ? 20 : 3;
  if (f->repeat < 1 || f->warmup < 0) return cli_usage_error(name, hint, "--repeat must be >= 1 and --warmup >= 0");
  spec->shape = (vdit_attn_shape){f->batch, f->heads, f->seq, f->seq_k, f->dim};
  spec->seed = (uint64_t)f->seed;
  spec->backward = !f->forward_only;
  spec->config.sla.forward_only = f->forward_only; // sla: no backward follows, so its forward keeps no O_s
  spec->target_sparsity = -1.0;
  spec->block_density = f->density;
  spec->compare_dense = f->quality;
  spec->sla_freeze_router = f->freeze_router;
  vdit_attn_sparge_config *sp = &spec->config.sparge;
  const char *rule = f->rule ? f->rule : (is_bench == MODE_BENCH ? "topk" : "hybrid");
  if (strcmp(rule, "topk") == 0) sp->rule = VDIT_ATTN_SPARGE_TOPK;
  else if (strcmp(rule, "topp") == 0) sp->rule = VDIT_ATTN_SPARGE_TOPP;
  else if (strcmp(rule, "hybrid") == 0) sp->rule = VDIT_ATTN_SPARGE_HYBRID;
  else return cli_usage_error(name, hint, "unknown rule '%s' (topk, topp or hybrid)", rule);
  sp->params.theta = (float)f->theta;
  sp->params.pv_threshold = (float)f->lambda;
  sp->sink = f->sink;
  sp->sage = f->sparge_sage && spec->config.method == VDIT_ATTN_SPARGE;
  spec->config.sla.sage = f->sparge_sage && spec->config.method == VDIT_ATTN_SLA;
  if (f->sparge_sage && spec->config.method != VDIT_ATTN_SPARGE && spec->config.method != VDIT_ATTN_SLA)
    return cli_usage_error(name, hint, "--sage needs --method sparge or sla");
  if (f->lambda < 0) return cli_usage_error(name, hint, "--lambda must be >= 0");
  if (is_bench == MODE_TUNE) {
    if (spec->config.method != VDIT_ATTN_SPARGE) return cli_usage_error(name, hint, "tune needs --method sparge");
    if (!f->out) return cli_usage_error(name, hint, "tune needs --out FILE");
    if (!(f->target > 0)) return cli_usage_error(name, hint, "--target must be > 0");
  } else if (f->tuning) {
    if (f->sparsity >= 0 || f->topk >= 0 || f->topp >= 0)
      return cli_usage_error(name, hint, "--tuning FILE replaces --sparsity, --topk and --topp");
    if (vdit_attn_sparge_tuning_read(f->tuning, &f->loaded) != VDIT_OK) return cli_usage_error(name, hint, "%s", vdit_last_error());
    if (f->loaded.heads != f->heads) {
      vdit_attn_sparge_tuning_free(&f->loaded);
      return cli_usage_error(name, hint, "%s holds %lld heads, --heads is %lld", f->tuning, (long long)f->loaded.heads,
                             (long long)f->heads);
    }
    sp->rule = f->loaded.rule;
    sp->per_head = f->loaded.per_head;
  } else if (f->sparsity >= 0) {
    if (f->sparsity > 1 || f->topk >= 0 || f->topp >= 0)
      return cli_usage_error(name, hint, "--sparsity X needs X in [0, 1] and no --topk / --topp");
    spec->target_sparsity = f->sparsity;
  } else if (spec->config.method == VDIT_ATTN_SPARGE) {
    if (f->topk < 0 && f->topp < 0) return cli_usage_error(name, hint, "sparge needs --sparsity X, or --topk K and/or --topp P");
    if (f->topk > 1 || f->topp > 1) return cli_usage_error(name, hint, "--topk and --topp are fractions in [0, 1]");
    sp->params.topk = f->topk >= 0 ? (float)f->topk : 0.0f;
    sp->params.topp = f->topp >= 0 ? (float)f->topp : 0.0f;
    if (!f->rule) sp->rule = f->topk >= 0 && f->topp >= 0 ? VDIT_ATTN_SPARGE_HYBRID : f->topk >= 0 ? VDIT_ATTN_SPARGE_TOPK : VDIT_ATTN_SPARGE_TOPP;
  }
  if (f->density < 0 || f->density > 1) return cli_usage_error(name, hint, "--density must be in [0, 1]");
  if (is_clustered(spec->config.method)) {
    vdit_attn_cluster_config *c = &spec->config.cluster;
    if (f->budget != -2.0 && !(f->budget >= 0 && f->budget <= 1)) return cli_usage_error(name, hint, "--budget must be in [0, 1]");
    if (f->budget == -2.0 && spec->config.method == VDIT_ATTN_EAR) return cli_usage_error(name, hint, "ear needs --budget X");
    if (f->top_p != -1.0 && !(f->top_p > 0 && f->top_p <= 1)) return cli_usage_error(name, hint, "--top-p must be in (0, 1]");
    if (!(f->min_fraction >= 0 && f->min_fraction <= 1)) return cli_usage_error(name, hint, "--min-fraction must be in [0, 1]");
    if (f->q_clusters < 0 || f->k_clusters < 0 || f->iterations < 0 || f->warm_iterations < 0 ||
        f->q_clusters > 1 << 20 || f->k_clusters > 1 << 20 || f->iterations > 1000 || f->warm_iterations > 1000)
      return cli_usage_error(name, hint, "--q-clusters, --k-clusters (<= 2^20), --iterations, --warm-iterations (<= 1000) must be >= 0");
    c->budget = f->budget == -2.0 ? -1.0f : (float)f->budget;
    c->top_p = f->top_p > 0 ? (float)f->top_p : 0.0f;
    c->min_fraction = (float)f->min_fraction;
    c->q_clusters = (int32_t)f->q_clusters, c->k_clusters = (int32_t)f->k_clusters;
    c->iterations = (int32_t)f->iterations, c->warm_iterations = (int32_t)f->warm_iterations;
    c->warm_start = f->warm;
    c->gpu_routing = f->gpu_routing;
    c->seed = (uint64_t)f->seed;
  }
  if (f->qkv) {
    code = read_qkv(name, hint, f, spec);
    if (code >= 0) return code;
  }
  if (spec->config.method == VDIT_ATTN_SLA) {
    spec->target_sparsity = -1.0;
    return sla_setup(name, hint, f, spec);
  }
  return -1;
}

static void print_stats_json(const char *name, const vdit_error_stats *e) {
  printf(", \"%s\": {\"rel_l1\": %.6g, \"cos\": %.9g, \"max_err\": %.6g, \"nonfinite\": %lld}", name, e->rel_l1,
         e->cos, e->max_err, (long long)e->nonfinite);
}

static void print_shape_json(const vdit_attn_check_spec *spec, const attn_flags *f) {
  printf("{\"method\": \"%s\", \"shape\": {\"batch\": %lld, \"heads\": %lld, \"seq_q\": %lld, \"seq_k\": %lld, "
         "\"dim\": %lld}, \"layout\": \"%s\", \"mask\": \"%s\", \"dtype\": \"%s\", \"inputs\": \"%s\", \"device\": \"%s\", "
         "\"seed\": %lld",
         f->method, (long long)spec->shape.batch, (long long)spec->shape.heads, (long long)spec->shape.seq_q,
         (long long)spec->shape.seq_k, (long long)spec->shape.head_dim, f->layout, f->mask,
         vdit_dtype_name(spec->dtype), f->inputs, f->device, (long long)f->seed);
  if (spec->config.method == VDIT_ATTN_SAGE)
    printf(", \"sage\": {\"granularity\": \"%s\", \"pv\": \"%s\", \"smooth_q\": %s, \"split\": \"%s\"}", f->sage_gran,
           f->sage_pv, f->smooth_q ? "true" : "false", f->sage_split);
}

static const char *const check_description =
    "Runs attention forward and backward on synthetic inputs (or a model block's captured Q, K,\n"
    "V: --qkv FILE:LAYER from 'vdit capture') and compares O, LSE, dQ, dK and\n"
    "dV with the fp64 reference of the same (dtype-rounded) inputs: relative L1, cosine and\n"
    "max error scaled by max|reference|. Outputs are poisoned with NaN first, so an unwritten\n"
    "element fails. Exits 1 when a tolerance is missed.";

static int run_check(int argc, char **argv) {
  static const cli_command check = {"attn check", "", "vdit attn check [options]", NULL};
  attn_flags f;
  vdit_attn_check_spec spec;
  int code = parse_flags(&check, check_description, MODE_CHECK, argc, argv, &f, &spec);
  if (code >= 0) {
    flags_free(&f);
    return code;
  }
  vdit_attn_check_result r;
  vdit_status status = vdit_attn_check_run(&spec, &r);
  flags_free(&f);
  if (status != VDIT_OK) return cli_report_failure("attn check", status);
  if (f.json) {
    print_shape_json(&spec, &f);
    print_stats_json("o", &r.o);
    print_stats_json("lse", &r.lse);
    if (spec.backward) {
      print_stats_json("dq", &r.dq);
      print_stats_json("dk", &r.dk);
      print_stats_json("dv", &r.dv);
    }
    if (is_sparse(spec.config.method)) {
      printf(", \"sparsity\": %.6f", r.sparsity);
      print_stats_json("o_vs_dense", &r.o_dense);
      if (spec.config.method == VDIT_ATTN_SPARGE)
        printf(", \"rule\": \"%s\", \"topk\": %.6g, \"topp\": %.6g, \"theta\": %.6g", f.rule ? f.rule : "hybrid",
               r.sparge_params.topk, r.sparge_params.topp, r.sparge_params.theta);
      if (spec.config.method == VDIT_ATTN_SLA) {
        printf(", \"topk\": %.6g, \"router_dim\": %d, \"alpha\": %.6g, \"feature\": \"%s\", \"router\": \"%s\"",
               (double)spec.config.sla.topk, spec.config.sla.router_dim, f.alpha, f.feature, f.router);
        if (spec.backward) {
          print_stats_json("d_wq", &r.d_wq);
          print_stats_json("d_wk", &r.d_wk);
          print_stats_json("d_alpha", &r.d_alpha);
          printf(", \"fd_checked\": %d, \"fd_max_rel\": %.6g", r.fd_checked, r.fd_max_rel);
        }
      }
      if (r.masks_compared) printf(", \"masks_identical\": %s, \"mask_rows_differing\": %lld", r.masks_identical ? "true" : "false",
                                   (long long)r.mask_rows_differing);
      if (is_clustered(spec.config.method)) {
        printf(", \"budget\": %.6g, \"budget_used\": %.6f, \"top_p\": %.6g, \"q_clusters\": %d, \"k_clusters\": %d, "
               "\"q_empty\": %d, \"k_empty\": %d, \"fragments\": %lld, \"q_pad_factor\": %.4f, \"k_pad_factor\": %.4f",
               (double)spec.config.cluster.budget, r.cluster.budget_used, r.cluster.top_p, r.cluster.q_clusters,
               r.cluster.k_clusters, r.cluster.q_empty, r.cluster.k_empty, (long long)r.cluster.fragments,
               r.cluster.q_pad_factor, r.cluster.k_pad_factor);
        print_stats_json("o_vs_centroid", &r.o_centroid);
        if (r.cpu_compared) {
          print_stats_json("cpu_o_vs_dense", &r.cpu_o_dense);
          printf(", \"cpu_agrees\": %s", r.cpu_agrees ? "true" : "false");
        }
      }
    }
    printf(", \"passed\": %s, \"forward_ms\": %.3f, \"backward_ms\": %.3f}\n", r.passed ? "true" : "false",
           1e3 * r.forward_seconds, 1e3 * r.backward_seconds);
    return r.passed ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
  }
  printf("attn check: %s, B=%lld H=%lld Sq=%lld Sk=%lld D=%lld, %s, mask %s, %s, %s inputs, %s, seed %lld\n",
         f.method, (long long)spec.shape.batch, (long long)spec.shape.heads, (long long)spec.shape.seq_q,
         (long long)spec.shape.seq_k, (long long)spec.shape.head_dim, f.layout, f.mask, vdit_dtype_name(spec.dtype),
         f.inputs, f.device, (long long)f.seed);
  printf("%-5s %12s %12s %12s   %s\n", "", "rel_l1", "cos", "max_err", "tolerance rel_l1 / cos / max_err");
  const struct { const char *name; const vdit_error_stats *e; const vdit_attn_tolerance *t; } rows[] = {
      {"o", &r.o, &r.forward_tolerance}, {"lse", &r.lse, &r.forward_tolerance}, {"dq", &r.dq, &r.backward_tolerance},
      {"dk", &r.dk, &r.backward_tolerance}, {"dv", &r.dv, &r.backward_tolerance}};
  for (int i = 0; i < (spec.backward ? 5 : 2); i++) {
    printf("%-5s %12.3e %12.8f %12.3e   %.0e / %.5g / %.0e", rows[i].name, rows[i].e->rel_l1, rows[i].e->cos,
           rows[i].e->max_err, rows[i].t->rel_l1, rows[i].t->min_cos, rows[i].t->max_err);
    if (rows[i].e->nonfinite) printf("   %lld non-finite or unwritten", (long long)rows[i].e->nonfinite);
    printf("\n");
  }
  if (is_sparse(spec.config.method)) {
    printf("(errors above: against the fp64 reference on the method's %s)\n",
           is_clustered(spec.config.method) ? "routing, centroid terms included" : "block map");
    printf("sparsity %.4f; O against dense attention: rel_l1 %.4e, cos %.6f", r.sparsity, r.o_dense.rel_l1, r.o_dense.cos);
    if (spec.config.method == VDIT_ATTN_SPARGE)
      printf("; topk %.4g, topp %.4g, theta %.3g", r.sparge_params.topk, r.sparge_params.topp, r.sparge_params.theta);
    printf("\n");
    if (spec.config.method == VDIT_ATTN_SLA && spec.backward) {
      const struct { const char *name; const vdit_error_stats *e; } g[] = {{"dWq", &r.d_wq}, {"dWk", &r.d_wk}, {"dalpha", &r.d_alpha}};
      for (int i = 0; i < 3; i++)
        printf("%-6s %11.3e %12.8f %12.3e   (router / alpha gradients vs fp64; tolerance as dq)\n", g[i].name, g[i].e->rel_l1,
               g[i].e->cos, g[i].e->max_err);
      if (r.fd_checked) printf("finite differences of the fp64 reference: %d entries, worst relative error %.3e (tolerance 1e-4)\n",
                               r.fd_checked, r.fd_max_rel);
      else printf("finite differences: skipped (problem above 2^24 B H Sq Sk D)\n");
    }
    if (r.masks_compared)
      printf("masks: GPU and CPU predictions %s (%lld rows differ)\n", r.masks_identical ? "identical" : "DIFFER",
             (long long)r.mask_rows_differing);
    if (is_clustered(spec.config.method)) {
      printf("clusters %d q / %d k (%d / %d empty), %lld key fragments (padding clusters to tiles: x%.2f q, x%.2f k tokens);"
             " budget used %.4f", r.cluster.q_clusters, r.cluster.k_clusters, r.cluster.q_empty, r.cluster.k_empty,
             (long long)r.cluster.fragments, r.cluster.q_pad_factor, r.cluster.k_pad_factor, r.cluster.budget_used);
      if (spec.config.method == VDIT_ATTN_SVG) printf(", top-p %.4g", r.cluster.top_p);
      printf("\nO against the centroid formula alone: rel_l1 %.4e\n", r.o_centroid.rel_l1);
      if (r.cpu_compared)
        printf("CPU on the same inputs: O against dense rel_l1 %.4e (%s)\n", r.cpu_o_dense.rel_l1,
               r.cpu_agrees ? "agrees" : "DISAGREES");
    }
  }
  printf("result: %s (forward %.1f ms, backward %.1f ms)\n", r.passed ? "pass" : "FAIL", 1e3 * r.forward_seconds,
         1e3 * r.backward_seconds);
  return r.passed ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
}

static int run_bench(int argc, char **argv);

// ---------------------------------------------------------------- train
static const char *const train_description =
    "Trains a small one-layer attention model (B=2, S=64, C=64, 2 heads of 32) to imitate a\n"
    "fixed random teacher, once with dense attention and once with --method, on the same\n"
    "batches (Adam, MSE; CPU, fp32 tensors), and prints both loss curves. bench/attn_train_svg.py\n"
    "turns the JSON into the plot of docs/attention.md. Exits 1 when the final losses (mean of\n"
    "the last 10 steps) differ by more than 1%.";

static int run_train(int argc, char **argv) {
  static const cli_command train = {"attn train", "", "vdit attn train [options]", NULL};
  const char *method = "sage", *gran = "block", *pv = "fp8";
  int64_t steps = 200, seed = 7;
  int json = 0, smooth_q = 0;
  const cli_option options[] = {
      {"method", CLI_STRING, &method, "NAME", "the method compared with dense (default sage)"},
      {"steps", CLI_INT, &steps, "N", "training steps, 10..100000 (default 200)"},
      {"seed", CLI_INT, &seed, "N", "Philox seed of weights and batches (default 7)"},
      {"sage-gran", CLI_STRING, &gran, "G", "sage INT8 scale groups: block, warp or thread (default block)"},
      {"sage-pv", CLI_STRING, &pv, "P", "sage P V precision: fp8 or half (default fp8)"},
      {"smooth-q", CLI_FLAG, &smooth_q, NULL, "sage: also smooth Q"},
      {"json", CLI_FLAG, &json, NULL, "print one JSON object with both curves"},
  };
  int code = cli_parse(&train, train_description, options, 7, argc, argv, NULL, 0, NULL);
  if (code >= 0) return code;
  const char *hint = "see 'vdit attn train --help'";
  vdit_attn_method m;
  if (vdit_attn_method_parse(method, &m) != VDIT_OK) return cli_usage_error("attn train", hint, "%s", vdit_last_error());
  if (steps < 10 || steps > 100000) return cli_usage_error("attn train", hint, "--steps must be in 10..100000");
  if (seed < 0) return cli_usage_error("attn train", hint, "--seed must be >= 0");
  vdit_attn_train_spec base = vdit_attn_train_default(VDIT_ATTN_DENSE), other = vdit_attn_train_default(m);
  if (vdit_attn_sage_granularity_parse(gran, &other.config.sage.granularity) != VDIT_OK ||
      vdit_attn_sage_pv_parse(pv, &other.config.sage.pv) != VDIT_OK)
    return cli_usage_error("attn train", hint, "%s", vdit_last_error());
  other.config.sage.smooth_q = smooth_q;
  base.steps = other.steps = (int)steps;
  base.seed = other.seed = (uint64_t)seed;
  float *losses = malloc((size_t)steps * 2 * sizeof *losses);
  if (!losses) return cli_report_failure("attn train", VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "no memory for the curves"));
  vdit_status status = vdit_attn_train_run(&base, losses);
  if (status == VDIT_OK) status = vdit_attn_train_run(&other, losses + steps);
  if (status != VDIT_OK) {
    free(losses);
    return cli_report_failure("attn train", status);
  }
  double tail[2] = {0.0, 0.0};
  for (int c = 0; c < 2; c++)
    for (int64_t i = steps - 10; i < steps; i++) tail[c] += losses[c * steps + i] / 10.0;
  const double diff = (tail[1] - tail[0]) / tail[0];
  const int passed = fabs(diff) <= 0.01;
  if (json) {
    printf("{\"model\": {\"batch\": %lld, \"seq\": %lld, \"model_dim\": %lld, \"heads\": %lld, \"head_dim\": %lld, "
           "\"learning_rate\": %g}, \"steps\": %lld, \"seed\": %lld, \"method\": \"%s\"",
           (long long)base.batch, (long long)base.seq, (long long)base.model_dim, (long long)base.heads,
           (long long)base.head_dim, (double)base.learning_rate, (long long)steps, (long long)seed, method);
    if (m == VDIT_ATTN_SAGE)
      printf(", \"sage\": {\"granularity\": \"%s\", \"pv\": \"%s\", \"smooth_q\": %s}", gran, pv,
             smooth_q ? "true" : "false");
    for (int c = 0; c < 2; c++) {
      printf(", \"%s\": [", c == 0 ? "dense" : "other");
      for (int64_t i = 0; i < steps; i++) printf("%s%.6g", i ? ", " : "", (double)losses[c * steps + i]);
      printf("]");
    }
    printf(", \"final\": {\"dense\": %.6g, \"other\": %.6g, \"rel_diff\": %.6g}, \"passed\": %s}\n", tail[0], tail[1],
           diff, passed ? "true" : "false");
  } else {
    printf("attn train: dense vs %s, %lld steps, seed %lld\n", method, (long long)steps, (long long)seed);
    for (int64_t i = 0; i < steps; i += steps / 10)
      printf("step %5lld  dense %.5f  %s %.5f\n", (long long)i, (double)losses[i], method, (double)losses[steps + i]);
    printf("final (mean of last 10): dense %.5f, %s %.5f (%+.3f%%)\nresult: %s\n", tail[0], method, tail[1], 100.0 * diff,
           passed ? "pass" : "FAIL");
  }
  free(losses);
  return passed ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
}

static const char *const tune_description =
    "Per-head autotune of sparge (hybrid rule) on synthetic inputs, on the CPU: for each head,\n"
    "the (theta, topk, topp, lambda) that skips the most blocks while the output stays within\n"
    "--target relative L1 of dense attention; writes the tuning file that --tuning (and\n"
    "generation) reads. Batch element 0 is measured.";

static int run_tune(int argc, char **argv) {
  static const cli_command tune = {"attn tune", "", "vdit attn tune --method sparge --out FILE [options]", NULL};
  attn_flags f;
  vdit_attn_check_spec spec;
  int code = parse_flags(&tune, tune_description, MODE_TUNE, argc, argv, &f, &spec);
  if (code >= 0) return code;
  const vdit_attn_shape s = spec.shape;
  const size_t nq = (size_t)(s.batch * s.heads * s.seq_q * s.head_dim), nk = (size_t)(s.batch * s.heads * s.seq_k * s.head_dim);
  float *q = malloc((nq + 2 * nk + 1) * sizeof *q);
  if (!q) return cli_report_failure("attn tune", VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "no memory for the inputs"));
  vdit_attn_problem problem = {s, 1.0f / sqrtf((float)s.head_dim), spec.config, NULL, NULL, {0}};
  vdit_attn_sparge_tuning tuning;
  memset(&tuning, 0, sizeof tuning);
  vdit_status status = vdit_attn_inputs_fill(spec.inputs, spec.seed, &s, q, q + nq, q + nq + nk);
  if (status == VDIT_OK) status = vdit_attn_sparge_tune(&problem, q, q + nq, q + nq + nk, f.target, &tuning);
  if (status == VDIT_OK) status = vdit_attn_sparge_tuning_write(f.out, &tuning);
  free(q);
  if (status != VDIT_OK) return cli_report_failure("attn tune", status);
  printf("attn tune: sparge, hybrid rule, target rel_l1 %.4g, S=%lld D=%lld, %s inputs -> %s\n", f.target,
         (long long)s.seq_q, (long long)s.head_dim, f.inputs, f.out);
  printf("%-5s %8s %8s %8s %8s %9s %9s\n", "head", "theta", "topk", "topp", "lambda", "sparsity", "rel_l1");
  for (int64_t h = 0; h < tuning.heads; h++)
    printf("%-5lld %8.3g %8.4g %8.4g %8.3g %9.4f %9.4g\n", (long long)h, tuning.per_head[h].theta, tuning.per_head[h].topk,
           tuning.per_head[h].topp, tuning.per_head[h].pv_threshold, tuning.sparsity[h], tuning.rel_l1[h]);
  vdit_attn_sparge_tuning_free(&tuning);
  return CLI_EXIT_OK;
}


// ---------------------------------------------------------------- fit
static const char *const fit_description =
    "SLA2's fitting check: on fixed Q, K, V (--inputs, or --qkv FILE[:LAYER] from 'vdit capture'),\n"
    "train the router so that SLA2's output approaches dense attention's, at --sparsity. The default\n"
    "objective (mass) distils dense attention's block mass into the router's scores (Adam) and fits\n"
    "alpha per head in closed form; --objective output regresses SLA2's O onto dense through its\n"
    "backward. Every --eval-every steps the fit is validated (new tokens of the same heads, token\n"
    "seed + 2; or the fitted capture) and it ends on the best step. Prints the relative L1 of O\n"
    "against dense attention with the untrained router and after training, on the fitted and the\n"
    "held-out inputs (token seed + 1, --held-out seed: seed + 1, or --held-qkv), alpha alone, the\n"
    "mass oracle and SLA's pooled-score router for reference. Exits 1 unless the trained error on\n"
    "the fitted inputs is at most --margin times the untrained one.";

static int run_fit(int argc, char **argv) {
  static const cli_command fit = {"attn fit", "", "vdit attn fit --method sla [options]", NULL};
  const char *method = "sla", *inputs = "video", *device = "cpu", *dtype = NULL, *feature = "softmax", *qkv = NULL;
  const char *init = "random", *objective = "mass", *held_qkv = NULL, *held_out = "tokens";
  int64_t batch = 1, heads = 2, seq = 2048, dim = 64, seed = 0, steps = 300, router_dim = 32, eval_every = 20, block = 0;
  double sparsity = 0.95, lr = 0.01, router_lr = 0.0, alpha_init = 0.5, margin = 0.6;
  int json = 0;
  const cli_option options[] = {
      {"method", CLI_STRING, &method, "NAME", "the method to fit: sla (default)"},
      {"inputs", CLI_STRING, &inputs, "KIND", "plain, outlier, video or video-heads (default video)"},
      {"qkv", CLI_STRING, &qkv, "FILE[:LAYER]", "Q, K, V of a model block from 'vdit capture' (sets the shape)"},
      {"batch", CLI_INT, &batch, "B", "batch size (default 1)"},
      {"heads", CLI_INT, &heads, "H", "heads (default 2)"},
      {"seq", CLI_INT, &seq, "S", "tokens (default 2048)"},
      {"dim", CLI_INT, &dim, "D", "head dim (default 64; 128 on cuda)"},
      {"device", CLI_STRING, &device, "DEV", "cpu or cuda (default cpu)"},
      {"dtype", CLI_STRING, &dtype, "T", "fp32 (cpu) or bf16 / fp16 (cuda); default fp32 on cpu, bf16 on cuda"},
      {"seed", CLI_INT, &seed, "N", "Philox seed of the inputs and the untrained router (default 0)"},
      {"sparsity", CLI_DOUBLE, &sparsity, "X", "fraction of blocks skipped by the sparse branch (default 0.95)"},
      {"steps", CLI_INT, &steps, "N", "optimizer steps, 1..100000 (default 300)"},
      {"lr", CLI_DOUBLE, &lr, "LR", "Adam learning rate (default 0.01; output objective: the alpha logits take 5 LR)"},
      {"router-lr", CLI_DOUBLE, &router_lr, "LR", "the router matrices' learning rate (default --lr; tiny: alpha alone)"},
      {"alpha-init", CLI_DOUBLE, &alpha_init, "A", "alpha of every head at the start, in (0, 1) (default 0.5)"},
      {"router-dim", CLI_INT, &router_dim, "R", "router projection width D_r (default 32)"},
      {"feature", CLI_STRING, &feature, "F", "linear-branch feature map softmax or elu (default softmax)"},
      {"init", CLI_STRING, &init, "R", "router to start from: random or identity (SLA's pooled scores; default random)"},
      {"objective", CLI_STRING, &objective, "O", "mass (block-mass distillation, closed-form alpha; default) or output (MSE of O)"},
      {"margin", CLI_DOUBLE, &margin, "X", "pass when trained <= X x untrained error on the fitted inputs (default 0.6)"},
      {"held-out", CLI_STRING, &held_out, "KIND", "synthetic held-out set: tokens (new tokens, same heads; default) or seed (all new)"},
      {"block", CLI_INT, &block, "N", "SLA2's block size in tokens (default: the executor's, 128; CUDA takes 128 only)"},
      {"eval-every", CLI_INT, &eval_every, "N", "validate every N steps and keep the best (default 20)"},
      {"held-qkv", CLI_STRING, &held_qkv, "FILE[:LAYER]", "with --qkv: held-out Q, K, V of the same shape (another capture)"},
      {"json", CLI_FLAG, &json, NULL, "print one JSON object"},
  };
  int code = cli_parse(&fit, fit_description, options, (int)(sizeof options / sizeof options[0]), argc, argv, NULL, 0, NULL);
  if (code >= 0) return code;
  const char *name = "attn fit", *hint = "see 'vdit attn fit --help'";
  if (strcmp(method, "sla") != 0) return cli_usage_error(name, hint, "fit trains method sla only, got '%s'", method);
  vdit_attn_sla_fit_spec spec;
  memset(&spec, 0, sizeof spec);
  if (vdit_attn_inputs_parse(inputs, &spec.inputs) != VDIT_OK) return cli_usage_error(name, hint, "%s", vdit_last_error());
  code = cli_parse_device(name, device, &spec.device);
  if (code >= 0) return code;
  const int cuda = spec.device.type == VDIT_DEVICE_CUDA;
  if (!dtype) dtype = cuda ? "bf16" : "fp32";
  if (vdit_dtype_parse(dtype, &spec.dtype) != VDIT_OK ||
      (spec.dtype != VDIT_DTYPE_BF16 && spec.dtype != VDIT_DTYPE_F16 && spec.dtype != VDIT_DTYPE_F32))
    return cli_usage_error(name, hint, "--dtype must be bf16, fp16 or fp32, got '%s'", dtype);
  if (strcmp(feature, "softmax") == 0) spec.feature = VDIT_ATTN_SLA_SOFTMAX;
  else if (strcmp(feature, "elu") == 0) spec.feature = VDIT_ATTN_SLA_ELU;
  else return cli_usage_error(name, hint, "unknown --feature '%s' (softmax or elu)", feature);
  if (batch < 1 || heads < 1 || seq < 1 || dim < 1 || dim > 256) return cli_usage_error(name, hint, "sizes must be >= 1, --dim <= 256");
  if (steps < 1 || steps > 100000 || !(lr > 0) || seed < 0) return cli_usage_error(name, hint, "--steps 1..100000, --lr > 0, --seed >= 0");
  if (!(sparsity >= 0 && sparsity < 1)) return cli_usage_error(name, hint, "--sparsity must be in [0, 1)");
  if (router_dim < 1 || router_dim > 256) return cli_usage_error(name, hint, "--router-dim must be in 1..256");
  if (!(router_lr >= 0) || !(alpha_init > 0 && alpha_init < 1))
    return cli_usage_error(name, hint, "--router-lr must be >= 0, --alpha-init in (0, 1)");
  if (strcmp(init, "random") != 0 && strcmp(init, "identity") != 0)
    return cli_usage_error(name, hint, "unknown --init '%s' (random or identity)", init);
  spec.init_identity = strcmp(init, "identity") == 0;
  if (strcmp(objective, "mass") == 0) spec.objective = VDIT_ATTN_SLA_FIT_MASS;
  else if (strcmp(objective, "output") == 0) spec.objective = VDIT_ATTN_SLA_FIT_OUTPUT;
  else return cli_usage_error(name, hint, "unknown --objective '%s' (mass or output)", objective);
  if (!(margin > 0 && margin <= 1)) return cli_usage_error(name, hint, "--margin must be in (0, 1]");
  if (eval_every < 1 || eval_every > 100000) return cli_usage_error(name, hint, "--eval-every must be in 1..100000");
  if (held_qkv && !qkv) return cli_usage_error(name, hint, "--held-qkv needs --qkv");
  spec.eval_every = (int)eval_every;
  if (strcmp(held_out, "tokens") != 0 && strcmp(held_out, "seed") != 0)
    return cli_usage_error(name, hint, "unknown --held-out '%s' (tokens or seed)", held_out);
  spec.held_new_heads = strcmp(held_out, "seed") == 0;
  if (block < 0 || block > 4096) return cli_usage_error(name, hint, "--block must be in 0..4096");
  spec.block = (int32_t)block;
  float *given[3] = {NULL, NULL, NULL}, *held[3] = {NULL, NULL, NULL};
  spec.shape = (vdit_attn_shape){batch, heads, seq, seq, dim};
  if (qkv) {
    char path[4096];
    int64_t layer = -1;
    code = split_qkv(name, hint, qkv, path, sizeof path, &layer);
    if (code >= 0) return code;
    vdit_status status = vdit_attn_inputs_read(path, layer, &spec.shape, &given[0], &given[1], &given[2]);
    if (status != VDIT_OK) return cli_report_failure(name, status);
    spec.given_q = given[0], spec.given_k = given[1], spec.given_v = given[2];
    inputs = qkv;
  }
  if (held_qkv) {
    char path[4096];
    int64_t layer = -1;
    vdit_attn_shape held_shape;
    code = split_qkv(name, hint, held_qkv, path, sizeof path, &layer);
    vdit_status status = code >= 0 ? VDIT_OK : vdit_attn_inputs_read(path, layer, &held_shape, &held[0], &held[1], &held[2]);
    if (status == VDIT_OK && code < 0 && memcmp(&held_shape, &spec.shape, sizeof held_shape) != 0)
      status = VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "--held-qkv %s: shape differs from --qkv's", held_qkv);
    if (code >= 0 || status != VDIT_OK) {
      for (int i = 0; i < 3; i++) free(given[i]), free(held[i]);
      return code >= 0 ? code : cli_report_failure(name, status);
    }
    spec.held_q = held[0], spec.held_k = held[1], spec.held_v = held[2];
  }
  spec.seed = (uint64_t)seed;
  spec.sparsity = sparsity;
  spec.router_dim = (int32_t)router_dim;
  spec.steps = (int)steps;
  spec.learning_rate = (float)lr;
  spec.router_learning_rate = (float)router_lr;
  spec.alpha_init = (float)alpha_init;
  vdit_attn_sla_fit_result r;
  memset(&r, 0, sizeof r);
  r.losses = malloc((size_t)steps * sizeof *r.losses);
  vdit_status status = r.losses ? vdit_attn_sla_fit_run(&spec, &r) : VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "no memory");
  for (int i = 0; i < 3; i++) free(given[i]), free(held[i]);
  if (status != VDIT_OK) {
    free(r.losses);
    return cli_report_failure(name, status);
  }
  const int passed = r.trained <= margin * r.untrained;
  const vdit_attn_shape sh = spec.shape;
  if (json) {
    printf("{\"method\": \"sla\", \"shape\": {\"batch\": %lld, \"heads\": %lld, \"seq\": %lld, \"dim\": %lld}, \"inputs\": ",
           (long long)sh.batch, (long long)sh.heads, (long long)sh.seq_q, (long long)sh.head_dim);
    cli_print_json_string(inputs);
    printf(", \"device\": \"%s\", \"dtype\": \"%s\", \"seed\": %lld, \"sparsity\": %.6g, \"achieved_sparsity\": %.6f, "
           "\"steps\": %lld, \"lr\": %g, \"router_dim\": %lld, \"feature\": \"%s\", \"rel_l1\": {\"untrained\": %.6g, "
           "\"trained\": %.6g, \"held_out_untrained\": %.6g, \"held_out_trained\": %.6g, \"pooled_router\": %.6g}, "
           "\"alpha_mean\": %.6g, \"init\": \"%s\", \"router_lr\": %g, \"alpha_init\": %g, \"objective\": \"%s\", "
           "\"alpha_only\": %.6g, \"held_out_alpha_only\": %.6g, \"held_out_pooled_router\": %.6g, \"mass_oracle\": %.6g, \"eval_every\": %lld, "
           "\"best_step\": %d, \"validation_start\": %.6g, \"validation_best\": %.6g, \"margin\": %g, \"held_out\": \"%s\", "
           "\"block\": %lld, \"losses\": [",
           device, vdit_dtype_name(spec.dtype), (long long)seed, sparsity, r.sparsity, (long long)steps, lr,
           (long long)router_dim, feature, r.untrained, r.trained, r.held_untrained, r.held_trained, r.identity, r.alpha_mean, init,
           router_lr > 0 ? router_lr : lr, alpha_init, objective, r.alpha_only, r.held_alpha_only, r.held_identity,
           r.oracle, (long long)eval_every, r.best_step, r.validation_start, r.validation_best, margin,
           held_qkv ? "qkv" : held_out, (long long)block);
    for (int64_t i = 0; i < steps; i++) printf("%s%.6g", i ? ", " : "", (double)r.losses[i]);
    printf("], \"passed\": %s}\n", passed ? "true" : "false");
  } else {
    printf("attn fit: sla, B=%lld H=%lld S=%lld D=%lld, %s inputs, %s %s, sparsity %.4g (achieved %.4f), %lld steps, lr %g, D_r %lld\n",
           (long long)sh.batch, (long long)sh.heads, (long long)sh.seq_q, (long long)sh.head_dim, inputs, device,
           vdit_dtype_name(spec.dtype), sparsity, r.sparsity, (long long)steps, lr, (long long)router_dim);
    for (int64_t i = 0; i < steps; i += (steps >= 10 ? steps / 10 : 1))
      printf("step %5lld  loss %.6g\n", (long long)i, (double)r.losses[i]);
    printf("objective %s; validation error %.4f at the start -> %.4f at step %d (kept)\n", objective, r.validation_start,
           r.validation_best, r.best_step);
    printf("O vs dense, relative L1: untrained router %.4f -> trained %.4f (%.2fx; alpha mean %.3f)\n", r.untrained, r.trained,
           r.trained / r.untrained, r.alpha_mean);
    if (r.alpha_only >= 0) printf("untrained router, fitted alpha (alpha alone): %.4f\n", r.alpha_only);
    if (r.oracle >= 0) printf("mass oracle (Top-k by dense block mass, fitted alpha): %.4f\n", r.oracle);
    if (r.held_untrained >= 0)
      printf("held-out inputs (%s): untrained %.4f -> trained %.4f (%.2fx; alpha alone %.4f)\n",
             held_qkv ? held_qkv : (spec.held_new_heads ? "seed + 1" : "token seed + 1, same heads"),
             r.held_untrained, r.held_trained, r.held_trained / r.held_untrained, r.held_alpha_only);
    if (r.identity >= 0) printf("SLA's pooled-score router (identity), untrained alpha: %.4f (held out %.4f)\n", r.identity,
                                r.held_identity);
    printf("result: %s (trained error %s %g x the untrained)\n", passed ? "pass" : "FAIL", passed ? "within" : "above", margin);
  }
  free(r.losses);
  if (!passed)
    fprintf(stderr, "vdit attn fit: trained error %.4f is above %g x the untrained %.4f\n", r.trained, margin, r.untrained);
  return passed ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
}

static int run_attn(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "check") == 0) return run_check(argc - 1, argv + 1);
  if (argc >= 2 && strcmp(argv[1], "train") == 0) return run_train(argc - 1, argv + 1);
  if (argc >= 2 && strcmp(argv[1], "tune") == 0) return run_tune(argc - 1, argv + 1);
  if (argc >= 2 && strcmp(argv[1], "fit") == 0) return run_fit(argc - 1, argv + 1);
  if (argc >= 2 && strcmp(argv[1], "bench") == 0) return run_bench(argc - 1, argv + 1);
  if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
    printf("usage: vdit attn check|bench|train|tune|fit [options]\n\n"
           "  check   compare a method with the fp64 reference (see 'vdit attn check --help')\n"
           "  bench   time a method's forward and backward (see 'vdit attn bench --help')\n"
           "  train   train a small attention model with dense and a method (see 'vdit attn train --help')\n"
           "  tune    per-head sparge parameters for a relative-L1 target (see 'vdit attn tune --help')\n"
           "  fit     train SLA2's router and alpha to imitate dense attention (see 'vdit attn fit --help')\n");
    return CLI_EXIT_OK;
  }
  if (argc < 2) return cli_usage_error("attn", "see 'vdit attn --help'", "missing subcommand: check, bench, train, tune or fit");
  static const char *const subcommands[] = {"check", "bench", "train", "tune", "fit", NULL};
  return cli_unknown_word("attn", "subcommand", "", argv[1], subcommands, "see 'vdit attn --help'");
}

// ---------------------------------------------------------------- bench
static const char *const bench_description =
    "Times attention forward and backward (median of --repeat runs after --warmup) and reports\n"
    "ms and TFLOP/s (forward 4*B*H*Sq*Sk*D FLOPs, backward 2.5x forward, dense count). On\n"
    "CUDA each run is timed with CUDA events, L2 flushed first when the tensors would fit in it.\n"
    "Also spelled 'vdit bench attn'.";

static int run_bench(int argc, char **argv) {
  static const cli_command bench = {"attn bench", "", "vdit attn bench [options]", NULL};
  attn_flags f;
  vdit_attn_check_spec spec;
  int code = parse_flags(&bench, bench_description, MODE_BENCH, argc, argv, &f, &spec);
  if (code >= 0) {
    flags_free(&f);
    return code;
  }
  vdit_attn_timing timing;
  vdit_status status = vdit_attn_bench_run(&spec, (int)f.warmup, (int)f.repeat, &timing);
  flags_free(&f);
  if (status != VDIT_OK) return cli_report_failure("attn bench", status);
  const vdit_attn_shape s = spec.shape;
  double flops = 4.0 * (double)s.batch * (double)s.heads * (double)s.seq_q * (double)s.seq_k * (double)s.head_dim;
  double fwd_tflops = flops / timing.forward_seconds / 1e12;
  double bwd_tflops = spec.backward ? 2.5 * flops / timing.backward_seconds / 1e12 : 0.0;
  const char *timer = timing.device_events ? (timing.flushed_l2 ? "cuda events, L2 flushed" : "cuda events") : "host clock";
  vdit_gpu_info gpu;
  memset(&gpu, 0, sizeof gpu);
  if (spec.device.type == VDIT_DEVICE_CUDA && vdit_gpu_query(spec.device.index, &gpu) != VDIT_OK) gpu.name[0] = '\0';
  if (f.json) {
    print_shape_json(&spec, &f);
    printf(", \"fwd\": {\"ms\": %.4f, \"tflops\": %.4f}", 1e3 * timing.forward_seconds, fwd_tflops);
    if (spec.backward) printf(", \"bwd\": {\"ms\": %.4f, \"tflops\": %.4f}", 1e3 * timing.backward_seconds, bwd_tflops);
    if (spec.config.method == VDIT_ATTN_SPARGE)
      printf(", \"mask\": {\"ms\": %.4f}, \"sparsity\": %.6f, \"target_sparsity\": %.6g, \"rule\": \"%s\"",
             1e3 * timing.mask_seconds, timing.sparsity, spec.target_sparsity, f.rule ? f.rule : "topk");
    if (is_clustered(spec.config.method)) {
      const vdit_attn_cluster_stats *c = &timing.cluster;
      printf(", \"budget\": %.6g, \"budget_used\": %.6f, \"top_p\": %.6g, \"warm\": %s, \"q_clusters\": %d, \"k_clusters\": %d, "
             "\"route_ms\": %.4f, \"kmeans_ms\": %.4f, \"select_ms\": %.4f, \"compensate_ms\": %.4f, "
             "\"q_pad_factor\": %.4f, \"k_pad_factor\": %.4f",
             (double)spec.config.cluster.budget, c->budget_used, c->top_p, c->warm ? "true" : "false", c->q_clusters,
             c->k_clusters, 1e3 * c->route_seconds, 1e3 * c->kmeans_seconds, 1e3 * c->select_seconds,
             1e3 * c->compensate_seconds, c->q_pad_factor, c->k_pad_factor);
      if (c->stages) { // per-step GPU times of the last forward's routing (CUDA events)
        printf(", \"stages_ms\": {");
        for (int i = 0; i < VDIT_ATTN_CLUSTER_STAGES; i++)
          printf("%s\"%s\": %.4f", i ? ", " : "", vdit_attn_cluster_stage_name(i), c->stage_ms[i]);
        printf("}");
      }
    }
    if (spec.compare_dense) printf(", \"o_vs_dense\": {\"rel_l1\": %.6g, \"psnr\": %.4f}", timing.o_rel_l1, timing.o_psnr);
    if (spec.config.method == VDIT_ATTN_SLA)
      printf(", \"router\": {\"ms\": %.4f}, \"sparsity\": %.6f, \"topk\": %.6g, \"router_dim\": %d, \"feature\": \"%s\", "
             "\"router_grad\": %s",
             1e3 * timing.mask_seconds, timing.sparsity, (double)spec.config.sla.topk, spec.config.sla.router_dim, f.feature,
             f.freeze_router ? "false" : "true");
    if (timing.sla_stages) {
      static const char *names[] = {"pool", "topk", "sparse", "prepare", "totals", "out", "forward"};
      printf(", \"stages_ms\": {");
      for (int i = 0; i < 7; i++) printf("%s\"%s\": %.4f", i ? ", " : "", names[i], timing.sla_stage_ms[i]);
      printf("}");
    }
    printf(", \"repeat\": %lld, \"warmup\": %lld, \"timer\": \"%s\"", (long long)f.repeat, (long long)f.warmup, timer);
    if (gpu.name[0]) {
      printf(", \"gpu\": ");
      cli_print_json_string(gpu.name);
    }
    printf("}\n");
    return CLI_EXIT_OK;
  }
  printf("attn bench: %s, B=%lld H=%lld Sq=%lld Sk=%lld D=%lld, %s, mask %s, %s, %s%s%s (median of %lld, %s)\n",
         f.method, (long long)s.batch, (long long)s.heads, (long long)s.seq_q, (long long)s.seq_k,
         (long long)s.head_dim, f.layout, f.mask, vdit_dtype_name(spec.dtype), f.device, gpu.name[0] ? " " : "",
         gpu.name, (long long)f.repeat, timer);
  printf("forward  %10.3f ms  %9.4f TFLOP/s\n", 1e3 * timing.forward_seconds, fwd_tflops);
  if (spec.backward) printf("backward %10.3f ms  %9.4f TFLOP/s\n", 1e3 * timing.backward_seconds, bwd_tflops);
  if (spec.config.method == VDIT_ATTN_SPARGE)
    printf("mask     %10.3f ms  (sparsity %.4f; forward and backward above run on the held mask, TFLOP/s of the dense count)\n",
           1e3 * timing.mask_seconds, timing.sparsity);
  if (is_clustered(spec.config.method)) {
    const vdit_attn_cluster_stats *c = &timing.cluster;
    printf("routing  %10.3f ms  of the forward (last run, host clock%s): k-means %.3f, selection %.3f, compensation %.3f;"
           " budget used %.4f%s\n",
           1e3 * c->route_seconds, spec.device.type == VDIT_DEVICE_CUDA ? ", with the host copies" : "",
           1e3 * c->kmeans_seconds, 1e3 * c->select_seconds, 1e3 * c->compensate_seconds, c->budget_used,
           c->warm ? ", warm-started" : "");
    if (c->stages) {
      printf("stages  ");
      for (int i = 0; i < VDIT_ATTN_CLUSTER_STAGES; i++)
        printf("%s %s %.3f", i ? "," : "", vdit_attn_cluster_stage_name(i), c->stage_ms[i]);
      printf(" ms (last run, CUDA events between the launches)\n");
    }
  }
  if (spec.compare_dense) printf("O against dense: rel_l1 %.4e, PSNR %.2f dB\n", timing.o_rel_l1, timing.o_psnr);
  if (spec.config.method == VDIT_ATTN_SLA)
    printf("router   %10.3f ms  (sparsity %.4f; the forward above includes it and the linear branch, the backward every\n"
           "                    gradient; TFLOP/s of the dense count)\n",
           1e3 * timing.mask_seconds, timing.sparsity);
  if (timing.sla_stages) {
    const double *m = timing.sla_stage_ms;
    printf("stages   pool %.3f, topk %.3f, sparse %.3f, prepare %.3f, totals %.3f, out %.3f ms; forward %.3f ms (medians,\n"
           "         CUDA events between the launches)\n", m[0], m[1], m[2], m[3], m[4], m[5], m[6]);
  }
  return CLI_EXIT_OK;
}

const cli_command cli_command_attn = {
    .name = "attn",
    .summary = "attention methods: check against the fp64 reference, bench",
    .usage = "vdit attn check|bench|train|tune|fit [options]",
    .run = run_attn,
};
