// rope_3d (engine): vdit_ops_rope_3d_forward.
#include "engine_cpu.h"

int kb_run(const kb_args *a);
int kb_run(const kb_args *a) {
  int64_t shape[4] = {a->n[0], a->n[1] * a->n[2] * a->n[3], a->n[4], a->n[5]};
  vdit_rope_3d rope = {.frames = a->n[1], .height = a->n[2], .width = a->n[3], .frame_offset = 0, .theta = 0};
  vdit_tensor x = kb_view(a->in[0], 4, shape), y = kb_view(a->out[0], 4, shape);
  return vdit_ops_rope_3d_forward(&rope, &x, &y) != VDIT_OK;
}
