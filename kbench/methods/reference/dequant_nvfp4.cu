// dequant_nvfp4 (reference): y = e2m1 value * (e4m3 scale * tensor scale).
#include "kb.h"

KB_FN void kb_item(const kb_args *a, kb_i64 i) {
  const kb_u8 *block = KB_IN(kb_u8, 0) + (i / 16) * 9;
  float factor = KB_FMUL(kb_e4m3_to_float(block[0]), KB_IN(float, 1)[0]);
  kb_u8 code = (kb_u8)((block[1 + (i % 16) / 2] >> ((i & 1) * 4)) & 0xf);
  KB_OUT(float, 0)[i] = KB_FMUL(kb_e2m1_to_float(code), factor);
}
KB_ITEMS(a->n[0] * a->n[1])
