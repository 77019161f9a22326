// The eDRAM simulator core (include/vdit/sim.h): retention statistics and determinism, the
// failure rule, the SHIELD, lifecycle and standard policies' guarantees, the refresh energy
// saving and the weak-cell masks.
#include <math.h>
#include <stdlib.h>

#include "check.h"
#include "vdit/num.h"
#include "vdit/sim.h"

static int compare_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

// The q-quantile of sorted[0..n) (nearest rank).
static double quantile(const double *sorted, size_t n, double q) {
  size_t i = (size_t)(q * (double)(n - 1) + 0.5);
  return sorted[i];
}

static double min_of(const double *v, size_t n) {
  double m = INFINITY;
  for (size_t i = 0; i < n; i++) m = v[i] < m ? v[i] : m;
  return m;
}

// bf16 activations: Philox normals scaled by 4, rounded to bf16.
static uint16_t *random_bf16(uint64_t seed, size_t n) {
  float *values = malloc(n * sizeof *values);
  uint16_t *codes = malloc(n * sizeof *codes);
  vdit_rng_normal(seed, 0, n, values);
  for (size_t i = 0; i < n; i++) codes[i] = vdit_bf16_from_float(4.0f * values[i]);
  free(values);
  return codes;
}

static void test_retention_statistics(void) {
  enum { N = 200000 };
  vdit_sim_retention r = vdit_sim_retention_default();
  r.seed = 11;
  double *t = malloc(N * sizeof *t);
  CHECK_OK(vdit_sim_retention_times(&r, 12345, N, t));
  double mean = 0, var = 0;
  for (size_t i = 0; i < N; i++) mean += log(t[i]);
  mean /= N;
  for (size_t i = 0; i < N; i++) var += (log(t[i]) - mean) * (log(t[i]) - mean);
  double sd = sqrt(var / (N - 1));
  // standard errors at N = 2e5, sigma 0.5: mean 0.0011, sd 0.0008, median (log) 0.0014,
  // the 2.3% and 97.7% quantiles (log) 0.0031; the tolerances are >= 6 of them
  CHECK_NEAR(mean, log(r.median_s), 0.008);
  CHECK_NEAR(sd, r.sigma, 0.006);
  qsort(t, N, sizeof *t, compare_double);
  CHECK_NEAR(log(quantile(t, N, 0.5)), log(r.median_s), 0.01);
  CHECK_NEAR(log(quantile(t, N, 0.158655)), log(r.median_s) - r.sigma, 0.012);
  CHECK_NEAR(log(quantile(t, N, 0.841345)), log(r.median_s) + r.sigma, 0.012);
  CHECK_NEAR(log(quantile(t, N, 0.0227501)), log(r.median_s) - 2 * r.sigma, 0.02);
  CHECK_NEAR(log(quantile(t, N, 0.9772499)), log(r.median_s) + 2 * r.sigma, 0.02);
  free(t);
}

