// The CUDA ops against the CPU ops (the specification): every op of include/vdit/ops.h the
// model uses, forward and backward, on the same values (Philox inputs, with and without
// outlier channels, rounded to bf16 so both sides read identical numbers). GPU outputs are
// poisoned with NaN first. Tolerances are relative L1 against the CPU result: 1e-2 for a bf16
// output (one rounding of 2^-9 plus bf16 inputs to the reductions), 2e-3 for an f32 output
// (fp32 sums in another order; operands that went through bf16 on the GPU only). GEMMs run
// both through cuBLASLt (aligned shapes) and the fallback kernel (odd leading dims).
// Skips cleanly without a GPU or without the CUDA backend.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops_test_util.h"
#include "vdit/ops.h"

#define TEST_NAME "test_ops_gpu"
#define TOL_BF16 1e-2
#define TOL_F32 2e-3

typedef struct pair {
  vdit_tensor cpu, gpu; // the same values: cpu f32, gpu `dtype`
} pair;

static uint64_t next_seed = 1000;

// Inputs: Philox normals (std), optional outliers, rounded to bf16.
static pair make_input(int ndim, const int64_t *shape, vdit_dtype dtype, test_inputs inputs, double std) {
  pair p;
  p.cpu = test_alloc(ndim, shape);
  test_fill(&p.cpu, next_seed++, inputs, 0.0, std);
  vdit_tensor low;
  CHECK_OK(vdit_tensor_alloc(&low, VDIT_DTYPE_BF16, VDIT_CPU, ndim, shape));
  CHECK_OK(vdit_tensor_convert(&low, &p.cpu));
  CHECK_OK(vdit_tensor_convert(&p.cpu, &low));
  vdit_tensor_free(&low);
  CHECK_OK(vdit_tensor_alloc(&p.gpu, dtype, VDIT_CUDA(0), ndim, shape));
  CHECK_OK(vdit_tensor_convert(&p.gpu, &p.cpu));
  return p;
}

// Outputs: NaN on both sides.
static pair make_output(int ndim, const int64_t *shape, vdit_dtype dtype) {
  pair p;
  p.cpu = test_alloc(ndim, shape);
  CHECK_OK(vdit_tensor_alloc(&p.gpu, dtype, VDIT_CUDA(0), ndim, shape));
  CHECK_OK(vdit_tensor_poison(&p.gpu));
  return p;
}

static void pair_free(pair *p) {
  vdit_tensor_free(&p->cpu);
  vdit_tensor_free(&p->gpu);
}

// Relative L1 of the GPU result against the CPU one; fails above the dtype's tolerance.
static double compare(const char *what, const pair *p) {
  vdit_tensor back = test_alloc(p->cpu.ndim, p->cpu.shape);
  CHECK_OK(vdit_device_synchronize(VDIT_CUDA(0)));
  CHECK_OK(vdit_tensor_convert(&back, &p->gpu));
  const float *a = back.data, *b = p->cpu.data;
  double diff = 0, norm = 0;
  int64_t nan = 0;
  for (int64_t i = 0; i < vdit_tensor_numel(&back); i++) {
    if (isnan(a[i])) nan++;
    diff += fabs((double)a[i] - b[i]);
    norm += fabs((double)b[i]);
  }
  vdit_tensor_free(&back);
  const double tol = p->gpu.dtype == VDIT_DTYPE_BF16 ? TOL_BF16 : TOL_F32;
  const double err = norm > 0 ? diff / norm : (diff > 0 ? INFINITY : 0);
  if (nan || !(err <= tol) || !(norm > 0))
    CHECK_FAIL_("%s: relative L1 %.3g (tolerance %.0e), %lld NaN, reference L1 %.3g", what, err, tol, (long long)nan,
                norm);
  if (getenv("VDIT_TEST_VERBOSE")) printf("  %-48s %.3e\n", what, err);
  return err;
}

