// vdit attention layer: one entry point for every attention method. A config says what to
// compute (method, softmax scale, mask, layout); a plan binds it to shapes, dtype and
// device (and, for sparse methods, holds masks, routes and clusters); forward and backward
// run the plan.
//
// Shapes: Q (B, Sq, H, D) or (B, H, Sq, D) by layout; K and V (B, Sk, H, D) or (B, H, Sk, D);
// O like Q; LSE (B, H, Sq) fp32, natural log of the softmax denominator (scores scaled).
// Masks are "key prefixes": query i of batch b attends keys j < key_limit(b, i) (see
// vdit_attn_key_limit). A row with no key gets O = 0 and LSE = -inf, never NaN.
#ifndef VDIT_ATTN_H
#define VDIT_ATTN_H

#include <stdint.h>

#include "vdit/base.h"
#include "vdit/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum vdit_attn_method {
  VDIT_ATTN_DENSE = 0, // exact softmax attention
  VDIT_ATTN_SAGE,      // SageAttention-style INT8 Q K^T, FP8 (or 16-bit) P V; SageBwd INT8 backward
  VDIT_ATTN_BLOCK,     // the block-sparse executor on a caller's map (config.block_map)
  VDIT_ATTN_SPARGE,    // SpargeAttention2: predicted hybrid Top-k/Top-p block masks (config.sparge)
  VDIT_ATTN_SLA,       // SLA2: learnable router, exact sparse branch + linear branch mixed by alpha (config.sla)
  VDIT_ATTN_EAR,       // clustered attention, centroid compensation, error-aware routing (config.cluster)
  VDIT_ATTN_SVG,       // clustered attention, centroid compensation, SVG2 top-p routing (config.cluster)
  VDIT_ATTN_METHOD_COUNT
} vdit_attn_method;

typedef enum vdit_attn_mask {
  VDIT_ATTN_MASK_NONE = 0,
  // Query i sees keys j <= i + (Sk - Sq): the last query sees every key (bottom-right
  // alignment, as KV-cached decoding needs).
  VDIT_ATTN_MASK_CAUSAL,
  // Frame-chunk causal: with queries placed at positions i + (Sk - Sq), the query in block
  // n = position / block_length sees every key of blocks 0..n.
  VDIT_ATTN_MASK_BLOCK_CAUSAL,
} vdit_attn_mask;

typedef enum vdit_attn_layout {
  VDIT_ATTN_LAYOUT_BSHD = 0, // (batch, sequence, heads, head dim): diffusers, Wan
  VDIT_ATTN_LAYOUT_BHSD,     // (batch, heads, sequence, head dim)
} vdit_attn_layout;

// Options of VDIT_ATTN_SAGE (docs/attention.md, "Sage" gives every operand's scale rule). A
// zeroed struct is the default: per-block scales, FP8 P V, no Q-smoothing. K is always
// smoothed (its per-(batch, head) token mean is subtracted before quantizing; the returned LSE
// is corrected back to the unsmoothed scores).
typedef enum vdit_attn_sage_granularity {
  // Token groups sharing one INT8 scale in the forward's Q K^T:
  VDIT_ATTN_SAGE_PER_BLOCK = 0, // Q: 128-token blocks; K: 128-token blocks
  VDIT_ATTN_SAGE_PER_WARP,      // Q: 16-token blocks (one MMA warp's rows); K: 64-token blocks
  VDIT_ATTN_SAGE_PER_THREAD,    // Q: tokens {i, i + 8} of each 16-token block (one thread's
                                // fragment rows); K: tokens with equal (j % 8) / 2 in a
                                // 128-token block (one thread's fragment columns)
  VDIT_ATTN_SAGE_GRANULARITY_COUNT
} vdit_attn_sage_granularity;

typedef enum vdit_attn_sage_pv {
  VDIT_ATTN_SAGE_PV_FP8 = 0, // P scaled so its max maps to 448, V per channel, both e4m3
  VDIT_ATTN_SAGE_PV_HALF,    // P rounded to the tensors' 16-bit dtype (bf16 for f32 tensors)
  VDIT_ATTN_SAGE_PV_COUNT
} vdit_attn_sage_pv;

