// lion (reference): out of place: param, grad, m, v in; param', state' out; step t = i0.
#include "kb.h"

KB_FN void kb_item(const kb_args *a, kb_i64 i) {
  const float *p = KB_IN(float, 0), *g = KB_IN(float, 1), *m = KB_IN(float, 2), *v = KB_IN(float, 3);
  float lr = a->f[0], b1 = a->f[1], b2 = a->f[2], eps = a->f[3], wd = a->f[4], t = (float)a->i[0];
  (void)b1, (void)b2, (void)eps, (void)wd, (void)t, (void)v, (void)m;
  float c = b1 * m[i] + (1.0f - b1) * g[i];
  float u = c > 0.0f ? 1.0f : (c < 0.0f ? -1.0f : 0.0f);
  KB_OUT(float, 0)[i] = p[i] * (1.0f - lr * wd) - lr * u;
  KB_OUT(float, 1)[i] = b2 * m[i] + (1.0f - b2) * g[i];
}
KB_ITEMS(a->n[0] * a->n[1])
