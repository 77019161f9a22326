// Retention-aware (binned) refresh of include/vdit/sim.h, after RAIDR (Liu, Jaiyen, Veras,
// Mutlu, "RAIDR: Retention-Aware Intelligent DRAM Refresh", ISCA 2012): every row of a binned
// mantissa sub-array is profiled once for its weakest cell (or its (1 + tolerated)-th weakest,
// when the row may lose that many cells) and refreshed at the longest bin interval that stays
// within guard x that retention; rows are runs of cells word by word, or bit planes. docs/shield.md has the model and numbers.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vdit/sim.h"

// Mantissa bits of a word that live in the MANTISSA sub-array (the unprotected ones).
static int mantissa_cells_per_word(const vdit_sim_policy *policy, vdit_sim_lifetime_class lifetime_class) {
  return VDIT_SIM_MANTISSA_BITS - policy->protected_mantissa_bits[lifetime_class];
}

size_t vdit_sim_binned_rows(const vdit_sim_policy *policy, const vdit_sim_tensor *tensor) {
  if (!policy || !tensor || (unsigned)tensor->lifetime_class >= VDIT_SIM_LIFETIME_CLASS_COUNT ||
      !policy->binned[tensor->lifetime_class] || policy->bin_row_bits < 1)
    return 0;
  const size_t m = (size_t)mantissa_cells_per_word(policy, tensor->lifetime_class), row_bits = (size_t)policy->bin_row_bits;
  if (policy->bin_bit_planes) return (tensor->word_count + row_bits - 1) / row_bits * m;
  return (tensor->word_count * m + row_bits - 1) / row_bits;
}

size_t vdit_sim_binned_row_of(const vdit_sim_policy *policy, const vdit_sim_tensor *tensor, size_t word, int bit) {
  const size_t m = (size_t)mantissa_cells_per_word(policy, tensor->lifetime_class), row_bits = (size_t)policy->bin_row_bits;
  if (policy->bin_bit_planes) return word / row_bits * m + (size_t)bit;
  return (word * m + (size_t)bit) / row_bits;
}

// The k-th smallest (0-based, k < n) of v[0..n-1]; reorders v (quickselect, Lomuto partition).
static double select_kth(double *v, size_t n, size_t k) {
  size_t lo = 0, hi = n - 1;
  while (lo < hi) {
    const size_t mid = lo + (hi - lo) / 2;
    double t = v[mid];
    v[mid] = v[hi], v[hi] = t;
    const double pivot = v[hi];
    size_t store = lo;
    for (size_t i = lo; i < hi; i++)
      if (v[i] < pivot) t = v[i], v[i] = v[store], v[store++] = t;
    t = v[store], v[store] = v[hi], v[hi] = t;
    if (k == store) return v[k];
    if (k < store) hi = store - 1; // store > k >= lo: no underflow
    else lo = store + 1;
  }
  return v[k];
}

// Tolerated cells of row r: < 0 for a uniform (not binned) bit plane.
static int row_tolerated(const vdit_sim_policy *policy, size_t m, size_t row) {
  return policy->bin_bit_planes ? policy->bin_plane_tolerated[row % m] : policy->bin_tolerated_cells;
}

