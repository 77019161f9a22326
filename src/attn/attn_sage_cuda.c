// The CUDA side of a sage attention plan: the quantization workspace (kept by the plan,
// allocated at the first forward) and the launch of src/attn/cuda/attn_sage_forward.cu on the
// tensors' memory. The backward runs the dense bf16/fp16 wgmma kernels on the sage forward's
// O and LSE (the LSE is the unsmoothed one, so the dense backward applies unchanged); the
// SageBwd INT8 backward exists as the CPU emulation only (docs/attention.md says why).
#include "attn/attn_kernels.h"

#ifdef VDIT_HAVE_CUDA
#include "attn/cuda/attn_sage_cuda.h"
#endif

vdit_status vdit_attn_cuda_sage_forward(const vdit_attn_problem *problem, vdit_attn_cuda_resources *r,
                                        const vdit_tensor *q, const vdit_tensor *k, const vdit_tensor *v, vdit_tensor *o,
                                        vdit_tensor *lse) {
#ifdef VDIT_HAVE_CUDA
  VDIT_TRY(vdit_attn_cuda_check_lse(lse, r->device));
  if (problem->config.sage.smooth_q)
    return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "sage attention on CUDA: Q-smoothing runs on the CPU only");
  vdit_attn_sage_cuda_params sp;
  vdit_attn_cuda_params_init(&sp.base, problem, r, q, k, v, o, lse);
  if (!vdit_attn_sage_cuda_fits(&sp.base))
    return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED,
                      "sage attention on CUDA: needs head dim 128, 16-byte aligned tensors and strides in multiples of 8 "
                      "(D = %lld)", (long long)problem->shape.head_dim);
  const vdit_attn_shape s = problem->shape;
  if (!r->sage_workspace) {
    size_t bytes = vdit_attn_sage_cuda_workspace_bytes(s.batch, s.heads, s.seq_q, s.seq_k, s.head_dim);
    VDIT_TRY(vdit_device_alloc(r->device, bytes, &r->sage_workspace));
    r->sage_workspace_bytes = bytes;
  }
  sp.granularity = (int)problem->config.sage.granularity;
  sp.pv_fp8 = problem->config.sage.pv == VDIT_ATTN_SAGE_PV_FP8;
  sp.workspace = r->sage_workspace;
  int previous = 0;
  VDIT_TRY(vdit_attn_cuda_device_enter(r->device, &previous));
  return vdit_attn_cuda_device_leave(previous, vdit_attn_sage_cuda_forward(&sp, 0));
#else
  (void)problem, (void)q, (void)k, (void)v, (void)o, (void)lse;
  return vdit_device_check(r->device);
#endif
}

vdit_status vdit_attn_cuda_sage_backward(const vdit_attn_problem *problem, vdit_attn_cuda_resources *r,
                                         const vdit_tensor *q, const vdit_tensor *k, const vdit_tensor *v,
                                         const vdit_tensor *o, const vdit_tensor *lse, const vdit_tensor *d_o,
                                         vdit_tensor *dq, vdit_tensor *dk, vdit_tensor *dv) {
  return vdit_attn_cuda_dense_backward(problem, r, q, k, v, o, lse, d_o, dq, dk, dv);
}
