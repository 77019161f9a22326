// quant_nvfp4 (reference): stage 0: row amax; stage 1: tensor scale = max(amax / 2688, 2^-126); stage 2: 16-element blocks {e4m3 scale; 8 bytes of e2m1 pairs}.
#include "kb.h"

KB_FN kb_u32 kb_amax_bits(const float *x, kb_i64 n) {
  kb_u32 amax = 0;
  for (kb_i64 i = 0; i < n; i++) {
    kb_u32 bits = kb_bits(x[i]) & 0x7fffffffu;
    amax = bits > amax ? bits : amax;
  }
  return amax;
}
KB_FN void kb_item0(const kb_args *a, kb_i64 r) {
  ((kb_u32 *)a->work)[r] = kb_amax_bits(KB_IN(float, 0) + r * a->n[1], a->n[1]);
}
KB_FN void kb_item1(const kb_args *a, kb_i64 i) {
  kb_u32 amax = 0;
  for (kb_i64 r = 0; r < a->n[0]; r++) amax = ((const kb_u32 *)a->work)[r] > amax ? ((const kb_u32 *)a->work)[r] : amax;
  float scale = KB_FDIV(kb_float(amax), 2688.0f);
  KB_OUT(float, 1)[i] = scale < 1.17549435e-38f ? 1.17549435e-38f : scale;
}
KB_FN void kb_item2(const kb_args *a, kb_i64 b) {
  const float *x = KB_IN(float, 0) + b * 16;
  float tensor_scale = KB_OUT(float, 1)[0];
  kb_u8 *block = KB_OUT(kb_u8, 0) + b * 9;
  float wanted = KB_FDIV(KB_FDIV(kb_float(kb_amax_bits(x, 16)), 6.0f), tensor_scale);
  kb_u8 code = kb_e4m3_from_float(wanted);
  float factor = KB_FMUL(kb_e4m3_to_float(code), tensor_scale);
  block[0] = code;
  for (int i = 0; i < 16; i += 2) {
    kb_u8 lo = factor == 0.0f ? 0 : kb_e2m1_from_float(KB_FDIV(x[i], factor));
    kb_u8 hi = factor == 0.0f ? 0 : kb_e2m1_from_float(KB_FDIV(x[i + 1], factor));
    block[1 + i / 2] = (kb_u8)(lo | (hi << 4));
  }
}
KB_ITEMS3(a->n[0], 1, a->n[0] * a->n[1] / 16)
