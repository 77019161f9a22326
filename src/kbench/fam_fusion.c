// Fusion (the DiT block pieces) and attention families.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kbench/kbench_internal.h"
#include "vdit/ops.h"

#define R(v) kb_r((v), f32)

static double gelu_tanh(double x, int f32) {
  double inner = R(R(0.7978845608028654 * R(x + R(R(0.044715 * x) * R(x * x)))));
  return R(R(0.5 * x) * R(1.0 + R(tanh(inner))));
}

// ---------------------------------------------------------------- fusion
// modulate            x (B, S, C), scale (B, C), shift (B, C) -> x (1 + scale) + shift
// gated_residual      x (B, S, C), gate (B, C), h (B, S, C) -> x + gate h
// modulate_layer_norm x, scale, shift as modulate -> layer_norm(x, eps f0, no affine) (1 + scale) + shift
//                     n: B, S, C
// linear_gelu         x (M, K), W (N, K), b (N) -> gelu_tanh(x W^T + b); n: M, N, K
// ffn                 x (M, C), W1 (Hd, C), b1 (Hd), W2 (C, Hd), b2 (C) ->
//                     gelu_tanh(x W1^T + b1) W2^T + b2; n: M, C, Hd
// add_rms_norm        x (R, C), h (R, C), w (C) -> out0 rms_norm(x + h) w (eps f0), out1 x + h
// timestep_embedding  t (N) -> (N, dim), vdit_ops_timestep_embedding's contract; n: N, dim
static void fusion_setup(kb_problem *p) {
  int op = p->task->op;
  int64_t a = p->n[0], b = p->n[1], c = p->n[2];
  p->out_count = 1;
  switch (op) {
  case KB_F_MODULATE: case KB_F_MODULATE_LAYER_NORM: case KB_F_GATED_RESIDUAL:
    kb_spec(&p->in[0], VDIT_DTYPE_F32, (size_t)(a * b * c), a * b, c, KB_GEN_NORMAL, -1e4, 1e4, 1.0);
    kb_spec(&p->in[1], VDIT_DTYPE_F32, (size_t)(a * c), a, 0, KB_GEN_NORMAL, -1e4, 1e4, 0.5);
    if (op == KB_F_GATED_RESIDUAL)
      kb_spec(&p->in[2], VDIT_DTYPE_F32, (size_t)(a * b * c), a * b, c, KB_GEN_NORMAL, -1e4, 1e4, 1.0);
    else
      kb_spec(&p->in[2], VDIT_DTYPE_F32, (size_t)(a * c), a, 0, KB_GEN_NORMAL, -1e4, 1e4, 0.5);
    kb_spec(&p->out[0], VDIT_DTYPE_F32, (size_t)(a * b * c), a * b, 0, KB_GEN_NONE, 0, 0, 0);
    p->in_count = 3;
    p->flops = (op == KB_F_MODULATE_LAYER_NORM ? 8.0 : 3.0) * (double)(a * b * c);
    p->bytes = (op == KB_F_GATED_RESIDUAL ? 12.0 : 8.0) * (double)(a * b * c);
    break;
  case KB_F_LINEAR_GELU:
    kb_spec(&p->in[0], VDIT_DTYPE_F32, (size_t)(a * c), a, c, KB_GEN_NORMAL, -1e4, 1e4, 1.0);
    kb_spec(&p->in[1], VDIT_DTYPE_F32, (size_t)(b * c), b, 0, KB_GEN_NORMAL, -1e4, 1e4, 1.0 / sqrt((double)c));
    kb_spec(&p->in[2], VDIT_DTYPE_F32, (size_t)b, 1, 0, KB_GEN_NORMAL, -1e4, 1e4, 0.5);
    kb_spec(&p->out[0], VDIT_DTYPE_F32, (size_t)(a * b), a, 0, KB_GEN_NONE, 0, 0, 0);
    p->in_count = 3;
    p->flops = 2.0 * (double)(a * b * c);
    p->bytes = 4.0 * (double)(a * c + b * c + a * b);
    break;
  case KB_F_FFN:
    kb_spec(&p->in[0], VDIT_DTYPE_F32, (size_t)(a * b), a, b, KB_GEN_NORMAL, -1e4, 1e4, 1.0);
    kb_spec(&p->in[1], VDIT_DTYPE_F32, (size_t)(c * b), c, 0, KB_GEN_NORMAL, -1e4, 1e4, 1.0 / sqrt((double)b));
    kb_spec(&p->in[2], VDIT_DTYPE_F32, (size_t)c, 1, 0, KB_GEN_NORMAL, -1e4, 1e4, 0.5);
    kb_spec(&p->in[3], VDIT_DTYPE_F32, (size_t)(b * c), b, 0, KB_GEN_NORMAL, -1e4, 1e4, 1.0 / sqrt((double)c));
    kb_spec(&p->in[4], VDIT_DTYPE_F32, (size_t)b, 1, 0, KB_GEN_NORMAL, -1e4, 1e4, 0.5);
    kb_spec(&p->out[0], VDIT_DTYPE_F32, (size_t)(a * b), a, 0, KB_GEN_NONE, 0, 0, 0);
    p->in_count = 5;
    p->work_bytes = (size_t)(a * c) * sizeof(float) + 1024;
    p->flops = 4.0 * (double)(a * b * c);
    p->bytes = 4.0 * (double)(2 * a * b + 2 * b * c);
    break;
  case KB_F_ADD_RMS_NORM:
    kb_spec(&p->in[0], VDIT_DTYPE_F32, (size_t)(a * b), a, b, KB_GEN_NORMAL, -1e4, 1e4, 1.0);
    kb_spec(&p->in[1], VDIT_DTYPE_F32, (size_t)(a * b), a, b, KB_GEN_NORMAL, -1e4, 1e4, 1.0);
    kb_spec(&p->in[2], VDIT_DTYPE_F32, (size_t)b, 1, 0, KB_GEN_UNIFORM, 0.5, 1.5, 0);
    kb_spec(&p->out[0], VDIT_DTYPE_F32, (size_t)(a * b), a, 0, KB_GEN_NONE, 0, 0, 0);
    kb_spec(&p->out[1], VDIT_DTYPE_F32, (size_t)(a * b), a, 0, KB_GEN_NONE, 0, 0, 0);
    p->in_count = 3, p->out_count = 2;
    p->flops = 5.0 * (double)(a * b);
    p->bytes = 16.0 * (double)(a * b);
    break;
  default: // timestep embedding
    kb_spec(&p->in[0], VDIT_DTYPE_F32, (size_t)a, a, 0, KB_GEN_UNIFORM, 0.0, 1000.0, 0);
    kb_spec(&p->out[0], VDIT_DTYPE_F32, (size_t)(a * b), a, 0, KB_GEN_NONE, 0, 0, 0);
    p->in_count = 1;
    p->flops = 20.0 * (double)(a * b);
    p->bytes = 4.0 * (double)(a * b);
    break;
  }
}

