// The forward pass of the Wan2.1 transformer, step by step as docs/wan-model.md specifies it
// (step numbers below refer to that page): on the CPU in fp32, or on a GPU in bf16 with f32
// statistics (every op dispatches on the tensors' device; see run_internal.h for the dtypes).
#include <inttypes.h>
#include <string.h>

#include "model/run_internal.h"

// Cross-attention (a few text keys) is always dense.
static const vdit_attn_method_config dense_attention = {.method = VDIT_ATTN_DENSE};


// Softmax attention per head: q (B, Lq, D), k and v (B, Lk, D) seen as (B, *, nh, d);
// o like q, lse (B, nh, Lq).
static vdit_status attention_forward(const vdit_attn_method_config *method, int64_t heads, const vdit_tensor *q,
                                     const vdit_tensor *k, const vdit_tensor *v, vdit_tensor *o, vdit_tensor *lse) {
  vdit_attn_config config;
  memset(&config, 0, sizeof config);
  vdit_attn_config_set_method(&config, method);
  config.layout = VDIT_ATTN_LAYOUT_BSHD;
  vdit_tensor qh = model_heads_view(q, heads), kh = model_heads_view(k, heads), vh = model_heads_view(v, heads),
              oh = model_heads_view(o, heads);
  vdit_attn_plan *plan = NULL;
  VDIT_TRY(vdit_attn_plan_create(&plan, &config, &qh, &kh, &vh));
  vdit_status status = vdit_attn_forward(plan, &qh, &kh, &vh, &oh, lse);
  vdit_attn_plan_free(plan);
  return status;
}

// m (B, 6, D) = scale_shift_table (1, 6, D) + e6 (B, 6 D) viewed as (B, 6, D), in f32.
static vdit_status modulation(const vdit_tensor *table, const vdit_tensor *e6, vdit_tensor *m) {
  const int64_t B = m->shape[0], n = m->shape[1] * m->shape[2];
  vdit_tensor row, flat;
  VDIT_TRY(vdit_tensor_reshape(table, 1, (int64_t[]){n}, &row));
  VDIT_TRY(vdit_tensor_reshape(m, 2, (int64_t[]){B, n}, &flat));
  return vdit_ops_add(e6, &row, &flat);
}

// A Linear, then RMSNorm over all D channels when the config has qk_norm: pre holds the
// Linear output, out the normalized one (without qk_norm the Linear writes out directly).
static vdit_status projection(const vdit_model_config *cfg, const vdit_tensor *x, const vdit_model_linear *linear,
                              const vdit_tensor *norm, vdit_tensor *pre, vdit_tensor *out) {
  if (!cfg->qk_norm) return vdit_ops_linear_forward(x, &linear->weight, &linear->bias, out);
  VDIT_TRY(vdit_ops_linear_forward(x, &linear->weight, &linear->bias, pre));
  return vdit_ops_rms_norm_forward(pre, norm, (float)cfg->eps, out);
}

// The self-attention's q or k: the Linear, then RMSNorm (qk_norm) and RoPE in one op.
static vdit_status rotary_projection(const vdit_model_config *cfg, const vdit_rope_3d *rope, const vdit_tensor *x,
                                     const vdit_model_linear *linear, const vdit_tensor *norm, vdit_tensor *pre,
                                     vdit_tensor *out) {
  vdit_tensor oh = model_heads_view(out, cfg->heads);
  if (!cfg->qk_norm) {
    VDIT_TRY(vdit_ops_linear_forward(x, &linear->weight, &linear->bias, out));
    return vdit_ops_rope_3d_forward(rope, &oh, &oh);
  }
  VDIT_TRY(vdit_ops_linear_forward(x, &linear->weight, &linear->bias, pre));
  vdit_tensor ph = model_heads_view(pre, cfg->heads);
  return vdit_ops_rms_norm_rope_forward(&ph, norm, (float)cfg->eps, rope, &oh);
}

