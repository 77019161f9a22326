// vdit kbench: a hardened, category-aware kernel evaluator (the KernelBench-X method).
// A task registry in 15 categories, each task with seeded input generators, an fp64 CPU
// reference, a tolerance policy and FLOP/byte counts; an evaluator that builds candidate
// kernels (C shared objects on the CPU, CUDA through NVRTC and the driver API), checks them
// against the reference with the defences of docs/kbench.md and times them against a
// baseline; and a report over many runs. Candidates see only kbench/include/kb.h.
#ifndef VDIT_KBENCH_H
#define VDIT_KBENCH_H

#include <stdint.h>
#include <stdio.h>

#include "vdit/base.h"
#include "vdit/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum vdit_kbench_category {
  VDIT_KBENCH_FUSION = 0,
  VDIT_KBENCH_MATH,
  VDIT_KBENCH_LINEAR_ALGEBRA,
  VDIT_KBENCH_ACTIVATION,
  VDIT_KBENCH_MATRIX_MULTIPLY,
  VDIT_KBENCH_INDEX,
  VDIT_KBENCH_LOSS,
  VDIT_KBENCH_QUANTIZATION,
  VDIT_KBENCH_REDUCE,
  VDIT_KBENCH_NORMALIZATION,
  VDIT_KBENCH_OPTIMIZER,
  VDIT_KBENCH_SPATIAL_OPS,
  VDIT_KBENCH_CONVOLUTION,
  VDIT_KBENCH_POOLING,
  VDIT_KBENCH_RANDOM,
  VDIT_KBENCH_CATEGORY_COUNT
} vdit_kbench_category;

// "Fusion", "Math", "LinearAlgebra", ... (KernelBench-X spelling).
const char *vdit_kbench_category_name(vdit_kbench_category category);
vdit_status vdit_kbench_category_parse(const char *name, vdit_kbench_category *category);

typedef struct vdit_kbench_task_info {
  const char *name;        // file stem of a candidate: "layer_norm"
  vdit_kbench_category category;
  int difficulty;          // 1 (elementwise) .. 5 (fused attention, quantized GEMM)
  int exact;               // 1: outputs must match the contract bit for bit
  const char *summary;     // one line: formula and argument layout
  int shape_count;         // correctness shapes (the first is the standard one)
} vdit_kbench_task_info;

int vdit_kbench_task_count(void);
vdit_status vdit_kbench_task_get(int index, vdit_kbench_task_info *info);
// Index of the task called `name`, or -1.
int vdit_kbench_task_find(const char *name);

// Why a candidate failed (or "pass"); the report groups by it.
typedef enum vdit_kbench_reason {
  VDIT_KBENCH_PASS = 0,
  VDIT_KBENCH_MISSING,           // no file for the task in the method folder
  VDIT_KBENCH_COMPILE_ERROR,     // the C compiler or NVRTC refused it (log kept)
  VDIT_KBENCH_LOAD_ERROR,        // dlopen / cuModuleLoadData / missing entry point
  VDIT_KBENCH_LAUNCH_ERROR,      // a bad launch plan, a CUDA fault, a non-zero kb_run
  VDIT_KBENCH_CRASH,             // the CPU candidate's process died (signal)
  VDIT_KBENCH_TIMEOUT,           // the CPU candidate ran past the time limit
  VDIT_KBENCH_SIDE_STREAM,       // work outside the evaluator's stream (GPU)
  VDIT_KBENCH_INPUT_MODIFIED,    // an input differs after the run
  VDIT_KBENCH_UNWRITTEN,         // output elements still hold the poison
  VDIT_KBENCH_STALE_OUTPUT,      // the same output for fresh inputs (cached result)
  VDIT_KBENCH_SHAPE_SPECIFIC,    // right on the standard shape, wrong on another
  VDIT_KBENCH_PARTIAL_ROWS,      // the first rows right, the rest wrong
  VDIT_KBENCH_CONTRACT_MISMATCH, // an exact task's bits differ from the contract
  VDIT_KBENCH_INACCURATE,        // beyond the magnitude-aware bound
  VDIT_KBENCH_NONFINITE,         // NaN or inf where the reference is finite
  VDIT_KBENCH_NONDETERMINISTIC,  // two runs on the same inputs differ
  VDIT_KBENCH_REASON_COUNT
} vdit_kbench_reason;

