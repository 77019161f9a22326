// Dense linear algebra families: GEMMs, small linear-algebra kernels, convolutions and
// pooling. Sums run in index order (the baseline rounds each step to f32).
#include <math.h>
#include <string.h>

#include "kbench/kbench_internal.h"

#define R(v) kb_r((v), f32)

// ---------------------------------------------------------------- GEMMs
// n0 = M, n1 = N, n2 = K, n3 = batch (bmm).
//   matmul      A (M, K) B (K, N) -> C (M, N)
//   linear      x (M, K) W (N, K) b (N) -> y (M, N) = x W^T + b (the engine's linear)
//   linear_bf16 the same with x, W as bf16 codes; y f32 (fp32 accumulation)
//   bmm         A (batch, M, K) B (batch, K, N) -> C (batch, M, N)
//   matmul_ta   A (K, M) B (K, N) -> C = A^T B (M, N)
static void matmul_setup(kb_problem *p) {
  size_t M = (size_t)p->n[0], N = (size_t)p->n[1], K = (size_t)p->n[2];
  size_t batch = p->task->op == KB_MM_BMM ? (size_t)p->n[3] : 1;
  int op = p->task->op;
  kb_gen gen = op == KB_MM_LINEAR_BF16 ? KB_GEN_BF16 : KB_GEN_NORMAL;
  vdit_dtype dt = op == KB_MM_LINEAR_BF16 ? VDIT_DTYPE_BF16 : VDIT_DTYPE_F32;
  kb_spec(&p->in[0], dt, batch * M * K, (int64_t)(batch * M), (int64_t)K, gen, -1e4, 1e4, 1.0);
  kb_spec(&p->in[1], dt, batch * K * N, 1, 0, gen, -1e4, 1e4, 1.0);
  p->in_count = 2;
  if (op == KB_MM_LINEAR || op == KB_MM_LINEAR_BF16) {
    kb_spec(&p->in[2], VDIT_DTYPE_F32, N, 1, 0, KB_GEN_NORMAL, -1e4, 1e4, 1.0);
    p->in_count = 3;
  }
  if (op == KB_MM_MATMUL_TA) p->in[0].rows = 1, p->in[0].channels = (int64_t)M;
  kb_spec(&p->out[0], VDIT_DTYPE_F32, batch * M * N, (int64_t)(batch * M), 0, KB_GEN_NONE, 0, 0, 0);
  p->out_count = 1;
  p->flops = 2.0 * (double)(batch * M * N * K);
  p->bytes = (double)vdit_dtype_element_bytes(dt) * (double)(batch * (M * K + K * N)) + 4.0 * (double)(batch * M * N);
}

static double element(const kb_tensor *t, size_t i) {
  if (t->dtype == VDIT_DTYPE_BF16) return vdit_bf16_to_float(((const uint16_t *)t->data)[i]);
  return ((const float *)t->data)[i];
}

static void matmul_compute(kb_problem *p, int f32, double **out) {
  int64_t M = p->n[0], N = p->n[1], K = p->n[2], batch = p->task->op == KB_MM_BMM ? p->n[3] : 1;
  int op = p->task->op;
  for (int64_t b = 0; b < batch; b++)
    for (int64_t m = 0; m < M; m++)
      for (int64_t n = 0; n < N; n++) {
        double acc = 0;
        for (int64_t k = 0; k < K; k++) {
          double a, w;
          if (op == KB_MM_LINEAR || op == KB_MM_LINEAR_BF16) {
            a = element(&p->in[0], (size_t)(m * K + k)), w = element(&p->in[1], (size_t)(n * K + k));
          } else if (op == KB_MM_MATMUL_TA) {
            a = element(&p->in[0], (size_t)(k * M + m)), w = element(&p->in[1], (size_t)(k * N + n));
          } else {
            a = element(&p->in[0], (size_t)((b * M + m) * K + k)), w = element(&p->in[1], (size_t)((b * K + k) * N + n));
          }
          acc = R(acc + R(a * w));
        }
        if (p->in_count > 2) acc = R(acc + ((const float *)p->in[2].data)[n]);
        out[0][(b * M + m) * N + n] = acc;
      }
}

