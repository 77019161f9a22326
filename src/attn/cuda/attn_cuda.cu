// The two CUDA entry points of dense attention: check the parameters, pick the wgmma path
// (D = 64/128, aligned) or the generic mma.sync path, and run the launches in order on one
// stream. See attn_cuda.h for the contract.
#include "attn/cuda/attn_cuda.h"

#include "base/cuda_check.h"

static size_t align256(size_t n) { return (n + 255) & ~(size_t)255; }

extern "C" size_t vdit_attn_cuda_backward_workspace_bytes(int64_t batch, int64_t heads, int64_t seq_q, int64_t head_dim) {
  const size_t rows = (size_t)batch * (size_t)heads * (size_t)seq_q;
  const size_t dpad = (size_t)vdit_attn_cuda_padded_head_dim((int)head_dim);
  const size_t bytes = align256(rows * sizeof(float)) + align256(rows * dpad * sizeof(float));
  return bytes > 0 ? bytes : 256; // never 0, so an empty problem still has a valid pointer
}

static vdit_status check_params(const vdit_attn_cuda_params *p, const char *function) {
  if (p->dtype != VDIT_DTYPE_BF16 && p->dtype != VDIT_DTYPE_F16)
    return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "%s: dtype %s (bf16 or f16 on CUDA)", function, vdit_dtype_name(p->dtype));
  if (p->B < 0 || p->H < 0 || p->Sq < 0 || p->Sk < 0 || p->B > 65535 || p->H > 65535)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: B=%d H=%d Sq=%d Sk=%d outside the launch limits (B, H <= 65535)",
                      function, p->B, p->H, p->Sq, p->Sk);
  if (p->D < 1 || p->D > 256)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: head dim %d outside 1..256", function, p->D);
  if (!(p->scale > 0.0f)) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: softmax scale must be > 0", function);
  if (p->mask != VDIT_ATTN_MASK_NONE && p->mask != VDIT_ATTN_MASK_CAUSAL && p->mask != VDIT_ATTN_MASK_BLOCK_CAUSAL)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: invalid mask %d", function, (int)p->mask);
  if (p->mask == VDIT_ATTN_MASK_BLOCK_CAUSAL && p->block_len <= 0)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: block-causal mask needs a block length > 0", function);
  return VDIT_OK;
}

extern "C" vdit_status vdit_attn_cuda_forward(const vdit_attn_cuda_params *p, cudaStream_t stream) {
  VDIT_TRY(check_params(p, "vdit_attn_cuda_forward"));
  if (p->B == 0 || p->H == 0 || p->Sq == 0) return VDIT_OK;
  const int sparse = p->map_offsets || p->extra_sum || p->pv_threshold > 0.0f;
  if (sparse && !vdit_attn_cuda_forward_wgmma_fits(p))
    return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "vdit_attn_cuda_forward: the block-sparse executor needs the wgmma path "
                                              "(D = 64 or 128, 16-byte aligned tensors with strides a multiple of 8)");
  if (p->lin_hc && !vdit_attn_cuda_forward_tma_fits(p))
    return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "vdit_attn_cuda_forward: SLA2's linear epilogue needs the TMA path (D = 128)");
  if (vdit_attn_cuda_forward_wgmma_fits(p)) VDIT_CUDA_TRY(vdit_attn_cuda_forward_wgmma(p, stream));
  else VDIT_CUDA_TRY(vdit_attn_cuda_forward_mma(p, stream));
  VDIT_CUDA_TRY_LAUNCH();
  return VDIT_OK;
}

extern "C" vdit_status vdit_attn_cuda_backward(const vdit_attn_cuda_params *p, cudaStream_t stream) {
  VDIT_TRY(check_params(p, "vdit_attn_cuda_backward"));
  if (!p->workspace || (uintptr_t)p->workspace % 256)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_attn_cuda_backward: workspace missing or not 256-byte aligned");
  if (p->B == 0 || p->H == 0) return VDIT_OK;
  // workspace: Delta (rows fp32), then the dQ accumulator (rows x dpad fp32)
  const size_t rows = (size_t)p->B * (size_t)p->H * (size_t)p->Sq;
  const int dpad = vdit_attn_cuda_padded_head_dim(p->D);
  float *delta = (float *)p->workspace;
  float *dq_acc = (float *)((char *)p->workspace + align256(rows * sizeof(float)));
  if (p->mapt_offsets && !vdit_attn_cuda_backward_wgmma_fits(p))
    return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "vdit_attn_cuda_backward: the block-sparse executor needs the wgmma path "
                                              "(D = 64 or 128, 16-byte aligned tensors with strides a multiple of 8)");
  VDIT_CUDA_TRY(vdit_attn_cuda_backward_preprocess(p, delta, dq_acc, dpad, stream));
  if (vdit_attn_cuda_backward_wgmma_fits(p)) VDIT_CUDA_TRY(vdit_attn_cuda_backward_wgmma(p, delta, dq_acc, stream));
  else VDIT_CUDA_TRY(vdit_attn_cuda_backward_mma(p, delta, dq_acc, dpad, stream));
  VDIT_CUDA_TRY(vdit_attn_cuda_backward_dq(p, dq_acc, dpad, stream));
  VDIT_CUDA_TRY_LAUNCH();
  return VDIT_OK;
}
