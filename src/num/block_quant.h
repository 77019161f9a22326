// One block of each quantizer, shared by the CPU fast path (src/num/quant.c) and the CUDA
// kernels (src/num/cuda/quant.cu): the same operations in the same order, each one fp32
// rounding spelled with VDIT_FDIV/VDIT_FMUL, so both give the same bits. The order is the
// specification in docs/formats.md; src/num/quant_reference.c implements it independently.
//
// amax is taken over the bits of |x| as unsigned integers: finite < inf < NaN, and the
// result does not depend on the order of a reduction (a GPU atomicMax gives the same).
#ifndef VDIT_NUM_BLOCK_QUANT_H
#define VDIT_NUM_BLOCK_QUANT_H

#include "num/format_convert.h"
#include "vdit/num.h"

#define VDIT_NVFP4_TENSOR_DIVISOR 2688.0f // 448 (e4m3 max) * 6 (e2m1 max)
#define VDIT_F32_MIN_NORMAL 0x1p-126f
#define VDIT_E4M3_NAN_CODE 0x7fu
#define VDIT_E8M0_NAN_CODE 0xffu
#define VDIT_E2M1_EMAX 2
#define VDIT_E4M3_EMAX 8
#define VDIT_E5M2_EMAX 15

VDIT_HOST_DEVICE uint32_t vdit_quant_abs_bits(float x) { return vdit_float_bits(x) & VDIT_F32_ABS_MASK; }

VDIT_HOST_DEVICE uint32_t vdit_quant_max_u32(uint32_t a, uint32_t b) { return a > b ? a : b; }

VDIT_HOST_DEVICE uint32_t vdit_quant_amax_bits(const float *x, int n) {
  uint32_t amax = 0;
  for (int i = 0; i < n; i++) amax = vdit_quant_max_u32(amax, vdit_quant_abs_bits(x[i]));
  return amax;
}

VDIT_HOST_DEVICE int vdit_quant_bits_finite(uint32_t abs_bits) { return abs_bits < VDIT_F32_INF_BITS; }

// ---------------------------------------------------------------- NVFP4
// tensor_scale = max(amax / 2688, 2^-126): never zero or subnormal, so no later division is
// by zero; NaN when the tensor holds an inf or NaN.
VDIT_HOST_DEVICE float vdit_quant_nvfp4_tensor_scale(uint32_t amax_bits) {
  if (!vdit_quant_bits_finite(amax_bits)) return vdit_num_canonical_nan();
  float scale = VDIT_FDIV(vdit_bits_float(amax_bits), VDIT_NVFP4_TENSOR_DIVISOR);
  return scale < VDIT_F32_MIN_NORMAL ? VDIT_F32_MIN_NORMAL : scale;
}

// The factor elements are divided by: e4m3_value(scale_code) * tensor_scale; 0 for a zero
// scale code, NaN for a NaN code or tensor scale.
VDIT_HOST_DEVICE float vdit_quant_nvfp4_block_factor(uint8_t scale_code, float tensor_scale) {
  if ((scale_code & 0x7fu) == VDIT_E4M3_NAN_CODE || vdit_num_bits_are_nan(vdit_float_bits(tensor_scale)))
    return vdit_num_canonical_nan();
  return VDIT_FMUL(vdit_num_decode_e4m3_sw(scale_code), tensor_scale);
}

// x: 16 floats.
VDIT_HOST_DEVICE void vdit_quant_nvfp4_block(const float *x, float tensor_scale, vdit_block_nvfp4 *block) {
  uint32_t amax = vdit_quant_amax_bits(x, VDIT_NVFP4_BLOCK);
  for (int i = 0; i < VDIT_NVFP4_BLOCK / 2; i++) block->elements[i] = 0;
  if (!vdit_quant_bits_finite(amax) || vdit_num_bits_are_nan(vdit_float_bits(tensor_scale))) {
    block->scale = VDIT_E4M3_NAN_CODE;
    return;
  }
  float wanted = VDIT_FDIV(VDIT_FDIV(vdit_bits_float(amax), 6.0f), tensor_scale);
  uint8_t scale_code = vdit_num_encode_e4m3(wanted); // >= 0, saturates at 448
  block->scale = scale_code;
  float factor = vdit_quant_nvfp4_block_factor(scale_code, tensor_scale);
  if (factor == 0.0f) return;
  for (int i = 0; i < VDIT_NVFP4_BLOCK; i += 2) {
    uint8_t low = vdit_num_encode_e2m1(VDIT_FDIV(x[i], factor));
    uint8_t high = vdit_num_encode_e2m1(VDIT_FDIV(x[i + 1], factor));
    block->elements[i / 2] = (uint8_t)(low | (high << 4));
  }
}

VDIT_HOST_DEVICE float vdit_dequant_nvfp4_element(const vdit_block_nvfp4 *block, float tensor_scale, int i) {
  float factor = vdit_quant_nvfp4_block_factor(block->scale, tensor_scale);
  if (vdit_num_bits_are_nan(vdit_float_bits(factor))) return factor;
  uint8_t code = (uint8_t)((block->elements[i / 2] >> ((i & 1) * 4)) & 0xfu);
  return VDIT_FMUL(vdit_num_decode_e2m1(code), factor);
}