static void layer_norm_row(const float *x, int64_t C, double eps, double *y, int f32) {
  double mean = 0, acc = 0;
  for (int64_t c = 0; c < C; c++) mean = R(mean + x[c]);
  mean = R(mean / (double)C);
  for (int64_t c = 0; c < C; c++) { double d = R(x[c] - mean); acc = R(acc + R(d * d)); }
  double rstd = R(1.0 / R(sqrt(R(R(acc / (double)C) + eps))));
  for (int64_t c = 0; c < C; c++) y[c] = R(R(x[c] - mean) * rstd);
}

static void fusion_compute(kb_problem *p, int f32, double **out) {
  int op = p->task->op;
  int64_t a = p->n[0], b = p->n[1], c = p->n[2];
  const float *x = p->in[0].data;
  switch (op) {
  case KB_F_MODULATE: case KB_F_MODULATE_LAYER_NORM: case KB_F_GATED_RESIDUAL: {
    const float *s = p->in[1].data, *t = p->in[2].data;
    double *row = malloc((size_t)c * sizeof *row);
    if (!row) return;
    for (int64_t bb = 0; bb < a; bb++)
      for (int64_t ss = 0; ss < b; ss++) {
        const float *xr = x + (bb * b + ss) * c;
        double *y = out[0] + (bb * b + ss) * c;
        if (op == KB_F_MODULATE_LAYER_NORM) layer_norm_row(xr, c, p->f[0], row, f32);
        for (int64_t k = 0; k < c; k++) {
          double v = op == KB_F_MODULATE_LAYER_NORM ? row[k] : xr[k];
          if (op == KB_F_GATED_RESIDUAL)
            y[k] = R(v + R((double)s[bb * c + k] * t[(bb * b + ss) * c + k]));
          else
            y[k] = R(R(v * R(1.0 + s[bb * c + k])) + t[bb * c + k]);
        }
      }
    free(row);
    break;
  }
  case KB_F_LINEAR_GELU: {
    const float *w = p->in[1].data, *bias = p->in[2].data;
    for (int64_t m = 0; m < a; m++)
      for (int64_t n = 0; n < b; n++) {
        double acc = 0;
        for (int64_t k = 0; k < c; k++) acc = R(acc + R((double)x[m * c + k] * w[n * c + k]));
        out[0][m * b + n] = gelu_tanh(R(acc + bias[n]), f32);
      }
    break;
  }
  case KB_F_FFN: {
    const float *w1 = p->in[1].data, *b1 = p->in[2].data, *w2 = p->in[3].data, *b2 = p->in[4].data;
    double *hidden = malloc((size_t)c * sizeof *hidden);
    if (!hidden) return;
    for (int64_t m = 0; m < a; m++) {
      for (int64_t j = 0; j < c; j++) {
        double acc = 0;
        for (int64_t k = 0; k < b; k++) acc = R(acc + R((double)x[m * b + k] * w1[j * b + k]));
        hidden[j] = gelu_tanh(R(acc + b1[j]), f32);
      }
      for (int64_t n = 0; n < b; n++) {
        double acc = 0;
        for (int64_t j = 0; j < c; j++) acc = R(acc + R(hidden[j] * w2[n * c + j]));
        out[0][m * b + n] = R(acc + b2[n]);
      }
    }
    free(hidden);
    break;
  }
  case KB_F_ADD_RMS_NORM: {
    const float *h = p->in[1].data, *w = p->in[2].data;
    for (int64_t r = 0; r < a; r++) {
      double acc = 0;
      for (int64_t k = 0; k < b; k++) {
        double v = R((double)x[r * b + k] + h[r * b + k]);
        out[1][r * b + k] = v;
        acc = R(acc + R(v * v));
      }
      double rstd = R(1.0 / R(sqrt(R(R(acc / (double)b) + p->f[0]))));
      for (int64_t k = 0; k < b; k++) out[0][r * b + k] = R(R(out[1][r * b + k] * rstd) * w[k]);
    }
    break;
  }
  default: { // timestep embedding: the float steps of the contract, cos and sin in double
    int64_t half = b / 2;
    for (int64_t r = 0; r < a; r++) {
      for (int64_t i = 0; i < half; i++) {
        float e = ((float)(-log(10000.0)) * (float)i) / (float)half;
        float f = (float)exp((double)e);
        float angle = x[r] * f;
        out[0][r * b + i] = R(cos((double)angle));
        out[0][r * b + half + i] = R(sin((double)angle));
      }
      if (b % 2) out[0][r * b + b - 1] = 0;
    }
    break;
  }
  }
}

