// Element formats: every code round-trips, every midpoint between neighbouring codes rounds
// to the even one, NaN/inf/saturation/subnormal rules hold, the fast conversions equal the
// search-based reference on 10^7 random floats from every exponent range, and the bulk
// conversions equal the scalar ones.
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "num/test_inputs.h"
#include "num/reference.h"
#include "vdit/num.h"

// Prints the first few mismatches of a sweep, counts them all.
typedef struct mismatch_log {
  const char *what;
  uint64_t count;
} mismatch_log;

static void mismatch(mismatch_log *log, float x, uint32_t got, uint32_t want) {
  if (log->count++ < 8) {
    uint32_t bits;
    memcpy(&bits, &x, 4);
    fprintf(stderr, "  %s: x = %.9g (0x%08x): got 0x%x, want 0x%x\n", log->what, (double)x, (unsigned)bits,
            (unsigned)got, (unsigned)want);
  }
}

static uint32_t float_bits(float x) {
  uint32_t u;
  memcpy(&u, &x, 4);
  return u;
}

static float bits_float(uint32_t u) {
  float x;
  memcpy(&x, &u, 4);
  return x;
}

// ---------------------------------------------------------------- the formats under test
typedef struct format_case {
  vdit_dtype dtype;
  uint32_t codes;
  uint32_t (*encode)(float);
  float (*decode)(uint32_t);
  int is_float; // 0 for e8m0 and i8, which have their own rounding
} format_case;

static uint32_t enc_bf16(float x) { return vdit_bf16_from_float(x); }
static float dec_bf16(uint32_t c) { return vdit_bf16_to_float((uint16_t)c); }
static uint32_t enc_f16(float x) { return vdit_f16_from_float(x); }
static float dec_f16(uint32_t c) { return vdit_f16_to_float((uint16_t)c); }
static uint32_t enc_e4m3(float x) { return vdit_f8_e4m3_from_float(x); }
static float dec_e4m3(uint32_t c) { return vdit_f8_e4m3_to_float((uint8_t)c); }
static uint32_t enc_e5m2(float x) { return vdit_f8_e5m2_from_float(x); }
static float dec_e5m2(uint32_t c) { return vdit_f8_e5m2_to_float((uint8_t)c); }
static uint32_t enc_e2m1(float x) { return vdit_f4_e2m1_from_float(x); }
static float dec_e2m1(uint32_t c) { return vdit_f4_e2m1_to_float((uint8_t)c); }
static uint32_t enc_e8m0(float x) { return vdit_e8m0_from_float(x); }
static float dec_e8m0(uint32_t c) { return vdit_e8m0_to_float((uint8_t)c); }
static uint32_t enc_i8(float x) { return (uint8_t)vdit_i8_from_float(x); }
static float dec_i8(uint32_t c) { return vdit_i8_to_float((int8_t)(uint8_t)c); }

static const format_case formats[] = {
    {VDIT_DTYPE_BF16, 65536, enc_bf16, dec_bf16, 1},   {VDIT_DTYPE_F16, 65536, enc_f16, dec_f16, 1},
    {VDIT_DTYPE_F8_E4M3, 256, enc_e4m3, dec_e4m3, 1},  {VDIT_DTYPE_F8_E5M2, 256, enc_e5m2, dec_e5m2, 1},
    {VDIT_DTYPE_F4_E2M1, 16, enc_e2m1, dec_e2m1, 1},   {VDIT_DTYPE_E8M0, 256, enc_e8m0, dec_e8m0, 0},
    {VDIT_DTYPE_I8, 256, enc_i8, dec_i8, 0},
};
enum { FORMAT_COUNT = sizeof formats / sizeof formats[0] };

