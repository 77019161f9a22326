// Checked CUDA runtime calls for host code (C or CUDA): a failure becomes a vdit_status
// with the call, file and line in the message.
#ifndef VDIT_CUDA_CHECK_H
#define VDIT_CUDA_CHECK_H

#ifdef VDIT_HAVE_CUDA
#include <cuda_runtime_api.h>

#include "vdit/base.h"

#define VDIT_CUDA_TRY(call)                                                            \
  do {                                                                                 \
    cudaError_t vdit_cuda_error_ = (call);                                             \
    if (vdit_cuda_error_ != cudaSuccess)                                               \
      return vdit_error_set(VDIT_ERROR_CUDA, __FILE__, __LINE__, "%s:%d: %s failed: %s", \
                            __FILE__, __LINE__, #call, cudaGetErrorString(vdit_cuda_error_)); \
  } while (0)

// After a kernel launch: launch-configuration errors and, in debug builds, execution errors.
#ifdef NDEBUG
#define VDIT_CUDA_TRY_LAUNCH() VDIT_CUDA_TRY(cudaGetLastError())
#else
#define VDIT_CUDA_TRY_LAUNCH()           \
  do {                                   \
    VDIT_CUDA_TRY(cudaGetLastError());   \
    VDIT_CUDA_TRY(cudaDeviceSynchronize()); \
  } while (0)
#endif

#endif // VDIT_HAVE_CUDA
#endif // VDIT_CUDA_CHECK_H
