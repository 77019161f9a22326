// The evaluation of one task for one method on one backend: trials over shapes and seeds,
// the defences of docs/kbench.md, then timing against the baseline method.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kbench/kbench_internal.h"

typedef struct trial_check {
  vdit_kbench_reason reason;
  char detail[256];
  double error, baseline_error, bound, cosine, rel_l1, rmse;
} trial_check;

static uint32_t element_bits(const void *data, vdit_dtype dtype, size_t i) {
  int size = vdit_dtype_element_bytes(dtype);
  if (size <= 0) size = 1;
  uint32_t bits = 0;
  memcpy(&bits, (const unsigned char *)data + i * (size_t)size, (size_t)size);
  return bits;
}

static double element_value(const void *data, vdit_dtype dtype, size_t i) {
  if (dtype == VDIT_DTYPE_BF16) return vdit_bf16_to_float(((const uint16_t *)data)[i]);
  return ((const float *)data)[i];
}

// Per element: 0 fine, 1 wrong, 2 unwritten. Returns the number of bad elements.
static size_t classify_output(const kb_problem *p, int k, const void *out1, const void *out2, double bound,
                              unsigned char *bad) {
  const kb_tensor *t = &p->out[k];
  uint32_t poison0 = kb_poison_bits(t->dtype, 0), poison1 = kb_poison_bits(t->dtype, 1);
  size_t count = 0;
  for (size_t i = 0; i < t->count; i++) {
    uint32_t b1 = element_bits(out1, t->dtype, i), b2 = element_bits(out2, t->dtype, i);
    unsigned char state = 0;
    if (b1 == poison0 && b2 == poison1) {
      state = 2;
    } else if (p->task->exact) {
      state = b1 != element_bits(p->expected[k], t->dtype, i);
    } else {
      double x = element_value(out1, t->dtype, i), r = p->reference[k][i];
      state = !(fabs(x - r) <= bound); // NaN fails
    }
    bad[i] = state;
    count += state != 0;
  }
  return count;
}

// A correct prefix of rows and a wrong or unwritten rest.
static int partial_rows(const kb_tensor *t, const unsigned char *bad, int64_t *first_bad) {
  if (t->rows < 2) return 0;
  size_t per = t->count / (size_t)t->rows;
  int64_t first = -1;
  for (int64_t r = 0; r < t->rows; r++) {
    int row_bad = 0;
    for (size_t i = 0; i < per; i++) row_bad |= bad[(size_t)r * per + i] != 0;
    if (row_bad && first < 0) first = r;
    if (!row_bad && first >= 0) return 0; // a good row after a bad one
  }
  *first_bad = first;
  return first > 0;
}

