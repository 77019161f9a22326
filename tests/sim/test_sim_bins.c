// Retention-aware (binned, RAIDR-style) refresh of the persistent mantissas (vdit/sim.h):
// every row's interval is a bin, never above guard x the row's weakest profiled cell (checked
// against the retention times recomputed here cell by cell); with VRT off and guard <= 1 no
// bit of a binned sub-array fails while the same array fails at a uniform interval of the
// same energy; the energy counts every row at its own bin (recomputed row by row); one bin
// equal to a uniform interval gives that interval's energy and failures; with VRT cells
// profiled in another epoch the binned rows can fail, and more profile rounds fail less.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vdit/num.h"
#include "vdit/sim.h"

enum { ROW_BITS = 256 };

static uint16_t *random_bf16(uint64_t seed, size_t n) {
  float *values = malloc(n * sizeof *values);
  uint16_t *codes = malloc(n * sizeof *codes);
  vdit_rng_normal(seed, 0, n, values);
  for (size_t i = 0; i < n; i++) codes[i] = vdit_bf16_from_float(4.0f * values[i]);
  free(values);
  return codes;
}

static vdit_sim_tensor persistent(uint64_t address, size_t words, double lifetime) {
  vdit_sim_tensor t = {.word_address = address, .word_count = words, .t_write_s = 1e-4,
                       .t_read_s = 1e-4 + lifetime, .lifetime_class = VDIT_SIM_LIFETIME_PERSISTENT};
  return t;
}

static vdit_sim_policy binned_lifecycle(double guard, int protect) {
  vdit_sim_policy p = vdit_sim_policy_lifecycle(50e-6, 0, 200e-6, 1, protect);
  const double bins[] = {50e-6, 100e-6, 150e-6, 200e-6, 250e-6, 300e-6, 400e-6, 800e-6};
  CHECK_OK(vdit_sim_policy_set_bins(&p, VDIT_SIM_LIFETIME_PERSISTENT, bins, 8, guard, ROW_BITS));
  return p;
}

// Every row's interval is a bin, <= guard x its weakest cell (recomputed from the retention
// times), and the longest such bin: the next bin up would exceed it.
static void test_row_intervals(void) {
  vdit_sim_retention r = vdit_sim_retention_default();
  r.seed = 21;
  for (int protect = 0; protect <= 2; protect += 2) {
    const double guard = 0.8;
    vdit_sim_policy p = binned_lifecycle(guard, protect);
    const size_t words = 3000; // rows do not end on a word boundary (7 or 5 cells per word)
    vdit_sim_tensor t = persistent(777, words, 2e-3);
    const size_t m = (size_t)(VDIT_SIM_MANTISSA_BITS - protect);
    const size_t rows = vdit_sim_binned_rows(&p, &t);
    CHECK_EQ_INT(rows, (words * m + ROW_BITS - 1) / ROW_BITS);
    double *profile = malloc(rows * sizeof *profile), *interval = malloc(rows * sizeof *interval);
    double *cells = malloc(words * VDIT_SIM_WORD_BITS * sizeof *cells), *weakest = malloc(rows * sizeof *weakest);
    CHECK_OK(vdit_sim_binned_row_intervals(&r, &p, &t, profile, interval));
    CHECK_OK(vdit_sim_retention_times(&r, t.word_address * VDIT_SIM_WORD_BITS, words * VDIT_SIM_WORD_BITS, cells));
    for (size_t k = 0; k < rows; k++) weakest[k] = INFINITY;
    for (size_t i = 0; i < words; i++)
      for (size_t b = 0; b < m; b++) {
        size_t row = (i * m + b) / ROW_BITS;
        weakest[row] = fmin(weakest[row], cells[i * VDIT_SIM_WORD_BITS + b]);
      }
    int bad_profile = 0, over_guard = 0, not_a_bin = 0, not_longest = 0, defaults = 0;
    for (size_t k = 0; k < rows; k++) {
      bad_profile += profile[k] != weakest[k];
      int bin = -1;
      for (int b = 0; b < p.bin_count; b++)
        if (interval[k] == p.bin_intervals_s[b]) bin = b;
      not_a_bin += bin < 0;
      if (bin == 0) defaults++;
      else over_guard += interval[k] > guard * weakest[k];
      if (bin >= 0 && bin + 1 < p.bin_count) not_longest += p.bin_intervals_s[bin + 1] <= guard * weakest[k];
    }
    CHECK_EQ_INT(bad_profile, 0);
    CHECK_EQ_INT(not_a_bin, 0);
    CHECK_EQ_INT(over_guard, 0);
    CHECK_EQ_INT(not_longest, 0);
    // the bins are used: at guard 0.8 most rows (weakest cell ~250 us) land above the default
    CHECK(defaults < (int)rows / 10);
    free(profile);
    free(interval);
    free(cells);
    free(weakest);
  }
}