#define SHAPE(...) (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]){__VA_ARGS__}
#define BF VDIT_DTYPE_BF16
#define F32 VDIT_DTYPE_F32

// Linear family at (rows, in, out): forward with bias, GELU with the pre-activation, backward
// (dx bf16, dW f32 accumulated onto existing values, db f32), dGELU.
static void test_linear(int64_t rows, int64_t in, int64_t out, test_inputs inputs) {
  char what[128];
  pair x = make_input(SHAPE(2, rows / 2, in), BF, inputs, 1.0);
  pair w = make_input(SHAPE(out, in), BF, TEST_PLAIN, 1.0 / sqrt((double)in));
  pair b = make_input(SHAPE(out), BF, TEST_PLAIN, 0.5);
  pair y = make_output(SHAPE(2, rows / 2, out), BF), yf = make_output(SHAPE(2, rows / 2, out), F32);
  CHECK_OK(vdit_ops_linear_forward(&x.cpu, &w.cpu, &b.cpu, &y.cpu));
  CHECK_OK(vdit_ops_linear_forward(&x.gpu, &w.gpu, &b.gpu, &y.gpu));
  snprintf(what, sizeof what, "linear %lldx%lldx%lld %s", (long long)rows, (long long)in, (long long)out,
           test_inputs_name[inputs]);
  compare(what, &y);
  CHECK_OK(vdit_ops_linear_forward(&x.cpu, &w.cpu, &b.cpu, &yf.cpu));
  CHECK_OK(vdit_ops_linear_forward(&x.gpu, &w.gpu, &b.gpu, &yf.gpu));
  compare("linear f32 out", &yf);

  pair pre = make_output(SHAPE(2, rows / 2, out), BF), g = make_output(SHAPE(2, rows / 2, out), BF);
  CHECK_OK(vdit_ops_linear_gelu_forward(&x.cpu, &w.cpu, &b.cpu, &pre.cpu, &g.cpu));
  CHECK_OK(vdit_ops_linear_gelu_forward(&x.gpu, &w.gpu, &b.gpu, &pre.gpu, &g.gpu));
  compare("linear_gelu pre", &pre);
  compare("linear_gelu y", &g);

  pair dy = make_input(SHAPE(2, rows / 2, out), BF, inputs, 1.0);
  pair dx = make_output(SHAPE(2, rows / 2, in), BF);
  pair dw = make_input(SHAPE(out, in), F32, TEST_PLAIN, 1.0); // accumulated onto
  pair db = make_output(SHAPE(out), F32);
  CHECK_OK(vdit_ops_linear_backward(&x.cpu, &w.cpu, &dy.cpu, &dx.cpu, NULL, &db.cpu, VDIT_GRAD_OVERWRITE));
  CHECK_OK(vdit_ops_linear_backward(&x.gpu, &w.gpu, &dy.gpu, &dx.gpu, NULL, &db.gpu, VDIT_GRAD_OVERWRITE));
  CHECK_OK(vdit_ops_linear_backward(&x.cpu, NULL, &dy.cpu, NULL, &dw.cpu, NULL, VDIT_GRAD_ACCUMULATE));
  CHECK_OK(vdit_ops_linear_backward(&x.gpu, NULL, &dy.gpu, NULL, &dw.gpu, NULL, VDIT_GRAD_ACCUMULATE));
  compare("linear backward dx", &dx);
  compare("linear backward dweight (accumulated)", &dw);
  compare("linear backward dbias", &db);

  // dGELU: dx (rows, in) = (dy W) * gelu'(pre), pre (rows, in).
  pair pre_in = make_input(SHAPE(2, rows / 2, in), BF, TEST_PLAIN, 1.5);
  pair dxg = make_output(SHAPE(2, rows / 2, in), BF);
  CHECK_OK(vdit_ops_linear_dgelu_backward(&w.cpu, &dy.cpu, &pre_in.cpu, &dxg.cpu));
  CHECK_OK(vdit_ops_linear_dgelu_backward(&w.gpu, &dy.gpu, &pre_in.gpu, &dxg.gpu));
  compare("linear_dgelu backward", &dxg);
  pair *all[] = {&x, &w, &b, &y, &yf, &pre, &g, &dy, &dx, &dw, &db, &pre_in, &dxg};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) pair_free(all[i]);
}

