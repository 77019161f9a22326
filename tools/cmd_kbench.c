// vdit kbench: the hardened kernel evaluator (docs/kbench.md).
//   vdit kbench list [--category NAME]
//   vdit kbench run --method DIR --device cpu|cuda --out DIR [--baseline DIR] [--tasks LIST] ...
//   vdit kbench report DIR... [--out DIR] [--p X]
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "vdit/kbench.h"

#ifndef VDIT_KBENCH_SOURCE_DIR
#define VDIT_KBENCH_SOURCE_DIR "."
#endif

static int run_list(int argc, char **argv) {
  static const cli_command command = {"kbench list", "", "vdit kbench list [options]", NULL};
  const char *category = NULL;
  int json = 0;
  const cli_option table[] = {
      {"category", CLI_STRING, &category, "NAME", "only this category (Fusion, Math, ..., Random)"},
      {"json", CLI_FLAG, &json, NULL, "one JSON object per task"},
  };
  int code = cli_parse(&command, "Lists the kbench tasks: name, category, difficulty, exact or tolerance, formula.",
                       table, 2, argc, argv, NULL, 0, NULL);
  if (code >= 0) return code;
  vdit_kbench_category wanted = VDIT_KBENCH_CATEGORY_COUNT;
  if (category && vdit_kbench_category_parse(category, &wanted) != VDIT_OK) {
    const char *names[VDIT_KBENCH_CATEGORY_COUNT + 1];
    for (int i = 0; i < VDIT_KBENCH_CATEGORY_COUNT; i++) names[i] = vdit_kbench_category_name((vdit_kbench_category)i);
    names[VDIT_KBENCH_CATEGORY_COUNT] = NULL;
    return cli_unknown_word("kbench list", "category", "", category, names, "see 'vdit kbench list'");
  }
  int shown = 0, per_category[VDIT_KBENCH_CATEGORY_COUNT] = {0};
  for (int i = 0; i < vdit_kbench_task_count(); i++) {
    vdit_kbench_task_info t;
    vdit_kbench_task_get(i, &t);
    if (wanted != VDIT_KBENCH_CATEGORY_COUNT && t.category != wanted) continue;
    per_category[t.category]++;
    shown++;
    if (json) {
      printf("{\"name\": ");
      cli_print_json_string(t.name);
      printf(", \"category\": \"%s\", \"difficulty\": %d, \"exact\": %s, \"shapes\": %d, \"summary\": ",
             vdit_kbench_category_name(t.category), t.difficulty, t.exact ? "true" : "false", t.shape_count);
      cli_print_json_string(t.summary);
      printf("}\n");
    } else {
      printf("%-22s %-15s %d  %-9s %s\n", t.name, vdit_kbench_category_name(t.category), t.difficulty,
             t.exact ? "exact" : "tolerance", t.summary);
    }
  }
  if (!json) {
    int categories = 0;
    for (int c = 0; c < VDIT_KBENCH_CATEGORY_COUNT; c++) categories += per_category[c] > 0;
    printf("%d tasks in %d categories\n", shown, categories);
  }
  return CLI_EXIT_OK;
}

