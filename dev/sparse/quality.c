// Lab program: per-head quality of sparge's rules against an oracle block mask, on the CPU.
// For each (batch, head): relative L1 of O against dense attention (fp32 CPU executor both) for
//   oracle  per query block, the key blocks with the most true attention mass (summed over
//           the block's rows, fp64), as many as Top-k keeps;
//   topk / topp / hybrid  sparge's predicted masks, calibrated over all heads together to the
//           same overall sparsity (as `vdit attn check --sparsity X` does: the hybrid's Top-k
//           floor is half the density, p bisected);
//   hyb25 / hyb75  the hybrid with a Top-k floor of a quarter / three quarters of the density.
// And how peaked each head's rows are: the pooled map's row maximum (mean over query blocks),
// the true top-1 block mass (mean over query blocks) and the blocks needed for 90% of the
// true mass.
// Usage: quality [--block N] (--qkv FILE:LAYER | --inputs KIND --seq S --dim D [--heads H]) X [X ...]
//   KIND: video, video-heads, plain; --qkv: a `vdit capture` file (B, L, heads, head_dim).
//   Ends with one line "json {...}" holding every number.
// Build: cc -O2 -fopenmp -Iinclude -Isrc dev/sparse/quality.c build-cpu/src/libvdit.a -lm
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attn/attn_inputs.h"
#include "attn/attn_kernels.h"
#include "attn/sparge_exact.h"

enum { MAX_BLOCKS = 4096, RULES = 6 };

static double rel_l1(const float *o, const float *ref, int64_t n) {
  double e = 0, r = 0;
  for (int64_t i = 0; i < n; i++) {
    e += fabs((double)o[i] - ref[i]);
    r += fabs((double)ref[i]);
  }
  return e / r;
}

typedef struct ranked {
  double mass;
  int32_t j;
} ranked;

static int by_mass(const void *a, const void *b) {
  const ranked *x = a, *y = b;
  return x->mass < y->mass ? 1 : x->mass > y->mass ? -1 : (x->j > y->j) - (x->j < y->j);
}

// Sparge's map for `sp` with topk fixed and p bisected to the smallest value whose overall
// sparsity is <= target (vdit_attn_sparge_calibrate's rule with a chosen floor).
static void calibrate_p(const vdit_attn_problem *p, vdit_attn_sparge_config *sp, const float *q, const float *k,
                        vdit_attn_block_map *map, double target) {
  float lo = 0.0f, hi = 1.0f;
  for (int it = 0; it < 30; it++) {
    double sparsity;
    sp->params.topp = 0.5f * (lo + hi);
    vdit_attn_sparge_predict_cpu(p, sp, q, k, map);
    vdit_attn_block_map_count(map, NULL, &sparsity);
    if (sparsity > target) lo = sp->params.topp;
    else hi = sp->params.topp;
  }
  sp->params.topp = hi;
  vdit_attn_sparge_predict_cpu(p, sp, q, k, map);
}