static void test_retention_determinism(void) {
  enum { N = 4000 };
  vdit_sim_retention r = vdit_sim_retention_default();
  r.seed = 5;
  double a[N], b[N], part[10], other[N];
  CHECK_OK(vdit_sim_retention_times(&r, 0, N, a));
  CHECK_OK(vdit_sim_retention_times(&r, 0, N, b));
  CHECK(memcmp(a, b, sizeof a) == 0);
  // a cell's retention depends on its address only, not on the range asked for
  CHECK_OK(vdit_sim_retention_times(&r, 1500, 10, part));
  CHECK(memcmp(part, a + 1500, sizeof part) == 0);
  r.seed = 6;
  CHECK_OK(vdit_sim_retention_times(&r, 0, N, other));
  int same = 0;
  for (int i = 0; i < N; i++) same += other[i] == a[i];
  CHECK(same < 5);

  // temperature: 10 C hotter with halving every 10 C halves every cell
  r.seed = 5;
  r.temperature_c = r.reference_temperature_c + 10;
  CHECK_OK(vdit_sim_retention_times(&r, 0, N, other));
  for (int i = 0; i < N; i++)
    if (fabs(other[i] / a[i] - 0.5) > 1e-12) { CHECK_NEAR(other[i] / a[i], 0.5, 1e-12); break; }

  // VRT: about vrt_fraction / 2 of the cells sit in the low state, exactly vrt_low_ratio lower,
  // and another epoch moves some of them
  r.temperature_c = r.reference_temperature_c;
  r.vrt_fraction = 0.2;
  r.vrt_low_ratio = 0.1;
  double epoch0[N], epoch1[N];
  CHECK_OK(vdit_sim_retention_times(&r, 0, N, epoch0));
  r.vrt_epoch = 1;
  CHECK_OK(vdit_sim_retention_times(&r, 0, N, epoch1));
  int low0 = 0, moved = 0, bad_ratio = 0;
  for (int i = 0; i < N; i++) {
    if (epoch0[i] != a[i]) {
      low0++;
      bad_ratio += fabs(epoch0[i] / a[i] - 0.1) > 1e-12;
    }
    moved += epoch0[i] != epoch1[i];
  }
  CHECK_EQ_INT(bad_ratio, 0);
  // binomial(4000, 0.1): mean 400, sd 19
  CHECK(low0 > 300 && low0 < 500);
  CHECK(moved > 100);
}

static vdit_sim_tensor make_tensor(uint64_t address, size_t words, double lifetime, vdit_sim_lifetime_class c) {
  vdit_sim_tensor t = {.word_address = address, .word_count = words, .t_write_s = 1e-3,
                       .t_read_s = 1e-3 + lifetime, .lifetime_class = c};
  return t;
}

// The minimum retention over the cells of a tensor, the precondition of the refresh tests.
static double min_retention(const vdit_sim_retention *r, const vdit_sim_tensor *t) {
  size_t n = t->word_count * VDIT_SIM_WORD_BITS;
  double *s = malloc(n * sizeof *s);
  CHECK_OK(vdit_sim_retention_times(r, t->word_address * VDIT_SIM_WORD_BITS, n, s));
  double m = min_of(s, n);
  free(s);
  return m;
}

static void test_shield_keeps_sign_exponent(void) {
  enum { WORDS = 32768 };
  vdit_sim_retention r = vdit_sim_retention_default();
  r.seed = 21;
  uint16_t *in = random_bf16(31, WORDS), *out = malloc(WORDS * sizeof *out);
  double t_ref = 50e-6, run_length = 0.1;
  vdit_sim_tensor probe = make_tensor(4096, WORDS, run_length, VDIT_SIM_LIFETIME_TRANSIENT);
  CHECK(min_retention(&r, &probe) > t_ref); // the array meets t_REF
  vdit_sim_policy shield = vdit_sim_policy_shield(t_ref, 4 * t_ref);
  uint64_t mantissa_failures = 0;
  for (double lifetime = 1e-6; lifetime <= run_length; lifetime *= 3.7) {
    for (int c = 0; c < VDIT_SIM_LIFETIME_CLASS_COUNT; c++) {
      vdit_sim_tensor t = make_tensor(4096, WORDS, lifetime, (vdit_sim_lifetime_class)c);
      vdit_sim_report report;
      memset(&report, 0, sizeof report);
      CHECK_OK(vdit_sim_inject_bf16(&r, &shield, NULL, &t, in, out, &report));
      CHECK_EQ_INT(report.failed_bits[VDIT_SIM_SEGMENT_SIGN_EXPONENT], 0);
      size_t differ = 0;
      for (size_t i = 0; i < WORDS; i++) differ += (in[i] & 0xff80u) != (out[i] & 0xff80u);
      CHECK_EQ_INT(differ, 0);
      mantissa_failures += report.failed_bits[VDIT_SIM_SEGMENT_MANTISSA];
    }
  }
  CHECK(mantissa_failures > 1000); // the long unrefreshed transients do lose mantissa bits
  free(in);
  free(out);
}

