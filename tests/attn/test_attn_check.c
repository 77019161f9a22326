// `vdit attn check` over the grid: S in {1, 63, 127, 1000} (4096 in the _slow twin),
// both layouts, every mask, plain and outlier inputs, fp32/bf16/fp16, with NaN-poisoned
// outputs; plus bad-input errors from the plan.
#include <stdlib.h>
#include <string.h>

#include "attn/attn_check.h"
#include "check.h"
#include "vdit/vdit.h"

#ifndef ATTN_CHECK_SEQS
#define ATTN_CHECK_SEQS {1, 63, 127, 1000}
#define ATTN_CHECK_NAME "test_attn_check"
#endif

static void run_grid(vdit_device device) {
  const int64_t seqs[] = ATTN_CHECK_SEQS;
  const vdit_attn_layout layouts[] = {VDIT_ATTN_LAYOUT_BSHD, VDIT_ATTN_LAYOUT_BHSD};
  const vdit_attn_mask masks[] = {VDIT_ATTN_MASK_NONE, VDIT_ATTN_MASK_CAUSAL, VDIT_ATTN_MASK_BLOCK_CAUSAL};
  const vdit_attn_inputs inputs[] = {VDIT_ATTN_INPUTS_PLAIN, VDIT_ATTN_INPUTS_OUTLIER};
  const vdit_dtype dtypes[] = {VDIT_DTYPE_F32, VDIT_DTYPE_BF16, VDIT_DTYPE_F16};
  uint64_t seed = 1;
  for (size_t si = 0; si < sizeof seqs / sizeof seqs[0]; si++)
    for (int li = 0; li < 2; li++)
      for (int mi = 0; mi < 3; mi++)
        for (int ii = 0; ii < 2; ii++) {
          vdit_attn_check_spec spec;
          memset(&spec, 0, sizeof spec);
          spec.config.method = VDIT_ATTN_DENSE;
          spec.config.layout = layouts[li];
          spec.config.mask = masks[mi];
          spec.config.mask_block_length = 48;
          int64_t seq = seqs[si];
          // Cross-attention shape on some cases: fewer queries than keys.
          int64_t seq_k = (mi == 0 && ii == 1 && seq > 1) ? seq + seq / 3 : seq;
          spec.shape = (vdit_attn_shape){seq < 200 ? 2 : 1, 2, seq, seq_k, (si % 2) ? 128 : 64};
          spec.dtype = dtypes[(si + li + mi + ii) % 3];
          if (device.type == VDIT_DEVICE_CUDA && spec.dtype == VDIT_DTYPE_F32) spec.dtype = VDIT_DTYPE_BF16;
          spec.device = device;
          spec.inputs = inputs[ii];
          spec.seed = seed++;
          spec.backward = 1;
          vdit_attn_check_result r;
          CHECK_OK(vdit_attn_check_run(&spec, &r));
          if (!r.passed)
            CHECK_FAIL_("S=%lld Sk=%lld D=%lld layout=%d mask=%d inputs=%d dtype=%s: o %.3g/%.6f/%.3g lse %.3g dq %.3g dk %.3g dv %.3g (rel_l1)",
                        (long long)seq, (long long)seq_k, (long long)spec.shape.head_dim, li, mi, ii,
                        vdit_dtype_name(spec.dtype), r.o.rel_l1, r.o.cos, r.o.max_err, r.lse.max_err, r.dq.rel_l1,
                        r.dk.rel_l1, r.dv.rel_l1);
        }
}

static void test_ragged_and_empty_rows(void) {
  int64_t key_lengths[3] = {100, 0, 37};
  vdit_attn_check_spec spec;
  memset(&spec, 0, sizeof spec);
  spec.config.key_lengths = key_lengths;
  spec.config.mask = VDIT_ATTN_MASK_CAUSAL;
  spec.shape = (vdit_attn_shape){3, 2, 90, 100, 64};
  spec.dtype = VDIT_DTYPE_BF16;
  spec.device = VDIT_CPU;
  spec.inputs = VDIT_ATTN_INPUTS_VIDEO;
  spec.seed = 5;
  spec.backward = 1;
  vdit_attn_check_result r;
  CHECK_OK(vdit_attn_check_run(&spec, &r));
  CHECK(r.passed);
}

static void test_bad_inputs(void) {
  int64_t shape_q[4] = {1, 8, 2, 64}, shape_k[4] = {1, 8, 2, 32}, shape_big[4] = {1, 8, 2, 300};
  vdit_tensor q, k, k_bad, big, q16;
  CHECK_OK(vdit_tensor_alloc(&q, VDIT_DTYPE_BF16, VDIT_CPU, 4, shape_q));
  CHECK_OK(vdit_tensor_alloc(&k, VDIT_DTYPE_BF16, VDIT_CPU, 4, shape_q));
  CHECK_OK(vdit_tensor_alloc(&k_bad, VDIT_DTYPE_BF16, VDIT_CPU, 4, shape_k));
  CHECK_OK(vdit_tensor_alloc(&big, VDIT_DTYPE_BF16, VDIT_CPU, 4, shape_big));
  CHECK_OK(vdit_tensor_alloc(&q16, VDIT_DTYPE_F16, VDIT_CPU, 4, shape_q));
  vdit_attn_config config;
  memset(&config, 0, sizeof config);
  vdit_attn_plan *plan = NULL;
  CHECK_STATUS(vdit_attn_plan_create(&plan, &config, &q, &k_bad, &k), VDIT_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(vdit_last_error(), "shapes disagree") != NULL);
  CHECK_STATUS(vdit_attn_plan_create(&plan, &config, &q16, &k, &k), VDIT_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(vdit_attn_plan_create(&plan, &config, &big, &big, &big), VDIT_ERROR_INVALID_ARGUMENT);
  config.mask = VDIT_ATTN_MASK_BLOCK_CAUSAL;
  CHECK_STATUS(vdit_attn_plan_create(&plan, &config, &q, &k, &k), VDIT_ERROR_INVALID_ARGUMENT);
  config.mask = VDIT_ATTN_MASK_NONE;
  int64_t too_long[1] = {9};
  config.key_lengths = too_long;
  CHECK_STATUS(vdit_attn_plan_create(&plan, &config, &q, &k, &k), VDIT_ERROR_INVALID_ARGUMENT);
  config.key_lengths = NULL;
  config.softmax_scale = -1.0f;
  CHECK_STATUS(vdit_attn_plan_create(&plan, &config, &q, &k, &k), VDIT_ERROR_INVALID_ARGUMENT);
  config.softmax_scale = 0.0f;
  CHECK_OK(vdit_attn_plan_create(&plan, &config, &q, &k, &k));
  // Output of the wrong shape is refused before anything is written.
  vdit_tensor lse;
  int64_t lse_shape[3] = {1, 2, 8};
  CHECK_OK(vdit_tensor_alloc(&lse, VDIT_DTYPE_F32, VDIT_CPU, 3, lse_shape));
  CHECK_STATUS(vdit_attn_forward(plan, &q, &k, &k, &k_bad, &lse), VDIT_ERROR_INVALID_ARGUMENT);
  vdit_attn_plan_free(plan);
  vdit_tensor *all[] = {&q, &k, &k_bad, &big, &q16, &lse};
  for (size_t i = 0; i < 6; i++) vdit_tensor_free(all[i]);
}

int main(void) {
  run_grid(VDIT_CPU);
  test_ragged_and_empty_rows();
  test_bad_inputs();
  return check_finish(ATTN_CHECK_NAME);
}
