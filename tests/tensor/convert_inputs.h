// What the CPU and GPU tests of vdit_tensor_convert share: the float dtypes, element access
// by index (f4 by nibble), and random codes of any float dtype that reach NaN, inf, overflow,
// subnormals and rounding ties.
#ifndef VDIT_TESTS_TENSOR_CONVERT_INPUTS_H
#define VDIT_TESTS_TENSOR_CONVERT_INPUTS_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "num/test_inputs.h"
#include "vdit/num.h"

enum { CONVERT_DTYPE_COUNT = 8 };
static const vdit_dtype convert_dtypes[CONVERT_DTYPE_COUNT] = {
    VDIT_DTYPE_F64,     VDIT_DTYPE_F32,     VDIT_DTYPE_F16,     VDIT_DTYPE_BF16,
    VDIT_DTYPE_F8_E4M3, VDIT_DTYPE_F8_E5M2, VDIT_DTYPE_F4_E2M1, VDIT_DTYPE_E8M0,
};

// The bits of element `element` of a contiguous array of `dtype` (f4: the nibble).
static inline uint64_t convert_code_get(vdit_dtype dtype, const void *data, int64_t element) {
  const uint8_t *bytes = (const uint8_t *)data;
  int size = vdit_dtype_element_bytes(dtype);
  if (size == 0) return (bytes[element / 2] >> (4 * (element % 2))) & 0x0fu;
  uint64_t code = 0;
  memcpy(&code, bytes + element * size, (size_t)size); // little endian
  return code;
}

static inline void convert_code_set(vdit_dtype dtype, void *data, int64_t element, uint64_t code) {
  uint8_t *bytes = (uint8_t *)data;
  int size = vdit_dtype_element_bytes(dtype);
  if (size == 0) {
    int shift = 4 * (int)(element % 2);
    bytes[element / 2] = (uint8_t)((bytes[element / 2] & ~(0x0fu << shift)) | ((code & 0x0fu) << shift));
    return;
  }
  memcpy(bytes + element * size, &code, (size_t)size);
}

// `count` random codes of `dtype` into a contiguous array:
//   f32  test_random_floats (raw patterns, every exponent, ties and near-ties of each format)
//   f64  a quarter raw 64-bit patterns (values far beyond the f32 range, tiny, NaN), the rest
//        the f32 draws with random bits below the f32 mantissa, a third of those exactly on
//        or one ulp beside an f32 midpoint (where f64 -> f32 -> narrow rounds twice)
//   the narrow formats: every code equally likely (NaN, inf, subnormal codes included)
static inline void convert_random_codes(vdit_dtype dtype, uint64_t seed, int64_t count, void *data) {
  size_t n = (size_t)count;
  uint32_t *raw = (uint32_t *)malloc((2 * n + 1) * sizeof *raw);
  float *floats = (float *)malloc((n + 1) * sizeof *floats);
  vdit_rng_u32(seed, 0, 2 * n, raw);
  test_random_floats(seed + 1, n, floats);
  for (size_t i = 0; i < n; i++) {
    uint64_t code;
    if (dtype == VDIT_DTYPE_F32) {
      code = test_float_bits(floats[i]);
    } else if (dtype == VDIT_DTYPE_F64) {
      uint64_t bits;
      double d = (double)floats[i];
      memcpy(&bits, &d, 8);
      uint64_t low = ((uint64_t)raw[2 * i] << 32 | raw[2 * i + 1]) & ((1ull << 29) - 1); // below the f32 mantissa
      switch (i % 4) {
        case 0: bits = (uint64_t)raw[2 * i] << 32 | raw[2 * i + 1]; break;
        case 1: bits |= low; break;
        case 2: bits |= 1ull << 28; break;                                        // an f32 midpoint
        default: bits |= (raw[2 * i] & 1) ? (1ull << 28) + 1 : (1ull << 28) - 1; break; // one ulp beside
      }
      if (i % 4 != 0 && !isfinite(d)) bits = (uint64_t)raw[2 * i] << 32 | raw[2 * i + 1];
      code = bits;
    } else {
      code = raw[2 * i];
    }
    convert_code_set(dtype, data, (int64_t)i, code);
  }
  free(raw);
  free(floats);
}

#endif // VDIT_TESTS_TENSOR_CONVERT_INPUTS_H
