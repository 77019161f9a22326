// Dense attention on a GPU (src/attn/cuda through vdit_attn_forward / backward):
//  1. the `vdit attn check` grid on cuda:0 against the fp64 reference: S in {1, 63, 127, 1000,
//     4096}, both layouts, every mask, plain and outlier inputs, bf16 and fp16, head dims 64
//     and 128 (wgmma path) and 96 (generic path), Sq != Sk, NaN-poisoned outputs;
//  2. cross-attention shapes, ragged key lengths with an empty batch element, and every kind
//     of head dim the generic path pads (16, 33, 80, 200, 256);
//  3. CUDA against the CPU path on the same inputs, including Q/K/V and dQ/dK/dV as strided
//     views into packed QKV buffers (aligned: wgmma path; misaligned rows: generic path), where
//     the gaps between the views must stay untouched;
//  4. the CUDA plan's one-line errors (f32, a non-contiguous LSE, a batch beyond the grid).
// Skips (exit 77) without the CUDA backend or without a GPU.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attn/attn_check.h"
#include "attn/attn_kernels.h"
#include "check.h"
#include "vdit/vdit.h"

#define TEST_NAME "test_attn_gpu"

#ifdef VDIT_HAVE_CUDA
#define GPU VDIT_CUDA(0)

static const char *mask_name(vdit_attn_mask mask) {
  return mask == VDIT_ATTN_MASK_NONE ? "none" : mask == VDIT_ATTN_MASK_CAUSAL ? "causal" : "block";
}

static void check_case(const vdit_attn_check_spec *spec) {
  vdit_attn_check_result r;
  vdit_status status = vdit_attn_check_run(spec, &r);
  CHECK_OK(status);
  const vdit_attn_shape s = spec->shape;
  if (status == VDIT_OK && !r.passed)
    CHECK_FAIL_("B=%lld H=%lld Sq=%lld Sk=%lld D=%lld %s mask=%s/%lld inputs=%s %s lengths=%s: o %.3g/%.6f/%.3g "
                "lse %.3g dq %.3g/%.6f dk %.3g/%.6f dv %.3g/%.6f (rel_l1/cos)",
                (long long)s.batch, (long long)s.heads, (long long)s.seq_q, (long long)s.seq_k, (long long)s.head_dim,
                spec->config.layout == VDIT_ATTN_LAYOUT_BSHD ? "bshd" : "bhsd", mask_name(spec->config.mask),
                (long long)spec->config.mask_block_length, vdit_attn_inputs_name(spec->inputs),
                vdit_dtype_name(spec->dtype), spec->config.key_lengths ? "ragged" : "full", r.o.rel_l1, r.o.cos,
                r.o.max_err, r.lse.max_err, r.dq.rel_l1, r.dq.cos, r.dk.rel_l1, r.dk.cos, r.dv.rel_l1, r.dv.cos);
}

static vdit_attn_check_spec base_spec(uint64_t seed) {
  vdit_attn_check_spec spec;
  memset(&spec, 0, sizeof spec);
  spec.config.method = VDIT_ATTN_DENSE;
  spec.config.mask_block_length = 48;
  spec.device = GPU;
  spec.dtype = VDIT_DTYPE_BF16;
  spec.inputs = VDIT_ATTN_INPUTS_PLAIN;
  spec.seed = seed;
  spec.backward = 1;
  return spec;
}

