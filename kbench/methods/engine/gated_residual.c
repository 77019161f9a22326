// gated_residual (engine): vdit_ops_gated_residual_forward.
#include "engine_cpu.h"

int kb_run(const kb_args *a);
int kb_run(const kb_args *a) {
  int64_t xs[3] = {a->n[0], a->n[1], a->n[2]}, gs[2] = {a->n[0], a->n[2]};
  vdit_tensor x = kb_view(a->in[0], 3, xs), gate = kb_view(a->in[1], 2, gs), h = kb_view(a->in[2], 3, xs);
  vdit_tensor y = kb_view(a->out[0], 3, xs);
  return vdit_ops_gated_residual_forward(&x, &gate, &h, &y) != VDIT_OK;
}
