// SageAttention-style low-bit attention (VDIT_ATTN_SAGE): the quantization contract that the
// CPU emulation (attn_sage_cpu.c) and the CUDA kernels (src/attn/cuda/attn_sage_*.cu) share,
// so that both compute the same scales, the same INT8 / FP8 codes and the same two-level
// accumulation. docs/attention.md ("Sage") states every rule in prose.
//
// Forward, per (batch b, head h), n = key length of b (all Sk without key lengths):
//   mu     = mean over keys j < n of K[j, :]                  (K-smoothing, fp32)
//   K'     = K - mu;  Q' = Q, or Q - q_mean(block of 128) with smooth_q
//   INT8   scale = amax(group) / 127, code = round_half_even(x / scale) (num.h's INT8 rule;
//          0 when amax = 0); groups by granularity, see sage_q_group / sage_k_group
//   score  t = float(int32 dot) * c, c = (q_scale * (softmax_scale * log2 e)) * k_scale
//          (+ (q_mean . K'_j) * softmax_scale * log2 e with smooth_q), log2 units; the tile's
//          row max m is taken over t
//   P V    online softmax over 128-key tiles; fp8: P' = 2^(t - m + log2 448) in (0, 448],
//          computed as 2^fma(2^23 + 2^22 + dot, c, -fma(2^23 + 2^22, c, m - log2 448)) (the
//          GPU's one FFMA per score: the integer enters through its float bits),
//          V per channel scale amax(V[:, d] over j < n) / 448, both e4m3 (satfinite, RNE);
//          the tile's sum of P'8 V8 is formed alone in fp32, then O = O * alpha + tile;
//          half: P = 2^(t - m) rounded to the 16-bit dtype, V as given
//   out    O = (O / l) * v_scale[d] (fp8) or O / l; l = fp32 sum (O's two levels, alpha) of the
//          e4m3-rounded P'8 (fp8: the GPU's tensor cores add it within P V) or of the unrounded P (half)
//   LSE    ((m - log2 448) + log2 l) * ln 2 + softmax_scale * (q_i . mu)  (no log2 448 for half)
// Backward (SageBwd), per (b, h): queries in 64-token tiles, keys in 128-token blocks;
//   Q (unsmoothed), K' INT8 per block (64 / 128 tokens), dO INT8 per 64-token block;
//   P = 2^(t - l2), t = dot * c, c = (q_scale * softmax_scale * log2 e) * k_scale, l2 =
//   (LSE - scale q.mu) log2 e, recomputed from the INT8 scores by one FFMA of the exact float
//   of the int32 dot: 2^fma(float(dot), c, -l2);
//   dP = dO V^T in fp32 from the 16-bit values; dS = P (dP - Delta), Delta = rowsum(dO O);
//   in-loop INT8 (P^T, dS^T, dS): inv = 127 / amax (0 when amax = 0), code =
//   round_half_even(x * inv) with the product exact (one FFMA on the GPU: the low byte of
//   fma(x, inv, 2^23 + 2^22)), dequantization scale amax / 127;
//   dV += P^T dO: P^T per (key, query tile), amax = max P; dO per 64-query block;
//   dK += dS^T Q: dS^T per (key, query tile), amax = max |dS|; Q per 64-query block;
//   dQ += dS K': dS one scale per (query tile, key block), amax = max |dS| over the tile;
//   every tile product is an exact int32 sum dequantized by the product of the two scales
//   and added in fp32; dQ, dK times softmax_scale; then dK -= mean over keys j < n of dK
//   (the gradient through mu: the smoothed forward sees K only through K - mu).
// Channel split (sage.split = auto; LLM.int8()'s decomposition): per (b, h), K's outlier
//   channels O (sage_split_channels: smoothed channel max over SAGE_SPLIT_RATIO x the median
//   channel max, at most SAGE_SPLIT_MAX, none under SAGE_SPLIT_MIN_KEYS keys; none on plain
//   inputs, where everything below is today's
//   path bit for bit) leave every INT8 product: Q', K' (and the backward's Q) are quantized with
//   those channels set to 0, so the scales come from the other channels; mu_O = 0 (K_O is not
//   smoothed, the LSE correction covers the other channels). Scores: e = (sum over O ascending of
//   q_O k_O, exact products of the 16-bit values, fp32 sum) * softmax_scale * log2 e, t =
//   fma(float(dot), c, e) (+ bias with smooth_q), the row max over t, P from 2^(t - shift) (the
//   integer row-max trick does not hold). Backward: P = 2^(fma(float(dot), c, e) - l2); dQ_O +=
//   dS K'_O and dK_O += dS^T Q_O with dS rounded to the 16-bit dtype, K'_O = 16-bit(K_O - mu_O),
//   fp32 sums per tile (a bf16 wgmma on the GPU); the dK mean projection covers every channel.
// Block-sparse (sparge(sage=1)): with problem->map (128 x 128 blocks) the forward visits only
// the key tiles its query block's row lists (an empty row: O = 0, LSE = -inf) and the
// backward only the (key block, 64-query tile) pairs inside listed blocks; scales, codes and
// mu are those of the whole tensors, so a full map is plain sage bit for bit.
#ifndef VDIT_ATTN_SAGE_H
#define VDIT_ATTN_SAGE_H

