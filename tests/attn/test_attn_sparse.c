// The block-sparse executor and SpargeAttention2's masks on the CPU:
//  1. the transposed map against a brute-force transpose; validation rejects bad maps;
//  2. a full map reproduces dense attention bit for bit (forward and backward);
//  3. random maps (with empty query blocks) against the fp64 reference on the same map, with
//     Sq != Sk, ragged blocks and the causal mask on top (through the check harness);
//  4. softmax extras: the keys a map leaves out, fed back as extra terms, give dense attention;
//  5. the PV threshold: a huge lambda changes nothing, a small one skips work within bounds;
//  6. sparge: --sparsity 0 is dense bit for bit; Top-k keeps exactly ceil(k n) blocks per row;
//     Top-p's blocks hold at least p of the pooled mass; the hybrid is the union; ties go to
//     the lower block; dissimilar blocks and the sink are always computed;
//  7. sparge forward and backward against the fp64 reference on its own mask;
//  8. the autotune meets its target per head, and its tuning file reads back the same.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attn/attn_check.h"
#include "attn/attn_kernels.h"
#include "check.h"
#include "vdit/vdit.h"

#define TEST_NAME "test_attn_sparse"

static void random_host_map(vdit_attn_block_map *map, uint64_t seed, float density) {
  const int64_t rows = map->batch * map->heads * map->q_blocks;
  float *u = malloc((size_t)(rows * map->k_blocks + 1) * sizeof *u);
  vdit_rng_uniform(seed, 7, (size_t)(rows * map->k_blocks), u);
  int32_t n = 0;
  for (int64_t r = 0; r < rows; r++) {
    map->row_offsets[r] = n;
    if (r % 5 == 2) continue; // empty rows
    for (int32_t j = 0; j < map->k_blocks; j++)
      if (u[r * map->k_blocks + j] < density) map->col_index[n++] = j;
  }
  map->row_offsets[rows] = n;
  free(u);
}

// 1.
static void test_transpose(void) {
  vdit_attn_block_map m, t;
  CHECK_OK(vdit_attn_block_map_alloc(&m, VDIT_CPU, 2, 3, 1000, 700, 128, 64));
  random_host_map(&m, 11, 0.4f);
  CHECK_OK(vdit_attn_block_map_validate(&m));
  CHECK_OK(vdit_attn_block_map_transpose(&t, &m));
  CHECK_OK(vdit_attn_block_map_validate(&t));
  CHECK_EQ_INT(t.q_blocks, m.k_blocks);
  CHECK_EQ_INT(t.k_blocks, m.q_blocks);
  CHECK_EQ_INT(t.row_offsets[6 * t.q_blocks], m.row_offsets[6 * m.q_blocks]);
  for (int64_t bh = 0; bh < 6; bh++)
    for (int32_t i = 0; i < m.q_blocks; i++)
      for (int32_t j = 0; j < m.k_blocks; j++) {
        int in_m = 0, in_t = 0;
        const int64_t r = bh * m.q_blocks + i, rt = bh * t.q_blocks + j;
        for (int32_t e = m.row_offsets[r]; e < m.row_offsets[r + 1]; e++) in_m |= m.col_index[e] == j;
        for (int32_t e = t.row_offsets[rt]; e < t.row_offsets[rt + 1]; e++) in_t |= t.col_index[e] == i;
        if (in_m != in_t) CHECK_FAIL_("transpose differs at bh %lld, (%d, %d)", (long long)bh, i, j);
      }
  // a descending row is rejected
  if (m.row_offsets[1] - m.row_offsets[0] >= 2) {
    int32_t keep = m.col_index[0];
    m.col_index[0] = m.col_index[1];
    m.col_index[1] = keep;
    CHECK_STATUS(vdit_attn_block_map_validate(&m), VDIT_ERROR_INVALID_ARGUMENT);
  }
  vdit_attn_block_map_free(&m);
  vdit_attn_block_map_free(&t);
}

typedef struct arrays {
  float *q, *k, *v, *o, *lse, *d_o, *dq, *dk, *dv;
} arrays;

