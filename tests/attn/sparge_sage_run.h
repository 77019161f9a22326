// Test helper (included by test_attn_sparge_sage.c and test_attn_sparge_sage_gpu.c): one plan's
// forward and backward on a device from (B, H, S, D) fp32 inputs, results back as fp32
// (B, H, S, D) arrays and the LSE (B, H, Sq). Sq = Sk, BHSD layout, bf16 tensors.
#ifndef VDIT_TESTS_SPARGE_SAGE_RUN_H
#define VDIT_TESTS_SPARGE_SAGE_RUN_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attn/attn_check.h"
#include "attn/attn_kernels.h"
#include "check.h"
#include "vdit/vdit.h"

typedef struct run_out {
  float *o, *lse, *dq, *dk, *dv;
} run_out;

static inline void run_out_free(run_out *r) { free(r->o), free(r->lse), free(r->dq), free(r->dk), free(r->dv); }

// in: Q, K, V, dO values (B, H, S, D)
static inline vdit_status run_plan(vdit_device device, const vdit_attn_config *config, vdit_attn_shape s, const float *const in[4],
                            run_out *out) {
  const size_t n = (size_t)(s.batch * s.heads * s.seq_q * s.head_dim), nl = (size_t)(s.batch * s.heads * s.seq_q);
  int64_t shape[4] = {s.batch, s.heads, s.seq_q, s.head_dim}, lshape[3] = {s.batch, s.heads, s.seq_q};
  out->o = malloc(n * 4), out->dq = malloc(n * 4), out->dk = malloc(n * 4), out->dv = malloc(n * 4), out->lse = malloc(nl * 4);
  if (!out->o || !out->dq || !out->dk || !out->dv || !out->lse) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "test: no memory");
  vdit_tensor host, t[9] = {{0}}; // q k v d_o | o dq dk dv | lse
  VDIT_TRY(vdit_tensor_alloc(&host, VDIT_DTYPE_BF16, VDIT_CPU, 4, shape));
  vdit_status st = VDIT_OK;
  for (int i = 0; i < 8 && st == VDIT_OK; i++) {
    st = vdit_tensor_alloc(&t[i], VDIT_DTYPE_BF16, device, 4, shape);
    if (st == VDIT_OK && i < 4) st = vdit_attn_tensor_from_bhsd(in[i], VDIT_ATTN_LAYOUT_BHSD, &host);
    if (st == VDIT_OK && i < 4) st = vdit_tensor_copy(&t[i], &host);
    if (st == VDIT_OK && i >= 4) st = vdit_tensor_poison(&t[i]);
  }
  if (st == VDIT_OK) st = vdit_tensor_alloc(&t[8], VDIT_DTYPE_F32, device, 3, lshape);
  vdit_attn_plan *plan = NULL;
  vdit_attn_config c = *config;
  c.layout = VDIT_ATTN_LAYOUT_BHSD;
  if (st == VDIT_OK) st = vdit_attn_plan_create(&plan, &c, &t[0], &t[1], &t[2]);
  if (st == VDIT_OK) st = vdit_attn_forward(plan, &t[0], &t[1], &t[2], &t[4], &t[8]);
  if (st == VDIT_OK) st = vdit_attn_backward(plan, &t[0], &t[1], &t[2], &t[4], &t[8], &t[3], &t[5], &t[6], &t[7]);
  float *dst[4] = {out->o, out->dq, out->dk, out->dv};
  for (int i = 0; i < 4 && st == VDIT_OK; i++) {
    st = vdit_tensor_copy(&host, &t[4 + i]);
    if (st == VDIT_OK) st = vdit_attn_tensor_to_bhsd(&host, VDIT_ATTN_LAYOUT_BHSD, dst[i]);
  }
  if (st == VDIT_OK) {
    vdit_tensor hl;
    st = vdit_tensor_alloc(&hl, VDIT_DTYPE_F32, VDIT_CPU, 3, lshape);
    if (st == VDIT_OK) st = vdit_tensor_copy(&hl, &t[8]);
    if (st == VDIT_OK) memcpy(out->lse, hl.data, nl * 4);
    vdit_tensor_free(&hl);
  }
  vdit_attn_plan_free(plan);
  for (int i = 0; i < 9; i++) vdit_tensor_free(&t[i]);
  vdit_tensor_free(&host);
  return st;
}

static inline float *inputs_alloc(vdit_attn_shape s, uint64_t seed, float *in[4]) {
  const size_t n = (size_t)(s.batch * s.heads * s.seq_q * s.head_dim);
  float *block = malloc(4 * n * sizeof(float));
  if (!block) return NULL;
  for (int i = 0; i < 4; i++) in[i] = block + i * n;
  if (vdit_attn_inputs_fill(VDIT_ATTN_INPUTS_VIDEO, seed, &s, in[0], in[1], in[2]) != VDIT_OK) {
    free(block);
    return NULL;
  }
  vdit_rng_normal(seed, 7ull << 40, n, in[3]);
  return block;
}

static inline vdit_attn_config sparge_sage_config(float topk, float theta) {
  vdit_attn_config c;
  memset(&c, 0, sizeof c);
  c.method = VDIT_ATTN_SPARGE;
  c.sparge.rule = VDIT_ATTN_SPARGE_TOPK;
  c.sparge.params.topk = topk;
  c.sparge.params.theta = theta;
  c.sparge.sage = 1;
  return c;
}

// Number of elements that differ in their bits.
static inline size_t bits_differ(const float *a, const float *b, size_t n) {
  size_t d = 0;
  for (size_t i = 0; i < n; i++) d += memcmp(&a[i], &b[i], sizeof(float)) != 0;
  return d;
}

#endif // VDIT_TESTS_SPARGE_SAGE_RUN_H