// ---------------------------------------------------------------- every code
static void test_every_code(void) {
  for (int f = 0; f < FORMAT_COUNT; f++) {
    const format_case *fc = &formats[f];
    CHECK_EQ_INT(vdit_reference_code_count(fc->dtype), fc->codes);
    mismatch_log decode_log = {"decode", 0}, round_trip_log = {"round trip", 0};
    int nan_codes = 0;
    for (uint32_t code = 0; code < fc->codes; code++) {
      float value = fc->decode(code);
      float want = vdit_reference_to_float(fc->dtype, code);
      if (float_bits(value) != float_bits(want)) mismatch(&decode_log, (float)code, float_bits(value), float_bits(want));
      if (isnan(value)) {
        nan_codes++;
        CHECK_EQ_HEX(float_bits(value), 0x7fffffffu); // the one canonical NaN
        continue;
      }
      // A saturating format has no inf to go back to: e5m2's +-inf codes give +-max.
      uint32_t expected = code;
      if (fc->dtype == VDIT_DTYPE_F8_E5M2 && isinf(value)) expected = code - 1;
      if (fc->encode(value) != expected) mismatch(&round_trip_log, value, fc->encode(value), expected);
    }
    if (decode_log.count || round_trip_log.count) fprintf(stderr, "  (format %s)\n", vdit_dtype_name(fc->dtype));
    CHECK_EQ_INT(decode_log.count, 0);
    CHECK_EQ_INT(round_trip_log.count, 0);
    // NaN codes per format: bf16/f16 2 * (2^m - 1) with m = 7 / 10, e4m3 2, e5m2 6, e8m0 1.
    static const int expected_nans[] = {254, 2046, 2, 6, 0, 1, 0};
    CHECK_EQ_INT(nan_codes, expected_nans[f]);
  }
}