static void arrays_alloc(arrays *a, const vdit_attn_shape *s, uint64_t seed, vdit_attn_inputs inputs) {
  const size_t nq = (size_t)(s->batch * s->heads * s->seq_q * s->head_dim), nk = (size_t)(s->batch * s->heads * s->seq_k * s->head_dim);
  a->q = malloc(nq * sizeof(float));
  a->o = malloc(nq * sizeof(float));
  a->d_o = malloc(nq * sizeof(float));
  a->dq = malloc(nq * sizeof(float));
  a->k = malloc(nk * sizeof(float));
  a->v = malloc(nk * sizeof(float));
  a->dk = malloc(nk * sizeof(float));
  a->dv = malloc(nk * sizeof(float));
  a->lse = malloc((size_t)(s->batch * s->heads * s->seq_q) * sizeof(float));
  CHECK_OK(vdit_attn_inputs_fill(inputs, seed, s, a->q, a->k, a->v));
  vdit_rng_normal(seed, 99, nq, a->d_o);
}

static void arrays_free(arrays *a) {
  float *all[] = {a->q, a->k, a->v, a->o, a->lse, a->d_o, a->dq, a->dk, a->dv};
  for (int i = 0; i < 9; i++) free(all[i]);
}

static vdit_attn_problem problem_of(vdit_attn_shape s) {
  vdit_attn_problem p;
  memset(&p, 0, sizeof p);
  p.shape = s;
  p.scale = 1.0f / sqrtf((float)s.head_dim);
  return p;
}

// 2.
static void test_full_map_is_dense(void) {
  const vdit_attn_shape s = {2, 2, 300, 420, 64};
  arrays dense, sparse;
  arrays_alloc(&dense, &s, 3, VDIT_ATTN_INPUTS_OUTLIER);
  arrays_alloc(&sparse, &s, 3, VDIT_ATTN_INPUTS_OUTLIER);
  vdit_attn_problem p = problem_of(s);
  CHECK_OK(vdit_attn_cpu_dense_forward(&p, dense.q, dense.k, dense.v, dense.o, dense.lse));
  CHECK_OK(vdit_attn_cpu_dense_backward(&p, dense.q, dense.k, dense.v, dense.o, dense.lse, dense.d_o, dense.dq, dense.dk, dense.dv));
  vdit_attn_block_map m, t;
  CHECK_OK(vdit_attn_block_map_alloc(&m, VDIT_CPU, 2, 2, 300, 420, 128, 128));
  CHECK_OK(vdit_attn_block_map_fill_full(&m));
  CHECK_OK(vdit_attn_block_map_transpose(&t, &m));
  p.map = &m;
  p.map_t = &t;
  CHECK_OK(vdit_attn_cpu_dense_forward(&p, sparse.q, sparse.k, sparse.v, sparse.o, sparse.lse));
  CHECK_OK(vdit_attn_cpu_dense_backward(&p, sparse.q, sparse.k, sparse.v, sparse.o, sparse.lse, sparse.d_o, sparse.dq, sparse.dk, sparse.dv));
  const size_t nq = (size_t)(2 * 2 * 300 * 64), nk = (size_t)(2 * 2 * 420 * 64);
  CHECK(memcmp(dense.o, sparse.o, nq * sizeof(float)) == 0);
  CHECK(memcmp(dense.lse, sparse.lse, (size_t)(2 * 2 * 300) * sizeof(float)) == 0);
  CHECK(memcmp(dense.dq, sparse.dq, nq * sizeof(float)) == 0);
  CHECK(memcmp(dense.dk, sparse.dk, nk * sizeof(float)) == 0);
  CHECK(memcmp(dense.dv, sparse.dv, nk * sizeof(float)) == 0);
  vdit_attn_block_map_free(&m);
  vdit_attn_block_map_free(&t);
  arrays_free(&dense);
  arrays_free(&sparse);
}