static void test_standard_refresh_below_min_retention(void) {
  enum { WORDS = 16384 };
  vdit_sim_retention r = vdit_sim_retention_default();
  r.seed = 77;
  r.temperature_c = 55; // derated 8x: median 125 us
  uint16_t *in = random_bf16(41, WORDS), *out = malloc(WORDS * sizeof *out);
  vdit_sim_tensor t = make_tensor(0, WORDS, 0.05, VDIT_SIM_LIFETIME_PERSISTENT);
  double minimum = min_retention(&r, &t);
  vdit_sim_policy standard = vdit_sim_policy_standard(0.999 * minimum);
  vdit_sim_report report;
  memset(&report, 0, sizeof report);
  CHECK_OK(vdit_sim_inject_bf16(&r, &standard, NULL, &t, in, out, &report));
  CHECK_EQ_INT(report.failed_bits[0] + report.failed_bits[1], 0);
  CHECK(memcmp(in, out, WORDS * sizeof *in) == 0);
  // refreshing a little slower than the weakest cells loses some bits
  standard = vdit_sim_policy_standard(2 * minimum);
  memset(&report, 0, sizeof report);
  CHECK_OK(vdit_sim_inject_bf16(&r, &standard, NULL, &t, in, out, &report));
  CHECK(report.failed_bits[0] + report.failed_bits[1] > 0);
  free(in);
  free(out);
}

// Failures grow with the unrefreshed interval, are nested (a cell failing at t fails at any
// t' > t), and equal an independent count from the retention times and the data.
static void test_failures_grow_with_interval(void) {
  enum { WORDS = 8192, BITS = WORDS * VDIT_SIM_WORD_BITS };
  vdit_sim_retention r = vdit_sim_retention_default();
  r.seed = 3;
  uint16_t *in = random_bf16(51, WORDS), *out = malloc(WORDS * sizeof *out), *prev = malloc(WORDS * sizeof *prev);
  double *seconds = malloc(BITS * sizeof *seconds);
  CHECK_OK(vdit_sim_retention_times(&r, 100 * VDIT_SIM_WORD_BITS, BITS, seconds));
  vdit_sim_policy never = {.kind = VDIT_SIM_POLICY_CUSTOM}; // all intervals 0: never refreshed
  uint64_t last = 0;
  memcpy(prev, in, WORDS * sizeof *in);
  for (double lifetime = 1e-4; lifetime < 2e-2; lifetime *= 1.6) {
    vdit_sim_tensor t = make_tensor(100, WORDS, lifetime, VDIT_SIM_LIFETIME_TRANSIENT);
    vdit_sim_report report;
    memset(&report, 0, sizeof report);
    CHECK_OK(vdit_sim_inject_bf16(&r, &never, NULL, &t, in, out, &report));
    uint64_t failed = report.failed_bits[0] + report.failed_bits[1];
    CHECK(failed >= last);
    last = failed;
    uint64_t expected[2] = {0, 0}, not_nested = 0, mismatched = 0;
    for (size_t i = 0; i < WORDS; i++) {
      uint16_t want = in[i];
      for (int b = 0; b < 16; b++)
        if (((in[i] >> b) & 1u) && seconds[i * 16 + (size_t)b] < lifetime) {
          want = (uint16_t)(want & ~(1u << b));
          expected[vdit_sim_segment_of_bit(b)]++;
        }
      mismatched += want != out[i];
      not_nested += (out[i] & prev[i]) != out[i]; // bits lost earlier stay lost
    }
    CHECK_EQ_INT(report.failed_bits[0], expected[0]);
    CHECK_EQ_INT(report.failed_bits[1], expected[1]);
    CHECK_EQ_INT(mismatched, 0);
    CHECK_EQ_INT(not_nested, 0);
    memcpy(prev, out, WORDS * sizeof *out);
  }
  // at 2e-2 s, 20x the median, about half of all stored ones are gone
  CHECK(last > BITS / 8);
  free(in);
  free(out);
  free(prev);
  free(seconds);
}

