// AdamW and EMA over device buffers: one thread per element (grid-stride), the arithmetic of
// src/train/adamw_element.h, so a GPU step gives the CPU's bits.
#include "base/cuda_check.h"
#include "train/adamw_element.h"

static __global__ void adamw_kernel(float *params, const float *grads, float *m, float *v, size_t n,
                                    train_adamw_constants k) {
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
    train_adamw_element(&params[i], grads[i], &m[i], &v[i], &k);
}

static __global__ void ema_kernel(float *ema, const float *params, size_t n, float a, float b) {
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
    ema[i] = train_ema_element(ema[i], params[i], a, b);
}

static unsigned grid_for(size_t n) {
  size_t blocks = (n + 255) / 256;
  return (unsigned)(blocks < 65536 ? (blocks ? blocks : 1) : 65536);
}

extern "C" vdit_status vdit_adamw_update_cuda(float *params, const float *grads, float *m, float *v, size_t n,
                                              int64_t step, double lr, double grad_scale,
                                              const vdit_adamw_config *config, void *stream) {
  if (!config || step < 1) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_adamw_update_cuda: bad arguments");
  if (n == 0) return VDIT_OK;
  const train_adamw_constants k = train_adamw_constants_make(step, lr, grad_scale, config);
  adamw_kernel<<<grid_for(n), 256, 0, (cudaStream_t)stream>>>(params, grads, m, v, n, k);
  VDIT_CUDA_TRY_LAUNCH();
  return VDIT_OK;
}

extern "C" vdit_status vdit_ema_update_cuda(float *ema, const float *params, size_t n, double decay, void *stream) {
  if (n == 0) return VDIT_OK;
  ema_kernel<<<grid_for(n), 256, 0, (cudaStream_t)stream>>>(ema, params, n, (float)decay, (float)(1.0 - decay));
  VDIT_CUDA_TRY_LAUNCH();
  return VDIT_OK;
}
