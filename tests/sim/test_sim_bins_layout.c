// Tolerated cells and bit-plane rows of binned refresh (vdit/sim.h, docs/shield.md "Tolerated
// cells and bit planes"): a row that tolerates t cells is binned by its (t+1)-th weakest
// profiled cell (recomputed here), so with VRT off and guard <= 1 at most t of its cells are
// weak and fail, and it is refreshed no more often than with t = 0; in the bit-plane layout a
// row holds one mantissa bit of 256 consecutive words, each plane with its own tolerance or a
// uniform interval (failing exactly as that interval does); the energy is every row's
// refresh count at its interval, recounted row by row; sign and exponent never fail. And the
// alternating leak polarity of retention.alternate_block_words.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vdit/num.h"
#include "vdit/sim.h"

enum { ROW_BITS = 256 };

// Every mantissa bit 1 (the leaking value): a weak mantissa cell always fails. Signs and
// exponents from Philox normals.
static uint16_t *ones_mantissa(uint64_t seed, size_t n) {
  float *values = malloc(n * sizeof *values);
  uint16_t *codes = malloc(n * sizeof *codes);
  vdit_rng_normal(seed, 0, n, values);
  for (size_t i = 0; i < n; i++) codes[i] = (uint16_t)(vdit_bf16_from_float(values[i]) | 0x7fu);
  free(values);
  return codes;
}

static vdit_sim_tensor persistent(uint64_t address, size_t words, double lifetime) {
  vdit_sim_tensor t = {.word_address = address, .word_count = words, .t_write_s = 2e-4,
                       .t_read_s = 2e-4 + lifetime, .lifetime_class = VDIT_SIM_LIFETIME_PERSISTENT};
  return t;
}

static vdit_sim_policy binned(double guard, double uniform_s) {
  vdit_sim_policy p = vdit_sim_policy_lifecycle(50e-6, 0, uniform_s, 1, 0);
  const double bins[] = {50e-6, 100e-6, 150e-6, 200e-6, 250e-6, 300e-6, 400e-6, 500e-6, 650e-6, 800e-6};
  CHECK_OK(vdit_sim_policy_set_bins(&p, VDIT_SIM_LIFETIME_PERSISTENT, bins, 10, guard, ROW_BITS));
  return p;
}