static void check_trial(const kb_problem *p, double k_scale, void **out1, void **out2, void **previous,
                        trial_check *c) {
  memset(c, 0, sizeof *c);
  c->cosine = 1;
  for (int k = 0; k < p->out_count; k++) {
    const kb_tensor *t = &p->out[k];
    double bound = 0, error = 0, baseline_error = 0, reference_max = 0;
    size_t nonfinite = 0;
    if (!p->task->exact) {
      for (size_t i = 0; i < t->count; i++) {
        double r = p->reference[k][i], x = element_value(out1[k], t->dtype, i);
        reference_max = fmax(reference_max, fabs(r));
        baseline_error = fmax(baseline_error, fabs(p->baseline[k][i] - r));
        if (!isfinite(x) && isfinite(r)) nonfinite++;
        else error = fmax(error, fabs(x - r));
      }
      // The magnitude-aware bound: k times the same-dtype baseline's own error, at least k
      // times the output dtype's unit roundoff of the largest reference value.
      bound = k_scale * fmax(baseline_error, p->unit_roundoff[k] * reference_max) + 1e-30;
      if (nonfinite) error = INFINITY;
    }
    unsigned char *bad = malloc(t->count + 1);
    if (!bad) {
      c->reason = VDIT_KBENCH_INACCURATE;
      snprintf(c->detail, sizeof c->detail, "out of memory while checking");
      return;
    }
    size_t wrong = classify_output(p, k, out1[k], out2[k], bound, bad);
    size_t unwritten = 0, first = t->count;
    for (size_t i = 0; i < t->count; i++) {
      unwritten += bad[i] == 2;
      if (bad[i] && first == t->count) first = i;
    }
    if (!p->task->exact && (c->bound == 0 || error / bound > c->error / fmax(c->bound, 1e-300))) {
      c->error = error, c->baseline_error = baseline_error, c->bound = bound;
    }
    if (!p->task->exact && t->dtype == VDIT_DTYPE_F32) {
      vdit_error_stats stats = vdit_error_stats_f32(t->count, out1[k], p->reference[k]);
      double sq = 0;
      for (size_t i = 0; i < t->count; i++) {
        double d = (double)((const float *)out1[k])[i] - p->reference[k][i];
        sq += d * d;
      }
      c->cosine = fmin(c->cosine, t->count > 1 ? stats.cos : (wrong ? 0 : 1));
      c->rel_l1 = fmax(c->rel_l1, stats.rel_l1);
      c->rmse = fmax(c->rmse, sqrt(sq / (double)t->count));
    }
    if (wrong) {
      size_t bytes = kb_tensor_bytes(t);
      int64_t first_bad = 0;
      if (previous && previous[k] && memcmp(previous[k], out1[k], bytes) == 0) {
        c->reason = VDIT_KBENCH_STALE_OUTPUT;
        snprintf(c->detail, sizeof c->detail, "output %d is bit-identical to the previous trial's for fresh inputs", k);
      } else if (unwritten == t->count) {
        c->reason = VDIT_KBENCH_UNWRITTEN;
        snprintf(c->detail, sizeof c->detail, "output %d: nothing written (all %zu elements still poisoned)", k, t->count);
      } else if (partial_rows(t, bad, &first_bad)) {
        c->reason = VDIT_KBENCH_PARTIAL_ROWS;
        snprintf(c->detail, sizeof c->detail, "output %d: rows 0..%lld right, rows %lld..%lld wrong or unwritten", k,
                 (long long)first_bad - 1, (long long)first_bad, (long long)t->rows - 1);
      } else if (unwritten) {
        c->reason = VDIT_KBENCH_UNWRITTEN;
        snprintf(c->detail, sizeof c->detail, "output %d: %zu of %zu elements never written (first at %zu)", k,
                 unwritten, t->count, first);
      } else if (p->task->exact) {
        c->reason = VDIT_KBENCH_CONTRACT_MISMATCH;
        snprintf(c->detail, sizeof c->detail, "output %d: %zu of %zu elements differ from the contract (first at %zu: 0x%x, expected 0x%x)",
                 k, wrong, t->count, first, element_bits(out1[k], t->dtype, first),
                 element_bits(p->expected[k], t->dtype, first));
      } else if (nonfinite) {
        c->reason = VDIT_KBENCH_NONFINITE;
        snprintf(c->detail, sizeof c->detail, "output %d: %zu non-finite values where the reference is finite", k, nonfinite);
      } else {
        c->reason = VDIT_KBENCH_INACCURATE;
        snprintf(c->detail, sizeof c->detail,
                 "output %d: max error %.3g > bound %.3g (%.3g x baseline error %.3g); %zu of %zu elements out (first at %zu)",
                 k, error, bound, k_scale, baseline_error, wrong, t->count, first);
      }
      free(bad);
      return;
    }
    free(bad);
    if (memcmp(out1[k], out2[k], kb_tensor_bytes(t)) != 0) {
      c->reason = VDIT_KBENCH_NONDETERMINISTIC;
      snprintf(c->detail, sizeof c->detail, "output %d differs between two runs on the same inputs", k);
      return;
    }
  }
}

static uint64_t trial_seed(uint64_t base, int task, int shape, int trial) {
  uint64_t x = base * 0x9E3779B97F4A7C15ull ^ ((uint64_t)task << 32) ^ ((uint64_t)shape << 16) ^ (uint64_t)trial;
  x ^= x >> 31;
  x *= 0xBF58476D1CE4E5B9ull;
  return x ^ (x >> 29);
}

static int compare_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, compare_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void fail(vdit_kbench_result *r, vdit_kbench_reason reason, const char *detail) {
  r->correct = 0;
  r->reason = reason;
  snprintf(r->detail, sizeof r->detail, "%s", detail);
}

