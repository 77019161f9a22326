// vdit_model_state: the activations a forward keeps for its backward, carved from one arena
// sized for the shapes of the pass (and the backward's scratch from a second one).
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/run_internal.h"

vdit_status vdit_model_state_create(vdit_model_state **state) {
  if (!state) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_model_state_create: state is NULL");
  *state = calloc(1, sizeof **state);
  if (!*state) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "model: no memory for a state");
  return VDIT_OK;
}

static void state_release(vdit_model_state *s) {
  vdit_arena_free(&s->arena);
  vdit_arena_free(&s->grad_arena);
  free(s->xs);
  free(s->acts);
  free(s->methods);
  memset(s, 0, sizeof *s);
}

void vdit_model_state_free(vdit_model_state *state) {
  if (!state) return;
  state_release(state);
  free(state);
}

size_t vdit_model_state_bytes(const vdit_model_state *state) {
  return state ? state->arena.capacity + state->grad_arena.capacity : 0;
}

// Tensors carved in two passes over the same layout code: the first (arena NULL) adds up
// the bytes, the second carves them from an arena of that size.
// Activations are f32 on the CPU and bf16 on a GPU (`act`); statistics (modulation tables,
// LSE, the time embedding and the gradient accumulators of f32 quantities) are f32 everywhere.
typedef struct carver {
  vdit_arena *arena;
  size_t bytes;
  int overflow;
  vdit_status status;
  vdit_dtype act;
} carver;

static void carve_dtype(carver *c, vdit_tensor *t, vdit_dtype dtype, int ndim, const int64_t *shape) {
  if (c->status != VDIT_OK) return;
  if (c->arena) {
    c->status = vdit_arena_tensor(c->arena, t, dtype, ndim, shape);
    return;
  }
  size_t n = (size_t)vdit_dtype_bits(dtype) / 8;
  for (int i = 0; i < ndim; i++)
    if (!vdit_size_mul(n, (size_t)shape[i], &n)) c->overflow = 1;
  if (!vdit_size_add(n, VDIT_ARENA_ALIGNMENT, &n) || !vdit_size_add(c->bytes, n, &c->bytes)) c->overflow = 1;
}

#define CARVE(c, t, ...) \
  carve_dtype((c), (t), (c)->act, (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]){__VA_ARGS__})
#define CARVE_F32(c, t, ...)                                                                        \
  carve_dtype((c), (t), VDIT_DTYPE_F32, (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), \
              (int64_t[]){__VA_ARGS__})

// Inference keeps one block's activations with buffers shared where lifetimes do not overlap
// (the order of model_block_forward): four (B, L, D) buffers P0..P3, the FFN hidden state,
// and the residual stream x updated in place (x1 = x2 = the block's input and output):
//   y1 P0 | q_pre = q P1, k_pre = k P2, v P3 | o P0 | a P1 | y2 P0 | q2_pre = q2 P1 |
//   o2 P2 | a2 P3 | y3 P0 | g | f P1;   h (the FFN pre-activation) is not kept.
static void layout_inference_block(carver *c, const vdit_model_config *cfg, int64_t B, int64_t L, int64_t S,
                                   const vdit_tensor *x, block_acts *a) {
  const int64_t D = cfg->dim;
  vdit_tensor p[4];
  CARVE_F32(c, &a->mod, B, 6, D);
  for (int i = 0; i < 4; i++) CARVE(c, &p[i], B, L, D);
  CARVE_F32(c, &a->lse, B, cfg->heads, L);
  CARVE_F32(c, &a->lse2, B, cfg->heads, L);
  if (cfg->qk_norm) CARVE(c, &a->k2_pre, B, S, D);
  CARVE(c, &a->k2, B, S, D);
  CARVE(c, &a->v2, B, S, D);
  CARVE(c, &a->g, B, L, cfg->ffn_dim);
  if (!c->arena) return;
  a->y1 = p[0];
  a->q = p[1];
  a->k = p[2];
  a->v = p[3];
  if (cfg->qk_norm) {
    a->q_pre = p[1];
    a->k_pre = p[2];
  }
  a->o = p[0];
  a->a = p[1];
  a->x1 = *x;
  a->y2 = cfg->cross_attn_norm ? p[0] : *x;
  a->q2 = p[1];
  if (cfg->qk_norm) a->q2_pre = p[1];
  a->o2 = p[2];
  a->a2 = p[3];
  a->x2 = *x;
  a->y3 = p[0];
  memset(&a->h, 0, sizeof a->h);
  a->f = p[1];
}

