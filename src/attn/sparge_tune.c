// Sparge's per-head autotune and its tuning file. The tune measures, per head, the relative
// L1 error of O against dense attention (both from the CPU executor in fp32) for candidate
// parameters of the hybrid rule:
//   theta in {off, 0.3} x Top-k floor in {2%, 5%}: Top-p's p bisected (10 steps) to the
//   smallest p meeting the target; the candidate skipping the most blocks wins;
//   then lambda, the PV threshold, from {8, 6, 4, 3, 2} while the error stays within target.
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attn/attn_kernels.h"
#include "tensor/json.h"

typedef struct head_eval {
  vdit_attn_problem problem; // one (b, h) slice
  const float *q, *k, *v, *dense;
  float *o, *lse;
  vdit_attn_block_map map;
} head_eval;

static vdit_status evaluate(head_eval *e, vdit_attn_sparge_head params, double *rel_l1, double *sparsity) {
  vdit_attn_sparge_config sp;
  memset(&sp, 0, sizeof sp);
  sp.rule = VDIT_ATTN_SPARGE_HYBRID;
  sp.params = params;
  VDIT_TRY(vdit_attn_sparge_predict_cpu(&e->problem, &sp, e->q, e->k, &e->map));
  VDIT_TRY(vdit_attn_block_map_count(&e->map, NULL, sparsity));
  vdit_attn_problem p = e->problem;
  p.map = &e->map;
  p.extras.pv_threshold = params.pv_threshold;
  VDIT_TRY(vdit_attn_cpu_dense_forward(&p, e->q, e->k, e->v, e->o, e->lse));
  const int64_t n = p.shape.seq_q * p.shape.head_dim;
  double err = 0, ref = 0;
  for (int64_t i = 0; i < n; i++) {
    err += fabs((double)e->o[i] - e->dense[i]);
    ref += fabs((double)e->dense[i]);
  }
  *rel_l1 = ref > 0 ? err / ref : (err > 0 ? INFINITY : 0);
  return VDIT_OK;
}

static vdit_status tune_head(head_eval *e, double target, vdit_attn_sparge_head *best, double *best_sparsity,
                             double *best_error) {
  const float thetas[] = {-2.0f, 0.3f}, floors[] = {0.02f, 0.05f};
  *best = (vdit_attn_sparge_head){-2.0f, 1.0f, 1.0f, 0.0f}; // everything: always within target
  *best_sparsity = 0.0;
  *best_error = 0.0;
  for (int ti = 0; ti < 2; ti++)
    for (int fi = 0; fi < 2; fi++) {
      float lo = 0.0f, hi = 1.0f; // invariant: p = hi meets the target (p = 1 keeps every candidate block)
      double hi_sparsity = -1, hi_error = 0, error, sparsity;
      for (int it = 0; it < 10; it++) {
        const float mid = 0.5f * (lo + hi);
        VDIT_TRY(evaluate(e, (vdit_attn_sparge_head){thetas[ti], floors[fi], mid, 0.0f}, &error, &sparsity));
        if (error <= target) {
          hi = mid;
          hi_sparsity = sparsity;
          hi_error = error;
        } else {
          lo = mid;
        }
      }
      if (hi_sparsity < 0) VDIT_TRY(evaluate(e, (vdit_attn_sparge_head){thetas[ti], floors[fi], hi, 0.0f}, &hi_error, &hi_sparsity));
      if (hi_error <= target && hi_sparsity > *best_sparsity) {
        *best = (vdit_attn_sparge_head){thetas[ti], floors[fi], hi, 0.0f};
        *best_sparsity = hi_sparsity;
        *best_error = hi_error;
      }
    }
  const float lambdas[] = {8.0f, 6.0f, 4.0f, 3.0f, 2.0f};
  for (int li = 0; li < 5; li++) {
    vdit_attn_sparge_head trial = *best;
    trial.pv_threshold = lambdas[li];
    double error, sparsity;
    VDIT_TRY(evaluate(e, trial, &error, &sparsity));
    if (error > target) break;
    *best = trial;
    *best_error = error;
  }
  return VDIT_OK;
}

