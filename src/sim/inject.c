// Failure injection of include/vdit/sim.h: applies a refresh policy's retention failures to a
// bf16 buffer. Bit b of word i lives in cell (word_address + i) * 16 + b.
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

vdit_status vdit_sim_inject_bf16(const vdit_sim_retention *retention, const vdit_sim_policy *policy,
                                 const vdit_sim_energy_model *energy, const vdit_sim_tensor *tensor,
                                 const uint16_t *in, uint16_t *out, vdit_sim_report *report) {
  VDIT_TRY(check_inputs(retention, policy, tensor, in, out, report));
  vdit_sim_report part;
  memset(&part, 0, sizeof part);
  if (energy) VDIT_TRY(vdit_sim_tensor_energy(policy, energy, tensor, &part));
  else {
    // validates the lifetime; the counts of a zero-cost model are dropped
    vdit_sim_energy_model zero = {.row_bits = 1};
    vdit_sim_report scratch;
    memset(&scratch, 0, sizeof scratch);
    VDIT_TRY(vdit_sim_tensor_energy(policy, &zero, tensor, &scratch));
  }
  double exposure[VDIT_SIM_SEGMENT_COUNT];
  for (int s = 0; s < VDIT_SIM_SEGMENT_COUNT; s++)
    exposure[s] = vdit_sim_unrefreshed_interval(policy, tensor, (vdit_sim_segment)s);
  part.bits[VDIT_SIM_SEGMENT_SIGN_EXPONENT] = (uint64_t)tensor->word_count * VDIT_SIM_SIGN_EXPONENT_BITS;
  part.bits[VDIT_SIM_SEGMENT_MANTISSA] = (uint64_t)tensor->word_count * VDIT_SIM_MANTISSA_BITS;

  enum { CHUNK_WORDS = 256 };
  double seconds[CHUNK_WORDS * VDIT_SIM_WORD_BITS];
  uint16_t leak_mask_value = retention->leaking_value ? 0xffffu : 0x0000u;
  for (size_t start = 0; start < tensor->word_count; start += CHUNK_WORDS) {
    size_t count = tensor->word_count - start < CHUNK_WORDS ? tensor->word_count - start : CHUNK_WORDS;
    uint64_t first_bit = (tensor->word_address + start) * VDIT_SIM_WORD_BITS;
    VDIT_TRY(vdit_sim_retention_times(retention, first_bit, count * VDIT_SIM_WORD_BITS, seconds));
    for (size_t i = 0; i < count; i++) {
      uint16_t word = in[start + i];
      // bits holding the leaking value: a stored 1 (leaking_value 1) or a stored 0
      uint16_t leaking = (uint16_t)~(word ^ leak_mask_value);
      uint16_t flips = 0;
      for (int b = 0; b < VDIT_SIM_WORD_BITS; b++) {
        if (!((leaking >> b) & 1u)) continue;
        vdit_sim_segment s = vdit_sim_segment_of_bit(b);
        if (seconds[i * VDIT_SIM_WORD_BITS + (size_t)b] < exposure[s]) {
          flips |= (uint16_t)(1u << b);
          part.failed_bits[s]++;
        }
      }
      out[start + i] = (uint16_t)(word ^ flips);
    }
  }
  vdit_sim_report_add(report, &part);
  return VDIT_OK;
}

vdit_status vdit_sim_inject_f32(const vdit_sim_retention *retention, const vdit_sim_policy *policy,
                                const vdit_sim_energy_model *energy, const vdit_sim_tensor *tensor,
                                const float *in, float *out, vdit_sim_report *report) {
  VDIT_TRY(check_inputs(retention, policy, tensor, in, out, report));
  enum { CHUNK_WORDS = 4096 };
  uint16_t codes[CHUNK_WORDS];
  vdit_sim_report total;
  memset(&total, 0, sizeof total);
  for (size_t start = 0; start < tensor->word_count; start += CHUNK_WORDS) {
    size_t count = tensor->word_count - start < CHUNK_WORDS ? tensor->word_count - start : CHUNK_WORDS;
    for (size_t i = 0; i < count; i++) codes[i] = vdit_bf16_from_float(in[start + i]);
    vdit_sim_tensor piece = *tensor;
    piece.word_address = tensor->word_address + start;
    piece.word_count = count;
    vdit_sim_report part;
    memset(&part, 0, sizeof part);
    VDIT_TRY(vdit_sim_inject_bf16(retention, policy, NULL, &piece, codes, codes, &part));
    vdit_sim_report_add(&total, &part);
    for (size_t i = 0; i < count; i++) out[start + i] = vdit_bf16_to_float(codes[i]);
  }
  if (tensor->word_count == 0) { // still validates the lifetime
    VDIT_TRY(vdit_sim_inject_bf16(retention, policy, NULL, tensor, NULL, NULL, &total));
  }
  // energy over the whole tensor (row rounding is per tensor, not per chunk)
  if (energy) VDIT_TRY(vdit_sim_tensor_energy(policy, energy, tensor, &total));
  vdit_sim_report_add(report, &total);
  return VDIT_OK;
}
