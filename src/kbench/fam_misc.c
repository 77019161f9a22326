// Index, optimizer, spatial and random families.
#include <math.h>
#include <string.h>

#include "kbench/kbench_internal.h"
#include "vdit/ops.h"

#define R(v) kb_r((v), f32)

// ---------------------------------------------------------------- index (exact but scatter_add)
// embedding   table (n2 = V, n1 = D), idx i32 (n0 = N) in [0, V) -> (N, D)
// gather      x (n0, n1), idx i32 (n0, n2) in [0, n1) -> y (n0, n2) = x[r, idx[r, k]]
// scatter_add src (n0 = N, n1 = D), idx i32 (N) in [0, n2 = V) -> y (V, D) = sum of the rows
//             of src sent to each row (zero where none)
// one_hot     idx i32 (n0) in [0, n1) -> f32 (n0, n1)
// masked_fill x (n0, n1), mask u8 (n0, n1) -> y = mask ? f0 : x
static void index_setup(kb_problem *p) {
  int64_t a = p->n[0], b = p->n[1], c = p->n[2];
  p->in_count = 2, p->out_count = 1;
  switch (p->task->op) {
  case KB_I_EMBEDDING:
    kb_spec(&p->in[0], VDIT_DTYPE_F32, (size_t)(c * b), c, b, KB_GEN_NORMAL, -1e4, 1e4, 1.0);
    kb_spec(&p->in[1], VDIT_DTYPE_I32, (size_t)a, a, 0, KB_GEN_INDEX, 0, (double)c, 0);
    kb_spec(&p->out[0], VDIT_DTYPE_F32, (size_t)(a * b), a, 0, KB_GEN_NONE, 0, 0, 0);
    break;
  case KB_I_GATHER:
    kb_spec(&p->in[0], VDIT_DTYPE_F32, (size_t)(a * b), a, b, KB_GEN_NORMAL, -1e4, 1e4, 1.0);
    kb_spec(&p->in[1], VDIT_DTYPE_I32, (size_t)(a * c), a, 0, KB_GEN_INDEX, 0, (double)b, 0);
    kb_spec(&p->out[0], VDIT_DTYPE_F32, (size_t)(a * c), a, 0, KB_GEN_NONE, 0, 0, 0);
    break;
  case KB_I_SCATTER_ADD:
    kb_spec(&p->in[0], VDIT_DTYPE_F32, (size_t)(a * b), a, b, KB_GEN_NORMAL, -1e4, 1e4, 1.0);
    kb_spec(&p->in[1], VDIT_DTYPE_I32, (size_t)a, a, 0, KB_GEN_INDEX, 0, (double)c, 0);
    kb_spec(&p->out[0], VDIT_DTYPE_F32, (size_t)(c * b), c, 0, KB_GEN_NONE, 0, 0, 0);
    break;
  case KB_I_ONE_HOT:
    kb_spec(&p->in[0], VDIT_DTYPE_I32, (size_t)a, a, 0, KB_GEN_INDEX, 0, (double)b, 0);
    kb_spec(&p->out[0], VDIT_DTYPE_F32, (size_t)(a * b), a, 0, KB_GEN_NONE, 0, 0, 0);
    p->in_count = 1;
    break;
  default:
    kb_spec(&p->in[0], VDIT_DTYPE_F32, (size_t)(a * b), a, b, KB_GEN_NORMAL, -1e4, 1e4, 1.0);
    kb_spec(&p->in[1], VDIT_DTYPE_U8, (size_t)(a * b), a, 0, KB_GEN_MASK, 0, 0.3, 0);
    kb_spec(&p->out[0], VDIT_DTYPE_F32, (size_t)(a * b), a, 0, KB_GEN_NONE, 0, 0, 0);
    break;
  }
  p->flops = (double)p->out[0].count;
  p->bytes = 8.0 * (double)p->out[0].count;
}

