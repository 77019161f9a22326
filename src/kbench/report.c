// vdit kbench report: reads results.jsonl of one or more runs and writes report.md,
// report.json and SVG charts. Groups are (method, device) when the runs come from several
// devices, else methods.
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kbench/kbench_internal.h"
#include "tensor/json.h"

#define MAX_GROUPS 32
#define MAX_DEVICES 16

typedef struct record {
  char task[48], method[64], device[128];
  int category, attempted, compiled, correct, suspect, reason;
  double speedup;
} record;

typedef struct records {
  record *items;
  int count, capacity;
} records;

static const char *string_member(const vdit_json *d, vdit_json_value o, const char *name) {
  const char *s = vdit_json_string(d, vdit_json_find(d, o, name), NULL);
  return s ? s : "";
}

static int bool_member(const vdit_json *d, vdit_json_value o, const char *name) {
  return vdit_json_type_of(d, vdit_json_find(d, o, name)) == VDIT_JSON_TRUE;
}

static double number_member(const vdit_json *d, vdit_json_value o, const char *name) {
  double x = 0;
  vdit_json_value v = vdit_json_find(d, o, name);
  if (vdit_json_type_of(d, v) != VDIT_JSON_NUMBER || vdit_json_get_double(d, v, &x) != VDIT_OK) return 0;
  return x;
}

static vdit_status read_results(const char *dir, records *all) {
  char path[2048];
  snprintf(path, sizeof path, "%s/results.jsonl", dir);
  FILE *f = fopen(path, "r");
  if (!f) return VDIT_ERROR(VDIT_ERROR_IO, "kbench report: cannot open %s: %s (run 'vdit kbench run --out %s' first)",
                            path, strerror(errno), dir);
  char *line = NULL;
  size_t size = 0;
  ssize_t length;
  int number = 0;
  vdit_status status = VDIT_OK;
  while (status == VDIT_OK && (length = getline(&line, &size, f)) > 0) {
    number++;
    if (length <= 1) continue;
    vdit_json *d = NULL;
    if (vdit_json_parse(line, (size_t)length, NULL, &d, NULL) != VDIT_OK) {
      status = VDIT_ERROR(VDIT_ERROR_CORRUPT_FILE, "kbench report: %s line %d is not JSON: %s", path, number,
                          vdit_last_error());
      break;
    }
    vdit_json_value o = vdit_json_root(d);
    if (all->count == all->capacity) {
      int capacity = all->capacity ? 2 * all->capacity : 256;
      record *items = realloc(all->items, (size_t)capacity * sizeof *items);
      if (!items) { vdit_json_free(d); status = VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "kbench report: no memory"); break; }
      all->items = items, all->capacity = capacity;
    }
    record *r = &all->items[all->count];
    memset(r, 0, sizeof *r);
    snprintf(r->task, sizeof r->task, "%s", string_member(d, o, "task"));
    snprintf(r->method, sizeof r->method, "%s", string_member(d, o, "method"));
    snprintf(r->device, sizeof r->device, "%s", string_member(d, o, "device"));
    vdit_kbench_category c;
    if (vdit_kbench_category_parse(string_member(d, o, "category"), &c) != VDIT_OK || !r->task[0]) {
      vdit_json_free(d);
      status = VDIT_ERROR(VDIT_ERROR_CORRUPT_FILE, "kbench report: %s line %d: no task or an unknown category", path, number);
      break;
    }
    r->category = (int)c;
    r->attempted = bool_member(d, o, "attempted"), r->compiled = bool_member(d, o, "compiled");
    r->correct = bool_member(d, o, "correct"), r->suspect = bool_member(d, o, "suspect");
    r->speedup = number_member(d, o, "speedup");
    r->reason = 0;
    for (int k = 0; k < VDIT_KBENCH_REASON_COUNT; k++)
      if (strcmp(string_member(d, o, "reason"), vdit_kbench_reason_name((vdit_kbench_reason)k)) == 0) r->reason = k;
    all->count++;
    vdit_json_free(d);
  }
  free(line);
  fclose(f);
  return status;
}

