// attention (engine): vdit_attn_forward, dense, layout (B, S, H, D).
#include "engine_cpu.h"

static int attention(const kb_args *a, vdit_attn_mask mask) {
  int64_t qs[4] = {a->n[0], a->n[1], a->n[3], a->n[4]}, ks[4] = {a->n[0], a->n[2], a->n[3], a->n[4]};
  int64_t ls[3] = {a->n[0], a->n[3], a->n[1]};
  vdit_tensor q = kb_view(a->in[0], 4, qs), k = kb_view(a->in[1], 4, ks), v = kb_view(a->in[2], 4, ks);
  vdit_tensor o = kb_view(a->out[0], 4, qs);
  float *lse_data = malloc((size_t)(a->n[0] * a->n[3] * a->n[1]) * sizeof(float));
  vdit_tensor lse = kb_view(lse_data, 3, ls);
  vdit_attn_config config = {.method = VDIT_ATTN_DENSE, .layout = VDIT_ATTN_LAYOUT_BSHD, .softmax_scale = a->f[0],
                             .mask = mask};
  vdit_attn_plan *plan = NULL;
  vdit_status status = lse_data ? vdit_attn_plan_create(&plan, &config, &q, &k, &v) : VDIT_ERROR_OUT_OF_MEMORY;
  if (status == VDIT_OK) status = vdit_attn_forward(plan, &q, &k, &v, &o, &lse);
  vdit_attn_plan_free(plan);
  free(lse_data);
  return status != VDIT_OK;
}

int kb_run(const kb_args *a);
#ifndef ATTN_MASK
#define ATTN_MASK VDIT_ATTN_MASK_NONE
#endif
int kb_run(const kb_args *a) { return attention(a, ATTN_MASK); }
