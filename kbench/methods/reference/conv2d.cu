// conv2d (reference): one item per output (b, o, y, x); zero padding K / 2.
#include "kb.h"

KB_FN void kb_item(const kb_args *a, kb_i64 idx) {
  kb_i64 Cin = a->n[1], Cout = a->n[2], H = a->n[3], W = a->n[4], K = a->n[5], pad = K / 2;
  kb_i64 xx = idx % W, y = (idx / W) % H, o = (idx / (W * H)) % Cout, b = idx / (W * H * Cout);
  const float *x = KB_IN(float, 0), *w = KB_IN(float, 1);
  float acc = 0.0f;
  for (kb_i64 c = 0; c < Cin; c++)
    for (kb_i64 i = 0; i < K; i++)
      for (kb_i64 j = 0; j < K; j++) {
        kb_i64 yy = y + i - pad, xj = xx + j - pad;
        if (yy >= 0 && yy < H && xj >= 0 && xj < W) acc += x[((b * Cin + c) * H + yy) * W + xj] * w[((o * Cin + c) * K + i) * K + j];
      }
  KB_OUT(float, 0)[idx] = acc + KB_IN(float, 2)[o];
}
KB_ITEMS(a->n[0] * a->n[2] * a->n[3] * a->n[4])
