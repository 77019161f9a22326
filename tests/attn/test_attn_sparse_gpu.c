// The block-sparse executor and sparge's masks on a GPU:
//  1. sparge masks predicted on the GPU equal the CPU's block for block (rules, theta, sink,
//     D = 64 and 128, both layouts, ragged lengths, ties from constant inputs), and the
//     executor matches the fp64 reference on that mask forward and backward;
//  2. random maps with empty query blocks (method block), with and without the causal mask,
//     against the fp64 reference on the same map;
//  3. the full map reproduces the dense kernels bit for bit (O, LSE, dK, dV; dQ is summed with
//     fp32 atomics in whatever order blocks finish, so two dense runs already differ there:
//     within one bf16 rounding step);
//  4. the transposed map built on the GPU equals the CPU's;
//  5. softmax extras and the PV threshold against the CPU executor.
// Skips (exit 77) without the CUDA backend or without a GPU.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attn/attn_check.h"
#include "attn/attn_kernels.h"
#include "check.h"
#include "vdit/vdit.h"

#define TEST_NAME "test_attn_sparse_gpu"

#ifdef VDIT_HAVE_CUDA
#define GPU VDIT_CUDA(0)

static vdit_attn_check_spec spec_of(vdit_attn_method method, vdit_attn_shape shape, uint64_t seed) {
  vdit_attn_check_spec spec;
  memset(&spec, 0, sizeof spec);
  spec.config.method = method;
  spec.shape = shape;
  spec.dtype = VDIT_DTYPE_BF16;
  spec.device = GPU;
  spec.inputs = VDIT_ATTN_INPUTS_VIDEO;
  spec.seed = seed;
  spec.backward = 1;
  spec.target_sparsity = -1;
  spec.block_density = 0.5;
  return spec;
}

static void run_case(const vdit_attn_check_spec *spec, const char *what) {
  vdit_attn_check_result r;
  vdit_status status = vdit_attn_check_run(spec, &r);
  CHECK_OK(status);
  if (status == VDIT_OK && !r.passed)
    CHECK_FAIL_("%s S=%lld D=%lld: masks %s (%lld rows differ), o %.3g lse %.3g dq %.3g dk %.3g dv %.3g", what,
                (long long)spec->shape.seq_q, (long long)spec->shape.head_dim,
                r.masks_compared ? (r.masks_identical ? "same" : "DIFFER") : "-", (long long)r.mask_rows_differing,
                r.o.rel_l1, r.lse.max_err, r.dq.rel_l1, r.dk.rel_l1, r.dv.rel_l1);
  if (status == VDIT_OK && spec->config.method == VDIT_ATTN_SPARGE) CHECK(r.masks_compared);
}

// 1.
static void test_sparge_masks(void) {
  const vdit_attn_shape shapes[] = {{1, 2, 1024, 1024, 128}, {2, 2, 1000, 1000, 64}, {1, 3, 4096, 4096, 128}, {1, 1, 300, 777, 64}};
  uint64_t seed = 300;
  for (int c = 0; c < 4; c++)
    for (int rule = 0; rule < 3; rule++) {
      vdit_attn_check_spec spec = spec_of(VDIT_ATTN_SPARGE, shapes[c], seed++);
      spec.config.layout = (c + rule) % 2 ? VDIT_ATTN_LAYOUT_BHSD : VDIT_ATTN_LAYOUT_BSHD;
      spec.config.sparge.rule = (vdit_attn_sparge_rule)rule;
      spec.config.sparge.params = (vdit_attn_sparge_head){rule == 1 ? 0.3f : 0.0f, 0.3f, 0.8f, 0.0f};
      spec.config.sparge.sink = c % 2;
      spec.inputs = c == 3 ? VDIT_ATTN_INPUTS_OUTLIER : VDIT_ATTN_INPUTS_VIDEO;
      spec.dtype = rule == 2 ? VDIT_DTYPE_F16 : VDIT_DTYPE_BF16;
      run_case(&spec, "sparge");
    }
  // calibrated sparsities, as the command line runs them
  const double targets[] = {0.0, 0.5, 0.9};
  for (int c = 0; c < 3; c++) {
    vdit_attn_check_spec spec = spec_of(VDIT_ATTN_SPARGE, (vdit_attn_shape){1, 2, 2048, 2048, 128}, seed++);
    spec.config.sparge.rule = VDIT_ATTN_SPARGE_HYBRID;
    spec.target_sparsity = targets[c];
    run_case(&spec, "sparge calibrated");
  }
}