const kb_family kb_family_matmul = {matmul_setup, NULL, matmul_compute};

// ---------------------------------------------------------------- linear algebra
// transpose A (n0, n1) -> (n1, n0) exact; gemv A (n0, n1) x (n1) -> y (n0); tril A (n0, n1)
// -> lower triangle with the diagonal, exact; outer u (n0) v (n1) -> (n0, n1);
// frobenius A (n0, n1) -> sqrt(sum a^2) (one scalar); diag_scale d (n0) A (n0, n1) e (n1) ->
// y[i, j] = d[i] A[i, j] e[j] (left to right).
static void linalg_setup(kb_problem *p) {
  size_t r = (size_t)p->n[0], c = (size_t)p->n[1];
  int op = p->task->op;
  p->in_count = 1, p->out_count = 1;
  p->flops = 2.0 * (double)(r * c);
  p->bytes = 8.0 * (double)(r * c);
  p->work_bytes = r * 8 + 1024; // room for per-row partial sums
  switch (op) {
  case KB_LA_OUTER:
    kb_spec(&p->in[0], VDIT_DTYPE_F32, r, 1, 0, KB_GEN_NORMAL, -1e4, 1e4, 1.0);
    kb_spec(&p->in[1], VDIT_DTYPE_F32, c, 1, 0, KB_GEN_NORMAL, -1e4, 1e4, 1.0);
    p->in_count = 2;
    break;
  case KB_LA_DIAG_SCALE:
    kb_spec(&p->in[0], VDIT_DTYPE_F32, r, 1, 0, KB_GEN_NORMAL, -1e4, 1e4, 1.0);
    kb_spec(&p->in[1], VDIT_DTYPE_F32, r * c, (int64_t)r, (int64_t)c, KB_GEN_NORMAL, -1e4, 1e4, 1.0);
    kb_spec(&p->in[2], VDIT_DTYPE_F32, c, 1, 0, KB_GEN_NORMAL, -1e4, 1e4, 1.0);
    p->in_count = 3;
    break;
  case KB_LA_GEMV:
    kb_spec(&p->in[0], VDIT_DTYPE_F32, r * c, (int64_t)r, (int64_t)c, KB_GEN_NORMAL, -1e4, 1e4, 1.0);
    kb_spec(&p->in[1], VDIT_DTYPE_F32, c, 1, 0, KB_GEN_NORMAL, -1e4, 1e4, 1.0);
    p->in_count = 2;
    break;
  default:
    kb_spec(&p->in[0], VDIT_DTYPE_F32, r * c, (int64_t)r, (int64_t)c, KB_GEN_NORMAL, -1e4, 1e4, 1.0);
    break;
  }
  size_t out_count = op == KB_LA_GEMV ? r : (op == KB_LA_FROBENIUS ? 1 : r * c);
  int64_t out_rows = op == KB_LA_TRANSPOSE ? (int64_t)c : (op == KB_LA_FROBENIUS ? 1 : (int64_t)r);
  kb_spec(&p->out[0], VDIT_DTYPE_F32, out_count, out_rows, 0, KB_GEN_NONE, 0, 0, 0);
}

static void linalg_compute(kb_problem *p, int f32, double **out) {
  int64_t rows = p->n[0], cols = p->n[1];
  const float *a = p->in[0].data, *b = p->in_count > 1 ? p->in[1].data : NULL;
  float *expected = p->expected[0];
  double acc = 0;
  for (int64_t i = 0; i < rows; i++) {
    double row = 0;
    for (int64_t j = 0; j < cols; j++) {
      switch (p->task->op) {
      case KB_LA_TRANSPOSE: expected[j * rows + i] = a[i * cols + j]; break;
      case KB_LA_TRIL: expected[i * cols + j] = j <= i ? a[i * cols + j] : 0.0f; break;
      case KB_LA_GEMV: row = R(row + R((double)a[i * cols + j] * b[j])); break;
      case KB_LA_OUTER: out[0][i * cols + j] = R((double)a[i] * b[j]); break;
      case KB_LA_FROBENIUS: acc = R(acc + R((double)a[i * cols + j] * a[i * cols + j])); break;
      case KB_LA_DIAG_SCALE: {
        const float *e = p->in[2].data;
        out[0][i * cols + j] = R(R((double)a[i] * b[i * cols + j]) * e[j]);
        break;
      }
      }
    }
    if (p->task->op == KB_LA_GEMV) out[0][i] = row;
  }
  if (p->task->op == KB_LA_FROBENIUS) out[0][0] = R(sqrt(acc));
}

