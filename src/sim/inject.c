// Failure injection of include/vdit/sim.h: applies a refresh policy's retention failures to a
// bf16 buffer. Bit b of word i lives in cell (word_address + i) * 16 + b. A cell fails when its
// retention is shorter than the longest unrefreshed stretch of its segment (the weak mask)
// and it holds the leaking value.
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

// Validates the lifetime (and the refresh count) without counting energy.
static vdit_status check_lifetime(const vdit_sim_policy *policy, const vdit_sim_tensor *tensor) {
  vdit_sim_energy_model zero = {.row_bits = 1};
  vdit_sim_report scratch;
  memset(&scratch, 0, sizeof scratch);
  return vdit_sim_tensor_energy(policy, &zero, tensor, &scratch);
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
  enum { CHUNK_WORDS = 256 };
  double seconds[CHUNK_WORDS * VDIT_SIM_WORD_BITS];
  for (size_t start = 0; start < tensor->word_count; start += CHUNK_WORDS) {
    size_t count = tensor->word_count - start < CHUNK_WORDS ? tensor->word_count - start : CHUNK_WORDS;
    uint64_t first_bit = (tensor->word_address + start) * VDIT_SIM_WORD_BITS;
    VDIT_TRY(vdit_sim_retention_times(retention, first_bit, count * VDIT_SIM_WORD_BITS, seconds));
    for (size_t i = 0; i < count; i++) {
      uint16_t weak = 0;
      for (int b = 0; b < VDIT_SIM_WORD_BITS; b++)
        if (seconds[i * VDIT_SIM_WORD_BITS + (size_t)b] < exposure[b]) weak |= (uint16_t)(1u << b);
      mask[start + i] = weak;
    }
  }
  return VDIT_OK;
}

// out = in with the weak cells that hold the leaking value flipped; failures counted per field and bit.
static void apply_mask(int leaking_value, const uint16_t *mask, const uint16_t *in, uint16_t *out, size_t count,
                       vdit_sim_report *report) {
  const uint16_t leak_mask_value = leaking_value ? 0xffffu : 0x0000u;
  for (size_t i = 0; i < count; i++) {
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
    apply_mask(retention->leaking_value, mask, in + start, out + start, piece.word_count, &part);
  }
  vdit_sim_report_add(report, &part);
  return VDIT_OK;
}

// fp32 held as bf16: round, apply the mask (computed per chunk when mask is NULL), widen.
static vdit_status inject_f32(const vdit_sim_retention *retention, const vdit_sim_policy *policy,
                              const vdit_sim_energy_model *energy, const vdit_sim_tensor *tensor,
                              const uint16_t *mask, const float *in, float *out, vdit_sim_report *report) {
  VDIT_TRY(check_inputs(retention, policy, tensor, in, out, report));
  vdit_sim_report total;
  memset(&total, 0, sizeof total);
  // energy over the whole tensor (row rounding is per tensor, not per chunk)
  if (energy) VDIT_TRY(vdit_sim_tensor_energy(policy, energy, tensor, &total));
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
    apply_mask(retention->leaking_value, m, codes, codes, count, &total);
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