typedef enum vdit_attn_sage_split {
  VDIT_ATTN_SAGE_SPLIT_OFF = 0, // every channel in the INT8 Q K^T
  VDIT_ATTN_SAGE_SPLIT_AUTO,    // per (batch, head), K's outlier channels (smoothed channel max
                                // over SAGE_SPLIT_RATIO x the median channel max, at most 16)
                                // leave the INT8 products: their scores and gradients in 16 bits
                                // with fp32 sums (LLM.int8()'s split; CPU only until the CUDA
                                // kernels follow: CUDA refuses a head that would split)
  VDIT_ATTN_SAGE_SPLIT_COUNT
} vdit_attn_sage_split;

typedef struct vdit_attn_sage_options {
  vdit_attn_sage_granularity granularity;
  vdit_attn_sage_pv pv;
  int smooth_q; // also subtract each 128-token Q block's mean, adding q_mean K^T back in fp32
  vdit_attn_sage_split split;
} vdit_attn_sage_options;
// ---------------------------------------------------------------- block-sparse executor
// Every sparse method runs on one executor: exact softmax attention restricted to the key
// blocks a block map lists for each query block (and, within them, to the key prefix of the
// config's mask). The map is compressed-row: row r = (b * H + h) * q_blocks + i (query block
// i of batch b, head h) lists col_index[row_offsets[r] .. row_offsets[r + 1]), the key blocks
// it computes, strictly ascending. Query block i covers queries [i * block_q, (i + 1) *
// block_q), key block j keys [j * block_k, (j + 1) * block_k) (the last ones may be short).
// A row with no block gives O = 0, LSE = -inf (and dQ = 0), never NaN.
//
// Tile sizes (vdit_attn_block_sizes): the CUDA executor (H100, sm_90a wgmma path: D = 64 or
// 128, aligned) needs block_q = block_k = 128: the forward computes 128 queries per thread
// block against 128-key tiles (two 64-key tiles at D = 64), the backward 128 keys per thread
// block against 64-query tiles (128 at D = 64). The CPU executor takes any sizes (a map over full blocks with block_k a multiple of 128
// reproduces the dense CPU path bit for bit; so does the full map on CUDA: dense attention
// is this executor with an implicit full map).
// The backward runs over the transposed map (key block -> query blocks), which the plan
// builds on the map's device (vdit_attn_block_map_transpose).
typedef struct vdit_attn_block_map {
  int64_t batch, heads;
  int64_t seq_q, seq_k;
  int32_t block_q, block_k;  // tokens per query block and per key block
  int32_t q_blocks, k_blocks; // ceil(seq_q / block_q), ceil(seq_k / block_k)
  int32_t *row_offsets;      // (batch * heads * q_blocks + 1), row_offsets[0] = 0
  int32_t *col_index;        // (capacity) key block indices; the first row_offsets[rows] are used
  int64_t capacity;          // entries col_index holds (batch * heads * q_blocks * k_blocks for any map)
  vdit_device device;        // where both arrays live
} vdit_attn_block_map;

// The executor's block sizes on `device` for head dim D (CPU: 128 x 128, any map accepted).
void vdit_attn_block_sizes(vdit_device device, int64_t head_dim, int32_t *block_q, int32_t *block_k);
// Allocates a map with room for every block (capacity = rows * k_blocks); row_offsets zeroed
// (every row empty).
vdit_status vdit_attn_block_map_alloc(vdit_attn_block_map *map, vdit_device device, int64_t batch, int64_t heads,
                                      int64_t seq_q, int64_t seq_k, int32_t block_q, int32_t block_k);
void vdit_attn_block_map_free(vdit_attn_block_map *map);
// Host maps only: every row lists every key block.
vdit_status vdit_attn_block_map_fill_full(vdit_attn_block_map *map);
// Host maps only: offsets non-decreasing and within capacity, indices in range and ascending.
vdit_status vdit_attn_block_map_validate(const vdit_attn_block_map *map);
// dst (allocated like src, any device) = src.
vdit_status vdit_attn_block_map_copy(vdit_attn_block_map *dst, const vdit_attn_block_map *src);
// The transposed map (rows = key blocks of each (b, h), columns = query blocks, ascending),
// built on src's device; t is allocated here (free with vdit_attn_block_map_free). Its
// block_q / q_blocks describe key blocks and block_k / k_blocks query blocks.
vdit_status vdit_attn_block_map_transpose(vdit_attn_block_map *t, const vdit_attn_block_map *src);
// Blocks listed (host or device map) and the fraction of all blocks skipped.
vdit_status vdit_attn_block_map_count(const vdit_attn_block_map *map, int64_t *blocks, double *sparsity);

