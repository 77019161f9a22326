// Row families over x (n0 rows, n1 cols) f32: reductions to one value per row, row maps
// (norms, softmax, scans), losses to one scalar, and channel norms over (B, C, HW).
#include <math.h>
#include <string.h>

#include "kbench/kbench_internal.h"

#define R(v) kb_r((v), f32)

// ---------------------------------------------------------------- row reductions: y (n0)
static void reduce_setup(kb_problem *p) {
  size_t rows = (size_t)p->n[0], cols = (size_t)p->n[1];
  int index = p->task->op == KB_R_ARGMAX || p->task->op == KB_R_ARGMIN;
  kb_spec(&p->in[0], VDIT_DTYPE_F32, rows * cols, p->n[0], p->n[1], KB_GEN_NORMAL, -1e4, 1e4, 1.0);
  kb_spec(&p->out[0], index ? VDIT_DTYPE_I32 : VDIT_DTYPE_F32, rows, p->n[0], 0, KB_GEN_NONE, 0, 0, 0);
  p->in_count = 1, p->out_count = 1;
  p->flops = 2.0 * (double)(rows * cols);
  p->bytes = 4.0 * (double)(rows * cols + rows);
}

static void reduce_compute(kb_problem *p, int f32, double **out) {
  const float *x = p->in[0].data;
  int64_t rows = p->n[0], cols = p->n[1];
  for (int64_t r = 0; r < rows; r++) {
    const float *row = x + r * cols;
    double acc = 0, best = row[0];
    int64_t at = 0;
    switch (p->task->op) {
    case KB_R_SUM: for (int64_t c = 0; c < cols; c++) acc = R(acc + row[c]); break;
    case KB_R_MEAN: for (int64_t c = 0; c < cols; c++) acc = R(acc + row[c]); acc = R(acc / (double)cols); break;
    case KB_R_MAX: for (int64_t c = 1; c < cols; c++) best = row[c] > best ? row[c] : best; acc = best; break;
    case KB_R_MIN: for (int64_t c = 1; c < cols; c++) best = row[c] < best ? row[c] : best; acc = best; break;
    case KB_R_L2: for (int64_t c = 0; c < cols; c++) acc = R(acc + R((double)row[c] * row[c])); acc = R(sqrt(acc)); break;
    case KB_R_VAR: { // unbiased (torch.var default)
      double mean = 0, sq = 0;
      for (int64_t c = 0; c < cols; c++) mean = R(mean + row[c]);
      mean = R(mean / (double)cols);
      for (int64_t c = 0; c < cols; c++) { double d = R(row[c] - mean); sq = R(sq + R(d * d)); }
      acc = R(sq / (double)(cols > 1 ? cols - 1 : 1));
      break;
    }
    case KB_R_LOGSUMEXP:
      for (int64_t c = 1; c < cols; c++) best = row[c] > best ? row[c] : best;
      for (int64_t c = 0; c < cols; c++) acc = R(acc + R(exp(R(row[c] - best))));
      acc = R(best + R(log(acc)));
      break;
    case KB_R_ARGMAX: // the first index of the maximum
      for (int64_t c = 1; c < cols; c++) if (row[c] > best) best = row[c], at = c;
      ((int32_t *)p->expected[0])[r] = (int32_t)at;
      break;
    case KB_R_ARGMIN:
      for (int64_t c = 1; c < cols; c++) if (row[c] < best) best = row[c], at = c;
      ((int32_t *)p->expected[0])[r] = (int32_t)at;
      break;
    }
    if (out) out[0][r] = acc;
  }
}

const kb_family kb_family_row_reduce = {reduce_setup, NULL, reduce_compute};

