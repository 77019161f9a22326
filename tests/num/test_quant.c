// Block quantizers: the fast CPU path equals the scalar reference bit for bit (blocks,
// scales and dequantized values) on Gaussian, outlier-channel, wide-range, tiny, zero and
// non-finite inputs of many shapes; the scale rules give the values the specification
// says; the errors on Gaussian data follow the rounding noise model and rank as the bit
// budgets say; bad shapes get clear errors.
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "num/test_inputs.h"
#include "num/reference.h"
#include "vdit/num.h"

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

// ---------------------------------------------------------------- one scheme, both paths
// Runs the fast and the reference quantizer and dequantizer on x and compares every byte
// and every output bit. Returns 1 when they agree.
typedef struct quantized {
  uint8_t *data; // blocks, or int8 elements for INT8_ROW
  float *scales; // NVFP4: the tensor scale; INT8_ROW: the row scales
  size_t data_bytes;
} quantized;

static vdit_dtype mxfp8_element(vdit_quant_scheme scheme) {
  return scheme == VDIT_QUANT_MXFP8_E5M2 ? VDIT_DTYPE_F8_E5M2 : VDIT_DTYPE_F8_E4M3;
}

static size_t data_bytes(vdit_quant_scheme scheme, size_t rows, size_t cols) {
  size_t n = rows * cols;
  switch (scheme) {
    case VDIT_QUANT_NVFP4: return n / 16 * sizeof(vdit_block_nvfp4);
    case VDIT_QUANT_MXFP4: return n / 32 * sizeof(vdit_block_mxfp4);
    case VDIT_QUANT_MXFP8_E4M3: case VDIT_QUANT_MXFP8_E5M2: return n / 32 * sizeof(vdit_block_mxfp8);
    case VDIT_QUANT_INT8_ROW: return n;
    case VDIT_QUANT_INT8_BLOCK: return n / 32 * sizeof(vdit_block_int8);
    default: return 0;
  }
}

static quantized quantized_alloc(vdit_quant_scheme scheme, size_t rows, size_t cols) {
  quantized q;
  q.data_bytes = data_bytes(scheme, rows, cols);
  q.data = (uint8_t *)malloc(q.data_bytes + 1);
  q.scales = (float *)malloc((rows + 1) * sizeof(float));
  memset(q.data, 0xa5, q.data_bytes + 1); // poison
  for (size_t r = 0; r <= rows; r++) q.scales[r] = bits_float(0xdeadbeefu);
  return q;
}

static void quantized_free(quantized *q) {
  free(q->data);
  free(q->scales);
}

static vdit_status quantize_fast(vdit_quant_scheme scheme, size_t rows, size_t cols, const float *x, quantized *q) {
  switch (scheme) {
    case VDIT_QUANT_NVFP4: return vdit_quantize_nvfp4(rows, cols, x, (vdit_block_nvfp4 *)q->data, q->scales);
    case VDIT_QUANT_MXFP4: return vdit_quantize_mxfp4(rows, cols, x, (vdit_block_mxfp4 *)q->data);
    case VDIT_QUANT_MXFP8_E4M3:
    case VDIT_QUANT_MXFP8_E5M2:
      return vdit_quantize_mxfp8(mxfp8_element(scheme), rows, cols, x, (vdit_block_mxfp8 *)q->data);
    case VDIT_QUANT_INT8_ROW: return vdit_quantize_int8_rows(rows, cols, x, (int8_t *)q->data, q->scales);
    case VDIT_QUANT_INT8_BLOCK: return vdit_quantize_int8_blocks(rows, cols, x, (vdit_block_int8 *)q->data);
    default: return VDIT_ERROR_INTERNAL;
  }
}

