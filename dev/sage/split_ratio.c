// The channel split's trigger (sage.split = auto, attn_sage.h): per (batch, head) of the check
// harness's inputs, the largest and second-largest smoothed K channel max over the lower median
// channel max (the quantity sage_split_channels compares with SAGE_SPLIT_RATIO), and how many
// channels a ratio T of 4, 6, 8, 12 would split. Plain inputs must split nothing at the chosen T
// (their path stays today's bits), outlier inputs their four scaled channels (d % 32 == 5).
// (The rule itself skips fewer than SAGE_SPLIT_MIN_KEYS keys; this table does not, hence S = 2.)
// Build: gcc -O2 -std=c11 -Iinclude -Isrc dev/sage/split_ratio.c build/src/libvdit.a -lm -fopenmp
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "attn/attn_inputs.h"

enum { D_MAX = 256 };

static int by_value(const void *a, const void *b) {
  const float x = *(const float *)a, y = *(const float *)b;
  return (x > y) - (x < y);
}

// One (b, h): k (n, D). Largest and second-largest a_d / median, and counts at each T.
static void ratios(const float *k, int64_t n, int64_t D, double *top, double *second, int counts[4]) {
  static const double ts[4] = {4, 6, 8, 12};
  float a[D_MAX], sorted[D_MAX];
  for (int64_t d = 0; d < D; d++) {
    double s = 0;
    for (int64_t j = 0; j < n; j++) s += k[j * D + d];
    const float mu = (float)(s / (double)n);
    float m = 0;
    for (int64_t j = 0; j < n; j++) m = fmaxf(m, fabsf(k[j * D + d] - mu));
    a[d] = sorted[d] = m;
  }
  qsort(sorted, (size_t)D, sizeof(float), by_value);
  const double med = sorted[(D - 1) / 2];
  *top = sorted[D - 1] / med, *second = sorted[D - 2] / med;
  for (int t = 0; t < 4; t++) {
    counts[t] = 0;
    for (int64_t d = 0; d < D; d++) counts[t] += a[d] > (float)ts[t] * (float)med;
  }
}

int main(void) {
  const vdit_attn_inputs kinds[] = {VDIT_ATTN_INPUTS_PLAIN, VDIT_ATTN_INPUTS_OUTLIER, VDIT_ATTN_INPUTS_VIDEO};
  const int64_t seqs[] = {2, 4, 8, 16, 63, 127, 256, 512, 1000, 4096};
  const int64_t dims[] = {64, 128};
  printf("%-8s %5s %4s | heads | ratio max / 2nd max (worst head) | heads splitting at T = 4, 6, 8, 12 (channels)\n", "inputs",
         "S", "D");
  for (int ki = 0; ki < 3; ki++)
    for (int si = 0; si < 10; si++)
      for (int di = 0; di < 2; di++) {
        const int64_t S = seqs[si], D = dims[di], H = 16;
        const vdit_attn_shape shape = {1, H, S, S, D};
        float *q = malloc(sizeof(float) * H * S * D), *k = malloc(sizeof(float) * H * S * D),
              *v = malloc(sizeof(float) * H * S * D);
        double top_max = 0, top_min = 1e30, second_max = 0;
        int heads[4] = {0}, channels[4] = {0};
        for (uint64_t seed = 0; seed < 4; seed++) {
          vdit_attn_inputs_fill(kinds[ki], seed, &shape, q, k, v);
          for (int64_t h = 0; h < H; h++) {
            double top, second;
            int counts[4];
            ratios(k + h * S * D, S, D, &top, &second, counts);
            top_max = fmax(top_max, top), top_min = fmin(top_min, top), second_max = fmax(second_max, second);
            for (int t = 0; t < 4; t++) heads[t] += counts[t] > 0, channels[t] += counts[t];
          }
        }
        printf("%-8s %5lld %4lld | %5lld | max %6.2f (min %6.2f) / 2nd %6.2f | %3d (%3d) %3d (%3d) %3d (%3d) %3d (%3d)\n",
               vdit_attn_inputs_name(kinds[ki]), (long long)S, (long long)D, (long long)(4 * H), top_max, top_min, second_max,
               heads[0], channels[0], heads[1], channels[1], heads[2], channels[2], heads[3], channels[3]);
        free(q), free(k), free(v);
      }
  return 0;
}
