// nvfp4_linear (reference): stages: row amax, tensor scale, NVFP4 blocks of x (work buffer), then the product of the dequantized operands.
#include "kb.h"

// work: [0, 4 M) row amax bits, then the tensor scale at 16-byte aligned offset, then the blocks.
#define TS_OFFSET(a) (((a)->n[0] * 4 + 15) / 16 * 16)
KB_FN kb_u32 kb_amax_bits(const float *x, kb_i64 n) {
  kb_u32 amax = 0;
  for (kb_i64 i = 0; i < n; i++) {
    kb_u32 bits = kb_bits(x[i]) & 0x7fffffffu;
    amax = bits > amax ? bits : amax;
  }
  return amax;
}
KB_FN void kb_item0(const kb_args *a, kb_i64 r) {
  ((kb_u32 *)a->work)[r] = kb_amax_bits(KB_IN(float, 0) + r * a->n[2], a->n[2]);
}
KB_FN void kb_item1(const kb_args *a, kb_i64 i) {
  kb_u32 amax = 0;
  for (kb_i64 r = 0; r < a->n[0]; r++) amax = ((const kb_u32 *)a->work)[r] > amax ? ((const kb_u32 *)a->work)[r] : amax;
  float scale = KB_FDIV(kb_float(amax), 2688.0f);
  *(float *)((kb_u8 *)a->work + TS_OFFSET(a)) = scale < 1.17549435e-38f ? 1.17549435e-38f : scale;
  (void)i;
}
KB_FN void kb_item2(const kb_args *a, kb_i64 b) {
  const float *x = KB_IN(float, 0) + b * 16;
  float tensor_scale = *(const float *)((const kb_u8 *)a->work + TS_OFFSET(a));
  kb_u8 *block = (kb_u8 *)a->work + TS_OFFSET(a) + 16 + b * 9;
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
KB_FN float kb_dequant(const kb_u8 *blocks, float tensor_scale, kb_i64 i) {
  const kb_u8 *block = blocks + (i / 16) * 9;
  float factor = KB_FMUL(kb_e4m3_to_float(block[0]), tensor_scale);
  return KB_FMUL(kb_e2m1_to_float((kb_u8)((block[1 + (i % 16) / 2] >> ((i & 1) * 4)) & 0xf)), factor);
}
KB_FN void kb_item3(const kb_args *a, kb_i64 i) {
  kb_i64 N = a->n[1], K = a->n[2], m = i / N, n = i % N;
  const kb_u8 *xq = (const kb_u8 *)a->work + TS_OFFSET(a) + 16;
  float xs = *(const float *)((const kb_u8 *)a->work + TS_OFFSET(a)), ws = KB_IN(float, 2)[0];
  float acc = 0.0f;
  for (kb_i64 k = 0; k < K; k++) acc += kb_dequant(xq, xs, m * K + k) * kb_dequant(KB_IN(kb_u8, 1), ws, n * K + k);
  KB_OUT(float, 0)[i] = acc + KB_IN(float, 3)[n];
}
KB_ITEMS4(a->n[0], 1, a->n[0] * a->n[2] / 16, a->n[0] * a->n[1])
