// The GPU k-means steps of clustered attention (src/attn/cuda/attn_cluster_kmeans.cu) against
// what they must agree on with the CPU (src/attn/cuda/attn_cluster.h,
// vdit_attn_cuda_cluster_assign):
//  1. assignment: with fp64 scores s_c = |c|^2 - 2 x.c and the rounding bound e_c of the GPU's
//     products (16-bit x times hi + lo centroids), the GPU's
//     choice g has s_g - s_best <= e_g + e_best (objective within the bound) for every token,
//     and g == best wherever best beats every other c by more than
//     e_c + e_best (assignments equal where the margin exceeds the bound; the CPU's fp32
//     assignment is checked against the same rule); most tokens must be decided;
//  2. sort: count, offsets and the stable permutation equal the host's counting sort, on the
//     GPU's assignment and on a skewed one with empty clusters.
// Inputs: bf16-rounded (or fp16-rounded, for the fp16 MMA) tokens around a few centres;
// centroids = tokens plus small noise (near ties); the kernel is the wgmma one (the mma.sync and
// TF32 kernels were deleted in round 17). Skips (exit 77) without the CUDA backend or a GPU.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vdit/vdit.h"

#ifdef VDIT_HAVE_CUDA
#include <cuda_runtime.h>

#include "attn/cuda/attn_cluster.h"
#endif

#define TEST_NAME "test_attn_cluster_kmeans_gpu"

#ifdef VDIT_HAVE_CUDA
static float dot_f32(const float *a, const float *b, int64_t D) { // the CPU specification's order
  float sum = 0.0f;
  for (int64_t d = 0; d < D; d++) sum += a[d] * b[d];
  return sum;
}

static void host_sort(const int32_t *assign, int64_t S, int C, int32_t *count, int32_t *offsets, int32_t *perm) {
  memset(count, 0, (size_t)C * sizeof *count);
  for (int64_t t = 0; t < S; t++) count[assign[t]]++;
  int32_t running = 0;
  for (int c = 0; c < C; c++) offsets[c] = running, running += count[c];
  offsets[C] = running;
  int32_t *cursor = malloc((size_t)C * sizeof *cursor);
  memcpy(cursor, offsets, (size_t)C * sizeof *cursor);
  for (int64_t t = 0; t < S; t++) perm[cursor[assign[t]]++] = (int32_t)t;
  free(cursor);
}

// GPU sort of assign (BH, S) against the host's; returns 0 on a CUDA failure.
static int check_sort(const int32_t *assign, int64_t BH, int64_t S, int C, const char *what) {
  int32_t *d_assign = NULL, *d_work = NULL, *d_count = NULL, *d_offsets = NULL, *d_perm = NULL;
  const size_t work = vdit_attn_cuda_cluster_sort_ints(BH, S, C) + 1;
  int ok = cudaMalloc((void **)&d_assign, (size_t)(BH * S) * 4 + 4) == cudaSuccess &&
           cudaMalloc((void **)&d_work, work * 4) == cudaSuccess &&
           cudaMalloc((void **)&d_count, (size_t)(BH * C) * 4) == cudaSuccess &&
           cudaMalloc((void **)&d_offsets, (size_t)(BH * (C + 1)) * 4) == cudaSuccess &&
           cudaMalloc((void **)&d_perm, (size_t)(BH * S) * 4 + 4) == cudaSuccess;
  int32_t *count = malloc((size_t)(BH * C) * 4), *offsets = malloc((size_t)(BH * (C + 1)) * 4),
          *perm = malloc((size_t)(BH * S) * 4 + 4);
  int32_t *h_count = malloc((size_t)C * 4), *h_offsets = malloc((size_t)(C + 1) * 4), *h_perm = malloc((size_t)S * 4 + 4);
  ok = ok && count && offsets && perm && h_count && h_offsets && h_perm;
  ok = ok && cudaMemcpy(d_assign, assign, (size_t)(BH * S) * 4, cudaMemcpyHostToDevice) == cudaSuccess;
  ok = ok && vdit_attn_cuda_cluster_sort(d_assign, BH, S, C, d_work, d_count, d_offsets, d_perm, 0) == cudaSuccess;
  ok = ok && cudaMemcpy(count, d_count, (size_t)(BH * C) * 4, cudaMemcpyDeviceToHost) == cudaSuccess &&
       cudaMemcpy(offsets, d_offsets, (size_t)(BH * (C + 1)) * 4, cudaMemcpyDeviceToHost) == cudaSuccess &&
       cudaMemcpy(perm, d_perm, (size_t)(BH * S) * 4, cudaMemcpyDeviceToHost) == cudaSuccess;
  CHECK(ok);
  for (int64_t bh = 0; ok && bh < BH; bh++) {
    host_sort(assign + bh * S, S, C, h_count, h_offsets, h_perm);
    int64_t bad = 0;
    for (int c = 0; c < C; c++) bad += count[bh * C + c] != h_count[c];
    for (int c = 0; c <= C; c++) bad += offsets[bh * (C + 1) + c] != h_offsets[c];
    for (int64_t t = 0; t < S; t++) bad += perm[bh * S + t] != h_perm[t];
    if (bad) CHECK_FAIL_("sort (%s) S=%lld C=%d slice %lld: %lld values differ from the host's", what, (long long)S, C,
                         (long long)bh, (long long)bad);
  }
  free(count), free(offsets), free(perm), free(h_count), free(h_offsets), free(h_perm);
  cudaFree(d_assign), cudaFree(d_work), cudaFree(d_count), cudaFree(d_offsets), cudaFree(d_perm);
  return ok;
}

