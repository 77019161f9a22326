// rms_norm (engine): vdit_ops_rms_norm_forward.
#include "engine_cpu.h"

int kb_run(const kb_args *a);
int kb_run(const kb_args *a) {
  int64_t shape[2] = {a->n[0], a->n[1]}, c = a->n[1];
  vdit_tensor x = kb_view(a->in[0], 2, shape), w = kb_view(a->in[1], 1, &c), y = kb_view(a->out[0], 2, shape);
  return vdit_ops_rms_norm_forward(&x, &w, a->f[0], &y) != VDIT_OK;
}