#include <stdint.h>

#include "attn/attn_kernels.h"
#include "base/fp_exact.h"

#define SAGE_FWD_BM 128   // query rows of a forward tile (Q-smoothing block, per-block Q group)
#define SAGE_FWD_BN 128   // keys of a forward tile (per-block K group, two-level accumulation)
#define SAGE_BWD_BM 64    // query rows of a backward tile (Q and dO blocks)
#define SAGE_BWD_BN 128   // keys of a backward block
#define SAGE_LOG2_448 8.807354922057604f
#define SAGE_LOG2E 1.4426950408889634f
#define SAGE_LN2 0.6931471805599453f
#define SAGE_EXP_BIAS 12582912.0f // 2^23 + 2^22: float(2^23 + 2^22 + n) is exact for |n| < 2^22

// MUFU offload (FlashAttention-4's trick), FP8 P V only: in every 128-key tile, the keys j whose
// 8-key group (j % 128) / 8 has its bit set in SAGE_POLY_GROUPS get P' = 2^x from
// sage_exp2_poly (a polynomial on the FMA pipe) instead of the MUFU's ex2: on the GPU those are
// fixed accumulator columns of every thread (n-tiles 0, 3, 7, 11, 15: 20 of its 64 scores a tile).
// The CPU emulation calls the same function for the same keys, so those P' are bit-identical
// (version 2, attn_sage_forward.cu, keeps every exp2 on the MUFU). 0 puts every exp2 on the MUFU.
// H200 (docs/attention.md): 1/4 on the polynomial 0.4% faster than none, 3/8 and 1/2 slower (run
// 6); 5/16 (0x8889) with version 3's O fold under S: 1.3% faster than 1/4 without it (run 19).
#define SAGE_POLY_GROUPS 0x8889u
#define SAGE_POLY_DEGREE 3

// 2^x = 2^round(x) * p(x - round(x)): round(x) by the 2^23 + 2^22 add (exact: |x| < 2^22), f =
// x - round(x) in [-0.5, 0.5] exactly, p the minimax polynomial of 2^f on [-0.5, 0.5] in relative
// error (Lawson's iteration in fp64, coefficients rounded to fp32; measured in fp32 Horner form:
// degree 3 max relative error 7.5e-5, degree 2 1.7e-3; e4m3 keeps 3 mantissa bits, a relative
// step of 2^-4), and round(x) added to p's exponent field as an integer (the low bits of the
// rounded float, shifted by 23). x is clamped to -125 so the result stays a normal float;
// 2^-125 instead of 0 below that is far under e4m3's smallest step and a row sum's rounding.
VDIT_HOST_DEVICE float sage_exp2_poly_degree(float x, int degree) {
  x = fmaxf(x, -125.0f);
  const float xr = VDIT_FADD(x, SAGE_EXP_BIAS);
  const float f = VDIT_FSUB(x, VDIT_FSUB(xr, SAGE_EXP_BIAS));
  const float p = degree == 2 ? fmaf(fmaf(0.23842912912368774f, f, 0.7034484148025513f), f, 1.0004431009292603f)
                              : fmaf(fmaf(fmaf(0.05517169088125229f, f, 0.24261116981506348f), f, 0.6932609677314758f), f,
                                     0.9999280571937561f);
  return vdit_bits_float(vdit_float_bits(p) + (vdit_float_bits(xr) << 23));
}
VDIT_HOST_DEVICE float sage_exp2_poly(float x) { return sage_exp2_poly_degree(x, SAGE_POLY_DEGREE); }
VDIT_HOST_DEVICE int sage_poly_key(int64_t j) { return (int)((SAGE_POLY_GROUPS >> ((j % SAGE_FWD_BN) / 8)) & 1u); }