static vdit_status dequantize_fast(vdit_quant_scheme scheme, size_t rows, size_t cols, const quantized *q, float *y) {
  switch (scheme) {
    case VDIT_QUANT_NVFP4: return vdit_dequantize_nvfp4(rows, cols, (vdit_block_nvfp4 *)q->data, q->scales, y);
    case VDIT_QUANT_MXFP4: return vdit_dequantize_mxfp4(rows, cols, (vdit_block_mxfp4 *)q->data, y);
    case VDIT_QUANT_MXFP8_E4M3:
    case VDIT_QUANT_MXFP8_E5M2:
      return vdit_dequantize_mxfp8(mxfp8_element(scheme), rows, cols, (vdit_block_mxfp8 *)q->data, y);
    case VDIT_QUANT_INT8_ROW: return vdit_dequantize_int8_rows(rows, cols, (int8_t *)q->data, q->scales, y);
    case VDIT_QUANT_INT8_BLOCK: return vdit_dequantize_int8_blocks(rows, cols, (vdit_block_int8 *)q->data, y);
    default: return VDIT_ERROR_INTERNAL;
  }
}

static void quantize_reference(vdit_quant_scheme scheme, size_t rows, size_t cols, const float *x, quantized *q) {
  switch (scheme) {
    case VDIT_QUANT_NVFP4: vdit_reference_quantize_nvfp4(rows, cols, x, (vdit_block_nvfp4 *)q->data, q->scales); break;
    case VDIT_QUANT_MXFP4: vdit_reference_quantize_mxfp4(rows, cols, x, (vdit_block_mxfp4 *)q->data); break;
    case VDIT_QUANT_MXFP8_E4M3:
    case VDIT_QUANT_MXFP8_E5M2:
      vdit_reference_quantize_mxfp8(mxfp8_element(scheme), rows, cols, x, (vdit_block_mxfp8 *)q->data);
      break;
    case VDIT_QUANT_INT8_ROW: vdit_reference_quantize_int8_rows(rows, cols, x, (int8_t *)q->data, q->scales); break;
    case VDIT_QUANT_INT8_BLOCK: vdit_reference_quantize_int8_blocks(rows, cols, x, (vdit_block_int8 *)q->data); break;
    default: break;
  }
}

static void dequantize_reference(vdit_quant_scheme scheme, size_t rows, size_t cols, const quantized *q, float *y) {
  switch (scheme) {
    case VDIT_QUANT_NVFP4: vdit_reference_dequantize_nvfp4(rows, cols, (vdit_block_nvfp4 *)q->data, q->scales, y); break;
    case VDIT_QUANT_MXFP4: vdit_reference_dequantize_mxfp4(rows, cols, (vdit_block_mxfp4 *)q->data, y); break;
    case VDIT_QUANT_MXFP8_E4M3:
    case VDIT_QUANT_MXFP8_E5M2:
      vdit_reference_dequantize_mxfp8(mxfp8_element(scheme), rows, cols, (vdit_block_mxfp8 *)q->data, y);
      break;
    case VDIT_QUANT_INT8_ROW: vdit_reference_dequantize_int8_rows(rows, cols, (int8_t *)q->data, q->scales, y); break;
    case VDIT_QUANT_INT8_BLOCK: vdit_reference_dequantize_int8_blocks(rows, cols, (vdit_block_int8 *)q->data, y); break;
    default: break;
  }
}

static size_t scale_count(vdit_quant_scheme scheme, size_t rows) {
  return scheme == VDIT_QUANT_NVFP4 ? 1 : scheme == VDIT_QUANT_INT8_ROW ? rows : 0;
}