// "pass", "missing", "compile_error", ...
const char *vdit_kbench_reason_name(vdit_kbench_reason reason);

// The result of one task for one method.
typedef struct vdit_kbench_result {
  char task[48];
  char method[64];
  vdit_kbench_category category;
  int difficulty;
  int attempted;                 // a candidate file exists
  int compiled;                  // built and loaded
  int correct;
  vdit_kbench_reason reason;
  char detail[320];              // one line: where and by how much it failed
  int trials;                    // trials run (shapes x seeds)
  double error, baseline_error;  // max |x - ref| of the candidate / of the same-dtype baseline
  double bound;                  // what error had to stay under
  double cosine, rel_l1, rmse;   // worst over trials
  double time_ms, baseline_time_ms, speedup; // 0 when not timed
  double roofline_ms;            // the fastest time the FLOP and byte counts allow
  int suspect;                   // faster than the roofline allows
} vdit_kbench_result;

typedef struct vdit_kbench_options {
  vdit_device_type device;       // CPU: C shared objects; CUDA: NVRTC + driver API
  const char *method_dir;        // the candidates: <task>.c / <task>.so (cpu), <task>.cu (cuda)
  const char *baseline_dir;      // timing baseline method (NULL: no timing)
  const char *include_dir;       // where kb.h lives (NULL: the source tree's kbench/include)
  const char *vdit_include_dir;  // include/ for C candidates that call vdit (NULL: the source tree's)
  const char *cc;                // C compiler for .c candidates (NULL: $CC or "cc")
  const char *build_dir;         // where built objects go (NULL: a temporary folder)
  const char *tasks;             // comma-separated task names or categories (NULL: all)
  int trials;                    // seeds per shape, >= 5 (0: 5)
  int repetitions;               // timed repetitions, >= 20 (0: 20)
  double warmup_ms;              // time-based warm-up per kernel (0: 25 ms)
  int timing_shape_standard;     // 1: time on the standard correctness shape (fast CI runs)
  uint64_t seed;                 // base seed (0: 1)
  double tolerance_scale;        // k in error <= k * baseline error + tiny (0: per task)
  double timeout_s;              // per task on the CPU (0: 60)
  double peak_tflops, peak_gbs;  // the roofline (0: the device's defaults, docs/kbench.md)
} vdit_kbench_options;

// Evaluates one task (by index). The result's detail explains a failure.
vdit_status vdit_kbench_evaluate(const vdit_kbench_options *options, int task, vdit_kbench_result *result);

// Evaluates every selected task, writes <out_dir>/results.jsonl (one JSON object per task)
// and <out_dir>/run.json (device, method, options), and prints one line per task to `log`
// (may be NULL). *passed / *total (may be NULL) count the correct and attempted tasks.
vdit_status vdit_kbench_run(const vdit_kbench_options *options, const char *out_dir, FILE *log, int *passed,
                            int *total);

// One JSON object (no newline) for a result, as results.jsonl holds it; gpu names the device.
void vdit_kbench_result_write_json(const vdit_kbench_result *result, const char *device, FILE *out);

// Reads results.jsonl of each folder and writes report.md, report.json and the SVG charts into
// out_dir: per category and method the compile and correctness rates, fast_1 and fast_p,
// geomean speedup of correct kernels, share of correct kernels slower than the baseline; the
// deviance of correctness explained by category and by method (logistic GLMs); the spread of
// speedups across GPUs when the folders come from several.
vdit_status vdit_kbench_report(int dir_count, const char *const *dirs, const char *out_dir, double fast_p,
                               FILE *log);

// Logistic regression by iteratively reweighted least squares: y (n) in {0, 1}, x (n, p)
// row-major (include an intercept column yourself). beta (p) is written; *deviance and
// *null_deviance (intercept-only) are for the explained-deviance share 1 - D / D0.
// A tiny ridge term keeps separable data finite.
vdit_status vdit_kbench_logistic_fit(int n, int p, const double *x, const double *y, double *beta, double *deviance,
                                     double *null_deviance);

#ifdef __cplusplus
}
#endif

#endif // VDIT_KBENCH_H