const kb_family kb_family_fusion = {fusion_setup, NULL, fusion_compute};

// ---------------------------------------------------------------- attention
// q (B, Sq, H, D), k, v (B, Sk, H, D) f32 -> o (B, Sq, H, D); scale f0 = 1 / sqrt(D).
//   dense    softmax(q k^T scale) v
//   causal   key j allowed when j <= i + Sk - Sq (bottom-right aligned)
//   rope     q and k rotated by Wan's 3D RoPE first (grid n5 = F, n6 = Hh, n7 = Ww; Sq = Sk = F Hh Ww)
//   w8a8     q and k quantized per (token, head) row of D to int8 (vdit_quantize_int8_rows),
//            checked against attention on the dequantized q, k (the contract), v unquantized
// n: B, Sq, Sk, H, D, F, Hh, Ww
static void attention_setup(kb_problem *p) {
  int64_t B = p->n[0], Sq = p->n[1], Sk = p->n[2], H = p->n[3], D = p->n[4];
  kb_spec(&p->in[0], VDIT_DTYPE_F32, (size_t)(B * Sq * H * D), B * Sq, D, KB_GEN_NORMAL, -1e4, 1e4, 1.0);
  kb_spec(&p->in[1], VDIT_DTYPE_F32, (size_t)(B * Sk * H * D), B * Sk, D, KB_GEN_NORMAL, -1e4, 1e4, 1.0);
  kb_spec(&p->in[2], VDIT_DTYPE_F32, (size_t)(B * Sk * H * D), B * Sk, D, KB_GEN_NORMAL, -1e4, 1e4, 1.0);
  kb_spec(&p->out[0], VDIT_DTYPE_F32, (size_t)(B * Sq * H * D), B * Sq, 0, KB_GEN_NONE, 0, 0, 0);
  p->in_count = 3, p->out_count = 1;
  p->f[0] = (float)(1.0 / sqrt((double)D));
  p->work_bytes = (size_t)(B * (Sq + Sk) * H * D) * sizeof(float) + 1024; // room for rotated or dequantized q, k
  double pairs = (double)(B * H * Sq * Sk);
  p->flops = 4.0 * pairs * (double)D * (p->task->op == KB_A_CAUSAL && Sq == Sk ? 0.5 : 1.0);
  p->bytes = 4.0 * (double)(B * H * D * (2 * Sq + 2 * Sk));
}

