// The backward pass of the Wan2.1 transformer (CPU fp32, or GPU bf16 with f32 statistics and
// f32 parameter gradients): the forward of forward.c run in reverse, from d output to d video,
// d context and every parameter's gradient.
//
// Input gradients inside the model (the residual stream, the text embedding, timestep_proj)
// are summed in the state's scratch; the caller's mode applies only to what it asked for
// (d_video, d_context, `grads`). The ops take one mode per call, so a Linear's dx and its
// weight gradient are separate calls (linear_backward below).
#include <inttypes.h>
#include <string.h>

#include "model/run_internal.h"

// Cross-attention (a few text keys) is always dense.
static const vdit_attn_method_config dense_attention = {.method = VDIT_ATTN_DENSE};

// dx (dx_mode) and the parameter gradients (w_mode, when `grad` is not NULL) of a Linear.
static vdit_status linear_backward(const vdit_tensor *x, const vdit_model_linear *linear, vdit_model_linear *grad,
                                   const vdit_tensor *dy, vdit_tensor *dx, vdit_grad_mode dx_mode,
                                   vdit_grad_mode w_mode) {
  if (dx) VDIT_TRY(vdit_ops_linear_backward(NULL, &linear->weight, dy, dx, NULL, NULL, dx_mode));
  if (grad) VDIT_TRY(vdit_ops_linear_backward(x, NULL, dy, NULL, &grad->weight, &grad->bias, w_mode));
  return VDIT_OK;
}

// RMSNorm backward: dx (overwritten) and, when `dweight` is not NULL, the scale's gradient.
static vdit_status rms_backward(const vdit_model_config *cfg, const vdit_tensor *x, const vdit_tensor *weight,
                                const vdit_tensor *dy, vdit_tensor *dx, vdit_tensor *dweight, vdit_grad_mode w_mode) {
  const float eps = (float)cfg->eps;
  VDIT_TRY(vdit_ops_rms_norm_backward(x, weight, eps, dy, dx, NULL, VDIT_GRAD_OVERWRITE));
  if (dweight) VDIT_TRY(vdit_ops_rms_norm_backward(x, weight, eps, dy, NULL, dweight, w_mode));
  return VDIT_OK;
}

// The projection of forward.c backwards: from d out to the Linear's input gradient dx
// (dx_mode), through the RMSNorm when the config has qk_norm (its gradient in `scratch`).
static vdit_status projection_backward(const vdit_model_config *cfg, const vdit_tensor *x,
                                       const vdit_model_linear *linear, const vdit_tensor *norm,
                                       const vdit_tensor *pre, vdit_model_linear *grad, vdit_tensor *dnorm,
                                       const vdit_tensor *dout, vdit_tensor *scratch, vdit_tensor *dx,
                                       vdit_grad_mode dx_mode, vdit_grad_mode w_mode) {
  const vdit_tensor *dpre = dout;
  if (cfg->qk_norm) {
    VDIT_TRY(rms_backward(cfg, pre, norm, dout, scratch, dnorm, w_mode));
    dpre = scratch;
  }
  return linear_backward(x, linear, grad, dpre, dx, dx_mode, w_mode);
}

