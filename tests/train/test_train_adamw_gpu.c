// The CUDA AdamW and EMA updates give the CPU loops' bits (the same per-element arithmetic,
// src/train/adamw_element.h), over a few steps with clipping, decay and outliers.
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vdit/tensor.h"
#include "vdit/train.h"

int main(void) {
  int gpus = 0;
  if (vdit_gpu_count(&gpus) != VDIT_OK || gpus == 0) return check_skip("test_train_adamw_gpu", "no GPU");
  enum { N = 100003, STEPS = 3 };
  const size_t bytes = N * sizeof(float);
  float *p = malloc(bytes), *m = calloc(N, 4), *v = calloc(N, 4), *g = malloc(bytes), *e = malloc(bytes);
  float *back = malloc(bytes);
  vdit_rng_normal(1, 0, N, p);
  memcpy(e, p, bytes);
  void *dp, *dm, *dv, *dg, *de;
  CHECK_OK(vdit_device_alloc(VDIT_CUDA(0), bytes, &dp));
  CHECK_OK(vdit_device_alloc(VDIT_CUDA(0), bytes, &dm));
  CHECK_OK(vdit_device_alloc(VDIT_CUDA(0), bytes, &dv));
  CHECK_OK(vdit_device_alloc(VDIT_CUDA(0), bytes, &dg));
  CHECK_OK(vdit_device_alloc(VDIT_CUDA(0), bytes, &de));
  CHECK_OK(vdit_memcpy(VDIT_CUDA(0), dp, VDIT_CPU, p, bytes));
  CHECK_OK(vdit_memcpy(VDIT_CUDA(0), dm, VDIT_CPU, m, bytes));
  CHECK_OK(vdit_memcpy(VDIT_CUDA(0), dv, VDIT_CPU, v, bytes));
  CHECK_OK(vdit_memcpy(VDIT_CUDA(0), de, VDIT_CPU, e, bytes));
  const vdit_adamw_config config = {0.9, 0.99, 1e-8, 0.01};
  for (int s = 1; s <= STEPS; s++) {
    vdit_rng_normal(2, (uint64_t)s * N, N, g);
    for (int i = 0; i < N; i += 997) g[i] *= 40; // outliers
    CHECK_OK(vdit_memcpy(VDIT_CUDA(0), dg, VDIT_CPU, g, bytes));
    vdit_adamw_update(p, g, m, v, N, s, 1e-3 * s, 0.7, &config);
    vdit_ema_update(e, p, N, 0.95);
    CHECK_OK(vdit_adamw_update_cuda(dp, dg, dm, dv, N, s, 1e-3 * s, 0.7, &config, NULL));
    CHECK_OK(vdit_ema_update_cuda(de, dp, N, 0.95, NULL));
  }
  CHECK_OK(vdit_device_synchronize(VDIT_CUDA(0)));
  float *cpu[4] = {p, m, v, e};
  void *gpu[4] = {dp, dm, dv, de};
  const char *names[4] = {"params", "m", "v", "ema"};
  for (int b = 0; b < 4; b++) {
    CHECK_OK(vdit_memcpy(VDIT_CPU, back, VDIT_CUDA(0), gpu[b], bytes));
    size_t differ = 0;
    for (size_t i = 0; i < N; i++) differ += memcmp(&back[i], &cpu[b][i], 4) != 0;
    if (differ) CHECK_FAIL_("%s: %zu of %d elements differ from the CPU", names[b], differ, N);
    vdit_device_free(VDIT_CUDA(0), gpu[b]);
  }
  vdit_device_free(VDIT_CUDA(0), dg);
  free(p), free(m), free(v), free(g), free(e), free(back);
  return check_finish("test_train_adamw_gpu");
}