static void layout_block(carver *c, const vdit_model_config *cfg, int64_t B, int64_t L, int64_t S, block_acts *a) {
  const int64_t D = cfg->dim;
  CARVE_F32(c, &a->mod, B, 6, D);
  CARVE(c, &a->y1, B, L, D);
  if (cfg->qk_norm) {
    CARVE(c, &a->q_pre, B, L, D);
    CARVE(c, &a->k_pre, B, L, D);
  }
  CARVE(c, &a->q, B, L, D);
  CARVE(c, &a->k, B, L, D);
  CARVE(c, &a->v, B, L, D);
  CARVE(c, &a->o, B, L, D);
  CARVE_F32(c, &a->lse, B, cfg->heads, L);
  CARVE(c, &a->a, B, L, D);
  CARVE(c, &a->x1, B, L, D);
  if (cfg->cross_attn_norm) CARVE(c, &a->y2, B, L, D);
  else if (c->arena) a->y2 = a->x1; // the identity: y2 is x1
  if (cfg->qk_norm) {
    CARVE(c, &a->q2_pre, B, L, D);
    CARVE(c, &a->k2_pre, B, S, D);
  }
  CARVE(c, &a->q2, B, L, D);
  CARVE(c, &a->k2, B, S, D);
  CARVE(c, &a->v2, B, S, D);
  CARVE(c, &a->o2, B, L, D);
  CARVE_F32(c, &a->lse2, B, cfg->heads, L);
  CARVE(c, &a->a2, B, L, D);
  CARVE(c, &a->x2, B, L, D);
  CARVE(c, &a->y3, B, L, D);
  CARVE(c, &a->h, B, L, cfg->ffn_dim);
  CARVE(c, &a->g, B, L, cfg->ffn_dim);
  CARVE(c, &a->f, B, L, D);
}

static void layout_state(carver *c, vdit_model_state *s) {
  const vdit_model_config *cfg = &s->config;
  const int64_t B = s->batch, L = s->tokens, S = s->text_tokens, D = cfg->dim;
  CARVE(c, &s->video, B, cfg->in_channels, s->grid[0] * cfg->patch[0], s->grid[1] * cfg->patch[1],
        s->grid[2] * cfg->patch[2]);
  CARVE(c, &s->context, B, S, cfg->text_dim);
  CARVE(c, &s->sinusoid, B, cfg->freq_dim);
  CARVE(c, &s->t1, B, D);
  CARVE(c, &s->t1_act, B, D);
  CARVE_F32(c, &s->temb, B, D);
  CARVE(c, &s->temb_act, B, D);
  CARVE_F32(c, &s->e6, B, 6 * D);
  CARVE(c, &s->c1, B, S, D);
  CARVE(c, &s->c1_act, B, S, D);
  CARVE(c, &s->ctx, B, S, D);
  const int64_t x_count = s->mode == STATE_INFERENCE ? 1 : cfg->layers + 1;
  for (int64_t i = 0; i < x_count; i++) CARVE(c, &s->xs[i], B, L, D);
  const int64_t act_count = s->mode == STATE_FULL ? cfg->layers : 1;
  if (s->mode == STATE_INFERENCE) layout_inference_block(c, cfg, B, L, S, &s->xs[0], &s->acts[0]);
  else
    for (int64_t i = 0; i < act_count; i++) layout_block(c, cfg, B, L, S, &s->acts[i]);
  CARVE_F32(c, &s->head_mod, B, 2, D);
  if (s->mode == STATE_INFERENCE) {
    if (c->arena) s->head_y = s->acts[0].y1; // the blocks are done with it
  } else {
    CARVE(c, &s->head_y, B, L, D);
  }
  CARVE(c, &s->z, B, L, cfg->patch[0] * cfg->patch[1] * cfg->patch[2] * cfg->out_channels);
}

static void layout_grads(carver *c, vdit_model_state *s) {
  const vdit_model_config *cfg = &s->config;
  const int64_t B = s->batch, L = s->tokens, S = s->text_tokens, D = cfg->dim;
  grad_scratch *g = &s->grads;
  vdit_tensor *bld[] = {&g->dx, &g->d1, &g->d2, &g->d3, &g->dy, &g->dq, &g->dk, &g->dv, &g->dn, &g->norm};
  for (size_t i = 0; i < sizeof bld / sizeof bld[0]; i++) CARVE(c, bld[i], B, L, D);
  CARVE(c, &g->dff, B, L, cfg->ffn_dim);
  vdit_tensor *bsd[] = {&g->dk2, &g->dv2, &g->dk2_pre, &g->dc1};
  for (size_t i = 0; i < sizeof bsd / sizeof bsd[0]; i++) CARVE(c, bsd[i], B, S, D);
  CARVE_F32(c, &g->dctx, B, S, D); // summed over the blocks
  CARVE(c, &g->dz, B, L, cfg->patch[0] * cfg->patch[1] * cfg->patch[2] * cfg->out_channels);
  CARVE_F32(c, &g->dmod, B, 6, D);
  CARVE_F32(c, &g->de6, B, 6 * D);
  CARVE_F32(c, &g->dhead_mod, B, 2, D);
  CARVE_F32(c, &g->dtemb, B, D);
  CARVE(c, &g->dt1, B, D);
  CARVE_F32(c, &g->dtmp, B, D);
  if (c->act != VDIT_DTYPE_F32) { // bf16 copies of the f32 accumulators the GEMMs take as dy
    CARVE(c, &g->de6_low, B, 6 * D);
    CARVE(c, &g->dtemb_low, B, D);
    CARVE(c, &g->dctx_low, B, S, D);
  }
}

