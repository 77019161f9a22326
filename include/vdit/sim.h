// vdit sim: an eDRAM activation-memory simulator. Activations are held as bf16 words split
// into two segments, sign+exponent (9 bits) and mantissa (7 bits), each with its own refresh
// interval. Every cell has a retention time drawn once per run (log-normal, from Philox keyed
// by the array seed and the cell's bit address), so failures depend on the data and the
// location and repeat from run to run. A bit fails when the longest stretch between its write
// and a refresh (or its last read) exceeds its retention and it holds the leaking value.
// docs/shield.md gives the models, their parameters and sources.
#ifndef VDIT_SIM_H
#define VDIT_SIM_H

#include <stddef.h>
#include <stdint.h>

#include "vdit/base.h"

#ifdef __cplusplus
extern "C" {
#endif

// The two storage segments of a bf16 word: bits 15..7 (sign and 8 exponent bits) and 6..0.
typedef enum vdit_sim_segment {
  VDIT_SIM_SEGMENT_SIGN_EXPONENT = 0,
  VDIT_SIM_SEGMENT_MANTISSA,
  VDIT_SIM_SEGMENT_COUNT
} vdit_sim_segment;

enum { VDIT_SIM_SIGN_EXPONENT_BITS = 9, VDIT_SIM_MANTISSA_BITS = 7, VDIT_SIM_WORD_BITS = 16 };

// The segment holding bit `bit` (0 = least significant) of a bf16 word.
vdit_sim_segment vdit_sim_segment_of_bit(int bit);
const char *vdit_sim_segment_name(vdit_sim_segment segment); // "sign_exponent", "mantissa"

// How long a tensor lives: transient (written by one op, read by the next: Q, attention
// output O) or persistent (kept for a whole step or rollout: K, V).
typedef enum vdit_sim_lifetime_class {
  VDIT_SIM_LIFETIME_TRANSIENT = 0,
  VDIT_SIM_LIFETIME_PERSISTENT,
  VDIT_SIM_LIFETIME_CLASS_COUNT
} vdit_sim_lifetime_class;

const char *vdit_sim_lifetime_class_name(vdit_sim_lifetime_class lifetime_class);

// ---------------------------------------------------------------- retention model
// Retention of cell a (bit address a = word address * 16 + bit):
//   t_ret(a) = median_s * exp(sigma * z(a)) * 2^(-(temperature_c - reference_temperature_c) / halving_c)
//              * (vrt_low_ratio if the cell is a VRT cell in its low state at `vrt_epoch`)
// z(a) is the Philox normal at offset a of a stream keyed by `seed`. A cell is a VRT cell
// with probability vrt_fraction (drawn per cell); its state (low with probability 1/2) is
// drawn per (cell, vrt_epoch), so changing the epoch models telegraph switching between runs
// of the same array.
typedef struct vdit_sim_retention {
  uint64_t seed;                  // the array: the same seed gives the same cells
  double median_s;                // median retention at the reference temperature
  double sigma;                   // standard deviation of ln(t_ret)
  double temperature_c;           // operating temperature
  double reference_temperature_c; // where median_s was measured
  double halving_c;               // retention halves for every halving_c degrees hotter
  double vrt_fraction;            // fraction of cells with variable retention time (0 = off)
  double vrt_low_ratio;           // retention of a VRT cell in its low state / its normal retention
  uint64_t vrt_epoch;             // which VRT state draw applies
  int leaking_value;              // the stored value that decays (1: a stored 1 decays to 0)
  // Alternating polarity (0 = off): the words whose word address / alternate_block_words is odd
  // leak the other way: a logical 0 decays to 1. Either the array alternates true and anti
  // cells by block, as DRAM arrays do (Liu et al., ISCA 2013), or the controller stores those
  // words inverted (an XOR at write and read). It turns the failures' one-sided bias (every
  // flip shrinks a magnitude) into flips of both signs; docs/shield.md measures it.
  uint64_t alternate_block_words;
} vdit_sim_retention;

// Defaults (docs/shield.md): median 1 ms, sigma 0.5, 25 C reference and operation, halving
// every 10 C, VRT off, a stored 1 leaks to 0, seed 1.
vdit_sim_retention vdit_sim_retention_default(void);
vdit_status vdit_sim_retention_check(const vdit_sim_retention *retention);

// Retention times in seconds of cells first_bit_address .. first_bit_address + n - 1.
vdit_status vdit_sim_retention_times(const vdit_sim_retention *retention, uint64_t first_bit_address,
                                     size_t n, double *out_seconds);

// ---------------------------------------------------------------- refresh policies
// Refresh interval in seconds per lifetime class and segment; 0 means never refreshed.
typedef enum vdit_sim_policy_kind {
  VDIT_SIM_POLICY_STANDARD = 0, // every bit every t_REF
  VDIT_SIM_POLICY_SHIELD,       // sign+exponent every t_REF; transient mantissas never;
                                // persistent mantissas at a relaxed interval
  VDIT_SIM_POLICY_CUSTOM,       // intervals given per segment and class
  VDIT_SIM_POLICY_LIFECYCLE,    // SHIELD refined: the top mantissa bits kept with sign+exponent,
                                // per-class mantissa intervals, refreshes spread over the lifetime
  VDIT_SIM_POLICY_KIND_COUNT
} vdit_sim_policy_kind;

enum { VDIT_SIM_MAX_BINS = 16 };

// Where the bits of a word are stored: segment SIGN_EXPONENT is the sub-array refreshed at
// refresh_interval_s[class][SIGN_EXPONENT]; it holds bits 15..7 and the top
// protected_mantissa_bits[class] bits of the mantissa. Segment MANTISSA holds the rest of the
// mantissa (bits 6 - protected .. 0). With protected_mantissa_bits 0 (the default) the
// sub-arrays are the fields: SHIELD's split.
typedef struct vdit_sim_policy {
  vdit_sim_policy_kind kind;
  double refresh_interval_s[VDIT_SIM_LIFETIME_CLASS_COUNT][VDIT_SIM_SEGMENT_COUNT];
  int protected_mantissa_bits[VDIT_SIM_LIFETIME_CLASS_COUNT]; // 0..7
  // Refresh schedule of a segment with interval r > 0 on a tensor alive for L > r:
  // 0 (default): every r from the write, floor(L / r) refreshes, the longest unrefreshed
  //    stretch r;
  // 1 (lifetime-matched): the schedule knows L (a static dataflow) and spreads ceil(L / r) - 1
  //    refreshes evenly, every L / ceil(L / r) <= r: as many refreshes or one fewer, shorter
  //    stretches.
  int spread_refreshes;
  // Retention-aware (binned) refresh of the MANTISSA sub-array of a class, as RAIDR (Liu et
  // al., ISCA 2012) does for DRAM rows: the retention of every cell is profiled once (at test
  // or boot time), each row of bin_row_bits cells of the sub-array (the energy model's row)
  // is put in the longest bin interval <= bin_guard x its weakest profiled cell's retention,
  // or in bin_intervals_s[0] (the default bin, t_REF) when none fits, and refreshed at that
  // interval (spread over the lifetime when spread_refreshes is set). This replaces
  // refresh_interval_s[class][MANTISSA] for a binned class. Row r of a tensor's mantissa
  // sub-array holds mantissa cells r * bin_row_bits .. (r + 1) * bin_row_bits - 1 counted
  // word by word (bit 0 first) from the tensor's first word. The profile draws every cell's
  // retention at VRT epochs vrt_epoch + 1 .. vrt_epoch + bin_profile_rounds and keeps the
  // shortest (without VRT cells that is the operating retention itself), so a VRT cell that
  // was high in every profile round and is low now can fail. Bookkeeping: ceil(log2
  // bin_count) bits per row (not counted as energy; docs/shield.md).
  int binned[VDIT_SIM_LIFETIME_CLASS_COUNT];
  double bin_guard;                              // > 0; <= 1 leaves a margin
  int bin_count;                                 // 1..VDIT_SIM_MAX_BINS
  double bin_intervals_s[VDIT_SIM_MAX_BINS];     // ascending, > 0; [0] is the default bin
  int bin_row_bits;                              // cells per binned row (> 0)
  int bin_profile_rounds;                        // >= 1
  // Tolerated failures (docs/shield.md, "Tolerated cells and bit planes"): a row's interval is
  // chosen from its (1 + tolerated)-th weakest profiled cell instead of its weakest, so with
  // guard <= 1 and VRT off at most `tolerated` cells of the row can fail (those that hold the
  // leaking value): failures are spent where a row has few weak cells. 0 (default): RAIDR.
  // Layout of a binned MANTISSA sub-array:
  // bin_bit_planes 0 (default): row r holds mantissa cells r * bin_row_bits .. counted word by
  //    word (bit 0 first), every row tolerates bin_tolerated_cells;
  // bin_bit_planes 1 (significance-aware): a row holds ONE mantissa bit position of
  //    bin_row_bits consecutive words (a bit-plane transpose at write and read): row
  //    (i / bin_row_bits) * m + b holds bit b of words i (m = unprotected mantissa bits); the
  //    rows of bit b tolerate bin_plane_tolerated[b] cells, or, when that is < 0, are not
  //    binned but refreshed uniformly at refresh_interval_s[class][MANTISSA] (0 = never).
  int bin_tolerated_cells;                              // 0 .. bin_row_bits - 1
  int bin_bit_planes;                                   // 0 or 1
  int bin_plane_tolerated[VDIT_SIM_MANTISSA_BITS];      // by mantissa bit (0 = LSB): -1 .. bin_row_bits - 1
} vdit_sim_policy;

const char *vdit_sim_policy_name(vdit_sim_policy_kind kind); // "standard", "shield", "custom", "lifecycle"
vdit_sim_policy vdit_sim_policy_standard(double t_ref_s);
vdit_sim_policy vdit_sim_policy_shield(double t_ref_s, double relaxed_mantissa_interval_s);
// Lifecycle-aware SHIELD (docs/shield.md): sign+exponent and the top `protected_*` mantissa
// bits every t_REF; the remaining mantissa bits of transient tensors every
// transient_mantissa_interval_s and of persistent ones every persistent_mantissa_interval_s
// (0 = never), refreshes spread over each tensor's lifetime.
vdit_sim_policy vdit_sim_policy_lifecycle(double t_ref_s, double transient_mantissa_interval_s,
                                          double persistent_mantissa_interval_s, int protected_transient,
                                          int protected_persistent);
// Binned refresh of the persistent mantissas (RAIDR-style, see vdit_sim_policy.binned) with
// `count` bins (intervals_s ascending, intervals_s[0] the default bin), guard band `guard`,
// rows of row_bits cells, one profile round.
vdit_status vdit_sim_policy_set_bins(vdit_sim_policy *policy, vdit_sim_lifetime_class lifetime_class,
                                     const double *intervals_s, int count, double guard, int row_bits);
// Intervals finite and >= 0, protected bits in 0..7, spread_refreshes 0 or 1; when a class is
// binned: 1..16 ascending bins > 0, guard > 0, row bits > 0, profile rounds >= 1.
vdit_status vdit_sim_policy_check(const vdit_sim_policy *policy);
// The segment (sub-array, so the refresh interval) that holds bit `bit` (0..15) of a word of
// class `lifetime_class` under `policy`.
vdit_sim_segment vdit_sim_policy_segment_of_bit(const vdit_sim_policy *policy, vdit_sim_lifetime_class lifetime_class,
                                                int bit);

// ---------------------------------------------------------------- energy model
// A CACTI-style per-event model: every refresh reads and rewrites one row of one segment's
// sub-array; each word is written once and read once. The constants are assumptions stated
// in docs/shield.md (a 28 nm gain-cell macro); the refresh savings ratio does not depend on
// them.
typedef struct vdit_sim_energy_model {
  int node_nm;
  size_t macro_bytes;
  int row_bits;                 // cells refreshed together
  double refresh_pj_per_row;    // one row read + restore
  double read_pj_per_bit;
  double write_pj_per_bit;
} vdit_sim_energy_model;

vdit_sim_energy_model vdit_sim_energy_model_default(void);

// ---------------------------------------------------------------- tensors and reports
// A tensor of word_count bf16 words at word_address in the array, written at t_write_s and
// read for the last time at t_read_s.
typedef struct vdit_sim_tensor {
  uint64_t word_address;
  size_t word_count;
  double t_write_s, t_read_s;
  vdit_sim_lifetime_class lifetime_class;
} vdit_sim_tensor;

// bits and failed_bits count by field (sign+exponent: bits 15..7, mantissa: 6..0, whatever
// sub-array holds them); row_refreshes and refresh_pj by segment (sub-array, see
// vdit_sim_policy).
typedef struct vdit_sim_report {
  uint64_t bits[VDIT_SIM_SEGMENT_COUNT];          // cells stored
  uint64_t failed_bits[VDIT_SIM_SEGMENT_COUNT];   // cells that flipped
  uint64_t failed_by_bit[VDIT_SIM_WORD_BITS];     // the same by bit position (0 = mantissa LSB)
  uint64_t row_refreshes[VDIT_SIM_SEGMENT_COUNT];
  double refresh_pj[VDIT_SIM_SEGMENT_COUNT];
  double access_pj;                               // one write and one read of every bit
} vdit_sim_report;

void vdit_sim_report_add(vdit_sim_report *total, const vdit_sim_report *part);
double vdit_sim_report_refresh_pj(const vdit_sim_report *report); // both segments

// The longest time a segment of `tensor` goes without a write or refresh under `policy`:
// min(interval, t_read - t_write) (L / ceil(L / interval) with spread_refreshes), the whole
// lifetime L when never refreshed.
// A binned segment's stretch differs per row: vdit_sim_stretch with the row's interval.
double vdit_sim_unrefreshed_interval(const vdit_sim_policy *policy, const vdit_sim_tensor *tensor,
                                     vdit_sim_segment segment);
// The same for a lifetime and an interval (0 = never): the longest stretch without a write or
// refresh, and the number of refreshes (every interval from the write: floor(lifetime /
// interval); spread: ceil(lifetime / interval) - 1, none when the lifetime fits in one).
double vdit_sim_stretch(double lifetime_s, double interval_s, int spread);
double vdit_sim_refresh_count(double lifetime_s, double interval_s, int spread);

// Energy only (no data): adds the tensor's refreshes and accesses to *report (bits counted too).
// A binned policy needs the retention profile: vdit_sim_tensor_energy refuses it;
// vdit_sim_tensor_energy_profiled takes the retention model and counts every row's refreshes
// at its bin's interval (for other policies both give the same).
vdit_status vdit_sim_tensor_energy(const vdit_sim_policy *policy, const vdit_sim_energy_model *energy,
                                   const vdit_sim_tensor *tensor, vdit_sim_report *report);
vdit_status vdit_sim_tensor_energy_profiled(const vdit_sim_retention *retention, const vdit_sim_policy *policy,
                                            const vdit_sim_energy_model *energy, const vdit_sim_tensor *tensor,
                                            vdit_sim_report *report);

// Rows of the tensor's MANTISSA sub-array under a binned class:
// ceil(word_count x unprotected mantissa bits / bin_row_bits), with bit planes
// ceil(word_count / bin_row_bits) x unprotected mantissa bits (0 when the class is not binned).
size_t vdit_sim_binned_rows(const vdit_sim_policy *policy, const vdit_sim_tensor *tensor);
// The binned row that holds mantissa bit `bit` (below the unprotected count) of word `word`
// (0-based in the tensor), in the layout of policy->bin_bit_planes.
size_t vdit_sim_binned_row_of(const vdit_sim_policy *policy, const vdit_sim_tensor *tensor, size_t word, int bit);
// Each row's profile (profile_s, may be NULL): its (1 + tolerated)-th weakest profiled
// retention (the weakest cell when nothing is tolerated, and for a uniform bit plane), and
// its refresh interval (interval_s): the longest bin interval <= guard x profile, else the
// default bin; a uniform bit plane's rows get the class's mantissa interval (0 = never).
// Both arrays have vdit_sim_binned_rows entries.
vdit_status vdit_sim_binned_row_intervals(const vdit_sim_retention *retention, const vdit_sim_policy *policy,
                                          const vdit_sim_tensor *tensor, double *profile_s, double *interval_s);

// Injection: out = in with the policy's failures applied (in and out: tensor->word_count bf16
// codes; they may alias). Adds bits, failed bits and energy to *report. energy may be NULL
// (no energy counted).
vdit_status vdit_sim_inject_bf16(const vdit_sim_retention *retention, const vdit_sim_policy *policy,
                                 const vdit_sim_energy_model *energy, const vdit_sim_tensor *tensor,
                                 const uint16_t *in, uint16_t *out, vdit_sim_report *report);

// The same for an fp32 buffer held in memory as bf16: each value is rounded to bf16 (round to
// nearest even), corrupted, and widened back to fp32.
vdit_status vdit_sim_inject_f32(const vdit_sim_retention *retention, const vdit_sim_policy *policy,
                                const vdit_sim_energy_model *energy, const vdit_sim_tensor *tensor,
                                const float *in, float *out, vdit_sim_report *report);

// The weak cells of a tensor under a policy: mask[i] has bit b set when the cell of bit b of
// word i retains for less than the longest unrefreshed stretch of its segment, so it fails
// whenever it holds the leaking value. A tensor that is stored again at the same address with
// the same lifetime (the next pass of a model) has the same mask: computing it once and
// passing it to vdit_sim_inject_f32_masked gives the same result as vdit_sim_inject_f32
// without drawing the retention times again.
vdit_status vdit_sim_weak_mask(const vdit_sim_retention *retention, const vdit_sim_policy *policy,
                               const vdit_sim_tensor *tensor, uint16_t *mask);
vdit_status vdit_sim_inject_f32_masked(const vdit_sim_retention *retention, const vdit_sim_policy *policy,
                                       const vdit_sim_energy_model *energy, const vdit_sim_tensor *tensor,
                                       const uint16_t *mask, const float *in, float *out, vdit_sim_report *report);

#ifdef __cplusplus
}
#endif

#endif // VDIT_SIM_H