static int compare_paths(vdit_quant_scheme scheme, input_kind kind, size_t rows, size_t cols, uint64_t seed) {
  size_t n = rows * cols;
  float *x = (float *)malloc(n * sizeof *x);
  float *y_fast = (float *)malloc(n * sizeof *y_fast), *y_reference = (float *)malloc(n * sizeof *y_reference);
  test_make_input(kind, seed, rows, cols, x);
  quantized fast = quantized_alloc(scheme, rows, cols), reference = quantized_alloc(scheme, rows, cols);
  int agree = 1;
  CHECK_OK(quantize_fast(scheme, rows, cols, x, &fast));
  quantize_reference(scheme, rows, cols, x, &reference);
  CHECK_EQ_HEX(fast.data[fast.data_bytes], 0xa5); // nothing written past the end
  for (size_t i = 0; i < fast.data_bytes; i++)
    if (fast.data[i] != reference.data[i]) {
      fprintf(stderr, "  byte %zu of the quantized data: fast 0x%02x, reference 0x%02x\n", i, fast.data[i],
              reference.data[i]);
      agree = 0;
      break;
    }
  for (size_t r = 0; r < scale_count(scheme, rows); r++)
    if (float_bits(fast.scales[r]) != float_bits(reference.scales[r])) {
      fprintf(stderr, "  scale %zu: fast %.9g, reference %.9g\n", r, (double)fast.scales[r], (double)reference.scales[r]);
      agree = 0;
      break;
    }
  for (size_t i = 0; i < n; i++) y_fast[i] = y_reference[i] = bits_float(0xffc0dead); // poison
  CHECK_OK(dequantize_fast(scheme, rows, cols, &fast, y_fast));
  dequantize_reference(scheme, rows, cols, &fast, y_reference);
  for (size_t i = 0; i < n; i++)
    if (float_bits(y_fast[i]) != float_bits(y_reference[i])) {
      fprintf(stderr, "  dequantized %zu: fast %.9g, reference %.9g\n", i, (double)y_fast[i], (double)y_reference[i]);
      agree = 0;
      break;
    }
  if (!agree)
    fprintf(stderr, "  (%s, %s input, %zu x %zu, seed %llu)\n", vdit_quant_scheme_name(scheme), test_input_names[kind], rows,
            cols, (unsigned long long)seed);
  quantized_free(&fast);
  quantized_free(&reference);
  free(x);
  free(y_fast);
  free(y_reference);
  return agree;
}

static void test_fast_equals_reference(void) {
  static const size_t shapes[][2] = {{1, 32}, {3, 64}, {5, 96}, {16, 256}, {64, 1024}, {256, 2048}};
  uint64_t seed = 1000;
  for (int s = 0; s < VDIT_QUANT_COUNT; s++)
    for (int k = 0; k < INPUT_KIND_COUNT; k++)
      for (size_t h = 0; h < sizeof shapes / sizeof shapes[0]; h++)
        CHECK(compare_paths((vdit_quant_scheme)s, (input_kind)k, shapes[h][0], shapes[h][1], seed++));
  // INT8 per row takes any row length.
  for (int k = 0; k < INPUT_KIND_COUNT; k++) CHECK(compare_paths(VDIT_QUANT_INT8_ROW, (input_kind)k, 9, 37, seed++));
}

