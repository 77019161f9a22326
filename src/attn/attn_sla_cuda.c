// The host side of SLA2 on CUDA (kernels in src/attn/cuda/sla_cuda.cu): device buffers,
// parameter uploads, and the sequence of launches of the forward and the backward. Without
// the CUDA backend every call is VDIT_ERROR_NO_DEVICE.
#include <stdlib.h>
#include <string.h>

#include "attn/attn_kernels.h"

#ifdef VDIT_HAVE_CUDA
#include "attn/cuda/sla_cuda.h"
#include "base/cuda_check.h"
#endif

void vdit_attn_sla_cuda_free(vdit_attn_sla_cuda *c) {
  vdit_device_free(c->device, c->params);
  vdit_device_free(c->device, c->o_s);
  vdit_device_free(c->device, c->router);
  vdit_device_free(c->device, c->linear);
  vdit_device_free(c->device, c->backward);
  memset(c, 0, sizeof *c);
}

#ifndef VDIT_HAVE_CUDA
vdit_status vdit_attn_sla_cuda_init(vdit_attn_sla_cuda *c, const vdit_attn_problem *problem, const vdit_attn_sla_weights *w,
                                    vdit_dtype dtype, vdit_device device) {
  (void)problem, (void)w, (void)dtype;
  memset(c, 0, sizeof *c);
  c->device = device;
  return vdit_device_check(device);
}
vdit_status vdit_attn_sla_cuda_route(vdit_attn_sla_cuda *c, const vdit_attn_problem *problem, const vdit_attn_sla_weights *w,
                                     const vdit_tensor *q, const vdit_tensor *k, vdit_attn_block_map *map) {
  (void)problem, (void)w, (void)q, (void)k, (void)map;
  return vdit_device_check(c->device);
}
vdit_status vdit_attn_sla_cuda_forward(vdit_attn_sla_cuda *c, const vdit_attn_problem *problem, vdit_attn_cuda_resources *r,
                                       const vdit_attn_sla_weights *w, const vdit_tensor *q, const vdit_tensor *k,
                                       const vdit_tensor *v, vdit_tensor *o, vdit_tensor *lse) {
  (void)problem, (void)r, (void)w, (void)q, (void)k, (void)v, (void)o, (void)lse;
  return vdit_device_check(c->device);
}
vdit_status vdit_attn_sla_cuda_backward(vdit_attn_sla_cuda *c, const vdit_attn_problem *problem, vdit_attn_cuda_resources *r,
                                        const vdit_attn_sla_weights *w, const vdit_tensor *q, const vdit_tensor *k,
                                        const vdit_tensor *v, const vdit_tensor *lse, const vdit_tensor *d_o,
                                        vdit_tensor *dq, vdit_tensor *dk, vdit_tensor *dv, float *g_wq, float *g_wk,
                                        float *g_logit) {
  (void)problem, (void)r, (void)w, (void)q, (void)k, (void)v, (void)lse, (void)d_o, (void)dq, (void)dk, (void)dv;
  (void)g_wq, (void)g_wk, (void)g_logit;
  return vdit_device_check(c->device);
}
#endif