static vdit_status attention_backward(const vdit_attn_method_config *method, int64_t heads, const vdit_tensor *q,
                                      const vdit_tensor *k, const vdit_tensor *v, const vdit_tensor *o,
                                      const vdit_tensor *lse, const vdit_tensor *d_o, vdit_tensor *dq,
                                      vdit_tensor *dk, vdit_tensor *dv) {
  vdit_attn_config config;
  memset(&config, 0, sizeof config);
  vdit_attn_config_set_method(&config, method);
  config.layout = VDIT_ATTN_LAYOUT_BSHD;
  vdit_tensor qh = model_heads_view(q, heads), kh = model_heads_view(k, heads), vh = model_heads_view(v, heads),
              oh = model_heads_view(o, heads), doh = model_heads_view(d_o, heads), dqh = model_heads_view(dq, heads),
              dkh = model_heads_view(dk, heads), dvh = model_heads_view(dv, heads);
  vdit_attn_plan *plan = NULL;
  VDIT_TRY(vdit_attn_plan_create(&plan, &config, &qh, &kh, &vh));
  // sparge: the forward's mask again (a deterministic function of the saved Q and K)
  vdit_status status = method->method == VDIT_ATTN_SPARGE ? vdit_attn_predict(plan, &qh, &kh) : VDIT_OK;
  if (status == VDIT_OK) status = vdit_attn_backward(plan, &qh, &kh, &vh, &oh, lse, &doh, &dqh, &dkh, &dvh);
  vdit_attn_plan_free(plan);
  return status;
}

// out (+)= the sum over the batch of a (B, rows, D) table: the gradient of a (1, rows, D)
// parameter broadcast over the batch.
static vdit_status batch_sum(const vdit_tensor *per_sample, vdit_tensor *out, vdit_grad_mode mode) {
  const int64_t B = per_sample->shape[0], n = vdit_tensor_numel(out);
  vdit_tensor rows, flat;
  VDIT_TRY(vdit_tensor_reshape(per_sample, 2, (int64_t[]){B, n}, &rows));
  VDIT_TRY(vdit_tensor_reshape(out, 1, (int64_t[]){n}, &flat));
  return vdit_ops_sum_rows(&rows, &flat, mode);
}

// acc += x (same numel, both contiguous; x viewed with acc's shape).
static vdit_status add_into(vdit_tensor *acc, const vdit_tensor *x) {
  vdit_tensor same;
  VDIT_TRY(vdit_tensor_reshape(x, acc->ndim, acc->shape, &same));
  return vdit_ops_add(acc, &same, acc);
}

// The tensor a GEMM takes as dy: `t` itself, or on a GPU its bf16 copy in `low` (t is an f32
// accumulator there).
static vdit_status gemm_operand(const vdit_tensor *t, vdit_tensor *low, const vdit_tensor **out) {
  *out = t;
  if (t->dtype == VDIT_DTYPE_BF16 || t->device.type == VDIT_DEVICE_CPU) return VDIT_OK;
  VDIT_TRY(vdit_tensor_convert(low, t));
  *out = low;
  return VDIT_OK;
}

