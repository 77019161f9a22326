// vdit_ops_timestep_embedding: argument checks, then the CPU kernel
// (src/ops/cpu/timestep_embedding.c).
#include "ops/ops_internal.h"

vdit_status vdit_ops_timestep_embedding(const vdit_tensor *timesteps, vdit_tensor *out) {
  static const char op[] = "timestep_embedding";
  ops_rows tv, ov;
  VDIT_TRY(ops_rows_view(op, "timesteps", timesteps, &tv));
  if (timesteps->ndim != 1)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: timesteps must be (N), got %d dims", op, timesteps->ndim);
  VDIT_TRY(ops_rows_output(op, "out", out, &ov));
  VDIT_TRY(ops_check_shape(op, "out", out, "(N, dim)", 2, (int64_t[]){timesteps->shape[0], -1}));
  return ops_timestep_embedding(op, &tv, &ov);
}