const kb_family kb_family_linalg = {linalg_setup, NULL, linalg_compute};

// ---------------------------------------------------------------- convolutions
// conv1d     x (B, Cin, L) w (Cout, Cin, K) b (Cout) -> (B, Cout, L), stride 1, zero pad K / 2
//            n: B, Cin, Cout, L, K
// conv2d     x (B, Cin, H, W) w (Cout, Cin, K, K) b (Cout) -> (B, Cout, H, W), pad K / 2
//            n: B, Cin, Cout, H, W, K
// depthwise  x (B, C, H, W) w (C, 1, K, K) b (C) -> (B, C, H, W), pad K / 2; n: B, C, C, H, W, K
// pointwise  x (B, Cin, H, W) w (Cout, Cin) b (Cout) -> (B, Cout, H, W); n: B, Cin, Cout, H, W
// patch_embed Conv3d kernel = stride = (1, P, P): video (B, C, F, H, W), weight (D, C, 1, P, P),
//            bias (D) -> tokens (B, S, D), S = F (H / P) (W / P) frame-major (the engine's
//            vdit_ops_patch_embed_forward); n: B, C, D, F, H, W, P
static void conv_dims(const kb_problem *p, int64_t *kernel, int64_t *spatial) {
  int op = p->task->op;
  *kernel = op == KB_CV_CONV1D ? p->n[4] : (op == KB_CV_POINTWISE ? 1 : p->n[5]);
  *spatial = op == KB_CV_CONV1D ? p->n[3] : p->n[3] * p->n[4];
}

static void conv_setup(kb_problem *p) {
  int op = p->task->op;
  int64_t B = p->n[0], Cin = p->n[1], Cout = p->n[2], K, S;
  conv_dims(p, &K, &S);
  if (op == KB_CV_PATCH_EMBED) {
    int64_t F = p->n[3], H = p->n[4], W = p->n[5], P = p->n[6], tokens = F * (H / P) * (W / P);
    kb_spec(&p->in[0], VDIT_DTYPE_F32, (size_t)(B * Cin * F * H * W), B * Cin * F * H, W, KB_GEN_NORMAL, -1e4, 1e4, 1.0);
    kb_spec(&p->in[1], VDIT_DTYPE_F32, (size_t)(Cout * Cin * P * P), 1, 0, KB_GEN_NORMAL, -1e4, 1e4, 0.2);
    kb_spec(&p->in[2], VDIT_DTYPE_F32, (size_t)Cout, 1, 0, KB_GEN_NORMAL, -1e4, 1e4, 1.0);
    kb_spec(&p->out[0], VDIT_DTYPE_F32, (size_t)(B * tokens * Cout), B * tokens, 0, KB_GEN_NONE, 0, 0, 0);
    p->flops = 2.0 * (double)(B * tokens * Cout * Cin * P * P);
    p->bytes = 4.0 * (double)(B * Cin * F * H * W + B * tokens * Cout);
  } else {
    int64_t wcount = op == KB_CV_DEPTHWISE ? Cout * K * (op == KB_CV_CONV1D ? 1 : K)
                                           : Cout * Cin * K * (op == KB_CV_CONV1D ? 1 : K);
    int64_t taps = op == KB_CV_CONV1D ? K : K * K;
    int64_t last = op == KB_CV_CONV1D ? p->n[3] : p->n[4];
    kb_spec(&p->in[0], VDIT_DTYPE_F32, (size_t)(B * Cin * S), B * Cin * (S / last), last, KB_GEN_NORMAL, -1e4, 1e4, 1.0);
    kb_spec(&p->in[1], VDIT_DTYPE_F32, (size_t)wcount, 1, 0, KB_GEN_NORMAL, -1e4, 1e4, 0.3);
    kb_spec(&p->in[2], VDIT_DTYPE_F32, (size_t)Cout, 1, 0, KB_GEN_NORMAL, -1e4, 1e4, 1.0);
    kb_spec(&p->out[0], VDIT_DTYPE_F32, (size_t)(B * Cout * S), B * Cout * (S / last), 0, KB_GEN_NONE, 0, 0, 0);
    p->flops = 2.0 * (double)(B * Cout * S * (op == KB_CV_DEPTHWISE ? 1 : Cin) * taps);
    p->bytes = 4.0 * (double)(B * Cin * S + B * Cout * S + wcount);
  }
  p->in_count = 3, p->out_count = 1;
}