typedef struct stats {
  int attempted, compiled, correct, fast1, fastp, timed, slower, suspect;
  double log_speedup;
} stats;

static void add(stats *s, const record *r, double p) {
  if (!r->attempted) return;
  s->attempted++;
  s->compiled += r->compiled;
  s->correct += r->correct;
  if (r->correct && r->speedup > 0) {
    s->timed++;
    s->log_speedup += log(r->speedup);
    s->fast1 += r->speedup > 1;
    s->fastp += r->speedup > p;
    s->slower += r->speedup < 1;
    s->suspect += r->suspect;
  }
}

static double rate(int a, int b) { return b ? (double)a / b : 0; }
static double geomean(const stats *s) { return s->timed ? exp(s->log_speedup / s->timed) : 0; }

// "-" for groups without timed kernels (a baseline run with --no-timing).
static const char *geomean_text(const stats *s, char *buffer, size_t size) {
  if (!s->timed) return "-";
  snprintf(buffer, size, "%.3g", geomean(s));
  return buffer;
}

// The label of a record's group.
static void group_label(const record *r, int several_devices, char *out, size_t size) {
  if (several_devices) snprintf(out, size, "%s @ %s", r->method, r->device);
  else snprintf(out, size, "%s", r->method);
}

// Explained deviance of correctness by one factor (0: category, 1: group).
static double explained_deviance(const records *all, const int *group_of, int group_count, int by_group) {
  int n = 0, levels = by_group ? group_count : VDIT_KBENCH_CATEGORY_COUNT;
  for (int i = 0; i < all->count; i++) n += all->items[i].attempted;
  if (n < 2 || levels < 2) return NAN;
  int p = levels; // intercept + levels - 1 dummies
  double *x = calloc((size_t)n * (size_t)p, sizeof *x), *y = calloc((size_t)n, sizeof *y), *beta = calloc((size_t)p, sizeof *beta);
  double result = NAN;
  if (x && y && beta) {
    int row = 0;
    int *used = calloc((size_t)levels, sizeof *used);
    for (int i = 0; i < all->count && used; i++) {
      if (!all->items[i].attempted) continue;
      int level = by_group ? group_of[i] : all->items[i].category;
      x[row * p] = 1;
      if (level > 0) x[row * p + level] = 1;
      used[level] = 1;
      y[row++] = all->items[i].correct;
    }
    // Drop levels without data (their column would be all zero): give them a dummy row weight.
    for (int level = 1; used && level < levels; level++)
      if (!used[level]) for (int r = 0; r < n; r++) x[r * p + level] = 0;
    double d = 0, d0 = 0;
    int q = 0; // compact the columns that have data
    for (int level = 0; used && level < levels; level++) {
      if (level > 0 && !used[level]) continue;
      for (int r = 0; r < n; r++) x[r * p + q] = x[r * p + level];
      q++;
    }
    double *compact = used ? malloc((size_t)n * (size_t)q * sizeof *compact) : NULL;
    if (compact) {
      for (int r = 0; r < n; r++)
        for (int j = 0; j < q; j++) compact[r * q + j] = x[r * p + j];
      if (vdit_kbench_logistic_fit(n, q, compact, y, beta, &d, &d0) == VDIT_OK && d0 > 1e-9) result = 1 - d / d0;
    }
    free(compact), free(used);
  }
  free(x), free(y), free(beta);
  return result;
}