// Hooks for methods that add terms to the softmax (centroid compensation, linear branches):
// each query row's online softmax starts from (m, l, acc) = (row_max, row_sum, numerator)
// instead of (-inf, 0, 0), so O = (numerator e^m' + sum_j e^(s_j) v_j) / (row_sum e^m' +
// sum_j e^(s_j)) with m' = row_max, and the returned LSE includes the extra terms. Arrays on
// the tensors' device, contiguous fp32: row_max and row_sum (B, H, Sq), numerator (B, H, Sq,
// D); row_sum = 0 means no extra term for that row. The backward treats them as constants
// (their own gradients are the method's). pv_threshold: PV-skip lambda (0 = off): the P V
// product of a (64-query group, key block) tile is skipped when every row's block max of the
// scaled scores trails its running max by more than lambda (its probabilities still count in
// the denominator).
typedef struct vdit_attn_softmax_extras {
  const float *row_max, *row_sum, *numerator; // all NULL, or all set
  float pv_threshold;
} vdit_attn_softmax_extras;

// ---------------------------------------------------------------- SpargeAttention2 masks
typedef enum vdit_attn_sparge_rule {
  VDIT_ATTN_SPARGE_TOPK = 0, // the fraction topk of key blocks with the highest pooled scores, per row
  VDIT_ATTN_SPARGE_TOPP,     // the fewest key blocks whose pooled softmax mass reaches topp, per row
  VDIT_ATTN_SPARGE_HYBRID,   // the union of both
} vdit_attn_sparge_rule;

// Per-head parameters (a tuning file holds one per head).
typedef struct vdit_attn_sparge_head {
  float theta;        // self-similarity threshold: blocks whose mean cosine to their mean is below it are always computed
  float topk, topp;   // fractions in [0, 1]
  float pv_threshold; // lambda, 0 = off
} vdit_attn_sparge_head;

// A tuning file (JSON, written by `vdit attn tune`, read by generation): per head the
// parameters that met a relative-L1 target against dense attention with the most blocks
// skipped. Format: {"method": "sparge", "rule": "hybrid", "target_rel_l1": 0.07, "heads":
// [{"theta": t, "topk": k, "topp": p, "lambda": l, "sparsity": s, "rel_l1": e}, ...]}.
typedef struct vdit_attn_sparge_tuning {
  vdit_attn_sparge_rule rule;
  double target_rel_l1;
  int64_t heads;
  vdit_attn_sparge_head *per_head; // heads entries
  double *sparsity, *rel_l1;       // heads entries: what the tuning measured
} vdit_attn_sparge_tuning;

vdit_status vdit_attn_sparge_tuning_write(const char *path, const vdit_attn_sparge_tuning *tuning);
// Allocates the arrays; release with vdit_attn_sparge_tuning_free.
vdit_status vdit_attn_sparge_tuning_read(const char *path, vdit_attn_sparge_tuning *tuning);
void vdit_attn_sparge_tuning_free(vdit_attn_sparge_tuning *tuning);

typedef struct vdit_attn_sparge_config {
  vdit_attn_sparge_rule rule;
  vdit_attn_sparge_head params;        // for every head unless per_head is set
  const vdit_attn_sparge_head *per_head; // host array of H, or NULL
  int sink;                            // always compute key block 0
  int sage;                            // 1: run the map on the SageAttention INT8 path (config.sage's
                                       // granularity and P V precision) instead of the bf16 executor
} vdit_attn_sparge_config;