vdit_status model_block_backward(const run_context *run, int64_t n, const vdit_tensor *x_in, const block_acts *A,
                                 vdit_model_block_weights *G, vdit_grad_mode mode) {
  const vdit_model_weights *w = run->weights;
  const vdit_model_config *cfg = &w->config;
  const vdit_model_block_weights *bw = &w->blocks[n];
  vdit_model_state *s = run->state;
  grad_scratch *g = &s->grads;
  const float eps = (float)cfg->eps;
  const vdit_grad_mode over = VDIT_GRAD_OVERWRITE, acc = VDIT_GRAD_ACCUMULATE;
  const vdit_tensor scale_msa = model_mod_row(&A->mod, 1), gate_msa = model_mod_row(&A->mod, 2),
                    c_scale = model_mod_row(&A->mod, 4), c_gate = model_mod_row(&A->mod, 5);
  vdit_tensor d_shift_msa = model_mod_row(&g->dmod, 0), d_scale_msa = model_mod_row(&g->dmod, 1),
              d_gate_msa = model_mod_row(&g->dmod, 2), d_c_shift = model_mod_row(&g->dmod, 3),
              d_c_scale = model_mod_row(&g->dmod, 4), d_c_gate = model_mod_row(&g->dmod, 5);

  // Feed-forward: out = x2 + f c_gate. g->dx is d out and becomes d x2.
  VDIT_TRY(vdit_ops_gated_residual_backward(&c_gate, &A->f, &g->dx, NULL, &d_c_gate, &g->d1, over));
  VDIT_TRY(vdit_ops_linear_dgelu_backward(&bw->ffn_out.weight, &g->d1, &A->h, &g->dff)); // through the GELU
  VDIT_TRY(linear_backward(&A->g, &bw->ffn_out, G ? &G->ffn_out : NULL, &g->d1, NULL, over, mode));
  VDIT_TRY(linear_backward(&A->y3, &bw->ffn_in, G ? &G->ffn_in : NULL, &g->dff, &g->dy, over, mode));
  VDIT_TRY(vdit_ops_layer_norm_forward(&A->x2, NULL, NULL, eps, &g->norm));
  VDIT_TRY(vdit_ops_modulate_backward(&g->norm, &c_scale, &g->dy, &g->dn, &d_c_scale, &d_c_shift, over));
  VDIT_TRY(vdit_ops_layer_norm_backward(&A->x2, NULL, eps, &g->dn, &g->dx, NULL, NULL, acc));

  // Cross-attention: x2 = x1 + Linear_o2(o2). g->dx becomes d x1.
  VDIT_TRY(linear_backward(&A->o2, &bw->cross_out, G ? &G->cross_out : NULL, &g->dx, &g->d1, over, mode));
  VDIT_TRY(attention_backward(&dense_attention, cfg->heads, &A->q2, &A->k2, &A->v2, &A->o2, &A->lse2, &g->d1, &g->dq,
                              &g->dk2, &g->dv2));
  VDIT_TRY(linear_backward(&s->ctx, &bw->cross_v, G ? &G->cross_v : NULL, &g->dv2, &g->dctx, acc, mode));
  VDIT_TRY(projection_backward(cfg, &s->ctx, &bw->cross_k, &bw->cross_norm_k, &A->k2_pre, G ? &G->cross_k : NULL,
                               G ? &G->cross_norm_k : NULL, &g->dk2, &g->dk2_pre, &g->dctx, acc, mode));
  VDIT_TRY(projection_backward(cfg, &A->y2, &bw->cross_q, &bw->cross_norm_q, &A->q2_pre, G ? &G->cross_q : NULL,
                               G ? &G->cross_norm_q : NULL, &g->dq, &g->d2, &g->dy, over, mode));
  if (cfg->cross_attn_norm) {
    VDIT_TRY(vdit_ops_layer_norm_backward(&A->x1, &bw->cross_norm_weight, eps, &g->dy, &g->dx, NULL, NULL, acc));
    if (G)
      VDIT_TRY(vdit_ops_layer_norm_backward(&A->x1, &bw->cross_norm_weight, eps, &g->dy, NULL, &G->cross_norm_weight,
                                            &G->cross_norm_bias, mode));
  } else {
    VDIT_TRY(add_into(&g->dx, &g->dy));
  }

  // Self-attention: x1 = x + Linear_o(o) gate_msa. g->dx becomes d x.
  VDIT_TRY(vdit_ops_gated_residual_backward(&gate_msa, &A->a, &g->dx, NULL, &d_gate_msa, &g->d1, over));
  VDIT_TRY(linear_backward(&A->o, &bw->self_out, G ? &G->self_out : NULL, &g->d1, &g->d2, over, mode));
  VDIT_TRY(attention_backward(&s->methods[n], cfg->heads, &A->q, &A->k, &A->v, &A->o, &A->lse, &g->d2, &g->dq, &g->dk,
                              &g->dv));
  vdit_tensor dqh = model_heads_view(&g->dq, cfg->heads), dkh = model_heads_view(&g->dk, cfg->heads);
  VDIT_TRY(vdit_ops_rope_3d_backward(&s->rope, &dqh, &dqh, over));
  VDIT_TRY(vdit_ops_rope_3d_backward(&s->rope, &dkh, &dkh, over));
  VDIT_TRY(projection_backward(cfg, &A->y1, &bw->self_q, &bw->self_norm_q, &A->q_pre, G ? &G->self_q : NULL,
                               G ? &G->self_norm_q : NULL, &g->dq, &g->d1, &g->dy, over, mode));
  VDIT_TRY(projection_backward(cfg, &A->y1, &bw->self_k, &bw->self_norm_k, &A->k_pre, G ? &G->self_k : NULL,
                               G ? &G->self_norm_k : NULL, &g->dk, &g->d3, &g->dy, acc, mode));
  VDIT_TRY(linear_backward(&A->y1, &bw->self_v, G ? &G->self_v : NULL, &g->dv, &g->dy, acc, mode));
  VDIT_TRY(vdit_ops_layer_norm_forward(x_in, NULL, NULL, eps, &g->norm));
  VDIT_TRY(vdit_ops_modulate_backward(&g->norm, &scale_msa, &g->dy, &g->dn, &d_scale_msa, &d_shift_msa, over));
  VDIT_TRY(vdit_ops_layer_norm_backward(x_in, NULL, eps, &g->dn, &g->dx, NULL, NULL, acc));

  // The modulation m = scale_shift_table + e6.
  if (G) VDIT_TRY(batch_sum(&g->dmod, &G->modulation, mode));
  VDIT_TRY(add_into(&g->de6, &g->dmod)); // (B, 6, D) and (B, 6 D): the same layout
  return VDIT_OK;
}