// Norms, modulation, gated residual, activations on (B, S, C).
static void test_rows(int64_t B, int64_t S, int64_t C, test_inputs inputs) {
  const float eps = 1e-6f;
  pair x = make_input(SHAPE(B, S, C), BF, inputs, 1.0);
  pair w = make_input(SHAPE(C), F32, TEST_PLAIN, 1.0), bias = make_input(SHAPE(C), F32, TEST_PLAIN, 0.3);
  pair scale = make_input(SHAPE(B, C), F32, TEST_PLAIN, 0.5), shift = make_input(SHAPE(B, C), F32, TEST_PLAIN, 0.5);
  pair dy = make_input(SHAPE(B, S, C), BF, inputs, 1.0);
  pair y = make_output(SHAPE(B, S, C), BF), dx = make_output(SHAPE(B, S, C), BF);
  pair dw = make_output(SHAPE(C), F32), db = make_output(SHAPE(C), F32);
  pair ds = make_output(SHAPE(B, C), F32), dsh = make_output(SHAPE(B, C), F32);

  CHECK_OK(vdit_ops_layer_norm_modulate_forward(&x.cpu, eps, &scale.cpu, &shift.cpu, &y.cpu));
  CHECK_OK(vdit_ops_layer_norm_modulate_forward(&x.gpu, eps, &scale.gpu, &shift.gpu, &y.gpu));
  compare("layer_norm_modulate", &y);
  CHECK_OK(vdit_ops_layer_norm_forward(&x.cpu, &w.cpu, &bias.cpu, eps, &y.cpu));
  CHECK_OK(vdit_ops_layer_norm_forward(&x.gpu, &w.gpu, &bias.gpu, eps, &y.gpu));
  compare("layer_norm affine", &y);
  CHECK_OK(vdit_ops_layer_norm_backward(&x.cpu, &w.cpu, eps, &dy.cpu, &dx.cpu, &dw.cpu, &db.cpu, VDIT_GRAD_OVERWRITE));
  CHECK_OK(vdit_ops_layer_norm_backward(&x.gpu, &w.gpu, eps, &dy.gpu, &dx.gpu, &dw.gpu, &db.gpu, VDIT_GRAD_OVERWRITE));
  compare("layer_norm backward dx", &dx);
  compare("layer_norm backward dweight", &dw);
  compare("layer_norm backward dbias", &db);
  CHECK_OK(vdit_ops_rms_norm_forward(&x.cpu, &w.cpu, eps, &y.cpu));
  CHECK_OK(vdit_ops_rms_norm_forward(&x.gpu, &w.gpu, eps, &y.gpu));
  compare("rms_norm", &y);
  CHECK_OK(vdit_ops_rms_norm_backward(&x.cpu, &w.cpu, eps, &dy.cpu, &dx.cpu, &dw.cpu, VDIT_GRAD_OVERWRITE));
  CHECK_OK(vdit_ops_rms_norm_backward(&x.gpu, &w.gpu, eps, &dy.gpu, &dx.gpu, &dw.gpu, VDIT_GRAD_OVERWRITE));
  compare("rms_norm backward dx", &dx);
  compare("rms_norm backward dweight", &dw);

  CHECK_OK(vdit_ops_modulate_forward(&x.cpu, &scale.cpu, &shift.cpu, &y.cpu));
  CHECK_OK(vdit_ops_modulate_forward(&x.gpu, &scale.gpu, &shift.gpu, &y.gpu));
  compare("modulate", &y);
  CHECK_OK(vdit_ops_modulate_backward(&x.cpu, &scale.cpu, &dy.cpu, &dx.cpu, &ds.cpu, &dsh.cpu, VDIT_GRAD_OVERWRITE));
  CHECK_OK(vdit_ops_modulate_backward(&x.gpu, &scale.gpu, &dy.gpu, &dx.gpu, &ds.gpu, &dsh.gpu, VDIT_GRAD_OVERWRITE));
  compare("modulate backward dx", &dx);
  compare("modulate backward dscale", &ds);
  compare("modulate backward dshift", &dsh);

  pair h = make_input(SHAPE(B, S, C), BF, TEST_PLAIN, 1.0);
  CHECK_OK(vdit_ops_gated_residual_forward(&x.cpu, &scale.cpu, &h.cpu, &y.cpu));
  CHECK_OK(vdit_ops_gated_residual_forward(&x.gpu, &scale.gpu, &h.gpu, &y.gpu));
  compare("gated_residual", &y);
  pair acc = make_input(SHAPE(B, S, C), BF, TEST_PLAIN, 1.0); // dx accumulated onto
  CHECK_OK(vdit_ops_gated_residual_backward(&scale.cpu, &h.cpu, &dy.cpu, &acc.cpu, &ds.cpu, &dx.cpu,
                                            VDIT_GRAD_ACCUMULATE));
  CHECK_OK(vdit_ops_gated_residual_backward(&scale.gpu, &h.gpu, &dy.gpu, &acc.gpu, &ds.gpu, &dx.gpu,
                                            VDIT_GRAD_ACCUMULATE));
  compare("gated_residual backward dx (accumulated)", &acc);
  compare("gated_residual backward dh (accumulated)", &dx);

  for (int act = 0; act < 2; act++) {
    vdit_status (*fwd)(const vdit_tensor *, vdit_tensor *) = act ? vdit_ops_silu_forward : vdit_ops_gelu_tanh_forward;
    vdit_status (*bwd)(const vdit_tensor *, const vdit_tensor *, vdit_tensor *, vdit_grad_mode) =
        act ? vdit_ops_silu_backward : vdit_ops_gelu_tanh_backward;
    CHECK_OK(fwd(&x.cpu, &y.cpu));
    CHECK_OK(fwd(&x.gpu, &y.gpu));
    compare(act ? "silu" : "gelu_tanh", &y);
    CHECK_OK(bwd(&x.cpu, &dy.cpu, &dx.cpu, VDIT_GRAD_OVERWRITE));
    CHECK_OK(bwd(&x.gpu, &dy.gpu, &dx.gpu, VDIT_GRAD_OVERWRITE));
    compare(act ? "silu backward" : "gelu_tanh backward", &dx);
  }

  pair sum = make_output(SHAPE(C), F32);
  CHECK_OK(vdit_ops_sum_rows(&x.cpu, &sum.cpu, VDIT_GRAD_OVERWRITE));
  CHECK_OK(vdit_ops_sum_rows(&x.gpu, &sum.gpu, VDIT_GRAD_OVERWRITE));
  compare("sum_rows", &sum);
  CHECK_OK(vdit_ops_add(&x.cpu, &bias.cpu, &y.cpu));
  CHECK_OK(vdit_ops_add(&x.gpu, &bias.gpu, &y.gpu));
  compare("add (broadcast row)", &y);
  CHECK_OK(vdit_ops_add(&x.cpu, &h.cpu, &y.cpu));
  CHECK_OK(vdit_ops_add(&x.gpu, &h.gpu, &y.gpu));
  compare("add", &y);
  pair *all[] = {&x, &w, &bias, &scale, &shift, &dy, &y, &dx, &dw, &db, &ds, &dsh, &h, &acc, &sum};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) pair_free(all[i]);
}

