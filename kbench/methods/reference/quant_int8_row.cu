// quant_int8_row (reference): per row: scale = amax / 127, q = rne(x / scale) clamped to [-127, 127].
#include "kb.h"

KB_FN void kb_item(const kb_args *a, kb_i64 r) {
  kb_i64 cols = a->n[1];
  const float *x = KB_IN(float, 0) + r * cols;
  kb_u32 amax = 0;
  for (kb_i64 c = 0; c < cols; c++) {
    kb_u32 bits = kb_bits(x[c]) & 0x7fffffffu;
    amax = bits > amax ? bits : amax;
  }
  float scale = KB_FDIV(kb_float(amax), 127.0f);
  KB_OUT(float, 1)[r] = scale;
  for (kb_i64 c = 0; c < cols; c++)
    KB_OUT(kb_i8, 0)[r * cols + c] = scale > 0.0f ? (kb_i8)kb_round_clamp(KB_FDIV(x[c], scale), -127.0f, 127.0f) : 0;
}
KB_ITEMS(a->n[0])