// 1. The grid against the fp64 reference.
static void test_grid(void) {
  const int64_t seqs[] = {1, 63, 127, 1000, 4096};
  const vdit_attn_mask masks[] = {VDIT_ATTN_MASK_NONE, VDIT_ATTN_MASK_CAUSAL, VDIT_ATTN_MASK_BLOCK_CAUSAL};
  const int64_t dims[] = {64, 128, 96};
  uint64_t seed = 100;
  for (int si = 0; si < 5; si++)
    for (int li = 0; li < 2; li++)
      for (int mi = 0; mi < 3; mi++)
        for (int ii = 0; ii < 2; ii++) {
          vdit_attn_check_spec spec = base_spec(seed++);
          spec.config.layout = li ? VDIT_ATTN_LAYOUT_BHSD : VDIT_ATTN_LAYOUT_BSHD;
          spec.config.mask = masks[mi];
          spec.inputs = ii ? VDIT_ATTN_INPUTS_OUTLIER : VDIT_ATTN_INPUTS_PLAIN;
          spec.dtype = (si + li + mi + ii) % 2 ? VDIT_DTYPE_F16 : VDIT_DTYPE_BF16;
          const int64_t seq = seqs[si];
          // Cross-attention on some cases: fewer queries than keys.
          const int64_t seq_k = (mi == 0 && ii == 1 && seq > 1) ? seq + seq / 3 : seq;
          const int64_t dim = dims[(si + li + mi + 2 * ii) % 3];
          spec.shape = (vdit_attn_shape){seq < 200 ? 2 : 1, seq < 4096 ? 2 : 1, seq, seq_k, dim};
          check_case(&spec);
        }
}

// 2. Cross-attention shapes, ragged key lengths, the generic path's head dims.
static void test_shapes(void) {
  struct {
    int64_t batch, heads, seq_q, seq_k, dim;
    vdit_attn_mask mask;
    int64_t block;
    vdit_dtype dtype;
  } cases[] = {
      {2, 2, 1, 1000, 128, VDIT_ATTN_MASK_CAUSAL, 0, VDIT_DTYPE_BF16},    // decoding: one query, a KV cache
      {1, 3, 127, 1000, 64, VDIT_ATTN_MASK_BLOCK_CAUSAL, 100, VDIT_DTYPE_F16},
      {1, 2, 1000, 63, 64, VDIT_ATTN_MASK_CAUSAL, 0, VDIT_DTYPE_BF16},    // most queries see no key
      {1, 2, 63, 4096, 128, VDIT_ATTN_MASK_NONE, 0, VDIT_DTYPE_F16},
      {1, 1, 4096, 1000, 64, VDIT_ATTN_MASK_BLOCK_CAUSAL, 333, VDIT_DTYPE_BF16},
      {2, 2, 127, 130, 16, VDIT_ATTN_MASK_NONE, 0, VDIT_DTYPE_BF16},      // generic path, padded to 64
      {2, 2, 200, 200, 33, VDIT_ATTN_MASK_CAUSAL, 0, VDIT_DTYPE_F16},     // odd D: unaligned rows
      {1, 2, 1000, 1000, 80, VDIT_ATTN_MASK_BLOCK_CAUSAL, 64, VDIT_DTYPE_BF16},
      {1, 2, 300, 257, 200, VDIT_ATTN_MASK_NONE, 0, VDIT_DTYPE_BF16},     // padded to 256
      {1, 2, 257, 300, 256, VDIT_ATTN_MASK_CAUSAL, 0, VDIT_DTYPE_F16},
  };
  uint64_t seed = 500;
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
    for (int li = 0; li < 2; li++) {
      vdit_attn_check_spec spec = base_spec(seed++);
      spec.config.layout = li ? VDIT_ATTN_LAYOUT_BHSD : VDIT_ATTN_LAYOUT_BSHD;
      spec.config.mask = cases[c].mask;
      spec.config.mask_block_length = cases[c].block;
      spec.dtype = cases[c].dtype;
      // Outlier keys only from D = 64: at D = 16 with 10-50x channels the bf16 dQ error of the
      // standard algorithm (Delta from the stored bf16 O) reaches the tolerance by itself
      // (dev/attn/README.md, "Numerics: dQ with peaked softmax").
      spec.inputs = li && cases[c].dim >= 64 ? VDIT_ATTN_INPUTS_OUTLIER : VDIT_ATTN_INPUTS_VIDEO;
      spec.shape = (vdit_attn_shape){cases[c].batch, cases[c].heads, cases[c].seq_q, cases[c].seq_k, cases[c].dim};
      check_case(&spec);
    }
  // Ragged key lengths with an empty batch element, on both paths and masks.
  int64_t lengths_a[3] = {100, 0, 37};
  int64_t lengths_b[3] = {1, 1000, 0};
  const int64_t dims[] = {64, 128, 80};
  for (int d = 0; d < 3; d++) {
    vdit_attn_check_spec spec = base_spec(seed++);
    spec.config.key_lengths = lengths_a;
    spec.config.mask = VDIT_ATTN_MASK_CAUSAL;
    spec.config.layout = d % 2 ? VDIT_ATTN_LAYOUT_BHSD : VDIT_ATTN_LAYOUT_BSHD;
    spec.shape = (vdit_attn_shape){3, 2, 90, 100, dims[d]};
    spec.inputs = VDIT_ATTN_INPUTS_VIDEO;
    check_case(&spec);
    spec = base_spec(seed++);
    spec.config.key_lengths = lengths_b;
    spec.config.mask = d == 2 ? VDIT_ATTN_MASK_BLOCK_CAUSAL : VDIT_ATTN_MASK_NONE;
    spec.config.mask_block_length = 64;
    spec.shape = (vdit_attn_shape){3, 2, 1000, 1000, dims[d]};
    spec.dtype = VDIT_DTYPE_F16;
    check_case(&spec);
  }
}