// VRT off, guard <= 1: no bit of a binned sub-array fails (the bins hold every row within
// its weakest cell), sign and exponent never; the same tensor at a uniform interval with no
// more refresh energy fails. Energy = every row's refresh count at its bin, recomputed.
static void test_no_failures_and_energy(void) {
  vdit_sim_retention r = vdit_sim_retention_default();
  r.seed = 5;
  const size_t words = 40000;
  uint16_t *in = random_bf16(8, words), *out = malloc(words * sizeof *out);
  vdit_sim_energy_model e = vdit_sim_energy_model_default();
  for (int g = 0; g < 2; g++) {
    const double guard = g ? 1.0 : 0.7;
    vdit_sim_policy p = binned_lifecycle(guard, 0);
    vdit_sim_tensor t = persistent(1u << 20, words, 3.1e-3);
    vdit_sim_report report;
    memset(&report, 0, sizeof report);
    CHECK_OK(vdit_sim_inject_bf16(&r, &p, &e, &t, in, out, &report));
    CHECK_EQ_INT(report.failed_bits[VDIT_SIM_SEGMENT_SIGN_EXPONENT], 0);
    CHECK_EQ_INT(report.failed_bits[VDIT_SIM_SEGMENT_MANTISSA], 0);
    CHECK(memcmp(in, out, words * sizeof *in) == 0);
    // energy: the sign+exponent rows every t_REF plus each mantissa row at its bin
    const size_t rows = vdit_sim_binned_rows(&p, &t);
    double *interval = malloc(rows * sizeof *interval);
    CHECK_OK(vdit_sim_binned_row_intervals(&r, &p, &t, NULL, interval));
    const double lifetime = t.t_read_s - t.t_write_s;
    uint64_t mantissa_refreshes = 0;
    for (size_t k = 0; k < rows; k++) mantissa_refreshes += (uint64_t)(ceil(lifetime / interval[k]) - 1); // spread
    const uint64_t se_rows = (words * 9 + ROW_BITS - 1) / ROW_BITS;
    CHECK_EQ_INT(report.row_refreshes[VDIT_SIM_SEGMENT_MANTISSA], mantissa_refreshes);
    CHECK_EQ_INT(report.row_refreshes[VDIT_SIM_SEGMENT_SIGN_EXPONENT], se_rows * (uint64_t)(ceil(lifetime / 50e-6) - 1));
    CHECK_NEAR(report.refresh_pj[VDIT_SIM_SEGMENT_MANTISSA], (double)mantissa_refreshes * e.refresh_pj_per_row, 1e-6);
    vdit_sim_report profiled;
    memset(&profiled, 0, sizeof profiled);
    CHECK_OK(vdit_sim_tensor_energy_profiled(&r, &p, &e, &t, &profiled));
    CHECK_EQ_INT(profiled.row_refreshes[VDIT_SIM_SEGMENT_MANTISSA], mantissa_refreshes);
    // the uniform interval with the same (or less) mantissa refresh energy fails bits
    const double mean_per_row = (double)mantissa_refreshes / (double)rows;
    const double uniform = lifetime / (floor(mean_per_row) + 1) * (1 + 1e-9); // ceil(L / u) - 1 <= mean refreshes
    vdit_sim_policy flat = vdit_sim_policy_lifecycle(50e-6, 0, uniform, 1, 0);
    vdit_sim_report flat_report;
    memset(&flat_report, 0, sizeof flat_report);
    CHECK_OK(vdit_sim_inject_bf16(&r, &flat, &e, &t, in, out, &flat_report));
    CHECK(flat_report.row_refreshes[VDIT_SIM_SEGMENT_MANTISSA] <= mantissa_refreshes);
    CHECK(flat_report.failed_bits[VDIT_SIM_SEGMENT_MANTISSA] > 0);
    free(interval);
  }
  // the plain energy function refuses a binned policy (it has no profile)
  vdit_sim_policy p = binned_lifecycle(0.8, 0);
  vdit_sim_tensor t = persistent(0, 100, 1e-3);
  vdit_sim_report scratch;
  memset(&scratch, 0, sizeof scratch);
  CHECK(vdit_sim_tensor_energy(&p, &e, &t, &scratch) != VDIT_OK);
  e.row_bits = 128; // rows of another size than the bins'
  CHECK(vdit_sim_tensor_energy_profiled(&r, &p, &e, &t, &scratch) != VDIT_OK);
  free(in);
  free(out);
}

