// The attention training check (attn_train.h). Everything is fp32 on the CPU; the projections
// are plain loops (the model is tiny), the attention goes through the public API with the
// spec's method, in (B, S, H, Dh) layout, so q = x Wq is already an attention tensor.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attn/attn_train.h"
#include "vdit/vdit.h"

vdit_attn_train_spec vdit_attn_train_default(vdit_attn_method method) {
  vdit_attn_train_spec spec;
  memset(&spec, 0, sizeof spec);
  spec.config.method = method;
  spec.batch = 2;
  spec.seq = 64;
  spec.model_dim = 64;
  spec.heads = 2;
  spec.head_dim = 32;
  spec.steps = 200;
  spec.learning_rate = 1e-2f;
  spec.seed = 7;
  return spec;
}

// y (n, m) = x (n, k) w (k, m)
static void matmul(const float *x, const float *w, float *y, int64_t n, int64_t k, int64_t m) {
  for (int64_t i = 0; i < n; i++) {
    float *yi = y + i * m;
    for (int64_t c = 0; c < m; c++) yi[c] = 0.0f;
    for (int64_t r = 0; r < k; r++) {
      const float a = x[i * k + r];
      const float *wr = w + r * m;
      for (int64_t c = 0; c < m; c++) yi[c] += a * wr[c];
    }
  }
}

// dw (k, m) = x^T (k, n) dy (n, m)
static void matmul_tn(const float *x, const float *dy, float *dw, int64_t n, int64_t k, int64_t m) {
  memset(dw, 0, (size_t)(k * m) * sizeof *dw);
  for (int64_t i = 0; i < n; i++)
    for (int64_t r = 0; r < k; r++) {
      const float a = x[i * k + r];
      for (int64_t c = 0; c < m; c++) dw[r * m + c] += a * dy[i * m + c];
    }
}

// dx (n, k) = dy (n, m) w^T (m, k)
static void matmul_nt(const float *dy, const float *w, float *dx, int64_t n, int64_t k, int64_t m) {
  for (int64_t i = 0; i < n; i++)
    for (int64_t r = 0; r < k; r++) {
      float s = 0.0f;
      for (int64_t c = 0; c < m; c++) s += dy[i * m + c] * w[r * m + c];
      dx[i * k + r] = s;
    }
}

typedef struct attn_model {
  float *w[4]; // wq, wk, wv (C, H Dh), wo (H Dh, C)
} attn_model;

typedef struct attn_acts {
  float *q, *k, *v, *a, *lse, *y;
} attn_acts;

static vdit_status attention(const vdit_attn_config *config, const int64_t shape[4], attn_acts *t, int backward,
                             const float *d_a, float *dq, float *dk, float *dv) {
  int64_t lse_shape[3] = {shape[0], shape[2], shape[1]};
  vdit_tensor tq, tk, tv, ta, tl;
  VDIT_TRY(vdit_tensor_view(&tq, t->q, VDIT_DTYPE_F32, VDIT_CPU, 4, shape, NULL));
  VDIT_TRY(vdit_tensor_view(&tk, t->k, VDIT_DTYPE_F32, VDIT_CPU, 4, shape, NULL));
  VDIT_TRY(vdit_tensor_view(&tv, t->v, VDIT_DTYPE_F32, VDIT_CPU, 4, shape, NULL));
  VDIT_TRY(vdit_tensor_view(&ta, t->a, VDIT_DTYPE_F32, VDIT_CPU, 4, shape, NULL));
  VDIT_TRY(vdit_tensor_view(&tl, t->lse, VDIT_DTYPE_F32, VDIT_CPU, 3, lse_shape, NULL));
  vdit_attn_plan *plan = NULL;
  VDIT_TRY(vdit_attn_plan_create(&plan, config, &tq, &tk, &tv));
  vdit_status status = vdit_attn_forward(plan, &tq, &tk, &tv, &ta, &tl);
  if (status == VDIT_OK && backward) {
    vdit_tensor tda, tdq, tdk, tdv;
    status = vdit_tensor_view(&tda, (float *)d_a, VDIT_DTYPE_F32, VDIT_CPU, 4, shape, NULL);
    if (status == VDIT_OK) status = vdit_tensor_view(&tdq, dq, VDIT_DTYPE_F32, VDIT_CPU, 4, shape, NULL);
    if (status == VDIT_OK) status = vdit_tensor_view(&tdk, dk, VDIT_DTYPE_F32, VDIT_CPU, 4, shape, NULL);
    if (status == VDIT_OK) status = vdit_tensor_view(&tdv, dv, VDIT_DTYPE_F32, VDIT_CPU, 4, shape, NULL);
    if (status == VDIT_OK) status = vdit_attn_backward(plan, &tq, &tk, &tv, &ta, &tl, &tda, &tdq, &tdk, &tdv);
  }
  vdit_attn_plan_free(plan);
  return status;
}