int main(int argc, char **argv) {
  const char *qkv = NULL, *kind_name = NULL;
  int64_t S = 0, D = 0, H = 2;
  int32_t B = 128;
  int a = 1;
  for (; a < argc && strncmp(argv[a], "--", 2) == 0; a += 2) {
    if (a + 1 >= argc) break;
    if (!strcmp(argv[a], "--block")) B = atoi(argv[a + 1]);
    else if (!strcmp(argv[a], "--qkv")) qkv = argv[a + 1];
    else if (!strcmp(argv[a], "--inputs")) kind_name = argv[a + 1];
    else if (!strcmp(argv[a], "--seq")) S = atoll(argv[a + 1]);
    else if (!strcmp(argv[a], "--dim")) D = atoll(argv[a + 1]);
    else if (!strcmp(argv[a], "--heads")) H = atoll(argv[a + 1]);
    else break;
  }
  if (a >= argc || (!qkv && !kind_name) || B < 1) {
    fprintf(stderr, "usage: quality [--block N] (--qkv FILE:LAYER | --inputs KIND --seq S --dim D [--heads H]) X [X ...]\n");
    return 2;
  }
  vdit_attn_shape shape;
  float *q = NULL, *k = NULL, *v = NULL;
  if (qkv) {
    char path[1024];
    snprintf(path, sizeof path, "%s", qkv);
    char *colon = strrchr(path, ':');
    int64_t layer = -1;
    if (colon) *colon = '\0', layer = atoll(colon + 1);
    if (vdit_attn_inputs_read(path, layer, &shape, &q, &k, &v) != VDIT_OK) {
      fprintf(stderr, "quality: %s\n", vdit_last_error());
      return 1;
    }
  } else {
    vdit_attn_inputs kind;
    if (vdit_attn_inputs_parse(kind_name, &kind) != VDIT_OK || S < 1 || D < 1 || H < 1) {
      fprintf(stderr, "quality: bad --inputs/--seq/--dim/--heads\n");
      return 2;
    }
    shape = (vdit_attn_shape){1, H, S, S, D};
    const size_t n = (size_t)(H * S * D);
    q = malloc(n * 4), k = malloc(n * 4), v = malloc(n * 4);
    vdit_attn_inputs_fill(kind, 0, &shape, q, k, v);
  }
  S = shape.seq_q, D = shape.head_dim;
  const int64_t BH = shape.batch * shape.heads; // (b, h) pairs, b major
  const size_t n = (size_t)(BH * S * D);
  // round to bf16 like the check does
  uint16_t *tmp = malloc(n * 2);
  float *arrays[] = {q, k, v};
  for (int i = 0; i < 3; i++) {
    vdit_convert_from_float(VDIT_DTYPE_BF16, n, arrays[i], tmp);
    vdit_convert_to_float(VDIT_DTYPE_BF16, n, tmp, arrays[i]);
  }
  free(tmp);
  float *dense = malloc(n * 4), *o = malloc(n * 4), *lse = malloc((size_t)(BH * S) * 4);
  vdit_attn_problem p;
  memset(&p, 0, sizeof p);
  p.shape = shape;
  p.scale = 1.0f / sqrtf((float)D);
  vdit_attn_cpu_dense_forward(&p, q, k, v, dense, lse);
  const int32_t nb = (int32_t)((S + B - 1) / B);
  if (nb > MAX_BLOCKS) return 2;
  // true block masses (fp64): mass[bh][i][j] = sum over rows of block i of P(row, keys of block j)
  double *mass = calloc((size_t)(BH * nb * nb), sizeof *mass);
  for (int64_t h = 0; h < BH; h++)
#pragma omp parallel for
    for (int64_t r = 0; r < S; r++) {
      const float *qr = q + (h * S + r) * D;
      double *row = malloc((size_t)S * sizeof *row), mx = -INFINITY, sum = 0;
      for (int64_t j = 0; j < S; j++) {
        double dot = 0;
        for (int64_t d = 0; d < D; d++) dot += (double)qr[d] * k[(h * S + j) * D + d];
        row[j] = dot * p.scale;
        if (row[j] > mx) mx = row[j];
      }
      for (int64_t j = 0; j < S; j++) sum += (row[j] = exp(row[j] - mx));
      double *local = calloc((size_t)nb, sizeof *local);
      for (int64_t j = 0; j < S; j++) local[j / B] += row[j] / sum;
#pragma omp critical
      for (int32_t j = 0; j < nb; j++) mass[(h * nb + r / B) * nb + j] += local[j];
      free(local);
      free(row);
    }
  // Peakedness per (b, h): pooled map row max (mean over query blocks; pooled means in fp64,
  // no K-smoothing: it shifts a row by a constant), true top-1 block share, blocks for 90%.
  double *pooled_max = calloc((size_t)BH, sizeof(double)), *true_top1 = calloc((size_t)BH, sizeof(double));
  double *blocks90 = calloc((size_t)BH, sizeof(double));
  double *qm = malloc((size_t)(nb * D) * sizeof(double)), *km = malloc((size_t)(nb * D) * sizeof(double));
  ranked *rk = malloc((size_t)nb * sizeof *rk);
  for (int64_t h = 0; h < BH; h++) {
    for (int32_t i = 0; i < nb; i++)
      for (int64_t d = 0; d < D; d++) {
        double sq = 0, sk = 0;
        int64_t end = (int64_t)(i + 1) * B < S ? (int64_t)(i + 1) * B : S, count = end - (int64_t)i * B;
        for (int64_t t = (int64_t)i * B; t < end; t++) sq += q[(h * S + t) * D + d], sk += k[(h * S + t) * D + d];
        qm[i * D + d] = sq / (double)count, km[i * D + d] = sk / (double)count;
      }
    for (int32_t i = 0; i < nb; i++) {
      double s[MAX_BLOCKS], mx = -INFINITY, sum = 0;
      for (int32_t j = 0; j < nb; j++) {
        double dot = 0;
        for (int64_t d = 0; d < D; d++) dot += qm[i * D + d] * km[j * D + d];
        s[j] = dot * p.scale;
        if (s[j] > mx) mx = s[j];
      }
      for (int32_t j = 0; j < nb; j++) sum += exp(s[j] - mx);
      pooled_max[h] += (1.0 / sum) / nb;
      const double *m = mass + (h * nb + i) * nb;
      double total = 0;
      for (int32_t j = 0; j < nb; j++) total += m[j], rk[j] = (ranked){m[j], j};
      qsort(rk, (size_t)nb, sizeof *rk, by_mass);
      true_top1[h] += rk[0].mass / total / nb;
      double cum = 0;
      int c = 0;
      while (c < nb && cum < 0.9 * total) cum += rk[c++].mass;
      blocks90[h] += (double)c / nb;
    }
  }
  printf("inputs %s, B=%lld H=%lld S=%lld D=%lld, blocks of %d (%d per row); per (b, h):\n", qkv ? qkv : kind_name,
         (long long)shape.batch, (long long)shape.heads, (long long)S, (long long)D, B, nb);
  printf("  pooled row max (mean)  ");
  for (int64_t h = 0; h < BH; h++) printf(" %6.3f", pooled_max[h]);
  printf("   (uniform %.3f)\n  true top-1 block share ", 1.0 / nb);
  for (int64_t h = 0; h < BH; h++) printf(" %6.3f", true_top1[h]);
  printf("\n  blocks for 90%% mass    ");
  for (int64_t h = 0; h < BH; h++) printf(" %6.2f", blocks90[h]);
  printf("\n%-7s %-7s %8s %8s  relative L1 of O vs dense per (b, h)\n", "target", "rule", "sparsity", "mean");
  vdit_attn_block_map map;
  vdit_attn_block_map_alloc(&map, VDIT_CPU, shape.batch, shape.heads, S, S, B, B);
  const char *names[RULES] = {"oracle", "topk", "topp", "hybrid", "hyb25", "hyb75"};
  const int targets = argc - a;
  double *errors = calloc((size_t)(targets * RULES * BH), sizeof(double)), *sparsities = calloc((size_t)(targets * RULES), sizeof(double));
  for (int t = 0; t < targets; t++) {
    const double target = atof(argv[a + t]);
    const float density = (float)(1.0 - target);
    const int keep = sparge_topk_count(density, nb);
    for (int rule = 0; rule < RULES; rule++) {
      if (rule == 0) { // oracle: as many blocks per row as Top-k keeps
        int32_t used = 0;
        for (int64_t r = 0; r < BH * nb; r++) {
          map.row_offsets[r] = used;
          for (int32_t j = 0; j < nb; j++) rk[j] = (ranked){mass[r * nb + j], j};
          qsort(rk, (size_t)nb, sizeof *rk, by_mass);
          unsigned char sel[MAX_BLOCKS] = {0};
          for (int c = 0; c < keep; c++) sel[rk[c].j] = 1;
          for (int32_t j = 0; j < nb; j++)
            if (sel[j]) map.col_index[used++] = j;
        }
        map.row_offsets[BH * nb] = used;
      } else {
        vdit_attn_sparge_config sp;
        memset(&sp, 0, sizeof sp);
        if (rule <= 3) {
          sp.rule = (vdit_attn_sparge_rule)(rule - 1);
          vdit_attn_sparge_calibrate(&p, &sp, q, k, B, B, target, NULL);
          vdit_attn_sparge_predict_cpu(&p, &sp, q, k, &map);
        } else {
          sp.rule = VDIT_ATTN_SPARGE_HYBRID;
          sp.params.topk = (rule == 4 ? 0.25f : 0.75f) * density;
          calibrate_p(&p, &sp, q, k, &map, target);
        }
      }
      double sparsity;
      vdit_attn_block_map_count(&map, NULL, &sparsity);
      vdit_attn_problem ps = p;
      ps.map = &map;
      vdit_attn_cpu_dense_forward(&ps, q, k, v, o, lse);
      double mean = 0;
      double *e = errors + ((size_t)t * RULES + (size_t)rule) * (size_t)BH;
      for (int64_t h = 0; h < BH; h++) mean += (e[h] = rel_l1(o + h * S * D, dense + h * S * D, S * D)) / (double)BH;
      sparsities[t * RULES + rule] = sparsity;
      printf("%-7.3f %-7s %8.4f %8.4f ", target, names[rule], sparsity, mean);
      for (int64_t h = 0; h < BH; h++) printf(" %6.4f", e[h]);
      printf("\n");
    }
  }
  // everything as one JSON object
  printf("json {\"inputs\": \"%s\", \"batch\": %lld, \"heads\": %lld, \"seq\": %lld, \"head_dim\": %lld, \"block\": %d, ",
         qkv ? qkv : kind_name, (long long)shape.batch, (long long)shape.heads, (long long)S, (long long)D, B);
  const char *stat_names[3] = {"pooled_row_max", "true_top1_share", "blocks_for_90pct"};
  const double *stats[3] = {pooled_max, true_top1, blocks90};
  for (int s = 0; s < 3; s++) {
    printf("\"%s\": [", stat_names[s]);
    for (int64_t h = 0; h < BH; h++) printf("%s%.4f", h ? ", " : "", stats[s][h]);
    printf("], ");
  }
  printf("\"rows\": [");
  for (int t = 0; t < targets; t++)
    for (int rule = 0; rule < RULES; rule++) {
      printf("%s{\"target\": %s, \"rule\": \"%s\", \"sparsity\": %.4f, \"rel_l1\": [", t || rule ? ", " : "", argv[a + t],
             names[rule], sparsities[t * RULES + rule]);
      for (int64_t h = 0; h < BH; h++)
        printf("%s%.4f", h ? ", " : "", errors[((size_t)t * RULES + (size_t)rule) * (size_t)BH + (size_t)h]);
      printf("]}");
    }
  printf("]}\n");
  vdit_attn_block_map_free(&map);
  free(errors), free(sparsities), free(rk), free(qm), free(km), free(pooled_max), free(true_top1), free(blocks90);
  free(mass), free(q), free(k), free(v), free(dense), free(o), free(lse);
  return 0;
}
