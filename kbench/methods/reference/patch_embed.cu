// patch_embed (reference): Conv3d kernel = stride = (1, P, P) -> tokens (B, S, D); one item per output.
#include "kb.h"

KB_FN void kb_item(const kb_args *a, kb_i64 idx) {
  kb_i64 C = a->n[1], D = a->n[2], F = a->n[3], H = a->n[4], W = a->n[5], P = a->n[6], Hp = H / P, Wp = W / P;
  kb_i64 d = idx % D, token = (idx / D) % (F * Hp * Wp), b = idx / (D * F * Hp * Wp);
  kb_i64 f = token / (Hp * Wp), h = (token / Wp) % Hp, ww = token % Wp;
  const float *x = KB_IN(float, 0), *w = KB_IN(float, 1);
  float acc = 0.0f;
  for (kb_i64 c = 0; c < C; c++)
    for (kb_i64 i = 0; i < P; i++)
      for (kb_i64 j = 0; j < P; j++)
        acc += x[(((b * C + c) * F + f) * H + h * P + i) * W + ww * P + j] * w[((d * C + c) * P + i) * P + j];
  KB_OUT(float, 0)[idx] = acc + KB_IN(float, 2)[d];
}
KB_ITEMS(a->n[0] * a->n[3] * (a->n[4] / a->n[6]) * (a->n[5] / a->n[6]) * a->n[2])