// ---------------------------------------------------------------- clustered attention (SVG2, SVG-EAR)
// VDIT_ATTN_EAR and VDIT_ATTN_SVG (docs/attention.md, "Clustered attention"). Per (batch, head):
// k-means on Q and on K, tokens permuted so each cluster is contiguous, the block-sparse
// executor on 128 x 128 tiles of the permuted sequence, every skipped (query tile, key tile)
// pair replaced by centroid terms through the softmax extras, output inverse-permuted.
// Compensation is per query token q and per skipped key token j of cluster c: exp(q . kbar_c *
// scale) vbar_c (summed per cluster fragment: |fragment| exp(q . kbar_c * scale) vbar_c), with
// kbar_c, vbar_c the means of K and V over cluster c. Routing picks the exactly computed tile
// pairs: SVG per query tile by the centroid-estimated attention mass (top-p), EAR over the
// whole head by the error a probe (each query cluster's centroid against every key) measures
// for compensating the pair, per unit of cost.
// Backward: gradients of the exactly computed pairs, with the centroid terms held constant.
typedef struct vdit_attn_cluster_config {
  int32_t q_clusters, k_clusters; // 0: scaled with S: ceil(Sq / 128) and ceil(Sk / 32) (256 / 1024 at 32760)
  int32_t iterations;      // k-means iterations from the seeded start (0: 8)
  int32_t warm_iterations; // iterations when warm-starting from the previous forward's centroids (0: 1)
  int warm_start;          // reuse the plan's centroids of the previous forward (same shape)
  // Fraction of the dense work (query x key token pairs) computed exactly, in [0, 1]: 1 is
  // dense attention, 0 the centroid formula alone. < 0 (svg only): no budget, top-p routing
  // with top_p and min_fraction alone.
  float budget;
  float top_p;             // svg: cumulative mass per query tile (used when budget < 0; 0: 0.9)
  float min_fraction;      // svg: each query tile computes at least this fraction of key tiles
  uint64_t seed;           // k-means initialisation
  // CUDA plans: 0 runs the whole routing on a host copy of Q, K, V (the CPU specification);
  // 1 runs the whole routing on the GPU (k-means, fragments, scores, selection, compensation;
  // only per-head costs and counts come back)
  int gpu_routing;
} vdit_attn_cluster_config;

// The routing steps timed on the GPU (vdit_attn_cluster_stats.stage_ms).
enum {
  VDIT_ATTN_CLUSTER_STAGE_KMEANS_ASSIGN,    // centroid norms + fused assignment
  VDIT_ATTN_CLUSTER_STAGE_KMEANS_SORT,      // stable counting sort by cluster
  VDIT_ATTN_CLUSTER_STAGE_KMEANS_MEANS,     // seeding + the members' means, re-seeding
  VDIT_ATTN_CLUSTER_STAGE_PREPARE,          // V means + key fragments
  VDIT_ATTN_CLUSTER_STAGE_MASS,             // centroid scores Qbar Kbar^T + svg mass per (query cluster, key tile)
  VDIT_ATTN_CLUSTER_STAGE_PROBE_SCORES,     // ear: the one-pass probe (centroids' flash forward + tile differences) + combine
  VDIT_ATTN_CLUSTER_STAGE_PROBE_ERR,        // ear: the error per (query cluster, key tile) from the tile differences
  VDIT_ATTN_CLUSTER_STAGE_AGGREGATE,        // pair scores per query tile
  VDIT_ATTN_CLUSTER_STAGE_SELECT,           // selection + block map
  VDIT_ATTN_CLUSTER_STAGE_COMP_PREPARE,     // skipped counts + Kbar, Vbar 16-bit split
  VDIT_ATTN_CLUSTER_STAGE_COMP_G,           // the fused compensation kernel
  VDIT_ATTN_CLUSTER_STAGES
};

// What the last forward of a clustered plan did (host values).
typedef struct vdit_attn_cluster_stats {
  double budget_used;       // fraction of the dense work computed exactly
  double top_p;             // svg: the p the budget led to
  int32_t q_clusters, k_clusters, q_empty, k_empty; // clusters used, and left empty after k-means
  int64_t fragments;        // (cluster, key tile) runs compensated as units
  // tokens a cluster-aligned layout would hold (each cluster padded to whole 128-token tiles,
  // or variable boundaries on 128-wide hardware tiles) over the tokens: the compute factor
  // that packing clusters into shared tiles (this implementation) avoids
  double q_pad_factor, k_pad_factor;
  int warm;                 // the clustering was warm-started
  // host wall clock of the last forward's steps: k-means (Q and K), the rest of the routing
  // (permutation, fragments, scores, selection) and the compensation terms; on CUDA plans
  // route_seconds also holds the copies of Q, K, V to the host and of the routing back
  double kmeans_seconds, select_seconds, compensate_seconds, route_seconds;
  // CUDA plans with gpu_routing: per-step GPU time of the last forward's routing (CUDA events
  // between the launches, summed over Q and K and over the k-means iterations); stages = 1 when
  // filled. Names: vdit_attn_cluster_stage_name.
  double stage_ms[VDIT_ATTN_CLUSTER_STAGES];
  int stages;
} vdit_attn_cluster_stats;