static void test_rope(int64_t head_dim) {
  const vdit_rope_3d rope = {3, 4, 5, 2, 10000.0};
  const int64_t S = 60, H = 3;
  pair x = make_input(SHAPE(2, S, H, head_dim), BF, TEST_OUTLIERS, 1.0);
  pair y = make_output(SHAPE(2, S, H, head_dim), BF), dx = make_output(SHAPE(2, S, H, head_dim), BF);
  CHECK_OK(vdit_ops_rope_3d_forward(&rope, &x.cpu, &y.cpu));
  CHECK_OK(vdit_ops_rope_3d_forward(&rope, &x.gpu, &y.gpu));
  compare("rope_3d", &y);
  CHECK_OK(vdit_ops_rope_3d_backward(&rope, &x.cpu, &dx.cpu, VDIT_GRAD_OVERWRITE));
  CHECK_OK(vdit_ops_rope_3d_backward(&rope, &x.gpu, &dx.gpu, VDIT_GRAD_OVERWRITE));
  compare("rope_3d backward", &dx);
  pair_free(&x);
  pair_free(&y);
  pair_free(&dx);
}

// The fused RMSNorm over all heads + RoPE (fast path at H * D = 1536, general at 3 x 10).
static void test_rms_rope(int64_t heads, int64_t head_dim) {
  const vdit_rope_3d rope = {3, 4, 5, 1, 10000.0};
  const int64_t S = 60;
  pair x = make_input(SHAPE(2, S, heads, head_dim), BF, TEST_OUTLIERS, 1.0);
  pair w = make_input(SHAPE(heads * head_dim), F32, TEST_PLAIN, 1.0);
  pair y = make_output(SHAPE(2, S, heads, head_dim), BF);
  CHECK_OK(vdit_ops_rms_norm_rope_forward(&x.cpu, &w.cpu, 1e-6f, &rope, &y.cpu));
  CHECK_OK(vdit_ops_rms_norm_rope_forward(&x.gpu, &w.gpu, 1e-6f, &rope, &y.gpu));
  char what[64];
  snprintf(what, sizeof what, "rms_norm_rope %lld x %lld", (long long)heads, (long long)head_dim);
  compare(what, &y);
  CHECK_OK(vdit_ops_rms_norm_rope_forward(&x.gpu, &w.gpu, 1e-6f, &rope, &x.gpu)); // in place
  pair_free(&y);
  y.cpu = x.cpu;
  y.gpu = x.gpu;
  CHECK_OK(vdit_ops_rms_norm_rope_forward(&x.cpu, &w.cpu, 1e-6f, &rope, &x.cpu));
  compare("rms_norm_rope in place", &y);
  pair_free(&x);
  pair_free(&w);
}

