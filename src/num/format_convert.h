// Scalar conversions between float and each element format, shared by the CPU (src/num/*.c)
// and the CUDA kernels (src/num/cuda/*.cu) so that both run literally the same code.
//
// vdit_num_encode_<fmt>_sw / vdit_num_decode_<fmt>_sw are integer bit manipulation: the same
// bits on any machine. vdit_num_encode_<fmt> / vdit_num_decode_<fmt> are what callers use:
// on the host they are the _sw functions; in device code they use the sm_89+/sm_90 cvt
// instruction where one exists (bf16, f16, e4m3x2, e5m2x2, s8), which the contract below was
// chosen to match bit for bit (tests/num/test_formats_gpu.c checks it on every code and 10^7
// random floats):
//   encode   ties to even; bf16/f16 overflow to inf; e4m3/e5m2/e2m1 saturate (inf too) to
//            +-max; NaN -> 0x7fff (bf16, f16), 0x7f (e4m3, e5m2), 0x7 = +6 (e2m1, as
//            cvt.rn.satfinite.e2m1x2.f32 on sm_100); tiny values keep their sign.
//   e8m0     toward zero, sign ignored: code = the f32 exponent field (|x| < 2^-126 -> 0,
//            inf -> 0xfe, NaN -> 0xff), as cvt.rz.satfinite.ue8m0x2.f32 on sm_100.
//   i8       ties to even, saturate to [-128, 127], NaN -> 0 (cvt.rni.sat.s8.f32).
//   decode   exact; every NaN code gives the one float NaN 0x7fffffff (the device path
//            canonicalizes whatever NaN the cvt returns).
#ifndef VDIT_NUM_FORMAT_CONVERT_H
#define VDIT_NUM_FORMAT_CONVERT_H

#include <stdint.h>

#include "base/fp_exact.h"

// Subnormal scales and elements must round as IEEE says on the device too: src/num must be
// compiled without -ftz=true (which --use_fast_math implies; nvcc defines no macro to check
// it here). tests/num/test_formats_gpu.c fails on subnormal codes and tiny inputs if it is.

#define VDIT_F32_NAN_BITS 0x7fffffffu
#define VDIT_F32_INF_BITS 0x7f800000u
#define VDIT_F32_ABS_MASK 0x7fffffffu

// f32 bits of each saturating format's largest finite value.
#define VDIT_E4M3_MAX_BITS 0x43e00000u // 448 = 1.75 * 2^8
#define VDIT_E5M2_MAX_BITS 0x47600000u // 57344 = 1.75 * 2^15
#define VDIT_E2M1_MAX_BITS 0x40c00000u // 6 = 1.5 * 2^2

VDIT_HOST_DEVICE int vdit_num_bits_are_nan(uint32_t bits) { return (bits & VDIT_F32_ABS_MASK) > VDIT_F32_INF_BITS; }

VDIT_HOST_DEVICE float vdit_num_canonical_nan(void) { return vdit_bits_float(VDIT_F32_NAN_BITS); }

// Round-to-nearest-even of a non-negative finite f32 (its bits `a`) to a binary format with
// `man_bits` stored mantissa bits and exponent bias `bias`, with an unbounded exponent at the
// top: the caller clamps or checks overflow. Returns the magnitude code (exponent field
// above man_bits mantissa bits); a carry out of the mantissa correctly bumps the exponent.
VDIT_HOST_DEVICE uint32_t vdit_num_round_to_format(uint32_t a, int man_bits, int bias) {
  int exponent = (int)(a >> 23) - 127; // -127 for zero and f32 subnormals
  if (exponent >= 1 - bias) {          // a normal number of the target format
    int drop = 23 - man_bits;
    uint32_t code = ((uint32_t)(exponent + bias) << man_bits) | ((a & 0x007fffffu) >> drop);
    uint32_t rest = a & ((1u << drop) - 1u);
    uint32_t half = 1u << (drop - 1);
    code += (uint32_t)((rest > half) | ((rest == half) & (code & 1u)));
    return code;
  }
  // Subnormal target: code = m * 2^-shift with m the 24-bit significand; shift >= 24 - man_bits.
  // Below half the smallest subnormal (shift > 24, f32 subnormals included) rounds to zero.
  int shift = 24 - bias - man_bits - exponent;
  if (shift > 24 || (a >> 23) == 0) return 0;
  uint32_t significand = (a & 0x007fffffu) | 0x00800000u;
  uint32_t code = significand >> shift;
  uint32_t rest = significand & ((1u << shift) - 1u);
  uint32_t half = 1u << (shift - 1);
  code += (uint32_t)((rest > half) | ((rest == half) & (code & 1u)));
  return code;
}

