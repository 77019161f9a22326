// timestep_embedding (reference): the engine contract: float steps for the frequency and angle, cos and sin in double.
#include "kb.h"

KB_FN void kb_item(const kb_args *a, kb_i64 o) {
  kb_i64 dim = a->n[1], half = dim / 2, r = o / dim, c = o % dim;
  if (c >= 2 * half) {
    KB_OUT(float, 0)[o] = 0.0f;
    return;
  }
  kb_i64 i = c < half ? c : c - half;
  float e = KB_FDIV(KB_FMUL(-9.21034037197618f, (float)i), (float)half);
  float f = (float)exp((double)e);
  float angle = KB_FMUL(KB_IN(float, 0)[r], f);
  KB_OUT(float, 0)[o] = c < half ? (float)cos((double)angle) : (float)sin((double)angle);
}
KB_ITEMS(a->n[0] * a->n[1])
