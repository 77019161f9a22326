// Lab program: per-head quality of sparge's rules against an oracle block mask, on the CPU.
// For each head: relative L1 of O against dense attention (fp32 CPU executor both) for
//   oracle  per query block, the key blocks with the most true attention mass (summed over
//           the block's rows, fp64), as many as Top-k keeps;
//   topk / topp / hybrid  sparge's predicted masks, calibrated to the same overall sparsity
//           (vdit_attn_sparge_calibrate, as `vdit attn check --sparsity X` does).
// Usage: quality INPUTS S D X [X ...]   (H = 2; inputs: video, video-heads, plain)
// Build: cc -O2 -fopenmp -Iinclude -Isrc dev/sparse/quality.c build-cpu/src/libvdit.a -lm
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attn/attn_inputs.h"
#include "attn/attn_kernels.h"
#include "attn/sparge_exact.h"

static double head_error(const float *o, const float *ref, int64_t n) {
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

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: quality INPUTS S D X [X ...]\n");
    return 2;
  }
  vdit_attn_inputs kind;
  if (vdit_attn_inputs_parse(argv[1], &kind) != VDIT_OK) return 2;
  const int64_t S = atoll(argv[2]), D = atoll(argv[3]), H = 2;
  const vdit_attn_shape shape = {1, H, S, S, D};
  const size_t n = (size_t)(H * S * D);
  float *q = malloc(n * 4), *k = malloc(n * 4), *v = malloc(n * 4), *dense = malloc(n * 4), *o = malloc(n * 4);
  float *lse = malloc((size_t)(H * S) * 4);
  vdit_attn_inputs_fill(kind, 0, &shape, q, k, v);
  // round to bf16 like the check does
  uint16_t *tmp = malloc(n * 2);
  float *arrays[] = {q, k, v};
  for (int a = 0; a < 3; a++) {
    vdit_convert_from_float(VDIT_DTYPE_BF16, n, arrays[a], tmp);
    vdit_convert_to_float(VDIT_DTYPE_BF16, n, tmp, arrays[a]);
  }
  vdit_attn_problem p;
  memset(&p, 0, sizeof p);
  p.shape = shape;
  p.scale = 1.0f / sqrtf((float)D);
  vdit_attn_cpu_dense_forward(&p, q, k, v, dense, lse);
  const int32_t B = 128, nb = (int32_t)((S + B - 1) / B);
  // true block masses (fp64): mass[h][i][j] = sum over rows of block i of P(row, keys of block j)
  double *mass = calloc((size_t)(H * nb * nb), sizeof *mass);
  for (int64_t h = 0; h < H; h++)
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
      double local[4096] = {0};
      for (int64_t j = 0; j < S; j++) local[j / B] += row[j] / sum;
#pragma omp critical
      for (int32_t j = 0; j < nb; j++) mass[(h * nb + r / B) * nb + j] += local[j];
      free(row);
    }
  printf("inputs %s, S=%lld, D=%lld, H=%lld, blocks %d x %d (head 0, head 1: relative L1 of O vs dense)\n", argv[1],
         (long long)S, (long long)D, (long long)H, B, B);
  printf("%-8s %-7s %9s %9s %9s\n", "target", "rule", "sparsity", "head0", "head1");
  vdit_attn_block_map map, map_t;
  vdit_attn_block_map_alloc(&map, VDIT_CPU, 1, H, S, S, B, B);
  for (int a = 4; a < argc; a++) {
    const double target = atof(argv[a]);
    // oracle: as many blocks per row as Top-k keeps
    const int keep = sparge_topk_count((float)(1.0 - target), nb);
    int32_t used = 0;
    ranked *rk = malloc((size_t)nb * sizeof *rk);
    for (int64_t r = 0; r < H * nb; r++) {
      map.row_offsets[r] = used;
      for (int32_t j = 0; j < nb; j++) rk[j] = (ranked){mass[r * nb + j], j};
      qsort(rk, (size_t)nb, sizeof *rk, by_mass);
      unsigned char sel[4096] = {0};
      for (int c = 0; c < keep; c++) sel[rk[c].j] = 1;
      for (int32_t j = 0; j < nb; j++)
        if (sel[j]) map.col_index[used++] = j;
    }
    map.row_offsets[H * nb] = used;
    free(rk);
    const char *names[] = {"oracle", "topk", "topp", "hybrid"};
    for (int rule = -1; rule < 3; rule++) {
      if (rule >= 0) {
        vdit_attn_sparge_config sp;
        memset(&sp, 0, sizeof sp);
        sp.rule = (vdit_attn_sparge_rule)rule;
        vdit_attn_sparge_calibrate(&p, &sp, q, k, B, B, target, NULL);
        vdit_attn_sparge_predict_cpu(&p, &sp, q, k, &map);
      }
      double sparsity;
      vdit_attn_block_map_count(&map, NULL, &sparsity);
      vdit_attn_problem ps = p;
      ps.map = &map;
      vdit_attn_cpu_dense_forward(&ps, q, k, v, o, lse);
      printf("%-8.2f %-7s %9.4f %9.4f %9.4f\n", target, names[rule + 1], sparsity, head_error(o, dense, S * D),
             head_error(o + S * D, dense + S * D, S * D));
    }
    (void)map_t;
  }
  return 0;
}
