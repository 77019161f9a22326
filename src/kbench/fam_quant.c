// Quantization families. The quantizers and casts are exact tasks: their bytes must equal
// vdit's scalar reference quantizers (src/num, the contract of docs/formats.md). The
// quantized linears spell out their numerical contract in docs/kbench.md:
//   w8a8_linear   x (M, K) f32 quantized per row to int8 (vdit_quantize_int8_rows: scale =
//                 amax / 127, q = rne(x / scale) clamped to [-127, 127]); W given as int8
//                 (N, K) with per-row scales sw (N); acc = sum_k qx qw exactly in int32;
//                 y = ((float)acc * sx[m]) * sw[n] + b[n], each operation one f32 rounding. Exact.
//   w4a16_linear  x (M, K) bf16; W packed int4 (N, K / 2 bytes, element 2i in the low nibble,
//                 two's complement in [-8, 7]) with f32 scales (N, K / 32) per 32 elements:
//                 w = (float)q * s; y = x w^T + b with fp32 accumulation, checked against
//                 the fp64 product of the same bf16 and dequantized values.
//   nvfp4_linear  x (M, K) f32 quantized to NVFP4 by the candidate (vdit_quantize_nvfp4 on the
//                 whole (M, K) tensor: one tensor scale, 16-element blocks); W given as NVFP4
//                 blocks (N, K / 16) and its tensor scale; y = deq(xq) deq(W)^T + b with fp32
//                 accumulation, checked against the fp64 product of the dequantized values.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kbench/kbench_internal.h"

#define R(v) kb_r((v), f32)

// ---------------------------------------------------------------- quantizers and casts
// x (n0, n1) f32 with n1 a multiple of 32 for the block formats.
static void quant_setup(kb_problem *p) {
  size_t rows = (size_t)p->n[0], cols = (size_t)p->n[1], n = rows * cols;
  int op = p->task->op;
  p->in_count = 1, p->out_count = 1;
  kb_spec(&p->in[0], VDIT_DTYPE_F32, n, p->n[0], p->n[1], KB_GEN_NORMAL, -1e4, 1e4, 1.0);
  switch (op) {
  case KB_Q_INT8_ROW:
    kb_spec(&p->out[0], VDIT_DTYPE_I8, n, p->n[0], 0, KB_GEN_NONE, 0, 0, 0);
    kb_spec(&p->out[1], VDIT_DTYPE_F32, rows, p->n[0], 0, KB_GEN_NONE, 0, 0, 0);
    p->out_count = 2;
    break;
  case KB_Q_INT8_BLOCK: kb_spec(&p->out[0], VDIT_DTYPE_U8, n / 32 * 36, p->n[0], 0, KB_GEN_NONE, 0, 0, 0); break;
  case KB_Q_NVFP4:
    kb_spec(&p->out[0], VDIT_DTYPE_U8, n / 16 * 9, p->n[0], 0, KB_GEN_NONE, 0, 0, 0);
    kb_spec(&p->out[1], VDIT_DTYPE_F32, 1, 1, 0, KB_GEN_NONE, 0, 0, 0);
    p->out_count = 2;
    break;
  case KB_Q_MXFP4: kb_spec(&p->out[0], VDIT_DTYPE_U8, n / 32 * 17, p->n[0], 0, KB_GEN_NONE, 0, 0, 0); break;
  case KB_Q_MXFP8_E4M3: case KB_Q_MXFP8_E5M2:
    kb_spec(&p->out[0], VDIT_DTYPE_U8, n / 32 * 33, p->n[0], 0, KB_GEN_NONE, 0, 0, 0);
    break;
  case KB_Q_CAST_BF16: kb_spec(&p->out[0], VDIT_DTYPE_BF16, n, p->n[0], 0, KB_GEN_NONE, 0, 0, 0); break;
  case KB_Q_CAST_E4M3:
    p->in[0].scale = 100.0; // reaches the saturation at 448
    kb_spec(&p->out[0], VDIT_DTYPE_U8, n, p->n[0], 0, KB_GEN_NONE, 0, 0, 0);
    break;
  case KB_Q_DEQUANT_NVFP4:
    kb_spec(&p->in[0], VDIT_DTYPE_U8, n / 16 * 9, p->n[0], 0, KB_GEN_NONE, 0, 0, 0);
    kb_spec(&p->in[1], VDIT_DTYPE_F32, 1, 1, 0, KB_GEN_NONE, 0, 0, 0);
    kb_spec(&p->out[0], VDIT_DTYPE_F32, n, p->n[0], 0, KB_GEN_NONE, 0, 0, 0);
    p->in_count = 2;
    break;
  }
  p->work_bytes = rows * 8 + 1024;
  p->flops = 4.0 * (double)n;
  p->bytes = 5.0 * (double)n;
}