// 3.
static void test_random_maps(void) {
  const vdit_attn_shape shapes[] = {{1, 2, 300, 300, 64}, {2, 1, 130, 520, 32}, {1, 3, 700, 260, 128}, {1, 1, 1, 1, 16}};
  const float densities[] = {0.5f, 0.2f, 0.8f, 1.0f};
  for (int c = 0; c < 4; c++)
    for (int masked = 0; masked < 2; masked++) {
      vdit_attn_check_spec spec;
      memset(&spec, 0, sizeof spec);
      spec.config.method = VDIT_ATTN_BLOCK;
      spec.config.mask = masked ? VDIT_ATTN_MASK_CAUSAL : VDIT_ATTN_MASK_NONE;
      spec.shape = shapes[c];
      spec.dtype = c % 2 ? VDIT_DTYPE_F32 : VDIT_DTYPE_BF16;
      spec.device = VDIT_CPU;
      spec.inputs = c % 2 ? VDIT_ATTN_INPUTS_PLAIN : VDIT_ATTN_INPUTS_VIDEO;
      spec.seed = 20 + (uint64_t)c;
      spec.backward = 1;
      spec.target_sparsity = -1;
      spec.block_density = densities[c];
      vdit_attn_check_result r;
      CHECK_OK(vdit_attn_check_run(&spec, &r));
      if (!r.passed)
        CHECK_FAIL_("case %d masked %d: o %.3g lse %.3g dq %.3g dk %.3g dv %.3g", c, masked, r.o.rel_l1, r.lse.max_err,
                    r.dq.rel_l1, r.dk.rel_l1, r.dv.rel_l1);
    }
}

// 4. Extras: the left-out blocks' exact terms (fp64) as extras make the sparse pass dense.
static void test_extras(void) {
  const vdit_attn_shape s = {1, 2, 260, 390, 32};
  arrays a, d;
  arrays_alloc(&a, &s, 8, VDIT_ATTN_INPUTS_VIDEO);
  arrays_alloc(&d, &s, 8, VDIT_ATTN_INPUTS_VIDEO);
  vdit_attn_problem p = problem_of(s);
  CHECK_OK(vdit_attn_cpu_dense_forward(&p, d.q, d.k, d.v, d.o, d.lse));
  vdit_attn_block_map m;
  CHECK_OK(vdit_attn_block_map_alloc(&m, VDIT_CPU, 1, 2, 260, 390, 128, 128));
  random_host_map(&m, 5, 0.5f);
  const int64_t rows = 2 * 260, D = 32;
  float *row_max = malloc((size_t)rows * sizeof(float)), *row_sum = malloc((size_t)rows * sizeof(float));
  float *num = malloc((size_t)(rows * D) * sizeof(float));
  for (int64_t bh = 0; bh < 2; bh++)
    for (int64_t i = 0; i < 260; i++) {
      const int64_t r = bh * m.q_blocks + i / 128, row = bh * 260 + i;
      char listed[4] = {0};
      for (int32_t e = m.row_offsets[r]; e < m.row_offsets[r + 1]; e++) listed[m.col_index[e]] = 1;
      double mx = -INFINITY, score[390];
      for (int64_t j = 0; j < 390; j++) {
        score[j] = -INFINITY;
        if (listed[j / 128]) continue;
        double dot = 0;
        for (int64_t x = 0; x < D; x++) dot += (double)a.q[row * D + x] * a.k[(bh * 390 + j) * D + x];
        score[j] = dot * p.scale;
        if (score[j] > mx) mx = score[j];
      }
      double sum = 0, acc[32] = {0};
      for (int64_t j = 0; j < 390 && mx > -INFINITY; j++) {
        if (score[j] == -INFINITY) continue;
        const double w = exp(score[j] - mx);
        sum += w;
        for (int64_t x = 0; x < D; x++) acc[x] += w * a.v[(bh * 390 + j) * D + x];
      }
      row_max[row] = mx > -INFINITY ? (float)mx : 0.0f;
      row_sum[row] = (float)sum;
      for (int64_t x = 0; x < D; x++) num[row * D + x] = (float)acc[x];
    }
  p.map = &m;
  p.extras = (vdit_attn_softmax_extras){row_max, row_sum, num, 0.0f};
  CHECK_OK(vdit_attn_cpu_dense_forward(&p, a.q, a.k, a.v, a.o, a.lse));
  double err = 0, ref = 0, lse_err = 0;
  for (int64_t x = 0; x < rows * D; x++) {
    err += fabs((double)a.o[x] - d.o[x]);
    ref += fabs((double)d.o[x]);
  }
  for (int64_t x = 0; x < rows; x++) lse_err = fmax(lse_err, fabs((double)a.lse[x] - d.lse[x]));
  CHECK(err / ref < 1e-5);
  CHECK(lse_err < 1e-4);
  free(row_max);
  free(row_sum);
  free(num);
  vdit_attn_block_map_free(&m);
  arrays_free(&a);
  arrays_free(&d);
}