// Name of a routing step of vdit_attn_cluster_stats.stage_ms ("kmeans_assign", ...), or NULL.
const char *vdit_attn_cluster_stage_name(int stage);
// ---------------------------------------------------------------- SLA2 sparse-linear attention
// Per (batch, head): a router scores every (query block I, key block J) pair from the blocks'
// mean-pooled q and k projected by learnable per-head matrices,
//   s_IJ = (mean_q_I Wq_h) . (mean_k_J Wk_h) / sqrt(router_dim),
// and keeps the ceil(topk * k_blocks) highest-scoring key blocks of each query block (ties to
// the lower index): the block map. The sparse branch is the executor on that map (exact
// softmax, LSE_s); the linear branch covers every key block the map leaves out:
//   O_l(i) = phi(q_i) (sum_{J not kept} H_J) / (phi(q_i) . sum_{J not kept} z_J),
//   H_J = sum_{t in J} phi(k_t)^T v_t (D x D), z_J = sum_{t in J} phi(k_t) (D),
// phi = softmax over the head dim (or elu + 1), O_l = 0 for a row whose query block keeps every
// key block. O = alpha_h O_s + (1 - alpha_h) O_l with alpha_h = sigmoid(alpha_logit[h]). The
// LSE the forward returns is the sparse branch's.
// Backward: dQ, dK, dV are the exact gradients with the map held (the router's path to Q and
// K is cut); alpha gets its exact gradient. The router learns through a relaxation of the
// Top-k: with b_IJ = s_IJ - s0_IJ (0 at the current scores s0), the keys of key block J enter
// query block I's sparse softmax with weight c_IJ = e^b if J is kept, e^b - 1 if it is left
// out, and its linear branch with weight 1 - c_IJ; at b = 0 that is exactly the forward, and
// grad_wq / grad_wk are the exact gradients of it. A left-out block thus learns what adding
// it would change (the tile's sum of P (dP - Delta) against the sparse LSE): a pass over
// every tile, about two fifths of a dense backward's work, done only when grad_wq or grad_wk
// is set (NULL both: the router is frozen).
// docs/attention.md ("SLA2") gives the formulas.
typedef enum vdit_attn_sla_feature {
  VDIT_ATTN_SLA_SOFTMAX = 0, // phi(x) = softmax(x) over the head dim
  VDIT_ATTN_SLA_ELU,         // phi(x) = elu(x) + 1
} vdit_attn_sla_feature;

typedef struct vdit_attn_sla_config {
  float topk;                    // fraction of key blocks computed exactly per query block, (0, 1]
  int32_t block;                 // tokens per block (query and key); 0: the executor's (128; CUDA needs 128)
  int32_t router_dim;            // D_r, 1..256
  vdit_attn_sla_feature feature;
  // Learnable parameters, host fp32: Wq, Wk (H, D, D_r) row-major; alpha_logit (H). NULL
  // router matrices: the identity on the first D_r dims (D_r <= D: SLA's pooled-score router);
  // NULL alpha_logit: 0 (alpha = 1/2).
  const float *router_wq, *router_wk, *alpha_logit;
  // Backward outputs, host fp32 like the parameters, overwritten (each may be NULL).
  float *grad_wq, *grad_wk, *grad_alpha_logit;
  // 1: no backward follows the forwards (inference): the GPU forward does not keep the sparse
  // branch's output for it, and vdit_attn_backward refuses the plan. 0 (default): it keeps it.
  int32_t forward_only;
  // 1: the low-bit sparse branch: the sage quantization (INT8 Q K^T, FP8 P V; config.sage's
  // options, FP8 P V and no Q-smoothing; CUDA: per-block scales) on the router's map, as
  // sparge(sage=1) runs it; the linear branch and the mix unchanged. The backward stays the
  // 16-bit one (on this forward's O_s and LSE). 0 (default): the 16-bit sparse branch.
  int32_t sage;
} vdit_attn_sla_config;