// Dequantize NVFP4: its blocks come from quantizing fresh normals.
static void quant_prepare(kb_problem *p) {
  if (p->task->op != KB_Q_DEQUANT_NVFP4) return;
  size_t n = (size_t)(p->n[0] * p->n[1]);
  float *x = malloc(n * sizeof *x);
  if (!x) return;
  vdit_rng_normal(p->seed ^ 0x5eedu, 0, n, x);
  vdit_quantize_nvfp4((size_t)p->n[0], (size_t)p->n[1], x, p->in[0].data, p->in[1].data);
  free(x);
}

static void quant_compute(kb_problem *p, int f32, double **out) {
  size_t rows = (size_t)p->n[0], cols = (size_t)p->n[1], n = rows * cols;
  const float *x = p->in[0].data;
  switch (p->task->op) {
  case KB_Q_INT8_ROW: vdit_quantize_int8_rows(rows, cols, x, p->expected[0], p->expected[1]); break;
  case KB_Q_INT8_BLOCK: vdit_quantize_int8_blocks(rows, cols, x, p->expected[0]); break;
  case KB_Q_NVFP4: vdit_quantize_nvfp4(rows, cols, x, p->expected[0], p->expected[1]); break;
  case KB_Q_MXFP4: vdit_quantize_mxfp4(rows, cols, x, p->expected[0]); break;
  case KB_Q_MXFP8_E4M3: vdit_quantize_mxfp8(VDIT_DTYPE_F8_E4M3, rows, cols, x, p->expected[0]); break;
  case KB_Q_MXFP8_E5M2: vdit_quantize_mxfp8(VDIT_DTYPE_F8_E5M2, rows, cols, x, p->expected[0]); break;
  case KB_Q_CAST_BF16: vdit_convert_from_float(VDIT_DTYPE_BF16, n, x, p->expected[0]); break;
  case KB_Q_CAST_E4M3: vdit_convert_from_float(VDIT_DTYPE_F8_E4M3, n, x, p->expected[0]); break;
  case KB_Q_DEQUANT_NVFP4:
    vdit_dequantize_nvfp4(rows, cols, p->in[0].data, p->in[1].data, p->expected[0]);
    break;
  }
  (void)f32, (void)out;
}

const kb_family kb_family_quant = {quant_setup, quant_prepare, quant_compute};

// ---------------------------------------------------------------- quantized linears
// n0 = M, n1 = N, n2 = K (a multiple of 32).
static void qlinear_setup(kb_problem *p) {
  size_t M = (size_t)p->n[0], N = (size_t)p->n[1], K = (size_t)p->n[2];
  int op = p->task->op;
  if (op == KB_QL_W4A16)
    kb_spec(&p->in[0], VDIT_DTYPE_BF16, M * K, (int64_t)M, (int64_t)K, KB_GEN_BF16, -1e4, 1e4, 1.0);
  else
    kb_spec(&p->in[0], VDIT_DTYPE_F32, M * K, (int64_t)M, (int64_t)K, KB_GEN_NORMAL, -1e4, 1e4, 1.0);
  switch (op) {
  case KB_QL_W8A8:
    kb_spec(&p->in[1], VDIT_DTYPE_I8, N * K, (int64_t)N, 0, KB_GEN_NONE, 0, 0, 0);
    kb_spec(&p->in[2], VDIT_DTYPE_F32, N, 1, 0, KB_GEN_NONE, 0, 0, 0);
    p->bytes = (double)(4 * M * K + N * K + 4 * M * N);
    break;
  case KB_QL_W4A16:
    kb_spec(&p->in[1], VDIT_DTYPE_U8, N * K / 2, (int64_t)N, 0, KB_GEN_NONE, 0, 0, 0);
    kb_spec(&p->in[2], VDIT_DTYPE_F32, N * K / 32, (int64_t)N, 0, KB_GEN_NONE, 0, 0, 0);
    p->bytes = (double)(2 * M * K + N * K / 2 + 4 * M * N);
    break;
  default:
    kb_spec(&p->in[1], VDIT_DTYPE_U8, N * K / 16 * 9, (int64_t)N, 0, KB_GEN_NONE, 0, 0, 0);
    kb_spec(&p->in[2], VDIT_DTYPE_F32, 1, 1, 0, KB_GEN_NONE, 0, 0, 0);
    p->bytes = (double)(4 * M * K + N * K * 9 / 16 + 4 * M * N);
    break;
  }
  kb_spec(&p->in[3], VDIT_DTYPE_F32, N, 1, 0, KB_GEN_NORMAL, -1e4, 1e4, 1.0);
  kb_spec(&p->out[0], VDIT_DTYPE_F32, M * N, (int64_t)M, 0, KB_GEN_NONE, 0, 0, 0);
  p->in_count = 4, p->out_count = 1;
  p->work_bytes = M * K + M * 4 + 1024; // room for quantized activations
  if (op == KB_QL_NVFP4) p->work_bytes = M * K / 16 * 9 + M * 8 + 1024;
  p->flops = 2.0 * (double)(M * N * K);
}