vdit_status vdit_attn_sparge_tune(const vdit_attn_problem *problem, const float *q, const float *k, const float *v,
                                  double target_rel_l1, vdit_attn_sparge_tuning *tuning) {
  memset(tuning, 0, sizeof *tuning);
  if (!(target_rel_l1 > 0)) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "sparge tune: the target must be > 0");
  const vdit_attn_shape s = problem->shape;
  const int64_t H = s.heads, D = s.head_dim;
  tuning->rule = VDIT_ATTN_SPARGE_HYBRID;
  tuning->target_rel_l1 = target_rel_l1;
  tuning->heads = H;
  tuning->per_head = calloc((size_t)H + 1, sizeof *tuning->per_head);
  tuning->sparsity = calloc((size_t)H + 1, sizeof *tuning->sparsity);
  tuning->rel_l1 = calloc((size_t)H + 1, sizeof *tuning->rel_l1);
  float *work = malloc((size_t)(3 * s.seq_q * D + s.seq_q + 1) * sizeof *work);
  if (!tuning->per_head || !tuning->sparsity || !tuning->rel_l1 || !work) {
    free(work);
    vdit_attn_sparge_tuning_free(tuning);
    return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "sparge tune: no memory");
  }
  head_eval e;
  memset(&e, 0, sizeof e);
  e.problem = *problem;
  e.problem.shape = (vdit_attn_shape){1, 1, s.seq_q, s.seq_k, D};
  e.problem.map = e.problem.map_t = NULL;
  e.problem.extras = (vdit_attn_softmax_extras){0};
  float *dense = work;
  e.o = work + s.seq_q * D;
  e.lse = e.o + s.seq_q * D;
  vdit_status status = vdit_attn_block_map_alloc(&e.map, VDIT_CPU, 1, 1, s.seq_q, s.seq_k, 128, 128);
  for (int64_t h = 0; h < H && status == VDIT_OK; h++) { // batch element 0
    e.q = q + h * s.seq_q * D;
    e.k = k + h * s.seq_k * D;
    e.v = v + h * s.seq_k * D;
    e.dense = dense;
    status = vdit_attn_cpu_dense_forward(&e.problem, e.q, e.k, e.v, dense, e.lse);
    if (status == VDIT_OK)
      status = tune_head(&e, target_rel_l1, &tuning->per_head[h], &tuning->sparsity[h], &tuning->rel_l1[h]);
  }
  vdit_attn_block_map_free(&e.map);
  free(work);
  if (status != VDIT_OK) vdit_attn_sparge_tuning_free(tuning);
  return status;
}

void vdit_attn_sparge_tuning_free(vdit_attn_sparge_tuning *tuning) {
  if (!tuning) return;
  free(tuning->per_head);
  free(tuning->sparsity);
  free(tuning->rel_l1);
  memset(tuning, 0, sizeof *tuning);
}

static const char *rule_name(vdit_attn_sparge_rule rule) {
  return rule == VDIT_ATTN_SPARGE_TOPK ? "topk" : rule == VDIT_ATTN_SPARGE_TOPP ? "topp" : "hybrid";
}

vdit_status vdit_attn_sparge_tuning_write(const char *path, const vdit_attn_sparge_tuning *t) {
  FILE *file = fopen(path, "w");
  if (!file) return VDIT_ERROR(VDIT_ERROR_IO, "cannot write %s: %s", path, strerror(errno));
  fprintf(file, "{\"method\": \"sparge\", \"rule\": \"%s\", \"target_rel_l1\": %.9g, \"block\": [128, 128], \"heads\": [\n",
          rule_name(t->rule), t->target_rel_l1);
  for (int64_t h = 0; h < t->heads; h++) {
    const vdit_attn_sparge_head *p = &t->per_head[h];
    fprintf(file, "  {\"theta\": %.9g, \"topk\": %.9g, \"topp\": %.9g, \"lambda\": %.9g", p->theta, p->topk, p->topp,
            p->pv_threshold);
    if (t->sparsity) fprintf(file, ", \"sparsity\": %.6f", t->sparsity[h]);
    if (t->rel_l1) fprintf(file, ", \"rel_l1\": %.6g", t->rel_l1[h]);
    fprintf(file, "}%s\n", h + 1 < t->heads ? "," : "");
  }
  fprintf(file, "]}\n");
  const int failed = ferror(file);
  if (fclose(file) != 0 || failed) return VDIT_ERROR(VDIT_ERROR_IO, "cannot write %s", path);
  return VDIT_OK;
}

static vdit_status member_double(const vdit_json *d, vdit_json_value object, const char *name, const char *path, double *out) {
  vdit_json_value v = vdit_json_find(d, object, name);
  if (v == VDIT_JSON_NONE) return VDIT_ERROR(VDIT_ERROR_CORRUPT_FILE, "%s: a head lacks \"%s\"", path, name);
  return vdit_json_get_double(d, v, out);
}