static void index_compute(kb_problem *p, int f32, double **out) {
  int64_t a = p->n[0], b = p->n[1], c = p->n[2];
  float *y = p->expected[0];
  const float *x = p->in[0].data;
  const int32_t *idx = p->in_count > 1 ? p->in[1].data : p->in[0].data;
  switch (p->task->op) {
  case KB_I_EMBEDDING:
    for (int64_t i = 0; i < a; i++) memcpy(y + i * b, x + (int64_t)idx[i] * b, (size_t)b * sizeof *y);
    break;
  case KB_I_GATHER:
    for (int64_t i = 0; i < a; i++)
      for (int64_t k = 0; k < c; k++) y[i * c + k] = x[i * b + idx[i * c + k]];
    break;
  case KB_I_SCATTER_ADD:
    for (int64_t i = 0; i < c * b; i++) out[0][i] = 0;
    for (int64_t i = 0; i < a; i++)
      for (int64_t j = 0; j < b; j++) out[0][(int64_t)idx[i] * b + j] = R(out[0][(int64_t)idx[i] * b + j] + x[i * b + j]);
    break;
  case KB_I_ONE_HOT:
    for (int64_t i = 0; i < a; i++)
      for (int64_t j = 0; j < b; j++) y[i * b + j] = idx[i] == j ? 1.0f : 0.0f;
    break;
  default: {
    const uint8_t *mask = p->in[1].data;
    for (int64_t i = 0; i < a * b; i++) y[i] = mask[i] ? p->f[0] : x[i];
    break;
  }
  }
}

const kb_family kb_family_index = {index_setup, NULL, index_compute};

// ---------------------------------------------------------------- optimizers (out of place)
// param, grad, m, v (n0 * n1 f32 each) -> param', m', v' (those the method has). f0 lr,
// f1 beta1 (momentum, alpha), f2 beta2, f3 eps, f4 weight decay; i0 the step t >= 1.
//   adamw  m' = b1 m + (1 - b1) g; v' = b2 v + (1 - b2) g^2; p1 = p (1 - lr wd);
//          p' = p1 - lr (m' / (1 - b1^t)) / (sqrt(v' / (1 - b2^t)) + eps)   (torch.optim.AdamW)
//   adam   g1 = g + wd p, then as adamw without the decay
//   sgd_momentum  m' = b1 m + g; p' = p - lr m'
//   rmsprop       v' = b1 v + (1 - b1) g^2; p' = p - lr g / (sqrt(v') + eps)
//   adagrad       v' = v + g^2; p' = p - lr g / (sqrt(v') + eps)
//   lion          u = sign(b1 m + (1 - b1) g); p' = p (1 - lr wd) - lr u; m' = b2 m + (1 - b2) g
static int optimizer_outputs(int op) {
  return op == KB_O_ADAMW || op == KB_O_ADAM ? 3 : 2;
}

static void optimizer_setup(kb_problem *p) {
  size_t n = (size_t)(p->n[0] * p->n[1]);
  kb_spec(&p->in[0], VDIT_DTYPE_F32, n, p->n[0], p->n[1], KB_GEN_NORMAL, -1e4, 1e4, 1.0);
  kb_spec(&p->in[1], VDIT_DTYPE_F32, n, p->n[0], p->n[1], KB_GEN_NORMAL, -1e4, 1e4, 0.1);
  kb_spec(&p->in[2], VDIT_DTYPE_F32, n, p->n[0], 0, KB_GEN_NORMAL, -1e4, 1e4, 0.05);
  kb_spec(&p->in[3], VDIT_DTYPE_F32, n, p->n[0], 0, KB_GEN_UNIFORM, 0.0, 0.01, 0);
  p->in_count = 4;
  p->i[0] = 10; // the step
  p->out_count = optimizer_outputs(p->task->op);
  for (int k = 0; k < p->out_count; k++) kb_spec(&p->out[k], VDIT_DTYPE_F32, n, p->n[0], 0, KB_GEN_NONE, 0, 0, 0);
  p->flops = 14.0 * (double)n;
  p->bytes = 4.0 * (double)n * (4 + p->out_count);
}

