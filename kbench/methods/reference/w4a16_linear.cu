// w4a16_linear (reference): y = x (bf16) times W dequantized as (float)q * s (int4 nibbles, 32-groups), fp32 accumulation.
#include "kb.h"

KB_FN void kb_item(const kb_args *a, kb_i64 i) {
  kb_i64 N = a->n[1], K = a->n[2], m = i / N, n = i % N;
  const kb_u16 *x = KB_IN(kb_u16, 0) + m * K;
  const kb_u8 *packed = KB_IN(kb_u8, 1);
  const float *scales = KB_IN(float, 2);
  float acc = 0.0f;
  for (kb_i64 k = 0; k < K; k++) {
    kb_i64 at = n * K + k;
    int q = (packed[at / 2] >> ((at & 1) * 4)) & 0xf;
    q = q >= 8 ? q - 16 : q;
    acc += kb_bf16_to_float(x[k]) * KB_FMUL((float)q, scales[at / 32]);
  }
  KB_OUT(float, 0)[i] = acc + KB_IN(float, 3)[n];
}
KB_ITEMS(a->n[0] * a->n[1])
