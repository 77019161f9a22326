// The train layer's CUDA entry points in a build without the CUDA backend: each says so.
#include "vdit/train.h"

#ifndef VDIT_HAVE_CUDA
vdit_status vdit_adamw_update_cuda(float *params, const float *grads, float *m, float *v, size_t n, int64_t step,
                                   double lr, double grad_scale, const vdit_adamw_config *config, void *stream) {
  return VDIT_ERROR(VDIT_ERROR_NO_DEVICE, "vdit_adamw_update_cuda: this vdit was built without CUDA");
}
vdit_status vdit_ema_update_cuda(float *ema, const float *params, size_t n, double decay, void *stream) {
  return VDIT_ERROR(VDIT_ERROR_NO_DEVICE, "vdit_ema_update_cuda: this vdit was built without CUDA");
}
vdit_status vdit_sum_squares_cuda(const float *x, size_t n, double *sum) {
  (void)x, (void)n;
  *sum = 0;
  return VDIT_ERROR(VDIT_ERROR_NO_DEVICE, "vdit_sum_squares_cuda: this vdit was built without CUDA");
}
#endif
