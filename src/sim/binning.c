// Retention-aware (binned) refresh of include/vdit/sim.h, after RAIDR (Liu, Jaiyen, Veras,
// Mutlu, "RAIDR: Retention-Aware Intelligent DRAM Refresh", ISCA 2012): every row of a binned
// mantissa sub-array is profiled once for its weakest cell and refreshed at the longest bin
// interval that stays within guard x that retention. docs/shield.md has the model and numbers.
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
  const size_t cells = tensor->word_count * (size_t)mantissa_cells_per_word(policy, tensor->lifetime_class);
  return (cells + (size_t)policy->bin_row_bits - 1) / (size_t)policy->bin_row_bits;
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
  // the profile: weakest retention per row over the profile rounds, built in interval_s
  for (size_t r = 0; r < rows; r++) interval_s[r] = INFINITY;
  // without VRT cells every round draws the same times: one is enough
  const int rounds = retention->vrt_fraction > 0 ? policy->bin_profile_rounds : 1;
  vdit_sim_retention probe = *retention;
  enum { CHUNK_WORDS = 256 };
  double seconds[CHUNK_WORDS * VDIT_SIM_WORD_BITS];
  for (int round = 1; round <= rounds; round++) {
    probe.vrt_epoch = retention->vrt_epoch + (uint64_t)round; // never the operating epoch
    for (size_t start = 0; start < tensor->word_count; start += CHUNK_WORDS) {
      size_t count = tensor->word_count - start < CHUNK_WORDS ? tensor->word_count - start : CHUNK_WORDS;
      VDIT_TRY(vdit_sim_retention_times(&probe, (tensor->word_address + start) * VDIT_SIM_WORD_BITS,
                                        count * VDIT_SIM_WORD_BITS, seconds));
      for (size_t i = 0; i < count; i++)
        for (size_t b = 0; b < m; b++) {
          const size_t row = ((start + i) * m + b) / row_bits;
          interval_s[row] = fmin(interval_s[row], seconds[i * VDIT_SIM_WORD_BITS + b]);
        }
    }
  }
  if (profile_s) memcpy(profile_s, interval_s, rows * sizeof *profile_s);
  for (size_t r = 0; r < rows; r++) {
    const double limit = policy->bin_guard * interval_s[r];
    double chosen = policy->bin_intervals_s[0]; // the default bin
    for (int b = policy->bin_count - 1; b > 0; b--)
      if (policy->bin_intervals_s[b] <= limit) {
        chosen = policy->bin_intervals_s[b];
        break;
      }
    interval_s[r] = chosen;
  }
  return VDIT_OK;
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