vdit_status model_block_forward(const run_context *run, int64_t n, const vdit_tensor *x_in, block_acts *A,
                                vdit_tensor *out) {
  const vdit_model_weights *w = run->weights;
  const vdit_model_config *cfg = &w->config;
  const vdit_model_block_weights *bw = &w->blocks[n];
  vdit_model_state *s = run->state;
  const float eps = (float)cfg->eps;

  // Step 5: the six modulation vectors.
  VDIT_TRY(modulation(&bw->modulation, &s->e6, &A->mod));
  const vdit_tensor shift_msa = model_mod_row(&A->mod, 0), scale_msa = model_mod_row(&A->mod, 1),
                    gate_msa = model_mod_row(&A->mod, 2), c_shift = model_mod_row(&A->mod, 3),
                    c_scale = model_mod_row(&A->mod, 4), c_gate = model_mod_row(&A->mod, 5);

  // Self-attention.
  VDIT_TRY(vdit_ops_layer_norm_modulate_forward(x_in, eps, &scale_msa, &shift_msa, &A->y1));
  VDIT_TRY(rotary_projection(cfg, &s->rope, &A->y1, &bw->self_q, &bw->self_norm_q, &A->q_pre, &A->q));
  VDIT_TRY(rotary_projection(cfg, &s->rope, &A->y1, &bw->self_k, &bw->self_norm_k, &A->k_pre, &A->k));
  VDIT_TRY(vdit_ops_linear_forward(&A->y1, &bw->self_v.weight, &bw->self_v.bias, &A->v));
  vdit_tensor qh = model_heads_view(&A->q, cfg->heads), kh = model_heads_view(&A->k, cfg->heads);
  vdit_tensor vh = model_heads_view(&A->v, cfg->heads);
  VDIT_TRY(model_attn_inputs_hook(run, n, &qh, &kh, &vh));
  VDIT_TRY(attention_forward(&s->methods[n], cfg->heads, &A->q, &A->k, &A->v, &A->o, &A->lse));
  vdit_tensor oh = model_heads_view(&A->o, cfg->heads);
  VDIT_TRY(model_attn_output_hook(run, n, &oh));
  VDIT_TRY(vdit_ops_linear_forward(&A->o, &bw->self_out.weight, &bw->self_out.bias, &A->a));
  VDIT_TRY(model_emit(run, &A->a, "blocks.%" PRId64 ".attn1", n));
  VDIT_TRY(vdit_ops_gated_residual_forward(x_in, &gate_msa, &A->a, &A->x1));

  // Cross-attention over the text embedding: no RoPE, no gate, no modulation.
  if (cfg->cross_attn_norm)
    VDIT_TRY(vdit_ops_layer_norm_forward(&A->x1, &bw->cross_norm_weight, &bw->cross_norm_bias, eps, &A->y2));
  VDIT_TRY(projection(cfg, &A->y2, &bw->cross_q, &bw->cross_norm_q, &A->q2_pre, &A->q2));
  VDIT_TRY(projection(cfg, &s->ctx, &bw->cross_k, &bw->cross_norm_k, &A->k2_pre, &A->k2));
  VDIT_TRY(vdit_ops_linear_forward(&s->ctx, &bw->cross_v.weight, &bw->cross_v.bias, &A->v2));
  VDIT_TRY(attention_forward(&dense_attention, cfg->heads, &A->q2, &A->k2, &A->v2, &A->o2, &A->lse2));
  VDIT_TRY(vdit_ops_linear_forward(&A->o2, &bw->cross_out.weight, &bw->cross_out.bias, &A->a2));
  VDIT_TRY(model_emit(run, &A->a2, "blocks.%" PRId64 ".attn2", n));
  VDIT_TRY(vdit_ops_add(&A->x1, &A->a2, &A->x2));

  // Feed-forward.
  VDIT_TRY(vdit_ops_layer_norm_modulate_forward(&A->x2, eps, &c_scale, &c_shift, &A->y3));
  // h, the pre-activation, is kept for the backward (inference keeps none).
  VDIT_TRY(vdit_ops_linear_gelu_forward(&A->y3, &bw->ffn_in.weight, &bw->ffn_in.bias, A->h.data ? &A->h : NULL, &A->g));
  VDIT_TRY(vdit_ops_linear_forward(&A->g, &bw->ffn_out.weight, &bw->ffn_out.bias, &A->f));
  VDIT_TRY(model_emit(run, &A->f, "blocks.%" PRId64 ".ffn", n));
  VDIT_TRY(vdit_ops_gated_residual_forward(&A->x2, &c_gate, &A->f, out));
  return model_emit(run, out, "blocks.%" PRId64 ".out", n);
}

// A tensor of `ndim` dims with a contiguous last dim on `device`: f32 on the CPU, f32 (or
// bf16 where allow_bf16) on a GPU; shape entries < 0 match any.
static vdit_status check_input(const char *name, const vdit_tensor *t, vdit_device device, int allow_bf16,
                               const char *dims, int ndim, const int64_t *shape) {
  if (!t) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "model: %s is NULL", name);
  if (!vdit_device_equal(t->device, device)) {
    char a[16], b[16];
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "model: %s is on %s, the weights on %s", name,
                      vdit_device_string(t->device, a, sizeof a), vdit_device_string(device, b, sizeof b));
  }
  const int gpu = device.type == VDIT_DEVICE_CUDA;
  if (t->dtype != VDIT_DTYPE_F32 && !(gpu && allow_bf16 && t->dtype == VDIT_DTYPE_BF16))
    return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "model: %s is %s; the %s model takes %s", name, vdit_dtype_name(t->dtype),
                      gpu ? "GPU" : "CPU", gpu && allow_bf16 ? "f32 or bf16" : "f32");
  int same = t->ndim == ndim;
  for (int i = 0; same && i < ndim; i++) same = shape[i] < 0 || t->shape[i] == shape[i];
  if (!same) {
    char have[VDIT_SHAPE_STRING_SIZE];
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "model: %s must be %s, got %s", name, dims,
                      vdit_tensor_shape_string(t, have, sizeof have));
  }
  if (ndim > 0 && t->stride[ndim - 1] != 1 && t->shape[ndim - 1] > 1)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "model: %s needs a contiguous last dim", name);
  if (!t->data && vdit_tensor_numel(t) > 0) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "model: %s has no data", name);
  return VDIT_OK;
}