// ---------------------------------------------------------------- the scale rules by hand
static void test_scale_rules(void) {
  float x[32];
  // MX: scale 2^(floor(log2 amax) - emax). amax 1.0 -> MXFP4 scale 2^-2 (code 125), and 1.0
  // becomes e2m1 4 (code 6).
  for (int i = 0; i < 32; i++) x[i] = 0.0f;
  x[0] = 1.0f;
  x[1] = -0.3f;
  vdit_block_mxfp4 b4;
  CHECK_OK(vdit_quantize_mxfp4(1, 32, x, &b4));
  CHECK_EQ_HEX(b4.scale, 125);
  CHECK_EQ_HEX(b4.elements[0] & 0xf, 0x6);
  CHECK_EQ_HEX(b4.elements[0] >> 4, 0x8 | 0x2); // -0.3 * 4 = -1.2 -> -1
  // amax 7.9: floor(log2) = 2 -> scale 2^0; 7.9 saturates to 6.
  x[0] = 7.9f;
  CHECK_OK(vdit_quantize_mxfp4(1, 32, x, &b4));
  CHECK_EQ_HEX(b4.scale, 127);
  CHECK_EQ_HEX(b4.elements[0] & 0xf, 0x7);
  // MXFP8 e4m3: emax 8; amax 448 -> scale 2^0 and 448 exact.
  vdit_block_mxfp8 b8;
  x[0] = 448.0f;
  CHECK_OK(vdit_quantize_mxfp8(VDIT_DTYPE_F8_E4M3, 1, 32, x, &b8));
  CHECK_EQ_HEX(b8.scale, 127);
  CHECK_EQ_HEX(b8.elements[0], 0x7e);
  CHECK_OK(vdit_quantize_mxfp8(VDIT_DTYPE_F8_E5M2, 1, 32, x, &b8)); // emax 15: 2^(8 - 15)
  CHECK_EQ_HEX(b8.scale, 120);
  // A zero block: scale code 0, zero elements, zeros back.
  for (int i = 0; i < 32; i++) x[i] = 0.0f;
  CHECK_OK(vdit_quantize_mxfp8(VDIT_DTYPE_F8_E4M3, 1, 32, x, &b8));
  CHECK_EQ_HEX(b8.scale, 0);
  float y[32];
  CHECK_OK(vdit_dequantize_mxfp8(VDIT_DTYPE_F8_E4M3, 1, 32, &b8, y));
  for (int i = 0; i < 32; i++) CHECK_EQ_FLOAT_BITS(y[i], 0.0f);

  // NVFP4: amax 2688 -> tensor scale 1; a block with amax 6 -> block scale e4m3(1) = 0x38,
  // and its elements land on the e2m1 grid exactly.
  float t[32];
  static const float grid[8] = {0, 0.5f, 1, 1.5f, 2, 3, 4, 6};
  for (int i = 0; i < 16; i++) t[i] = (i & 8 ? -1.0f : 1.0f) * grid[i & 7];
  for (int i = 16; i < 32; i++) t[i] = 0.0f;
  t[31] = 2688.0f;
  vdit_block_nvfp4 nb[2];
  float tensor_scale;
  CHECK_OK(vdit_quantize_nvfp4(1, 32, t, nb, &tensor_scale));
  CHECK_EQ_FLOAT_BITS(tensor_scale, 1.0f);
  CHECK_EQ_HEX(nb[0].scale, 0x38);
  for (int i = 0; i < 16; i++) CHECK_EQ_HEX((nb[0].elements[i / 2] >> (4 * (i % 2))) & 0xf, (uint32_t)i);
  CHECK_EQ_HEX(nb[1].scale, 0x7e); // 2688 / 6 = 448
  float ty[32];
  CHECK_OK(vdit_dequantize_nvfp4(1, 32, nb, &tensor_scale, ty));
  for (int i = 0; i < 16; i++) CHECK_EQ_FLOAT_BITS(ty[i], t[i]);
  CHECK_EQ_FLOAT_BITS(ty[31], 2688.0f);
  // A zero tensor: tensor scale 2^-126 (never zero), block scales 0, zeros back.
  for (int i = 0; i < 32; i++) t[i] = 0.0f;
  CHECK_OK(vdit_quantize_nvfp4(1, 32, t, nb, &tensor_scale));
  CHECK_EQ_FLOAT_BITS(tensor_scale, 0x1p-126f);
  CHECK_EQ_HEX(nb[0].scale, 0);
  CHECK_OK(vdit_dequantize_nvfp4(1, 32, nb, &tensor_scale, ty));
  for (int i = 0; i < 32; i++) CHECK_EQ_FLOAT_BITS(ty[i], 0.0f);

  // INT8: scale amax / 127, ties to even: amax 127 -> scale 1; 2.5 -> 2, -3.5 -> -4.
  for (int i = 0; i < 32; i++) x[i] = 0.0f;
  x[0] = 127.0f;
  x[1] = 2.5f;
  x[2] = -3.5f;
  vdit_block_int8 bi;
  CHECK_OK(vdit_quantize_int8_blocks(1, 32, x, &bi));
  CHECK_EQ_FLOAT_BITS(bi.scale, 1.0f);
  CHECK_EQ_INT(bi.elements[0], 127);
  CHECK_EQ_INT(bi.elements[1], 2);
  CHECK_EQ_INT(bi.elements[2], -4);
  int8_t q[32];
  float row_scale;
  for (int i = 0; i < 32; i++) x[i] = 0.0f;
  CHECK_OK(vdit_quantize_int8_rows(1, 32, x, q, &row_scale));
  CHECK_EQ_FLOAT_BITS(row_scale, 0.0f);
  for (int i = 0; i < 32; i++) CHECK_EQ_INT(q[i], 0);
}