// ---------------------------------------------------------------- row maps: y (n0, n1)
// layer_norm: in1 weight (n1), in2 bias (n1), f0 eps; rms_norm: in1 weight, f0 eps;
// l2_normalize: y = x / max(||x||, eps); softmax, log_softmax, cumsum.
static void map_setup(kb_problem *p) {
  size_t rows = (size_t)p->n[0], cols = (size_t)p->n[1];
  int op = p->task->op;
  kb_spec(&p->in[0], VDIT_DTYPE_F32, rows * cols, p->n[0], p->n[1], KB_GEN_NORMAL, -1e4, 1e4,
          op == KB_M_LAYER_NORM ? 3.0 : 1.0);
  p->in_count = 1;
  if (op == KB_M_LAYER_NORM || op == KB_M_RMS_NORM) {
    kb_spec(&p->in[1], VDIT_DTYPE_F32, cols, 1, 0, KB_GEN_UNIFORM, 0.5, 1.5, 0);
    p->in_count = 2;
  }
  if (op == KB_M_LAYER_NORM) {
    kb_spec(&p->in[2], VDIT_DTYPE_F32, cols, 1, 0, KB_GEN_NORMAL, -1e4, 1e4, 0.5);
    p->in_count = 3;
  }
  kb_spec(&p->out[0], VDIT_DTYPE_F32, rows * cols, p->n[0], 0, KB_GEN_NONE, 0, 0, 0);
  p->out_count = 1;
  p->flops = 6.0 * (double)(rows * cols);
  p->bytes = 8.0 * (double)(rows * cols);
}

static void map_compute(kb_problem *p, int f32, double **out) {
  const float *x = p->in[0].data;
  const float *w = p->in_count > 1 ? p->in[1].data : NULL, *b = p->in_count > 2 ? p->in[2].data : NULL;
  int64_t rows = p->n[0], cols = p->n[1];
  double eps = p->f[0];
  for (int64_t r = 0; r < rows; r++) {
    const float *row = x + r * cols;
    double *y = out[0] + r * cols;
    double acc = 0, mean = 0, best = row[0];
    switch (p->task->op) {
    case KB_M_LAYER_NORM: {
      for (int64_t c = 0; c < cols; c++) mean = R(mean + row[c]);
      mean = R(mean / (double)cols);
      for (int64_t c = 0; c < cols; c++) { double d = R(row[c] - mean); acc = R(acc + R(d * d)); }
      double rstd = R(1.0 / R(sqrt(R(R(acc / (double)cols) + eps))));
      for (int64_t c = 0; c < cols; c++) y[c] = R(R(R(R(row[c] - mean) * rstd) * w[c]) + b[c]);
      break;
    }
    case KB_M_RMS_NORM: {
      for (int64_t c = 0; c < cols; c++) acc = R(acc + R((double)row[c] * row[c]));
      double rstd = R(1.0 / R(sqrt(R(R(acc / (double)cols) + eps))));
      for (int64_t c = 0; c < cols; c++) y[c] = R(R(row[c] * rstd) * w[c]);
      break;
    }
    case KB_M_L2_NORMALIZE: {
      for (int64_t c = 0; c < cols; c++) acc = R(acc + R((double)row[c] * row[c]));
      double norm = R(sqrt(acc));
      if (norm < eps) norm = eps;
      for (int64_t c = 0; c < cols; c++) y[c] = R(row[c] / norm);
      break;
    }
    case KB_M_SOFTMAX: case KB_M_LOG_SOFTMAX: {
      for (int64_t c = 1; c < cols; c++) best = row[c] > best ? row[c] : best;
      for (int64_t c = 0; c < cols; c++) acc = R(acc + R(exp(R(row[c] - best))));
      if (p->task->op == KB_M_SOFTMAX)
        for (int64_t c = 0; c < cols; c++) y[c] = R(R(exp(R(row[c] - best))) / acc);
      else
        for (int64_t c = 0; c < cols; c++) y[c] = R(R(row[c] - best) - R(log(acc)));
      break;
    }
    case KB_M_CUMSUM:
      for (int64_t c = 0; c < cols; c++) y[c] = acc = R(acc + row[c]);
      break;
    }
  }
}

const kb_family kb_family_row_map = {map_setup, NULL, map_compute};