static int run_run(int argc, char **argv) {
  static const cli_command command = {"kbench run", "", "vdit kbench run --method DIR --device cpu|cuda --out DIR", NULL};
  const char *method = NULL, *baseline = NULL, *out = NULL, *device_text = "cpu", *tasks = NULL, *include = NULL,
             *cc = NULL;
  int64_t trials = 5, reps = 20, seed = 1;
  double warmup_ms = 25, timeout = 60, tolerance = 0, peak_tflops = 0, peak_gbs = 0;
  int no_timing = 0, standard_timing = 0, quiet = 0;
  const cli_option table[] = {
      {"method", CLI_STRING, &method, "DIR", "folder of candidates: <task>.c or .so (cpu), <task>.cu (cuda)"},
      {"device", CLI_STRING, &device_text, "cpu|cuda", "where candidates run (default cpu)"},
      {"out", CLI_STRING, &out, "DIR", "where results.jsonl and run.json go"},
      {"baseline", CLI_STRING, &baseline, "DIR", "timing baseline method (default: the bundled reference method)"},
      {"no-timing", CLI_FLAG, &no_timing, NULL, "check correctness only"},
      {"tasks", CLI_STRING, &tasks, "LIST", "comma-separated task or category names (default all)"},
      {"trials", CLI_INT, &trials, "N", "fresh seeded inputs per shape, >= 5 (default 5)"},
      {"reps", CLI_INT, &reps, "N", "timed repetitions, >= 20 (default 20)"},
      {"warmup-ms", CLI_DOUBLE, &warmup_ms, "X", "time-based warm-up per kernel in ms (default 25)"},
      {"standard-timing", CLI_FLAG, &standard_timing, NULL, "time on the small standard shape (quick runs)"},
      {"seed", CLI_INT, &seed, "N", "base seed of the inputs (default 1)"},
      {"tolerance", CLI_DOUBLE, &tolerance, "K", "k of error <= k x baseline error (default per task, 8)"},
      {"timeout", CLI_DOUBLE, &timeout, "S", "seconds per task on the CPU (default 60)"},
      {"peak-tflops", CLI_DOUBLE, &peak_tflops, "X", "roofline compute peak (default: cpu 2, cuda 989)"},
      {"peak-gbs", CLI_DOUBLE, &peak_gbs, "X", "roofline bandwidth in GB/s (default: cpu 400, cuda 3350)"},
      {"include", CLI_STRING, &include, "DIR", "folder of kb.h (default the source tree's kbench/include)"},
      {"cc", CLI_STRING, &cc, "CMD", "C compiler for .c candidates (default $CC or cc)"},
      {"quiet", CLI_FLAG, &quiet, NULL, "no line per task"},
  };
  int code = cli_parse(&command,
                       "Checks every task's candidate in --method against the fp64 reference (fresh seeded inputs,\n"
                       "poisoned outputs, input checksums, a magnitude-aware bound, determinism, exact contracts)\n"
                       "and times the correct ones against the baseline method. docs/kbench.md has the details.",
                       table, (int)(sizeof table / sizeof table[0]), argc, argv, NULL, 0, NULL);
  if (code >= 0) return code;
  const char *hint = "see 'vdit kbench run --help'";
  if (!method) return cli_usage_error("kbench run", hint, "missing --method DIR");
  if (!out) return cli_usage_error("kbench run", hint, "missing --out DIR");
  vdit_device device;
  code = cli_parse_device("kbench run", device_text, &device);
  if (code >= 0) return code;
  if (trials < 5 || trials > 1000) return cli_usage_error("kbench run", hint, "--trials must be in 5..1000");
  if (reps < 20 || reps > 100000) return cli_usage_error("kbench run", hint, "--reps must be in 20..100000");
  if (!(warmup_ms >= 0) || !(timeout > 0) || !(tolerance >= 0))
    return cli_usage_error("kbench run", hint, "--warmup-ms, --tolerance must be >= 0 and --timeout > 0");
  char default_baseline[1100];
  if (!baseline && !no_timing) {
    const char *root = getenv("VDIT_KBENCH_ROOT");
    snprintf(default_baseline, sizeof default_baseline, "%s/kbench/methods/reference",
             root && *root ? root : VDIT_KBENCH_SOURCE_DIR);
    baseline = default_baseline;
  }
  vdit_kbench_options o = {.device = device.type, .method_dir = method, .baseline_dir = no_timing ? NULL : baseline,
                           .include_dir = include, .cc = cc, .tasks = tasks, .trials = (int)trials,
                           .repetitions = (int)reps, .warmup_ms = warmup_ms, .timing_shape_standard = standard_timing,
                           .seed = (uint64_t)seed, .tolerance_scale = tolerance, .timeout_s = timeout,
                           .peak_tflops = peak_tflops, .peak_gbs = peak_gbs};
  int passed = 0, total = 0;
  vdit_status status = vdit_kbench_run(&o, out, quiet ? NULL : stdout, &passed, &total);
  if (status != VDIT_OK) return cli_report_failure("kbench run", status);
  printf("kbench: %d of %d attempted tasks correct; results in %s/results.jsonl\n", passed, total, out);
  return CLI_EXIT_OK;
}

static int run_report(int argc, char **argv) {
  static const cli_command command = {"kbench report", "", "vdit kbench report DIR... [--out DIR]", NULL};
  const char *out = NULL;
  double p = 2.0;
  const cli_option table[] = {
      {"out", CLI_STRING, &out, "DIR", "where report.md, report.json and the SVG charts go (default the first DIR)"},
      {"p", CLI_DOUBLE, &p, "X", "the speedup threshold of fast_p (default 2)"},
  };
  const char *dirs[64];
  int count = 0;
  int code = cli_parse(&command,
                       "Summarizes kbench runs (folders holding results.jsonl): per category and method the\n"
                       "compile and correctness rates, fast_1, fast_p, geomean speedup, share slower than the\n"
                       "baseline; correctness deviance explained by category vs by method; cross-GPU spread.",
                       table, 2, argc, argv, dirs, 64, &count);
  if (code >= 0) return code;
  if (count < 1) return cli_usage_error("kbench report", "see 'vdit kbench report --help'", "missing the DIR argument");
  if (!(p > 0)) return cli_usage_error("kbench report", "see 'vdit kbench report --help'", "--p must be > 0");
  vdit_status status = vdit_kbench_report(count, dirs, out ? out : dirs[0], p, stdout);
  if (status != VDIT_OK) return cli_report_failure("kbench report", status);
  return CLI_EXIT_OK;
}

static int run_kbench(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "run") == 0) return run_run(argc - 1, argv + 1);
  if (argc >= 2 && strcmp(argv[1], "report") == 0) return run_report(argc - 1, argv + 1);
  if (argc >= 2 && strcmp(argv[1], "list") == 0) return run_list(argc - 1, argv + 1);
  if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
    printf("usage: vdit kbench run|report|list [options]\n\n"
           "  run     check and time a method's kernels (see 'vdit kbench run --help')\n"
           "  report  summarize runs: rates, fast_p, speedups, deviance (see 'vdit kbench report --help')\n"
           "  list    the tasks by category\n");
    return CLI_EXIT_OK;
  }
  if (argc < 2) return cli_usage_error("kbench", "see 'vdit kbench --help'", "missing subcommand: run, report or list");
  static const char *const subcommands[] = {"run", "report", "list", NULL};
  return cli_unknown_word("kbench", "subcommand", "", argv[1], subcommands, "see 'vdit kbench --help'");
}

const cli_command cli_command_kbench = {"kbench", "check and time candidate kernels by category (KernelBench-X)",
                                        "vdit kbench run|report|list [options]", run_kbench};