// A gradient argument of exactly `shape` on `device`, with a contiguous last dim: f32 (on a
// GPU also bf16).
static vdit_status check_grad(const char *name, const vdit_tensor *t, vdit_device device, int ndim,
                              const int64_t *shape) {
  const int gpu = device.type == VDIT_DEVICE_CUDA;
  int ok = vdit_device_equal(t->device, device) &&
           (t->dtype == VDIT_DTYPE_F32 || (gpu && t->dtype == VDIT_DTYPE_BF16)) && t->ndim == ndim &&
           (t->data || vdit_tensor_numel(t) == 0) && (ndim == 0 || t->stride[ndim - 1] == 1);
  for (int i = 0; ok && i < ndim; i++) ok = t->shape[i] == shape[i];
  if (ok) return VDIT_OK;
  vdit_tensor want;
  memset(&want, 0, sizeof want);
  want.ndim = ndim;
  memcpy(want.shape, shape, (size_t)ndim * sizeof *shape);
  char have_text[VDIT_SHAPE_STRING_SIZE], want_text[VDIT_SHAPE_STRING_SIZE];
  char where[16];
  return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "model backward: %s must be %s %s on %s with a contiguous last "
                    "dim, got %s %s",
                    name, gpu ? "f32 or bf16" : "f32", vdit_tensor_shape_string(&want, want_text, sizeof want_text),
                    gpu ? vdit_device_string(device, where, sizeof where) : "the CPU", vdit_dtype_name(t->dtype),
                    vdit_tensor_shape_string(t, have_text, sizeof have_text));
}


static int same_model(const vdit_model_config *a, const vdit_model_config *b) {
  return a->dim == b->dim && a->heads == b->heads && a->layers == b->layers && a->ffn_dim == b->ffn_dim &&
         a->freq_dim == b->freq_dim && a->text_dim == b->text_dim && a->in_channels == b->in_channels &&
         a->out_channels == b->out_channels && memcmp(a->patch, b->patch, sizeof a->patch) == 0 &&
         a->qk_norm == b->qk_norm && a->cross_attn_norm == b->cross_attn_norm;
}