static void conv_compute(kb_problem *p, int f32, double **out) {
  int op = p->task->op;
  const float *x = p->in[0].data, *w = p->in[1].data, *bias = p->in[2].data;
  int64_t B = p->n[0], Cin = p->n[1], Cout = p->n[2];
  if (op == KB_CV_PATCH_EMBED) {
    int64_t F = p->n[3], H = p->n[4], W = p->n[5], P = p->n[6], Hp = H / P, Wp = W / P;
    for (int64_t b = 0; b < B; b++)
      for (int64_t f = 0; f < F; f++)
        for (int64_t h = 0; h < Hp; h++)
          for (int64_t ww = 0; ww < Wp; ww++)
            for (int64_t d = 0; d < Cout; d++) {
              double acc = 0;
              for (int64_t c = 0; c < Cin; c++)
                for (int64_t i = 0; i < P; i++)
                  for (int64_t j = 0; j < P; j++) {
                    double xv = x[(((b * Cin + c) * F + f) * H + h * P + i) * W + ww * P + j];
                    acc = R(acc + R(xv * w[((d * Cin + c) * P + i) * P + j]));
                  }
              int64_t token = (f * Hp + h) * Wp + ww;
              out[0][(b * F * Hp * Wp + token) * Cout + d] = R(acc + bias[d]);
            }
    return;
  }
  if (op == KB_CV_CONV1D) {
    int64_t L = p->n[3], K = p->n[4], pad = K / 2;
    for (int64_t b = 0; b < B; b++)
      for (int64_t o = 0; o < Cout; o++)
        for (int64_t l = 0; l < L; l++) {
          double acc = 0;
          for (int64_t c = 0; c < Cin; c++)
            for (int64_t k = 0; k < K; k++) {
              int64_t at = l + k - pad;
              if (at < 0 || at >= L) continue;
              acc = R(acc + R((double)x[(b * Cin + c) * L + at] * w[(o * Cin + c) * K + k]));
            }
          out[0][(b * Cout + o) * L + l] = R(acc + bias[o]);
        }
    return;
  }
  int64_t H = p->n[3], W = p->n[4], K = op == KB_CV_POINTWISE ? 1 : p->n[5], pad = K / 2;
  for (int64_t b = 0; b < B; b++)
    for (int64_t o = 0; o < Cout; o++)
      for (int64_t y = 0; y < H; y++)
        for (int64_t xx = 0; xx < W; xx++) {
          double acc = 0;
          int64_t c0 = op == KB_CV_DEPTHWISE ? o : 0, c1 = op == KB_CV_DEPTHWISE ? o + 1 : Cin;
          for (int64_t c = c0; c < c1; c++)
            for (int64_t i = 0; i < K; i++)
              for (int64_t j = 0; j < K; j++) {
                int64_t yy = y + i - pad, xj = xx + j - pad;
                if (yy < 0 || yy >= H || xj < 0 || xj >= W) continue;
                double wv = op == KB_CV_DEPTHWISE ? w[(o * K + i) * K + j] : w[((o * Cin + c) * K + i) * K + j];
                acc = R(acc + R((double)x[((b * Cin + c) * H + yy) * W + xj] * wv));
              }
          out[0][((b * Cout + o) * H + y) * W + xx] = R(acc + bias[o]);
        }
}