// A grouped bar chart: values[category][group] in [0, max]; one SVG file.
static vdit_status write_bars(const char *path, const char *title, int group_count, char labels[][160],
                              double values[][MAX_GROUPS], double max, int log_scale) {
  FILE *f = fopen(path, "w");
  if (!f) return VDIT_ERROR(VDIT_ERROR_IO, "kbench report: cannot write %s: %s", path, strerror(errno));
  static const char *const colors[] = {"#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1"};
  int width = 900, height = 360, left = 60, bottom = 110, top = 40;
  double slot = (double)(width - left - 20) / VDIT_KBENCH_CATEGORY_COUNT, bar = slot * 0.8 / (group_count ? group_count : 1);
  fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" font-size=\"11\">\n",
          width, height);
  fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n<text x=\"%d\" y=\"20\" font-size=\"14\">%s</text>\n", left, title);
  double plot = height - bottom - top;
  double lo = log_scale ? log10(1.0 / max) : 0, hi = log_scale ? log10(max) : max;
  for (int t = 0; t <= 4; t++) {
    double v = lo + (hi - lo) * t / 4, yy = height - bottom - plot * t / 4;
    fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", left, width - 20, yy, yy);
    fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.3g</text>\n", left - 4, yy + 4, log_scale ? pow(10, v) : v);
  }
  for (int c = 0; c < VDIT_KBENCH_CATEGORY_COUNT; c++) {
    double x0 = left + slot * c + slot * 0.1;
    for (int g = 0; g < group_count; g++) {
      double v = values[c][g];
      if (!(v > 0)) continue;
      double s = log_scale ? (log10(v) - lo) / (hi - lo) : v / max;
      s = fmin(fmax(s, 0), 1);
      double base = log_scale ? height - bottom - plot * (0 - lo) / (hi - lo) : height - bottom;
      double yy = height - bottom - plot * s;
      fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"/>\n", x0 + bar * g,
              fmin(yy, base), bar * 0.95, fabs(base - yy), colors[g % 7]);
    }
    fprintf(f, "<text transform=\"translate(%.1f,%d) rotate(45)\">%s</text>\n", x0, height - bottom + 12,
            vdit_kbench_category_name((vdit_kbench_category)c));
  }
  for (int g = 0; g < group_count; g++)
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"10\" height=\"10\" fill=\"%s\"/><text x=\"%d\" y=\"%d\">%s</text>\n",
            left + 200 * g + 150, 10, colors[g % 7], left + 200 * g + 164, 19, labels[g]);
  fputs("</svg>\n", f);
  fclose(f);
  return VDIT_OK;
}

