// Clustered attention (VDIT_ATTN_EAR, VDIT_ATTN_SVG), internal: the routing state a plan keeps
// and the steps that fill it. The CPU functions (cluster_cpu.c) are the specification; the
// CUDA ones (cluster_cuda.c -> cuda/cluster.cu) perform the same steps on the GPU.
//
// Per (b, h) slice, with T = 128-token tiles of the permuted sequences:
//   1. k-means on Q (cq clusters) and on K (ck clusters): assignment = argmin_c |c|^2 - 2 x.c
//      (ties to the lower cluster), update = mean of the members in token order; an empty
//      cluster is re-seeded at a Philox-drawn token; seeded start: cluster c at token
//      floor((c + u_c) S / C) (stratified), or the previous forward's centroids (warm start).
//   2. permutation: tokens sorted by cluster (stable): perm[new position] = old token.
//   3. key fragments: the runs of one cluster inside one key tile (at most ck + k_tiles).
//   4. routing -> block map over (query tile, key tile):
//      svg: mass M_ij = mean over the query tile's tokens (by query cluster a) of
//           sum_{fragments f in key tile j} softmax_c(qbar_a . kbar_c * scale + log n_c) * n_f / n_c;
//           per query tile the key tiles by mass until the cumulative mass reaches p (at least
//           min_fraction of the key tiles); with a budget, p is bisected to the largest value
//           whose cost fits it.
//      ear: probe: each query cluster's centroid qbar_a sees every key exactly; for key tile j
//           the error of compensating it is dO_j = (N'_j - N_j - o_hat (L'_j - L_j)) / Z (N, L:
//           the tile's exact numerator and denominator for qbar_a, N', L' its fragments' centroid
//           terms, Z qbar_a's exact denominator, o_hat = sum_c softmax_c(qbar_a . kbar_c scale +
//           log n_c) vbar_c its output estimated from the centroids, so that every key tile's
//           term is independent of the others (round 18; before, o was the exact output));
//           err_ij = sum over the query
//           clusters a of tile i of (share of the tile) |dO_j|_1, plus D M_ij (the svg mass: a
//           prior for member queries peakier than their centroid). Pairs are taken by
//           err_ij / cols_j (error removed per key token of cost), descending, ties to the lower
//           pair index, while their cost fits the budget.
//   5. compensation (softmax extras, permuted order): query token q of tile i, over the
//      fragments f of key tiles not in row i: logit_f = q . kbar_c(f) * scale + log n_f;
//      row_max = max logit, row_sum = sum e^(logit - row_max), numerator = sum e^(...) vbar_c.
#ifndef VDIT_ATTN_CLUSTER_H
#define VDIT_ATTN_CLUSTER_H

#include "attn/attn_kernels.h"

enum { VDIT_ATTN_CLUSTER_TILE = 128 };

