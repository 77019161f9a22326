// `vdit attn check` and `vdit attn bench`. The check runs an attention method forward and backward on synthetic inputs and
// compares O, LSE, dQ, dK, dV with the fp64 reference of the same (dtype-rounded) inputs.
// Shared by the command line and the tests, so every method is checked the same way.
#ifndef VDIT_ATTN_CHECK_H
#define VDIT_ATTN_CHECK_H

#include "attn/attn_inputs.h"
#include "vdit/attn.h"

typedef struct vdit_attn_check_spec {
  vdit_attn_config config;  // key_lengths may point at shape.batch values
  vdit_attn_shape shape;
  vdit_dtype dtype;         // of Q, K, V, O and the gradients
  vdit_device device;
  vdit_attn_inputs inputs;
  uint64_t seed;
  int backward;             // also run and compare the backward
  // Given inputs instead of synthetic ones (e.g. vdit_attn_inputs_read): (B, H, S, D) fp32 of
  // `shape`, or NULL. They are rounded to `dtype` like synthetic ones.
  const float *given_q, *given_k, *given_v;
  // Sparse methods. sparge: target fraction of skipped blocks (>= 0 calibrates config.sparge's
  // topk / topp on these inputs with the CPU prediction, see vdit_attn_sparge_calibrate; < 0
  // keeps them). block: the harness draws a map keeping each block with probability
  // block_density (Philox), and empties every query block i with i % 4 == 3.
  double target_sparsity;
  double block_density;
  int compare_dense; // bench: also run dense attention once and compare O (timing.o_rel_l1, o_psnr)
  // SLA2 bench: 1 times the backward without the router's gradient (router frozen: dQ, dK,
  // dV and alpha only); 0 (default) with every gradient, as router training needs.
  int sla_freeze_router;
} vdit_attn_check_spec;

// Tolerances a method must meet for one dtype (relative to the reference's magnitude).
typedef struct vdit_attn_tolerance {
  double rel_l1, min_cos, max_err;
} vdit_attn_tolerance;

typedef struct vdit_attn_check_result {
  vdit_error_stats o, lse, dq, dk, dv;
  vdit_attn_tolerance forward_tolerance, backward_tolerance;
  int passed;               // every compared tensor within its tolerance, nothing unwritten
  // Sparse methods: o, lse, dq, dk, dv above compare with the fp64 reference restricted to
  // the method's block map (the executor's exactness); o_dense compares O with full dense
  // attention (the method's quality). On CUDA the sparge masks are compared with the CPU's
  // prediction on the same inputs, block for block.
  vdit_error_stats o_dense;
  double sparsity;          // fraction of blocks skipped
  vdit_attn_sparge_head sparge_params; // after calibration
  int masks_compared, masks_identical;
  int64_t mask_rows_differing;
  // SLA2: the parameter gradients (router matrices, alpha logits) against the fp64 reference on
  // the same map, and the reference's own gradients against central finite differences of its
  // relaxed forward (fd_checked entries of Wq, Wk, alpha logits, Q, K and V; fd_max_rel the worst
  // |analytic - fd| / (|fd| + 1e-6 max|fd|); done when B H Sq Sk D <= 2^24).
  vdit_error_stats d_wq, d_wk, d_alpha;
  int fd_checked;
  double fd_max_rel;
  double forward_seconds, backward_seconds;
  // Clustered methods (ear, svg): o, lse and the gradients above compare with the fp64
  // reference of the method on its own routing (exact pairs exact, every other key through its
  // cluster's means); o_centroid compares O with the centroid formula alone (every key through
  // its cluster's means); on CUDA the same check also runs on the CPU and cpu_o_dense is the
  // CPU's O against dense (the two must agree: |gpu - cpu| <= 0.1 cpu + rel_l1 tolerance).
  vdit_error_stats o_centroid, cpu_o_dense;
  vdit_attn_cluster_stats cluster;
  int cpu_compared, cpu_agrees;
} vdit_attn_check_result;

vdit_attn_tolerance vdit_attn_check_tolerance(vdit_attn_method method, vdit_dtype dtype, int backward);
vdit_status vdit_attn_check_run(const vdit_attn_check_spec *spec, vdit_attn_check_result *result);

// Median seconds of `repeat` forward and backward runs after `warmup` runs, on the spec's
// inputs. On the CPU a host clock around each run; on a GPU CUDA events on the default stream
// after a device synchronize, with L2 flushed before each run when the problem's tensors would
// fit in twice its size.
// Sparge: forward_seconds is the executor alone on a held mask, mask_seconds the prediction
// (vdit_attn_predict), sparsity the fraction of blocks the mask skips. Clustered methods:
// forward_seconds is the whole forward (clustering, routing, compensation, executor);
// budget_used what it computed exactly. SLA2: forward_seconds
// includes the router (every forward routes) and the linear branch, backward_seconds every
// gradient (Q, K, V, router matrices, alpha), mask_seconds the router alone.
typedef struct vdit_attn_timing {
  double forward_seconds, backward_seconds, mask_seconds;
  double sparsity;
  vdit_attn_cluster_stats cluster;
  double o_rel_l1, o_psnr; // compare_dense: O of the last timed forward against dense attention on the same device
  // SLA2 on CUDA: per-kernel medians over `repeat` further forwards (CUDA events between the
  // launches): pool, topk, sparse branch, prepare, totals, out, whole forward (ms)
  double sla_stage_ms[7];
  int sla_stages;    // sla_stage_ms is filled
  int device_events; // timed with CUDA events
  int flushed_l2;    // L2 flushed before each run
} vdit_attn_timing;

vdit_status vdit_attn_bench_run(const vdit_attn_check_spec *spec, int warmup, int repeat, vdit_attn_timing *timing);

#endif