// SLA2's linear-branch feature map on one row of n values (x and y may alias).
void vdit_attn_sla_phi(vdit_attn_sla_feature feature, const float *x, int64_t n, float *y);

typedef struct vdit_attn_config {
  vdit_attn_method method;
  vdit_attn_layout layout;
  float softmax_scale;          // 0 means 1/sqrt(D)
  vdit_attn_mask mask;
  int64_t mask_block_length;    // tokens per block, for VDIT_ATTN_MASK_BLOCK_CAUSAL
  const int64_t *key_lengths;   // host array of B valid key counts (<= Sk), or NULL for all
  vdit_attn_sage_options sage;  // VDIT_ATTN_SAGE only
  const vdit_attn_block_map *block_map; // VDIT_ATTN_BLOCK: the map, on the tensors' device
  vdit_attn_softmax_extras extras;      // VDIT_ATTN_BLOCK and VDIT_ATTN_SPARGE (pv_threshold from sparge's params)
  vdit_attn_sparge_config sparge;       // VDIT_ATTN_SPARGE
  vdit_attn_cluster_config cluster;     // VDIT_ATTN_EAR, VDIT_ATTN_SVG
  vdit_attn_sla_config sla;             // VDIT_ATTN_SLA
} vdit_attn_config;

// A method with its parameters: the part of vdit_attn_config that does not depend on the
// tensors, as a model block or an attention-policy rule holds it. Text form (policies,
// `vdit generate --attn`, `vdit bench model --attn`): METHOD or METHOD(key=value,...):
//   sage:   gran=block|warp|thread, pv=fp8|half, smooth_q=0|1, split=off|auto
//   sparge: rule=topk|topp|hybrid, topk=K, topp=P, theta=T, lambda=L, sink=0|1, sage=0|1
//   sla:    topk=K, router_dim=N, feature=softmax|elu, sage=0|1 (no learned router or alpha here: the
//           pooled-score router and alpha = 1/2; learned ones go in vdit_attn_config.sla)
//   ear, svg: budget=B, q_clusters=N, k_clusters=N, iterations=N, warm_iterations=N, warm=0|1,
//             top_p=P, min_fraction=F, seed=N, gpu_routing=0|1 (svg: budget=-1 routes by top_p)
// e.g. "sparge(topk=0.1)", "sage(pv=half)", "ear(budget=0.2)". Keys not given keep
// vdit_attn_method_defaults.
typedef struct vdit_attn_method_config {
  vdit_attn_method method;
  vdit_attn_sage_options sage;      // VDIT_ATTN_SAGE
  vdit_attn_sparge_config sparge;   // VDIT_ATTN_SPARGE (per_head stays NULL here)
  vdit_attn_sla_config sla;         // VDIT_ATTN_SLA (parameter and gradient pointers stay NULL here)
  vdit_attn_cluster_config cluster; // VDIT_ATTN_EAR, VDIT_ATTN_SVG
} vdit_attn_method_config;

// The defaults of a method: sage per-block scales with FP8 P V (the zeroed options); sparge
// the Top-k rule keeping a tenth of the key blocks per row (90% sparsity), theta 0, no PV
// threshold, no sink; sla a tenth of the key blocks exact, router dim 32, softmax features; ear and svg a quarter of the dense work computed exactly (budget 0.25),
// cluster counts scaled with S. Dense and block have no parameters.
vdit_attn_method_config vdit_attn_method_defaults(vdit_attn_method method);
// Parses the text form into *config; VDIT_ERROR_INVALID_ARGUMENT with one line naming the
// fault (unknown key, a value out of range, a key the method does not have).
vdit_status vdit_attn_method_config_parse(const char *text, vdit_attn_method_config *config);
// The text form, parameters that differ from the defaults only ("sparge(topk=0.05)");
// truncated to `size`.
char *vdit_attn_method_config_describe(const vdit_attn_method_config *config, char *buffer, size_t size);
// config's method, sage and sparge fields set from `method` (the rest untouched).
void vdit_attn_config_set_method(vdit_attn_config *config, const vdit_attn_method_config *method);

typedef struct vdit_attn_shape {
  int64_t batch, heads, seq_q, seq_k, head_dim;
} vdit_attn_shape;

typedef struct vdit_attn_plan vdit_attn_plan;