// ---------------------------------------------------------------- 3. CUDA against the CPU
// Q, K, V (and dQ, dK, dV) are views into one packed buffer of shape (B, S, 3, H, row) in the
// BSHD layout or (B, 3, H, S, row) in BHSD, row >= D: element d of (b, s, h) of part p.
typedef struct packed {
  vdit_tensor buffer;  // 1-d, the whole packed allocation
  vdit_tensor part[3]; // Q, K, V views
} packed;

static vdit_status packed_alloc(packed *pk, vdit_dtype dtype, vdit_device device, vdit_attn_layout layout,
                                const vdit_attn_shape *s, int64_t row) {
  memset(pk, 0, sizeof *pk);
  int64_t n = s->batch * s->seq_q * 3 * s->heads * row;
  VDIT_TRY(vdit_tensor_alloc(&pk->buffer, dtype, device, 1, &n));
  const int64_t element = vdit_dtype_bits(dtype) / 8;
  for (int p = 0; p < 3; p++) {
    int64_t shape[4], stride[4], offset;
    if (layout == VDIT_ATTN_LAYOUT_BSHD) {
      int64_t sh[4] = {s->batch, s->seq_q, s->heads, s->head_dim};
      int64_t st[4] = {s->seq_q * 3 * s->heads * row, 3 * s->heads * row, row, 1};
      memcpy(shape, sh, sizeof sh);
      memcpy(stride, st, sizeof st);
      offset = p * s->heads * row;
    } else {
      int64_t sh[4] = {s->batch, s->heads, s->seq_q, s->head_dim};
      int64_t st[4] = {3 * s->heads * s->seq_q * row, s->seq_q * row, row, 1};
      memcpy(shape, sh, sizeof sh);
      memcpy(stride, st, sizeof st);
      offset = p * s->heads * s->seq_q * row;
    }
    VDIT_TRY(vdit_tensor_view(&pk->part[p], (char *)pk->buffer.data + offset * element, dtype, device, 4, shape, stride));
  }
  return VDIT_OK;
}

static vdit_status alloc_layout(vdit_tensor *t, vdit_dtype dtype, vdit_device device, vdit_attn_layout layout,
                                const vdit_attn_shape *s) {
  int64_t shape[4] = {s->batch, layout == VDIT_ATTN_LAYOUT_BSHD ? s->seq_q : s->heads,
                      layout == VDIT_ATTN_LAYOUT_BSHD ? s->heads : s->seq_q, s->head_dim};
  VDIT_TRY(vdit_tensor_alloc(t, dtype, device, 4, shape));
  return vdit_tensor_poison(t);
}