// ---------------------------------------------------------------- losses: one scalar
// pred (n0, n1), target (n0, n1); mean over elements (mse, l1, huber with delta f0, bce);
// kl_div: sum target * (log target - input) / n0 (batchmean); cross_entropy: logits
// (n0, n1), target class i32 (n0), mean over rows.
static void loss_setup(kb_problem *p) {
  size_t rows = (size_t)p->n[0], cols = (size_t)p->n[1], n = rows * cols;
  int op = p->task->op;
  if (op == KB_L_BCE) {
    kb_spec(&p->in[0], VDIT_DTYPE_F32, n, p->n[0], 0, KB_GEN_UNIFORM, 0.02, 0.98, 0);
    kb_spec(&p->in[1], VDIT_DTYPE_F32, n, p->n[0], 0, KB_GEN_UNIFORM, 0.0, 1.0, 0);
  } else if (op == KB_L_KL_DIV) {
    kb_spec(&p->in[0], VDIT_DTYPE_F32, n, p->n[0], p->n[1], KB_GEN_NORMAL, -30, 30, 1.0);
    kb_spec(&p->in[1], VDIT_DTYPE_F32, n, p->n[0], 0, KB_GEN_UNIFORM, 0.01, 1.0, 0);
  } else if (op == KB_L_CROSS_ENTROPY) {
    kb_spec(&p->in[0], VDIT_DTYPE_F32, n, p->n[0], p->n[1], KB_GEN_NORMAL, -1e4, 1e4, 2.0);
    kb_spec(&p->in[1], VDIT_DTYPE_I32, rows, p->n[0], 0, KB_GEN_INDEX, 0, (double)cols, 0);
  } else {
    kb_spec(&p->in[0], VDIT_DTYPE_F32, n, p->n[0], p->n[1], KB_GEN_NORMAL, -1e4, 1e4, 1.0);
    kb_spec(&p->in[1], VDIT_DTYPE_F32, n, p->n[0], p->n[1], KB_GEN_NORMAL, -1e4, 1e4, 1.0);
  }
  kb_spec(&p->out[0], VDIT_DTYPE_F32, 1, 1, 0, KB_GEN_NONE, 0, 0, 0);
  p->in_count = 2, p->out_count = 1;
  p->work_bytes = rows * 8 + 256;
  p->flops = 4.0 * (double)n;
  p->bytes = 8.0 * (double)n;
}

static void loss_compute(kb_problem *p, int f32, double **out) {
  const float *x = p->in[0].data;
  int64_t rows = p->n[0], cols = p->n[1];
  double total = 0, delta = p->f[0];
  for (int64_t r = 0; r < rows; r++) {
    double acc = 0;
    const float *xr = x + r * cols;
    if (p->task->op == KB_L_CROSS_ENTROPY) {
      int32_t target = ((const int32_t *)p->in[1].data)[r];
      double best = xr[0];
      for (int64_t c = 1; c < cols; c++) best = xr[c] > best ? xr[c] : best;
      for (int64_t c = 0; c < cols; c++) acc = R(acc + R(exp(R(xr[c] - best))));
      acc = R(R(R(log(acc)) + best) - xr[target]);
    } else {
      const float *tr = (const float *)p->in[1].data + r * cols;
      for (int64_t c = 0; c < cols; c++) {
        double a = xr[c], t = tr[c], d = R(a - t), e;
        switch (p->task->op) {
        case KB_L_MSE: e = R(d * d); break;
        case KB_L_L1: e = fabs(d); break;
        case KB_L_HUBER: e = fabs(d) < delta ? R(R(0.5 * d) * d) : R(delta * R(fabs(d) - R(0.5 * delta))); break;
        case KB_L_BCE: e = -R(R(t * R(log(a))) + R(R(1.0 - t) * R(log(R(1.0 - a))))); break;
        default: e = R(t * R(R(log(t)) - a)); break; // kl_div
        }
        acc = R(acc + e);
      }
    }
    total = R(total + acc);
  }
  double divisor = p->task->op == KB_L_CROSS_ENTROPY || p->task->op == KB_L_KL_DIV ? (double)rows
                                                                                     : (double)(rows * cols);
  out[0][0] = R(total / divisor);
}