static void optimizer_compute(kb_problem *p, int f32, double **out) {
  const float *param = p->in[0].data, *grad = p->in[1].data, *m = p->in[2].data, *v = p->in[3].data;
  double lr = p->f[0], b1 = p->f[1], b2 = p->f[2], eps = p->f[3], wd = p->f[4];
  double t = (double)p->i[0];
  double c1 = R(1.0 - R(pow(b1, t))), c2 = R(1.0 - R(pow(b2, t)));
  for (size_t i = 0; i < p->in[0].count; i++) {
    double w = param[i], g = grad[i];
    switch (p->task->op) {
    case KB_O_ADAMW: case KB_O_ADAM: {
      if (p->task->op == KB_O_ADAM) g = R(g + R(wd * w));
      double m1 = R(R(b1 * m[i]) + R(R(1.0 - b1) * g));
      double v1 = R(R(b2 * v[i]) + R(R(R(1.0 - b2) * g) * g));
      double w1 = p->task->op == KB_O_ADAMW ? R(w * R(1.0 - R(lr * wd))) : w;
      double denom = R(R(sqrt(R(v1 / c2))) + eps);
      out[0][i] = R(w1 - R(R(lr * R(m1 / c1)) / denom));
      out[1][i] = m1, out[2][i] = v1;
      break;
    }
    case KB_O_SGD_MOMENTUM: {
      double m1 = R(R(b1 * m[i]) + g);
      out[0][i] = R(w - R(lr * m1)), out[1][i] = m1;
      break;
    }
    case KB_O_RMSPROP: case KB_O_ADAGRAD: {
      double v1 = p->task->op == KB_O_RMSPROP ? R(R(b1 * v[i]) + R(R(R(1.0 - b1) * g) * g)) : R(v[i] + R(g * g));
      out[0][i] = R(w - R(R(lr * g) / R(R(sqrt(v1)) + eps))), out[1][i] = v1;
      break;
    }
    default: { // lion
      double c = R(R(b1 * m[i]) + R(R(1.0 - b1) * g));
      double u = c > 0 ? 1.0 : (c < 0 ? -1.0 : 0.0);
      out[0][i] = R(R(w * R(1.0 - R(lr * wd))) - R(lr * u));
      out[1][i] = R(R(b2 * m[i]) + R(R(1.0 - b2) * g));
      break;
    }
    }
  }
}

const kb_family kb_family_optimizer = {optimizer_setup, NULL, optimizer_compute};

// ---------------------------------------------------------------- spatial
// rope_3d     x (B, S, H, D), S = F * Hh * Ww -> y, Wan's 3D RoPE (vdit_ops_rope_3d_forward,
//             theta 10000); n: B, F, Hh, Ww, H, D
// patchify    video (B, C, F, H, W) -> (B, S, C * P * P), patch (1, P, P), token element
//             (c, i, j) at c P P + i P + j; n: B, C, F, H, W, P. Exact.
// unpatchify  tokens (B, S, P * P * C) laid out (i, j, c) -> video (B, C, F, H, W) (the engine's
//             vdit_ops_unpatchify_forward with patch (1, P, P)); n as patchify. Exact.
// upsample_nearest  x (n0 planes, H, W) -> (n0, 2H, 2W). Exact.
// upsample_bilinear x (n0, H, W) -> (n0, 2H, 2W), align_corners = False (torch).
// pad_reflect x (n0, H, W) -> (n0, H + 4, W + 4), reflection by 2 on each side. Exact.
// flip        x (n0, n1) -> reversed rows. Exact.
static void spatial_setup(kb_problem *p) {
  int op = p->task->op;
  p->in_count = 1, p->out_count = 1;
  if (op == KB_S_ROPE_3D) {
    int64_t S = p->n[1] * p->n[2] * p->n[3];
    size_t n = (size_t)(p->n[0] * S * p->n[4] * p->n[5]);
    kb_spec(&p->in[0], VDIT_DTYPE_F32, n, p->n[0] * S * p->n[4], p->n[5], KB_GEN_NORMAL, -1e4, 1e4, 1.0);
    kb_spec(&p->out[0], VDIT_DTYPE_F32, n, p->n[0] * S * p->n[4], 0, KB_GEN_NONE, 0, 0, 0);
    p->flops = 6.0 * (double)n;
    p->bytes = 8.0 * (double)n;
    return;
  }
  if (op == KB_S_PATCHIFY || op == KB_S_UNPATCHIFY) {
    int64_t B = p->n[0], C = p->n[1], F = p->n[2], H = p->n[3], W = p->n[4];
    size_t n = (size_t)(B * C * F * H * W);
    int64_t tokens = B * F * (H / p->n[5]) * (W / p->n[5]);
    if (op == KB_S_PATCHIFY) {
      kb_spec(&p->in[0], VDIT_DTYPE_F32, n, B * C * F * H, W, KB_GEN_NORMAL, -1e4, 1e4, 1.0);
      kb_spec(&p->out[0], VDIT_DTYPE_F32, n, tokens, 0, KB_GEN_NONE, 0, 0, 0);
    } else {
      kb_spec(&p->in[0], VDIT_DTYPE_F32, n, tokens, (int64_t)n / tokens, KB_GEN_NORMAL, -1e4, 1e4, 1.0);
      kb_spec(&p->out[0], VDIT_DTYPE_F32, n, B * C * F * H, 0, KB_GEN_NONE, 0, 0, 0);
    }
    p->flops = 0;
    p->bytes = 8.0 * (double)n;
    return;
  }
  int64_t planes = p->n[0], H = p->n[1], W = op == KB_S_FLIP ? 1 : p->n[2];
  size_t in = (size_t)(planes * H * W), out;
  if (op == KB_S_FLIP) {
    kb_spec(&p->in[0], VDIT_DTYPE_F32, in, planes, H, KB_GEN_NORMAL, -1e4, 1e4, 1.0);
    out = in;
  } else {
    kb_spec(&p->in[0], VDIT_DTYPE_F32, in, planes * H, W, KB_GEN_NORMAL, -1e4, 1e4, 1.0);
    out = op == KB_S_PAD ? (size_t)(planes * (H + 4) * (W + 4)) : 4 * in;
  }
  kb_spec(&p->out[0], VDIT_DTYPE_F32, out, planes, 0, KB_GEN_NONE, 0, 0, 0);
  p->flops = op == KB_S_UPSAMPLE_BILINEAR ? 8.0 * (double)out : 0;
  p->bytes = 4.0 * (double)(in + out);
}