// 2.
static void test_random_maps(void) {
  const vdit_attn_shape shapes[] = {{1, 2, 1000, 1000, 128}, {2, 1, 640, 1300, 64}, {1, 2, 129, 2000, 128}};
  uint64_t seed = 400;
  for (int c = 0; c < 3; c++)
    for (int masked = 0; masked < 2; masked++) {
      vdit_attn_check_spec spec = spec_of(VDIT_ATTN_BLOCK, shapes[c], seed++);
      spec.config.mask = masked ? VDIT_ATTN_MASK_CAUSAL : VDIT_ATTN_MASK_NONE;
      spec.config.layout = c % 2 ? VDIT_ATTN_LAYOUT_BHSD : VDIT_ATTN_LAYOUT_BSHD;
      spec.block_density = 0.3 + 0.3 * c;
      spec.inputs = masked ? VDIT_ATTN_INPUTS_PLAIN : VDIT_ATTN_INPUTS_VIDEO;
      run_case(&spec, "block");
    }
}

typedef struct gpu_io {
  vdit_tensor q, k, v, o, lse, d_o, dq, dk, dv;
} gpu_io;

static void io_alloc(gpu_io *io, int64_t S, int64_t H, int64_t D, uint64_t seed) {
  int64_t shape[4] = {1, S, H, D}, lshape[3] = {1, H, S};
  vdit_tensor host;
  CHECK_OK(vdit_tensor_alloc(&host, VDIT_DTYPE_BF16, VDIT_CPU, 4, shape));
  vdit_tensor *in[] = {&io->q, &io->k, &io->v, &io->d_o};
  float *values = malloc((size_t)(S * H * D) * sizeof(float));
  for (int i = 0; i < 4; i++) {
    vdit_rng_normal(seed, (uint64_t)i << 40, (size_t)(S * H * D), values);
    CHECK_OK(vdit_convert_from_float(VDIT_DTYPE_BF16, (size_t)(S * H * D), values, host.data));
    CHECK_OK(vdit_tensor_alloc(in[i], VDIT_DTYPE_BF16, GPU, 4, shape));
    CHECK_OK(vdit_tensor_copy(in[i], &host));
  }
  free(values);
  vdit_tensor_free(&host);
  vdit_tensor *out[] = {&io->o, &io->dq, &io->dk, &io->dv};
  for (int i = 0; i < 4; i++) {
    CHECK_OK(vdit_tensor_alloc(out[i], VDIT_DTYPE_BF16, GPU, 4, shape));
    CHECK_OK(vdit_tensor_poison(out[i]));
  }
  CHECK_OK(vdit_tensor_alloc(&io->lse, VDIT_DTYPE_F32, GPU, 3, lshape));
}

static void io_free(gpu_io *io) {
  vdit_tensor *all[] = {&io->q, &io->k, &io->v, &io->o, &io->lse, &io->d_o, &io->dq, &io->dk, &io->dv};
  for (int i = 0; i < 9; i++) vdit_tensor_free(all[i]);
}

static int same_bytes(const vdit_tensor *a, const vdit_tensor *b) {
  size_t bytes = 0;
  CHECK_OK(vdit_dtype_storage_bytes(a->dtype, (size_t)vdit_tensor_numel(a), &bytes));
  unsigned char *x = malloc(bytes + 1), *y = malloc(bytes + 1);
  CHECK_OK(vdit_memcpy(VDIT_CPU, x, a->device, a->data, bytes));
  CHECK_OK(vdit_memcpy(VDIT_CPU, y, b->device, b->data, bytes));
  const int same = memcmp(x, y, bytes) == 0;
  free(x);
  free(y);
  return same;
}