// A device tensor (any strides) as fp32 (B, H, S, D) on the host.
static vdit_status to_host_bhsd(const vdit_tensor *t, vdit_attn_layout layout, float *out) {
  vdit_tensor host;
  VDIT_TRY(vdit_tensor_alloc(&host, t->dtype, VDIT_CPU, t->ndim, t->shape));
  vdit_status status = vdit_tensor_copy(&host, t);
  if (status == VDIT_OK) status = vdit_attn_tensor_to_bhsd(&host, layout, out);
  vdit_tensor_free(&host);
  return status;
}

static int within(const vdit_error_stats *e, const vdit_attn_tolerance *t) {
  if (e->nonfinite) return 0;
  if (e->reference_max == 0) return e->max_err <= t->max_err;
  return e->rel_l1 <= t->rel_l1 && e->cos >= t->min_cos && e->max_err <= t->max_err;
}

// CUDA result `x` against the CPU's `cpu` (as the reference), n fp32 values.
static void compare(const char *what, const char *label, size_t n, const float *x, const float *cpu,
                    const vdit_attn_tolerance *t) {
  double *reference = malloc((n + 1) * sizeof *reference);
  CHECK(reference != NULL);
  if (!reference) return;
  for (size_t i = 0; i < n; i++) reference[i] = cpu[i];
  vdit_error_stats e = vdit_error_stats_f32(n, x, reference);
  if (!within(&e, t))
    CHECK_FAIL_("%s: %s CUDA vs CPU: rel_l1 %.3g cos %.7f max_err %.3g nonfinite %lld (tolerance %.0e / %.5g / %.0e)",
                label, what, e.rel_l1, e.cos, e.max_err, (long long)e.nonfinite, t->rel_l1, t->min_cos, t->max_err);
  free(reference);
}

// LSE: -inf exactly where the CPU has -inf, else within 1e-3 (fp32 logs of the same sums).
static void compare_lse(const char *label, size_t n, const float *x, const float *cpu) {
  size_t bad = 0, worst_index = 0;
  double worst = 0;
  for (size_t i = 0; i < n; i++) {
    if (isinf(cpu[i])) {
      bad += !(isinf(x[i]) && x[i] < 0);
      continue;
    }
    double err = fabs((double)x[i] - (double)cpu[i]);
    if (!(err <= 1e-3)) bad++;
    if (!(err <= worst)) worst = err, worst_index = i;
  }
  if (bad) CHECK_FAIL_("%s: LSE CUDA vs CPU: %zu of %zu rows differ, worst %.3g at %zu", label, bad, n, worst, worst_index);
}

typedef struct cross_case {
  const char *label;
  vdit_attn_shape shape; // seq_q == seq_k when packed
  vdit_attn_layout layout;
  vdit_attn_mask mask;
  int64_t block;
  vdit_dtype dtype;
  int packed;            // Q/K/V and dQ/dK/dV as views into packed buffers
  int64_t row_pad;       // extra elements per packed row (odd: misaligned, generic path)
  const int64_t *key_lengths;
} cross_case;