static vdit_status time_task(kb_backend *b, const vdit_kbench_options *o, const kb_task *task, void *kernel,
                             vdit_kbench_result *r) {
  void *base = NULL;
  vdit_kbench_reason reason = VDIT_KBENCH_PASS;
  char detail[256] = "";
  VDIT_TRY(b->load(b, o->baseline_dir, task->name, &base, &reason, detail, sizeof detail));
  if (reason != VDIT_KBENCH_PASS) {
    snprintf(r->detail, sizeof r->detail, "not timed: baseline %s: %s", vdit_kbench_reason_name(reason), detail);
    return VDIT_OK;
  }
  kb_problem p;
  const int64_t *n = o->timing_shape_standard ? task->shapes[0] : task->timing;
  vdit_status status = kb_problem_init(&p, task, n);
  if (status != VDIT_OK) { b->unload(b, base); return status; }
  kb_buffers buf;
  memset(&buf, 0, sizeof buf);
  int reps = o->repetitions >= 20 ? o->repetitions : 20;
  double *tb = calloc((size_t)reps, sizeof *tb), *tc = calloc((size_t)reps, sizeof *tc);
  status = tb && tc ? VDIT_OK : VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "kbench: no memory for timings");
  if (status == VDIT_OK) status = kb_problem_generate(&p, trial_seed(o->seed, 999, 99, 0), 0, 0);
  if (status == VDIT_OK) status = b->alloc(b, &p, &buf);
  if (status == VDIT_OK) status = b->upload(b, &p, &buf);
  // Time-based warm-up, both kernels; then interleaved repetitions.
  double warmup = (o->warmup_ms > 0 ? o->warmup_ms : 25.0) * 1e-3, t = 0, start = vdit_time_seconds();
  for (int i = 0; status == VDIT_OK && (vdit_time_seconds() - start < warmup || i < 2); i++) {
    status = b->time_once(b, base, &p, &buf, &t);
    if (status == VDIT_OK) status = b->time_once(b, kernel, &p, &buf, &t);
  }
  for (int i = 0; status == VDIT_OK && i < reps; i++) {
    status = b->time_once(b, base, &p, &buf, &tb[i]);
    if (status == VDIT_OK) status = b->time_once(b, kernel, &p, &buf, &tc[i]);
  }
  if (status == VDIT_OK) {
    r->baseline_time_ms = median(tb, reps) * 1e3;
    r->time_ms = median(tc, reps) * 1e3;
    r->speedup = r->time_ms > 0 ? r->baseline_time_ms / r->time_ms : 0;
    double peak_flops = (o->peak_tflops > 0 ? o->peak_tflops : b->peak_tflops) * 1e12;
    double peak_bytes = (o->peak_gbs > 0 ? o->peak_gbs : b->peak_gbs) * 1e9;
    r->roofline_ms = fmax(p.flops / peak_flops, p.bytes / peak_bytes) * 1e3;
    r->suspect = r->time_ms < r->roofline_ms;
    if (r->suspect)
      snprintf(r->detail, sizeof r->detail, "suspect: %.4g ms is faster than the roofline bound %.4g ms", r->time_ms,
               r->roofline_ms);
  }
  free(tb), free(tc);
  if (buf.work || buf.in[0] || buf.out[0]) b->release(b, &p, &buf);
  kb_problem_free(&p);
  b->unload(b, base);
  return status;
}

