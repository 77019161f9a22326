// Failure injection of include/vdit/sim.h: applies a refresh policy's retention failures to a
// bf16 buffer. Bit b of word i lives in cell (word_address + i) * 16 + b. A cell fails when its
// retention is shorter than the longest unrefreshed stretch of its segment (the weak mask)
// and it holds the leaking value.
#include <stdlib.h>
#include <string.h>

#include "vdit/num.h"
#include "vdit/sim.h"

static vdit_status check_inputs(const vdit_sim_retention *retention, const vdit_sim_policy *policy,
                                const vdit_sim_tensor *tensor, const void *in, const void *out,
                                const vdit_sim_report *report) {
  VDIT_TRY(vdit_sim_retention_check(retention));
  VDIT_TRY(vdit_sim_policy_check(policy));
  if (!tensor || !report) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "tensor or report is NULL");
  if (tensor->word_count && (!in || !out)) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "tensor data is NULL");
  return VDIT_OK;
}

// Validates the lifetime (and the refresh count) without counting energy; a binned sub-array
// is checked with its shortest bin.
static vdit_status check_lifetime(const vdit_sim_policy *policy, const vdit_sim_tensor *tensor) {
  vdit_sim_energy_model zero = {.row_bits = 1};
  vdit_sim_report scratch;
  memset(&scratch, 0, sizeof scratch);
  vdit_sim_policy unbinned = *policy;
  for (int c = 0; c < VDIT_SIM_LIFETIME_CLASS_COUNT; c++)
    if (unbinned.binned[c]) {
      unbinned.binned[c] = 0;
      unbinned.refresh_interval_s[c][VDIT_SIM_SEGMENT_MANTISSA] = policy->bin_intervals_s[0];
    }
  return vdit_sim_tensor_energy(&unbinned, &zero, tensor, &scratch);
}

static int is_binned(const vdit_sim_policy *policy, const vdit_sim_tensor *tensor) {
  return (unsigned)tensor->lifetime_class < VDIT_SIM_LIFETIME_CLASS_COUNT && policy->binned[tensor->lifetime_class];
}

static vdit_status tensor_energy(const vdit_sim_retention *retention, const vdit_sim_policy *policy,
                                 const vdit_sim_energy_model *energy, const vdit_sim_tensor *tensor,
                                 vdit_sim_report *report) {
  return vdit_sim_tensor_energy_profiled(retention, policy, energy, tensor, report);
}

vdit_status vdit_sim_weak_mask(const vdit_sim_retention *retention, const vdit_sim_policy *policy,
                               const vdit_sim_tensor *tensor, uint16_t *mask) {
  VDIT_TRY(vdit_sim_retention_check(retention));
  VDIT_TRY(vdit_sim_policy_check(policy));
  if (!tensor) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "tensor is NULL");
  if (tensor->word_count && !mask) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "weak-cell mask is NULL");
  VDIT_TRY(check_lifetime(policy, tensor));
  double exposure[VDIT_SIM_WORD_BITS]; // per bit: its segment's longest unrefreshed stretch
  for (int b = 0; b < VDIT_SIM_WORD_BITS; b++)
    exposure[b] = vdit_sim_unrefreshed_interval(policy, tensor,
                                                vdit_sim_policy_segment_of_bit(policy, tensor->lifetime_class, b));
  // a binned mantissa sub-array: each row's stretch at its own bin's interval
  const int binned = is_binned(policy, tensor);
  const size_t rows = binned ? vdit_sim_binned_rows(policy, tensor) : 0;
  const int mantissa_cells = VDIT_SIM_MANTISSA_BITS - policy->protected_mantissa_bits[tensor->lifetime_class];
  const double lifetime = tensor->t_read_s - tensor->t_write_s;
  double *row_stretch = NULL;
  if (binned) {
    row_stretch = malloc((rows ? rows : 1) * sizeof *row_stretch);
    if (!row_stretch) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "no memory for %zu binned rows", rows);
    vdit_status status = vdit_sim_binned_row_intervals(retention, policy, tensor, NULL, row_stretch);
    if (status != VDIT_OK) {
      free(row_stretch);
      return status;
    }
    for (size_t r = 0; r < rows; r++) row_stretch[r] = vdit_sim_stretch(lifetime, row_stretch[r], policy->spread_refreshes);
  }
  enum { CHUNK_WORDS = 256 };
  double seconds[CHUNK_WORDS * VDIT_SIM_WORD_BITS];
  vdit_status status = VDIT_OK;
  for (size_t start = 0; start < tensor->word_count && status == VDIT_OK; start += CHUNK_WORDS) {
    size_t count = tensor->word_count - start < CHUNK_WORDS ? tensor->word_count - start : CHUNK_WORDS;
    uint64_t first_bit = (tensor->word_address + start) * VDIT_SIM_WORD_BITS;
    status = vdit_sim_retention_times(retention, first_bit, count * VDIT_SIM_WORD_BITS, seconds);
    for (size_t i = 0; i < count && status == VDIT_OK; i++) {
      uint16_t weak = 0;
      for (int b = 0; b < VDIT_SIM_WORD_BITS; b++) {
        double stretch = exposure[b];
        if (binned && b < mantissa_cells)
          stretch = row_stretch[vdit_sim_binned_row_of(policy, tensor, start + i, b)];
        if (seconds[i * VDIT_SIM_WORD_BITS + (size_t)b] < stretch) weak |= (uint16_t)(1u << b);
      }
      mask[start + i] = weak;
    }
  }
  free(row_stretch);
  return status;
}