vdit_status vdit_sim_binned_row_intervals(const vdit_sim_retention *retention, const vdit_sim_policy *policy,
                                          const vdit_sim_tensor *tensor, double *profile_s, double *interval_s) {
  VDIT_TRY(vdit_sim_retention_check(retention));
  VDIT_TRY(vdit_sim_policy_check(policy));
  if (!tensor) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "tensor is NULL");
  if ((unsigned)tensor->lifetime_class >= VDIT_SIM_LIFETIME_CLASS_COUNT || !policy->binned[tensor->lifetime_class])
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "the tensor's class is not binned under this policy");
  const size_t rows = vdit_sim_binned_rows(policy, tensor);
  if (rows == 0) return VDIT_OK;
  if (!interval_s) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "row intervals are NULL");
  const size_t m = (size_t)mantissa_cells_per_word(policy, tensor->lifetime_class);
  const size_t row_bits = (size_t)policy->bin_row_bits;
  // the profile of every mantissa cell (word i, bit b at i * m + b): its shortest retention
  // over the profile rounds
  double *cell = malloc(tensor->word_count * m * sizeof *cell);
  double *row = malloc(row_bits * sizeof *row);
  if (!cell || !row) {
    free(cell), free(row);
    return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "no memory for the retention profile of %zu words", tensor->word_count);
  }
  for (size_t c = 0; c < tensor->word_count * m; c++) cell[c] = INFINITY;
  // without VRT cells every round draws the same times: one is enough
  const int rounds = retention->vrt_fraction > 0 ? policy->bin_profile_rounds : 1;
  vdit_sim_retention probe = *retention;
  enum { CHUNK_WORDS = 256 };
  double seconds[CHUNK_WORDS * VDIT_SIM_WORD_BITS];
  vdit_status status = VDIT_OK;
  for (int round = 1; round <= rounds && status == VDIT_OK; round++) {
    probe.vrt_epoch = retention->vrt_epoch + (uint64_t)round; // never the operating epoch
    for (size_t start = 0; start < tensor->word_count && status == VDIT_OK; start += CHUNK_WORDS) {
      size_t count = tensor->word_count - start < CHUNK_WORDS ? tensor->word_count - start : CHUNK_WORDS;
      status = vdit_sim_retention_times(&probe, (tensor->word_address + start) * VDIT_SIM_WORD_BITS,
                                        count * VDIT_SIM_WORD_BITS, seconds);
      for (size_t i = 0; i < count && status == VDIT_OK; i++)
        for (size_t b = 0; b < m; b++)
          cell[(start + i) * m + b] = fmin(cell[(start + i) * m + b], seconds[i * VDIT_SIM_WORD_BITS + b]);
    }
  }
  for (size_t r = 0; r < rows && status == VDIT_OK; r++) {
    // gather the row's cells
    size_t n = 0;
    if (policy->bin_bit_planes) {
      const size_t b = r % m, first = r / m * row_bits;
      for (size_t i = first; i < first + row_bits && i < tensor->word_count; i++) row[n++] = cell[i * m + b];
    } else {
      for (size_t c = r * row_bits; c < (r + 1) * row_bits && c < tensor->word_count * m; c++) row[n++] = cell[c];
    }
    const int tolerated = row_tolerated(policy, m, r);
    const size_t k = tolerated > 0 ? (size_t)tolerated : 0;
    const double profile = select_kth(row, n, k < n ? k : n - 1);
    if (profile_s) profile_s[r] = tolerated < 0 ? select_kth(row, n, 0) : profile;
    if (tolerated < 0) { // a uniform bit plane
      interval_s[r] = policy->refresh_interval_s[tensor->lifetime_class][VDIT_SIM_SEGMENT_MANTISSA];
      continue;
    }
    const double limit = policy->bin_guard * profile;
    double chosen = policy->bin_intervals_s[0]; // the default bin
    for (int b = policy->bin_count - 1; b > 0; b--)
      if (policy->bin_intervals_s[b] <= limit) {
        chosen = policy->bin_intervals_s[b];
        break;
      }
    interval_s[r] = chosen;
  }
  free(cell), free(row);
  return status;
}

vdit_status vdit_sim_tensor_energy_profiled(const vdit_sim_retention *retention, const vdit_sim_policy *policy,
                                            const vdit_sim_energy_model *energy, const vdit_sim_tensor *tensor,
                                            vdit_sim_report *report) {
  VDIT_TRY(vdit_sim_policy_check(policy));
  if (!tensor || !report) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "tensor or report is NULL");
  if ((unsigned)tensor->lifetime_class >= VDIT_SIM_LIFETIME_CLASS_COUNT || !policy->binned[tensor->lifetime_class])
    return vdit_sim_tensor_energy(policy, energy, tensor, report);
  if (!energy || energy->row_bits != policy->bin_row_bits)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "binned rows of %d bits need an energy model with the same row, got %d",
                      policy->bin_row_bits, energy ? energy->row_bits : 0);
  // everything but the binned mantissa rows: the same policy with that sub-array never refreshed
  vdit_sim_policy rest = *policy;
  rest.binned[tensor->lifetime_class] = 0;
  rest.refresh_interval_s[tensor->lifetime_class][VDIT_SIM_SEGMENT_MANTISSA] = 0;
  vdit_sim_report part;
  memset(&part, 0, sizeof part);
  VDIT_TRY(vdit_sim_tensor_energy(&rest, energy, tensor, &part));
  const size_t rows = vdit_sim_binned_rows(policy, tensor);
  double *interval = malloc((rows ? rows : 1) * sizeof *interval);
  if (!interval) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "no memory for %zu binned rows", rows);
  vdit_status status = vdit_sim_binned_row_intervals(retention, policy, tensor, NULL, interval);
  const double lifetime = tensor->t_read_s - tensor->t_write_s;
  double refreshes = 0; // every row at its own bin's interval
  for (size_t r = 0; r < rows && status == VDIT_OK; r++)
    refreshes += vdit_sim_refresh_count(lifetime, interval[r], policy->spread_refreshes);
  free(interval);
  VDIT_TRY(status);
  if (refreshes > 9007199254740992.0) // 2^53
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "binned refresh: over 2^53 row refreshes for a lifetime of %g s", lifetime);
  part.row_refreshes[VDIT_SIM_SEGMENT_MANTISSA] += (uint64_t)refreshes;
  part.refresh_pj[VDIT_SIM_SEGMENT_MANTISSA] += refreshes * energy->refresh_pj_per_row;
  vdit_sim_report_add(report, &part);
  return VDIT_OK;
}
