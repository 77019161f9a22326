// quant_mxfp4 (reference): 32-element blocks: e8m0 scale 2^(floor(log2 amax) - 2), e2m1 pairs (17 bytes).
#include "kb.h"

KB_FN void kb_item(const kb_args *a, kb_i64 b) {
  const float *x = KB_IN(float, 0) + b * 32;
  kb_u8 *block = KB_OUT(kb_u8, 0) + b * 17;
  kb_u32 amax = 0;
  for (int i = 0; i < 32; i++) {
    kb_u32 bits = kb_bits(x[i]) & 0x7fffffffu;
    amax = bits > amax ? bits : amax;
  }
  kb_u32 e = kb_e8m0_from_float(kb_float(amax));
  kb_u8 code = (kb_u8)(e > 2u ? e - 2u : 0);
  float inverse = kb_e8m0_to_float((kb_u8)(254u - code)); // 1 / scale, exact
  block[0] = code;
  for (int i = 0; i < 32; i += 2)
    block[1 + i / 2] = (kb_u8)(kb_e2m1_from_float(KB_FMUL(x[i], inverse)) | (kb_e2m1_from_float(KB_FMUL(x[i + 1], inverse)) << 4));
}
KB_ITEMS(a->n[0] * a->n[1] / 32)
