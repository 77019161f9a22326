// Clustered attention (ear, svg) on a GPU: the routing runs on the host (the CPU
// specification), the GPU gathers Q, K, V into cluster order, runs the block-sparse executor
// with the compensation extras and scatters the results back. Checked per case:
//  1. O, LSE, dQ, dK, dV against the fp64 reference on the routing the GPU executed;
//  2. the CPU on the same inputs reaches the same error against dense (vdit_attn_check_run
//     compares them on CUDA: |gpu - cpu| <= 0.1 cpu + tolerance);
//  3. the whole budget gives dense attention, a zero budget the centroid formula.
// Each case runs with the routing on the host and with config.gpu_routing (k-means, scores and
// compensation on the GPU); with the GPU routing also 150 / 200 key clusters (several 64-centroid
// steps of the fused compensation).
// Skips (exit 77) without the CUDA backend or without a GPU.
#include <string.h>

#include "attn/attn_check.h"
#include "check.h"
#include "vdit/vdit.h"

#define TEST_NAME "test_attn_cluster_gpu"

#ifdef VDIT_HAVE_CUDA
static void run_case(vdit_attn_method method, vdit_attn_shape shape, float budget, vdit_dtype dtype,
                     vdit_attn_layout layout, uint64_t seed, int gpu_routing, int k_clusters) {
  vdit_attn_check_spec spec;
  memset(&spec, 0, sizeof spec);
  spec.config.method = method;
  spec.config.layout = layout;
  spec.config.cluster.budget = budget;
  spec.config.cluster.gpu_routing = gpu_routing;
  spec.config.cluster.k_clusters = k_clusters;
  spec.shape = shape;
  spec.dtype = dtype;
  spec.device = VDIT_CUDA(0);
  spec.inputs = VDIT_ATTN_INPUTS_VIDEO_HEADS;
  spec.seed = seed;
  spec.backward = 1;
  spec.target_sparsity = -1;
  vdit_attn_check_result r;
  vdit_status status = vdit_attn_check_run(&spec, &r);
  CHECK_OK(status);
  if (status != VDIT_OK) return;
  CHECK(r.cpu_compared);
  if (!r.passed)
    CHECK_FAIL_("%s%s budget %.3g S=%lld D=%lld: o %.3g lse %.3g dq %.3g dk %.3g dv %.3g; vs dense gpu %.4g cpu %.4g",
                vdit_attn_method_name(method), gpu_routing ? " (gpu routing)" : "", (double)budget, (long long)shape.seq_q, (long long)shape.head_dim,
                r.o.rel_l1, r.lse.max_err, r.dq.rel_l1, r.dk.rel_l1, r.dv.rel_l1, r.o_dense.rel_l1, r.cpu_o_dense.rel_l1);
  if (budget == 0.0f) CHECK(r.o_centroid.rel_l1 < 1e-2);
}
#endif

int main(void) {
#ifndef VDIT_HAVE_CUDA
  return check_skip(TEST_NAME, "built without CUDA");
#else
  int count = 0;
  if (vdit_gpu_count(&count) != VDIT_OK || count == 0) return check_skip(TEST_NAME, "no CUDA GPU");
  const vdit_attn_method methods[] = {VDIT_ATTN_EAR, VDIT_ATTN_SVG};
  const float budgets[] = {0.0f, 0.3f, 1.0f};
  for (int m = 0; m < 2; m++)
    for (int b = 0; b < 3; b++)
      for (int gpu_routing = 0; gpu_routing < 2; gpu_routing++) {
        run_case(methods[m], (vdit_attn_shape){1, 2, 1024, 1024, 128}, budgets[b], VDIT_DTYPE_BF16, VDIT_ATTN_LAYOUT_BSHD,
                 70 + b, gpu_routing, 0);
        run_case(methods[m], (vdit_attn_shape){2, 2, 700, 900, 64}, budgets[b], VDIT_DTYPE_F16, VDIT_ATTN_LAYOUT_BHSD,
                 80 + b, gpu_routing, 0);
      }
  // more key clusters than one 64-centroid step of the fused compensation (its online max and
  // rescaling across steps), both 16-bit types, with the GPU routing
  for (int b = 0; b < 2; b++) {
    run_case(VDIT_ATTN_EAR, (vdit_attn_shape){1, 2, 1024, 1024, 128}, budgets[b], VDIT_DTYPE_BF16, VDIT_ATTN_LAYOUT_BSHD,
             90 + b, 1, 200);
    run_case(VDIT_ATTN_SVG, (vdit_attn_shape){2, 1, 700, 900, 64}, budgets[b], VDIT_DTYPE_F16, VDIT_ATTN_LAYOUT_BHSD,
             92 + b, 1, 150);
  }
  return check_finish(TEST_NAME);
#endif
}
