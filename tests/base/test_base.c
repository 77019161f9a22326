// Base layer: status strings and messages, allocation, size arithmetic, Philox known-answer
// vectors, the stream layout, and the statistics of uniform and normal draws.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/philox.h"
#include "check.h"
#include "vdit/base.h"

static void test_errors(void) {
  vdit_error_clear();
  CHECK(strcmp(vdit_last_error(), "") == 0);
  vdit_status status = VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "shape %d wrong", 7);
  CHECK_EQ_INT(status, VDIT_ERROR_INVALID_ARGUMENT);
  CHECK(strcmp(vdit_last_error(), "shape 7 wrong") == 0);
  for (int s = 0; s < VDIT_STATUS_COUNT; s++) CHECK(strcmp(vdit_status_string((vdit_status)s), "unknown status") != 0);
}

static void test_alloc(void) {
  void *p = vdit_host_alloc(1000, 64);
  CHECK(p != NULL);
  CHECK_EQ_INT((uintptr_t)p % 64, 0);
  memset(p, 1, 1000);
  vdit_host_free(p);
  CHECK(vdit_host_alloc(0, 64) == NULL);
  CHECK(vdit_host_alloc(16, 3) == NULL);
  CHECK(vdit_host_alloc(SIZE_MAX - 8, 64) == NULL);
  size_t out = 5;
  CHECK(!vdit_size_mul(SIZE_MAX / 2, 3, &out));
  CHECK_EQ_INT(out, 5);
  CHECK(vdit_size_mul(1 << 20, 1 << 10, &out) && out == (size_t)1 << 30);
  CHECK(!vdit_size_add(SIZE_MAX, 1, &out));
}

// Known-answer vectors of Random123 (kat_vectors, philox4x32 with 10 rounds).
static void test_philox_known_answers(void) {
  static const uint32_t cases[3][10] = {
      {0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
      {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd},
      {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, 0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1},
  };
  for (int c = 0; c < 3; c++) {
    uint32_t out[4];
    vdit_philox4x32_10(cases[c], (vdit_philox_key){cases[c][4], cases[c][5]}, out);
    for (int i = 0; i < 4; i++) CHECK_EQ_HEX(out[i], cases[c][6 + i]);
  }
}

static void test_stream_layout(void) {
  // Element e of a stream does not depend on where a fill starts.
  float whole[64], part[20];
  vdit_rng_normal(42, 0, 64, whole);
  vdit_rng_normal(42, 37, 20, part);
  for (int i = 0; i < 20; i++) CHECK_EQ_FLOAT_BITS(part[i], whole[37 + i]);
  vdit_rng_uniform(42, 0, 64, whole);
  vdit_rng_uniform(42, 5, 20, part);
  for (int i = 0; i < 20; i++) CHECK_EQ_FLOAT_BITS(part[i], whole[5 + i]);
  // Different seeds differ.
  float other[64];
  vdit_rng_uniform(43, 0, 64, other);
  int same = 0;
  for (int i = 0; i < 64; i++) same += whole[i] == other[i];
  CHECK(same < 4);
  // Raw words follow the documented layout.
  uint32_t words[8], block[4];
  vdit_rng_u32(7, 4, 8, words);
  uint32_t counter[4] = {1, 0, 0, 0};
  vdit_philox4x32_10(counter, (vdit_philox_key){7, 0}, block);
  for (int i = 0; i < 4; i++) CHECK_EQ_HEX(words[i], block[i]);
}

static void test_exact_math(void) {
  // The portable log and sincos are accurate to a few ulp against libm in double.
  double worst_log = 0, worst_trig = 0;
  for (int i = 1; i <= 100000; i++) {
    float u = (float)i / 100001.0f;
    double ref = log((double)u);
    double err = fabs((double)vdit_exact_logf(u) - ref) / (fabs(ref) + 1e-30);
    if (err > worst_log && ref != 0) worst_log = err;
    float s, c;
    vdit_exact_sincos_2pi(u, &s, &c);
    double angle = 2.0 * 3.14159265358979323846 * (double)u;
    double e = fmax(fabs(s - sin(angle)), fabs(c - cos(angle)));
    if (e > worst_trig) worst_trig = e;
  }
  CHECK(worst_log < 4e-7);
  CHECK(worst_trig < 1e-6);
}

static void test_distribution(void) {
  enum { N = 1 << 20 };
  float *u = malloc(N * sizeof *u), *z = malloc(N * sizeof *z);
  vdit_rng_uniform(1234, 99, N, u);
  vdit_rng_normal(1234, 99, N, z);
  double mean_u = 0, min_u = 1, max_u = 0, mean_z = 0, var_z = 0, kurt = 0;
  for (int i = 0; i < N; i++) {
    mean_u += u[i];
    if (u[i] < min_u) min_u = u[i];
    if (u[i] > max_u) max_u = u[i];
    mean_z += z[i];
    var_z += (double)z[i] * z[i];
    kurt += (double)z[i] * z[i] * z[i] * z[i];
  }
  mean_u /= N; mean_z /= N; var_z /= N; kurt /= N;
  CHECK(min_u > 0.0 && max_u < 1.0);
  CHECK_NEAR(mean_u, 0.5, 0.002);
  CHECK_NEAR(mean_z, 0.0, 0.005);
  CHECK_NEAR(var_z, 1.0, 0.01);
  CHECK_NEAR(kurt, 3.0, 0.05);
  free(u);
  free(z);
}

int main(void) {
  test_errors();
  test_alloc();
  test_philox_known_answers();
  test_stream_layout();
  test_exact_math();
  test_distribution();
  return check_finish("test_base");
}
