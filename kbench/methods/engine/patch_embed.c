// patch_embed (engine): vdit_ops_patch_embed_forward (patchify + GEMM).
#include "engine_cpu.h"

int kb_run(const kb_args *a);
int kb_run(const kb_args *a) {
  int64_t B = a->n[0], C = a->n[1], D = a->n[2], F = a->n[3], H = a->n[4], W = a->n[5], P = a->n[6];
  int64_t vs[5] = {B, C, F, H, W}, ws[5] = {D, C, 1, P, P}, ts[3] = {B, F * (H / P) * (W / P), D};
  vdit_tensor video = kb_view(a->in[0], 5, vs), w = kb_view(a->in[1], 5, ws), b = kb_view(a->in[2], 1, &D);
  vdit_tensor tokens = kb_view(a->out[0], 3, ts);
  return vdit_ops_patch_embed_forward(&video, &w, &b, &tokens) != VDIT_OK;
}
