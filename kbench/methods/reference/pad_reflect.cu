// pad_reflect (reference): reflection pad 2 on H and W.
#include "kb.h"

KB_FN void kb_item(const kb_args *a, kb_i64 o) {
  kb_i64 H = a->n[1], W = a->n[2], j = o % (W + 4), i = (o / (W + 4)) % (H + 4), c = o / ((H + 4) * (W + 4));
  kb_i64 si = i - 2, sj = j - 2;
  si = si < 0 ? -si : (si >= H ? 2 * (H - 1) - si : si);
  sj = sj < 0 ? -sj : (sj >= W ? 2 * (W - 1) - sj : sj);
  KB_OUT(float, 0)[o] = KB_IN(float, 0)[(c * H + si) * W + sj];
}
KB_ITEMS(a->n[0] * (a->n[1] + 4) * (a->n[2] + 4))
