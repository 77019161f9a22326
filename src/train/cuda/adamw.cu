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

// Sum of squares: per-block partial sums in double (a fixed tree), then the block sums added
// on the host in block order, so the result does not depend on scheduling.
static __global__ void sum_squares_kernel(const float *x, size_t n, double *partial) {
  __shared__ double shared[256];
  double sum = 0;
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
    sum += (double)x[i] * (double)x[i];
  shared[threadIdx.x] = sum;
  __syncthreads();
  for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) shared[threadIdx.x] += shared[threadIdx.x + s];
    __syncthreads();
  }
  if (threadIdx.x == 0) partial[blockIdx.x] = shared[0];
}

extern "C" vdit_status vdit_sum_squares_cuda(const float *x, size_t n, double *sum) {
  enum { BLOCKS = 512 };
  *sum = 0;
  if (n == 0) return VDIT_OK;
  double *partial = NULL;
  VDIT_CUDA_TRY(cudaMalloc((void **)&partial, BLOCKS * sizeof(double)));
  sum_squares_kernel<<<BLOCKS, 256>>>(x, n, partial);
  double host[BLOCKS];
  cudaError_t launch = cudaGetLastError();
  cudaError_t copy = launch == cudaSuccess ? cudaMemcpy(host, partial, sizeof host, cudaMemcpyDeviceToHost) : launch;
  cudaFree(partial);
  VDIT_CUDA_TRY(copy);
  for (int i = 0; i < BLOCKS; i++) *sum += host[i];
  return VDIT_OK;
}
