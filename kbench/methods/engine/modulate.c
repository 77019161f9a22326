// modulate (engine): vdit_ops_modulate_forward.
#include "engine_cpu.h"

int kb_run(const kb_args *a);
int kb_run(const kb_args *a) {
  int64_t xs[3] = {a->n[0], a->n[1], a->n[2]}, ss[2] = {a->n[0], a->n[2]};
  vdit_tensor x = kb_view(a->in[0], 3, xs), scale = kb_view(a->in[1], 2, ss), shift = kb_view(a->in[2], 2, ss);
  vdit_tensor y = kb_view(a->out[0], 3, xs);
  return vdit_ops_modulate_forward(&x, &scale, &shift, &y) != VDIT_OK;
}
