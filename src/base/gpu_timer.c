// CUDA-event timer (see gpu_timer.h). Each call makes the timer's GPU current and restores the
// caller's before returning.
#include "base/gpu_timer.h"

#include <string.h>

#ifdef VDIT_HAVE_CUDA
#include "base/cuda_check.h"

static vdit_status enter(int device, int *previous) {
  VDIT_CUDA_TRY(cudaGetDevice(previous));
  if (*previous != device) VDIT_CUDA_TRY(cudaSetDevice(device));
  return VDIT_OK;
}

static vdit_status leave(int previous, vdit_status status) {
  int current = previous;
  cudaError_t error = cudaGetDevice(&current);
  if (error == cudaSuccess && current != previous) error = cudaSetDevice(previous);
  if (status != VDIT_OK) return status;
  if (error != cudaSuccess)
    return VDIT_ERROR(VDIT_ERROR_CUDA, "gpu timer: cannot restore the current GPU to %d: %s", previous,
                      cudaGetErrorString(error));
  return VDIT_OK;
}

static vdit_status timer_create(vdit_gpu_timer *timer, int flush_l2) {
  cudaEvent_t start, stop;
  VDIT_CUDA_TRY(cudaEventCreate(&start));
  timer->start = start;
  VDIT_CUDA_TRY(cudaEventCreate(&stop));
  timer->stop = stop;
  if (flush_l2) {
    int l2_bytes = 0;
    VDIT_CUDA_TRY(cudaDeviceGetAttribute(&l2_bytes, cudaDevAttrL2CacheSize, timer->device));
    timer->flush_bytes = 2 * (size_t)(l2_bytes > 0 ? l2_bytes : 1 << 20);
    VDIT_CUDA_TRY(cudaMalloc(&timer->flush, timer->flush_bytes));
  }
  return VDIT_OK;
}

static vdit_status timer_start(vdit_gpu_timer *timer) {
  if (timer->flush) VDIT_CUDA_TRY(cudaMemsetAsync(timer->flush, 0, timer->flush_bytes, 0));
  VDIT_CUDA_TRY(cudaEventRecord((cudaEvent_t)timer->start, 0));
  return VDIT_OK;
}

static vdit_status timer_stop(vdit_gpu_timer *timer, double *seconds) {
  float ms = 0.0f;
  VDIT_CUDA_TRY(cudaEventRecord((cudaEvent_t)timer->stop, 0));
  VDIT_CUDA_TRY(cudaEventSynchronize((cudaEvent_t)timer->stop));
  VDIT_CUDA_TRY(cudaEventElapsedTime(&ms, (cudaEvent_t)timer->start, (cudaEvent_t)timer->stop));
  *seconds = 1e-3 * (double)ms;
  return VDIT_OK;
}
#endif

vdit_status vdit_gpu_timer_init(vdit_gpu_timer *timer, int device, int flush_l2) {
  memset(timer, 0, sizeof *timer);
  timer->device = device;
#ifdef VDIT_HAVE_CUDA
  int count = 0;
  VDIT_TRY(vdit_gpu_count(&count));
  if (device < 0 || device >= count)
    return VDIT_ERROR(VDIT_ERROR_NO_DEVICE, "gpu timer: no GPU with index %d (%d found)", device, count);
  int previous = 0;
  VDIT_TRY(enter(device, &previous));
  vdit_status status = leave(previous, timer_create(timer, flush_l2));
  if (status != VDIT_OK) vdit_gpu_timer_free(timer);
  return status;
#else
  (void)flush_l2;
  return VDIT_ERROR(VDIT_ERROR_NO_DEVICE, "gpu timer: vdit was built without CUDA");
#endif
}

vdit_status vdit_gpu_timer_start(vdit_gpu_timer *timer) {
#ifdef VDIT_HAVE_CUDA
  int previous = 0;
  VDIT_TRY(enter(timer->device, &previous));
  return leave(previous, timer_start(timer));
#else
  return VDIT_ERROR(VDIT_ERROR_NO_DEVICE, "gpu timer: vdit was built without CUDA");
#endif
}

vdit_status vdit_gpu_timer_stop(vdit_gpu_timer *timer, double *seconds) {
  *seconds = 0.0;
#ifdef VDIT_HAVE_CUDA
  int previous = 0;
  VDIT_TRY(enter(timer->device, &previous));
  return leave(previous, timer_stop(timer, seconds));
#else
  return VDIT_ERROR(VDIT_ERROR_NO_DEVICE, "gpu timer: vdit was built without CUDA");
#endif
}

void vdit_gpu_timer_free(vdit_gpu_timer *timer) {
#ifdef VDIT_HAVE_CUDA
  int previous = 0;
  if (cudaGetDevice(&previous) == cudaSuccess && previous != timer->device) (void)cudaSetDevice(timer->device);
  if (timer->start) (void)cudaEventDestroy((cudaEvent_t)timer->start);
  if (timer->stop) (void)cudaEventDestroy((cudaEvent_t)timer->stop);
  if (timer->flush) (void)cudaFree(timer->flush);
  (void)cudaSetDevice(previous);
  (void)cudaGetLastError();
#endif
  memset(timer, 0, sizeof *timer);
}