static void test_patches(int64_t C, const int64_t patch[3], int64_t dim) {
  const int64_t B = 2, F = 2 * patch[0], Hh = 3 * patch[1], W = 4 * patch[2], S = 24, K = C * patch[0] * patch[1] * patch[2];
  pair video = make_input(SHAPE(B, C, F, Hh, W), F32, TEST_PLAIN, 1.0);
  pair w = make_input(SHAPE(dim, C, patch[0], patch[1], patch[2]), BF, TEST_PLAIN, 1.0 / sqrt((double)K));
  pair bias = make_input(SHAPE(dim), BF, TEST_PLAIN, 0.5);
  pair tokens = make_output(SHAPE(B, S, dim), BF);
  vdit_tensor video_bf;
  CHECK_OK(vdit_tensor_alloc(&video_bf, BF, VDIT_CUDA(0), 5, video.cpu.shape));
  CHECK_OK(vdit_tensor_convert(&video_bf, &video.cpu));
  CHECK_OK(vdit_ops_patch_embed_forward(&video.cpu, &w.cpu, &bias.cpu, &tokens.cpu));
  CHECK_OK(vdit_ops_patch_embed_forward(&video_bf, &w.gpu, &bias.gpu, &tokens.gpu));
  compare("patch_embed", &tokens);
  pair dtok = make_input(SHAPE(B, S, dim), BF, TEST_OUTLIERS, 1.0);
  pair dvideo = make_output(SHAPE(B, C, F, Hh, W), F32);
  pair dw = make_output(SHAPE(dim, C, patch[0], patch[1], patch[2]), F32), db = make_output(SHAPE(dim), F32);
  CHECK_OK(vdit_ops_patch_embed_backward(&video.cpu, &w.cpu, &dtok.cpu, &dvideo.cpu, &dw.cpu, &db.cpu,
                                         VDIT_GRAD_OVERWRITE));
  CHECK_OK(vdit_ops_patch_embed_backward(&video_bf, &w.gpu, &dtok.gpu, &dvideo.gpu, &dw.gpu, &db.gpu,
                                         VDIT_GRAD_OVERWRITE));
  compare("patch_embed backward dvideo", &dvideo);
  compare("patch_embed backward dweight", &dw);
  compare("patch_embed backward dbias", &db);
  // Unpatchify: tokens (B, S, P C) -> video (f32 out), and back.
  pair z = make_input(SHAPE(B, S, K), BF, TEST_PLAIN, 1.0);
  pair out = make_output(SHAPE(B, C, F, Hh, W), F32), dz = make_output(SHAPE(B, S, K), BF);
  CHECK_OK(vdit_ops_unpatchify_forward(&z.cpu, patch, &out.cpu));
  CHECK_OK(vdit_ops_unpatchify_forward(&z.gpu, patch, &out.gpu));
  compare("unpatchify", &out);
  CHECK_OK(vdit_ops_unpatchify_backward(&video.cpu, patch, &dz.cpu, VDIT_GRAD_OVERWRITE));
  CHECK_OK(vdit_ops_unpatchify_backward(&video.gpu, patch, &dz.gpu, VDIT_GRAD_OVERWRITE));
  compare("unpatchify backward", &dz);
  vdit_tensor_free(&video_bf);
  pair *all[] = {&video, &w, &bias, &tokens, &dtok, &dvideo, &dw, &db, &z, &out, &dz};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) pair_free(all[i]);
}