// INT8 scale group of query token i / key token j in the forward, and the group counts.
VDIT_HOST_DEVICE int64_t sage_q_group(int granularity, int64_t i) {
  if (granularity == VDIT_ATTN_SAGE_PER_WARP) return i / 16;
  if (granularity == VDIT_ATTN_SAGE_PER_THREAD) return (i / 16) * 8 + (i % 8);
  return i / SAGE_FWD_BM;
}
VDIT_HOST_DEVICE int64_t sage_q_groups(int granularity, int64_t seq) {
  if (granularity == VDIT_ATTN_SAGE_PER_WARP) return (seq + 15) / 16;
  if (granularity == VDIT_ATTN_SAGE_PER_THREAD) return (seq + 15) / 16 * 8;
  return (seq + SAGE_FWD_BM - 1) / SAGE_FWD_BM;
}
VDIT_HOST_DEVICE int64_t sage_k_group(int granularity, int64_t j) {
  if (granularity == VDIT_ATTN_SAGE_PER_WARP) return j / 64;
  if (granularity == VDIT_ATTN_SAGE_PER_THREAD) return (j / SAGE_FWD_BN) * 4 + (j % 8) / 2;
  return j / SAGE_FWD_BN;
}
VDIT_HOST_DEVICE int64_t sage_k_groups(int granularity, int64_t seq) {
  if (granularity == VDIT_ATTN_SAGE_PER_WARP) return (seq + 63) / 64;
  if (granularity == VDIT_ATTN_SAGE_PER_THREAD) return (seq + SAGE_FWD_BN - 1) / SAGE_FWD_BN * 4;
  return (seq + SAGE_FWD_BN - 1) / SAGE_FWD_BN;
}

// The channel split's rule (sage_split_channels in attn_sage_cpu.c, docs/attention.md "Channel
// split"): ratio of a channel's smoothed max to the median channel max above which it splits,
// the most channels split per (b, h) (one 16-wide bf16 slice on the GPU), and the fewest keys
// that can split (with 2 keys, plain N(0, 1) K reaches a ratio of 9: dev/sage/split_ratio.c).
#define SAGE_SPLIT_RATIO 8.0f
#define SAGE_SPLIT_MAX 16
#define SAGE_SPLIT_MIN_KEYS 4

// The INT8 scale of a group with max |x| = amax, and the fp8 scale of a V channel.
VDIT_HOST_DEVICE float sage_int8_scale(float amax) { return VDIT_FDIV(amax, 127.0f); }
VDIT_HOST_DEVICE float sage_fp8_scale(float amax) { return VDIT_FDIV(amax, 448.0f); }

// CPU emulation on contiguous fp32 (B, H, S, D) arrays holding the tensors' values (already
// rounded to their dtype). `half` is the 16-bit dtype P is rounded to with pv = half.
vdit_status vdit_attn_cpu_sage_forward(const vdit_attn_problem *problem, vdit_dtype half, const float *q,
                                       const float *k, const float *v, float *o, float *lse);
vdit_status vdit_attn_cpu_sage_backward(const vdit_attn_problem *problem, vdit_dtype half, const float *q, const float *k,
                                        const float *v, const float *o, const float *lse, const float *d_o,
                                        float *dq, float *dk, float *dv);
// K's split channels of one (b, h): k (Sk, D) fp32 (D <= 256), n = its key length, mu = the
// K-smoothing vector; writes the channels ascending to channels[SAGE_SPLIT_MAX], returns their count.
int sage_split_channels(const float *k, int64_t n, int64_t dim, const float *mu, int *channels);
// The same for head (b, h) of a problem from its K (Sk, D) alone (mu from k and b's key length).
int sage_split_head(const vdit_attn_problem *problem, int64_t b, const float *k, int *channels);

#endif // VDIT_ATTN_SAGE_H
