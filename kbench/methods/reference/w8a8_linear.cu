// w8a8_linear (reference): stage 0 quantizes each row of x to int8 (scales first in the work buffer, codes after); stage 1: int32 dot, y = ((float)acc * sx) * sw + b.
#include "kb.h"

KB_FN void kb_item0(const kb_args *a, kb_i64 m) {
  kb_i64 K = a->n[2];
  const float *x = KB_IN(float, 0) + m * K;
  float *scales = (float *)a->work;
  kb_i8 *codes = (kb_i8 *)a->work + a->n[0] * 4 + m * K;
  kb_u32 amax = 0;
  for (kb_i64 k = 0; k < K; k++) {
    kb_u32 bits = kb_bits(x[k]) & 0x7fffffffu;
    amax = bits > amax ? bits : amax;
  }
  float scale = KB_FDIV(kb_float(amax), 127.0f);
  scales[m] = scale;
  for (kb_i64 k = 0; k < K; k++) codes[k] = scale > 0.0f ? (kb_i8)kb_round_clamp(KB_FDIV(x[k], scale), -127.0f, 127.0f) : 0;
}
KB_FN void kb_item1(const kb_args *a, kb_i64 i) {
  kb_i64 N = a->n[1], K = a->n[2], m = i / N, n = i % N;
  const kb_i8 *qx = (const kb_i8 *)a->work + a->n[0] * 4 + m * K, *qw = KB_IN(kb_i8, 1) + n * K;
  kb_i32 acc = 0;
  for (kb_i64 k = 0; k < K; k++) acc += (kb_i32)qx[k] * (kb_i32)qw[k];
  float y = KB_FMUL(KB_FMUL((float)acc, ((const float *)a->work)[m]), KB_IN(float, 2)[n]);
  KB_OUT(float, 0)[i] = KB_FADD(y, KB_IN(float, 3)[n]);
}
KB_ITEMS2(a->n[0], a->n[0] * a->n[1])