vdit_status kb_evaluate_with(kb_backend *b, const vdit_kbench_options *o, int task_index, vdit_kbench_result *r) {
  const kb_task *task = kb_task_at(task_index);
  if (!task) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "kbench: no task %d", task_index);
  memset(r, 0, sizeof *r);
  snprintf(r->task, sizeof r->task, "%s", task->name);
  const char *slash = strrchr(o->method_dir, '/');
  snprintf(r->method, sizeof r->method, "%s", slash && slash[1] ? slash + 1 : o->method_dir);
  r->category = task->category, r->difficulty = task->difficulty;
  r->cosine = 1;

  void *kernel = NULL;
  vdit_kbench_reason reason = VDIT_KBENCH_PASS;
  char detail[256] = "";
  VDIT_TRY(b->load(b, o->method_dir, task->name, &kernel, &reason, detail, sizeof detail));
  if (reason == VDIT_KBENCH_MISSING) {
    fail(r, reason, detail);
    return VDIT_OK;
  }
  r->attempted = 1;
  if (reason != VDIT_KBENCH_PASS) {
    fail(r, reason, detail);
    return VDIT_OK;
  }
  r->compiled = 1;
  r->correct = 1;

  int trials = o->trials >= 5 ? o->trials : 5;
  double k_scale = o->tolerance_scale > 0 ? o->tolerance_scale : (task->k > 0 ? task->k : 8.0);
  vdit_status status = VDIT_OK;
  int standard_passed = 1;
  for (int s = 0; s < task->shape_count && r->correct && status == VDIT_OK; s++) {
    kb_problem p;
    status = kb_problem_init(&p, task, task->shapes[s]);
    if (status != VDIT_OK) break;
    kb_buffers buf;
    memset(&buf, 0, sizeof buf);
    void *out1[KB_MAX_OUT] = {0}, *out2[KB_MAX_OUT] = {0}, *previous[KB_MAX_OUT] = {0}, *in_after[KB_MAX_IN] = {0};
    for (int k = 0; k < p.out_count && status == VDIT_OK; k++) {
      size_t bytes = kb_tensor_bytes(&p.out[k]) + 16;
      out1[k] = malloc(bytes), out2[k] = malloc(bytes), previous[k] = malloc(bytes);
      if (!out1[k] || !out2[k] || !previous[k]) status = VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "kbench: no memory");
    }
    for (int k = 0; k < p.in_count && status == VDIT_OK; k++)
      if (!(in_after[k] = malloc(kb_tensor_bytes(&p.in[k]) + 16)))
        status = VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "kbench: no memory");
    if (status == VDIT_OK) status = b->alloc(b, &p, &buf);
    int have_previous = 0;
    for (int t = 0; t < trials && r->correct && status == VDIT_OK; t++) {
      status = kb_problem_generate(&p, trial_seed(o->seed ? o->seed : 1, task_index, s, t), t % 2, 1);
      trial_check c;
      memset(&c, 0, sizeof c);
      for (int run = 0; run < 2 && status == VDIT_OK && c.reason == VDIT_KBENCH_PASS; run++) {
        status = b->run(b, kernel, &p, &buf, run, run ? out2 : out1, in_after, &c.reason, c.detail, sizeof c.detail);
        for (int k = 0; k < p.in_count && status == VDIT_OK && c.reason == VDIT_KBENCH_PASS; k++)
          if (memcmp(in_after[k], p.in[k].data, kb_tensor_bytes(&p.in[k])) != 0) {
            c.reason = VDIT_KBENCH_INPUT_MODIFIED;
            snprintf(c.detail, sizeof c.detail, "input %d changed during run %d", k, run + 1);
          }
      }
      if (status == VDIT_OK && c.reason == VDIT_KBENCH_PASS)
        check_trial(&p, k_scale, out1, out2, have_previous ? previous : NULL, &c);
      r->trials++;
      if (c.error / fmax(c.bound, 1e-300) >= r->error / fmax(r->bound, 1e-300) && c.bound > 0)
        r->error = c.error, r->baseline_error = c.baseline_error, r->bound = c.bound;
      r->cosine = fmin(r->cosine, c.cosine);
      r->rel_l1 = fmax(r->rel_l1, c.rel_l1);
      r->rmse = fmax(r->rmse, c.rmse);
      if (status == VDIT_OK && c.reason != VDIT_KBENCH_PASS) {
        char line[320];
        int crashed = c.reason == VDIT_KBENCH_LAUNCH_ERROR || c.reason == VDIT_KBENCH_SIDE_STREAM;
        if (s > 0 && standard_passed && !crashed && c.reason != VDIT_KBENCH_INPUT_MODIFIED &&
            c.reason != VDIT_KBENCH_STALE_OUTPUT && c.reason != VDIT_KBENCH_NONDETERMINISTIC) {
          snprintf(line, sizeof line, "right on the standard shape, %s at shape %d (n = %lld %lld %lld): %s",
                   vdit_kbench_reason_name(c.reason), s, (long long)p.n[0], (long long)p.n[1], (long long)p.n[2],
                   c.detail);
          fail(r, VDIT_KBENCH_SHAPE_SPECIFIC, line);
        } else {
          snprintf(line, sizeof line, "shape %d trial %d: %s", s, t, c.detail);
          fail(r, c.reason, line);
        }
        if (s == 0) standard_passed = 0;
      }
      for (int k = 0; k < p.out_count && status == VDIT_OK; k++)
        memcpy(previous[k], out1[k], kb_tensor_bytes(&p.out[k]));
      have_previous = 1;
    }
    if (buf.work || buf.in[0] || buf.out[0]) b->release(b, &p, &buf);
    for (int k = 0; k < KB_MAX_OUT; k++) free(out1[k]), free(out2[k]), free(previous[k]);
    for (int k = 0; k < KB_MAX_IN; k++) free(in_after[k]);
    kb_problem_free(&p);
  }
  if (status == VDIT_OK && r->correct && o->baseline_dir) status = time_task(b, o, task, kernel, r);
  b->unload(b, kernel);
  return status;
}

void kb_make_args(const kb_problem *p, const kb_buffers *buf, kb_args *a) {
  memset(a, 0, sizeof *a);
  for (int k = 0; k < p->in_count; k++) a->in[k] = buf->in[k];
  for (int k = 0; k < p->out_count; k++) a->out[k] = buf->out[k];
  a->work = buf->work;
  a->work_bytes = (kb_i64)(p->work_bytes > 0 ? p->work_bytes : 1024);
  for (int k = 0; k < 8; k++) a->n[k] = p->n[k], a->f[k] = p->f[k];
  for (int k = 0; k < 4; k++) a->i[k] = p->i[k];
}