// 5.
static void test_pv_threshold(void) {
  const vdit_attn_shape s = {1, 2, 256, 2048, 64};
  arrays a, b, c;
  arrays_alloc(&a, &s, 9, VDIT_ATTN_INPUTS_VIDEO);
  arrays_alloc(&b, &s, 9, VDIT_ATTN_INPUTS_VIDEO);
  arrays_alloc(&c, &s, 9, VDIT_ATTN_INPUTS_VIDEO);
  vdit_attn_problem p = problem_of(s);
  vdit_attn_block_map m;
  CHECK_OK(vdit_attn_block_map_alloc(&m, VDIT_CPU, 1, 2, 256, 2048, 128, 128));
  CHECK_OK(vdit_attn_block_map_fill_full(&m));
  p.map = &m;
  CHECK_OK(vdit_attn_cpu_dense_forward(&p, a.q, a.k, a.v, a.o, a.lse));
  p.extras.pv_threshold = 1e30f;
  CHECK_OK(vdit_attn_cpu_dense_forward(&p, b.q, b.k, b.v, b.o, b.lse));
  const size_t nq = (size_t)(2 * 256 * 64);
  CHECK(memcmp(a.o, b.o, nq * sizeof(float)) == 0);
  p.extras.pv_threshold = 4.0f; // video inputs: skips some far tiles (lambda 5 skips none, 1 costs > 5%)
  CHECK_OK(vdit_attn_cpu_dense_forward(&p, c.q, c.k, c.v, c.o, c.lse));
  double err = 0, ref = 0;
  for (size_t x = 0; x < nq; x++) {
    err += fabs((double)c.o[x] - a.o[x]);
    ref += fabs((double)a.o[x]);
  }
  CHECK(err > 0);            // something was skipped
  CHECK(err / ref < 0.05);   // and it mattered little
  CHECK(memcmp(a.lse, c.lse, (size_t)(2 * 256) * sizeof(float)) == 0); // the denominators keep every block
  vdit_attn_block_map_free(&m);
  arrays_free(&a);
  arrays_free(&b);
  arrays_free(&c);
}

// 6. Mask rules on the pooled statistics.
static int64_t row_count(const vdit_attn_block_map *m, int64_t r) { return m->row_offsets[r + 1] - m->row_offsets[r]; }

