// adam (reference): out of place: param, grad, m, v in; param', state' out; step t = i0.
#include "kb.h"

KB_FN void kb_item(const kb_args *a, kb_i64 i) {
  const float *p = KB_IN(float, 0), *g = KB_IN(float, 1), *m = KB_IN(float, 2), *v = KB_IN(float, 3);
  float lr = a->f[0], b1 = a->f[1], b2 = a->f[2], eps = a->f[3], wd = a->f[4], t = (float)a->i[0];
  (void)b1, (void)b2, (void)eps, (void)wd, (void)t, (void)v, (void)m;
  float gi = g[i] + wd * p[i];
  float m1 = b1 * m[i] + (1.0f - b1) * gi;
  float v1 = b2 * v[i] + (1.0f - b2) * gi * gi;
  float c1 = 1.0f - powf(b1, t), c2 = 1.0f - powf(b2, t);
  KB_OUT(float, 0)[i] = p[i] - lr * (m1 / c1) / (sqrtf(v1 / c2) + eps);
  KB_OUT(float, 1)[i] = m1;
  KB_OUT(float, 2)[i] = v1;
}
KB_ITEMS(a->n[0] * a->n[1])