// half: fp16 inputs (else bf16); bshd: x given as (S, BH, D) (the slices interleaved: head
// strides), else (BH, S, D).
static void run_case_layout(int64_t BH, int64_t S, int C, int64_t D, uint64_t seed, int half, int bshd) {
  const size_t nx = (size_t)(BH * S * D), nc = (size_t)(BH * C * D);
  float *x = malloc(nx * 4), *cen = malloc(nc * 4), *norms = malloc((size_t)(BH * C) * 4);
  float *noise = malloc((nx > nc ? nx : nc) * 4), *centres = malloc((size_t)(16 * D) * 4);
  int32_t *assign = malloc((size_t)(BH * S) * 4), *skew = malloc((size_t)(BH * S) * 4);
  double *score = malloc((size_t)C * sizeof *score), *bound = malloc((size_t)C * sizeof *bound);
  if (!x || !cen || !norms || !noise || !centres || !assign || !skew || !score || !bound) {
    CHECK_FAIL_("no host memory");
    goto done;
  }
  // tokens: one of 16 centres (scale 2) + N(0, 1), bf16-rounded; centroids: a drawn token
  // + 0.05 N(0, 1) (fp32), so several centroids sit near one token
  vdit_rng_normal(seed, 0, (size_t)(16 * D), centres);
  vdit_rng_normal(seed, 1u << 24, nx, noise);
  for (int64_t bh = 0; bh < BH; bh++)
    for (int64_t t = 0; t < S; t++)
      for (int64_t d = 0; d < D; d++) {
        const size_t i = (size_t)((bh * S + t) * D + d);
        const float v = 2.0f * centres[((t * 7 + bh) % 16) * D + d] + noise[i];
        x[i] = half ? vdit_f16_to_float(vdit_f16_from_float(v)) : vdit_bf16_to_float(vdit_bf16_from_float(v));
      }
  vdit_rng_normal(seed, 2u << 24, nc, noise);
  uint32_t pick[1];
  for (int64_t bh = 0; bh < BH; bh++)
    for (int c = 0; c < C; c++) {
      vdit_rng_u32(seed, (3u << 24) + (uint64_t)(bh * C + c), 1, pick);
      const int64_t t = (int64_t)(pick[0] % (uint32_t)S);
      float *row = cen + (bh * C + c) * D;
      for (int64_t d = 0; d < D; d++) row[d] = x[(bh * S + t) * D + d] + 0.05f * noise[(bh * C + c) * D + d];
      norms[bh * C + c] = dot_f32(row, row, D);
    }
  // x as the kernels read it: the 16-bit input itself, (BH, S, D) contiguous (x's values are
  // exact in that type)
  uint16_t *x16 = malloc(nx * 2);
  if (!x16) {
    CHECK_FAIL_("no host memory");
    goto done;
  }
  for (int64_t bh = 0; bh < BH; bh++)
    for (int64_t t = 0; t < S; t++)
      for (int64_t d = 0; d < D; d++) {
        const float v = x[(bh * S + t) * D + d];
        x16[bshd ? (t * BH + bh) * D + d : (bh * S + t) * D + d] = half ? vdit_f16_from_float(v) : vdit_bf16_from_float(v);
      }
  uint16_t *d_x = NULL;
  float *d_c = NULL, *d_n = NULL, *d_work = NULL;
  int32_t *d_assign = NULL;
  int ok = cudaMalloc((void **)&d_x, nx * 2) == cudaSuccess && cudaMalloc((void **)&d_c, nc * 4) == cudaSuccess &&
           cudaMalloc((void **)&d_work, vdit_attn_cuda_cluster_assign_floats(BH, C) * 4) == cudaSuccess &&
           cudaMalloc((void **)&d_n, (size_t)(BH * C) * 4) == cudaSuccess &&
           cudaMalloc((void **)&d_assign, (size_t)(BH * S) * 4) == cudaSuccess;
  ok = ok && cudaMemcpy(d_x, x16, nx * 2, cudaMemcpyHostToDevice) == cudaSuccess &&
       cudaMemcpy(d_c, cen, nc * 4, cudaMemcpyHostToDevice) == cudaSuccess &&
       cudaMemcpy(d_n, norms, (size_t)(BH * C) * 4, cudaMemcpyHostToDevice) == cudaSuccess &&
       cudaMemset(d_assign, 0xff, (size_t)(BH * S) * 4) == cudaSuccess;
  vdit_attn_cuda_cluster_args a;
  memset(&a, 0, sizeof a);
  a.bh = BH, a.dim = D, a.norms = d_n, a.assign_work = d_work;
  a.half_inputs = half;
  vdit_attn_cuda_cluster_x16 xv = {d_x, S * D, D, 0, 1}; // slice bh = batch bh, one head
  if (bshd) xv = (vdit_attn_cuda_cluster_x16){d_x, 0, BH * D, D, BH}; // one batch, BH heads
  ok = ok && vdit_attn_cuda_cluster_assign(&a, xv, S, C, d_c, d_assign, 0) == cudaSuccess;
  free(x16);
  ok = ok && cudaMemcpy(assign, d_assign, (size_t)(BH * S) * 4, cudaMemcpyDeviceToHost) == cudaSuccess;
  CHECK(ok);
  cudaFree(d_x), cudaFree(d_c), cudaFree(d_n), cudaFree(d_work), cudaFree(d_assign);
  if (!ok) goto done;
  int64_t decided = 0, objective_bad = 0, decided_bad = 0, cpu_bad = 0, range_bad = 0;
  double worst = 0.0;
  // rel: the centroid's representation (hi + lo in bf16 / fp16), terms: products summed per dot,
  // absolute: fp16's subnormal lo
  const double unit = ldexp(1.0, -23);
  const double rel = half ? ldexp(1.0, -22) : ldexp(1.0, -16);
  const double terms = 2.0 * (double)D, absolute = half ? ldexp(1.0, -25) : 0.0;
  const char *name = half ? "wgmma x in registers f16" : "wgmma x in registers bf16";
  for (int64_t bh = 0; bh < BH; bh++)
    for (int64_t t = 0; t < S; t++) {
      const float *xt = x + (bh * S + t) * D;
      int best = 0, cpu = 0;
      float cpu_score = INFINITY;
      for (int c = 0; c < C; c++) {
        const float *cr = cen + (bh * C + c) * D;
        double xc = 0.0, cc = 0.0, abs_xc = 0.0, abs_x = 0.0;
        for (int64_t d = 0; d < D; d++) {
          xc += (double)xt[d] * cr[d], cc += (double)cr[d] * cr[d];
          abs_xc += fabs((double)xt[d] * cr[d]), abs_x += fabs((double)xt[d]);
        }
        score[c] = cc - 2.0 * xc;
        bound[c] = 2.0 * abs_xc * (rel + terms * unit) + 2.0 * abs_x * absolute + cc * (double)D * unit +
                   fabs(score[c]) * unit + 1e-30;
        if (score[c] < score[best]) best = c;
        const float s32 = norms[bh * C + c] - 2.0f * dot_f32(xt, cr, D);
        if (s32 < cpu_score) cpu_score = s32, cpu = c;
      }
      const int g = assign[bh * S + t];
      if (g < 0 || g >= C) {
        range_bad++;
        continue;
      }
      const double excess = score[g] - score[best] - bound[g] - bound[best];
      if (excess > 0) objective_bad++;
      if (excess > worst) worst = excess;
      int clear = 1;
      for (int c = 0; c < C && clear; c++)
        if (c != best && score[c] - score[best] <= bound[c] + bound[best]) clear = 0;
      if (clear) {
        decided++;
        decided_bad += g != best;
        cpu_bad += cpu != best;
      }
    }
  const int64_t tokens = BH * S;
  if (range_bad || objective_bad || decided_bad || cpu_bad || 2 * decided < tokens)
    CHECK_FAIL_("assign (%s) BH=%lld S=%lld C=%d D=%lld: %lld out of range, %lld past the objective bound (worst %.3g), "
                "%lld of %lld decided tokens differ from fp64 (CPU: %lld), decided %lld of %lld",
                name, (long long)BH, (long long)S, C, (long long)D, (long long)range_bad, (long long)objective_bad, worst,
                (long long)decided_bad, (long long)decided, (long long)cpu_bad, (long long)decided, (long long)tokens);
  printf("assign (%s) BH=%lld S=%lld C=%d D=%lld: %.1f%% of tokens decided beyond the bound, all equal\n", name, (long long)BH,
         (long long)S, C, (long long)D, 100.0 * (double)decided / (double)tokens);
  if (!check_sort(assign, BH, S, C, "gpu assignment")) goto done;
  // skewed: half the tokens in cluster 0, the rest in every third cluster (the others empty)
  for (int64_t i = 0; i < BH * S; i++) skew[i] = (i % 2) ? 0 : (int32_t)(((i * 3) / 2 * 3) % C);
  check_sort(skew, BH, S, C, "skewed");
done:
  free(x), free(cen), free(norms), free(noise), free(centres), free(assign), free(skew), free(score), free(bound);
}

