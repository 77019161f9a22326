// rope_3d (reference): one item per (b, s, head) row.
#include "kb.h"

// Wan's 3D RoPE of one (token s, head) row of D channels in place, grid (F, Hh, Ww) = n1..n3.
KB_FN void kb_rope_row(float *x, kb_i64 s, kb_i64 D, kb_i64 Hh, kb_i64 Ww) {
  kb_i64 hw = 2 * (D / 6), parts[3] = {D - 2 * hw, hw, hw}, pos[3] = {s / (Hh * Ww), (s / Ww) % Hh, s % Ww};
  kb_i64 c = 0;
  for (int part = 0; part < 3; part++)
    for (kb_i64 i = 0; i < parts[part] / 2; i++, c += 2) {
      double angle = (double)pos[part] * pow(10000.0, -2.0 * (double)i / (double)parts[part]);
      float co = (float)cos(angle), si = (float)sin(angle), x0 = x[c], x1 = x[c + 1];
      x[c] = x0 * co - x1 * si;
      x[c + 1] = x0 * si + x1 * co;
    }
}

KB_FN void kb_item(const kb_args *a, kb_i64 row) {
  kb_i64 S = a->n[1] * a->n[2] * a->n[3], H = a->n[4], D = a->n[5];
  const float *x = KB_IN(float, 0) + row * D;
  float *y = KB_OUT(float, 0) + row * D;
  for (kb_i64 d = 0; d < D; d++) y[d] = x[d];
  kb_rope_row(y, (row / H) % S, D, a->n[2], a->n[3]);
}
KB_ITEMS(a->n[0] * a->n[1] * a->n[2] * a->n[3] * a->n[4])