// torch's source index for align_corners = False, scale 2: (dst + 0.5) / 2 - 0.5, clamped at 0.
static void bilinear_source(int64_t dst, int64_t size, int64_t *i0, int64_t *i1, double *lambda, int f32) {
  double s = R(R(R((double)dst + 0.5) * 0.5) - 0.5);
  if (s < 0) s = 0;
  *i0 = (int64_t)s;
  *i1 = *i0 + 1 < size ? *i0 + 1 : size - 1;
  *lambda = R(s - (double)*i0);
}

static void spatial_compute(kb_problem *p, int f32, double **out) {
  int op = p->task->op;
  const float *x = p->in[0].data;
  float *y = p->expected[0];
  if (op == KB_S_ROPE_3D) {
    int64_t B = p->n[0], F = p->n[1], Hh = p->n[2], Ww = p->n[3], H = p->n[4], D = p->n[5], S = F * Hh * Ww;
    int64_t parts[3];
    vdit_ops_rope_3d_split(D, parts);
    for (int64_t b = 0; b < B; b++)
      for (int64_t s = 0; s < S; s++) {
        int64_t pos[3] = {s / (Hh * Ww), (s / Ww) % Hh, s % Ww};
        for (int64_t h = 0; h < H; h++) {
          const float *xs = x + ((b * S + s) * H + h) * D;
          double *ys = out[0] + ((b * S + s) * H + h) * D;
          int64_t c = 0;
          for (int part = 0; part < 3; part++)
            for (int64_t i = 0; i < parts[part] / 2; i++, c += 2) {
              double angle = (double)pos[part] * pow(10000.0, -2.0 * (double)i / (double)parts[part]);
              double co = cos(angle), si = sin(angle);
              if (f32) co = (float)co, si = (float)si;
              ys[c] = R(R(xs[c] * co) - R(xs[c + 1] * si));
              ys[c + 1] = R(R(xs[c] * si) + R(xs[c + 1] * co));
            }
        }
      }
    return;
  }
  if (op == KB_S_PATCHIFY || op == KB_S_UNPATCHIFY) {
    int64_t B = p->n[0], C = p->n[1], F = p->n[2], H = p->n[3], W = p->n[4], P = p->n[5], Hp = H / P, Wp = W / P;
    for (int64_t b = 0; b < B; b++)
      for (int64_t c = 0; c < C; c++)
        for (int64_t f = 0; f < F; f++)
          for (int64_t h = 0; h < H; h++)
            for (int64_t w = 0; w < W; w++) {
              int64_t video = (((b * C + c) * F + f) * H + h) * W + w;
              int64_t token = b * F * Hp * Wp + (f * Hp + h / P) * Wp + w / P, i = h % P, j = w % P;
              if (op == KB_S_PATCHIFY)
                y[token * C * P * P + (c * P + i) * P + j] = x[video];
              else
                y[video] = x[token * C * P * P + (i * P + j) * C + c];
            }
    return;
  }
  int64_t planes = p->n[0], H = p->n[1], W = p->n[2];
  for (int64_t c = 0; c < planes; c++) {
    if (op == KB_S_FLIP) {
      for (int64_t i = 0; i < H; i++) y[c * H + i] = x[c * H + H - 1 - i];
      continue;
    }
    const float *xs = x + c * H * W;
    if (op == KB_S_PAD) {
      for (int64_t i = 0; i < H + 4; i++)
        for (int64_t j = 0; j < W + 4; j++) {
          int64_t si = i - 2, sj = j - 2;
          si = si < 0 ? -si : (si >= H ? 2 * (H - 1) - si : si);
          sj = sj < 0 ? -sj : (sj >= W ? 2 * (W - 1) - sj : sj);
          y[(c * (H + 4) + i) * (W + 4) + j] = xs[si * W + sj];
        }
      continue;
    }
    for (int64_t i = 0; i < 2 * H; i++)
      for (int64_t j = 0; j < 2 * W; j++) {
        int64_t at = (c * 2 * H + i) * 2 * W + j;
        if (op == KB_S_UPSAMPLE_NEAREST) {
          y[at] = xs[(i / 2) * W + j / 2];
        } else {
          int64_t i0, i1, j0, j1;
          double li, lj;
          bilinear_source(i, H, &i0, &i1, &li, f32);
          bilinear_source(j, W, &j0, &j1, &lj, f32);
          double top = R(R(R(1.0 - lj) * xs[i0 * W + j0]) + R(lj * xs[i0 * W + j1]));
          double bottom = R(R(R(1.0 - lj) * xs[i1 * W + j0]) + R(lj * xs[i1 * W + j1]));
          out[0][at] = R(R(R(1.0 - li) * top) + R(li * bottom));
        }
      }
  }
}

