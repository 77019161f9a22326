// The CUDA side of a sage attention plan (placeholder until the kernels land).
#include "attn/attn_kernels.h"

vdit_status vdit_attn_cuda_sage_forward(const vdit_attn_problem *problem, vdit_attn_cuda_resources *r,
                                        const vdit_tensor *q, const vdit_tensor *k, const vdit_tensor *v, vdit_tensor *o,
                                        vdit_tensor *lse) {
  (void)problem, (void)q, (void)k, (void)v, (void)o, (void)lse;
  VDIT_TRY(vdit_device_check(r->device));
  return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "sage attention: no CUDA kernels yet");
}

vdit_status vdit_attn_cuda_sage_backward(const vdit_attn_problem *problem, vdit_attn_cuda_resources *r,
                                         const vdit_tensor *q, const vdit_tensor *k, const vdit_tensor *v,
                                         const vdit_tensor *o, const vdit_tensor *lse, const vdit_tensor *d_o,
                                         vdit_tensor *dq, vdit_tensor *dk, vdit_tensor *dv) {
  (void)problem, (void)q, (void)k, (void)v, (void)o, (void)lse, (void)d_o, (void)dq, (void)dk, (void)dv;
  VDIT_TRY(vdit_device_check(r->device));
  return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "sage attention: no CUDA kernels yet");
}