// The video cropped to whole patches: a view of the same memory.
static vdit_tensor crop_video(const vdit_tensor *video, const vdit_model_config *cfg, const int64_t grid[3]) {
  vdit_tensor view = *video;
  for (int a = 0; a < 3; a++) view.shape[2 + a] = grid[a] * cfg->patch[a];
  view.allocation = NULL;
  return view;
}

// The inputs against the config; grid = (F', H', W'), the token grid after patching.
static vdit_status check_inputs(const vdit_model_config *cfg, vdit_device device, const vdit_tensor *video,
                                const vdit_tensor *timesteps, const vdit_tensor *context, int64_t grid[3]) {
  VDIT_TRY(check_input("video", video, device, 1, "(B, C_in, F, H, W)", 5,
                       (int64_t[]){-1, cfg->in_channels, -1, -1, -1}));
  const int64_t B = video->shape[0];
  if (B < 1) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "model: the batch is empty");
  for (int a = 0; a < 3; a++) {
    grid[a] = video->shape[2 + a] / cfg->patch[a];
    if (grid[a] < 1)
      return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT,
                        "model: video (F, H, W) = (%" PRId64 ", %" PRId64 ", %" PRId64 ") is smaller than one "
                        "(%" PRId64 ", %" PRId64 ", %" PRId64 ") patch",
                        video->shape[2], video->shape[3], video->shape[4], cfg->patch[0], cfg->patch[1],
                        cfg->patch[2]);
  }
  VDIT_TRY(check_input("timesteps", timesteps, device, 0, "(B)", 1, (int64_t[]){B}));
  VDIT_TRY(check_input("context", context, device, 1, "(B, S, text_dim)", 3, (int64_t[]){B, -1, cfg->text_dim}));
  if (context->shape[1] < 1) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "model: context has no text tokens");
  return VDIT_OK;
}

vdit_status vdit_model_forward(const vdit_model_weights *weights, const vdit_model_run_options *options,
                               const vdit_tensor *video, const vdit_tensor *timesteps, const vdit_tensor *context,
                               vdit_tensor *output, vdit_model_state *state) {
  if (!weights || !weights->data)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_model_forward: weights are not loaded");
  const vdit_model_config *cfg = &weights->config;
  VDIT_TRY(vdit_model_config_validate(cfg));
  const vdit_device device = weights->device;
  if (device.type == VDIT_DEVICE_CUDA && weights->matrix_dtype != VDIT_DTYPE_BF16)
    return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "vdit_model_forward: GPU weights must have bf16 matrices (the GEMMs' "
                                              "operands); convert f32 ones with vdit_model_weights_copy");
  int64_t grid[3];
  VDIT_TRY(check_inputs(cfg, device, video, timesteps, context, grid));
  const int64_t B = video->shape[0], S = context->shape[1];
  VDIT_TRY(check_input("output", output, device, 1, "(B, C_out, F' p_t, H' p_h, W' p_w)", 5,
                       (int64_t[]){B, cfg->out_channels, grid[0] * cfg->patch[0], grid[1] * cfg->patch[1],
                                   grid[2] * cfg->patch[2]}));
  if (options && options->self_attn)
    for (int64_t n = 0; n < cfg->layers; n++) {
      const vdit_attn_method method = options->self_attn[n].method;
      if ((unsigned)method >= VDIT_ATTN_METHOD_COUNT)
        return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "model: invalid attention method %d for block %" PRId64,
                          (int)method, n);
      if (method == VDIT_ATTN_BLOCK)
        return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT,
                          "model: block %" PRId64 " asks for method 'block', which needs a caller's block map (use sparge)", n);
    }

  if (options && options->tamper && device.type != VDIT_DEVICE_CPU)
    return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "model: the tamper hook runs on CPU models only (it edits f32 host memory)");

  vdit_model_state *own = NULL;
  if (!state) VDIT_TRY(vdit_model_state_create(&own));
  vdit_model_state *s = state ? state : own;
  const state_mode mode = !state || (options && options->no_grad) ? STATE_INFERENCE
                          : options && options->recompute        ? STATE_RECOMPUTE
                                                                 : STATE_FULL;
  vdit_status status = model_state_prepare(s, cfg, device, mode, B, S, grid);
  if (status != VDIT_OK) {
    vdit_model_state_free(own);
    return status;
  }
  memcpy(s->video_shape, video->shape, sizeof s->video_shape);
  for (int64_t n = 0; n < cfg->layers; n++)
    s->methods[n] = options && options->self_attn ? options->self_attn[n] : vdit_attn_method_defaults(VDIT_ATTN_DENSE);
  s->rope = (vdit_rope_3d){grid[0], grid[1], grid[2], 0, cfg->rope_theta};
  run_context run = {weights, s, options ? options->observe : NULL, options ? options->observe_user : NULL,
                     options ? options->tamper : NULL, options ? options->tamper_user : NULL};
  const vdit_tensor cropped = crop_video(video, cfg, grid);
  const float eps = (float)cfg->eps;