static void test_sparge_rules(void) {
  const vdit_attn_shape s = {1, 2, 1024, 1024, 64};
  arrays a;
  arrays_alloc(&a, &s, 4, VDIT_ATTN_INPUTS_VIDEO);
  vdit_attn_problem p = problem_of(s);
  vdit_attn_sparge_config sp;
  memset(&sp, 0, sizeof sp);
  sp.params.theta = -2.0f; // nothing dissimilar
  vdit_attn_block_map mk, mp, mh;
  CHECK_OK(vdit_attn_block_map_alloc(&mk, VDIT_CPU, 1, 2, 1024, 1024, 128, 128));
  CHECK_OK(vdit_attn_block_map_alloc(&mp, VDIT_CPU, 1, 2, 1024, 1024, 128, 128));
  CHECK_OK(vdit_attn_block_map_alloc(&mh, VDIT_CPU, 1, 2, 1024, 1024, 128, 128));
  sp.rule = VDIT_ATTN_SPARGE_TOPK;
  sp.params.topk = 0.2f;
  CHECK_OK(vdit_attn_sparge_predict_cpu(&p, &sp, a.q, a.k, &mk));
  CHECK_OK(vdit_attn_block_map_validate(&mk));
  for (int64_t r = 0; r < 2 * 8; r++) CHECK_EQ_INT(row_count(&mk, r), 2); // ceil(0.2 * 8)
  sp.rule = VDIT_ATTN_SPARGE_TOPP;
  sp.params.topp = 0.7f;
  CHECK_OK(vdit_attn_sparge_predict_cpu(&p, &sp, a.q, a.k, &mp));
  sp.rule = VDIT_ATTN_SPARGE_HYBRID;
  sp.params.topk = 0.2f;
  CHECK_OK(vdit_attn_sparge_predict_cpu(&p, &sp, a.q, a.k, &mh));
  // pooled mass of Top-p's blocks >= p; hybrid = union of the two
  for (int64_t bh = 0; bh < 2; bh++) {
    double kg[64] = {0};
    for (int64_t t = 0; t < 1024; t++)
      for (int d = 0; d < 64; d++) kg[d] += a.k[(bh * 1024 + t) * 64 + d] / 1024.0;
    for (int32_t i = 0; i < 8; i++) {
      const int64_t r = bh * 8 + i;
      double score[8], mx = -INFINITY, total = 0, kept = 0;
      for (int32_t j = 0; j < 8; j++) {
        double qm[64] = {0}, km[64] = {0};
        for (int64_t t = 0; t < 128; t++)
          for (int d = 0; d < 64; d++) {
            qm[d] += a.q[(bh * 1024 + i * 128 + t) * 64 + d] / 128.0;
            km[d] += a.k[(bh * 1024 + j * 128 + t) * 64 + d] / 128.0;
          }
        double dot = 0;
        for (int d = 0; d < 64; d++) dot += qm[d] * (km[d] - kg[d]);
        score[j] = dot * p.scale;
        if (score[j] > mx) mx = score[j];
      }
      for (int32_t j = 0; j < 8; j++) total += exp(score[j] - mx);
      for (int32_t e = mp.row_offsets[r]; e < mp.row_offsets[r + 1]; e++) kept += exp(score[mp.col_index[e]] - mx);
      CHECK(kept >= 0.7 * total * (1 - 1e-4));
      // removing Top-p's weakest block drops it below p (the fewest blocks)
      double weakest = INFINITY;
      for (int32_t e = mp.row_offsets[r]; e < mp.row_offsets[r + 1]; e++) weakest = fmin(weakest, exp(score[mp.col_index[e]] - mx));
      CHECK(kept - weakest < 0.7 * total * (1 + 1e-4));
      unsigned char in[8] = {0};
      for (int32_t e = mk.row_offsets[r]; e < mk.row_offsets[r + 1]; e++) in[mk.col_index[e]] = 1;
      for (int32_t e = mp.row_offsets[r]; e < mp.row_offsets[r + 1]; e++) in[mp.col_index[e]] = 1;
      int64_t n = 0;
      for (int j = 0; j < 8; j++) n += in[j];
      CHECK_EQ_INT(row_count(&mh, r), n);
      for (int32_t e = mh.row_offsets[r]; e < mh.row_offsets[r + 1]; e++) CHECK(in[mh.col_index[e]]);
    }
  }
  // ties: constant K makes every pooled score equal, Top-k keeps the lowest blocks
  for (size_t x = 0; x < (size_t)(2 * 1024 * 64); x++) a.k[x] = 1.0f;
  sp.rule = VDIT_ATTN_SPARGE_TOPK;
  sp.params.topk = 0.25f;
  CHECK_OK(vdit_attn_sparge_predict_cpu(&p, &sp, a.q, a.k, &mk));
  for (int64_t r = 0; r < 16; r++) {
    CHECK_EQ_INT(row_count(&mk, r), 2); // ceil(0.25 * 8)
    for (int32_t e = 0; e < 2; e++) CHECK_EQ_INT(mk.col_index[mk.row_offsets[r] + e], e);
  }
  // theta above every similarity: every block is computed; the sink forces block 0
  vdit_rng_normal(4, 1ull << 40, (size_t)(2 * 1024 * 64), a.k);
  sp.params.theta = 2.0f;
  CHECK_OK(vdit_attn_sparge_predict_cpu(&p, &sp, a.q, a.k, &mk));
  for (int64_t r = 0; r < 16; r++) CHECK_EQ_INT(row_count(&mk, r), 8);
  sp.params.theta = -2.0f;
  sp.params.topk = 0.0f;
  sp.sink = 1;
  CHECK_OK(vdit_attn_sparge_predict_cpu(&p, &sp, a.q, a.k, &mk));
  for (int64_t r = 0; r < 16; r++) {
    CHECK_EQ_INT(row_count(&mk, r), 1);
    CHECK_EQ_INT(mk.col_index[mk.row_offsets[r]], 0);
  }
  vdit_attn_block_map_free(&mk);
  vdit_attn_block_map_free(&mp);
  vdit_attn_block_map_free(&mh);
  arrays_free(&a);
}