const kb_family kb_family_conv = {conv_setup, NULL, conv_compute};

// ---------------------------------------------------------------- pooling
// max2d / avg2d: x (n0 planes, n1 = H, n2 = W), 2x2 windows, stride 2 -> (n0, H / 2, W / 2);
// global_avg: x (n0, n1) -> mean over n1 (n0); max1d: x (n0, n1 = L), window 3 stride 2 ->
// (n0, (L - 3) / 2 + 1). Max pools are exact.
static void pool_setup(kb_problem *p) {
  int op = p->task->op;
  int64_t planes = p->n[0];
  size_t in = (size_t)(planes * p->n[1] * (op == KB_P_MAX2D || op == KB_P_AVG2D ? p->n[2] : 1));
  size_t out = op == KB_P_GLOBAL_AVG ? (size_t)planes
             : op == KB_P_MAX1D ? (size_t)(planes * ((p->n[1] - 3) / 2 + 1))
                                : (size_t)(planes * (p->n[1] / 2) * (p->n[2] / 2));
  int64_t last = op == KB_P_MAX2D || op == KB_P_AVG2D ? p->n[2] : p->n[1];
  kb_spec(&p->in[0], VDIT_DTYPE_F32, in, (int64_t)in / last, last, KB_GEN_NORMAL, -1e4, 1e4, 1.0);
  kb_spec(&p->out[0], VDIT_DTYPE_F32, out, op == KB_P_GLOBAL_AVG ? planes : (int64_t)out / (op == KB_P_MAX1D ? ((p->n[1] - 3) / 2 + 1) : (p->n[2] / 2)), 0, KB_GEN_NONE, 0, 0, 0);
  p->in_count = 1, p->out_count = 1;
  p->flops = (double)in;
  p->bytes = 4.0 * (double)(in + out);
}

static void pool_compute(kb_problem *p, int f32, double **out) {
  const float *x = p->in[0].data;
  float *expected = p->expected[0];
  int64_t planes = p->n[0];
  switch (p->task->op) {
  case KB_P_MAX2D: case KB_P_AVG2D: {
    int64_t H = p->n[1], W = p->n[2], Ho = H / 2, Wo = W / 2;
    for (int64_t c = 0; c < planes; c++)
      for (int64_t i = 0; i < Ho; i++)
        for (int64_t j = 0; j < Wo; j++) {
          const float *base = x + (c * H + 2 * i) * W + 2 * j;
          float a = base[0], b = base[1], d = base[W], e = base[W + 1];
          int64_t at = (c * Ho + i) * Wo + j;
          if (p->task->op == KB_P_MAX2D) {
            float m = a > b ? a : b;
            m = m > d ? m : d;
            expected[at] = m > e ? m : e;
          } else {
            out[0][at] = R(R(R(R(R((double)a + b) + d) + e)) * 0.25);
          }
        }
    break;
  }
  case KB_P_GLOBAL_AVG:
    for (int64_t c = 0; c < planes; c++) {
      double acc = 0;
      for (int64_t i = 0; i < p->n[1]; i++) acc = R(acc + x[c * p->n[1] + i]);
      out[0][c] = R(acc / (double)p->n[1]);
    }
    break;
  case KB_P_MAX1D: {
    int64_t L = p->n[1], Lo = (L - 3) / 2 + 1;
    for (int64_t c = 0; c < planes; c++)
      for (int64_t i = 0; i < Lo; i++) {
        const float *w = x + c * L + 2 * i;
        float m = w[0] > w[1] ? w[0] : w[1];
        expected[c * Lo + i] = m > w[2] ? m : w[2];
      }
    break;
  }
  }
}

const kb_family kb_family_pool = {pool_setup, NULL, pool_compute};