const kb_family kb_family_loss = {loss_setup, NULL, loss_compute};

// ---------------------------------------------------------------- channel norms
// x (n0 = B, n1 = C, n2 = HW). group: n3 = G groups of C / G channels, weight, bias (C), f0
// eps; instance: G = C; batch (inference): in1 mean (C), in2 var (C), in3 weight, in4 bias.
static void channel_setup(kb_problem *p) {
  size_t b = (size_t)p->n[0], c = (size_t)p->n[1], hw = (size_t)p->n[2], n = b * c * hw;
  kb_spec(&p->in[0], VDIT_DTYPE_F32, n, p->n[0] * p->n[1], p->n[2], KB_GEN_NORMAL, -1e4, 1e4, 2.0);
  if (p->task->op == KB_CN_BATCH) {
    kb_spec(&p->in[1], VDIT_DTYPE_F32, c, 1, 0, KB_GEN_NORMAL, -1e4, 1e4, 0.5);
    kb_spec(&p->in[2], VDIT_DTYPE_F32, c, 1, 0, KB_GEN_UNIFORM, 0.5, 2.0, 0);
    kb_spec(&p->in[3], VDIT_DTYPE_F32, c, 1, 0, KB_GEN_UNIFORM, 0.5, 1.5, 0);
    kb_spec(&p->in[4], VDIT_DTYPE_F32, c, 1, 0, KB_GEN_NORMAL, -1e4, 1e4, 0.5);
    p->in_count = 5;
  } else {
    kb_spec(&p->in[1], VDIT_DTYPE_F32, c, 1, 0, KB_GEN_UNIFORM, 0.5, 1.5, 0);
    kb_spec(&p->in[2], VDIT_DTYPE_F32, c, 1, 0, KB_GEN_NORMAL, -1e4, 1e4, 0.5);
    p->in_count = 3;
  }
  kb_spec(&p->out[0], VDIT_DTYPE_F32, n, p->n[0] * p->n[1], 0, KB_GEN_NONE, 0, 0, 0);
  p->out_count = 1;
  p->flops = 7.0 * (double)n;
  p->bytes = 8.0 * (double)n;
}

static void channel_compute(kb_problem *p, int f32, double **out) {
  const float *x = p->in[0].data;
  int64_t B = p->n[0], C = p->n[1], HW = p->n[2];
  double eps = p->f[0];
  if (p->task->op == KB_CN_BATCH) {
    const float *mean = p->in[1].data, *var = p->in[2].data, *w = p->in[3].data, *bias = p->in[4].data;
    for (int64_t b = 0; b < B; b++)
      for (int64_t c = 0; c < C; c++) {
        double rstd = R(1.0 / R(sqrt(R(var[c] + eps))));
        for (int64_t i = 0; i < HW; i++) {
          int64_t at = (b * C + c) * HW + i;
          out[0][at] = R(R(R(R(x[at] - mean[c]) * rstd) * w[c]) + bias[c]);
        }
      }
    return;
  }
  const float *w = p->in[1].data, *bias = p->in[2].data;
  int64_t G = p->task->op == KB_CN_INSTANCE ? C : p->n[3], per = C / G * HW;
  for (int64_t b = 0; b < B; b++)
    for (int64_t g = 0; g < G; g++) {
      const float *xs = x + (b * C + g * (C / G)) * HW;
      double mean = 0, acc = 0;
      for (int64_t i = 0; i < per; i++) mean = R(mean + xs[i]);
      mean = R(mean / (double)per);
      for (int64_t i = 0; i < per; i++) { double d = R(xs[i] - mean); acc = R(acc + R(d * d)); }
      double rstd = R(1.0 / R(sqrt(R(R(acc / (double)per) + eps))));
      for (int64_t i = 0; i < per; i++) {
        int64_t c = g * (C / G) + i / HW, at = (b * C + g * (C / G)) * HW + i;
        out[0][at] = R(R(R(R(x[at] - mean) * rstd) * w[c]) + bias[c]);
      }
    }
}

const kb_family kb_family_channel_norm = {channel_setup, NULL, channel_compute};