// out = in with the weak cells that hold the leaking value flipped; failures counted per field and bit.
// Word address first_word + i leaks retention->leaking_value, or the other value in the odd
// blocks of alternate_block_words.
static void apply_mask(const vdit_sim_retention *retention, uint64_t first_word, const uint16_t *mask, const uint16_t *in,
                       uint16_t *out, size_t count, vdit_sim_report *report) {
  const uint64_t block = retention->alternate_block_words;
  for (size_t i = 0; i < count; i++) {
    const int leaking = retention->leaking_value ^ (block ? (int)(((first_word + i) / block) & 1u) : 0);
    const uint16_t leak_mask_value = leaking ? 0xffffu : 0x0000u;
    const uint16_t word = in[i];
    // bits holding the leaking value: a stored 1 (leaking_value 1) or a stored 0
    const uint16_t flips = (uint16_t)(~(word ^ leak_mask_value) & mask[i]);
    if (flips)
      for (int b = 0; b < VDIT_SIM_WORD_BITS; b++)
        if ((flips >> b) & 1u) {
          report->failed_by_bit[b]++;
          report->failed_bits[vdit_sim_segment_of_bit(b)]++;
        }
    out[i] = (uint16_t)(word ^ flips);
  }
}

static void count_bits(const vdit_sim_tensor *tensor, vdit_sim_report *report) {
  report->bits[VDIT_SIM_SEGMENT_SIGN_EXPONENT] += (uint64_t)tensor->word_count * VDIT_SIM_SIGN_EXPONENT_BITS;
  report->bits[VDIT_SIM_SEGMENT_MANTISSA] += (uint64_t)tensor->word_count * VDIT_SIM_MANTISSA_BITS;
}

vdit_status vdit_sim_inject_bf16(const vdit_sim_retention *retention, const vdit_sim_policy *policy,
                                 const vdit_sim_energy_model *energy, const vdit_sim_tensor *tensor,
                                 const uint16_t *in, uint16_t *out, vdit_sim_report *report) {
  VDIT_TRY(check_inputs(retention, policy, tensor, in, out, report));
  if (is_binned(policy, tensor)) { // binned rows are counted from the tensor's first word: one mask
    uint16_t *mask = malloc((tensor->word_count ? tensor->word_count : 1) * sizeof *mask);
    if (!mask) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "no memory for the weak cells of %zu words", tensor->word_count);
    vdit_sim_report part;
    memset(&part, 0, sizeof part);
    vdit_status status = energy ? tensor_energy(retention, policy, energy, tensor, &part) : VDIT_OK;
    if (status == VDIT_OK) status = vdit_sim_weak_mask(retention, policy, tensor, mask);
    if (status == VDIT_OK) {
      count_bits(tensor, &part);
      apply_mask(retention, tensor->word_address, mask, in, out, tensor->word_count, &part);
      vdit_sim_report_add(report, &part);
    }
    free(mask);
    return status;
  }
  vdit_sim_report part;
  memset(&part, 0, sizeof part);
  if (energy) VDIT_TRY(vdit_sim_tensor_energy(policy, energy, tensor, &part));
  else VDIT_TRY(check_lifetime(policy, tensor));
  count_bits(tensor, &part);
  enum { CHUNK_WORDS = 256 };
  uint16_t mask[CHUNK_WORDS];
  for (size_t start = 0; start < tensor->word_count; start += CHUNK_WORDS) {
    vdit_sim_tensor piece = *tensor;
    piece.word_address = tensor->word_address + start;
    piece.word_count = tensor->word_count - start < CHUNK_WORDS ? tensor->word_count - start : CHUNK_WORDS;
    VDIT_TRY(vdit_sim_weak_mask(retention, policy, &piece, mask));
    apply_mask(retention, piece.word_address, mask, in + start, out + start, piece.word_count, &part);
  }
  vdit_sim_report_add(report, &part);
  return VDIT_OK;
}

