// unpatchify (reference): one item per video element.
#include "kb.h"

KB_FN void kb_item(const kb_args *a, kb_i64 x) {
  kb_i64 C = a->n[1], F = a->n[2], H = a->n[3], W = a->n[4], P = a->n[5], Hp = H / P, Wp = W / P;
  kb_i64 w = x % W, h = (x / W) % H, f = (x / (W * H)) % F, c = (x / (W * H * F)) % C, b = x / (W * H * F * C);
  kb_i64 token = b * F * Hp * Wp + (f * Hp + h / P) * Wp + w / P;
  KB_OUT(float, 0)[x] = KB_IN(float, 0)[token * C * P * P + ((h % P) * P + w % P) * C + c];
}
KB_ITEMS(a->n[0] * a->n[1] * a->n[2] * a->n[3] * a->n[4])
