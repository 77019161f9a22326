// The fit's router objective (src/attn/sla_router_fit.h) on the CPU:
//  1. dense attention's block mass against an fp64 softmax computed here (ragged last block,
//     B = 2), rows summing to 1;
//  2. the distillation loss against its definition in fp64 (KL of the mass against softmax
//     of the router's scores) and its gradients to Wq, Wk against central finite differences
//     (B = 2: the gradient sums the batch; ragged blocks);
//  3. a router whose scores rank blocks as the mass does has a lower loss than a shuffled one.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attn/attn_inputs.h"
#include "attn/sla_router_fit.h"
#include "check.h"
#include "vdit/vdit.h"

#define TEST_NAME "test_attn_sla_router_fit"

enum { B = 2, H = 2, S = 200, D = 16, BLOCK = 48, DR = 6, NB = (S + BLOCK - 1) / BLOCK };

// 1.
static void test_block_mass(const float *q, const float *k) {
  const vdit_attn_shape shape = {B, H, S, S, D};
  double *mass = malloc((size_t)(B * H * NB * NB) * sizeof *mass);
  double *row = malloc((size_t)S * sizeof *row);
  CHECK_OK(vdit_attn_sla_block_mass(&shape, BLOCK, q, k, mass));
  double worst = 0.0, worst_sum = 0.0;
  for (int64_t bh = 0; bh < B * H; bh++)
    for (int64_t I = 0; I < NB; I++) {
      double expect[NB] = {0};
      const int64_t i0 = I * BLOCK, i1 = i0 + BLOCK < S ? i0 + BLOCK : S;
      for (int64_t i = i0; i < i1; i++) {
        double m = -INFINITY, sum = 0.0;
        for (int64_t t = 0; t < S; t++) {
          double dot = 0.0;
          for (int64_t d = 0; d < D; d++) dot += (double)q[(bh * S + i) * D + d] * k[(bh * S + t) * D + d];
          row[t] = dot / sqrt((double)D);
          m = row[t] > m ? row[t] : m;
        }
        for (int64_t t = 0; t < S; t++) sum += exp(row[t] - m);
        for (int64_t t = 0; t < S; t++) expect[t / BLOCK] += exp(row[t] - m) / sum / (double)(i1 - i0);
      }
      double total = 0.0;
      for (int64_t J = 0; J < NB; J++) {
        const double got = mass[(bh * NB + I) * NB + J], err = fabs(got - expect[J]);
        worst = err > worst ? err : worst;
        total += got;
      }
      worst_sum = fabs(total - 1.0) > worst_sum ? fabs(total - 1.0) : worst_sum;
    }
  printf("block mass: worst |mass - fp64| %.3g, worst |row sum - 1| %.3g\n", worst, worst_sum);
  CHECK(worst < 2e-6);
  CHECK(worst_sum < 1e-12);
  free(mass);
  free(row);
}

// The loss of the definition in fp64 (block means, projections, KL).
static double loss_fp64(const float *q, const float *k, const double *mass, const float *wq, const float *wk) {
  double total = 0.0;
  for (int64_t bh = 0; bh < B * H; bh++) {
    const int64_t h = bh % H;
    double rq[NB][DR], rk[NB][DR];
    for (int side = 0; side < 2; side++)
      for (int64_t J = 0; J < NB; J++) {
        const float *x = (side ? k : q) + bh * S * D, *w = (side ? wk : wq) + h * D * DR;
        const int64_t t0 = J * BLOCK, t1 = t0 + BLOCK < S ? t0 + BLOCK : S;
        double mean[D] = {0};
        for (int64_t t = t0; t < t1; t++)
          for (int64_t d = 0; d < D; d++) mean[d] += x[t * D + d] / (double)(t1 - t0);
        for (int64_t r = 0; r < DR; r++) {
          double acc = 0.0;
          for (int64_t d = 0; d < D; d++) acc += mean[d] * w[d * DR + r];
          (side ? rk : rq)[J][r] = acc;
        }
      }
    for (int64_t I = 0; I < NB; I++) {
      double sc[NB], z = 0.0;
      for (int64_t J = 0; J < NB; J++) {
        double dot = 0.0;
        for (int64_t r = 0; r < DR; r++) dot += rq[I][r] * rk[J][r];
        sc[J] = dot / sqrt((double)DR);
        z += exp(sc[J]);
      }
      for (int64_t J = 0; J < NB; J++) {
        const double p = mass[(bh * NB + I) * NB + J];
        if (p > 0.0) total += p * (log(p) - (sc[J] - log(z)));
      }
    }
  }
  return total / (double)(B * H * NB);
}