const kb_family kb_family_spatial = {spatial_setup, NULL, spatial_compute};

// ---------------------------------------------------------------- random (exact: Philox)
// Element e of the stream (seed i0, offset i1 + e), vdit's Philox4x32-10 (include/vdit/base.h):
//   uniform    out f32 (n0 * n1) = vdit_rng_uniform
//   bits       out u32 (n0 * n1) = vdit_rng_u32
//   dropout    x (n0, n1) -> y = u_e >= f0 ? x * f1 : 0, f1 = (float)(1 / (1 - f0))
//   bernoulli  out u8 (n0 * n1) = u_e < f0
static void random_setup(kb_problem *p) {
  size_t n = (size_t)(p->n[0] * p->n[1]);
  int op = p->task->op;
  p->in_count = 0, p->out_count = 1;
  if (op == KB_RND_DROPOUT) {
    kb_spec(&p->in[0], VDIT_DTYPE_F32, n, p->n[0], p->n[1], KB_GEN_NORMAL, -1e4, 1e4, 1.0);
    p->in_count = 1;
  }
  vdit_dtype dt = op == KB_RND_BITS ? VDIT_DTYPE_U32 : (op == KB_RND_BERNOULLI ? VDIT_DTYPE_U8 : VDIT_DTYPE_F32);
  kb_spec(&p->out[0], dt, n, p->n[0], 0, KB_GEN_NONE, 0, 0, 0);
  p->f[1] = (float)(1.0 / (1.0 - (double)p->f[0]));
  p->flops = 40.0 * (double)n;
  p->bytes = (double)(n * (size_t)vdit_dtype_element_bytes(dt)) + (op == KB_RND_DROPOUT ? 4.0 * (double)n : 0);
}

static void random_prepare(kb_problem *p) {
  p->i[0] = (int64_t)(p->seed & 0x7fffffffffffull);
  p->i[1] = (int64_t)((p->seed >> 20) & 0xffff);
}

static void random_compute(kb_problem *p, int f32, double **out) {
  size_t n = p->out[0].count;
  uint64_t seed = (uint64_t)p->i[0], offset = (uint64_t)p->i[1];
  switch (p->task->op) {
  case KB_RND_UNIFORM: vdit_rng_uniform(seed, offset, n, p->expected[0]); break;
  case KB_RND_BITS: vdit_rng_u32(seed, offset, n, p->expected[0]); break;
  default: {
    float *u = p->expected[0];
    if (p->task->op == KB_RND_BERNOULLI) {
      for (size_t i = 0; i < n; i++) {
        float v;
        vdit_rng_uniform(seed, offset + i, 1, &v);
        ((uint8_t *)p->expected[0])[i] = v < p->f[0];
      }
      break;
    }
    vdit_rng_uniform(seed, offset, n, u);
    const float *x = p->in[0].data;
    for (size_t i = 0; i < n; i++) u[i] = u[i] >= p->f[0] ? x[i] * p->f[1] : 0.0f;
    break;
  }
  }
  (void)f32, (void)out;
}

const kb_family kb_family_random = {random_setup, random_prepare, random_compute};