// bf16 tensors equal up to the order of fp32 atomic adds (dQ sums the key blocks' terms in
// whatever order they arrive): one rounding step of the final conversion, |a - b| <= 2^-7
// max(|a|, |b|), plus an absolute 2^-14 max_i |a_i| for elements where the terms cancel (the
// fp32 sum's order error scales with the terms, not with the small result: with 8 key blocks
// and terms up to 10x the result it stays near 2^-18 of the tensor's max). A wrong or missing
// block moves elements by a sizable fraction of the max, orders of magnitude above this.
static int within_one_rounding(const vdit_tensor *a, const vdit_tensor *b) {
  const size_t n = (size_t)vdit_tensor_numel(a);
  float *x = malloc((2 * n + 1) * sizeof(float)), *y = x + n;
  vdit_tensor hx, hy;
  CHECK_OK(vdit_tensor_alloc(&hx, a->dtype, VDIT_CPU, a->ndim, a->shape));
  CHECK_OK(vdit_tensor_alloc(&hy, b->dtype, VDIT_CPU, b->ndim, b->shape));
  CHECK_OK(vdit_tensor_copy(&hx, a));
  CHECK_OK(vdit_tensor_copy(&hy, b));
  CHECK_OK(vdit_convert_to_float(a->dtype, n, hx.data, x));
  CHECK_OK(vdit_convert_to_float(b->dtype, n, hy.data, y));
  float max_abs = 0;
  for (size_t i = 0; i < n; i++) max_abs = fmaxf(max_abs, fabsf(x[i]));
  const float slack = ldexpf(max_abs, -14);
  int ok = 1;
  for (size_t i = 0; i < n; i++)
    if (!(fabsf(x[i] - y[i]) <= 0.0078125f * fmaxf(fabsf(x[i]), fabsf(y[i])) + slack)) {
      if (ok) fprintf(stderr, "within_one_rounding: element %zu: %.9g vs %.9g (tensor max %.9g)\n", i, (double)x[i], (double)y[i], (double)max_abs);
      ok = 0;
    }
  vdit_tensor_free(&hx);
  vdit_tensor_free(&hy);
  free(x);
  return ok;
}

static void run_plan(const vdit_attn_config *config, gpu_io *io, int backward) {
  vdit_attn_plan *plan = NULL;
  CHECK_OK(vdit_attn_plan_create(&plan, config, &io->q, &io->k, &io->v));
  if (!plan) return;
  CHECK_OK(vdit_attn_forward(plan, &io->q, &io->k, &io->v, &io->o, &io->lse));
  if (backward) CHECK_OK(vdit_attn_backward(plan, &io->q, &io->k, &io->v, &io->o, &io->lse, &io->d_o, &io->dq, &io->dk, &io->dv));
  CHECK_OK(vdit_device_synchronize(GPU));
  vdit_attn_plan_free(plan);
}