// The values the issue names, and the ends of each range.
static void test_known_values(void) {
  // e2m1: the eight magnitudes and the ties of the issue (to even code).
  static const float e2m1_values[8] = {0, 0.5f, 1, 1.5f, 2, 3, 4, 6};
  for (uint32_t c = 0; c < 8; c++) {
    CHECK_EQ_FLOAT_BITS(vdit_f4_e2m1_to_float((uint8_t)c), e2m1_values[c]);
    CHECK_EQ_FLOAT_BITS(vdit_f4_e2m1_to_float((uint8_t)(c | 8)), -e2m1_values[c]);
  }
  static const struct { float x, want; } e2m1_ties[] = {
      {0.25f, 0}, {0.75f, 1}, {1.25f, 1}, {1.75f, 2}, {2.5f, 2}, {3.5f, 4}, {5.0f, 4},
      {0.2499f, 0}, {0.2501f, 0.5f}, {5.0001f, 6}, {6.5f, 6}, {1e30f, 6},
  };
  for (size_t i = 0; i < sizeof e2m1_ties / sizeof e2m1_ties[0]; i++) {
    CHECK_EQ_FLOAT_BITS(vdit_f4_e2m1_to_float(vdit_f4_e2m1_from_float(e2m1_ties[i].x)), e2m1_ties[i].want);
    CHECK_EQ_FLOAT_BITS(vdit_f4_e2m1_to_float(vdit_f4_e2m1_from_float(-e2m1_ties[i].x)), -e2m1_ties[i].want);
  }
  CHECK_EQ_HEX(vdit_f4_e2m1_from_float(INFINITY), 0x7);
  CHECK_EQ_HEX(vdit_f4_e2m1_from_float(-INFINITY), 0xf);
  CHECK_EQ_HEX(vdit_f4_e2m1_from_float(NAN), 0x7);
  CHECK_EQ_HEX(vdit_f4_e2m1_from_float(-NAN), 0x7);
  CHECK_EQ_HEX(vdit_f4_e2m1_from_float(-0.1f), 0x8);
  CHECK_EQ_FLOAT_BITS(vdit_f4_e2m1_to_float(0xf7), 6.0f); // the high nibble is ignored

  // e4m3 (OCP): max 448, no inf, NaN 0x7f/0xff, smallest subnormal 2^-9, smallest normal 2^-6.
  CHECK_EQ_FLOAT_BITS(vdit_f8_e4m3_to_float(0x7e), 448.0f);
  CHECK_EQ_FLOAT_BITS(vdit_f8_e4m3_to_float(0xfe), -448.0f);
  CHECK_EQ_FLOAT_BITS(vdit_f8_e4m3_to_float(0x01), 0x1p-9f);
  CHECK_EQ_FLOAT_BITS(vdit_f8_e4m3_to_float(0x08), 0x1p-6f);
  CHECK_EQ_FLOAT_BITS(vdit_f8_e4m3_to_float(0x38), 1.0f);
  CHECK(isnan(vdit_f8_e4m3_to_float(0x7f)) && isnan(vdit_f8_e4m3_to_float(0xff)));
  CHECK_EQ_HEX(vdit_f8_e4m3_from_float(464.0f), 0x7e);  // the midpoint to the (NaN) code 0x7f: even
  CHECK_EQ_HEX(vdit_f8_e4m3_from_float(465.0f), 0x7e);  // saturates
  CHECK_EQ_HEX(vdit_f8_e4m3_from_float(1e30f), 0x7e);
  CHECK_EQ_HEX(vdit_f8_e4m3_from_float(-1e30f), 0xfe);
  CHECK_EQ_HEX(vdit_f8_e4m3_from_float(INFINITY), 0x7e);
  CHECK_EQ_HEX(vdit_f8_e4m3_from_float(-INFINITY), 0xfe);
  CHECK_EQ_HEX(vdit_f8_e4m3_from_float(NAN), 0x7f);
  CHECK_EQ_HEX(vdit_f8_e4m3_from_float(-NAN), 0x7f);
  CHECK_EQ_HEX(vdit_f8_e4m3_from_float(0x1p-10f), 0x00);  // half the smallest subnormal: to even 0
  CHECK_EQ_HEX(vdit_f8_e4m3_from_float(0x1.000002p-10f), 0x01);
  CHECK_EQ_HEX(vdit_f8_e4m3_from_float(-0x1p-10f), 0x80);
  CHECK_EQ_HEX(vdit_f8_e4m3_from_float(0x1.8p-9f), 0x02);  // 1.5 subnormal units: to even 2
  CHECK_EQ_HEX(vdit_f8_e4m3_from_float(FLT_TRUE_MIN), 0x00);
  CHECK_EQ_HEX(vdit_f8_e4m3_from_float(-FLT_TRUE_MIN), 0x80);

  // e5m2: IEEE-like, max 57344, inf 0x7c; conversion saturates like cvt.rn.satfinite.
  CHECK_EQ_FLOAT_BITS(vdit_f8_e5m2_to_float(0x7b), 57344.0f);
  CHECK_EQ_FLOAT_BITS(vdit_f8_e5m2_to_float(0x7c), INFINITY);
  CHECK_EQ_FLOAT_BITS(vdit_f8_e5m2_to_float(0xfc), -INFINITY);
  CHECK_EQ_FLOAT_BITS(vdit_f8_e5m2_to_float(0x01), 0x1p-16f);
  CHECK_EQ_HEX(vdit_f8_e5m2_from_float(61440.0f), 0x7b);
  CHECK_EQ_HEX(vdit_f8_e5m2_from_float(INFINITY), 0x7b);
  CHECK_EQ_HEX(vdit_f8_e5m2_from_float(-INFINITY), 0xfb);
  CHECK_EQ_HEX(vdit_f8_e5m2_from_float(NAN), 0x7f);
  CHECK_EQ_HEX(vdit_f8_e5m2_from_float(0x1p-17f), 0x00);
  CHECK_EQ_HEX(vdit_f8_e5m2_from_float(0x1.000002p-17f), 0x01);

  // f16: overflow to inf at 65520 (the midpoint above 65504 goes to the even inf code).
  CHECK_EQ_HEX(vdit_f16_from_float(65504.0f), 0x7bff);
  CHECK_EQ_HEX(vdit_f16_from_float(65519.996f), 0x7bff);
  CHECK_EQ_HEX(vdit_f16_from_float(65520.0f), 0x7c00);
  CHECK_EQ_HEX(vdit_f16_from_float(-65520.0f), 0xfc00);
  CHECK_EQ_HEX(vdit_f16_from_float(1e30f), 0x7c00);
  CHECK_EQ_HEX(vdit_f16_from_float(INFINITY), 0x7c00);
  CHECK_EQ_HEX(vdit_f16_from_float(NAN), 0x7fff);
  CHECK_EQ_HEX(vdit_f16_from_float(-NAN), 0x7fff);
  CHECK_EQ_HEX(vdit_f16_from_float(bits_float(0x7f800001u)), 0x7fff); // signalling NaN
  CHECK_EQ_HEX(vdit_f16_from_float(0x1p-24f), 0x0001);
  CHECK_EQ_HEX(vdit_f16_from_float(0x1p-25f), 0x0000);
  CHECK_EQ_HEX(vdit_f16_from_float(-0x1p-25f), 0x8000);
  CHECK_EQ_HEX(vdit_f16_from_float(0x1.8p-24f), 0x0002);
  CHECK_EQ_HEX(vdit_f16_from_float(0x1p-14f), 0x0400);
  CHECK_EQ_HEX(vdit_f16_from_float(0x1.ff8p-15f), 0x03ff); // the largest subnormal
  CHECK_EQ_HEX(vdit_f16_from_float(0x1.ffcp-15f), 0x0400); // its tie with 2^-14 carries to the normal
  CHECK_EQ_FLOAT_BITS(vdit_f16_to_float(0x7bff), 65504.0f);
  CHECK_EQ_FLOAT_BITS(vdit_f16_to_float(0x0001), 0x1p-24f);
  CHECK_EQ_FLOAT_BITS(vdit_f16_to_float(0x8000), -0.0f);
  CHECK_EQ_FLOAT_BITS(vdit_f16_to_float(0xfc00), -INFINITY);
  CHECK_EQ_HEX(float_bits(vdit_f16_to_float(0xfe01)), 0x7fffffffu);

  // bf16: the top 16 bits rounded; f32 subnormals stay subnormal.
  CHECK_EQ_HEX(vdit_bf16_from_float(1.0f), 0x3f80);
  CHECK_EQ_HEX(vdit_bf16_from_float(bits_float(0x3f808000u)), 0x3f80); // tie to even
  CHECK_EQ_HEX(vdit_bf16_from_float(bits_float(0x3f818000u)), 0x3f82); // tie to even (up)
  CHECK_EQ_HEX(vdit_bf16_from_float(bits_float(0x3f808001u)), 0x3f81);
  CHECK_EQ_HEX(vdit_bf16_from_float(FLT_MAX), 0x7f80);                 // overflow -> inf
  CHECK_EQ_HEX(vdit_bf16_from_float(bits_float(0x7f7f7fffu)), 0x7f7f);
  CHECK_EQ_HEX(vdit_bf16_from_float(-INFINITY), 0xff80);
  CHECK_EQ_HEX(vdit_bf16_from_float(NAN), 0x7fff);
  CHECK_EQ_HEX(vdit_bf16_from_float(bits_float(0xff800001u)), 0x7fff);
  CHECK_EQ_HEX(vdit_bf16_from_float(bits_float(0x00010000u)), 0x0001);
  CHECK_EQ_HEX(vdit_bf16_from_float(bits_float(0x00008000u)), 0x0000);
  CHECK_EQ_HEX(vdit_bf16_from_float(bits_float(0x80018000u)), 0x8002);
  CHECK_EQ_HEX(float_bits(vdit_bf16_to_float(0xffc1)), 0x7fffffffu);

  // e8m0: 2^(code - 127); float -> e8m0 rounds toward zero, ignores the sign.
  CHECK_EQ_FLOAT_BITS(vdit_e8m0_to_float(127), 1.0f);
  CHECK_EQ_FLOAT_BITS(vdit_e8m0_to_float(0), 0x1p-127f);
  CHECK_EQ_FLOAT_BITS(vdit_e8m0_to_float(254), 0x1p127f);
  CHECK(isnan(vdit_e8m0_to_float(255)));
  CHECK_EQ_HEX(vdit_e8m0_from_float(1.0f), 127);
  CHECK_EQ_HEX(vdit_e8m0_from_float(1.99f), 127);
  CHECK_EQ_HEX(vdit_e8m0_from_float(0.75f), 126);
  CHECK_EQ_HEX(vdit_e8m0_from_float(-4.0f), 129);
  CHECK_EQ_HEX(vdit_e8m0_from_float(0.0f), 0);
  CHECK_EQ_HEX(vdit_e8m0_from_float(0x1p-127f), 0);
  CHECK_EQ_HEX(vdit_e8m0_from_float(0x1p-140f), 0);
  CHECK_EQ_HEX(vdit_e8m0_from_float(FLT_MAX), 254);
  CHECK_EQ_HEX(vdit_e8m0_from_float(INFINITY), 254);
  CHECK_EQ_HEX(vdit_e8m0_from_float(NAN), 255);

  // i8: ties to even, saturation to [-128, 127], NaN -> 0.
  static const struct { float x; int want; } i8_cases[] = {
      {2.5f, 2}, {3.5f, 4}, {-2.5f, -2}, {-3.5f, -4}, {0.5f, 0}, {-0.5f, 0}, {0.5000001f, 1}, {126.5f, 126},
      {127.49f, 127}, {127.5f, 127}, {1e10f, 127}, {-128.4f, -128}, {-128.5f, -128}, {-1e10f, -128},
      {INFINITY, 127}, {-INFINITY, -128}, {NAN, 0},
  };
  for (size_t i = 0; i < sizeof i8_cases / sizeof i8_cases[0]; i++)
    CHECK_EQ_INT(vdit_i8_from_float(i8_cases[i].x), i8_cases[i].want);
}

