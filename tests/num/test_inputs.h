// Test inputs shared by the num tests (CPU and GPU): random floats that reach every
// exponent range and the tie cases of each format, and tensors for the quantizers.
#ifndef VDIT_TESTS_NUM_TEST_INPUTS_H
#define VDIT_TESTS_NUM_TEST_INPUTS_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vdit/base.h"
#include "vdit/num.h"

static inline uint32_t test_float_bits(float x) {
  uint32_t u;
  memcpy(&u, &x, 4);
  return u;
}

static inline float test_bits_float(uint32_t u) {
  float x;
  memcpy(&x, &u, 4);
  return x;
}

// Draws that reach every exponent: a quarter raw 32-bit patterns (subnormals, inf, NaN
// payloads included), a quarter with exponents in [-30, 20] (the narrow formats' ranges),
// a quarter as those with the low mantissa bits cleared (ties and near-ties of every
// format), a quarter with a uniform exponent field 0..254.
static inline void test_random_floats(uint64_t seed, size_t n, float *out) {
  uint32_t *raw = (uint32_t *)malloc(2 * n * sizeof *raw);
  vdit_rng_u32(seed, 0, 2 * n, raw);
  for (size_t i = 0; i < n; i++) {
    uint32_t a = raw[2 * i], b = raw[2 * i + 1];
    uint32_t sign = a & 0x80000000u, mantissa = a & 0x007fffffu, bits;
    switch (i % 4) {
      case 0: bits = b; break;
      case 1: bits = sign | ((uint32_t)(127 - 30 + (int)(b % 51)) << 23) | mantissa; break;
      case 2: {
        uint32_t keep = 1 + (b >> 8) % 14; // mantissa bits kept: ties of 1..13-bit formats
        bits = sign | ((uint32_t)(127 - 30 + (int)(b % 51)) << 23) | (mantissa & ~((1u << (23 - keep)) - 1u));
        if ((b >> 16) & 1) bits += (b >> 17) & 1 ? 1u : (uint32_t)-1; // one ulp off the tie
        break;
      }
      default: bits = sign | ((b % 255) << 23) | mantissa; break;
    }
    out[i] = test_bits_float(bits);
  }
  free(raw);
}

// Quantizer inputs: (rows, cols) row-major floats of one kind.
typedef enum input_kind {
  INPUT_GAUSSIAN,
  INPUT_OUTLIER_CHANNELS, // 2% of the columns 10-50x larger, as K and activations have
  INPUT_WIDE_RANGE,       // every block its own magnitude, 2^-140 .. 2^120, some zero blocks
  INPUT_TINY,             // subnormal floats and values near the scale floors
  INPUT_NONFINITE,        // Gaussian with an inf, a -inf and a NaN in a few blocks
  INPUT_ELEMENT_TIES,     // blocks of (integer or half-integer) * 2^k with amax 127 * 2^k: exact
                          // rounding ties for INT8, and for the MX and e2m1 grids after scaling
  INPUT_SCALE_TIES,       // NVFP4 block maxima whose (amax / 6) / tensor_scale lands within a
                          // few ulps of an e4m3 midpoint, where the operation order decides
  INPUT_KIND_COUNT
} input_kind;

static const char *const test_input_names[INPUT_KIND_COUNT] = {
    "gaussian", "outlier", "wide", "tiny", "nonfinite", "element-ties", "scale-ties"};

static inline void test_make_input(input_kind kind, uint64_t seed, size_t rows, size_t cols, float *x) {
  size_t n = rows * cols;
  vdit_rng_normal(seed, 0, n, x);
  float *u = (float *)malloc((n + cols) * sizeof *u);
  vdit_rng_uniform(seed ^ 0x9e3779b97f4a7c15ull, 0, n + cols, u);
  switch (kind) {
    case INPUT_GAUSSIAN: break;
    case INPUT_OUTLIER_CHANNELS:
      for (size_t c = 0; c < cols; c++) {
        if (u[n + c] >= 0.02f && c != cols / 2) continue; // at least one outlier channel
        float factor = 10.0f + 40.0f * u[(c * 7919) % n];
        for (size_t r = 0; r < rows; r++) x[r * cols + c] *= factor;
      }
      break;
    case INPUT_WIDE_RANGE:
      for (size_t b = 0; b < n / 16; b++) {
        float draw = u[b * 16];
        int exponent = -140 + (int)(draw * 260.0f);
        if (draw < 0.05f) exponent = -1000; // a zero block
        for (size_t i = 0; i < 16; i++) x[b * 16 + i] = exponent == -1000 ? 0.0f : ldexpf(x[b * 16 + i], exponent);
      }
      break;
    case INPUT_TINY:
      for (size_t i = 0; i < n; i++) x[i] = ldexpf(x[i], -120 - (int)(u[i] * 30.0f));
      break;
    case INPUT_NONFINITE:
      for (size_t i = 0; i < n; i++) {
        if (u[i] < 0.002f) x[i] = INFINITY;
        else if (u[i] < 0.004f) x[i] = -INFINITY;
        else if (u[i] < 0.006f) x[i] = NAN;
      }
      break;
    case INPUT_ELEMENT_TIES:
      for (size_t b = 0; b < n / 16; b++) {
        int k = -20 + (int)(u[b * 16] * 40.0f);
        for (size_t i = 0; i < 16; i++) {
          float steps = floorf(u[b * 16 + i] * 254.0f) - 127.0f; // an integer in [-127, 126]
          if (x[b * 16 + i] > 0) steps += 0.5f;                  // or a half-integer
          x[b * 16 + i] = ldexpf(i == 0 ? 127.0f : steps, k);
        }
      }
      break;
    case INPUT_SCALE_TIES: {
      // x[0] = A is the tensor maximum, so tensor_scale = A / 2688 as the quantizer computes it.
      float a = 1000.0f * (1.0f + u[0]);
      float tensor_scale = a / 2688.0f;
      for (size_t i = 0; i < n; i++) x[i] = x[i] * 0.01f * a / 448.0f;
      x[0] = a;
      for (size_t b = 1; b < n / 16; b++) {
        // The midpoint between e4m3 codes c and c + 1 (both finite, below 448).
        uint8_t c = (uint8_t)(1 + (int)(u[b * 16] * 124.0f));
        float midpoint = (vdit_f8_e4m3_to_float(c) + vdit_f8_e4m3_to_float((uint8_t)(c + 1))) / 2;
        float block_max = (midpoint * tensor_scale) * 6.0f;
        int jitter = (int)(u[b * 16 + 1] * 5.0f) - 2; // -2 .. 2 ulps
        uint32_t bits = test_float_bits(block_max) + (uint32_t)jitter;
        x[b * 16 + (b % 16)] = (u[b * 16 + 2] < 0.5f ? -1.0f : 1.0f) * test_bits_float(bits);
      }
      break;
    }
    default: break;
  }
  free(u);
}

#endif // VDIT_TESTS_NUM_TEST_INPUTS_H