// A block holding inf or NaN gets the NaN scale and dequantizes to NaN; its neighbours
// are untouched.
static void test_nonfinite_blocks(void) {
  float x[64], y[64];
  vdit_rng_normal(5, 0, 64, x);
  x[3] = INFINITY;
  vdit_block_mxfp4 b4[2];
  CHECK_OK(vdit_quantize_mxfp4(1, 64, x, b4));
  CHECK_EQ_HEX(b4[0].scale, 0xff);
  CHECK(b4[1].scale != 0xff);
  CHECK_OK(vdit_dequantize_mxfp4(1, 64, b4, y));
  for (int i = 0; i < 32; i++) CHECK_EQ_HEX(float_bits(y[i]), 0x7fffffffu);
  for (int i = 32; i < 64; i++) CHECK(isfinite(y[i]) && fabsf(y[i] - x[i]) <= 0.5f * fabsf(x[i]) + 0.5f);
  vdit_block_int8 bi[2];
  x[3] = NAN;
  CHECK_OK(vdit_quantize_int8_blocks(1, 64, x, bi));
  CHECK(isnan(bi[0].scale) && isfinite(bi[1].scale));
  vdit_block_nvfp4 nb[4];
  float tensor_scale;
  CHECK_OK(vdit_quantize_nvfp4(1, 64, x, nb, &tensor_scale));
  CHECK(isnan(tensor_scale));
  for (int b = 0; b < 4; b++) CHECK_EQ_HEX(nb[b].scale, 0x7f);
  CHECK_OK(vdit_dequantize_nvfp4(1, 64, nb, &tensor_scale, y));
  for (int i = 0; i < 64; i++) CHECK_EQ_HEX(float_bits(y[i]), 0x7fffffffu);
}

// ---------------------------------------------------------------- errors on Gaussian data
typedef struct error_stats {
  double relative_rms, model_relative_rms;
} error_stats;

// Rounding noise model: an element rounded on a grid of local spacing g (in units of its
// block's scale s) has error variance (g s)^2 / 12 when the grid is fine compared with the
// data's spread; one beyond the grid's largest value m is clipped, error (|v| - m) s. The
// model's grid spacing at |v| = |x| / s and largest value:
static double grid_spacing(vdit_quant_scheme scheme, double v) {
  switch (scheme) {
    case VDIT_QUANT_NVFP4:
    case VDIT_QUANT_MXFP4: return v < 2 ? 0.5 : v < 4 ? 1 : 2;
    case VDIT_QUANT_MXFP8_E4M3: return v < 0x1p-6 ? 0x1p-9 : ldexp(1, ilogb(v) - 3);
    case VDIT_QUANT_MXFP8_E5M2: return v < 0x1p-14 ? 0x1p-16 : ldexp(1, ilogb(v) - 2);
    default: return 1; // INT8: unit steps
  }
}

static double grid_max(vdit_quant_scheme scheme) {
  switch (scheme) {
    case VDIT_QUANT_NVFP4:
    case VDIT_QUANT_MXFP4: return 6;
    case VDIT_QUANT_MXFP8_E4M3: return 448;
    case VDIT_QUANT_MXFP8_E5M2: return 57344;
    default: return 127;
  }
}