#define RUN(call)                 \
  do {                            \
    status = (call);              \
    if (status != VDIT_OK) goto done; \
  } while (0)
  RUN(vdit_tensor_convert(&s->video, &cropped)); // a copy on the CPU; to bf16 on a GPU
  RUN(vdit_tensor_convert(&s->context, context));
  // Step 3: time embedding.
  RUN(vdit_ops_timestep_embedding(timesteps, &s->sinusoid));
  RUN(model_emit(&run, &s->sinusoid, "time.sinusoid"));
  RUN(vdit_ops_linear_forward(&s->sinusoid, &weights->time_in.weight, &weights->time_in.bias, &s->t1));
  RUN(vdit_ops_silu_forward(&s->t1, &s->t1_act));
  RUN(vdit_ops_linear_forward(&s->t1_act, &weights->time_out.weight, &weights->time_out.bias, &s->temb));
  RUN(model_emit(&run, &s->temb, "time.temb"));
  RUN(vdit_ops_silu_forward(&s->temb, &s->temb_act));
  RUN(vdit_ops_linear_forward(&s->temb_act, &weights->time_proj.weight, &weights->time_proj.bias, &s->e6));
  RUN(model_emit(&run, &s->e6, "time.proj"));
  // Step 4: text embedding.
  RUN(vdit_ops_linear_forward(&s->context, &weights->text_in.weight, &weights->text_in.bias, &s->c1));
  RUN(vdit_ops_gelu_tanh_forward(&s->c1, &s->c1_act));
  RUN(vdit_ops_linear_forward(&s->c1_act, &weights->text_out.weight, &weights->text_out.bias, &s->ctx));
  RUN(model_emit(&run, &s->ctx, "text_embedding"));
  // Step 2: patch embedding.
  RUN(vdit_ops_patch_embed_forward(&s->video, &weights->patch_weight, &weights->patch_bias, &s->xs[0]));
  RUN(model_emit(&run, &s->xs[0], "patch_embedding"));
  // Step 5: the blocks (inference: one residual buffer updated in place).
  for (int64_t n = 0; n < cfg->layers; n++) {
    vdit_tensor *x_in = mode == STATE_INFERENCE ? &s->xs[0] : &s->xs[n];
    vdit_tensor *x_out = mode == STATE_INFERENCE ? &s->xs[0] : &s->xs[n + 1];
    RUN(model_block_forward(&run, n, x_in, mode == STATE_FULL ? &s->acts[n] : &s->acts[0], x_out));
  }
  // Step 6: the output head, modulated by temb (not timestep_proj).
  const vdit_tensor *x_last = mode == STATE_INFERENCE ? &s->xs[0] : &s->xs[cfg->layers];
  vdit_tensor head_shift = model_mod_row(&s->head_mod, 0), head_scale = model_mod_row(&s->head_mod, 1);
  for (int k = 0; k < 2; k++) { // head_mod[:, k] = table[k] + temb
    vdit_tensor table_row = model_mod_row(&weights->head_modulation, k);
    table_row.ndim = 1;
    table_row.shape[0] = cfg->dim;
    table_row.stride[0] = 1;
    RUN(vdit_ops_add(&s->temb, &table_row, k == 0 ? &head_shift : &head_scale));
  }
  RUN(vdit_ops_layer_norm_modulate_forward(x_last, eps, &head_scale, &head_shift, &s->head_y));
  RUN(model_emit(&run, &s->head_y, "head.modulated"));
  RUN(vdit_ops_linear_forward(&s->head_y, &weights->head.weight, &weights->head.bias, &s->z));
  RUN(model_emit(&run, &s->z, "head.proj_out"));
  // Step 7: unpatchify.
  RUN(vdit_ops_unpatchify_forward(&s->z, cfg->patch, output));
  RUN(model_emit(&run, output, "output"));
  s->has_forward = 1;
#undef RUN
done:
  vdit_model_state_free(own);
  return status;
}