static void run_cross_case(const cross_case *c, uint64_t seed) {
  const vdit_attn_shape s = c->shape;
  const vdit_device devices[2] = {VDIT_CPU, GPU};
  const size_t nq = (size_t)(s.batch * s.heads * s.seq_q * s.head_dim);
  const size_t nk = (size_t)(s.batch * s.heads * s.seq_k * s.head_dim);
  const size_t nl = (size_t)(s.batch * s.heads * s.seq_q);
  // fp32 (B, H, S, D) inputs; results per device: o, lse, dq, dk, dv
  float *in = malloc((2 * nq + 2 * nk) * sizeof *in);
  float *out[2];
  for (int d = 0; d < 2; d++) out[d] = malloc((2 * nq + 2 * nk + nl) * sizeof(float));
  CHECK(in && out[0] && out[1]);
  if (!in || !out[0] || !out[1]) return;
  float *q = in, *d_o = in + nq, *k = in + 2 * nq, *v = k + nk;
  CHECK_OK(vdit_attn_inputs_fill(VDIT_ATTN_INPUTS_OUTLIER, seed, &s, q, k, v));
  vdit_rng_normal(seed, 1ull << 43, nq, d_o);

  vdit_attn_config config;
  memset(&config, 0, sizeof config);
  config.layout = c->layout;
  config.mask = c->mask;
  config.mask_block_length = c->block;
  config.key_lengths = c->key_lengths;
  for (int d = 0; d < 2; d++) {
    const vdit_device dev = devices[d];
    vdit_tensor host, tq = {0}, tk = {0}, tv = {0}, tdo = {0}, to = {0}, tlse = {0}, tdq = {0}, tdk = {0}, tdv = {0};
    packed inputs, grads;
    memset(&inputs, 0, sizeof inputs);
    memset(&grads, 0, sizeof grads);
    const float *values[4] = {q, k, v, d_o};
    vdit_tensor *targets[4] = {&tq, &tk, &tv, &tdo};
    if (c->packed) {
      CHECK_OK(packed_alloc(&inputs, c->dtype, dev, c->layout, &s, s.head_dim + c->row_pad));
      CHECK_OK(packed_alloc(&grads, c->dtype, dev, c->layout, &s, s.head_dim + c->row_pad));
      CHECK_OK(vdit_tensor_poison(&grads.buffer));
      tq = inputs.part[0], tk = inputs.part[1], tv = inputs.part[2];
      tdq = grads.part[0], tdk = grads.part[1], tdv = grads.part[2];
      CHECK_OK(alloc_layout(&tdo, c->dtype, dev, c->layout, &s));
    } else {
      vdit_attn_shape sk = s;
      sk.seq_q = s.seq_k;
      CHECK_OK(alloc_layout(&tq, c->dtype, dev, c->layout, &s));
      CHECK_OK(alloc_layout(&tk, c->dtype, dev, c->layout, &sk));
      CHECK_OK(alloc_layout(&tv, c->dtype, dev, c->layout, &sk));
      CHECK_OK(alloc_layout(&tdo, c->dtype, dev, c->layout, &s));
      CHECK_OK(alloc_layout(&tdq, c->dtype, dev, c->layout, &s));
      CHECK_OK(alloc_layout(&tdk, c->dtype, dev, c->layout, &sk));
      CHECK_OK(alloc_layout(&tdv, c->dtype, dev, c->layout, &sk));
    }
    for (int i = 0; i < 4; i++) { // the same dtype-rounded values on both devices
      CHECK_OK(vdit_tensor_alloc(&host, c->dtype, VDIT_CPU, 4, targets[i]->shape));
      CHECK_OK(vdit_attn_tensor_from_bhsd(values[i], c->layout, &host));
      CHECK_OK(vdit_tensor_copy(targets[i], &host));
      vdit_tensor_free(&host);
    }
    CHECK_OK(alloc_layout(&to, c->dtype, dev, c->layout, &s));
    int64_t lse_shape[3] = {s.batch, s.heads, s.seq_q};
    CHECK_OK(vdit_tensor_alloc(&tlse, VDIT_DTYPE_F32, dev, 3, lse_shape));
    CHECK_OK(vdit_tensor_poison(&tlse));
    vdit_attn_plan *plan = NULL;
    CHECK_OK(vdit_attn_plan_create(&plan, &config, &tq, &tk, &tv));
    if (plan) {
      CHECK_OK(vdit_attn_forward(plan, &tq, &tk, &tv, &to, &tlse));
      CHECK_OK(vdit_attn_backward(plan, &tq, &tk, &tv, &to, &tlse, &tdo, &tdq, &tdk, &tdv));
      // A second backward reuses the plan's workspace and must give the same dK, dV.
      if (d == 1) {
        float *first = malloc(nk * sizeof *first), *second = malloc(nk * sizeof *second);
        CHECK(first && second);
        if (first && second) {
          CHECK_OK(to_host_bhsd(&tdk, c->layout, first));
          CHECK_OK(vdit_attn_backward(plan, &tq, &tk, &tv, &to, &tlse, &tdo, &tdq, &tdk, &tdv));
          CHECK_OK(to_host_bhsd(&tdk, c->layout, second));
          if (memcmp(first, second, nk * sizeof *first) != 0) CHECK_FAIL_("%s: dK differs between two backward runs", c->label);
        }
        free(first);
        free(second);
      }
      vdit_attn_plan_free(plan);
    }
    float *o = out[d], *dq = o + nq, *dk = dq + nq, *dv = dk + nk, *lse = dv + nk;
    CHECK_OK(to_host_bhsd(&to, c->layout, o));
    CHECK_OK(to_host_bhsd(&tdq, c->layout, dq));
    CHECK_OK(to_host_bhsd(&tdk, c->layout, dk));
    CHECK_OK(to_host_bhsd(&tdv, c->layout, dv));
    vdit_tensor lse_host;
    CHECK_OK(vdit_tensor_alloc(&lse_host, VDIT_DTYPE_F32, VDIT_CPU, 3, lse_shape));
    CHECK_OK(vdit_tensor_copy(&lse_host, &tlse));
    memcpy(lse, lse_host.data, nl * sizeof *lse);
    vdit_tensor_free(&lse_host);
    if (c->packed) {
      // The gaps of the packed gradient buffer (row padding) must still hold the poison.
      int64_t nan_count = -1;
      CHECK_OK(vdit_tensor_count_nan(&grads.buffer, &nan_count));
      CHECK_EQ_INT(nan_count, s.batch * s.seq_q * 3 * s.heads * c->row_pad);
      vdit_tensor_free(&inputs.buffer);
      vdit_tensor_free(&grads.buffer);
      vdit_tensor_free(&tdo);
    } else {
      vdit_tensor *all[] = {&tq, &tk, &tv, &tdo, &tdq, &tdk, &tdv};
      for (int i = 0; i < 7; i++) vdit_tensor_free(all[i]);
    }
    vdit_tensor_free(&to);
    vdit_tensor_free(&tlse);
  }
  const vdit_attn_tolerance forward = vdit_attn_check_tolerance(VDIT_ATTN_DENSE, c->dtype, 0);
  const vdit_attn_tolerance backward = vdit_attn_check_tolerance(VDIT_ATTN_DENSE, c->dtype, 1);
  float *cpu = out[0], *gpu = out[1];
  compare("O", c->label, nq, gpu, cpu, &forward);
  compare("dQ", c->label, nq, gpu + nq, cpu + nq, &backward);
  compare("dK", c->label, nk, gpu + 2 * nq, cpu + 2 * nq, &backward);
  compare("dV", c->label, nk, gpu + 2 * nq + nk, cpu + 2 * nq + nk, &backward);
  compare_lse(c->label, nl, gpu + 2 * nq + 2 * nk, cpu + 2 * nq + 2 * nk);
  free(in);
  free(out[0]);
  free(out[1]);
}