static int cmp_double(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

// Row of mantissa bit b (< 7) of word i, recomputed from the layout's definition.
static size_t row_of(int planes, size_t i, int b) {
  return planes ? i / ROW_BITS * VDIT_SIM_MANTISSA_BITS + (size_t)b : (i * VDIT_SIM_MANTISSA_BITS + (size_t)b) / ROW_BITS;
}

// Tolerance t in both layouts: the profile is the row's (t+1)-th smallest retention (sorted
// here), the interval the longest bin within guard x it; the weak mask has at most t weak
// mantissa cells per row and the injection (all mantissa bits 1) flips exactly the weak
// cells; sign and exponent never fail; some rows do lose cells when t > 0, and no row is
// refreshed more often than at t = 0. The energy is the row-by-row recount.
static void test_tolerated(void) {
  vdit_sim_retention r = vdit_sim_retention_default();
  r.seed = 33;
  const size_t words = 5000; // the last row is partial in both layouts
  const vdit_sim_tensor t = persistent(4321, words, 2.9e-3);
  const double lifetime = t.t_read_s - t.t_write_s;
  uint16_t *in = ones_mantissa(2, words), *out = malloc(words * sizeof *out), *mask = malloc(words * sizeof *mask);
  double *cells = malloc(words * VDIT_SIM_WORD_BITS * sizeof *cells);
  CHECK_OK(vdit_sim_retention_times(&r, t.word_address * VDIT_SIM_WORD_BITS, words * VDIT_SIM_WORD_BITS, cells));
  const vdit_sim_energy_model e = vdit_sim_energy_model_default();
  for (int planes = 0; planes <= 1; planes++) {
    uint64_t refreshes_t0 = 0;
    for (int tolerate = 0; tolerate <= 8; tolerate += 4) {
      vdit_sim_policy p = binned(1.0, 200e-6);
      p.bin_bit_planes = planes;
      p.bin_tolerated_cells = planes ? 0 : tolerate;
      for (int b = 0; b < VDIT_SIM_MANTISSA_BITS; b++) p.bin_plane_tolerated[b] = tolerate;
      const size_t rows = vdit_sim_binned_rows(&p, &t);
      CHECK_EQ_INT(rows, planes ? (words + ROW_BITS - 1) / ROW_BITS * VDIT_SIM_MANTISSA_BITS
                                : (words * VDIT_SIM_MANTISSA_BITS + ROW_BITS - 1) / ROW_BITS);
      double *profile = malloc(rows * sizeof *profile), *interval = malloc(rows * sizeof *interval);
      double *gathered = malloc(rows * ROW_BITS * sizeof *gathered);
      size_t *count = calloc(rows, sizeof *count), *weak = calloc(rows, sizeof *weak);
      CHECK_OK(vdit_sim_binned_row_intervals(&r, &p, &t, profile, interval));
      int bad_row_of = 0;
      for (size_t i = 0; i < words; i++)
        for (int b = 0; b < VDIT_SIM_MANTISSA_BITS; b++) {
          const size_t row = row_of(planes, i, b);
          bad_row_of += vdit_sim_binned_row_of(&p, &t, i, b) != row;
          gathered[row * ROW_BITS + count[row]++] = cells[i * VDIT_SIM_WORD_BITS + (size_t)b];
        }
      CHECK_EQ_INT(bad_row_of, 0);
      int bad_profile = 0, over_guard = 0, not_longest = 0;
      uint64_t refreshes = 0;
      for (size_t k = 0; k < rows; k++) {
        qsort(gathered + k * ROW_BITS, count[k], sizeof *gathered, cmp_double);
        const size_t nth = (size_t)tolerate < count[k] ? (size_t)tolerate : count[k] - 1;
        const double expected = gathered[k * ROW_BITS + nth];
        bad_profile += profile[k] != expected;
        if (interval[k] != p.bin_intervals_s[0]) over_guard += interval[k] > p.bin_guard * expected;
        for (int b = 0; b < p.bin_count; b++)
          not_longest += p.bin_intervals_s[b] > interval[k] && p.bin_intervals_s[b] <= p.bin_guard * expected;
        refreshes += (uint64_t)vdit_sim_refresh_count(lifetime, interval[k], 1);
      }
      CHECK_EQ_INT(bad_profile, 0);
      CHECK_EQ_INT(over_guard, 0);
      CHECK_EQ_INT(not_longest, 0);
      // weak cells per row: at most `tolerate`
      CHECK_OK(vdit_sim_weak_mask(&r, &p, &t, mask));
      size_t weak_total = 0, worst = 0;
      int weak_se = 0;
      for (size_t i = 0; i < words; i++) {
        weak_se += (mask[i] >> VDIT_SIM_MANTISSA_BITS) != 0;
        for (int b = 0; b < VDIT_SIM_MANTISSA_BITS; b++)
          if ((mask[i] >> b) & 1u) weak[row_of(planes, i, b)]++, weak_total++;
      }
      for (size_t k = 0; k < rows; k++) worst = weak[k] > worst ? weak[k] : worst;
      CHECK_EQ_INT(weak_se, 0);
      CHECK(worst <= (size_t)tolerate);
      if (tolerate > 0) CHECK(weak_total > rows / 4); // the tolerance is used: many rows lose cells
      else CHECK_EQ_INT(weak_total, 0);
      // injection: every weak mantissa cell holds a 1 and flips, nothing else
      vdit_sim_report report;
      memset(&report, 0, sizeof report);
      CHECK_OK(vdit_sim_inject_bf16(&r, &p, &e, &t, in, out, &report));
      CHECK_EQ_INT(report.failed_bits[VDIT_SIM_SEGMENT_SIGN_EXPONENT], 0);
      CHECK_EQ_INT(report.failed_bits[VDIT_SIM_SEGMENT_MANTISSA], weak_total);
      int wrong = 0;
      for (size_t i = 0; i < words; i++) wrong += (uint16_t)(in[i] ^ out[i]) != mask[i];
      CHECK_EQ_INT(wrong, 0);
      // energy: the recount of every row at its interval
      CHECK_EQ_INT(report.row_refreshes[VDIT_SIM_SEGMENT_MANTISSA], refreshes);
      CHECK_NEAR(report.refresh_pj[VDIT_SIM_SEGMENT_MANTISSA], (double)refreshes * e.refresh_pj_per_row, 1e-6);
      if (tolerate == 0) refreshes_t0 = refreshes;
      else CHECK(refreshes < refreshes_t0);
      free(profile), free(interval), free(gathered), free(count), free(weak);
    }
  }
  free(in), free(out), free(mask), free(cells);
}

// Bit planes with mixed planes: tolerance 0 on the top two bits (they never fail), uniform
// planes (-1) at the class's mantissa interval fail exactly where that uniform policy's mask
// does; tolerance 3 in between; the energy adds the uniform planes' rows at that interval.
static void test_mixed_planes(void) {
  vdit_sim_retention r = vdit_sim_retention_default();
  r.seed = 8;
  const size_t words = 6000;
  const double uniform_s = 450e-6;
  const vdit_sim_tensor t = persistent(99, words, 3.2e-3);
  const double lifetime = t.t_read_s - t.t_write_s;
  vdit_sim_policy p = binned(0.9, uniform_s);
  p.bin_bit_planes = 1;
  const int planes[VDIT_SIM_MANTISSA_BITS] = {-1, -1, -1, 3, 3, 0, 0}; // by bit, 0 = LSB
  memcpy(p.bin_plane_tolerated, planes, sizeof planes);
  const vdit_sim_policy flat = vdit_sim_policy_lifecycle(50e-6, 0, uniform_s, 1, 0);
  uint16_t *mask = malloc(words * sizeof *mask), *flat_mask = malloc(words * sizeof *flat_mask);
  CHECK_OK(vdit_sim_weak_mask(&r, &p, &t, mask));
  CHECK_OK(vdit_sim_weak_mask(&r, &flat, &t, flat_mask));
  const size_t rows = vdit_sim_binned_rows(&p, &t);
  size_t *weak = calloc(rows, sizeof *weak);
  int top_weak = 0, uniform_differ = 0, uniform_weak = 0, middle_over = 0;
  for (size_t i = 0; i < words; i++)
    for (int b = 0; b < VDIT_SIM_MANTISSA_BITS; b++) {
      const int is_weak = (mask[i] >> b) & 1;
      if (planes[b] < 0) {
        uniform_differ += is_weak != ((flat_mask[i] >> b) & 1);
        uniform_weak += is_weak;
      } else if (planes[b] == 0) top_weak += is_weak;
      else weak[row_of(1, i, b)] += (size_t)is_weak;
    }
  for (size_t k = 0; k < rows; k++) middle_over += weak[k] > 3;
  CHECK_EQ_INT(top_weak, 0);
  CHECK_EQ_INT(uniform_differ, 0);
  CHECK(uniform_weak > 0);
  CHECK_EQ_INT(middle_over, 0);
  // energy: binned planes row by row, uniform planes at the uniform interval (spread)
  double *interval = malloc(rows * sizeof *interval);
  CHECK_OK(vdit_sim_binned_row_intervals(&r, &p, &t, NULL, interval));
  uint64_t expected = 0;
  const size_t blocks = (words + ROW_BITS - 1) / ROW_BITS;
  for (size_t k = 0; k < rows; k++) {
    const int b = (int)(k % VDIT_SIM_MANTISSA_BITS);
    if (planes[b] < 0) CHECK(interval[k] == uniform_s);
    expected += (uint64_t)vdit_sim_refresh_count(lifetime, interval[k], 1);
  }
  uint64_t uniform_rows = 3 * blocks * (uint64_t)(ceil(lifetime / uniform_s) - 1), binned_part = 0;
  for (size_t k = 0; k < rows; k++)
    if (planes[k % VDIT_SIM_MANTISSA_BITS] >= 0) binned_part += (uint64_t)vdit_sim_refresh_count(lifetime, interval[k], 1);
  CHECK_EQ_INT(expected, uniform_rows + binned_part);
  const vdit_sim_energy_model e = vdit_sim_energy_model_default();
  vdit_sim_report report;
  memset(&report, 0, sizeof report);
  CHECK_OK(vdit_sim_tensor_energy_profiled(&r, &p, &e, &t, &report));
  CHECK_EQ_INT(report.row_refreshes[VDIT_SIM_SEGMENT_MANTISSA], expected);
  free(mask), free(flat_mask), free(weak), free(interval);
}

// A transient class binned in bit planes (Q's top bit binned, the rest never refreshed):
// the top plane never fails, the never-refreshed planes fail as in the unbinned policy.
static void test_transient_planes(void) {
  vdit_sim_retention r = vdit_sim_retention_default();
  r.seed = 12;
  const size_t words = 8000;
  vdit_sim_tensor t = {.word_address = 7, .word_count = words, .t_write_s = 0, .t_read_s = 400e-6,
                       .lifetime_class = VDIT_SIM_LIFETIME_TRANSIENT};
  vdit_sim_policy flat = vdit_sim_policy_lifecycle(50e-6, 0, 200e-6, 0, 0), p = flat;
  const double bins[] = {50e-6, 100e-6, 200e-6, 300e-6, 400e-6, 500e-6};
  CHECK_OK(vdit_sim_policy_set_bins(&p, VDIT_SIM_LIFETIME_TRANSIENT, bins, 6, 1.0, ROW_BITS));
  p.bin_bit_planes = 1;
  for (int b = 0; b < VDIT_SIM_MANTISSA_BITS; b++) p.bin_plane_tolerated[b] = b == 6 ? 0 : -1;
  uint16_t *in = ones_mantissa(4, words), *a = malloc(words * sizeof *a), *b = malloc(words * sizeof *b);
  vdit_sim_report ra, rb;
  memset(&ra, 0, sizeof ra);
  memset(&rb, 0, sizeof rb);
  const vdit_sim_energy_model e = vdit_sim_energy_model_default();
  CHECK_OK(vdit_sim_inject_bf16(&r, &flat, &e, &t, in, a, &ra));
  CHECK_OK(vdit_sim_inject_bf16(&r, &p, &e, &t, in, b, &rb));
  CHECK(ra.failed_by_bit[6] > 0);
  CHECK_EQ_INT(rb.failed_by_bit[6], 0);
  for (int bit = 0; bit < 6; bit++) CHECK_EQ_INT(rb.failed_by_bit[bit], ra.failed_by_bit[bit]);
  CHECK_EQ_INT(rb.failed_bits[VDIT_SIM_SEGMENT_SIGN_EXPONENT], 0);
  CHECK(rb.row_refreshes[VDIT_SIM_SEGMENT_MANTISSA] > 0); // the top plane's weak rows are refreshed
  free(in), free(a), free(b);
}

// Alternating polarity (retention.alternate_block_words): the weak cells are the same; words
// of even blocks lose stored 1s only, words of odd blocks stored 0s only (counted by the
// word address, also when the tensor starts mid-block); the fp32 path agrees.
static void test_alternating_polarity(void) {
  vdit_sim_retention r = vdit_sim_retention_default();
  r.seed = 17;
  const uint64_t block = 256;
  const size_t words = 3000;
  const vdit_sim_tensor t = persistent(100, words, 3e-3); // starts mid-block
  const vdit_sim_policy p = vdit_sim_policy_lifecycle(50e-6, 0, 400e-6, 0, 0);
  uint16_t *mask = malloc(words * sizeof *mask), *in = malloc(words * sizeof *in), *out = malloc(words * sizeof *out);
  CHECK_OK(vdit_sim_weak_mask(&r, &p, &t, mask));
  r.alternate_block_words = block;
  for (int ones = 0; ones <= 1; ones++) {
    for (size_t i = 0; i < words; i++) in[i] = ones ? 0x3f7fu : 0x3f80u; // mantissa all 1 or all 0
    vdit_sim_report report;
    memset(&report, 0, sizeof report);
    CHECK_OK(vdit_sim_inject_bf16(&r, &p, NULL, &t, in, out, &report));
    uint64_t expected = 0;
    int wrong = 0;
    for (size_t i = 0; i < words; i++) {
      const int odd = (int)(((t.word_address + i) / block) & 1u);
      const uint16_t flips = (uint16_t)(in[i] ^ out[i]);
      const uint16_t want = odd != ones ? (uint16_t)(mask[i] & 0x7fu) : 0; // even blocks lose 1s, odd blocks 0s
      wrong += flips != want;
      for (int b = 0; b < VDIT_SIM_MANTISSA_BITS; b++) expected += (want >> b) & 1u;
    }
    CHECK_EQ_INT(wrong, 0);
    CHECK(expected > 0);
    CHECK_EQ_INT(report.failed_bits[VDIT_SIM_SEGMENT_MANTISSA], expected);
    float *x = malloc(words * sizeof *x), *y = malloc(words * sizeof *y);
    for (size_t i = 0; i < words; i++) x[i] = vdit_bf16_to_float(in[i]);
    memset(&report, 0, sizeof report);
    CHECK_OK(vdit_sim_inject_f32(&r, &p, NULL, &t, x, y, &report));
    int differ = 0;
    for (size_t i = 0; i < words; i++) differ += vdit_bf16_from_float(y[i]) != out[i];
    CHECK_EQ_INT(differ, 0);
    free(x), free(y);
  }
  free(mask), free(in), free(out);
}

static void test_bad_layout(void) {
  vdit_sim_policy p = binned(0.9, 200e-6);
  CHECK_OK(vdit_sim_policy_check(&p));
  p.bin_tolerated_cells = ROW_BITS; // a row cannot lose all its cells
  CHECK(vdit_sim_policy_check(&p) != VDIT_OK);
  p.bin_tolerated_cells = -1;
  CHECK(vdit_sim_policy_check(&p) != VDIT_OK);
  p.bin_tolerated_cells = 0;
  p.bin_bit_planes = 2;
  CHECK(vdit_sim_policy_check(&p) != VDIT_OK);
  p.bin_bit_planes = 1;
  p.bin_plane_tolerated[3] = -2;
  CHECK(vdit_sim_policy_check(&p) != VDIT_OK);
  p.bin_plane_tolerated[3] = ROW_BITS - 1;
  CHECK_OK(vdit_sim_policy_check(&p));
}

int main(void) {
  test_tolerated();
  test_mixed_planes();
  test_transient_planes();
  test_alternating_polarity();
  test_bad_layout();
  return check_finish("test_sim_bins_layout");
}
