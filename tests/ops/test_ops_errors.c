// Bad input to every op gives the right status and a one-line message naming the op and
// the argument, and writes nothing: NULL tensors, CUDA tensors (mixed with CPU ones), other dtypes, wrong shapes,
// a strided last dim, an output with a 0 stride, bad eps, modes, grids and patches.
#include "ops_test_util.h"

// The call must fail with `status` and a single-line message containing `text`.
#define EXPECT_ERROR(call, status, text)                                                              \
  do {                                                                                               \
    vdit_error_clear();                                                                              \
    CHECK_STATUS(call, status);                                                                      \
    const char *message_ = vdit_last_error();                                                        \
    if (!strstr(message_, text)) CHECK_FAIL_("%s: message '%s' lacks '%s'", #call, message_, text);  \
    if (strchr(message_, '\n')) CHECK_FAIL_("%s: message '%s' has a newline", #call, message_);      \
  } while (0)

static vdit_tensor make(int ndim, const int64_t *shape) {
  vdit_tensor t = test_alloc(ndim, shape);
  CHECK_OK(vdit_tensor_fill_normal(&t, 1, 0, 0.0, 1.0));
  return t;
}

// A descriptor that claims to live on GPU 0 (never dereferenced: the op must refuse first).
static vdit_tensor on_cuda(const vdit_tensor *t) {
  vdit_tensor c = *t;
  c.device = VDIT_CUDA(0);
  c.allocation = NULL;
  return c;
}

static vdit_tensor as_dtype(const vdit_tensor *t, vdit_dtype dtype) {
  vdit_tensor c = *t;
  c.dtype = dtype;
  c.allocation = NULL;
  return c;
}

static void test_linear(void) {
  vdit_tensor x = make(2, (int64_t[]){4, 6}), w = make(2, (int64_t[]){5, 6}), b = make(1, (int64_t[]){5});
  vdit_tensor y = make(2, (int64_t[]){4, 5}), wrong = make(2, (int64_t[]){5, 7}), y_wrong = make(2, (int64_t[]){4, 4});
  vdit_tensor x_cuda = on_cuda(&x), x_bf16 = as_dtype(&x, VDIT_DTYPE_BF16), x_i32 = as_dtype(&x, VDIT_DTYPE_I32);
  EXPECT_ERROR(vdit_ops_linear_forward(NULL, &w, &b, &y), VDIT_ERROR_INVALID_ARGUMENT, "linear: x is NULL");
#ifdef VDIT_HAVE_CUDA
  // A CUDA x with CPU weights: the devices must agree.
  EXPECT_ERROR(vdit_ops_linear_forward(&x_cuda, &w, &b, &y), VDIT_ERROR_INVALID_ARGUMENT,
               "linear: every tensor must be on one device (cuda:0 and cpu given)");
#else
  EXPECT_ERROR(vdit_ops_linear_forward(&x_cuda, &w, &b, &y), VDIT_ERROR_UNSUPPORTED,
               "linear: x is a CUDA tensor; this build has no CUDA backend");
#endif
  EXPECT_ERROR(vdit_ops_linear_forward(&x_bf16, &w, &b, &y), VDIT_ERROR_UNSUPPORTED, "linear: x is bf16");
  EXPECT_ERROR(vdit_ops_linear_forward(&x_i32, &w, &b, &y), VDIT_ERROR_INVALID_ARGUMENT, "linear: x must be f32, got i32");
  EXPECT_ERROR(vdit_ops_linear_forward(&x, &wrong, &b, &y), VDIT_ERROR_INVALID_ARGUMENT,
               "linear: weight must be (out, in) = (*, 6), got (5, 7)");
  EXPECT_ERROR(vdit_ops_linear_forward(&x, &w, &x, &y), VDIT_ERROR_INVALID_ARGUMENT, "linear: bias must be (out) = (5)");
  EXPECT_ERROR(vdit_ops_linear_forward(&x, &w, &b, &y_wrong), VDIT_ERROR_INVALID_ARGUMENT,
               "linear: y must be (..., out) = (4, 5), got (4, 4)");
  // A strided last dim.
  vdit_tensor x_t;
  CHECK_OK(vdit_tensor_view(&x_t, x.data, VDIT_DTYPE_F32, VDIT_CPU, 2, (int64_t[]){6, 4}, (int64_t[]){1, 6}));
  EXPECT_ERROR(vdit_ops_linear_forward(&x_t, &w, &b, &y), VDIT_ERROR_INVALID_ARGUMENT,
               "linear: x needs a contiguous last dim (stride 1, got 6)");
  // An output whose rows alias (stride 0).
  vdit_tensor y_bcast;
  CHECK_OK(vdit_tensor_view(&y_bcast, y.data, VDIT_DTYPE_F32, VDIT_CPU, 2, (int64_t[]){4, 5}, (int64_t[]){0, 1}));
  EXPECT_ERROR(vdit_ops_linear_forward(&x, &w, &b, &y_bcast), VDIT_ERROR_INVALID_ARGUMENT,
               "linear: output y maps two elements to one address");
  // Backward: what each gradient needs; bad mode; shapes.
  vdit_tensor dx = make(2, (int64_t[]){4, 6}), dw = make(2, (int64_t[]){5, 6});
  EXPECT_ERROR(vdit_ops_linear_backward(&x, NULL, &y, &dx, NULL, NULL, VDIT_GRAD_OVERWRITE),
               VDIT_ERROR_INVALID_ARGUMENT, "linear backward: dx needs weight");
  EXPECT_ERROR(vdit_ops_linear_backward(NULL, &w, &y, NULL, &dw, NULL, VDIT_GRAD_OVERWRITE),
               VDIT_ERROR_INVALID_ARGUMENT, "linear backward: dweight needs x");
  EXPECT_ERROR(vdit_ops_linear_backward(&x, &w, &y, &dx, &dw, &b, (vdit_grad_mode)7), VDIT_ERROR_INVALID_ARGUMENT,
               "linear backward: invalid gradient mode 7");
  EXPECT_ERROR(vdit_ops_linear_backward(&x, &w, &y, &dx, &wrong, NULL, VDIT_GRAD_OVERWRITE),
               VDIT_ERROR_INVALID_ARGUMENT, "linear backward: dweight must be (out, in) = (5, 6), got (5, 7)");
  EXPECT_ERROR(vdit_ops_linear_backward(&x, &w, &y, &y, NULL, NULL, VDIT_GRAD_OVERWRITE), VDIT_ERROR_INVALID_ARGUMENT,
               "linear backward: dx must be (..., in) = (4, 6), got (4, 5)");
  vdit_tensor *all[8] = {&x, &w, &b, &y, &wrong, &y_wrong, &dx, &dw};
  for (int i = 0; i < 8; i++) vdit_tensor_free(all[i]);
}

static void test_norms(void) {
  vdit_tensor x = make(3, (int64_t[]){2, 3, 8}), y = make(3, (int64_t[]){2, 3, 8}), w = make(1, (int64_t[]){8});
  vdit_tensor w_bad = make(1, (int64_t[]){7}), y_bad = make(3, (int64_t[]){2, 4, 8});
  vdit_tensor y_cuda = on_cuda(&y);
  EXPECT_ERROR(vdit_ops_layer_norm_forward(&x, &w_bad, NULL, 1e-6f, &y), VDIT_ERROR_INVALID_ARGUMENT,
               "layer_norm: weight must be (C) = (8), got (7)");
  EXPECT_ERROR(vdit_ops_layer_norm_forward(&x, &w, &w_bad, 1e-6f, &y), VDIT_ERROR_INVALID_ARGUMENT,
               "layer_norm: bias must be (C) = (8), got (7)");
  EXPECT_ERROR(vdit_ops_layer_norm_forward(&x, &w, NULL, -1.0f, &y), VDIT_ERROR_INVALID_ARGUMENT,
               "layer_norm: eps must be finite and >= 0");
  EXPECT_ERROR(vdit_ops_layer_norm_forward(&x, &w, NULL, NAN, &y), VDIT_ERROR_INVALID_ARGUMENT,
               "layer_norm: eps must be finite");
  EXPECT_ERROR(vdit_ops_layer_norm_forward(&x, NULL, NULL, 1e-6f, &y_bad), VDIT_ERROR_INVALID_ARGUMENT,
               "layer_norm: y must be like x = (2, 3, 8), got (2, 4, 8)");
#ifdef VDIT_HAVE_CUDA
  EXPECT_ERROR(vdit_ops_layer_norm_forward(&x, NULL, NULL, 1e-6f, &y_cuda), VDIT_ERROR_INVALID_ARGUMENT,
               "layer_norm: every tensor must be on one device (cpu and cuda:0 given)");
#else
  EXPECT_ERROR(vdit_ops_layer_norm_forward(&x, NULL, NULL, 1e-6f, &y_cuda), VDIT_ERROR_UNSUPPORTED,
               "layer_norm: y is a CUDA tensor");
#endif
  EXPECT_ERROR(vdit_ops_layer_norm_backward(&x, NULL, 1e-6f, &y, NULL, &w, NULL, VDIT_GRAD_OVERWRITE),
               VDIT_ERROR_INVALID_ARGUMENT, "layer_norm backward: dweight given for a layer norm without weight");
  EXPECT_ERROR(vdit_ops_layer_norm_backward(&x, &w, 1e-6f, &y_bad, &y, NULL, NULL, VDIT_GRAD_OVERWRITE),
               VDIT_ERROR_INVALID_ARGUMENT, "layer_norm backward: dy must be like x");
  EXPECT_ERROR(vdit_ops_rms_norm_forward(&x, &w_bad, 1e-6f, &y), VDIT_ERROR_INVALID_ARGUMENT,
               "rms_norm: weight must be (C) = (8), got (7)");
  EXPECT_ERROR(vdit_ops_rms_norm_backward(&x, NULL, 1e-6f, &y, &y_bad, NULL, VDIT_GRAD_OVERWRITE),
               VDIT_ERROR_INVALID_ARGUMENT, "rms_norm backward: dx must be like x");
  EXPECT_ERROR(vdit_ops_rms_norm_backward(&x, NULL, 1e-6f, &y, NULL, &w, VDIT_GRAD_OVERWRITE),
               VDIT_ERROR_INVALID_ARGUMENT, "rms_norm backward: dweight given for an RMS norm without weight");
  // Pointwise ops and softmax.
  EXPECT_ERROR(vdit_ops_gelu_tanh_forward(&x, &y_bad), VDIT_ERROR_INVALID_ARGUMENT, "gelu_tanh: y must be like x");
  EXPECT_ERROR(vdit_ops_silu_backward(&x, &y_bad, &y, VDIT_GRAD_OVERWRITE), VDIT_ERROR_INVALID_ARGUMENT,
               "silu backward: dy must be like x");
  EXPECT_ERROR(vdit_ops_silu_backward(&x, &y, &y, VDIT_GRAD_ACCUMULATE), VDIT_ERROR_INVALID_ARGUMENT,
               "silu backward: dx may be dy only when overwriting");
  EXPECT_ERROR(vdit_ops_softmax_forward(NULL, &y), VDIT_ERROR_INVALID_ARGUMENT, "softmax: x is NULL");
  EXPECT_ERROR(vdit_ops_softmax_backward(&x, &y, &y_bad, VDIT_GRAD_OVERWRITE), VDIT_ERROR_INVALID_ARGUMENT,
               "softmax backward: dx must be like y");
  vdit_tensor *all[5] = {&x, &y, &w, &w_bad, &y_bad};
  for (int i = 0; i < 5; i++) vdit_tensor_free(all[i]);
}

static void test_modulate(void) {
  vdit_tensor x = make(3, (int64_t[]){2, 3, 8}), p = make(2, (int64_t[]){2, 8}), p_bad = make(2, (int64_t[]){1, 8});
  vdit_tensor y = make(3, (int64_t[]){2, 3, 8}), flat = make(2, (int64_t[]){6, 8});
  EXPECT_ERROR(vdit_ops_modulate_forward(&flat, &p, &p, &y), VDIT_ERROR_INVALID_ARGUMENT,
               "modulate: x must be (B, S, C), got 2 dims");
  EXPECT_ERROR(vdit_ops_modulate_forward(&x, &p_bad, &p, &y), VDIT_ERROR_INVALID_ARGUMENT,
               "modulate: scale must be (B, C) = (2, 8), got (1, 8)");
  EXPECT_ERROR(vdit_ops_modulate_forward(&x, &p, &p, &flat), VDIT_ERROR_INVALID_ARGUMENT,
               "modulate: y must be (B, S, C) = (2, 3, 8), got (6, 8)");
  EXPECT_ERROR(vdit_ops_modulate_backward(NULL, &p, &y, NULL, &p, NULL, VDIT_GRAD_OVERWRITE),
               VDIT_ERROR_INVALID_ARGUMENT, "modulate backward: dscale needs x");
  EXPECT_ERROR(vdit_ops_gated_residual_forward(&x, &p, &flat, &y), VDIT_ERROR_INVALID_ARGUMENT,
               "gated_residual: h must be (B, S, C)");
  EXPECT_ERROR(vdit_ops_gated_residual_backward(NULL, &x, &y, NULL, NULL, &x, VDIT_GRAD_OVERWRITE),
               VDIT_ERROR_INVALID_ARGUMENT, "gated_residual backward: dh needs gate");
  EXPECT_ERROR(vdit_ops_gated_residual_backward(&p, NULL, &y, NULL, &p, NULL, VDIT_GRAD_OVERWRITE),
               VDIT_ERROR_INVALID_ARGUMENT, "gated_residual backward: dgate needs h");
  vdit_tensor *all[5] = {&x, &p, &p_bad, &y, &flat};
  for (int i = 0; i < 5; i++) vdit_tensor_free(all[i]);
}

static void test_rope(void) {
  vdit_tensor q = make(4, (int64_t[]){1, 12, 2, 8}), out = make(4, (int64_t[]){1, 12, 2, 8});
  vdit_tensor odd = make(4, (int64_t[]){1, 12, 2, 7}), three = make(3, (int64_t[]){1, 12, 16});
  const vdit_rope_3d good = {2, 2, 3, 0, 0}, bad_grid = {2, 3, 3, 0, 0}, negative = {2, 2, 3, -1, 0};
  const vdit_rope_3d bad_theta = {2, 2, 3, 0, -5.0};
  CHECK_OK(vdit_ops_rope_3d_forward(&good, &q, &out));
  EXPECT_ERROR(vdit_ops_rope_3d_forward(&bad_grid, &q, &out), VDIT_ERROR_INVALID_ARGUMENT,
               "rope_3d: x has S = 12 tokens, not frames x height x width = 2 x 3 x 3");
  EXPECT_ERROR(vdit_ops_rope_3d_forward(&negative, &q, &out), VDIT_ERROR_INVALID_ARGUMENT, "must not be negative");
  EXPECT_ERROR(vdit_ops_rope_3d_forward(&bad_theta, &q, &out), VDIT_ERROR_INVALID_ARGUMENT,
               "rope_3d: theta must be finite and >= 0");
  EXPECT_ERROR(vdit_ops_rope_3d_forward(NULL, &q, &out), VDIT_ERROR_INVALID_ARGUMENT, "rope_3d: rope is NULL");
  vdit_tensor odd_out = make(4, (int64_t[]){1, 12, 2, 7});
  EXPECT_ERROR(vdit_ops_rope_3d_forward(&good, &odd, &odd_out), VDIT_ERROR_INVALID_ARGUMENT,
               "rope_3d: head dim D = 7 must be even");
  EXPECT_ERROR(vdit_ops_rope_3d_forward(&good, &three, &out), VDIT_ERROR_INVALID_ARGUMENT,
               "rope_3d: x must be (B, S, H, D), got 3 dims");
  EXPECT_ERROR(vdit_ops_rope_3d_backward(&good, &q, &q, VDIT_GRAD_ACCUMULATE), VDIT_ERROR_INVALID_ARGUMENT,
               "rope_3d backward: dx may be dy only when overwriting");
  vdit_tensor *all[5] = {&q, &out, &odd, &three, &odd_out};
  for (int i = 0; i < 5; i++) vdit_tensor_free(all[i]);
}

static void test_patch(void) {
  vdit_tensor video = make(5, (int64_t[]){1, 4, 2, 6, 6}), weight = make(5, (int64_t[]){8, 4, 1, 2, 2});
  vdit_tensor tokens = make(3, (int64_t[]){1, 18, 8}), w_c = make(5, (int64_t[]){8, 3, 1, 2, 2});
  vdit_tensor w_odd = make(5, (int64_t[]){8, 4, 1, 4, 2}), tokens_bad = make(3, (int64_t[]){1, 17, 8});
  CHECK_OK(vdit_ops_patch_embed_forward(&video, &weight, NULL, &tokens));
  EXPECT_ERROR(vdit_ops_patch_embed_forward(&video, &w_c, NULL, &tokens), VDIT_ERROR_INVALID_ARGUMENT,
               "patch_embed: weight must be (dim, C, p_t, p_h, p_w) = (*, 4, *, *, *), got (8, 3, 1, 2, 2)");
  EXPECT_ERROR(vdit_ops_patch_embed_forward(&video, &w_odd, NULL, &tokens), VDIT_ERROR_INVALID_ARGUMENT,
               "patch_embed: video (F, H, W) = (2, 6, 6) is not a whole number of (1, 4, 2) patches");
  EXPECT_ERROR(vdit_ops_patch_embed_forward(&video, &weight, NULL, &tokens_bad), VDIT_ERROR_INVALID_ARGUMENT,
               "patch_embed: tokens must be (B, S, dim) = (1, 18, 8), got (1, 17, 8)");
  EXPECT_ERROR(vdit_ops_patch_embed_forward(&tokens, &weight, NULL, &tokens), VDIT_ERROR_INVALID_ARGUMENT,
               "patch_embed: video must be (B, C, F, H, W), got 3 dims");
  EXPECT_ERROR(vdit_ops_patch_embed_backward(NULL, &weight, &tokens, NULL, &weight, NULL, VDIT_GRAD_OVERWRITE),
               VDIT_ERROR_INVALID_ARGUMENT, "patch_embed backward: dweight needs video");
  EXPECT_ERROR(vdit_ops_patch_embed_backward(&video, NULL, &tokens, &video, NULL, NULL, VDIT_GRAD_OVERWRITE),
               VDIT_ERROR_INVALID_ARGUMENT, "patch_embed backward: dvideo needs weight");
  // Unpatchify: tokens (1, 18, 1 * 2 * 2 * 4).
  vdit_tensor ptokens = make(3, (int64_t[]){1, 18, 16});
  const int64_t patch[3] = {1, 2, 2}, zero[3] = {1, 0, 2}, uneven[3] = {1, 4, 2};
  CHECK_OK(vdit_ops_unpatchify_forward(&ptokens, patch, &video));
  EXPECT_ERROR(vdit_ops_unpatchify_forward(&ptokens, zero, &video), VDIT_ERROR_INVALID_ARGUMENT,
               "unpatchify: patch size (1, 0, 2) must be >= 1");
  EXPECT_ERROR(vdit_ops_unpatchify_forward(&ptokens, uneven, &video), VDIT_ERROR_INVALID_ARGUMENT,
               "unpatchify: video (F, H, W) = (2, 6, 6) is not a whole number of (1, 4, 2) patches");
  EXPECT_ERROR(vdit_ops_unpatchify_forward(&tokens, patch, &video), VDIT_ERROR_INVALID_ARGUMENT,
               "unpatchify: tokens must be (B, S, p_t p_h p_w C) = (1, 18, 16), got (1, 18, 8)");
  EXPECT_ERROR(vdit_ops_unpatchify_forward(&ptokens, NULL, &video), VDIT_ERROR_INVALID_ARGUMENT,
               "unpatchify: patch is NULL");
  EXPECT_ERROR(vdit_ops_unpatchify_backward(&video, patch, &tokens, VDIT_GRAD_OVERWRITE), VDIT_ERROR_INVALID_ARGUMENT,
               "unpatchify backward: dtokens must be");
  // Timestep embedding.
  vdit_tensor t = make(1, (int64_t[]){3}), emb = make(2, (int64_t[]){3, 16}), emb_bad = make(2, (int64_t[]){4, 16});
  CHECK_OK(vdit_ops_timestep_embedding(&t, &emb));
  EXPECT_ERROR(vdit_ops_timestep_embedding(&t, &emb_bad), VDIT_ERROR_INVALID_ARGUMENT,
               "timestep_embedding: out must be (N, dim) = (3, *), got (4, 16)");
  EXPECT_ERROR(vdit_ops_timestep_embedding(&emb, &emb), VDIT_ERROR_INVALID_ARGUMENT,
               "timestep_embedding: timesteps must be (N), got 2 dims");
  vdit_tensor *all[10] = {&video, &weight, &tokens, &w_c, &w_odd, &tokens_bad, &ptokens, &t, &emb, &emb_bad};
  for (int i = 0; i < 10; i++) vdit_tensor_free(all[i]);
}

// Failing calls write nothing: the output stays NaN.
static void test_nothing_written(void) {
  vdit_tensor x = make(2, (int64_t[]){3, 4}), w = make(1, (int64_t[]){5}), y = test_alloc(2, (int64_t[]){3, 4});
  CHECK_STATUS(vdit_ops_layer_norm_forward(&x, &w, NULL, 1e-6f, &y), VDIT_ERROR_INVALID_ARGUMENT);
  int64_t nan_count = 0;
  CHECK_OK(vdit_tensor_count_nan(&y, &nan_count));
  CHECK_EQ_INT(nan_count, 12);
  vdit_tensor_free(&x);
  vdit_tensor_free(&w);
  vdit_tensor_free(&y);
}

// Empty tensors are fine and write nothing.
static void test_empty(void) {
  vdit_tensor x = make(2, (int64_t[]){0, 4}), w = make(2, (int64_t[]){3, 4}), y = make(2, (int64_t[]){0, 3});
  CHECK_OK(vdit_ops_linear_forward(&x, &w, NULL, &y));
  CHECK_OK(vdit_ops_layer_norm_forward(&x, NULL, NULL, 1e-6f, &x));
  CHECK_OK(vdit_ops_softmax_forward(&x, &x));
  vdit_tensor dw = test_alloc(2, (int64_t[]){3, 4});
  CHECK_OK(vdit_ops_linear_backward(&x, &w, &y, NULL, &dw, NULL, VDIT_GRAD_OVERWRITE));
  for (int i = 0; i < 12; i++) CHECK_EQ_FLOAT_BITS(((float *)dw.data)[i], 0.0f); // an empty sum
  vdit_tensor_free(&x);
  vdit_tensor_free(&w);
  vdit_tensor_free(&y);
  vdit_tensor_free(&dw);
}

int main(void) {
  test_linear();
  test_norms();
  test_modulate();
  test_rope();
  test_patch();
  test_nothing_written();
  test_empty();
  return check_finish("test_ops_errors");
}
