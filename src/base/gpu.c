// GPU discovery through the CUDA runtime's C API; a CPU-only build reports no GPUs.
#include "vdit/base.h"

#include <stdio.h>
#include <string.h>

#ifdef VDIT_HAVE_CUDA
#include "base/cuda_check.h"
#endif

int vdit_built_with_cuda(void) {
#ifdef VDIT_HAVE_CUDA
  return 1;
#else
  return 0;
#endif
}

vdit_status vdit_gpu_count(int *count) {
  *count = 0;
#ifdef VDIT_HAVE_CUDA
  int found = 0;
  // No driver or no device is not an error for the caller: it means zero GPUs.
  if (cudaGetDeviceCount(&found) != cudaSuccess) {
    (void)cudaGetLastError();
    return VDIT_OK;
  }
  *count = found;
#endif
  return VDIT_OK;
}

vdit_status vdit_gpu_query(int index, vdit_gpu_info *info) {
  memset(info, 0, sizeof *info);
  int count = 0;
  VDIT_TRY(vdit_gpu_count(&count));
  if (index < 0 || index >= count)
    return VDIT_ERROR(VDIT_ERROR_NO_DEVICE, "no GPU with index %d (%d found)", index, count);
#ifdef VDIT_HAVE_CUDA
  struct cudaDeviceProp prop;
  VDIT_CUDA_TRY(cudaGetDeviceProperties(&prop, index));
  snprintf(info->name, sizeof info->name, "%.*s", (int)sizeof prop.name, prop.name);
  info->compute_major = prop.major;
  info->compute_minor = prop.minor;
  info->sm_count = prop.multiProcessorCount;
  info->memory_total_bytes = prop.totalGlobalMem;
  info->l2_cache_bytes = (size_t)prop.l2CacheSize;
  info->shared_memory_per_block_optin_bytes = prop.sharedMemPerBlockOptin;
  info->memory_bus_bits = prop.memoryBusWidth;
  int value = 0;
  if (cudaDeviceGetAttribute(&value, cudaDevAttrClockRate, index) == cudaSuccess) info->clock_mhz = value / 1000;
  if (cudaDeviceGetAttribute(&value, cudaDevAttrMemoryClockRate, index) == cudaSuccess)
    info->memory_clock_mhz = value / 1000;
  (void)cudaGetLastError();
  int previous = 0;
  VDIT_CUDA_TRY(cudaGetDevice(&previous));
  VDIT_CUDA_TRY(cudaSetDevice(index));
  size_t free_bytes = 0, total_bytes = 0;
  cudaError_t error = cudaMemGetInfo(&free_bytes, &total_bytes);
  VDIT_CUDA_TRY(cudaSetDevice(previous));
  VDIT_CUDA_TRY(error);
  info->memory_free_bytes = free_bytes;
#endif
  return VDIT_OK;
}
