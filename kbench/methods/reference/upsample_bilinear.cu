// upsample_bilinear (reference): 2x bilinear, align_corners False.
#include "kb.h"

KB_FN void kb_source(kb_i64 dst, kb_i64 size, kb_i64 *i0, kb_i64 *i1, float *lambda) {
  float s = ((float)dst + 0.5f) * 0.5f - 0.5f;
  if (s < 0.0f) s = 0.0f;
  *i0 = (kb_i64)s;
  *i1 = *i0 + 1 < size ? *i0 + 1 : size - 1;
  *lambda = s - (float)*i0;
}
KB_FN void kb_item(const kb_args *a, kb_i64 o) {
  kb_i64 H = a->n[1], W = a->n[2], j = o % (2 * W), i = (o / (2 * W)) % (2 * H), c = o / (4 * H * W);
  const float *x = KB_IN(float, 0) + c * H * W;
  kb_i64 i0, i1, j0, j1;
  float li, lj;
  kb_source(i, H, &i0, &i1, &li);
  kb_source(j, W, &j0, &j1, &lj);
  float top = (1.0f - lj) * x[i0 * W + j0] + lj * x[i0 * W + j1];
  float bottom = (1.0f - lj) * x[i1 * W + j0] + lj * x[i1 * W + j1];
  KB_OUT(float, 0)[o] = (1.0f - li) * top + li * bottom;
}
KB_ITEMS(a->n[0] * a->n[1] * a->n[2] * 4)