vdit_status vdit_model_backward(const vdit_model_weights *weights, const vdit_model_run_options *options,
                                vdit_model_state *state, const vdit_tensor *d_output, vdit_tensor *d_video,
                                vdit_tensor *d_context, vdit_model_weights *grads, vdit_grad_mode mode) {
  if (!weights || !weights->data || !state || !d_output)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_model_backward: NULL weights, state or d_output");
  if (mode != VDIT_GRAD_OVERWRITE && mode != VDIT_GRAD_ACCUMULATE)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_model_backward: invalid gradient mode %d", (int)mode);
  vdit_model_state *s = state;
  if (!s->has_forward || s->mode == STATE_INFERENCE)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_model_backward: the state holds no forward pass to go back through "
                                                   "(run vdit_model_forward with this state first)");
  const vdit_model_config *cfg = &weights->config;
  if (!same_model(cfg, &s->config))
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_model_backward: the weights are not the model of the forward pass");
  if (grads && (!grads->data || !same_model(cfg, &grads->config)))
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT,
                      "vdit_model_backward: grads must be allocated for the model's config (vdit_model_weights_alloc)");
  const vdit_device device = weights->device;
  if (!vdit_device_equal(device, s->device))
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_model_backward: the weights are not on the forward's device");
  if (grads && (!vdit_device_equal(grads->device, device) || grads->matrix_dtype != VDIT_DTYPE_F32))
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_model_backward: grads must be f32 on the weights' device "
                                                   "(vdit_model_weights_alloc_on with VDIT_DTYPE_F32)");
  const int64_t B = s->batch, S = s->text_tokens, *grid = s->grid;
  VDIT_TRY(check_grad("d_output", d_output, device, 5,
                      (int64_t[]){B, cfg->out_channels, grid[0] * cfg->patch[0], grid[1] * cfg->patch[1],
                                  grid[2] * cfg->patch[2]}));
  if (d_video) VDIT_TRY(check_grad("d_video", d_video, device, 5, s->video_shape));
  if (d_context) VDIT_TRY(check_grad("d_context", d_context, device, 3, (int64_t[]){B, S, cfg->text_dim}));
  VDIT_TRY(model_state_prepare_grads(s));
  grad_scratch *g = &s->grads;
  run_context run = {weights, s, options ? options->observe : NULL, options ? options->observe_user : NULL,
                     options ? options->tamper : NULL, options ? options->tamper_user : NULL};
  run_context quiet = run; // the recompute forward reports nothing (but tampers as the forward did)
  quiet.observe = NULL;
  const float eps = (float)cfg->eps;
  const vdit_grad_mode over = VDIT_GRAD_OVERWRITE, acc = VDIT_GRAD_ACCUMULATE;

  // Steps 7 and 6 backwards: unpatchify, the head Linear, its modulation and LayerNorm.
  VDIT_TRY(vdit_ops_unpatchify_backward(d_output, cfg->patch, &g->dz, over));
  VDIT_TRY(model_emit(&run, &g->dz, "grad.head.proj_out"));
  VDIT_TRY(linear_backward(&s->head_y, &weights->head, grads ? &grads->head : NULL, &g->dz, &g->dy, over, mode));
  VDIT_TRY(model_emit(&run, &g->dy, "grad.head.modulated"));
  const vdit_tensor *x_last = &s->xs[cfg->layers];
  const vdit_tensor head_scale = model_mod_row(&s->head_mod, 1);
  vdit_tensor d_head_shift = model_mod_row(&g->dhead_mod, 0), d_head_scale = model_mod_row(&g->dhead_mod, 1);
  VDIT_TRY(vdit_ops_layer_norm_forward(x_last, NULL, NULL, eps, &g->norm));
  VDIT_TRY(vdit_ops_modulate_backward(&g->norm, &head_scale, &g->dy, &g->dn, &d_head_scale, &d_head_shift, over));
  VDIT_TRY(vdit_ops_layer_norm_backward(x_last, NULL, eps, &g->dn, &g->dx, NULL, NULL, over));
  if (grads) VDIT_TRY(batch_sum(&g->dhead_mod, &grads->head_modulation, mode));
  // shift and scale are table rows + temb: temb gets both
  VDIT_TRY(vdit_ops_add(&d_head_shift, &d_head_scale, &g->dtemb));

  // Step 5 backwards, block by block.
  VDIT_TRY(vdit_ops_zero(&g->de6));
  VDIT_TRY(vdit_ops_zero(&g->dctx));
  for (int64_t n = cfg->layers - 1; n >= 0; n--) {
    VDIT_TRY(model_emit(&run, &g->dx, "grad.blocks.%" PRId64 ".out", n));
    const block_acts *acts = &s->acts[s->mode == STATE_FULL ? n : 0];
    if (s->mode == STATE_RECOMPUTE)
      VDIT_TRY(model_block_forward(&quiet, n, &s->xs[n], &s->acts[0], &s->xs[n + 1])); // the same values again
    VDIT_TRY(model_block_backward(&run, n, &s->xs[n], acts, grads ? &grads->blocks[n] : NULL, mode));
  }

  // Step 2 backwards: the patch embedding, to d_video (zero where the forward cropped).
  VDIT_TRY(model_emit(&run, &g->dx, "grad.patch_embedding"));
  vdit_tensor d_video_used;
  if (d_video) {
    d_video_used = *d_video;
    d_video_used.allocation = NULL;
    int cropped = 0;
    for (int a = 0; a < 3; a++) {
      d_video_used.shape[2 + a] = grid[a] * cfg->patch[a];
      cropped |= d_video_used.shape[2 + a] != d_video->shape[2 + a];
    }
    if (cropped && mode == VDIT_GRAD_OVERWRITE) VDIT_TRY(vdit_ops_zero(d_video));
  }
  VDIT_TRY(vdit_ops_patch_embed_backward(&s->video, &weights->patch_weight, &g->dx, d_video ? &d_video_used : NULL,
                                         grads ? &grads->patch_weight : NULL, grads ? &grads->patch_bias : NULL,
                                         mode));

  // Step 4 backwards: the text embedding, to d_context.
  VDIT_TRY(model_emit(&run, &g->dctx, "grad.text_embedding"));
  const vdit_tensor *dctx;
  VDIT_TRY(gemm_operand(&g->dctx, &g->dctx_low, &dctx));
  VDIT_TRY(linear_backward(&s->c1_act, &weights->text_out, grads ? &grads->text_out : NULL, dctx, &g->dc1, over,
                           mode));
  VDIT_TRY(vdit_ops_gelu_tanh_backward(&s->c1, &g->dc1, &g->dc1, over));
  VDIT_TRY(linear_backward(&s->context, &weights->text_in, grads ? &grads->text_in : NULL, &g->dc1, d_context, mode,
                           mode));

  // Step 3 backwards: timestep_proj, then temb's total gradient (head + blocks), then the
  // time embedder's parameters (the timesteps get no gradient).
  VDIT_TRY(model_emit(&run, &g->de6, "grad.time.proj"));
  const vdit_tensor *de6;
  VDIT_TRY(gemm_operand(&g->de6, &g->de6_low, &de6));
  VDIT_TRY(linear_backward(&s->temb_act, &weights->time_proj, grads ? &grads->time_proj : NULL, de6, &g->dtmp,
                           over, mode));
  VDIT_TRY(vdit_ops_silu_backward(&s->temb, &g->dtmp, &g->dtemb, acc));
  VDIT_TRY(model_emit(&run, &g->dtemb, "grad.time.temb"));
  if (grads) {
    const vdit_tensor *dtemb;
    VDIT_TRY(gemm_operand(&g->dtemb, &g->dtemb_low, &dtemb));
    VDIT_TRY(linear_backward(&s->t1_act, &weights->time_out, &grads->time_out, dtemb, &g->dt1, over, mode));
    VDIT_TRY(vdit_ops_silu_backward(&s->t1, &g->dt1, &g->dt1, over));
    VDIT_TRY(linear_backward(&s->sinusoid, &weights->time_in, &grads->time_in, &g->dt1, NULL, over, mode));
  }
  return VDIT_OK;
}