vdit_status vdit_attn_sparge_tuning_read(const char *path, vdit_attn_sparge_tuning *t) {
  memset(t, 0, sizeof *t);
  FILE *file = fopen(path, "rb");
  if (!file) return VDIT_ERROR(VDIT_ERROR_IO, "cannot open %s: %s", path, strerror(errno));
  enum { MAX_BYTES = 1 << 20 };
  char *text = malloc(MAX_BYTES + 1);
  if (!text) {
    fclose(file);
    return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "out of memory reading %s", path);
  }
  const size_t length = fread(text, 1, MAX_BYTES + 1, file);
  const int failed = ferror(file);
  fclose(file);
  vdit_json *d = NULL;
  vdit_status status = VDIT_OK;
  if (failed) status = VDIT_ERROR(VDIT_ERROR_IO, "cannot read %s", path);
  else if (length > MAX_BYTES) status = VDIT_ERROR(VDIT_ERROR_CORRUPT_FILE, "%s: larger than 1 MiB, not a tuning file", path);
  else status = vdit_json_parse(text, length, NULL, &d, NULL);
  free(text);
  if (status != VDIT_OK) return status;
  const vdit_json_value root = vdit_json_root(d);
  const char *method = vdit_json_string(d, vdit_json_find(d, root, "method"), NULL);
  const char *rule = vdit_json_string(d, vdit_json_find(d, root, "rule"), NULL);
  const vdit_json_value heads = vdit_json_find(d, root, "heads");
  if (!method || strcmp(method, "sparge") != 0 || !rule || vdit_json_type_of(d, heads) != VDIT_JSON_ARRAY) {
    vdit_json_free(d);
    return VDIT_ERROR(VDIT_ERROR_CORRUPT_FILE, "%s: not a sparge tuning file (method, rule and heads needed)", path);
  }
  if (strcmp(rule, "topk") == 0) t->rule = VDIT_ATTN_SPARGE_TOPK;
  else if (strcmp(rule, "topp") == 0) t->rule = VDIT_ATTN_SPARGE_TOPP;
  else if (strcmp(rule, "hybrid") == 0) t->rule = VDIT_ATTN_SPARGE_HYBRID;
  else status = VDIT_ERROR(VDIT_ERROR_CORRUPT_FILE, "%s: unknown rule '%s'", path, rule);
  if (status == VDIT_OK) status = member_double(d, root, "target_rel_l1", path, &t->target_rel_l1);
  t->heads = (int64_t)vdit_json_count(d, heads);
  if (status == VDIT_OK) {
    t->per_head = calloc((size_t)t->heads + 1, sizeof *t->per_head);
    t->sparsity = calloc((size_t)t->heads + 1, sizeof *t->sparsity);
    t->rel_l1 = calloc((size_t)t->heads + 1, sizeof *t->rel_l1);
    if (!t->per_head || !t->sparsity || !t->rel_l1) status = VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "out of memory reading %s", path);
  }
  int64_t h = 0;
  for (vdit_json_value e = vdit_json_first(d, heads); e != VDIT_JSON_NONE && status == VDIT_OK; e = vdit_json_next(d, e), h++) {
    double theta = 0, topk = 0, topp = 0, lambda = 0;
    status = member_double(d, e, "theta", path, &theta);
    if (status == VDIT_OK) status = member_double(d, e, "topk", path, &topk);
    if (status == VDIT_OK) status = member_double(d, e, "topp", path, &topp);
    if (status == VDIT_OK) status = member_double(d, e, "lambda", path, &lambda);
    if (status == VDIT_OK && vdit_json_find(d, e, "sparsity") != VDIT_JSON_NONE)
      status = member_double(d, e, "sparsity", path, &t->sparsity[h]);
    if (status == VDIT_OK && vdit_json_find(d, e, "rel_l1") != VDIT_JSON_NONE)
      status = member_double(d, e, "rel_l1", path, &t->rel_l1[h]);
    if (status == VDIT_OK && !(topk >= 0 && topk <= 1 && topp >= 0 && topp <= 1 && lambda >= 0 && isfinite(theta)))
      status = VDIT_ERROR(VDIT_ERROR_CORRUPT_FILE, "%s: head %lld: topk, topp in [0, 1], lambda >= 0, theta finite", path, (long long)h);
    t->per_head[h] = (vdit_attn_sparge_head){(float)theta, (float)topk, (float)topp, (float)lambda};
  }
  vdit_json_free(d);
  if (status != VDIT_OK) vdit_attn_sparge_tuning_free(t);
  return status;
}
