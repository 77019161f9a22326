// The host side of clustered attention on CUDA (kernels in src/attn/cuda/cluster.cu). Without
// the CUDA backend every call is VDIT_ERROR_NO_DEVICE.
#include <string.h>

#include "attn/cluster.h"

vdit_status vdit_attn_cluster_route_cuda(const vdit_attn_problem *problem, vdit_attn_cluster_state *state,
                                         const vdit_tensor *q, const vdit_tensor *k, const vdit_tensor *v) {
  (void)problem, (void)q, (void)k, (void)v;
  return vdit_device_check(state->device);
}

vdit_status vdit_attn_cluster_forward_cuda(const vdit_attn_problem *problem, vdit_attn_cuda_resources *resources,
                                           vdit_attn_cluster_state *state, const vdit_tensor *q, const vdit_tensor *k,
                                           const vdit_tensor *v, vdit_tensor *o, vdit_tensor *lse) {
  (void)problem, (void)resources, (void)q, (void)k, (void)v, (void)o, (void)lse;
  return vdit_device_check(state->device);
}

vdit_status vdit_attn_cluster_backward_cuda(const vdit_attn_problem *problem, vdit_attn_cuda_resources *resources,
                                            vdit_attn_cluster_state *state, const vdit_tensor *q, const vdit_tensor *k,
                                            const vdit_tensor *v, const vdit_tensor *o, const vdit_tensor *lse,
                                            const vdit_tensor *d_o, vdit_tensor *dq, vdit_tensor *dk, vdit_tensor *dv) {
  (void)problem, (void)resources, (void)q, (void)k, (void)v, (void)o, (void)lse, (void)d_o, (void)dq, (void)dk, (void)dv;
  return vdit_device_check(state->device);
}