// 3 and 5 (PV threshold).
static void test_full_map_and_pv(void) {
  const int64_t dims[] = {128, 64};
  for (int di = 0; di < 2; di++) {
    const int64_t S = 1000, H = 2, D = dims[di];
    gpu_io dense, sparse;
    io_alloc(&dense, S, H, D, 7);
    io_alloc(&sparse, S, H, D, 7);
    vdit_attn_config config;
    memset(&config, 0, sizeof config);
    run_plan(&config, &dense, 1);
    vdit_attn_block_map host, dev;
    CHECK_OK(vdit_attn_block_map_alloc(&host, VDIT_CPU, 1, H, S, S, 128, 128));
    CHECK_OK(vdit_attn_block_map_fill_full(&host));
    CHECK_OK(vdit_attn_block_map_alloc(&dev, GPU, 1, H, S, S, 128, 128));
    CHECK_OK(vdit_attn_block_map_copy(&dev, &host));
    config.method = VDIT_ATTN_BLOCK;
    config.block_map = &dev;
    run_plan(&config, &sparse, 1);
    CHECK(same_bytes(&dense.o, &sparse.o));
    CHECK(same_bytes(&dense.lse, &sparse.lse));
    CHECK(within_one_rounding(&dense.dq, &sparse.dq));
    CHECK(same_bytes(&dense.dk, &sparse.dk));
    CHECK(same_bytes(&dense.dv, &sparse.dv));
    config.extras.pv_threshold = 1e30f; // never skips: the same bits
    run_plan(&config, &sparse, 0);
    CHECK(same_bytes(&dense.o, &sparse.o));
    vdit_attn_block_map_free(&host);
    vdit_attn_block_map_free(&dev);
    io_free(&dense);
    io_free(&sparse);
  }
}

// 4.
static void test_transpose(void) {
  vdit_attn_block_map host, dev, t_host, t_dev, t_back;
  CHECK_OK(vdit_attn_block_map_alloc(&host, VDIT_CPU, 2, 3, 3000, 2000, 128, 128));
  float *u = malloc((size_t)(6 * host.q_blocks * host.k_blocks) * sizeof *u);
  vdit_rng_uniform(9, 0, (size_t)(6 * host.q_blocks * host.k_blocks), u);
  int32_t n = 0;
  for (int64_t r = 0; r < 6 * host.q_blocks; r++) {
    host.row_offsets[r] = n;
    for (int32_t j = 0; j < host.k_blocks; j++)
      if (u[r * host.k_blocks + j] < 0.3f && r % 7 != 1) host.col_index[n++] = j;
  }
  host.row_offsets[6 * host.q_blocks] = n;
  free(u);
  CHECK_OK(vdit_attn_block_map_alloc(&dev, GPU, 2, 3, 3000, 2000, 128, 128));
  CHECK_OK(vdit_attn_block_map_copy(&dev, &host));
  CHECK_OK(vdit_attn_block_map_transpose(&t_host, &host));
  CHECK_OK(vdit_attn_block_map_transpose(&t_dev, &dev));
  CHECK_OK(vdit_attn_block_map_alloc(&t_back, VDIT_CPU, 2, 3, 2000, 3000, 128, 128));
  CHECK_OK(vdit_attn_block_map_copy(&t_back, &t_dev));
  const int64_t rows = 6 * t_host.q_blocks;
  CHECK(memcmp(t_host.row_offsets, t_back.row_offsets, (size_t)(rows + 1) * sizeof(int32_t)) == 0);
  CHECK(memcmp(t_host.col_index, t_back.col_index, (size_t)t_host.row_offsets[rows] * sizeof(int32_t)) == 0);
  vdit_attn_block_map *all[] = {&host, &dev, &t_host, &t_dev, &t_back};
  for (int i = 0; i < 5; i++) vdit_attn_block_map_free(all[i]);
}
#endif

int main(void) {
#ifndef VDIT_HAVE_CUDA
  return check_skip(TEST_NAME, "built without CUDA");
#else
  int count = 0;
  if (vdit_gpu_count(&count) != VDIT_OK || count == 0) return check_skip(TEST_NAME, "no CUDA GPU");
  double start = vdit_time_seconds();
  test_transpose();
  test_full_map_and_pv();
  printf("%s: transpose, full map, PV threshold done (%.1f s)\n", TEST_NAME, vdit_time_seconds() - start);
  test_random_maps();
  printf("%s: random maps done (%.1f s)\n", TEST_NAME, vdit_time_seconds() - start);
  test_sparge_masks();
  printf("%s: sparge masks done (%.1f s)\n", TEST_NAME, vdit_time_seconds() - start);
  return check_finish(TEST_NAME);
#endif
}