static void test_only_leaking_value_fails(void) {
  enum { WORDS = 4096 };
  vdit_sim_retention r = vdit_sim_retention_default();
  uint16_t *in = random_bf16(61, WORDS), *out = malloc(WORDS * sizeof *out);
  vdit_sim_policy never = {.kind = VDIT_SIM_POLICY_CUSTOM};
  vdit_sim_tensor t = make_tensor(0, WORDS, 2e-3, VDIT_SIM_LIFETIME_TRANSIENT);
  for (int leak = 0; leak <= 1; leak++) {
    r.leaking_value = leak;
    vdit_sim_report report;
    memset(&report, 0, sizeof report);
    CHECK_OK(vdit_sim_inject_bf16(&r, &never, NULL, &t, in, out, &report));
    size_t wrong_direction = 0;
    for (size_t i = 0; i < WORDS; i++)
      wrong_direction += leak ? (out[i] & ~in[i]) != 0 : (~out[i] & in[i] & 0xffffu) != 0;
    CHECK_EQ_INT(wrong_direction, 0);
    CHECK(report.failed_bits[0] + report.failed_bits[1] > 100);
    // a word of only the non-leaking value never fails; one of only the leaking value does
    uint16_t *constant = malloc(WORDS * sizeof *constant);
    for (int fill = 0; fill <= 1; fill++) {
      for (size_t i = 0; i < WORDS; i++) constant[i] = fill ? 0xffffu : 0;
      memset(&report, 0, sizeof report);
      CHECK_OK(vdit_sim_inject_bf16(&r, &never, NULL, &t, constant, out, &report));
      uint64_t failed = report.failed_bits[0] + report.failed_bits[1];
      if (fill == leak) CHECK(failed > 1000);
      else CHECK_EQ_INT(failed, 0);
    }
    free(constant);
  }
  // location dependence: the same data elsewhere in the array fails elsewhere; at the same
  // place it fails the same way
  r.leaking_value = 1;
  uint16_t *again = malloc(WORDS * sizeof *again), *moved = malloc(WORDS * sizeof *moved);
  vdit_sim_report report;
  memset(&report, 0, sizeof report);
  CHECK_OK(vdit_sim_inject_bf16(&r, &never, NULL, &t, in, out, &report));
  CHECK_OK(vdit_sim_inject_bf16(&r, &never, NULL, &t, in, again, &report));
  vdit_sim_tensor elsewhere = t;
  elsewhere.word_address = 1 << 20;
  CHECK_OK(vdit_sim_inject_bf16(&r, &never, NULL, &elsewhere, in, moved, &report));
  CHECK(memcmp(out, again, WORDS * sizeof *out) == 0);
  CHECK(memcmp(out, moved, WORDS * sizeof *out) != 0);
  // fp32 held as bf16: the same failures as the bf16 path on the rounded values
  float *f_in = malloc(WORDS * sizeof *f_in), *f_out = malloc(WORDS * sizeof *f_out);
  vdit_rng_normal(71, 0, WORDS, f_in);
  uint16_t *codes = malloc(WORDS * sizeof *codes);
  for (size_t i = 0; i < WORDS; i++) codes[i] = vdit_bf16_from_float(f_in[i]);
  vdit_sim_report r32, r16;
  memset(&r32, 0, sizeof r32);
  memset(&r16, 0, sizeof r16);
  vdit_sim_energy_model energy = vdit_sim_energy_model_default();
  CHECK_OK(vdit_sim_inject_f32(&r, &never, &energy, &t, f_in, f_out, &r32));
  CHECK_OK(vdit_sim_inject_bf16(&r, &never, &energy, &t, codes, codes, &r16));
  CHECK(memcmp(&r32, &r16, sizeof r32) == 0);
  size_t differ = 0;
  for (size_t i = 0; i < WORDS; i++) differ += vdit_bf16_from_float(f_out[i]) != codes[i];
  CHECK_EQ_INT(differ, 0);
  free(f_in);
  free(f_out);
  free(codes);
  free(again);
  free(moved);
  free(in);
  free(out);
}