// The value of a finite magnitude code of such a format, exactly.
VDIT_HOST_DEVICE float vdit_num_format_value(uint32_t magnitude, int man_bits, int bias) {
  uint32_t exponent = magnitude >> man_bits;
  uint32_t mantissa = magnitude & ((1u << man_bits) - 1u);
  if (exponent == 0) // subnormal: mantissa * 2^(1 - bias - man_bits), exact in f32
    return VDIT_FMUL((float)mantissa, vdit_bits_float((uint32_t)(127 + 1 - bias - man_bits) << 23));
  return vdit_bits_float(((exponent - (uint32_t)bias + 127u) << 23) | (mantissa << (23 - man_bits)));
}

VDIT_HOST_DEVICE float vdit_num_with_sign(float magnitude, uint32_t negative) {
  return vdit_bits_float(vdit_float_bits(magnitude) | (negative ? 0x80000000u : 0u));
}

// ---------------------------------------------------------------- software paths
VDIT_HOST_DEVICE uint16_t vdit_num_encode_bf16_sw(float x) {
  uint32_t u = vdit_float_bits(x);
  if (vdit_num_bits_are_nan(u)) return 0x7fff;
  u += 0x7fffu + ((u >> 16) & 1u); // ties to even; 0x7f7fffff rounds up into inf as it must
  return (uint16_t)(u >> 16);
}

VDIT_HOST_DEVICE float vdit_num_decode_bf16_sw(uint16_t code) {
  if ((code & 0x7fffu) > 0x7f80u) return vdit_num_canonical_nan();
  return vdit_bits_float((uint32_t)code << 16);
}

VDIT_HOST_DEVICE uint16_t vdit_num_encode_f16_sw(float x) {
  uint32_t u = vdit_float_bits(x);
  uint32_t a = u & VDIT_F32_ABS_MASK;
  uint32_t sign = (u >> 16) & 0x8000u;
  if (a > VDIT_F32_INF_BITS) return 0x7fff;
  if (a >= 0x47800000u) return (uint16_t)(sign | 0x7c00u); // |x| >= 2^16, inf included
  // [65520, 65536) carries from 0x7bff into 0x7c00 = inf, the IEEE overflow rule.
  return (uint16_t)(sign | vdit_num_round_to_format(a, 10, 15));
}

VDIT_HOST_DEVICE float vdit_num_decode_f16_sw(uint16_t code) {
  uint32_t magnitude = code & 0x7fffu;
  if (magnitude > 0x7c00u) return vdit_num_canonical_nan();
  if (magnitude == 0x7c00u) return vdit_bits_float(((uint32_t)(code & 0x8000u) << 16) | VDIT_F32_INF_BITS);
  return vdit_num_with_sign(vdit_num_format_value(magnitude, 10, 15), code & 0x8000u);
}

VDIT_HOST_DEVICE uint8_t vdit_num_encode_e4m3_sw(float x) {
  uint32_t u = vdit_float_bits(x);
  uint32_t a = u & VDIT_F32_ABS_MASK;
  if (a > VDIT_F32_INF_BITS) return 0x7f;
  if (a > VDIT_E4M3_MAX_BITS) a = VDIT_E4M3_MAX_BITS; // satfinite: clamping first equals saturating after
  return (uint8_t)(((u >> 24) & 0x80u) | vdit_num_round_to_format(a, 3, 7));
}

VDIT_HOST_DEVICE float vdit_num_decode_e4m3_sw(uint8_t code) {
  if ((code & 0x7fu) == 0x7fu) return vdit_num_canonical_nan();
  return vdit_num_with_sign(vdit_num_format_value(code & 0x7fu, 3, 7), code & 0x80u);
}

VDIT_HOST_DEVICE uint8_t vdit_num_encode_e5m2_sw(float x) {
  uint32_t u = vdit_float_bits(x);
  uint32_t a = u & VDIT_F32_ABS_MASK;
  if (a > VDIT_F32_INF_BITS) return 0x7f;
  if (a > VDIT_E5M2_MAX_BITS) a = VDIT_E5M2_MAX_BITS;
  return (uint8_t)(((u >> 24) & 0x80u) | vdit_num_round_to_format(a, 2, 15));
}