// The scale an element was divided by, read from the quantized form.
static double element_scale(vdit_quant_scheme scheme, const quantized *q, size_t cols, size_t i) {
  switch (scheme) {
    case VDIT_QUANT_NVFP4:
      return vdit_f8_e4m3_to_float(((vdit_block_nvfp4 *)q->data)[i / 16].scale) * (double)q->scales[0];
    case VDIT_QUANT_MXFP4: return vdit_e8m0_to_float(((vdit_block_mxfp4 *)q->data)[i / 32].scale);
    case VDIT_QUANT_MXFP8_E4M3:
    case VDIT_QUANT_MXFP8_E5M2: return vdit_e8m0_to_float(((vdit_block_mxfp8 *)q->data)[i / 32].scale);
    case VDIT_QUANT_INT8_ROW: return q->scales[i / cols];
    case VDIT_QUANT_INT8_BLOCK: return ((vdit_block_int8 *)q->data)[i / 32].scale;
    default: return 0;
  }
}

static error_stats gaussian_errors(vdit_quant_scheme scheme, uint64_t seed) {
  const size_t rows = 512, cols = 1024, n = rows * cols;
  float *x = (float *)malloc(n * sizeof *x), *y = (float *)malloc(n * sizeof *y);
  vdit_rng_normal(seed, 0, n, x);
  quantized q = quantized_alloc(scheme, rows, cols);
  CHECK_OK(quantize_fast(scheme, rows, cols, x, &q));
  CHECK_OK(dequantize_fast(scheme, rows, cols, &q, y));
  double signal = 0, noise = 0, model = 0;
  for (size_t i = 0; i < n; i++) {
    double s = element_scale(scheme, &q, cols, i);
    double v = fabs((double)x[i]) / s, g = grid_spacing(scheme, v) * s;
    signal += (double)x[i] * x[i];
    noise += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
    model += v > grid_max(scheme) ? (v - grid_max(scheme)) * s * (v - grid_max(scheme)) * s : g * g / 12;
  }
  quantized_free(&q);
  free(x);
  free(y);
  return (error_stats){sqrt(noise / signal), sqrt(model / signal)};
}

static void test_gaussian_errors(void) {
  error_stats e[VDIT_QUANT_COUNT];
  for (int s = 0; s < VDIT_QUANT_COUNT; s++) {
    e[s] = gaussian_errors((vdit_quant_scheme)s, 77 + (uint64_t)s);
    printf("  %-11s relative RMS error %.5f (rounding noise model %.5f)\n", vdit_quant_scheme_name((vdit_quant_scheme)s),
           e[s].relative_rms, e[s].model_relative_rms);
    // Uniform rounding noise describes the fine grids closely; the 4-bit grids hold the
    // block maximum exactly (or nearly) and are coarse, so allow them 10% (the others 2%).
    double tolerance = (s == VDIT_QUANT_NVFP4 || s == VDIT_QUANT_MXFP4) ? 0.10 : 0.02;
    CHECK(fabs(e[s].relative_rms / e[s].model_relative_rms - 1) < tolerance);
  }
  // More bits, less error; finer scales, less error.
  CHECK(e[VDIT_QUANT_INT8_BLOCK].relative_rms < e[VDIT_QUANT_INT8_ROW].relative_rms);
  CHECK(e[VDIT_QUANT_INT8_ROW].relative_rms < e[VDIT_QUANT_MXFP8_E4M3].relative_rms);
  CHECK(e[VDIT_QUANT_MXFP8_E4M3].relative_rms < e[VDIT_QUANT_MXFP8_E5M2].relative_rms);
  CHECK(e[VDIT_QUANT_MXFP8_E5M2].relative_rms < e[VDIT_QUANT_NVFP4].relative_rms);
  CHECK(e[VDIT_QUANT_NVFP4].relative_rms < e[VDIT_QUANT_MXFP4].relative_rms);
}

