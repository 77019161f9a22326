// Where the FP8 P V error comes from (issue 6, accuracy gap 2): O = softmax(q K^T / sqrt(D)) V
// in fp64 with e4m3 rounding on P only, on V only, on both, and with bf16 P and V instead, on the
// "plain" inputs (i.i.d. N(0, 1) Q, K, V). P is scaled as the sage kernels do (P' = 448 P /
// max P, the row max maps to 448) and V per channel (V / (amax V[:, d] / 448)); everything
// else is exact, so each column isolates one operand's rounding. Prints rel L1 against fp64.
// Build: gcc -O2 -std=c11 -Iinclude -Isrc dev/sage/pv_error.c build/src/libvdit.a -lm -fopenmp
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "num/format_convert.h"
#include "vdit/base.h"

static float e4m3(float x) { return vdit_num_decode_e4m3(vdit_num_encode_e4m3(x)); }
static double bf16(double x) { return vdit_num_decode_bf16(vdit_num_encode_bf16((float)x)); }

int main(void) {
  enum { D = 128 };
  const int seqs[] = {512, 2048};
  for (int si = 0; si < 2; si++) {
    const int S = seqs[si];
    float *q = malloc(sizeof(float) * S * D), *k = malloc(sizeof(float) * S * D), *v = malloc(sizeof(float) * S * D);
    float *vq = malloc(sizeof(float) * S * D);
    double *p = malloc(sizeof(double) * S);
    if (!q || !k || !v || !vq || !p) return 1;
    vdit_rng_normal(7, 0, (size_t)S * D, q);
    vdit_rng_normal(7, 1u << 24, (size_t)S * D, k);
    vdit_rng_normal(7, 2u << 24, (size_t)S * D, v);
    for (int d = 0; d < D; d++) {
      float amax = 0.0f;
      for (int j = 0; j < S; j++) amax = fmaxf(amax, fabsf(v[j * D + d]));
      const float vs = amax / 448.0f;
      for (int j = 0; j < S; j++) vq[j * D + d] = e4m3(v[j * D + d] / vs) * vs;
    }
    double err[4] = {0, 0, 0, 0}, norm = 0;
    for (int i = 0; i < S; i++) {
      double m = -INFINITY, l = 0;
      for (int j = 0; j < S; j++) {
        double s = 0;
        for (int d = 0; d < D; d++) s += (double)q[i * D + d] * k[j * D + d];
        p[j] = s / sqrt((double)D);
        m = fmax(m, p[j]);
      }
      for (int j = 0; j < S; j++) l += (p[j] = exp(p[j] - m));
      for (int d = 0; d < D; d++) {
        double ref = 0, o[4] = {0, 0, 0, 0};
        for (int j = 0; j < S; j++) {
          const double p8 = e4m3((float)(p[j] * 448.0)) / 448.0, x = v[j * D + d];
          ref += p[j] * x;
          o[0] += p8 * x;
          o[1] += p[j] * vq[j * D + d];
          o[2] += p8 * vq[j * D + d];
          o[3] += bf16(p[j]) * bf16(x);
        }
        norm += fabs(ref / l);
        for (int c = 0; c < 4; c++) err[c] += fabs((o[c] - ref) / l);
      }
    }
    printf("S=%d D=%d plain: rel L1  P e4m3 only %.4f | V e4m3 only %.4f | both %.4f | bf16 P and V %.4f\n", S, D,
           err[0] / norm, err[1] / norm, err[2] / norm, err[3] / norm);
    free(q), free(k), free(v), free(vq), free(p);
  }
  return 0;
}