VDIT_HOST_DEVICE float vdit_num_decode_e5m2_sw(uint8_t code) {
  uint32_t magnitude = code & 0x7fu;
  if (magnitude > 0x7cu) return vdit_num_canonical_nan();
  if (magnitude == 0x7cu) return vdit_bits_float(((uint32_t)(code & 0x80u) << 24) | VDIT_F32_INF_BITS);
  return vdit_num_with_sign(vdit_num_format_value(magnitude, 2, 15), code & 0x80u);
}

// e2m1 codes live in the low nibble: sign 0x8, magnitudes 0..7 = 0, .5, 1, 1.5, 2, 3, 4, 6.
VDIT_HOST_DEVICE uint8_t vdit_num_encode_e2m1_sw(float x) {
  uint32_t u = vdit_float_bits(x);
  uint32_t a = u & VDIT_F32_ABS_MASK;
  if (a > VDIT_F32_INF_BITS) return 0x7;
  if (a > VDIT_E2M1_MAX_BITS) a = VDIT_E2M1_MAX_BITS;
  return (uint8_t)(((u >> 28) & 0x8u) | vdit_num_round_to_format(a, 1, 1));
}

VDIT_HOST_DEVICE float vdit_num_decode_e2m1_sw(uint8_t code) {
  return vdit_num_with_sign(vdit_num_format_value(code & 0x7u, 1, 1), code & 0x8u);
}

VDIT_HOST_DEVICE uint8_t vdit_num_encode_e8m0_sw(float x) {
  uint32_t a = vdit_float_bits(x) & VDIT_F32_ABS_MASK;
  if (a > VDIT_F32_INF_BITS) return 0xff;
  if (a == VDIT_F32_INF_BITS) return 0xfe;
  return (uint8_t)(a >> 23);
}

VDIT_HOST_DEVICE float vdit_num_decode_e8m0_sw(uint8_t code) {
  if (code == 0xffu) return vdit_num_canonical_nan();
  if (code == 0) return vdit_bits_float(0x00400000u); // 2^-127, an f32 subnormal
  return vdit_bits_float((uint32_t)code << 23);
}

// Round half to even of x clamped to [low, high] (|low|, |high| < 2^22), NaN -> 0. Adding
// and subtracting 1.5 * 2^23 leaves an integer rounded in the current (nearest-even) mode.
VDIT_HOST_DEVICE int vdit_num_round_clamp(float x, float low, float high) {
  if (vdit_num_bits_are_nan(vdit_float_bits(x))) return 0;
  float v = x < low ? low : (x > high ? high : x);
  return (int)VDIT_FSUB(VDIT_FADD(v, 12582912.0f), 12582912.0f);
}

VDIT_HOST_DEVICE int8_t vdit_num_encode_i8_sw(float x) { return (int8_t)vdit_num_round_clamp(x, -128.0f, 127.0f); }

// ---------------------------------------------------------------- dispatch: hardware on device
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
#define VDIT_NUM_HAVE_CVT_FP8 1
#endif

VDIT_HOST_DEVICE float vdit_num_canonicalize(float x) {
  return vdit_num_bits_are_nan(vdit_float_bits(x)) ? vdit_num_canonical_nan() : x;
}

VDIT_HOST_DEVICE uint16_t vdit_num_encode_bf16(float x) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  uint16_t code;
  asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(code) : "f"(x));
  return code;
#else
  return vdit_num_encode_bf16_sw(x);
#endif
}

// bf16 -> f32 is a shift; there is nothing for an instruction to do.
VDIT_HOST_DEVICE float vdit_num_decode_bf16(uint16_t code) { return vdit_num_decode_bf16_sw(code); }

VDIT_HOST_DEVICE uint16_t vdit_num_encode_f16(float x) {
#if defined(__CUDA_ARCH__)
  uint16_t code;
  asm("cvt.rn.f16.f32 %0, %1;" : "=h"(code) : "f"(x));
  return code;
#else
  return vdit_num_encode_f16_sw(x);
#endif
}

