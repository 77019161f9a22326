// conv1d (reference): one item per output (b, o, l); zero padding K / 2.
#include "kb.h"

KB_FN void kb_item(const kb_args *a, kb_i64 idx) {
  kb_i64 Cin = a->n[1], Cout = a->n[2], L = a->n[3], K = a->n[4], pad = K / 2;
  kb_i64 l = idx % L, o = (idx / L) % Cout, b = idx / (L * Cout);
  const float *x = KB_IN(float, 0), *w = KB_IN(float, 1);
  float acc = 0.0f;
  for (kb_i64 c = 0; c < Cin; c++)
    for (kb_i64 k = 0; k < K; k++) {
      kb_i64 at = l + k - pad;
      if (at >= 0 && at < L) acc += x[(b * Cin + c) * L + at] * w[(o * Cin + c) * K + k];
    }
  KB_OUT(float, 0)[idx] = acc + KB_IN(float, 2)[o];
}
KB_ITEMS(a->n[0] * a->n[2] * a->n[3])
