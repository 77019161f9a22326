// unpatchify (engine): vdit_ops_unpatchify_forward with patch (1, P, P).
#include "engine_cpu.h"

int kb_run(const kb_args *a);
int kb_run(const kb_args *a) {
  int64_t B = a->n[0], C = a->n[1], F = a->n[2], H = a->n[3], W = a->n[4], P = a->n[5];
  int64_t ts[3] = {B, F * (H / P) * (W / P), P * P * C}, vs[5] = {B, C, F, H, W}, patch[3] = {1, P, P};
  vdit_tensor tokens = kb_view(a->in[0], 3, ts), video = kb_view(a->out[0], 5, vs);
  return vdit_ops_unpatchify_forward(&tokens, patch, &video) != VDIT_OK;
}
