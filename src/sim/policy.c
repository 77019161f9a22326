// Refresh policies, the energy model and report arithmetic of include/vdit/sim.h.
#include <math.h>

#include "vdit/sim.h"

vdit_sim_segment vdit_sim_segment_of_bit(int bit) {
  return bit >= VDIT_SIM_MANTISSA_BITS ? VDIT_SIM_SEGMENT_SIGN_EXPONENT : VDIT_SIM_SEGMENT_MANTISSA;
}

const char *vdit_sim_segment_name(vdit_sim_segment segment) {
  switch (segment) {
  case VDIT_SIM_SEGMENT_SIGN_EXPONENT: return "sign_exponent";
  case VDIT_SIM_SEGMENT_MANTISSA: return "mantissa";
  default: return "unknown";
  }
}

const char *vdit_sim_lifetime_class_name(vdit_sim_lifetime_class lifetime_class) {
  switch (lifetime_class) {
  case VDIT_SIM_LIFETIME_TRANSIENT: return "transient";
  case VDIT_SIM_LIFETIME_PERSISTENT: return "persistent";
  default: return "unknown";
  }
}

const char *vdit_sim_policy_name(vdit_sim_policy_kind kind) {
  switch (kind) {
  case VDIT_SIM_POLICY_STANDARD: return "standard";
  case VDIT_SIM_POLICY_SHIELD: return "shield";
  case VDIT_SIM_POLICY_CUSTOM: return "custom";
  case VDIT_SIM_POLICY_LIFECYCLE: return "lifecycle";
  default: return "unknown";
  }
}

vdit_sim_policy vdit_sim_policy_standard(double t_ref_s) {
  vdit_sim_policy p = {.kind = VDIT_SIM_POLICY_STANDARD};
  for (int c = 0; c < VDIT_SIM_LIFETIME_CLASS_COUNT; c++)
    for (int s = 0; s < VDIT_SIM_SEGMENT_COUNT; s++) p.refresh_interval_s[c][s] = t_ref_s;
  return p;
}

vdit_sim_policy vdit_sim_policy_shield(double t_ref_s, double relaxed_mantissa_interval_s) {
  vdit_sim_policy p = vdit_sim_policy_standard(t_ref_s);
  p.kind = VDIT_SIM_POLICY_SHIELD;
  p.refresh_interval_s[VDIT_SIM_LIFETIME_TRANSIENT][VDIT_SIM_SEGMENT_MANTISSA] = 0; // never
  p.refresh_interval_s[VDIT_SIM_LIFETIME_PERSISTENT][VDIT_SIM_SEGMENT_MANTISSA] = relaxed_mantissa_interval_s;
  return p;
}

vdit_sim_policy vdit_sim_policy_lifecycle(double t_ref_s, double transient_mantissa_interval_s,
                                          double persistent_mantissa_interval_s, int protected_transient,
                                          int protected_persistent) {
  vdit_sim_policy p = vdit_sim_policy_standard(t_ref_s);
  p.kind = VDIT_SIM_POLICY_LIFECYCLE;
  p.refresh_interval_s[VDIT_SIM_LIFETIME_TRANSIENT][VDIT_SIM_SEGMENT_MANTISSA] = transient_mantissa_interval_s;
  p.refresh_interval_s[VDIT_SIM_LIFETIME_PERSISTENT][VDIT_SIM_SEGMENT_MANTISSA] = persistent_mantissa_interval_s;
  p.protected_mantissa_bits[VDIT_SIM_LIFETIME_TRANSIENT] = protected_transient;
  p.protected_mantissa_bits[VDIT_SIM_LIFETIME_PERSISTENT] = protected_persistent;
  p.spread_refreshes = 1;
  return p;
}

vdit_status vdit_sim_policy_set_bins(vdit_sim_policy *policy, vdit_sim_lifetime_class lifetime_class,
                                     const double *intervals_s, int count, double guard, int row_bits) {
  if (!policy || (unsigned)lifetime_class >= VDIT_SIM_LIFETIME_CLASS_COUNT || (count > 0 && !intervals_s))
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "binned refresh: bad policy, class or intervals");
  if (count < 1 || count > VDIT_SIM_MAX_BINS)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "binned refresh needs 1..%d bins, got %d", VDIT_SIM_MAX_BINS, count);
  vdit_sim_policy p = *policy;
  p.binned[lifetime_class] = 1;
  p.bin_count = count;
  for (int b = 0; b < count; b++) p.bin_intervals_s[b] = intervals_s[b];
  p.bin_guard = guard;
  p.bin_row_bits = row_bits;
  if (p.bin_profile_rounds < 1) p.bin_profile_rounds = 1;
  VDIT_TRY(vdit_sim_policy_check(&p));
  *policy = p;
  return VDIT_OK;
}