static void qlinear_prepare(kb_problem *p) {
  size_t N = (size_t)p->n[1], K = (size_t)p->n[2];
  float *w = malloc(N * K * sizeof *w);
  if (!w) return;
  vdit_rng_normal(p->seed ^ 0x3e1647u, 0, N * K, w);
  switch (p->task->op) {
  case KB_QL_W8A8: vdit_quantize_int8_rows(N, K, w, p->in[1].data, p->in[2].data); break;
  case KB_QL_W4A16: {
    uint8_t *packed = p->in[1].data;
    float *scales = p->in[2].data;
    memset(packed, 0, N * K / 2);
    for (size_t g = 0; g < N * K / 32; g++) {
      float amax = 0;
      for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(w[g * 32 + i]));
      float s = amax / 7.0f;
      scales[g] = s;
      for (int i = 0; i < 32; i++) {
        size_t at = g * 32 + (size_t)i;
        int q = s > 0 ? (int)nearbyintf(w[at] / s) : 0;
        q = q < -8 ? -8 : (q > 7 ? 7 : q);
        packed[at / 2] |= (uint8_t)((q & 0xf) << ((at & 1) * 4));
      }
    }
    break;
  }
  default: vdit_quantize_nvfp4(N, K, w, p->in[1].data, p->in[2].data); break;
  }
  free(w);
}

static void qlinear_compute(kb_problem *p, int f32, double **out) {
  size_t M = (size_t)p->n[0], N = (size_t)p->n[1], K = (size_t)p->n[2];
  const float *bias = p->in[3].data;
  int op = p->task->op;
  if (op == KB_QL_W8A8) {
    int8_t *qx = malloc(M * K);
    float *sx = malloc(M * sizeof *sx);
    const int8_t *qw = p->in[1].data;
    const float *sw = p->in[2].data;
    float *y = p->expected[0];
    if (!qx || !sx) { free(qx), free(sx); return; }
    vdit_quantize_int8_rows(M, K, p->in[0].data, qx, sx);
    for (size_t m = 0; m < M; m++)
      for (size_t n = 0; n < N; n++) {
        int32_t acc = 0;
        for (size_t k = 0; k < K; k++) acc += (int32_t)qx[m * K + k] * qw[n * K + k];
        float v = (float)acc * sx[m];
        v = v * sw[n];
        y[m * N + n] = v + bias[n];
      }
    free(qx), free(sx);
    return;
  }
  // Dequantized operands in f32 (exact by the contract), then the product.
  float *xd = malloc(M * K * sizeof *xd), *wd = malloc(N * K * sizeof *wd);
  if (!xd || !wd) { free(xd), free(wd); return; }
  if (op == KB_QL_W4A16) {
    const uint16_t *x = p->in[0].data;
    const uint8_t *packed = p->in[1].data;
    const float *scales = p->in[2].data;
    for (size_t i = 0; i < M * K; i++) xd[i] = vdit_bf16_to_float(x[i]);
    for (size_t i = 0; i < N * K; i++) {
      int q = (packed[i / 2] >> ((i & 1) * 4)) & 0xf;
      q = q >= 8 ? q - 16 : q;
      wd[i] = (float)q * scales[i / 32];
    }
  } else {
    vdit_block_nvfp4 *blocks = malloc(M * K / 16 * sizeof *blocks);
    float tensor_scale = 0;
    if (!blocks) { free(xd), free(wd); return; }
    vdit_quantize_nvfp4(M, K, p->in[0].data, blocks, &tensor_scale);
    vdit_dequantize_nvfp4(M, K, blocks, &tensor_scale, xd);
    vdit_dequantize_nvfp4(N, K, p->in[1].data, p->in[2].data, wd);
    free(blocks);
  }
  for (size_t m = 0; m < M; m++)
    for (size_t n = 0; n < N; n++) {
      double acc = 0;
      for (size_t k = 0; k < K; k++) acc = R(acc + R((double)xd[m * K + k] * wd[n * K + k]));
      out[0][m * N + n] = R(acc + bias[n]);
    }
  free(xd), free(wd);
}

const kb_family kb_family_qlinear = {qlinear_setup, qlinear_prepare, qlinear_compute};