// 6 and 7 through the public API and the harness.
static void test_sparge_check(void) {
  const vdit_attn_sparge_rule rules[] = {VDIT_ATTN_SPARGE_TOPK, VDIT_ATTN_SPARGE_TOPP, VDIT_ATTN_SPARGE_HYBRID};
  const double targets[] = {0.0, 0.6, 0.75};
  for (int c = 0; c < 3; c++) {
    vdit_attn_check_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.config.method = VDIT_ATTN_SPARGE;
    spec.config.sparge.rule = rules[c];
    spec.config.sparge.params.theta = 0.0f;
    spec.shape = (vdit_attn_shape){1, 2, 640 + 37 * c, 640 + 37 * c, c == 2 ? 128 : 64};
    spec.config.layout = c == 1 ? VDIT_ATTN_LAYOUT_BHSD : VDIT_ATTN_LAYOUT_BSHD;
    spec.dtype = VDIT_DTYPE_BF16;
    spec.device = VDIT_CPU;
    spec.inputs = VDIT_ATTN_INPUTS_VIDEO;
    spec.seed = 40 + (uint64_t)c;
    spec.backward = 1;
    spec.target_sparsity = targets[c];
    vdit_attn_check_result r;
    CHECK_OK(vdit_attn_check_run(&spec, &r));
    if (!r.passed) CHECK_FAIL_("sparge case %d: o %.3g dq %.3g dk %.3g dv %.3g", c, r.o.rel_l1, r.dq.rel_l1, r.dk.rel_l1, r.dv.rel_l1);
    if (c == 0) {
      CHECK(r.sparsity == 0.0);
      CHECK(r.o_dense.rel_l1 < 1e-2); // the dense bf16 tolerance
    } else {
      CHECK(r.sparsity > targets[c] - 0.1 && r.sparsity <= targets[c] + 1e-9);
    }
  }
}

// --sparsity 0 through the plan equals the dense plan bit for bit.
static void test_sparge_zero_is_dense(void) {
  int64_t shape[4] = {1, 300, 2, 64};
  vdit_tensor q, k, v, o1, o2, l1, l2;
  int64_t lshape[3] = {1, 2, 300};
  CHECK_OK(vdit_tensor_alloc(&q, VDIT_DTYPE_F32, VDIT_CPU, 4, shape));
  CHECK_OK(vdit_tensor_alloc(&k, VDIT_DTYPE_F32, VDIT_CPU, 4, shape));
  CHECK_OK(vdit_tensor_alloc(&v, VDIT_DTYPE_F32, VDIT_CPU, 4, shape));
  CHECK_OK(vdit_tensor_alloc(&o1, VDIT_DTYPE_F32, VDIT_CPU, 4, shape));
  CHECK_OK(vdit_tensor_alloc(&o2, VDIT_DTYPE_F32, VDIT_CPU, 4, shape));
  CHECK_OK(vdit_tensor_alloc(&l1, VDIT_DTYPE_F32, VDIT_CPU, 3, lshape));
  CHECK_OK(vdit_tensor_alloc(&l2, VDIT_DTYPE_F32, VDIT_CPU, 3, lshape));
  vdit_rng_normal(1, 0, 600 * 64, q.data);
  vdit_rng_normal(1, 1ull << 40, 600 * 64, k.data);
  vdit_rng_normal(1, 1ull << 41, 600 * 64, v.data);
  vdit_attn_config dense, sparge;
  memset(&dense, 0, sizeof dense);
  sparge = dense;
  sparge.method = VDIT_ATTN_SPARGE;
  sparge.sparge.rule = VDIT_ATTN_SPARGE_HYBRID;
  sparge.sparge.params.topk = 1.0f;
  sparge.sparge.params.topp = 0.5f;
  vdit_attn_plan *pd = NULL, *ps = NULL;
  CHECK_OK(vdit_attn_plan_create(&pd, &dense, &q, &k, &v));
  CHECK_OK(vdit_attn_plan_create(&ps, &sparge, &q, &k, &v));
  CHECK_OK(vdit_attn_forward(pd, &q, &k, &v, &o1, &l1));
  CHECK_OK(vdit_attn_forward(ps, &q, &k, &v, &o2, &l2));
  CHECK(memcmp(o1.data, o2.data, 600 * 64 * sizeof(float)) == 0);
  CHECK(memcmp(l1.data, l2.data, 600 * sizeof(float)) == 0);
  int64_t blocks = 0;
  double sparsity = 1;
  CHECK_OK(vdit_attn_block_map_count(vdit_attn_plan_block_map(ps), &blocks, &sparsity));
  CHECK_EQ_INT(blocks, 2 * 3 * 3);
  CHECK(sparsity == 0.0);
  // the backward needs a forward first
  vdit_attn_plan *fresh = NULL;
  CHECK_OK(vdit_attn_plan_create(&fresh, &sparge, &q, &k, &v));
  CHECK_STATUS(vdit_attn_backward(fresh, &q, &k, &v, &o2, &l2, &o1, &q, &k, &v), VDIT_ERROR_INVALID_ARGUMENT);
  // bad parameters
  vdit_attn_plan *bad = NULL;
  sparge.sparge.params.topk = 1.5f;
  CHECK_STATUS(vdit_attn_plan_create(&bad, &sparge, &q, &k, &v), VDIT_ERROR_INVALID_ARGUMENT);
  sparge.sparge.params.topk = 0.5f;
  sparge.mask = VDIT_ATTN_MASK_CAUSAL;
  CHECK_STATUS(vdit_attn_plan_create(&bad, &sparge, &q, &k, &v), VDIT_ERROR_UNSUPPORTED);
  dense.method = VDIT_ATTN_BLOCK;
  CHECK_STATUS(vdit_attn_plan_create(&bad, &dense, &q, &k, &v), VDIT_ERROR_INVALID_ARGUMENT);
  vdit_attn_plan_free(pd);
  vdit_attn_plan_free(ps);
  vdit_attn_plan_free(fresh);
  vdit_tensor *all[] = {&q, &k, &v, &o1, &o2, &l1, &l2};
  for (int i = 0; i < 7; i++) vdit_tensor_free(all[i]);
}

