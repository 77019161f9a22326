// avg_pool2d (reference): 2x2 windows, stride 2.
#include "kb.h"

KB_FN void kb_item(const kb_args *a, kb_i64 o) {
  kb_i64 H = a->n[1], W = a->n[2], Ho = H / 2, Wo = W / 2, j = o % Wo, i = (o / Wo) % Ho, c = o / (Ho * Wo);
  const float *x = KB_IN(float, 0) + (c * H + 2 * i) * W + 2 * j;
  KB_OUT(float, 0)[o] = (x[0] + x[1] + x[W] + x[W + 1]) * 0.25f;
}
KB_ITEMS(a->n[0] * (a->n[1] / 2) * (a->n[2] / 2))