// The routing arrays of the state live on the host (`device` is the CPU) for every plan: on CUDA
// the routing runs either on the host copy of Q, K, V (the CPU specification; the GPU gets the
// permutations, the map and the extras) or, with config.gpu_routing, entirely on the GPU in the
// `gpu` part below (cuda/attn_cluster*.cu; only counts and fragment offsets come back for the
// statistics). Index arrays int32, values fp32.
typedef struct vdit_attn_cluster_gpu {
  vdit_device device;
  int32_t *q_perm, *k_perm;                 // (BH, Sq), (BH, Sk)
  float *extra_max, *extra_sum, *extra_num; // (BH, Sq), (BH, Sq), (BH, Sq, D)
  vdit_attn_block_map map, map_t;
  int map_t_ready;
  vdit_tensor q, k, v, o, lse;              // permuted, contiguous (B, H, S, D) in the plan's dtype; LSE (B, H, Sq)
  vdit_tensor d_o, dq, dk, dv;              // backward, allocated at the first backward
  float *host_qkv;                          // host fp32 (B, H, S, D) Q, K, V for the routing
  // config.gpu_routing: the routing arrays on the GPU (as in vdit_attn_cluster_state) and scratch
  // (Q, K, V are read as given: no fp32 copies since round 17)
  float *q_centroids, *k_centroids, *v_means, *norms, *mass, *err, *score;
  int32_t *q_assign, *k_assign, *q_count, *k_count, *q_offsets, *k_offsets, *frag_offsets, *frag_cluster, *frag_count;
  unsigned char *selected;
  // the GEMM steps (cuda/attn_cluster_gemm.cu): cuBLASLt handle and workspace, scratch, probe and
  // compensation arrays (vdit_attn_cuda_cluster_args)
  void *lt, *workspace;
  float *scratch, *cscore, *probe_o;
  int32_t *comp_count;
  void *select_work;                        // the GPU selection's scratch
  int32_t *sort_work;                       // k-means' counting sort: chunk histograms
  float *k_split;                           // compensation: Kbar's TF32 hi / lo parts
  float *assign_work;                       // k-means assignment: TF32 centroid tiles, padded norms
  void *marks;                              // host vdit_attn_cuda_cluster_marks: per-step CUDA events
  void *select_host;                        // pinned host: the selection's per-slice cost (bh long long) and p (bh
                                            // float), copied without a synchronize, read after the routing's last
  int have_centroids;
} vdit_attn_cluster_gpu;

typedef struct vdit_attn_cluster_state {
  vdit_device device;              // where the routing arrays live: the CPU
  vdit_device target;              // the plan's device
  vdit_attn_cluster_gpu gpu;       // CUDA plans only
  vdit_attn_method method;
  vdit_attn_cluster_config config; // defaults filled in
  int64_t bh, seq_q, seq_k, dim;
  int32_t cq, ck;                  // clusters per (b, h)
  int32_t q_tiles, k_tiles;
  int32_t max_fragments;           // per (b, h): ck + k_tiles
  int have_centroids;              // a previous forward left centroids (warm start possible)
  float *q_centroids, *k_centroids, *v_means; // (BH, cq, D), (BH, ck, D), (BH, ck, D)
  int32_t *q_assign, *k_assign;    // (BH, Sq), (BH, Sk): cluster of each original token
  int32_t *q_count, *k_count;      // (BH, cq), (BH, ck)
  int32_t *q_perm, *k_perm;        // (BH, Sq), (BH, Sk): perm[new] = old
  int32_t *frag_offsets;           // (BH, k_tiles + 1): fragments of key tile j, indices within the slice
  int32_t *frag_cluster, *frag_count; // (BH, max_fragments)
  float *pair_score;               // (BH, q_tiles, k_tiles): svg mass or ear error
  unsigned char *selected;         // (BH, q_tiles, k_tiles): 1 = computed exactly
  float *extra_max, *extra_sum, *extra_num; // (BH, Sq), (BH, Sq), (BH, Sq, D), permuted order
  vdit_attn_block_map map, map_t;  // over the permuted tiles, on `device`
  int map_t_ready;
  vdit_attn_cluster_stats stats;
  int routed;                      // a forward filled the state
} vdit_attn_cluster_state;

// The config with defaults filled in, checked (cluster counts clamped to the sequence lengths).
vdit_status vdit_attn_cluster_config_resolve(const vdit_attn_config *config, const vdit_attn_shape *shape,
                                             vdit_attn_cluster_config *out);
// CUDA part (cluster_cuda.c).
void vdit_attn_cluster_gpu_free(vdit_attn_cluster_gpu *gpu);
vdit_status vdit_attn_cluster_state_init(vdit_attn_cluster_state *state, const vdit_attn_config *config,
                                         const vdit_attn_shape *shape, vdit_device device);
void vdit_attn_cluster_state_free(vdit_attn_cluster_state *state);

// CPU: steps 1-5 on fp32 (B, H, S, D) q, k, v (original order); the state is a host state.
vdit_status vdit_attn_cluster_route_cpu(const vdit_attn_problem *problem, vdit_attn_cluster_state *state,
                                        const float *q, const float *k, const float *v);