// One bin is a uniform interval: the same energy and the same failures as that interval.
static void test_single_bin_is_uniform(void) {
  vdit_sim_retention r = vdit_sim_retention_default();
  r.seed = 9;
  const size_t words = 20000;
  uint16_t *in = random_bf16(3, words), *a = malloc(words * sizeof *a), *b = malloc(words * sizeof *b);
  vdit_sim_energy_model e = vdit_sim_energy_model_default();
  vdit_sim_policy flat = vdit_sim_policy_lifecycle(50e-6, 0, 250e-6, 1, 0);
  vdit_sim_policy one = flat;
  const double bin = 250e-6;
  CHECK_OK(vdit_sim_policy_set_bins(&one, VDIT_SIM_LIFETIME_PERSISTENT, &bin, 1, 0.5, ROW_BITS));
  vdit_sim_tensor t = persistent(4096, words, 1.7e-3);
  vdit_sim_report ra, rb;
  memset(&ra, 0, sizeof ra);
  memset(&rb, 0, sizeof rb);
  CHECK_OK(vdit_sim_inject_bf16(&r, &flat, &e, &t, in, a, &ra));
  CHECK_OK(vdit_sim_inject_bf16(&r, &one, &e, &t, in, b, &rb));
  CHECK(ra.failed_bits[VDIT_SIM_SEGMENT_MANTISSA] > 0);
  CHECK_EQ_INT(rb.failed_bits[VDIT_SIM_SEGMENT_MANTISSA], ra.failed_bits[VDIT_SIM_SEGMENT_MANTISSA]);
  CHECK_EQ_INT(rb.row_refreshes[VDIT_SIM_SEGMENT_MANTISSA], ra.row_refreshes[VDIT_SIM_SEGMENT_MANTISSA]);
  CHECK_EQ_INT(rb.row_refreshes[VDIT_SIM_SEGMENT_SIGN_EXPONENT], ra.row_refreshes[VDIT_SIM_SEGMENT_SIGN_EXPONENT]);
  CHECK(memcmp(a, b, words * sizeof *a) == 0);
  // the fp32 path (whole-tensor mask) agrees with the bf16 path
  float *x = malloc(words * sizeof *x), *y = malloc(words * sizeof *y);
  for (size_t i = 0; i < words; i++) x[i] = vdit_bf16_to_float(in[i]);
  vdit_sim_policy binned = binned_lifecycle(1.3, 0); // guard > 1: some cells fail
  vdit_sim_report rf, rg;
  memset(&rf, 0, sizeof rf);
  memset(&rg, 0, sizeof rg);
  CHECK_OK(vdit_sim_inject_f32(&r, &binned, &e, &t, x, y, &rf));
  CHECK_OK(vdit_sim_inject_bf16(&r, &binned, &e, &t, in, a, &rg));
  CHECK(rf.failed_bits[VDIT_SIM_SEGMENT_MANTISSA] > 0);
  CHECK_EQ_INT(rf.failed_bits[VDIT_SIM_SEGMENT_MANTISSA], rg.failed_bits[VDIT_SIM_SEGMENT_MANTISSA]);
  int differ = 0;
  for (size_t i = 0; i < words; i++) differ += vdit_bf16_from_float(y[i]) != a[i];
  CHECK_EQ_INT(differ, 0);
  free(x);
  free(y);
  free(in);
  free(a);
  free(b);
}