static void test_energy(void) {
  vdit_sim_energy_model energy = vdit_sim_energy_model_default();
  double t_ref = 50e-6;
  vdit_sim_policy standard = vdit_sim_policy_standard(t_ref), shield = vdit_sim_policy_shield(t_ref, 4 * t_ref);
  // a transient tensor living 100 t_REF: SHIELD drops every mantissa refresh, 7/16 of the rows
  vdit_sim_tensor t = make_tensor(0, 65536, 100.5 * t_ref, VDIT_SIM_LIFETIME_TRANSIENT);
  vdit_sim_report a, b;
  memset(&a, 0, sizeof a);
  memset(&b, 0, sizeof b);
  CHECK_OK(vdit_sim_tensor_energy(&standard, &energy, &t, &a));
  CHECK_OK(vdit_sim_tensor_energy(&shield, &energy, &t, &b));
  // 65536 words * 9 bits / 256 = 2304 rows and * 7 / 256 = 1792 rows, 100 refreshes each
  CHECK_EQ_INT(a.row_refreshes[VDIT_SIM_SEGMENT_SIGN_EXPONENT], 230400);
  CHECK_EQ_INT(a.row_refreshes[VDIT_SIM_SEGMENT_MANTISSA], 179200);
  CHECK_EQ_INT(b.row_refreshes[VDIT_SIM_SEGMENT_MANTISSA], 0);
  CHECK_NEAR(1 - vdit_sim_report_refresh_pj(&b) / vdit_sim_report_refresh_pj(&a), 7.0 / 16.0, 1e-12);
  CHECK_NEAR(a.access_pj, b.access_pj, 0);
  CHECK_NEAR(a.access_pj, 65536.0 * 16 * 0.018, 1e-6);
  // a size that does not fill the rows: still close to 7/16 (row rounding only)
  t.word_count = 1000;
  memset(&a, 0, sizeof a);
  memset(&b, 0, sizeof b);
  CHECK_OK(vdit_sim_tensor_energy(&standard, &energy, &t, &a));
  CHECK_OK(vdit_sim_tensor_energy(&shield, &energy, &t, &b));
  CHECK_NEAR(1 - vdit_sim_report_refresh_pj(&b) / vdit_sim_report_refresh_pj(&a), 7.0 / 16.0, 0.01);
  // a persistent tensor living 400 t_REF with mantissas at 4 t_REF: saves 7/16 * 3/4
  t = make_tensor(0, 65536, 400 * t_ref + 1e-9, VDIT_SIM_LIFETIME_PERSISTENT);
  memset(&a, 0, sizeof a);
  memset(&b, 0, sizeof b);
  CHECK_OK(vdit_sim_tensor_energy(&standard, &energy, &t, &a));
  CHECK_OK(vdit_sim_tensor_energy(&shield, &energy, &t, &b));
  CHECK_NEAR(1 - vdit_sim_report_refresh_pj(&b) / vdit_sim_report_refresh_pj(&a), 7.0 / 16.0 * 0.75, 1e-12);
}