static void test_timestep(void) {
  vdit_tensor t_cpu, t_gpu;
  CHECK_OK(vdit_tensor_alloc(&t_cpu, F32, VDIT_CPU, 1, (int64_t[]){3}));
  float *t = t_cpu.data;
  t[0] = 999.0f;
  t[1] = 437.5f;
  t[2] = 0.25f;
  CHECK_OK(vdit_tensor_alloc(&t_gpu, F32, VDIT_CUDA(0), 1, (int64_t[]){3}));
  CHECK_OK(vdit_tensor_copy(&t_gpu, &t_cpu));
  pair out = make_output(SHAPE(3, 257), F32);
  CHECK_OK(vdit_ops_timestep_embedding(&t_cpu, &out.cpu));
  CHECK_OK(vdit_ops_timestep_embedding(&t_gpu, &out.gpu));
  compare("timestep_embedding", &out);
  vdit_tensor_free(&t_cpu);
  vdit_tensor_free(&t_gpu);
  pair_free(&out);
}

int main(void) {
  if (!vdit_built_with_cuda()) return check_skip(TEST_NAME, "built without CUDA");
  int count = 0;
  if (vdit_gpu_count(&count) != VDIT_OK || count == 0) return check_skip(TEST_NAME, "no CUDA GPU");
  for (int inputs = 0; inputs < 2; inputs++) {
    test_linear(256, 192, 320, (test_inputs)inputs); // cuBLASLt
    test_linear(24, 30, 20, (test_inputs)inputs);    // odd leading dims: the fallback kernel
    test_rows(2, 37, 1536, (test_inputs)inputs);
    test_rows(3, 5, 30, (test_inputs)inputs);
  }
  test_linear(4096, 1536, 8960, TEST_OUTLIERS); // the FFN's shape at 4096 tokens
  test_rope(128);
  test_rope(10);
  test_rms_rope(12, 128);
  test_rms_rope(3, 10);
  test_patches(16, (const int64_t[]){1, 2, 2}, 64);
  test_patches(3, (const int64_t[]){2, 1, 2}, 30);
  test_timestep();
  return check_finish(TEST_NAME);
}