// Every midpoint between two neighbouring codes goes to the even code, and the floats just
// below and above it go to the nearer one.
static void test_midpoints(void) {
  for (int f = 0; f < FORMAT_COUNT; f++) {
    const format_case *fc = &formats[f];
    if (!fc->is_float) continue;
    mismatch_log log = {"midpoint", 0};
    uint32_t sign_bit = fc->codes / 2;
    for (uint32_t code = 0; code + 1 < sign_bit; code++) {
      double low = vdit_reference_to_double(fc->dtype, code), high = vdit_reference_to_double(fc->dtype, code + 1);
      if (!isfinite(low) || !isfinite(high)) continue;
      float midpoint = (float)((low + high) / 2);
      CHECK((double)midpoint == (low + high) / 2); // exact in float
      uint32_t even = (code & 1) ? code + 1 : code;
      for (int negative = 0; negative < 2; negative++) {
        float m = negative ? -midpoint : midpoint;
        uint32_t sign = negative ? sign_bit : 0;
        if (fc->encode(m) != (even | sign)) mismatch(&log, m, fc->encode(m), even | sign);
        float toward_low = nextafterf(m, 0.0f), toward_high = nextafterf(m, negative ? -INFINITY : INFINITY);
        if (fc->encode(toward_low) != (code | sign)) mismatch(&log, toward_low, fc->encode(toward_low), code | sign);
        if (fc->encode(toward_high) != ((code + 1) | sign))
          mismatch(&log, toward_high, fc->encode(toward_high), (code + 1) | sign);
        if (vdit_reference_from_double(fc->dtype, m) != (even | sign))
          mismatch(&log, m, vdit_reference_from_double(fc->dtype, m), even | sign);
      }
    }
    if (log.count) fprintf(stderr, "  (format %s)\n", vdit_dtype_name(fc->dtype));
    CHECK_EQ_INT(log.count, 0);
  }
}