VDIT_HOST_DEVICE float vdit_num_decode_f16(uint16_t code) {
#if defined(__CUDA_ARCH__)
  float x;
  asm("cvt.f32.f16 %0, %1;" : "=f"(x) : "h"(code));
  return vdit_num_canonicalize(x);
#else
  return vdit_num_decode_f16_sw(code);
#endif
}

#if defined(VDIT_NUM_HAVE_CVT_FP8)
// Two floats to two fp8 codes: `low` goes to bits 0-7, `high` to bits 8-15.
__device__ __forceinline__ uint16_t vdit_num_cvt_e4m3x2(float low, float high) {
  uint16_t pair;
  asm("cvt.rn.satfinite.e4m3x2.f32 %0, %1, %2;" : "=h"(pair) : "f"(high), "f"(low));
  return pair;
}
__device__ __forceinline__ uint16_t vdit_num_cvt_e5m2x2(float low, float high) {
  uint16_t pair;
  asm("cvt.rn.satfinite.e5m2x2.f32 %0, %1, %2;" : "=h"(pair) : "f"(high), "f"(low));
  return pair;
}
// Two fp8 codes (bits 0-7 and 8-15) to two f16 (bits 0-15 and 16-31).
__device__ __forceinline__ uint32_t vdit_num_cvt_f16x2_e4m3x2(uint16_t pair) {
  uint32_t halves;
  asm("cvt.rn.f16x2.e4m3x2 %0, %1;" : "=r"(halves) : "h"(pair));
  return halves;
}
__device__ __forceinline__ uint32_t vdit_num_cvt_f16x2_e5m2x2(uint16_t pair) {
  uint32_t halves;
  asm("cvt.rn.f16x2.e5m2x2 %0, %1;" : "=r"(halves) : "h"(pair));
  return halves;
}
#endif

VDIT_HOST_DEVICE uint8_t vdit_num_encode_e4m3(float x) {
#if defined(VDIT_NUM_HAVE_CVT_FP8)
  return (uint8_t)vdit_num_cvt_e4m3x2(x, 0.0f);
#else
  return vdit_num_encode_e4m3_sw(x);
#endif
}

VDIT_HOST_DEVICE float vdit_num_decode_e4m3(uint8_t code) {
#if defined(VDIT_NUM_HAVE_CVT_FP8)
  return vdit_num_decode_f16((uint16_t)vdit_num_cvt_f16x2_e4m3x2(code));
#else
  return vdit_num_decode_e4m3_sw(code);
#endif
}

VDIT_HOST_DEVICE uint8_t vdit_num_encode_e5m2(float x) {
#if defined(VDIT_NUM_HAVE_CVT_FP8)
  return (uint8_t)vdit_num_cvt_e5m2x2(x, 0.0f);
#else
  return vdit_num_encode_e5m2_sw(x);
#endif
}

VDIT_HOST_DEVICE float vdit_num_decode_e5m2(uint8_t code) {
#if defined(VDIT_NUM_HAVE_CVT_FP8)
  return vdit_num_decode_f16((uint16_t)vdit_num_cvt_f16x2_e5m2x2(code));
#else
  return vdit_num_decode_e5m2_sw(code);
#endif
}

// sm_90 has no e2m1 or ue8m0 conversion (sm_100 does): the software path everywhere.
VDIT_HOST_DEVICE uint8_t vdit_num_encode_e2m1(float x) { return vdit_num_encode_e2m1_sw(x); }
VDIT_HOST_DEVICE float vdit_num_decode_e2m1(uint8_t code) { return vdit_num_decode_e2m1_sw(code); }
VDIT_HOST_DEVICE uint8_t vdit_num_encode_e8m0(float x) { return vdit_num_encode_e8m0_sw(x); }
VDIT_HOST_DEVICE float vdit_num_decode_e8m0(uint8_t code) { return vdit_num_decode_e8m0_sw(code); }

VDIT_HOST_DEVICE int8_t vdit_num_encode_i8(float x) {
#if defined(__CUDA_ARCH__)
  int value;
  asm("cvt.rni.sat.s8.f32 %0, %1;" : "=r"(value) : "f"(x));
  return (int8_t)value;
#else
  return vdit_num_encode_i8_sw(x);
#endif
}

VDIT_HOST_DEVICE float vdit_num_decode_i8(int8_t value) { return (float)value; }

#endif // VDIT_NUM_FORMAT_CONVERT_H