// 2. and 3.
static void test_distill(const float *q, const float *k) {
  const vdit_attn_shape shape = {B, H, S, S, D};
  const int64_t np = H * D * DR;
  double *mass = malloc((size_t)(B * H * NB * NB) * sizeof *mass);
  float *w = malloc((size_t)(4 * np) * sizeof *w), *g = w + 2 * np;
  // a random target: positive rows summing to 1, one entry 0 (p log p = 0 there)
  float draw[B * H * NB * NB];
  vdit_rng_uniform(7, 0, (size_t)(B * H * NB * NB), draw);
  for (int64_t row = 0; row < B * H * NB; row++) {
    double sum = 0.0;
    for (int64_t J = 0; J < NB; J++) sum += mass[row * NB + J] = (row % 5 == 0 && J == 1) ? 0.0 : draw[row * NB + J] + 0.05;
    for (int64_t J = 0; J < NB; J++) mass[row * NB + J] /= sum;
  }
  vdit_rng_normal(8, 0, (size_t)(2 * np), w);
  for (int64_t i = 0; i < 2 * np; i++) w[i] *= 2.0f; // scores of a few units
  double loss = 0.0;
  CHECK_OK(vdit_attn_sla_router_distill(&shape, BLOCK, DR, q, k, mass, w, w + np, &loss, g, g + np));
  const double ref = loss_fp64(q, k, mass, w, w + np);
  printf("distill loss %.9g, fp64 %.9g\n", loss, ref);
  CHECK_NEAR(loss, ref, 1e-9 * fabs(ref) + 1e-12);
  double only = 0.0;
  CHECK_OK(vdit_attn_sla_router_distill(&shape, BLOCK, DR, q, k, mass, w, w + np, &only, NULL, NULL));
  CHECK(only == loss);
  // finite differences, every 7th parameter of both matrices
  double worst = 0.0;
  int checked = 0;
  for (int64_t i = 0; i < 2 * np; i += 7) {
    const float keep = w[i], step = 1e-2f;
    w[i] = keep + step;
    const double up = loss_fp64(q, k, mass, w, w + np), h_up = (double)w[i] - keep;
    w[i] = keep - step;
    const double down = loss_fp64(q, k, mass, w, w + np), h_down = keep - (double)w[i];
    w[i] = keep;
    const double fd = (up - down) / (h_up + h_down), err = fabs(fd - g[i]) / (fabs(fd) + 1e-4);
    worst = err > worst ? err : worst;
    checked++;
  }
  printf("distill gradient vs finite differences: %d parameters, worst relative error %.3g\n", checked, worst);
  CHECK(worst < 2e-3);
  free(mass);
  free(w);
}

// 3. on the true block mass: the router Wq = Wk = I (scores = the block means' dot product,
// which the video inputs' mass follows) beats a router whose key side is negated.
static void test_ranking(const float *q, const float *k) {
  const vdit_attn_shape shape = {B, H, S, S, D};
  const int64_t np = H * D * D;
  double *mass = malloc((size_t)(B * H * NB * NB) * sizeof *mass);
  float *w = calloc((size_t)(2 * np), sizeof *w);
  CHECK_OK(vdit_attn_sla_block_mass(&shape, BLOCK, q, k, mass));
  for (int64_t h = 0; h < H; h++)
    for (int64_t d = 0; d < D; d++) w[(h * D + d) * D + d] = w[np + (h * D + d) * D + d] = 1.0f;
  double good = 0.0, bad = 0.0;
  CHECK_OK(vdit_attn_sla_router_distill(&shape, BLOCK, D, q, k, mass, w, w + np, &good, NULL, NULL));
  for (int64_t i = np; i < 2 * np; i++) w[i] = -w[i];
  CHECK_OK(vdit_attn_sla_router_distill(&shape, BLOCK, D, q, k, mass, w, w + np, &bad, NULL, NULL));
  printf("distill loss: pooled-score router %.4f, negated %.4f\n", good, bad);
  CHECK(good < bad);
  free(mass);
  free(w);
}

int main(void) {
  const vdit_attn_shape shape = {B, H, S, S, D};
  const size_t n = (size_t)(B * H * S * D);
  float *q = malloc(3 * n * sizeof *q), *k = q + n, *v = k + n;
  CHECK_OK(vdit_attn_inputs_fill(VDIT_ATTN_INPUTS_VIDEO, 3, &shape, q, k, v));
  test_block_mass(q, k);
  test_distill(q, k);
  test_ranking(q, k);
  free(q);
  return check_finish(TEST_NAME);
}