static void test_bad_arguments(void) {
  vdit_sim_retention r = vdit_sim_retention_default();
  vdit_sim_policy p = vdit_sim_policy_standard(1e-5);
  vdit_sim_tensor t = make_tensor(0, 4, 1e-3, VDIT_SIM_LIFETIME_TRANSIENT);
  uint16_t data[4] = {1, 2, 3, 4};
  vdit_sim_report report;
  memset(&report, 0, sizeof report);
  t.t_read_s = t.t_write_s - 1e-6;
  CHECK_STATUS(vdit_sim_inject_bf16(&r, &p, NULL, &t, data, data, &report), VDIT_ERROR_INVALID_ARGUMENT);
  t = make_tensor(0, 4, 1e-3, VDIT_SIM_LIFETIME_TRANSIENT);
  p.refresh_interval_s[1][0] = -1;
  CHECK_STATUS(vdit_sim_inject_bf16(&r, &p, NULL, &t, data, data, &report), VDIT_ERROR_INVALID_ARGUMENT);
  p = vdit_sim_policy_standard(1e-5);
  r.sigma = -0.1;
  CHECK_STATUS(vdit_sim_inject_bf16(&r, &p, NULL, &t, data, data, &report), VDIT_ERROR_INVALID_ARGUMENT);
  r = vdit_sim_retention_default();
  r.leaking_value = 2;
  CHECK_STATUS(vdit_sim_inject_bf16(&r, &p, NULL, &t, data, data, &report), VDIT_ERROR_INVALID_ARGUMENT);
  r = vdit_sim_retention_default();
  p.refresh_interval_s[0][1] = 1e-300; // 10^297 refreshes
  CHECK_STATUS(vdit_sim_inject_bf16(&r, &p, NULL, &t, data, data, &report), VDIT_ERROR_INVALID_ARGUMENT);
  p = vdit_sim_policy_standard(1e-5);
  t.word_address = UINT64_MAX / 8;
  CHECK_STATUS(vdit_sim_inject_bf16(&r, &p, NULL, &t, data, data, &report), VDIT_ERROR_INVALID_ARGUMENT);
  CHECK_EQ_INT(report.bits[0] + report.failed_bits[0] + report.row_refreshes[0], 0);
}

// The lifecycle policy: sign+exponent and the protected top mantissa bits never fail when
// t_REF is below the weakest cell; the other mantissa bits fail exactly where an independent
// count from the retention times, the data and the spread schedule says (exposure L / ceil(L / r)).
static void test_lifecycle_policy(void) {
  enum { WORDS = 8192, BITS = WORDS * VDIT_SIM_WORD_BITS };
  vdit_sim_retention r = vdit_sim_retention_default();
  r.seed = 13;
  uint16_t *in = random_bf16(81, WORDS), *out = malloc(WORDS * sizeof *out);
  double *seconds = malloc(BITS * sizeof *seconds);
  const uint64_t address = 5000;
  CHECK_OK(vdit_sim_retention_times(&r, address * VDIT_SIM_WORD_BITS, BITS, seconds));
  const double t_ref = 50e-6;
  CHECK(min_of(seconds, BITS) > t_ref);
  uint64_t low_failures = 0;
  for (int protect = 0; protect <= VDIT_SIM_MANTISSA_BITS; protect++)
    for (int c = 0; c < VDIT_SIM_LIFETIME_CLASS_COUNT; c++) {
      // transient mantissa never refreshed; persistent every 300 us, spread
      vdit_sim_policy p = vdit_sim_policy_lifecycle(t_ref, 0, 300e-6, protect, protect);
      CHECK_OK(vdit_sim_policy_check(&p));
      const double lifetime = c == VDIT_SIM_LIFETIME_TRANSIENT ? 700e-6 : 1e-3;
      // persistent: ceil(1000 / 300) = 4 stretches of 250 us, 3 refreshes
      const double exposure = c == VDIT_SIM_LIFETIME_TRANSIENT ? lifetime : 250e-6;
      vdit_sim_tensor t = make_tensor(address, WORDS, lifetime, (vdit_sim_lifetime_class)c);
      CHECK_NEAR(vdit_sim_unrefreshed_interval(&p, &t, VDIT_SIM_SEGMENT_MANTISSA), exposure, 1e-15);
      vdit_sim_report report;
      memset(&report, 0, sizeof report);
      CHECK_OK(vdit_sim_inject_bf16(&r, &p, NULL, &t, in, out, &report));
      uint64_t expected_by_bit[VDIT_SIM_WORD_BITS] = {0}, mismatched = 0;
      const int first_protected = VDIT_SIM_MANTISSA_BITS - protect;
      for (size_t i = 0; i < WORDS; i++) {
        uint16_t want = in[i];
        for (int b = 0; b < first_protected; b++)
          if (((in[i] >> b) & 1u) && seconds[i * 16 + (size_t)b] < exposure) {
            want = (uint16_t)(want & ~(1u << b));
            expected_by_bit[b]++;
          }
        mismatched += want != out[i];
      }
      CHECK_EQ_INT(mismatched, 0);
      uint64_t sum = 0;
      for (int b = 0; b < VDIT_SIM_WORD_BITS; b++) {
        CHECK_EQ_INT(report.failed_by_bit[b], expected_by_bit[b]);
        sum += report.failed_by_bit[b];
      }
      CHECK_EQ_INT(report.failed_bits[VDIT_SIM_SEGMENT_SIGN_EXPONENT], 0);
      CHECK_EQ_INT(report.failed_bits[VDIT_SIM_SEGMENT_MANTISSA], sum);
      for (int b = first_protected; b < VDIT_SIM_WORD_BITS; b++) CHECK_EQ_INT(report.failed_by_bit[b], 0);
      if (protect < VDIT_SIM_MANTISSA_BITS) CHECK(sum > 0);
      low_failures += sum;
    }
  CHECK(low_failures > 1000);
  free(in);
  free(out);
  free(seconds);
}

