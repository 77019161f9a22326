// Reference conversions: each float format is described by its fields, a code's value is
// computed in double from them, and float -> code searches the codes for the nearest value.
// Slow and plain on purpose; it shares nothing with src/num/format_convert.h.
#include "num/reference.h"

#include <math.h>
#include <string.h>

typedef enum special_rule {
  SPECIAL_IEEE,     // top exponent: mantissa 0 is inf, anything else NaN
  SPECIAL_TOP_CODE, // only magnitude all-ones is NaN (e4m3)
  SPECIAL_NONE      // every code is a finite number (e2m1)
} special_rule;

typedef struct float_format {
  int bits, exponent_bits, mantissa_bits, bias;
  special_rule specials;
  int saturate;       // overflow (inf included) gives +-max instead of +-inf
  uint32_t nan_code;  // what NaN converts to, whatever its sign
} float_format;

static int float_format_of(vdit_dtype dtype, float_format *format) {
  switch (dtype) {
    case VDIT_DTYPE_F16: *format = (float_format){16, 5, 10, 15, SPECIAL_IEEE, 0, 0x7fff}; return 1;
    case VDIT_DTYPE_BF16: *format = (float_format){16, 8, 7, 127, SPECIAL_IEEE, 0, 0x7fff}; return 1;
    case VDIT_DTYPE_F8_E4M3: *format = (float_format){8, 4, 3, 7, SPECIAL_TOP_CODE, 1, 0x7f}; return 1;
    case VDIT_DTYPE_F8_E5M2: *format = (float_format){8, 5, 2, 15, SPECIAL_IEEE, 1, 0x7f}; return 1;
    case VDIT_DTYPE_F4_E2M1: *format = (float_format){4, 2, 1, 1, SPECIAL_NONE, 1, 0x7}; return 1;
    default: return 0;
  }
}

// Value of a magnitude code read with an unbounded exponent field (so max + 1 is the value
// the next code would have).
static double magnitude_value(const float_format *f, uint32_t magnitude) {
  uint32_t exponent = magnitude >> f->mantissa_bits;
  uint32_t mantissa = magnitude & ((1u << f->mantissa_bits) - 1u);
  if (exponent == 0) return ldexp((double)mantissa, 1 - f->bias - f->mantissa_bits);
  return ldexp((double)((1u << f->mantissa_bits) + mantissa), (int)exponent - f->bias - f->mantissa_bits);
}

static uint32_t max_finite_magnitude(const float_format *f) {
  uint32_t all = (1u << (f->bits - 1)) - 1u;
  switch (f->specials) {
    case SPECIAL_IEEE: return all - (1u << f->mantissa_bits); // top exponent, mantissa all ones of the one below
    case SPECIAL_TOP_CODE: return all - 1u;
    case SPECIAL_NONE: return all;
  }
  return all;
}

static uint32_t inf_magnitude(const float_format *f) { return max_finite_magnitude(f) + 1u; }

static double float_format_decode(const float_format *f, uint32_t code) {
  uint32_t sign = (code >> (f->bits - 1)) & 1u;
  uint32_t magnitude = code & ((1u << (f->bits - 1)) - 1u);
  double value;
  if (magnitude > max_finite_magnitude(f)) {
    if (f->specials == SPECIAL_IEEE && magnitude == inf_magnitude(f)) value = INFINITY;
    else return NAN;
  } else {
    value = magnitude_value(f, magnitude);
  }
  return sign ? -value : value;
}

static uint32_t float_format_encode(const float_format *f, double x) {
  if (isnan(x)) return f->nan_code;
  uint32_t sign = signbit(x) ? 1u << (f->bits - 1) : 0u;
  double a = fabs(x);
  uint32_t max = max_finite_magnitude(f);
  uint32_t overflow = f->saturate ? max : inf_magnitude(f);
  if (isinf(a)) return sign | overflow;
  // Largest magnitude code whose value is <= a.
  uint32_t low = 0, high = max;
  while (low < high) {
    uint32_t middle = low + (high - low + 1) / 2;
    if (magnitude_value(f, middle) <= a) low = middle;
    else high = middle - 1;
  }
  uint32_t below = low;
  double below_value = magnitude_value(f, below);
  if (below_value == a) return sign | below;
  // Between `below` and the next code (for below == max, the value of max + 1 with an
  // unbounded exponent: IEEE rounding decides overflow as if the exponent went on).
  double above_value = magnitude_value(f, below + 1);
  double midpoint = (below_value + above_value) / 2; // exact: few significant bits
  uint32_t chosen;
  if (a < midpoint) chosen = below;
  else if (a > midpoint) chosen = below + 1;
  else chosen = (below & 1u) ? below + 1 : below;
  if (chosen > max) chosen = overflow;
  return sign | chosen;
}

static uint32_t e8m0_encode(double x) {
  if (isnan(x)) return 0xff;
  double a = fabs(x);
  if (isinf(a)) return 0xfe;
  // Largest c in [0, 254] with 2^(c - 127) <= a (toward zero); 0 when a < 2^-127.
  uint32_t low = 0, high = 254;
  while (low < high) {
    uint32_t middle = low + (high - low + 1) / 2;
    if (ldexp(1.0, (int)middle - 127) <= a) low = middle;
    else high = middle - 1;
  }
  return low;
}

static uint32_t i8_encode(double x) {
  int value;
  if (isnan(x)) value = 0;
  else if (x >= 127.0) value = 127;
  else if (x <= -128.0) value = -128;
  else {
    double whole = floor(x);
    double fraction = x - whole; // exact
    if (fraction > 0.5) whole += 1;
    else if (fraction == 0.5 && fmod(whole, 2.0) != 0) whole += 1;
    value = (int)whole;
  }
  return (uint32_t)(uint8_t)(int8_t)value;
}

uint32_t vdit_reference_code_count(vdit_dtype dtype) {
  float_format f;
  if (float_format_of(dtype, &f)) return 1u << f.bits;
  if (dtype == VDIT_DTYPE_E8M0 || dtype == VDIT_DTYPE_I8) return 256;
  return 0;
}

double vdit_reference_to_double(vdit_dtype dtype, uint32_t code) {
  float_format f;
  if (float_format_of(dtype, &f)) return float_format_decode(&f, code);
  if (dtype == VDIT_DTYPE_E8M0) return code == 0xff ? NAN : ldexp(1.0, (int)code - 127);
  if (dtype == VDIT_DTYPE_I8) return (double)(int8_t)(uint8_t)code;
  return NAN;
}

float vdit_reference_to_float(vdit_dtype dtype, uint32_t code) {
  double value = vdit_reference_to_double(dtype, code);
  if (isnan(value)) {
    uint32_t bits = 0x7fffffffu;
    float nan_value;
    memcpy(&nan_value, &bits, sizeof nan_value);
    return nan_value;
  }
  return (float)value; // exact: every code of these formats is a float
}

uint32_t vdit_reference_from_double(vdit_dtype dtype, double x) {
  float_format f;
  if (float_format_of(dtype, &f)) return float_format_encode(&f, x);
  if (dtype == VDIT_DTYPE_E8M0) return e8m0_encode(x);
  if (dtype == VDIT_DTYPE_I8) return i8_encode(x);
  return 0;
}
