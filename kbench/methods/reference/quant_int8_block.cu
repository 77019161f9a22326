// quant_int8_block (reference): one item per 32-element block: {float scale; int8 q[32]} (36 bytes).
#include "kb.h"

KB_FN void kb_item(const kb_args *a, kb_i64 b) {
  const float *x = KB_IN(float, 0) + b * 32;
  kb_u8 *block = KB_OUT(kb_u8, 0) + b * 36;
  kb_u32 amax = 0;
  for (int i = 0; i < 32; i++) {
    kb_u32 bits = kb_bits(x[i]) & 0x7fffffffu;
    amax = bits > amax ? bits : amax;
  }
  float scale = KB_FDIV(kb_float(amax), 127.0f);
  *(float *)block = scale;
  for (int i = 0; i < 32; i++)
    block[4 + i] = (kb_u8)(scale > 0.0f ? (kb_i8)kb_round_clamp(KB_FDIV(x[i], scale), -127.0f, 127.0f) : 0);
}
KB_ITEMS(a->n[0] * a->n[1] / 32)
