// linear (engine): vdit_ops_linear_forward (the packed, blocked CPU GEMM).
#include "engine_cpu.h"

int kb_run(const kb_args *a);
int kb_run(const kb_args *a) {
  int64_t xs[2] = {a->n[0], a->n[2]}, ws[2] = {a->n[1], a->n[2]}, ys[2] = {a->n[0], a->n[1]}, n = a->n[1];
  vdit_tensor x = kb_view(a->in[0], 2, xs), w = kb_view(a->in[1], 2, ws), b = kb_view(a->in[2], 1, &n);
  vdit_tensor y = kb_view(a->out[0], 2, ys);
  return vdit_ops_linear_forward(&x, &w, &b, &y) != VDIT_OK;
}