static void test_against_cpu(void) {
  static const int64_t lengths[2] = {0, 150};
  const cross_case cases[] = {
      {"bshd causal D=64 bf16", {2, 3, 200, 300, 64}, VDIT_ATTN_LAYOUT_BSHD, VDIT_ATTN_MASK_CAUSAL, 0, VDIT_DTYPE_BF16, 0, 0, NULL},
      {"bhsd block D=128 fp16", {1, 2, 257, 257, 128}, VDIT_ATTN_LAYOUT_BHSD, VDIT_ATTN_MASK_BLOCK_CAUSAL, 64, VDIT_DTYPE_F16, 0, 0, NULL},
      {"bshd none D=80 bf16 ragged", {2, 2, 190, 210, 80}, VDIT_ATTN_LAYOUT_BSHD, VDIT_ATTN_MASK_NONE, 0, VDIT_DTYPE_BF16, 0, 0, lengths},
      {"packed bshd D=64 (wgmma)", {2, 2, 300, 300, 64}, VDIT_ATTN_LAYOUT_BSHD, VDIT_ATTN_MASK_NONE, 0, VDIT_DTYPE_BF16, 1, 8, NULL},
      {"packed bhsd D=128 (wgmma)", {1, 2, 260, 260, 128}, VDIT_ATTN_LAYOUT_BHSD, VDIT_ATTN_MASK_CAUSAL, 0, VDIT_DTYPE_F16, 1, 8, NULL},
      {"packed bshd D=64 odd rows (generic)", {1, 3, 200, 200, 64}, VDIT_ATTN_LAYOUT_BSHD, VDIT_ATTN_MASK_CAUSAL, 0, VDIT_DTYPE_BF16, 1, 1, NULL},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) run_cross_case(&cases[c], 900 + c);
}