vdit_sim_segment vdit_sim_policy_segment_of_bit(const vdit_sim_policy *policy, vdit_sim_lifetime_class lifetime_class,
                                                int bit) {
  return bit >= VDIT_SIM_MANTISSA_BITS - policy->protected_mantissa_bits[lifetime_class] ? VDIT_SIM_SEGMENT_SIGN_EXPONENT
                                                                                         : VDIT_SIM_SEGMENT_MANTISSA;
}

vdit_status vdit_sim_policy_check(const vdit_sim_policy *policy) {
  if (!policy) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "refresh policy is NULL");
  for (int c = 0; c < VDIT_SIM_LIFETIME_CLASS_COUNT; c++)
    if (policy->protected_mantissa_bits[c] < 0 || policy->protected_mantissa_bits[c] > VDIT_SIM_MANTISSA_BITS)
      return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "protected mantissa bits of %s tensors must be in 0..%d, got %d",
                        vdit_sim_lifetime_class_name((vdit_sim_lifetime_class)c), VDIT_SIM_MANTISSA_BITS,
                        policy->protected_mantissa_bits[c]);
  if (policy->spread_refreshes != 0 && policy->spread_refreshes != 1)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "spread_refreshes must be 0 or 1, got %d", policy->spread_refreshes);
  for (int c = 0; c < VDIT_SIM_LIFETIME_CLASS_COUNT; c++) {
    if (policy->binned[c] != 0 && policy->binned[c] != 1)
      return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "binned must be 0 or 1, got %d", policy->binned[c]);
    if (!policy->binned[c]) continue;
    if (policy->bin_count < 1 || policy->bin_count > VDIT_SIM_MAX_BINS)
      return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "binned refresh needs 1..%d bins, got %d", VDIT_SIM_MAX_BINS,
                        policy->bin_count);
    for (int b = 0; b < policy->bin_count; b++) {
      double t = policy->bin_intervals_s[b];
      if (!(t > 0) || !isfinite(t) || (b > 0 && !(t > policy->bin_intervals_s[b - 1])))
        return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "bin intervals must be finite, > 0 and ascending, got %g at bin %d",
                          t, b);
    }
    if (!(policy->bin_guard > 0) || !isfinite(policy->bin_guard))
      return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "bin guard must be finite and > 0, got %g", policy->bin_guard);
    if (policy->bin_row_bits < 1 || policy->bin_profile_rounds < 1 || policy->bin_profile_rounds > 64)
      return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "binned refresh needs row bits >= 1 and 1..64 profile rounds, got %d, %d",
                        policy->bin_row_bits, policy->bin_profile_rounds);
    if (policy->bin_tolerated_cells < 0 || policy->bin_tolerated_cells >= policy->bin_row_bits)
      return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "tolerated cells per binned row must be in 0..%d, got %d",
                        policy->bin_row_bits - 1, policy->bin_tolerated_cells);
    if (policy->bin_bit_planes != 0 && policy->bin_bit_planes != 1)
      return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "bin_bit_planes must be 0 or 1, got %d", policy->bin_bit_planes);
    for (int b = 0; b < VDIT_SIM_MANTISSA_BITS; b++)
      if (policy->bin_plane_tolerated[b] < -1 || policy->bin_plane_tolerated[b] >= policy->bin_row_bits)
        return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT,
                          "tolerated cells of mantissa bit plane %d must be -1 (uniform) or 0..%d, got %d", b,
                          policy->bin_row_bits - 1, policy->bin_plane_tolerated[b]);
  }
  for (int c = 0; c < VDIT_SIM_LIFETIME_CLASS_COUNT; c++)
    for (int s = 0; s < VDIT_SIM_SEGMENT_COUNT; s++) {
      double t = policy->refresh_interval_s[c][s];
      if (!(t >= 0) || !isfinite(t))
        return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT,
                          "refresh interval of %s %s bits must be finite and >= 0 (0 = never), got %g",
                          vdit_sim_lifetime_class_name((vdit_sim_lifetime_class)c),
                          vdit_sim_segment_name((vdit_sim_segment)s), t);
    }
  return VDIT_OK;
}

// Assumptions for a 28 nm gain-cell macro (docs/shield.md): 18 fJ per bit for a read plus a
// write-back, 256-bit rows, so one row refresh costs 256 * 18 fJ = 4.608 pJ.
vdit_sim_energy_model vdit_sim_energy_model_default(void) {
  vdit_sim_energy_model e = {
      .node_nm = 28,
      .macro_bytes = (size_t)1 << 20,
      .row_bits = 256,
      .refresh_pj_per_row = 256 * (0.008 + 0.010),
      .read_pj_per_bit = 0.008,
      .write_pj_per_bit = 0.010,
  };
  return e;
}

void vdit_sim_report_add(vdit_sim_report *total, const vdit_sim_report *part) {
  for (int s = 0; s < VDIT_SIM_SEGMENT_COUNT; s++) {
    total->bits[s] += part->bits[s];
    total->failed_bits[s] += part->failed_bits[s];
    total->row_refreshes[s] += part->row_refreshes[s];
    total->refresh_pj[s] += part->refresh_pj[s];
  }
  for (int b = 0; b < VDIT_SIM_WORD_BITS; b++) total->failed_by_bit[b] += part->failed_by_bit[b];
  total->access_pj += part->access_pj;
}