// VRT: the profile (epochs vrt_epoch + 1 ..) misses cells that are low now, so binned rows
// fail; every failed cell is a VRT cell whose operating retention is below its profile (or
// below t_REF, which standard refresh loses as well); four
// profile rounds leave fewer failures than one.
static void test_vrt(void) {
  vdit_sim_retention r = vdit_sim_retention_default();
  r.seed = 4;
  r.vrt_fraction = 0.01;
  const size_t words = 60000;
  uint16_t *in = random_bf16(6, words), *out = malloc(words * sizeof *out);
  vdit_sim_tensor t = persistent(0, words, 2.5e-3);
  uint64_t failed[2] = {0, 0};
  for (int k = 0; k < 2; k++) {
    vdit_sim_policy p = binned_lifecycle(0.8, 0);
    p.bin_profile_rounds = k ? 4 : 1;
    vdit_sim_report report;
    memset(&report, 0, sizeof report);
    CHECK_OK(vdit_sim_inject_bf16(&r, &p, NULL, &t, in, out, &report));
    failed[k] = report.failed_bits[VDIT_SIM_SEGMENT_MANTISSA];
    if (k == 0) { // every flip is in a cell whose retention now is below its profiled one
      double *now = malloc(words * VDIT_SIM_WORD_BITS * sizeof *now), *then = malloc(words * VDIT_SIM_WORD_BITS * sizeof *then);
      vdit_sim_retention profiled = r;
      profiled.vrt_epoch = r.vrt_epoch + 1;
      CHECK_OK(vdit_sim_retention_times(&r, 0, words * VDIT_SIM_WORD_BITS, now));
      CHECK_OK(vdit_sim_retention_times(&profiled, 0, words * VDIT_SIM_WORD_BITS, then));
      int wrong = 0;
      for (size_t i = 0; i < words; i++)
        for (int b = 0; b < VDIT_SIM_MANTISSA_BITS; b++)
          if (((in[i] ^ out[i]) >> b) & 1u) {
            const double cell_now = now[i * VDIT_SIM_WORD_BITS + (size_t)b];
            // or a cell too weak for t_REF itself (a VRT cell low in both epochs: standard
            // refresh loses it too)
            wrong += !(cell_now < then[i * VDIT_SIM_WORD_BITS + (size_t)b] || cell_now < 50e-6);
          }
      CHECK_EQ_INT(wrong, 0);
      free(now);
      free(then);
    }
  }
  CHECK(failed[0] > 0);
  CHECK(failed[1] < failed[0]);
  free(in);
  free(out);
}

static void test_bad_bins(void) {
  vdit_sim_policy p = vdit_sim_policy_lifecycle(50e-6, 0, 200e-6, 1, 0);
  const double descending[] = {100e-6, 50e-6}, ok[] = {50e-6, 100e-6};
  CHECK(vdit_sim_policy_set_bins(&p, VDIT_SIM_LIFETIME_PERSISTENT, descending, 2, 0.8, ROW_BITS) != VDIT_OK);
  CHECK(vdit_sim_policy_set_bins(&p, VDIT_SIM_LIFETIME_PERSISTENT, ok, 0, 0.8, ROW_BITS) != VDIT_OK);
  CHECK(vdit_sim_policy_set_bins(&p, VDIT_SIM_LIFETIME_PERSISTENT, ok, 2, 0, ROW_BITS) != VDIT_OK);
  CHECK(vdit_sim_policy_set_bins(&p, VDIT_SIM_LIFETIME_PERSISTENT, ok, 2, 0.8, 0) != VDIT_OK);
  CHECK_EQ_INT(p.binned[VDIT_SIM_LIFETIME_PERSISTENT], 0); // failed calls leave the policy alone
  CHECK_OK(vdit_sim_policy_set_bins(&p, VDIT_SIM_LIFETIME_PERSISTENT, ok, 2, 0.8, ROW_BITS));
  CHECK_EQ_INT(p.binned[VDIT_SIM_LIFETIME_PERSISTENT], 1);
  p.bin_profile_rounds = 0;
  CHECK(vdit_sim_policy_check(&p) != VDIT_OK);
}

int main(void) {
  test_row_intervals();
  test_no_failures_and_energy();
  test_single_bin_is_uniform();
  test_vrt();
  test_bad_bins();
  return check_finish("test_sim_bins");
}
