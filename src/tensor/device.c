// Device selection and raw memory on the CPU or a CUDA GPU: allocation, copies, synchronize.
// Without the CUDA backend every CUDA request is VDIT_ERROR_NO_DEVICE with a hint.
#include <stdio.h>
#include <string.h>

#include "tensor/tensor_internal.h"
#include "vdit/tensor.h"

#ifdef VDIT_HAVE_CUDA
#include "base/cuda_check.h"
#endif

char *vdit_device_string(vdit_device device, char *buffer, size_t size) {
  if (size == 0) return buffer;
  if (device.type == VDIT_DEVICE_CPU)
    snprintf(buffer, size, "cpu");
  else if (device.type == VDIT_DEVICE_CUDA)
    snprintf(buffer, size, "cuda:%d", device.index);
  else
    snprintf(buffer, size, "device-type-%d", (int)device.type);
  return buffer;
}

int vdit_device_equal(vdit_device a, vdit_device b) {
  if (a.type != b.type) return 0;
  return a.type == VDIT_DEVICE_CPU || a.index == b.index;
}

vdit_status vdit_device_check(vdit_device device) {
  if (device.type == VDIT_DEVICE_CPU) return VDIT_OK;
  if (device.type != VDIT_DEVICE_CUDA)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "unknown device type %d (cpu or cuda)", (int)device.type);
#ifndef VDIT_HAVE_CUDA
  return VDIT_ERROR(VDIT_ERROR_NO_DEVICE,
                    "cuda:%d requested but vdit was built without CUDA (rebuild with nvcc on PATH and -DVDIT_CUDA=ON)",
                    device.index);
#else
  int count = 0;
  VDIT_TRY(vdit_gpu_count(&count));
  if (count == 0)
    return VDIT_ERROR(VDIT_ERROR_NO_DEVICE, "cuda:%d requested but no CUDA GPU found (check nvidia-smi and the driver)",
                      device.index);
  if (device.index < 0 || device.index >= count)
    return VDIT_ERROR(VDIT_ERROR_NO_DEVICE, "no GPU with index %d (%d found: cuda:0..cuda:%d)", device.index, count,
                      count - 1);
  return VDIT_OK;
#endif
}

#ifdef VDIT_HAVE_CUDA
vdit_status vdit_cuda_device_enter(vdit_device device, int *previous) {
  VDIT_CUDA_TRY(cudaGetDevice(previous));
  if (*previous != device.index) VDIT_CUDA_TRY(cudaSetDevice(device.index));
  return VDIT_OK;
}

vdit_status vdit_cuda_device_leave(int previous, vdit_status status) {
  int current = -1;
  cudaError_t error = cudaGetDevice(&current);
  if (error == cudaSuccess && current != previous) error = cudaSetDevice(previous);
  if (status != VDIT_OK) return status;
  if (error != cudaSuccess)
    return VDIT_ERROR(VDIT_ERROR_CUDA, "cannot restore the current GPU to %d: %s", previous, cudaGetErrorString(error));
  return VDIT_OK;
}
#endif

vdit_status vdit_device_alloc(vdit_device device, size_t bytes, void **ptr) {
  if (ptr == NULL) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_device_alloc: ptr is NULL");
  *ptr = NULL;
  VDIT_TRY(vdit_device_check(device));
  if (bytes == 0) return VDIT_OK;
  if (device.type == VDIT_DEVICE_CPU) {
    *ptr = vdit_host_alloc(bytes, VDIT_HOST_ALIGNMENT);
    return *ptr ? VDIT_OK : VDIT_ERROR_OUT_OF_MEMORY; // vdit_host_alloc wrote the message
  }
#ifdef VDIT_HAVE_CUDA
  int previous = 0;
  VDIT_TRY(vdit_cuda_device_enter(device, &previous));
  void *pointer = NULL;
  cudaError_t error = cudaMalloc(&pointer, bytes);
  vdit_status status = VDIT_OK;
  if (error == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();
    size_t free_bytes = 0, total_bytes = 0;
    if (cudaMemGetInfo(&free_bytes, &total_bytes) != cudaSuccess) (void)cudaGetLastError();
    status = VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "cannot allocate %zu bytes on cuda:%d (%zu MiB free of %zu MiB)",
                        bytes, device.index, free_bytes >> 20, total_bytes >> 20);
  } else if (error != cudaSuccess) {
    status = VDIT_ERROR(VDIT_ERROR_CUDA, "cudaMalloc(%zu bytes) on cuda:%d failed: %s", bytes, device.index,
                        cudaGetErrorString(error));
  } else {
    *ptr = pointer;
  }
  return vdit_cuda_device_leave(previous, status);
