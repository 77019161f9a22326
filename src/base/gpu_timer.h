// Timing GPU work with CUDA events on a GPU's default stream (internal to vdit): events are
// recorded around the region, so the time is the device's, not the host's. Optionally the L2
// cache is flushed before each region (a memset over twice its size), for problems whose data
// would otherwise stay cached between repetitions. Without the CUDA backend init fails with
// VDIT_ERROR_NO_DEVICE.
#ifndef VDIT_BASE_GPU_TIMER_H
#define VDIT_BASE_GPU_TIMER_H

#include <stddef.h>

#include "vdit/base.h"

typedef struct vdit_gpu_timer {
  int device;            // GPU ordinal the events belong to
  void *start, *stop;    // cudaEvent_t
  void *flush;           // device buffer of flush_bytes, or NULL when not flushing
  size_t flush_bytes;
} vdit_gpu_timer;

vdit_status vdit_gpu_timer_init(vdit_gpu_timer *timer, int device, int flush_l2);
// Flushes L2 (when asked at init), then records the start event.
vdit_status vdit_gpu_timer_start(vdit_gpu_timer *timer);
// Records the stop event, waits for it and gives the seconds between start and stop.
vdit_status vdit_gpu_timer_stop(vdit_gpu_timer *timer, double *seconds);
void vdit_gpu_timer_free(vdit_gpu_timer *timer);

#endif // VDIT_BASE_GPU_TIMER_H