// y = Attn(x Wq, x Wk, x Wv) Wo for n = B S tokens.
static vdit_status model_forward(const vdit_attn_config *config, const attn_model *m, const float *x,
                                 const int64_t shape[4], int64_t C, attn_acts *t, int backward, const float *dy,
                                 attn_model *grad, float *scratch) {
  const int64_t n = shape[0] * shape[1], HD = shape[2] * shape[3];
  matmul(x, m->w[0], t->q, n, C, HD);
  matmul(x, m->w[1], t->k, n, C, HD);
  matmul(x, m->w[2], t->v, n, C, HD);
  if (!backward) {
    VDIT_TRY(attention(config, shape, t, 0, NULL, NULL, NULL, NULL));
    matmul(t->a, m->w[3], t->y, n, HD, C);
    return VDIT_OK;
  }
  float *d_a = scratch, *dq = d_a + n * HD, *dk = dq + n * HD, *dv = dk + n * HD;
  matmul_tn(t->a, dy, grad->w[3], n, HD, C);
  matmul_nt(dy, m->w[3], d_a, n, HD, C);
  VDIT_TRY(attention(config, shape, t, 1, d_a, dq, dk, dv));
  matmul_tn(x, dq, grad->w[0], n, C, HD);
  matmul_tn(x, dk, grad->w[1], n, C, HD);
  matmul_tn(x, dv, grad->w[2], n, C, HD);
  return VDIT_OK;
}

vdit_status vdit_attn_train_run(const vdit_attn_train_spec *spec, float *losses) {
  const int64_t B = spec->batch, S = spec->seq, C = spec->model_dim, H = spec->heads, Dh = spec->head_dim;
  if (B < 1 || S < 1 || C < 1 || H < 1 || Dh < 1 || spec->steps < 1 || !(spec->learning_rate > 0))
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "attention training: sizes, steps and learning rate must be positive");
  const int64_t n = B * S, HD = H * Dh, wsize = C * HD;
  const int64_t shape[4] = {B, S, H, Dh};
  // weights: student, teacher, grads, Adam m and v (4 matrices each); activations x2; scratch
  const size_t floats = (size_t)(5 * 4 * wsize + n * C * 3 + 2 * (4 * n * HD + n * C + B * H * S) + 4 * n * HD);
  float *block = calloc(floats, sizeof(float));
  if (!block) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "attention training: no memory for %zu floats", floats);
  float *f = block;
  attn_model student, teacher, grad, adam_m, adam_v;
  attn_model *models[5] = {&student, &teacher, &grad, &adam_m, &adam_v};
  for (int mi = 0; mi < 5; mi++)
    for (int w = 0; w < 4; w++) models[mi]->w[w] = f, f += wsize;
  float *x = f, *y_t = x + n * C, *dy = y_t + n * C;
  f = dy + n * C;
  attn_acts acts[2];
  for (int a = 0; a < 2; a++) {
    acts[a].q = f, f += n * HD;
    acts[a].k = f, f += n * HD;
    acts[a].v = f, f += n * HD;
    acts[a].a = f, f += n * HD;
    acts[a].y = f, f += n * C;
    acts[a].lse = f, f += B * H * S;
  }
  float *scratch = f;
  // teacher: q, k weights 2x larger for a peaked softmax; student starts elsewhere
  for (int w = 0; w < 4; w++) {
    vdit_rng_normal(spec->seed, (uint64_t)w << 32, (size_t)wsize, teacher.w[w]);
    vdit_rng_normal(spec->seed + 1, (uint64_t)w << 32, (size_t)wsize, student.w[w]);
    const float gain = (w < 2 ? 2.0f : 1.0f) / sqrtf((float)(w == 3 ? HD : C));
    for (int64_t i = 0; i < wsize; i++) {
      teacher.w[w][i] *= gain;
      student.w[w][i] *= 1.0f / sqrtf((float)(w == 3 ? HD : C));
    }
  }
  vdit_attn_config dense;
  memset(&dense, 0, sizeof dense);
  const float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;
  vdit_status status = VDIT_OK;
  for (int step = 0; step < spec->steps && status == VDIT_OK; step++) {
    vdit_rng_normal(spec->seed + 2, (uint64_t)step << 32, (size_t)(n * C), x);
    status = model_forward(&dense, &teacher, x, shape, C, &acts[1], 0, NULL, NULL, NULL);
    if (status == VDIT_OK) status = model_forward(&spec->config, &student, x, shape, C, &acts[0], 0, NULL, NULL, NULL);
    if (status != VDIT_OK) break;
    memcpy(y_t, acts[1].y, (size_t)(n * C) * sizeof *y_t);
    double loss = 0.0;
    for (int64_t i = 0; i < n * C; i++) {
      const float e = acts[0].y[i] - y_t[i];
      loss += (double)e * e;
      dy[i] = 2.0f * e / (float)(n * C);
    }
    losses[step] = (float)(loss / (double)(n * C));
    status = model_forward(&spec->config, &student, x, shape, C, &acts[0], 1, dy, &grad, scratch);
    const float c1 = 1.0f - powf(beta1, (float)(step + 1)), c2 = 1.0f - powf(beta2, (float)(step + 1));
    for (int w = 0; w < 4 && status == VDIT_OK; w++)
      for (int64_t i = 0; i < wsize; i++) {
        const float g = grad.w[w][i];
        adam_m.w[w][i] = beta1 * adam_m.w[w][i] + (1.0f - beta1) * g;
        adam_v.w[w][i] = beta2 * adam_v.w[w][i] + (1.0f - beta2) * g * g;
        student.w[w][i] -= spec->learning_rate * (adam_m.w[w][i] / c1) / (sqrtf(adam_v.w[w][i] / c2) + eps);
      }
  }
  free(block);
  return status;
}