// fp32 held as bf16: round, apply the mask (computed per chunk when mask is NULL), widen.
static vdit_status inject_f32(const vdit_sim_retention *retention, const vdit_sim_policy *policy,
                              const vdit_sim_energy_model *energy, const vdit_sim_tensor *tensor,
                              const uint16_t *mask, const float *in, float *out, vdit_sim_report *report) {
  VDIT_TRY(check_inputs(retention, policy, tensor, in, out, report));
  if (!mask && is_binned(policy, tensor)) { // binned rows are counted from the tensor's first word: one mask
    uint16_t *whole = malloc((tensor->word_count ? tensor->word_count : 1) * sizeof *whole);
    if (!whole) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "no memory for the weak cells of %zu words", tensor->word_count);
    vdit_status status = vdit_sim_weak_mask(retention, policy, tensor, whole);
    if (status == VDIT_OK) status = inject_f32(retention, policy, energy, tensor, whole, in, out, report);
    free(whole);
    return status;
  }
  vdit_sim_report total;
  memset(&total, 0, sizeof total);
  // energy over the whole tensor (row rounding is per tensor, not per chunk)
  if (energy) VDIT_TRY(tensor_energy(retention, policy, energy, tensor, &total));
  else VDIT_TRY(check_lifetime(policy, tensor));
  count_bits(tensor, &total);
  enum { CHUNK_WORDS = 4096 };
  uint16_t codes[CHUNK_WORDS], chunk_mask[CHUNK_WORDS];
  for (size_t start = 0; start < tensor->word_count; start += CHUNK_WORDS) {
    size_t count = tensor->word_count - start < CHUNK_WORDS ? tensor->word_count - start : CHUNK_WORDS;
    for (size_t i = 0; i < count; i++) codes[i] = vdit_bf16_from_float(in[start + i]);
    const uint16_t *m = mask ? mask + start : chunk_mask;
    if (!mask) {
      vdit_sim_tensor piece = *tensor;
      piece.word_address = tensor->word_address + start;
      piece.word_count = count;
      VDIT_TRY(vdit_sim_weak_mask(retention, policy, &piece, chunk_mask));
    }
    apply_mask(retention, tensor->word_address + start, m, codes, codes, count, &total);
    for (size_t i = 0; i < count; i++) out[start + i] = vdit_bf16_to_float(codes[i]);
  }
  vdit_sim_report_add(report, &total);
  return VDIT_OK;
}

vdit_status vdit_sim_inject_f32(const vdit_sim_retention *retention, const vdit_sim_policy *policy,
                                const vdit_sim_energy_model *energy, const vdit_sim_tensor *tensor,
                                const float *in, float *out, vdit_sim_report *report) {
  return inject_f32(retention, policy, energy, tensor, NULL, in, out, report);
}

vdit_status vdit_sim_inject_f32_masked(const vdit_sim_retention *retention, const vdit_sim_policy *policy,
                                       const vdit_sim_energy_model *energy, const vdit_sim_tensor *tensor,
                                       const uint16_t *mask, const float *in, float *out, vdit_sim_report *report) {
  if (tensor && tensor->word_count && !mask) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "weak-cell mask is NULL");
  return inject_f32(retention, policy, energy, tensor, mask, in, out, report);
}