// ---------------------------------------------------------------- MX (OCP v1.0)
// Shared scale 2^(floor(log2 amax) - emax): its e8m0 code is the exponent field of amax
// (vdit_num_encode_e8m0, toward zero) minus emax, clamped at 0 (zero and tiny blocks);
// NaN (0xff) for a block holding an inf or NaN.
VDIT_HOST_DEVICE uint8_t vdit_quant_mx_scale_code(uint32_t amax_bits, int element_emax) {
  if (!vdit_quant_bits_finite(amax_bits)) return VDIT_E8M0_NAN_CODE;
  uint32_t code = vdit_num_encode_e8m0(vdit_bits_float(amax_bits));
  return (uint8_t)(code > (uint32_t)element_emax ? code - (uint32_t)element_emax : 0u);
}

// 1 / scale = 2^(127 - code), a power of two that f32 holds for every code in [0, 254], so
// x * (1 / scale) is the correctly rounded x / scale.
VDIT_HOST_DEVICE float vdit_quant_mx_inverse_scale(uint8_t code) { return vdit_num_decode_e8m0((uint8_t)(254u - code)); }

// x: 32 floats; elements: 16 bytes of e2m1 pairs.
VDIT_HOST_DEVICE void vdit_quant_mxfp4_block(const float *x, vdit_block_mxfp4 *block) {
  uint8_t code = vdit_quant_mx_scale_code(vdit_quant_amax_bits(x, VDIT_MX_BLOCK), VDIT_E2M1_EMAX);
  block->scale = code;
  if (code == VDIT_E8M0_NAN_CODE) {
    for (int i = 0; i < VDIT_MX_BLOCK / 2; i++) block->elements[i] = 0;
    return;
  }
  float inverse = vdit_quant_mx_inverse_scale(code);
  for (int i = 0; i < VDIT_MX_BLOCK; i += 2) {
    uint8_t low = vdit_num_encode_e2m1(VDIT_FMUL(x[i], inverse));
    uint8_t high = vdit_num_encode_e2m1(VDIT_FMUL(x[i + 1], inverse));
    block->elements[i / 2] = (uint8_t)(low | (high << 4));
  }
}

VDIT_HOST_DEVICE float vdit_dequant_mxfp4_element(const vdit_block_mxfp4 *block, int i) {
  if (block->scale == VDIT_E8M0_NAN_CODE) return vdit_num_canonical_nan();
  uint8_t code = (uint8_t)((block->elements[i / 2] >> ((i & 1) * 4)) & 0xfu);
  return VDIT_FMUL(vdit_num_decode_e2m1(code), vdit_num_decode_e8m0(block->scale));
}

// element_is_e5m2: 0 for f8_e4m3 elements, 1 for f8_e5m2.
VDIT_HOST_DEVICE void vdit_quant_mxfp8_block(const float *x, int element_is_e5m2, vdit_block_mxfp8 *block) {
  int emax = element_is_e5m2 ? VDIT_E5M2_EMAX : VDIT_E4M3_EMAX;
  uint8_t code = vdit_quant_mx_scale_code(vdit_quant_amax_bits(x, VDIT_MX_BLOCK), emax);
  block->scale = code;
  if (code == VDIT_E8M0_NAN_CODE) {
    for (int i = 0; i < VDIT_MX_BLOCK; i++) block->elements[i] = 0;
    return;
  }
  float inverse = vdit_quant_mx_inverse_scale(code);
  for (int i = 0; i < VDIT_MX_BLOCK; i++) {
    float v = VDIT_FMUL(x[i], inverse);
    block->elements[i] = element_is_e5m2 ? vdit_num_encode_e5m2(v) : vdit_num_encode_e4m3(v);
  }
}

VDIT_HOST_DEVICE float vdit_dequant_mxfp8_element(const vdit_block_mxfp8 *block, int element_is_e5m2, int i) {
  if (block->scale == VDIT_E8M0_NAN_CODE) return vdit_num_canonical_nan();
  uint8_t code = block->elements[i];
  float value = element_is_e5m2 ? vdit_num_decode_e5m2(code) : vdit_num_decode_e4m3(code);
  return VDIT_FMUL(value, vdit_num_decode_e8m0(block->scale));
}

// ---------------------------------------------------------------- INT8 symmetric
// scale = amax / 127; NaN for a block or row holding an inf or NaN.
VDIT_HOST_DEVICE float vdit_quant_int8_scale(uint32_t amax_bits) {
  if (!vdit_quant_bits_finite(amax_bits)) return vdit_num_canonical_nan();
  return VDIT_FDIV(vdit_bits_float(amax_bits), 127.0f);
}

// round_half_even(x / scale) clamped to [-127, 127]; 0 when the scale is 0 or NaN.
VDIT_HOST_DEVICE int8_t vdit_quant_int8_element(float x, float scale) {
  if (!(scale > 0.0f)) return 0;
  return (int8_t)vdit_num_round_clamp(VDIT_FDIV(x, scale), -127.0f, 127.0f);
}

VDIT_HOST_DEVICE float vdit_dequant_int8_element(int8_t q, float scale) {
  if (vdit_num_bits_are_nan(vdit_float_bits(scale))) return vdit_num_canonical_nan();
  return VDIT_FMUL((float)q, scale);
}

VDIT_HOST_DEVICE void vdit_quant_int8_block(const float *x, vdit_block_int8 *block) {
  float scale = vdit_quant_int8_scale(vdit_quant_amax_bits(x, VDIT_INT8_BLOCK));
  block->scale = scale;
  for (int i = 0; i < VDIT_INT8_BLOCK; i++) block->elements[i] = vdit_quant_int8_element(x[i], scale);
}

#endif // VDIT_NUM_BLOCK_QUANT_H
