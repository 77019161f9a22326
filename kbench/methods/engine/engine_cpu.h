// The engine method's CPU candidates call vdit itself (the running evaluator exports its
// symbols): these are the engine's own CPU kernels measured by kbench. Helpers to wrap the
// candidate's raw buffers as vdit tensors.
#ifndef KB_ENGINE_CPU_H
#define KB_ENGINE_CPU_H

#include <stdlib.h>

#include "kb.h"
#include "vdit/attn.h"
#include "vdit/num.h"
#include "vdit/ops.h"
#include "vdit/tensor.h"

static inline vdit_tensor kb_view(const void *data, int ndim, const int64_t *shape) {
  vdit_tensor t;
  vdit_device cpu = {VDIT_DEVICE_CPU, 0};
  if (vdit_tensor_view(&t, (void *)data, VDIT_DTYPE_F32, cpu, ndim, shape, NULL) != VDIT_OK) t.data = NULL;
  return t;
}

#endif