// ---------------------------------------------------------------- 4. errors
static int one_line(const char *message) { return message[0] && strchr(message, '\n') == NULL; }

static void test_errors(void) {
  int64_t shape[4] = {1, 8, 2, 64}, big[4] = {70000, 1, 1, 8};
  vdit_tensor q32, q, lse_wide, batchy;
  CHECK_OK(vdit_tensor_alloc(&q32, VDIT_DTYPE_F32, GPU, 4, shape));
  CHECK_OK(vdit_tensor_alloc(&q, VDIT_DTYPE_BF16, GPU, 4, shape));
  CHECK_OK(vdit_tensor_alloc(&batchy, VDIT_DTYPE_BF16, GPU, 4, big));
  vdit_attn_config config;
  memset(&config, 0, sizeof config);
  vdit_attn_plan *plan = NULL;
  CHECK_STATUS(vdit_attn_plan_create(&plan, &config, &q32, &q32, &q32), VDIT_ERROR_UNSUPPORTED);
  CHECK(strstr(vdit_last_error(), "bf16") != NULL && one_line(vdit_last_error()));
  CHECK_STATUS(vdit_attn_plan_create(&plan, &config, &batchy, &batchy, &batchy), VDIT_ERROR_UNSUPPORTED);
  CHECK(one_line(vdit_last_error()));
  // LSE must be contiguous: a (B, H, Sq) view with a gap between heads is refused.
  int64_t wide_shape[3] = {1, 2, 16}, lse_shape[3] = {1, 2, 8}, lse_stride[3] = {32, 16, 1};
  CHECK_OK(vdit_tensor_alloc(&lse_wide, VDIT_DTYPE_F32, GPU, 3, wide_shape));
  vdit_tensor lse;
  CHECK_OK(vdit_tensor_view(&lse, lse_wide.data, VDIT_DTYPE_F32, GPU, 3, lse_shape, lse_stride));
  CHECK_OK(vdit_attn_plan_create(&plan, &config, &q, &q, &q));
  vdit_tensor o;
  CHECK_OK(vdit_tensor_alloc(&o, VDIT_DTYPE_BF16, GPU, 4, shape));
  CHECK_STATUS(vdit_attn_forward(plan, &q, &q, &q, &o, &lse), VDIT_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(vdit_last_error(), "contiguous") != NULL && one_line(vdit_last_error()));
  vdit_attn_plan_free(plan);
  vdit_tensor *all[] = {&q32, &q, &batchy, &lse_wide, &o};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) vdit_tensor_free(all[i]);
}
#endif // VDIT_HAVE_CUDA

int main(void) {
#ifndef VDIT_HAVE_CUDA
  return check_skip(TEST_NAME, "built without CUDA");
#else
  int count = 0;
  if (vdit_gpu_count(&count) != VDIT_OK || count == 0) return check_skip(TEST_NAME, "no CUDA GPU");
  double start = vdit_time_seconds();
  test_errors();
  test_against_cpu();
  printf("%s: errors and CPU comparisons done (%.1f s)\n", TEST_NAME, vdit_time_seconds() - start);
  test_shapes();
  printf("%s: shapes done (%.1f s)\n", TEST_NAME, vdit_time_seconds() - start);
  test_grid();
  printf("%s: grid done (%.1f s)\n", TEST_NAME, vdit_time_seconds() - start);
  return check_finish(TEST_NAME);
#endif
}
