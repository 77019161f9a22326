// vdit ops bench: times the CPU linear layer (the fp32 GEMM of src/ops/cpu/gemm.c) forward
// and backward at one size and prints ms and GFLOP/s for each GEMM: forward y = x W^T,
// backward dx = dy W and dweight = dy^T x (2 N in out FLOP each): the median and the best of
// --repeat runs (the best shows what the cores give when nothing else runs on them).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "commands.h"
#include "vdit/ops.h"

typedef struct bench_options {
  int64_t tokens, in, out, repeat, warmup, seed;
  int json;
} bench_options;

static int compare_doubles(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

typedef struct bench_tensors {
  vdit_tensor x, w, b, y, dy, dx, dw;
} bench_tensors;

// Runs GEMM `which` (0 forward, 1 dx, 2 dweight) once.
static vdit_status run_once(bench_tensors *t, int which) {
  if (which == 0) return vdit_ops_linear_forward(&t->x, &t->w, NULL, &t->y);
  if (which == 1) return vdit_ops_linear_backward(NULL, &t->w, &t->dy, &t->dx, NULL, NULL, VDIT_GRAD_OVERWRITE);
  return vdit_ops_linear_backward(&t->x, NULL, &t->dy, NULL, &t->dw, NULL, VDIT_GRAD_OVERWRITE);
}

static int run_bench(int argc, char **argv) {
  bench_options o = {512, 512, 512, 10, 2, 1, 0};
  const cli_option option_table[] = {
      {"tokens", CLI_INT, &o.tokens, "N", "rows of x, N (default 512)"},
      {"in", CLI_INT, &o.in, "N", "input features (default 512)"},
      {"out", CLI_INT, &o.out, "N", "output features (default 512)"},
      {"repeat", CLI_INT, &o.repeat, "N", "timed runs per GEMM, median reported (default 10)"},
      {"warmup", CLI_INT, &o.warmup, "N", "untimed runs first (default 2)"},
      {"seed", CLI_INT, &o.seed, "N", "Philox seed of the inputs (default 1)"},
      {"json", CLI_FLAG, &o.json, NULL, "print one JSON object"},
  };
  int code = cli_parse(&cli_command_ops,
                       "Times the CPU linear layer's three fp32 GEMMs (forward y = x W^T, backward\n"
                       "dx = dy W and dweight = dy^T x) at one size: median ms of --repeat runs after\n"
                       "--warmup, and GFLOP/s (2 N in out each). OMP_NUM_THREADS sets the threads.\n"
                       "docs/ops.md has measured numbers.",
                       option_table, (int)(sizeof option_table / sizeof option_table[0]), argc, argv, NULL, 0, NULL);
  if (code >= 0) return code;
  const char *hint = "see 'vdit ops bench --help'";
  if (o.tokens < 1 || o.in < 1 || o.out < 1 || o.tokens > 65536 || o.in > 65536 || o.out > 65536)
    return cli_usage_error("ops bench", hint, "--tokens, --in and --out must be in 1..65536");
  if (o.repeat < 1 || o.warmup < 0)
    return cli_usage_error("ops bench", hint, "--repeat must be >= 1 and --warmup >= 0");

  bench_tensors t;
  memset(&t, 0, sizeof t);
  const int64_t xs[2] = {o.tokens, o.in}, ws[2] = {o.out, o.in}, ys[2] = {o.tokens, o.out};
  vdit_status status = vdit_tensor_alloc(&t.x, VDIT_DTYPE_F32, VDIT_CPU, 2, xs);
  if (status == VDIT_OK) status = vdit_tensor_alloc(&t.w, VDIT_DTYPE_F32, VDIT_CPU, 2, ws);
  if (status == VDIT_OK) status = vdit_tensor_alloc(&t.y, VDIT_DTYPE_F32, VDIT_CPU, 2, ys);
  if (status == VDIT_OK) status = vdit_tensor_alloc(&t.dy, VDIT_DTYPE_F32, VDIT_CPU, 2, ys);
  if (status == VDIT_OK) status = vdit_tensor_alloc(&t.dx, VDIT_DTYPE_F32, VDIT_CPU, 2, xs);
  if (status == VDIT_OK) status = vdit_tensor_alloc(&t.dw, VDIT_DTYPE_F32, VDIT_CPU, 2, ws);
  if (status == VDIT_OK) status = vdit_tensor_fill_normal(&t.x, (uint64_t)o.seed, 0, 0.0, 1.0);
  if (status == VDIT_OK) status = vdit_tensor_fill_normal(&t.w, (uint64_t)o.seed + 1, 0, 0.0, 0.05);
  if (status == VDIT_OK) status = vdit_tensor_fill_normal(&t.dy, (uint64_t)o.seed + 2, 0, 0.0, 1.0);
  double *times = calloc((size_t)o.repeat, sizeof *times);
  double ms[3] = {0, 0, 0}, best_ms[3] = {0, 0, 0};
  if (!times && status == VDIT_OK) status = VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "no memory");
  for (int which = 0; which < 3 && status == VDIT_OK; which++) {
    for (int64_t i = 0; i < o.warmup && status == VDIT_OK; i++) status = run_once(&t, which);
    for (int64_t i = 0; i < o.repeat && status == VDIT_OK; i++) {
      const double start = vdit_time_seconds();
      status = run_once(&t, which);
      times[i] = vdit_time_seconds() - start;
    }
    qsort(times, (size_t)o.repeat, sizeof *times, compare_doubles);
    ms[which] = 1e3 * times[o.repeat / 2];
    best_ms[which] = 1e3 * times[0];
  }
  free(times);
  vdit_tensor *all[7] = {&t.x, &t.w, &t.b, &t.y, &t.dy, &t.dx, &t.dw};
  for (int i = 0; i < 7; i++) vdit_tensor_free(all[i]);
  if (status != VDIT_OK) return cli_report_failure("ops bench", status);

  int threads = 1;
#ifdef _OPENMP
  threads = omp_get_max_threads();
#endif
  const double flop = 2.0 * (double)o.tokens * (double)o.in * (double)o.out;
  static const char *const names[3] = {"forward", "dx", "dweight"};
  if (o.json) {
    printf("{\"op\": \"linear\", \"device\": \"cpu\", \"dtype\": \"f32\", \"threads\": %d, \"tokens\": %lld, "
           "\"in\": %lld, \"out\": %lld, \"repeat\": %lld",
           threads, (long long)o.tokens, (long long)o.in, (long long)o.out, (long long)o.repeat);
    for (int k = 0; k < 3; k++)
      printf(", \"%s\": {\"ms\": %.4f, \"gflops\": %.2f, \"best_ms\": %.4f, \"best_gflops\": %.2f}", names[k],
             ms[k], flop / (ms[k] * 1e-3) / 1e9, best_ms[k], flop / (best_ms[k] * 1e-3) / 1e9);
    printf("}\n");
  } else {
    printf("ops bench: linear f32 on the CPU, %d threads, N=%lld in=%lld out=%lld (median and best of %lld)\n",
           threads, (long long)o.tokens, (long long)o.in, (long long)o.out, (long long)o.repeat);
    for (int k = 0; k < 3; k++)
      printf("  %-8s %9.3f ms  %7.1f GFLOP/s   best %9.3f ms  %7.1f GFLOP/s\n", names[k], ms[k],
             flop / (ms[k] * 1e-3) / 1e9, best_ms[k], flop / (best_ms[k] * 1e-3) / 1e9);
  }
  return CLI_EXIT_OK;
}

static int run_ops(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "bench") == 0) return run_bench(argc - 1, argv + 1);
  if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
    printf("usage: vdit ops bench [options]\n\n"
           "  bench   time the CPU linear layer's GEMMs (see 'vdit ops bench --help')\n");
    return CLI_EXIT_OK;
  }
  if (argc < 2) return cli_usage_error("ops", "see 'vdit ops --help'", "missing subcommand: bench");
  static const char *const subcommands[] = {"bench", NULL};
  const char *closest = cli_closest(argv[1], subcommands);
  char hint[96];
  snprintf(hint, sizeof hint, "%s%s%ssee 'vdit ops --help'", closest ? "did you mean '" : "", closest ? closest : "",
           closest ? "'? " : "");
  return cli_usage_error("ops", hint, "unknown subcommand '%s'", argv[1]);
}

const cli_command cli_command_ops = {
    .name = "ops",
    .summary = "transformer ops: bench the CPU linear layer (GEMM)",
    .usage = "vdit ops bench [--tokens N] [--in N] [--out N] [--repeat N] [--json]",
    .run = run_ops,
};