double vdit_sim_report_refresh_pj(const vdit_sim_report *report) {
  return report->refresh_pj[VDIT_SIM_SEGMENT_SIGN_EXPONENT] + report->refresh_pj[VDIT_SIM_SEGMENT_MANTISSA];
}

static vdit_status check_tensor(const vdit_sim_tensor *tensor) {
  if (!tensor) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "tensor lifetime is NULL");
  if (!isfinite(tensor->t_write_s) || !isfinite(tensor->t_read_s) || tensor->t_read_s < tensor->t_write_s)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "tensor lifetime needs finite t_write <= t_read, got %g .. %g",
                      tensor->t_write_s, tensor->t_read_s);
  if ((unsigned)tensor->lifetime_class >= VDIT_SIM_LIFETIME_CLASS_COUNT)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "unknown lifetime class %d", (int)tensor->lifetime_class);
  size_t bits;
  if (!vdit_size_mul(tensor->word_count, VDIT_SIM_WORD_BITS, &bits) ||
      tensor->word_address > (UINT64_MAX - bits) / VDIT_SIM_WORD_BITS)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "tensor of %zu words at word %llu runs past the address space",
                      tensor->word_count, (unsigned long long)tensor->word_address);
  return VDIT_OK;
}

double vdit_sim_stretch(double lifetime, double interval, int spread) {
  if (!(interval > 0 && interval < lifetime)) return lifetime;
  return spread ? lifetime / ceil(lifetime / interval) : interval;
}

double vdit_sim_unrefreshed_interval(const vdit_sim_policy *policy, const vdit_sim_tensor *tensor,
                                     vdit_sim_segment segment) {
  return vdit_sim_stretch(tensor->t_read_s - tensor->t_write_s,
                          policy->refresh_interval_s[tensor->lifetime_class][segment], policy->spread_refreshes);
}

// Refreshes start one interval after the write and stop at the last read: floor(lifetime /
// interval); spread over the lifetime: ceil(lifetime / interval) - 1 (none when it fits in one
// interval). Counts past 2^53 (an interval absurdly short for the lifetime) are refused by the
// caller.
double vdit_sim_refresh_count(double lifetime, double interval, int spread) {
  if (!(interval > 0)) return 0;
  if (spread) return lifetime > interval ? ceil(lifetime / interval) - 1 : 0;
  return floor(lifetime / interval);
}

vdit_status vdit_sim_tensor_energy(const vdit_sim_policy *policy, const vdit_sim_energy_model *energy,
                                   const vdit_sim_tensor *tensor, vdit_sim_report *report) {
  VDIT_TRY(vdit_sim_policy_check(policy));
  VDIT_TRY(check_tensor(tensor));
  if (!energy || energy->row_bits <= 0 || !(energy->refresh_pj_per_row >= 0) || !(energy->read_pj_per_bit >= 0) ||
      !(energy->write_pj_per_bit >= 0))
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "energy model needs row_bits > 0 and energies >= 0");
  if (!report) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "report is NULL");
  if (policy->binned[tensor->lifetime_class])
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT,
                      "binned refresh depends on the retention profile: use vdit_sim_tensor_energy_profiled");
  const int protected_bits = policy->protected_mantissa_bits[tensor->lifetime_class];
  // the sub-arrays: sign+exponent and the protected mantissa bits; the rest of the mantissa
  const int segment_bits[VDIT_SIM_SEGMENT_COUNT] = {VDIT_SIM_SIGN_EXPONENT_BITS + protected_bits,
                                                    VDIT_SIM_MANTISSA_BITS - protected_bits};
  double lifetime = tensor->t_read_s - tensor->t_write_s;
  for (int s = 0; s < VDIT_SIM_SEGMENT_COUNT; s++) {
    uint64_t bits = (uint64_t)tensor->word_count * (uint64_t)segment_bits[s];
    uint64_t rows = (bits + (uint64_t)energy->row_bits - 1) / (uint64_t)energy->row_bits;
    double interval = policy->refresh_interval_s[tensor->lifetime_class][s];
    double per_row = vdit_sim_refresh_count(lifetime, interval, policy->spread_refreshes);
    if ((double)rows * per_row > 9007199254740992.0) // 2^53
      return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT,
                        "refresh interval %g s is too short for a lifetime of %g s (over 2^53 row refreshes)",
                        interval, lifetime);
    uint64_t refreshes = rows * (uint64_t)per_row;
    report->row_refreshes[s] += refreshes;
    report->refresh_pj[s] += (double)refreshes * energy->refresh_pj_per_row;
    report->access_pj += (double)bits * (energy->read_pj_per_bit + energy->write_pj_per_bit);
  }
  return VDIT_OK;
}