// Step 4's selection from st->pair_score (host) into st->selected and st->map (cluster_cpu.c).
vdit_status vdit_attn_cluster_select(vdit_attn_cluster_state *state);
// CPU forward / backward (cluster_run.c) on fp32 (B, H, S, D) arrays in original order: the
// forward routes first; the backward reuses the forward's routing.
vdit_status vdit_attn_cluster_forward_cpu(const vdit_attn_problem *problem, vdit_attn_cluster_state *state, const float *q,
                                          const float *k, const float *v, float *o, float *lse);
vdit_status vdit_attn_cluster_backward_cpu(const vdit_attn_problem *problem, vdit_attn_cluster_state *state, const float *q,
                                           const float *k, const float *v, const float *o, const float *lse,
                                           const float *d_o, float *dq, float *dk, float *dv);
// CUDA: the same on the tensors (device state).
vdit_status vdit_attn_cluster_route_cuda(const vdit_attn_problem *problem, vdit_attn_cluster_state *state,
                                         const vdit_tensor *q, const vdit_tensor *k, const vdit_tensor *v);
// CUDA forward / backward of the clustered method after routing: permute, executor, inverse permute.
vdit_status vdit_attn_cluster_forward_cuda(const vdit_attn_problem *problem, vdit_attn_cuda_resources *resources,
                                           vdit_attn_cluster_state *state, const vdit_tensor *q, const vdit_tensor *k,
                                           const vdit_tensor *v, vdit_tensor *o, vdit_tensor *lse);
vdit_status vdit_attn_cluster_backward_cuda(const vdit_attn_problem *problem, vdit_attn_cuda_resources *resources,
                                            vdit_attn_cluster_state *state, const vdit_tensor *q, const vdit_tensor *k,
                                            const vdit_tensor *v, const vdit_tensor *o, const vdit_tensor *lse,
                                            const vdit_tensor *d_o, vdit_tensor *dq, vdit_tensor *dk, vdit_tensor *dv);

// The plan's state (attn.c), or NULL for other methods.
const vdit_attn_cluster_state *vdit_attn_plan_cluster_state(const vdit_attn_plan *plan);

// stats.q_pad_factor, k_pad_factor from the host counts.
void vdit_attn_cluster_pad_factors(vdit_attn_cluster_state *state);

// The map the last forward ran on, on the plan's device (NULL before a forward).
const vdit_attn_block_map *vdit_attn_cluster_map(const vdit_attn_cluster_state *state);

// Host copies of what the checks need from a state: permutations, key
// assignment and the map. Arrays malloc'ed; free with vdit_attn_cluster_routing_free.
typedef struct vdit_attn_cluster_routing {
  int64_t bh, seq_q, seq_k;
  int32_t *q_perm, *k_perm, *k_assign;
  vdit_attn_block_map map; // host
} vdit_attn_cluster_routing;
vdit_status vdit_attn_cluster_routing_get(const vdit_attn_cluster_state *state, vdit_attn_cluster_routing *routing);
void vdit_attn_cluster_routing_free(vdit_attn_cluster_routing *routing);

// fp64 reference of the clustered method for a given routing (cluster_reference.c): query i
// sees key j exactly when (tile of i's permuted position, tile of j's) is in the map, every
// other key j through exp(q_i . kbar_c(j) scale) vbar_c(j), with kbar, vbar the fp64 means of
// K and V over j's cluster. routing NULL with all_centroid = 1: every key through its
// centroid (the centroid formula; needs routing for the assignment, so routing is required and
// all_centroid ignores the map). Backward: gradients of the exact pairs, centroid terms constant.
vdit_status vdit_attn_cluster_reference_forward(const vdit_attn_problem *problem, const vdit_attn_cluster_routing *routing,
                                                int all_centroid, const double *q, const double *k, const double *v,
                                                double *o, double *lse);
vdit_status vdit_attn_cluster_reference_backward(const vdit_attn_problem *problem, const vdit_attn_cluster_routing *routing,
                                                 const double *q, const double *k, const double *v, const double *o,
                                                 const double *lse, const double *d_o, double *dq, double *dk, double *dv);

#endif