// ---------------------------------------------------------------- API edges
static void test_bad_arguments(void) {
  float x[64] = {0}, y[64], tensor_scale;
  vdit_block_nvfp4 nb[4];
  vdit_block_mxfp8 b8[2];
  CHECK_STATUS(vdit_quantize_nvfp4(1, 17, x, nb, &tensor_scale), VDIT_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(vdit_last_error(), "multiple of the 16-element block") != NULL);
  CHECK_STATUS(vdit_quantize_mxfp4(2, 16, x, (vdit_block_mxfp4 *)b8), VDIT_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(vdit_last_error(), "(16) must be a multiple of the 32-element block") != NULL);
  CHECK_STATUS(vdit_quantize_int8_blocks(1, 48, x, (vdit_block_int8 *)b8), VDIT_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(vdit_quantize_mxfp8(VDIT_DTYPE_F16, 1, 32, x, b8), VDIT_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(vdit_last_error(), "f8_e4m3 or f8_e5m2") != NULL);
  CHECK_STATUS(vdit_quantize_int8_rows(1, 0, x, (int8_t *)b8, y), VDIT_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(vdit_quantize_nvfp4(1, 16, NULL, nb, &tensor_scale), VDIT_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(vdit_quantize_nvfp4(1, 16, x, nb, NULL), VDIT_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(vdit_quantize_nvfp4(SIZE_MAX / 8, 32, x, nb, &tensor_scale), VDIT_ERROR_INVALID_ARGUMENT);
  CHECK_OK(vdit_quantize_mxfp4(0, 32, NULL, NULL)); // no rows: nothing to do

  size_t bytes;
  CHECK_OK(vdit_quant_storage_bytes(VDIT_QUANT_NVFP4, 1024, 1024, &bytes));
  CHECK_EQ_INT(bytes, 1024 * 1024 / 16 * 9 + 4);
  CHECK_OK(vdit_quant_storage_bytes(VDIT_QUANT_MXFP4, 1024, 1024, &bytes));
  CHECK_EQ_INT(bytes, 1024 * 1024 / 32 * 17);
  CHECK_OK(vdit_quant_storage_bytes(VDIT_QUANT_INT8_ROW, 3, 5, &bytes));
  CHECK_EQ_INT(bytes, 15 + 12);
  CHECK_STATUS(vdit_quant_storage_bytes(VDIT_QUANT_MXFP8_E4M3, 3, 5, &bytes), VDIT_ERROR_INVALID_ARGUMENT);

  for (int s = 0; s < VDIT_QUANT_COUNT; s++) {
    vdit_quant_scheme parsed;
    CHECK_OK(vdit_quant_scheme_parse(vdit_quant_scheme_name((vdit_quant_scheme)s), &parsed));
    CHECK_EQ_INT(parsed, s);
  }
  vdit_quant_scheme parsed;
  CHECK_STATUS(vdit_quant_scheme_parse("nvfp5", &parsed), VDIT_ERROR_INVALID_ARGUMENT);
}

// vdit_quant_round_trip is quantize then dequantize, in place too.
static void test_round_trip(void) {
  const size_t rows = 8, cols = 256, n = rows * cols;
  float *x = (float *)malloc(n * sizeof *x), *y = (float *)malloc(n * sizeof *y), *z = (float *)malloc(n * sizeof *z);
  for (int s = 0; s < VDIT_QUANT_COUNT; s++) {
    test_make_input(INPUT_OUTLIER_CHANNELS, 300 + (uint64_t)s, rows, cols, x);
    quantized q = quantized_alloc((vdit_quant_scheme)s, rows, cols);
    CHECK_OK(quantize_fast((vdit_quant_scheme)s, rows, cols, x, &q));
    CHECK_OK(dequantize_fast((vdit_quant_scheme)s, rows, cols, &q, y));
    CHECK_OK(vdit_quant_round_trip((vdit_quant_scheme)s, rows, cols, x, z));
    CHECK(memcmp(y, z, n * sizeof *y) == 0);
    CHECK_OK(vdit_quant_round_trip((vdit_quant_scheme)s, rows, cols, x, x));
    CHECK(memcmp(y, x, n * sizeof *y) == 0);
    quantized_free(&q);
  }
  free(x);
  free(y);
  free(z);
}

int main(void) {
  double start = vdit_time_seconds();
  test_scale_rules();
  test_nonfinite_blocks();
  test_bad_arguments();
  test_round_trip();
  test_fast_equals_reference();
  test_gaussian_errors();
  printf("test_quant: %.1f s\n", vdit_time_seconds() - start);
  return check_finish("test_quant");
}