vdit_status vdit_kbench_report(int dir_count, const char *const *dirs, const char *out_dir, double fast_p, FILE *text) {
  if (dir_count < 1) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "kbench report: no run folders given");
  records all = {0};
  vdit_status status = VDIT_OK;
  for (int i = 0; i < dir_count && status == VDIT_OK; i++) status = read_results(dirs[i], &all);
  if (status == VDIT_OK && all.count == 0)
    status = VDIT_ERROR(VDIT_ERROR_CORRUPT_FILE, "kbench report: no results in the given folders");
  if (status != VDIT_OK) { free(all.items); return status; }

  // Devices and groups.
  char devices[MAX_DEVICES][128];
  int device_count = 0;
  for (int i = 0; i < all.count; i++) {
    int found = 0;
    for (int d = 0; d < device_count; d++) found |= strcmp(devices[d], all.items[i].device) == 0;
    if (!found && device_count < MAX_DEVICES) snprintf(devices[device_count++], 128, "%s", all.items[i].device);
  }
  int several = device_count > 1;
  char labels[MAX_GROUPS][160];
  int group_count = 0;
  int *group_of = calloc(all.count > 0 ? (size_t)all.count : 1, sizeof *group_of);
  if (!group_of) { free(all.items); return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "kbench report: no memory"); }
  for (int i = 0; i < all.count; i++) {
    char label[160];
    group_label(&all.items[i], several, label, sizeof label);
    int g = 0;
    while (g < group_count && strcmp(labels[g], label) != 0) g++;
    if (g == group_count && group_count < MAX_GROUPS) snprintf(labels[group_count++], 160, "%s", label);
    group_of[i] = g < MAX_GROUPS ? g : MAX_GROUPS - 1;
  }
  static stats per[VDIT_KBENCH_CATEGORY_COUNT][MAX_GROUPS], total[MAX_GROUPS];
  memset(per, 0, sizeof per), memset(total, 0, sizeof total);
  int reasons[MAX_GROUPS][VDIT_KBENCH_REASON_COUNT];
  memset(reasons, 0, sizeof reasons);
  for (int i = 0; i < all.count; i++) {
    add(&per[all.items[i].category][group_of[i]], &all.items[i], fast_p);
    add(&total[group_of[i]], &all.items[i], fast_p);
    if (all.items[i].attempted) reasons[group_of[i]][all.items[i].reason]++;
  }
  double by_category = explained_deviance(&all, group_of, group_count, 0);
  double by_method = explained_deviance(&all, group_of, group_count, 1);

  // Cross-GPU spread: per (task, method) over devices, the variance of log speedup.
  double spread_sum[VDIT_KBENCH_CATEGORY_COUNT] = {0}, spread_all = 0;
  int spread_count[VDIT_KBENCH_CATEGORY_COUNT] = {0}, spread_total = 0;
  if (several) {
    for (int i = 0; i < all.count; i++) {
      const record *a = &all.items[i];
      if (!a->correct || !(a->speedup > 0)) continue;
      int first = 1;
      for (int j = 0; j < i; j++)
        if (strcmp(all.items[j].task, a->task) == 0 && strcmp(all.items[j].method, a->method) == 0 &&
            all.items[j].correct && all.items[j].speedup > 0) first = 0;
      if (!first) continue;
      double sum = 0, sq = 0;
      int n = 0;
      for (int j = i; j < all.count; j++) {
        const record *b = &all.items[j];
        if (strcmp(b->task, a->task) || strcmp(b->method, a->method) || !b->correct || !(b->speedup > 0)) continue;
        double l = log(b->speedup);
        sum += l, sq += l * l, n++;
      }
      if (n < 2) continue;
      double variance = (sq - sum * sum / n) / (n - 1);
      spread_sum[a->category] += variance, spread_count[a->category]++;
      spread_all += variance, spread_total++;
    }
  }

  mkdir(out_dir, 0755);
  char path[2048];
  snprintf(path, sizeof path, "%s/report.md", out_dir);
  FILE *md = fopen(path, "w");
  if (!md) { free(all.items), free(group_of); return VDIT_ERROR(VDIT_ERROR_IO, "kbench report: cannot write %s: %s", path, strerror(errno)); }
  fprintf(md, "# kbench report\n\nRuns: ");
  for (int i = 0; i < dir_count; i++) fprintf(md, "%s`%s`", i ? ", " : "", dirs[i]);
  fprintf(md, "\nDevices: ");
  for (int d = 0; d < device_count; d++) fprintf(md, "%s%s", d ? ", " : "", devices[d]);
  fprintf(md, "\n\nRates are over attempted tasks (a candidate file exists). fast_1 / fast_%.3g: correct and faster than "
              "the baseline by more than 1x / %.3gx. Geomean speedup and the share slower than the baseline are over "
              "correct, timed kernels.\n\n", fast_p, fast_p);
  fprintf(md, "## By method\n\n| | method | attempted | compile | correct | fast_1 | fast_%.3g | geomean | slower |\n|---|---|---|---|---|---|---|---|---|\n", fast_p);
  for (int g = 0; g < group_count; g++) {
    char cell[32];
    fprintf(md, "| all | %s | %d | %.2f | %.2f | %.2f | %.2f | %s | %.2f |\n", labels[g], total[g].attempted,
            rate(total[g].compiled, total[g].attempted), rate(total[g].correct, total[g].attempted),
            rate(total[g].fast1, total[g].attempted), rate(total[g].fastp, total[g].attempted),
            geomean_text(&total[g], cell, sizeof cell), rate(total[g].slower, total[g].timed));
  }
  fprintf(md, "\n## By category and method\n\n| category | method | attempted | compile | correct | fast_1 | fast_%.3g | geomean | slower |\n|---|---|---|---|---|---|---|---|---|\n", fast_p);
  for (int c = 0; c < VDIT_KBENCH_CATEGORY_COUNT; c++)
    for (int g = 0; g < group_count; g++) {
      const stats *s = &per[c][g];
      if (!s->attempted) continue;
      char cell[32];
      fprintf(md, "| %s | %s | %d | %.2f | %.2f | %.2f | %.2f | %s | %.2f |\n",
              vdit_kbench_category_name((vdit_kbench_category)c), labels[g], s->attempted, rate(s->compiled, s->attempted),
              rate(s->correct, s->attempted), rate(s->fast1, s->attempted), rate(s->fastp, s->attempted),
              geomean_text(s, cell, sizeof cell), rate(s->slower, s->timed));
    }
  fprintf(md, "\n## Failure reasons\n\n| method | reason | tasks |\n|---|---|---|\n");
  for (int g = 0; g < group_count; g++)
    for (int k = 1; k < VDIT_KBENCH_REASON_COUNT; k++)
      if (reasons[g][k]) fprintf(md, "| %s | %s | %d |\n", labels[g], vdit_kbench_reason_name((vdit_kbench_reason)k), reasons[g][k]);
  fprintf(md, "\n## What explains correctness\n\nShare of the binomial deviance of `correct` explained by a logistic GLM "
              "(IRLS) on the category alone and on the method alone (1 - D / D_null; n/a when every kernel passed or "
              "every one failed):\n\n| factor | explained deviance |\n|---|---|\n");
  char number[32];
  snprintf(number, sizeof number, isnan(by_category) ? "n/a" : "%.3f", by_category);
  fprintf(md, "| category | %s |\n", number);
  snprintf(number, sizeof number, isnan(by_method) ? "n/a" : "%.3f", by_method);
  fprintf(md, "| method | %s |\n", number);
  if (several) {
    fprintf(md, "\n## Across GPUs\n\nVariance of ln(speedup) of the same task and method across devices (mean over "
                "tasks correct on at least two):\n\n| category | tasks | mean variance |\n|---|---|---|\n");
    for (int c = 0; c < VDIT_KBENCH_CATEGORY_COUNT; c++)
      if (spread_count[c])
        fprintf(md, "| %s | %d | %.4g |\n", vdit_kbench_category_name((vdit_kbench_category)c), spread_count[c],
                spread_sum[c] / spread_count[c]);
    fprintf(md, "| all | %d | %.4g |\n", spread_total, spread_total ? spread_all / spread_total : 0.0);
  }
  fprintf(md, "\n![correctness](correctness.svg)\n\n![speedup](speedup.svg)\n");
  fclose(md);

  // report.json: the by-method and by-category numbers.
  snprintf(path, sizeof path, "%s/report.json", out_dir);
  FILE *js = fopen(path, "w");
  if (!js) { free(all.items), free(group_of); return VDIT_ERROR(VDIT_ERROR_IO, "kbench report: cannot write %s", path); }
  fprintf(js, "{\"fast_p\": %g, \"explained_deviance\": {\"category\": ", fast_p);
  if (isnan(by_category)) fputs("null", js); else fprintf(js, "%.4f", by_category);
  fputs(", \"method\": ", js);
  if (isnan(by_method)) fputs("null", js); else fprintf(js, "%.4f", by_method);
  fprintf(js, "}, \"cross_gpu_log_speedup_variance\": ");
  if (several && spread_total) fprintf(js, "%.6g", spread_all / spread_total); else fputs("null", js);
  fputs(", \"groups\": [", js);
  for (int g = 0; g < group_count; g++) {
    fprintf(js, "%s{\"method\": \"%s\", \"attempted\": %d, \"compile_rate\": %.4f, \"correct_rate\": %.4f, "
                "\"fast_1\": %.4f, \"fast_p\": %.4f, \"geomean_speedup\": %.4g, \"timed\": %d, \"slower_share\": %.4f, \"categories\": {",
            g ? ", " : "", labels[g], total[g].attempted, rate(total[g].compiled, total[g].attempted),
            rate(total[g].correct, total[g].attempted), rate(total[g].fast1, total[g].attempted),
            rate(total[g].fastp, total[g].attempted), geomean(&total[g]), total[g].timed, rate(total[g].slower, total[g].timed));
    int first = 1;
    for (int c = 0; c < VDIT_KBENCH_CATEGORY_COUNT; c++) {
      const stats *s = &per[c][g];
      if (!s->attempted) continue;
      fprintf(js, "%s\"%s\": {\"attempted\": %d, \"correct_rate\": %.4f, \"fast_1\": %.4f, \"geomean_speedup\": %.4g}",
              first ? "" : ", ", vdit_kbench_category_name((vdit_kbench_category)c), s->attempted,
              rate(s->correct, s->attempted), rate(s->fast1, s->attempted), geomean(s));
      first = 0;
    }
    fputs("}}", js);
  }
  fputs("]}\n", js);
  fclose(js);

  static double values[VDIT_KBENCH_CATEGORY_COUNT][MAX_GROUPS];
  double max_speedup = 2;
  for (int c = 0; c < VDIT_KBENCH_CATEGORY_COUNT; c++)
    for (int g = 0; g < group_count; g++) {
      values[c][g] = per[c][g].attempted ? rate(per[c][g].correct, per[c][g].attempted) : 0;
      double s = geomean(&per[c][g]);
      if (s > 0) max_speedup = fmax(max_speedup, fmax(s, 1 / s));
    }
  snprintf(path, sizeof path, "%s/correctness.svg", out_dir);
  status = write_bars(path, "Correctness rate by category", group_count, labels, values, 1.0, 0);
  for (int c = 0; c < VDIT_KBENCH_CATEGORY_COUNT; c++)
    for (int g = 0; g < group_count; g++) values[c][g] = geomean(&per[c][g]);
  snprintf(path, sizeof path, "%s/speedup.svg", out_dir);
  if (status == VDIT_OK)
    status = write_bars(path, "Geomean speedup over the baseline (log scale, correct kernels)", group_count, labels, values,
                        max_speedup, 1);
  if (status == VDIT_OK && text) {
    fprintf(text, "%-28s %9s %8s %8s %7s %7s %8s %7s\n", "method", "attempted", "compile", "correct", "fast_1", "fast_p",
            "geomean", "slower");
    for (int g = 0; g < group_count; g++)
    {
      char cell[32];
      fprintf(text, "%-28s %9d %8.2f %8.2f %7.2f %7.2f %8s %7.2f\n", labels[g], total[g].attempted,
              rate(total[g].compiled, total[g].attempted), rate(total[g].correct, total[g].attempted),
              rate(total[g].fast1, total[g].attempted), rate(total[g].fastp, total[g].attempted),
              geomean_text(&total[g], cell, sizeof cell), rate(total[g].slower, total[g].timed));
    }
    if (isnan(by_category) || isnan(by_method))
      fprintf(text, "explained deviance of correctness: n/a (every kernel passed, or every one failed)\n");
    else
      fprintf(text, "explained deviance of correctness: category %.3f, method %.3f\n", by_category, by_method);
    if (several && spread_total)
      fprintf(text, "cross-GPU variance of ln(speedup): %.4g over %d tasks\n", spread_all / spread_total, spread_total);
    fprintf(text, "report: %s/report.md\n", out_dir);
  }
  free(all.items), free(group_of);
  return status;
}
