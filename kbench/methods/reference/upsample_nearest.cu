// upsample_nearest (reference): (n0, H, W) -> (n0, 2H, 2W).
#include "kb.h"

KB_FN void kb_item(const kb_args *a, kb_i64 o) {
  kb_i64 H = a->n[1], W = a->n[2], j = o % (2 * W), i = (o / (2 * W)) % (2 * H), c = o / (4 * H * W);
  KB_OUT(float, 0)[o] = KB_IN(float, 0)[(c * H + i / 2) * W + j / 2];
}
KB_ITEMS(a->n[0] * a->n[1] * a->n[2] * 4)