static void test_random_against_reference(void) {
  const size_t n = 10 * 1000 * 1000;
  float *x = (float *)malloc(n * sizeof *x);
  test_random_floats(20240601, n, x);
  for (int f = 0; f < FORMAT_COUNT; f++) {
    const format_case *fc = &formats[f];
    uint64_t bad = 0;
#pragma omp parallel for schedule(static) reduction(+ : bad)
    for (long long i = 0; i < (long long)n; i++) {
      uint32_t got = fc->encode(x[i]), want = vdit_reference_from_double(fc->dtype, x[i]);
      if (got != want) {
        bad++;
        if (bad <= 4) {
#pragma omp critical
          fprintf(stderr, "  %s: x = %.9g (0x%08x): fast 0x%x, reference 0x%x\n", vdit_dtype_name(fc->dtype),
                  (double)x[i], (unsigned)float_bits(x[i]), (unsigned)got, (unsigned)want);
        }
      }
    }
    CHECK_EQ_INT(bad, 0);
  }
  free(x);
}

// ---------------------------------------------------------------- bulk conversions
static void test_bulk(void) {
  static const size_t sizes[] = {0, 1, 2, 3, 17, 1001, 200003};
  const vdit_dtype dtypes[] = {VDIT_DTYPE_F32, VDIT_DTYPE_BF16, VDIT_DTYPE_F16, VDIT_DTYPE_F8_E4M3,
                               VDIT_DTYPE_F8_E5M2, VDIT_DTYPE_F4_E2M1, VDIT_DTYPE_E8M0, VDIT_DTYPE_I8};
  for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
    size_t n = sizes[s];
    float *x = (float *)malloc((n + 1) * sizeof *x), *y = (float *)malloc((n + 1) * sizeof *y);
    uint8_t *codes = (uint8_t *)malloc(4 * n + 1);
    test_random_floats(7 + s, n, x);
    for (size_t d = 0; d < sizeof dtypes / sizeof dtypes[0]; d++) {
      vdit_dtype dtype = dtypes[d];
      size_t bytes = 0;
      CHECK_OK(vdit_dtype_storage_bytes(dtype, n, &bytes));
      memset(codes, 0xa5, 4 * n + 1); // poison: every byte must be written
      CHECK_OK(vdit_convert_from_float(dtype, n, x, codes));
      CHECK_EQ_HEX(codes[bytes], 0xa5); // and nothing past the end
      for (size_t i = 0; i < n; i++) {
        uint32_t want = 0, got = 0;
        switch (dtype) {
          case VDIT_DTYPE_F32: want = float_bits(x[i]); memcpy(&got, codes + 4 * i, 4); break;
          case VDIT_DTYPE_BF16: want = vdit_bf16_from_float(x[i]); got = (uint32_t)codes[2 * i] | (uint32_t)codes[2 * i + 1] << 8; break;
          case VDIT_DTYPE_F16: want = vdit_f16_from_float(x[i]); got = (uint32_t)codes[2 * i] | (uint32_t)codes[2 * i + 1] << 8; break;
          case VDIT_DTYPE_F8_E4M3: want = vdit_f8_e4m3_from_float(x[i]); got = codes[i]; break;
          case VDIT_DTYPE_F8_E5M2: want = vdit_f8_e5m2_from_float(x[i]); got = codes[i]; break;
          case VDIT_DTYPE_F4_E2M1: want = vdit_f4_e2m1_from_float(x[i]); got = (codes[i / 2] >> (4 * (i % 2))) & 0xf; break;
          case VDIT_DTYPE_E8M0: want = vdit_e8m0_from_float(x[i]); got = codes[i]; break;
          case VDIT_DTYPE_I8: want = (uint8_t)vdit_i8_from_float(x[i]); got = codes[i]; break;
          default: break;
        }
        if (got != want) {
          CHECK_EQ_HEX(got, want);
          break;
        }
      }
      if (dtype == VDIT_DTYPE_F4_E2M1 && n % 2) CHECK_EQ_HEX(codes[n / 2] >> 4, 0); // the unused high nibble
      for (size_t i = 0; i < n; i++) y[i] = NAN;
      CHECK_OK(vdit_convert_to_float(dtype, n, codes, y));
      for (size_t i = 0; i < n; i++) {
        float want = 0;
        switch (dtype) {
          case VDIT_DTYPE_F32: want = x[i]; break;
          case VDIT_DTYPE_BF16: want = vdit_bf16_to_float(vdit_bf16_from_float(x[i])); break;
          case VDIT_DTYPE_F16: want = vdit_f16_to_float(vdit_f16_from_float(x[i])); break;
          case VDIT_DTYPE_F8_E4M3: want = vdit_f8_e4m3_to_float(vdit_f8_e4m3_from_float(x[i])); break;
          case VDIT_DTYPE_F8_E5M2: want = vdit_f8_e5m2_to_float(vdit_f8_e5m2_from_float(x[i])); break;
          case VDIT_DTYPE_F4_E2M1: want = vdit_f4_e2m1_to_float(vdit_f4_e2m1_from_float(x[i])); break;
          case VDIT_DTYPE_E8M0: want = vdit_e8m0_to_float(vdit_e8m0_from_float(x[i])); break;
          case VDIT_DTYPE_I8: want = vdit_i8_to_float(vdit_i8_from_float(x[i])); break;
          default: break;
        }
        if (float_bits(y[i]) != float_bits(want)) {
          CHECK_EQ_FLOAT_BITS(y[i], want);
          break;
        }
      }
    }
    free(x);
    free(y);
    free(codes);
  }
  float x = 1.0f;
  uint8_t out[8];
  CHECK_STATUS(vdit_convert_from_float(VDIT_DTYPE_F64, 1, &x, out), VDIT_ERROR_UNSUPPORTED);
  CHECK(strstr(vdit_last_error(), "f64") != NULL);
  CHECK_STATUS(vdit_convert_to_float(VDIT_DTYPE_I32, 1, out, &x), VDIT_ERROR_UNSUPPORTED);
  CHECK_STATUS(vdit_convert_from_float(VDIT_DTYPE_F16, 1, NULL, out), VDIT_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(vdit_convert_to_float(VDIT_DTYPE_F16, 1, out, NULL), VDIT_ERROR_INVALID_ARGUMENT);
  CHECK_OK(vdit_convert_from_float(VDIT_DTYPE_F16, 0, NULL, NULL));
}

int main(void) {
  double start = vdit_time_seconds();
  test_every_code();
  test_known_values();
  test_midpoints();
  test_bulk();
  test_random_against_reference();
  printf("test_formats: %.1f s\n", vdit_time_seconds() - start);
  return check_finish("test_formats");
}
