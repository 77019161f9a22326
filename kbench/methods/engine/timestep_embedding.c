// timestep_embedding (engine): vdit_ops_timestep_embedding.
#include "engine_cpu.h"

int kb_run(const kb_args *a);
int kb_run(const kb_args *a) {
  int64_t n = a->n[0], shape[2] = {a->n[0], a->n[1]};
  vdit_tensor t = kb_view(a->in[0], 1, &n), y = kb_view(a->out[0], 2, shape);
  return vdit_ops_timestep_embedding(&t, &y) != VDIT_OK;
}