// Checks the config against the tensors (shapes, dtypes, devices, layout) and prepares
// whatever the method needs. Q, K, V must share dtype and device.
vdit_status vdit_attn_plan_create(vdit_attn_plan **plan, const vdit_attn_config *config,
                                  const vdit_tensor *q, const vdit_tensor *k, const vdit_tensor *v);
void vdit_attn_plan_free(vdit_attn_plan *plan);
vdit_attn_shape vdit_attn_plan_shape(const vdit_attn_plan *plan);
float vdit_attn_plan_scale(const vdit_attn_plan *plan); // the softmax scale in use

// O (dtype of Q) and LSE (f32, (B, H, Sq)) must be allocated by the caller on Q's device.
vdit_status vdit_attn_forward(vdit_attn_plan *plan, const vdit_tensor *q, const vdit_tensor *k,
                              const vdit_tensor *v, vdit_tensor *o, vdit_tensor *lse);
// Gradients from the forward's O and LSE; dq, dk, dv like q, k, v.
vdit_status vdit_attn_backward(vdit_attn_plan *plan, const vdit_tensor *q, const vdit_tensor *k,
                               const vdit_tensor *v, const vdit_tensor *o, const vdit_tensor *lse,
                               const vdit_tensor *d_o, vdit_tensor *dq, vdit_tensor *dk, vdit_tensor *dv);

// The mask as one number: query i of batch element b attends keys [0, limit).
static inline int64_t vdit_attn_key_limit(const vdit_attn_config *config, int64_t b, int64_t i,
                                          int64_t seq_q, int64_t seq_k) {
  int64_t limit = config->key_lengths ? config->key_lengths[b] : seq_k;
  int64_t position = i + (seq_k - seq_q);
  int64_t mask_limit = seq_k;
  if (config->mask == VDIT_ATTN_MASK_CAUSAL) {
    mask_limit = position + 1;
  } else if (config->mask == VDIT_ATTN_MASK_BLOCK_CAUSAL) {
    int64_t n = config->mask_block_length;
    mask_limit = position < 0 ? 0 : (position / n + 1) * n;
  }
  if (mask_limit < limit) limit = mask_limit;
  return limit < 0 ? 0 : limit;
}

// The block map the plan's last forward used (VDIT_ATTN_BLOCK, VDIT_ATTN_SPARGE,
// VDIT_ATTN_SLA; NULL for dense or before a forward), on the plan's device. Sparge's and
// SLA2's backward reuse it (the mask is held constant through the backward).
const vdit_attn_block_map *vdit_attn_plan_block_map(const vdit_attn_plan *plan);

// VDIT_ATTN_SPARGE, VDIT_ATTN_SLA (its router): predicts the plan's block map from Q and K
// (on their device) without running attention. With the mask held
// (vdit_attn_plan_hold_mask(plan, 1)) forwards reuse the current map instead of predicting
// their own (training with a constant mask, timing the executor alone); otherwise every
// forward predicts first.
vdit_status vdit_attn_predict(vdit_attn_plan *plan, const vdit_tensor *q, const vdit_tensor *k);
void vdit_attn_plan_hold_mask(vdit_attn_plan *plan, int hold);

// VDIT_ATTN_EAR / VDIT_ATTN_SVG: what the last forward did (an error before the first).
vdit_status vdit_attn_plan_cluster_stats(const vdit_attn_plan *plan, vdit_attn_cluster_stats *stats);

const char *vdit_attn_method_name(vdit_attn_method method);
vdit_status vdit_attn_method_parse(const char *name, vdit_attn_method *method);
// "block", "warp", "thread"; "fp8", "half"; "off", "auto".
const char *vdit_attn_sage_granularity_name(vdit_attn_sage_granularity granularity);
vdit_status vdit_attn_sage_granularity_parse(const char *name, vdit_attn_sage_granularity *granularity);
const char *vdit_attn_sage_pv_name(vdit_attn_sage_pv pv);
vdit_status vdit_attn_sage_pv_parse(const char *name, vdit_attn_sage_pv *pv);
const char *vdit_attn_sage_split_name(vdit_attn_sage_split split);
vdit_status vdit_attn_sage_split_parse(const char *name, vdit_attn_sage_split *split);

#ifdef __cplusplus
}
#endif

#endif // VDIT_ATTN_H