// Runs `layout` twice: to size an arena, then to carve it.
static vdit_status carve_all(vdit_model_state *s, vdit_arena *arena, void (*layout)(carver *, vdit_model_state *),
                             const char *what) {
  carver c = {NULL, VDIT_ARENA_ALIGNMENT, 0, VDIT_OK,
               s->device.type == VDIT_DEVICE_CPU ? VDIT_DTYPE_F32 : VDIT_DTYPE_BF16};
  layout(&c, s);
  if (c.overflow) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "model: the %s size overflows", what);
  vdit_status status = vdit_arena_init(arena, s->device, c.bytes);
  if (status != VDIT_OK) {
    char detail[256];
    snprintf(detail, sizeof detail, "%s", vdit_last_error());
    return VDIT_ERROR(status, "model: no memory for the %s (%.2f GiB): %s", what, (double)c.bytes / (1 << 30), detail);
  }
  c.arena = arena;
  layout(&c, s);
  return c.status;
}

vdit_status model_state_prepare(vdit_model_state *s, const vdit_model_config *config, vdit_device device,
                                state_mode mode, int64_t batch, int64_t text_tokens, const int64_t grid[3]) {
  const int64_t tokens = grid[0] * grid[1] * grid[2];
  if (s->arena.base && vdit_device_equal(s->device, device) && s->mode == mode &&
      memcmp(&s->config, config, sizeof *config) == 0 && s->batch == batch &&
      s->text_tokens == text_tokens && memcmp(s->grid, grid, sizeof s->grid) == 0) {
    s->has_forward = 0;
    return VDIT_OK;
  }
  state_release(s);
  s->device = device;
  s->mode = mode;
  s->config = *config;
  s->batch = batch;
  s->tokens = tokens;
  s->text_tokens = text_tokens;
  memcpy(s->grid, grid, sizeof s->grid);
  const int64_t x_count = mode == STATE_INFERENCE ? 1 : config->layers + 1;
  const int64_t act_count = mode == STATE_FULL ? config->layers : 1;
  s->xs = calloc((size_t)x_count, sizeof *s->xs);
  s->acts = calloc((size_t)act_count, sizeof *s->acts);
  s->methods = calloc((size_t)config->layers, sizeof *s->methods);
  if (!s->xs || !s->acts || !s->methods) {
    state_release(s);
    return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "model: no memory for a state");
  }
  vdit_status status = carve_all(s, &s->arena, layout_state, "activations");
  if (status != VDIT_OK) state_release(s);
  return status;
}

vdit_status model_state_prepare_grads(vdit_model_state *s) {
  if (s->has_grad_scratch) return VDIT_OK;
  vdit_status status = carve_all(s, &s->grad_arena, layout_grads, "backward scratch");
  if (status != VDIT_OK) {
    vdit_arena_free(&s->grad_arena);
    return status;
  }
  s->has_grad_scratch = 1;
  return VDIT_OK;
}

vdit_status model_emit(const run_context *run, const vdit_tensor *tensor, const char *format, ...) {
  if (!run->observe) return VDIT_OK;
  char name[128];
  va_list args;
  va_start(args, format);
  vsnprintf(name, sizeof name, format, args);
  va_end(args);
  return run->observe(run->observe_user, name, tensor);
}

vdit_tensor model_mod_row(const vdit_tensor *table, int k) {
  vdit_tensor row = *table;
  row.ndim = 2;
  row.data = (float *)table->data + (int64_t)k * table->shape[2];
  row.shape[0] = table->shape[0];
  row.shape[1] = table->shape[2];
  row.stride[0] = table->shape[1] * table->shape[2];
  row.stride[1] = 1;
  row.allocation = NULL;
  return row;
}

vdit_tensor model_heads_view(const vdit_tensor *t, int64_t heads) {
  vdit_tensor view = *t;
  view.ndim = 4;
  view.shape[2] = heads;
  view.shape[3] = t->shape[2] / heads;
  view.stride[3] = 1;
  view.stride[2] = view.shape[3];
  view.stride[1] = t->shape[2];
  view.stride[0] = t->shape[1] * t->shape[2];
  view.allocation = NULL;
  return view;
}