static void run_case(int64_t BH, int64_t S, int C, int64_t D, uint64_t seed, int half) {
  run_case_layout(BH, S, C, D, seed, half, 0);
}
#endif

int main(void) {
#ifndef VDIT_HAVE_CUDA
  return check_skip(TEST_NAME, "built without CUDA");
#else
  int count = 0;
  if (vdit_gpu_count(&count) != VDIT_OK || count == 0) return check_skip(TEST_NAME, "no CUDA GPU");
  run_case(2, 1000, 200, 128, 11, 0);  // C, S not tile multiples
  run_case(1, 4100, 1024, 128, 12, 0); // the key clustering's C
  run_case(3, 777, 256, 64, 13, 0);
  run_case(1, 333, 37, 33, 14, 0);     // D not a multiple of 4 (scalar loads), one centroid tile
  run_case(2, 513, 129, 100, 16, 0);   // D padded to 128, C one past a tile
  run_case(1, 70000, 300, 16, 15, 0);  // many sort chunks
  run_case(2, 1000, 200, 128, 17, 1);  // fp16 inputs
  run_case(1, 600, 65, 64, 18, 1);
  run_case_layout(3, 1500, 300, 128, 19, 0, 1); // head strides (16-byte pieces)
  run_case_layout(2, 700, 70, 36, 20, 1, 1);    // head strides, element loads
  // more 256-token items than SMs (a persistent block takes several: x and tiles across items)
  run_case(3, 11300, 256, 128, 21, 0);           // 135 items of 2 (4) centroid tiles
  run_case_layout(2, 17000, 60, 36, 22, 1, 1);  // 134 items of one tile, element loads
  return check_finish(TEST_NAME);
#endif
}
