// instance_norm (reference): instance norm (a group per channel).
#include "kb.h"
#define GROUPS a->n[1]
// x (n0 = B, n1 = C, n2 = HW); one item per (batch, group).
KB_FN void kb_item(const kb_args *a, kb_i64 item) {
  kb_i64 C = a->n[1], HW = a->n[2], G = GROUPS, per = C / G * HW;
  kb_i64 b = item / G, g = item % G;
  const float *x = KB_IN(float, 0) + (b * C + g * (C / G)) * HW, *w = KB_IN(float, 1), *bias = KB_IN(float, 2);
  float *y = KB_OUT(float, 0) + (b * C + g * (C / G)) * HW;
  float mean = 0.0f, var = 0.0f;
  for (kb_i64 i = 0; i < per; i++) mean += x[i];
  mean /= (float)per;
  for (kb_i64 i = 0; i < per; i++) var += (x[i] - mean) * (x[i] - mean);
  float rstd = 1.0f / sqrtf(var / (float)per + a->f[0]);
  for (kb_i64 i = 0; i < per; i++) {
    kb_i64 c = g * (C / G) + i / HW;
    y[i] = (x[i] - mean) * rstd * w[c] + bias[c];
  }
}
KB_ITEMS(a->n[0] * GROUPS)