#else
  return VDIT_ERROR(VDIT_ERROR_INTERNAL, "vdit_device_alloc: unreachable");
#endif
}

void vdit_device_free(vdit_device device, void *ptr) {
  if (ptr == NULL) return;
  if (device.type == VDIT_DEVICE_CPU) {
    vdit_host_free(ptr);
    return;
  }
#ifdef VDIT_HAVE_CUDA
  int previous = 0;
  if (vdit_cuda_device_enter(device, &previous) != VDIT_OK) {
    vdit_log(VDIT_LOG_WARN, "vdit_device_free: %s", vdit_last_error());
    return;
  }
  cudaError_t error = cudaFree(ptr);
  if (error != cudaSuccess) vdit_log(VDIT_LOG_WARN, "cudaFree on cuda:%d failed: %s", device.index, cudaGetErrorString(error));
  (void)vdit_cuda_device_leave(previous, VDIT_OK);
#endif
}

vdit_status vdit_memcpy(vdit_device dst_device, void *dst, vdit_device src_device, const void *src, size_t bytes) {
  if (bytes == 0) return VDIT_OK;
  if (dst == NULL || src == NULL)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_memcpy: %s pointer is NULL for %zu bytes",
                      dst == NULL ? "dst" : "src", bytes);
  VDIT_TRY(vdit_device_check(dst_device));
  VDIT_TRY(vdit_device_check(src_device));
  if (dst_device.type == VDIT_DEVICE_CPU && src_device.type == VDIT_DEVICE_CPU) {
    memmove(dst, src, bytes);
    return VDIT_OK;
  }
#ifdef VDIT_HAVE_CUDA
  // The GPU side decides the current device (dst for host->device and device->device).
  vdit_device active = dst_device.type == VDIT_DEVICE_CUDA ? dst_device : src_device;
  int previous = 0;
  VDIT_TRY(vdit_cuda_device_enter(active, &previous));
  cudaError_t error;
  const char *call;
  if (dst_device.type == VDIT_DEVICE_CUDA && src_device.type == VDIT_DEVICE_CUDA && dst_device.index != src_device.index) {
    call = "cudaMemcpyPeer";
    error = cudaMemcpyPeer(dst, dst_device.index, src, src_device.index, bytes);
  } else {
    enum cudaMemcpyKind kind = dst_device.type == VDIT_DEVICE_CPU   ? cudaMemcpyDeviceToHost
                               : src_device.type == VDIT_DEVICE_CPU ? cudaMemcpyHostToDevice
                                                                    : cudaMemcpyDeviceToDevice;
    call = "cudaMemcpy";
    error = cudaMemcpy(dst, src, bytes, kind);
  }
  vdit_status status = VDIT_OK;
  if (error != cudaSuccess) {
    char dst_name[32], src_name[32];
    status = VDIT_ERROR(VDIT_ERROR_CUDA, "%s of %zu bytes from %s to %s failed: %s", call, bytes,
                        vdit_device_string(src_device, src_name, sizeof src_name),
                        vdit_device_string(dst_device, dst_name, sizeof dst_name), cudaGetErrorString(error));
  }
  return vdit_cuda_device_leave(previous, status);
#else
  return VDIT_ERROR(VDIT_ERROR_INTERNAL, "vdit_memcpy: unreachable");
#endif
}

vdit_status vdit_device_synchronize(vdit_device device) {
  VDIT_TRY(vdit_device_check(device));
  if (device.type == VDIT_DEVICE_CPU) return VDIT_OK;
#ifdef VDIT_HAVE_CUDA
  int previous = 0;
  VDIT_TRY(vdit_cuda_device_enter(device, &previous));
  cudaError_t error = cudaDeviceSynchronize();
  vdit_status status = VDIT_OK;
  if (error != cudaSuccess)
    status = VDIT_ERROR(VDIT_ERROR_CUDA, "cudaDeviceSynchronize on cuda:%d failed: %s", device.index,
                        cudaGetErrorString(error));
  return vdit_cuda_device_leave(previous, status);
#else
  return VDIT_ERROR(VDIT_ERROR_INTERNAL, "vdit_device_synchronize: unreachable");
#endif
}