// Energy with protected bits and spread refreshes: the sub-arrays hold 9 + p and 7 - p bits
// per word; a spread schedule refreshes ceil(L / r) - 1 times.
static void test_lifecycle_energy(void) {
  vdit_sim_energy_model energy = vdit_sim_energy_model_default();
  const double t_ref = 50e-6;
  vdit_sim_policy standard = vdit_sim_policy_standard(t_ref);
  // 65536 words, 1000 us: standard 20 refreshes of every row (16 bits = 4096 rows)
  vdit_sim_tensor t = make_tensor(0, 65536, 1000e-6 + 1e-12, VDIT_SIM_LIFETIME_PERSISTENT);
  for (int protect = 0; protect <= VDIT_SIM_MANTISSA_BITS; protect++) {
    vdit_sim_policy p = vdit_sim_policy_lifecycle(t_ref, 0, 300e-6, 0, protect);
    vdit_sim_report a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    CHECK_OK(vdit_sim_tensor_energy(&standard, &energy, &t, &a));
    CHECK_OK(vdit_sim_tensor_energy(&p, &energy, &t, &b));
    // sign+exponent and protected: (9 + p) * 256 rows, 20 refreshes (spread: ceil(1000.0..01 / 50) - 1 = 20)
    CHECK_EQ_INT(b.row_refreshes[VDIT_SIM_SEGMENT_SIGN_EXPONENT], (uint64_t)(9 + protect) * 256 * 20);
    // the rest of the mantissa: (7 - p) * 256 rows, ceil(1000 / 300) - 1 = 3 refreshes
    CHECK_EQ_INT(b.row_refreshes[VDIT_SIM_SEGMENT_MANTISSA], (uint64_t)(7 - protect) * 256 * 3);
    CHECK_NEAR(1 - vdit_sim_report_refresh_pj(&b) / vdit_sim_report_refresh_pj(&a), (7.0 - protect) / 16 * (1 - 3.0 / 20),
               1e-12);
  }
  // spread against every-r: the same count or one fewer, never a longer stretch
  for (double lifetime = 10e-6; lifetime < 2e-3; lifetime *= 1.37) {
    vdit_sim_policy every = vdit_sim_policy_shield(t_ref, 200e-6), spread = every;
    spread.spread_refreshes = 1;
    vdit_sim_tensor x = make_tensor(0, 256, lifetime, VDIT_SIM_LIFETIME_PERSISTENT);
    vdit_sim_report a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    CHECK_OK(vdit_sim_tensor_energy(&every, &energy, &x, &a));
    CHECK_OK(vdit_sim_tensor_energy(&spread, &energy, &x, &b));
    for (int s = 0; s < VDIT_SIM_SEGMENT_COUNT; s++) {
      CHECK(b.row_refreshes[s] <= a.row_refreshes[s]);
      CHECK(vdit_sim_unrefreshed_interval(&spread, &x, (vdit_sim_segment)s) <=
            vdit_sim_unrefreshed_interval(&every, &x, (vdit_sim_segment)s));
    }
  }
}