// 8.
static void test_tune(void) {
  const vdit_attn_shape s = {1, 2, 512, 512, 32};
  arrays a;
  arrays_alloc(&a, &s, 12, VDIT_ATTN_INPUTS_VIDEO_HEADS);
  vdit_attn_problem p = problem_of(s);
  vdit_attn_sparge_tuning t, back;
  CHECK_OK(vdit_attn_sparge_tune(&p, a.q, a.k, a.v, 0.1, &t));
  CHECK_EQ_INT(t.heads, 2);
  for (int64_t h = 0; h < t.heads; h++) {
    CHECK(t.rel_l1[h] <= 0.1);
    // the tuned parameters, applied through the public plan, give the error the tune measured
    vdit_attn_sparge_config sp;
    memset(&sp, 0, sizeof sp);
    sp.rule = t.rule;
    sp.params = t.per_head[h];
    vdit_attn_block_map m;
    vdit_attn_problem one = p;
    one.shape.heads = 1;
    CHECK_OK(vdit_attn_block_map_alloc(&m, VDIT_CPU, 1, 1, 512, 512, 128, 128));
    CHECK_OK(vdit_attn_sparge_predict_cpu(&one, &sp, a.q + h * 512 * 32, a.k + h * 512 * 32, &m));
    double sparsity = -1;
    CHECK_OK(vdit_attn_block_map_count(&m, NULL, &sparsity));
    CHECK(fabs(sparsity - t.sparsity[h]) < 1e-12);
    vdit_attn_block_map_free(&m);
  }
  const char *path = "test_attn_sparse_tuning.json";
  CHECK_OK(vdit_attn_sparge_tuning_write(path, &t));
  CHECK_OK(vdit_attn_sparge_tuning_read(path, &back));
  CHECK_EQ_INT(back.heads, t.heads);
  CHECK_EQ_INT(back.rule, t.rule);
  for (int64_t h = 0; h < t.heads && back.per_head; h++) {
    CHECK(back.per_head[h].theta == t.per_head[h].theta && back.per_head[h].topk == t.per_head[h].topk);
    CHECK(back.per_head[h].topp == t.per_head[h].topp && back.per_head[h].pv_threshold == t.per_head[h].pv_threshold);
  }
  remove(path);
  vdit_attn_sparge_tuning_free(&back);
  CHECK_STATUS(vdit_attn_sparge_tuning_read(path, &back), VDIT_ERROR_IO);
  vdit_attn_sparge_tuning_free(&t);
  vdit_attn_sparge_tuning_free(&back);
  arrays_free(&a);
}

int main(void) {
  test_transpose();
  test_full_map_is_dense();
  test_random_maps();
  test_extras();
  test_pv_threshold();
  test_sparge_rules();
  test_sparge_check();
  test_sparge_zero_is_dense();
  test_tune();
  return check_finish(TEST_NAME);
}