static void rope_inplace(const kb_problem *p, float *x) {
  int64_t B = p->n[0], S = p->n[1], H = p->n[3], D = p->n[4];
  vdit_rope_3d rope = {.frames = p->n[5], .height = p->n[6], .width = p->n[7], .frame_offset = 0, .theta = 0};
  vdit_tensor t;
  int64_t shape[4] = {B, S, H, D};
  if (vdit_tensor_view(&t, x, VDIT_DTYPE_F32, (vdit_device){VDIT_DEVICE_CPU, 0}, 4, shape, NULL) == VDIT_OK)
    vdit_ops_rope_3d_forward(&rope, &t, &t);
}

static void attention_compute(kb_problem *p, int f32, double **out) {
  int64_t B = p->n[0], Sq = p->n[1], Sk = p->n[2], H = p->n[3], D = p->n[4];
  size_t qn = (size_t)(B * Sq * H * D), kn = (size_t)(B * Sk * H * D);
  float *q = malloc(qn * sizeof *q), *k = malloc(kn * sizeof *k);
  double *score = malloc((size_t)Sk * sizeof *score);
  if (!q || !k || !score) { free(q), free(k), free(score); return; }
  memcpy(q, p->in[0].data, qn * sizeof *q);
  memcpy(k, p->in[1].data, kn * sizeof *k);
  const float *v = p->in[2].data;
  if (p->task->op == KB_A_ROPE) { // the engine's RoPE is the contract (f32, cos/sin from double)
    rope_inplace(p, q);
    rope_inplace(p, k);
  } else if (p->task->op == KB_A_W8A8) {
    int8_t *codes = malloc(kn > qn ? kn : qn);
    float *scales = malloc((size_t)(B * (Sq > Sk ? Sq : Sk) * H) * sizeof *scales);
    if (codes && scales) {
      vdit_quantize_int8_rows((size_t)(B * Sq * H), (size_t)D, q, codes, scales);
      vdit_dequantize_int8_rows((size_t)(B * Sq * H), (size_t)D, codes, scales, q);
      vdit_quantize_int8_rows((size_t)(B * Sk * H), (size_t)D, k, codes, scales);
      vdit_dequantize_int8_rows((size_t)(B * Sk * H), (size_t)D, codes, scales, k);
    }
    free(codes), free(scales);
  }
  double scale = p->f[0];
  for (int64_t b = 0; b < B; b++)
    for (int64_t h = 0; h < H; h++)
      for (int64_t i = 0; i < Sq; i++) {
        const float *qi = q + ((b * Sq + i) * H + h) * D;
        int64_t last = p->task->op == KB_A_CAUSAL ? i + Sk - Sq : Sk - 1;
        double best = -INFINITY, sum = 0;
        for (int64_t j = 0; j <= last && j < Sk; j++) {
          const float *kj = k + ((b * Sk + j) * H + h) * D;
          double dot = 0;
          for (int64_t d = 0; d < D; d++) dot = R(dot + R((double)qi[d] * kj[d]));
          score[j] = R(dot * scale);
          best = score[j] > best ? score[j] : best;
        }
        for (int64_t j = 0; j <= last && j < Sk; j++) sum = R(sum + (score[j] = R(exp(R(score[j] - best)))));
        double *o = out[0] + ((b * Sq + i) * H + h) * D;
        for (int64_t d = 0; d < D; d++) {
          double acc = 0;
          for (int64_t j = 0; j <= last && j < Sk; j++) acc = R(acc + R(score[j] * v[((b * Sk + j) * H + h) * D + d]));
          o[d] = R(acc / sum);
        }
      }
  free(q), free(k), free(score);
}

const kb_family kb_family_attention = {attention_setup, NULL, attention_compute};