// A weak-cell mask drawn once gives the same corruption and counts as drawing per call.
static void test_weak_mask(void) {
  enum { WORDS = 10000 };
  vdit_sim_retention r = vdit_sim_retention_default();
  r.seed = 17;
  vdit_sim_energy_model energy = vdit_sim_energy_model_default();
  vdit_sim_policy p = vdit_sim_policy_lifecycle(50e-6, 0, 400e-6, 1, 2);
  float *in = malloc(WORDS * sizeof *in), *a = malloc(WORDS * sizeof *a), *b = malloc(WORDS * sizeof *b);
  uint16_t *mask = malloc(WORDS * sizeof *mask);
  vdit_rng_normal(91, 0, WORDS, in);
  for (int c = 0; c < VDIT_SIM_LIFETIME_CLASS_COUNT; c++) {
    vdit_sim_tensor t = make_tensor(777, WORDS, 1.5e-3, (vdit_sim_lifetime_class)c);
    CHECK_OK(vdit_sim_weak_mask(&r, &p, &t, mask));
    vdit_sim_report ra, rb;
    memset(&ra, 0, sizeof ra);
    memset(&rb, 0, sizeof rb);
    CHECK_OK(vdit_sim_inject_f32(&r, &p, &energy, &t, in, a, &ra));
    CHECK_OK(vdit_sim_inject_f32_masked(&r, &p, &energy, &t, mask, in, b, &rb));
    CHECK(memcmp(a, b, WORDS * sizeof *a) == 0);
    CHECK(memcmp(&ra, &rb, sizeof ra) == 0);
    CHECK(ra.failed_bits[VDIT_SIM_SEGMENT_MANTISSA] > 0);
    size_t protected_weak = 0;
    const int protect = p.protected_mantissa_bits[c];
    for (size_t i = 0; i < WORDS; i++) protected_weak += (mask[i] >> (VDIT_SIM_MANTISSA_BITS - protect)) != 0;
    CHECK_EQ_INT(protected_weak, 0); // sign, exponent and protected bits: 50 us < every cell here
  }
  CHECK_STATUS(vdit_sim_inject_f32_masked(&r, &p, &energy, &(vdit_sim_tensor){.word_count = 4, .t_read_s = 1e-6}, NULL,
                                          in, a, &(vdit_sim_report){0}),
               VDIT_ERROR_INVALID_ARGUMENT);
  p.protected_mantissa_bits[1] = 8;
  CHECK_STATUS(vdit_sim_policy_check(&p), VDIT_ERROR_INVALID_ARGUMENT);
  p.protected_mantissa_bits[1] = -1;
  CHECK_STATUS(vdit_sim_policy_check(&p), VDIT_ERROR_INVALID_ARGUMENT);
  p.protected_mantissa_bits[1] = 0;
  p.spread_refreshes = 2;
  CHECK_STATUS(vdit_sim_policy_check(&p), VDIT_ERROR_INVALID_ARGUMENT);
  free(in);
  free(a);
  free(b);
  free(mask);
}

int main(void) {
  test_retention_statistics();
  test_retention_determinism();
  test_shield_keeps_sign_exponent();
  test_standard_refresh_below_min_retention();
  test_failures_grow_with_interval();
  test_only_leaking_value_fails();
  test_energy();
  test_bad_arguments();
  test_lifecycle_policy();
  test_lifecycle_energy();
  test_weak_mask();
  return check_finish("test_sim");
}
