// The bundled methods on the CPU: every reference candidate (built by CMake as a shared
// object) passes every task, every engine candidate passes its task; the report over both
// runs has the expected numbers; the logistic GLM matches the closed form.
#include <math.h>
#include <sys/stat.h>

#include "kbench_test_util.h"

static void test_logistic_fit(void) {
  // One binary factor: the MLE gives each group its own proportion, so the deviance is known.
  enum { N = 20 };
  double x[N * 2], y[N], beta[2], d = 0, d0 = 0;
  for (int i = 0; i < N; i++) {
    int group = i >= 10;
    x[i * 2] = 1, x[i * 2 + 1] = group;
    y[i] = group ? (i - 10 < 2) : (i < 8); // group 0: 8 of 10, group 1: 2 of 10
  }
  CHECK_OK(vdit_kbench_logistic_fit(N, 2, x, y, beta, &d, &d0));
  double expected = -2 * 2 * (8 * log(0.8) + 2 * log(0.2));
  double expected0 = -2 * 20 * log(0.5);
  CHECK_NEAR(d, expected, 1e-6);
  CHECK_NEAR(d0, expected0, 1e-9);
  CHECK_NEAR(beta[0], log(4.0), 1e-5);
  CHECK_NEAR(beta[1], log(0.25) - log(4.0), 1e-5);
  CHECK_STATUS(vdit_kbench_logistic_fit(0, 2, x, y, beta, &d, &d0), VDIT_ERROR_INVALID_ARGUMENT);
}

int main(void) {
  test_logistic_fit();
  const char *tmp = getenv("VDIT_TEST_TMP");
  char dir[1024], out_reference[1024], out_engine[1024], report[1024];
  snprintf(out_reference, sizeof out_reference, "%s/kbench_reference", tmp ? tmp : "/tmp");
  snprintf(out_engine, sizeof out_engine, "%s/kbench_engine", tmp ? tmp : "/tmp");
  snprintf(report, sizeof report, "%s/kbench_report", tmp ? tmp : "/tmp");

  int passed = 0, total = 0;
  snprintf(dir, sizeof dir, "%s/reference", VDIT_KBENCH_BUILD_DIR);
  vdit_kbench_options o = kbench_test_options(VDIT_DEVICE_CPU, dir);
  o.tasks = NULL;
  CHECK_OK(vdit_kbench_run(&o, out_reference, NULL, &passed, &total));
  printf("  reference: %d of %d tasks correct\n", passed, total);
  CHECK_EQ_INT(total, vdit_kbench_task_count());
  CHECK_EQ_INT(passed, total);

  // The engine method, timed against the reference on the standard shapes.
  snprintf(dir, sizeof dir, "%s/engine", VDIT_KBENCH_BUILD_DIR);
  char baseline[1024];
  snprintf(baseline, sizeof baseline, "%s/reference", VDIT_KBENCH_BUILD_DIR);
  o = kbench_test_options(VDIT_DEVICE_CPU, dir);
  o.baseline_dir = baseline;
  CHECK_OK(vdit_kbench_run(&o, out_engine, NULL, &passed, &total));
  printf("  engine: %d of %d tasks correct\n", passed, total);
  CHECK(total >= 20);
  CHECK_EQ_INT(passed, total);

  const char *dirs[] = {out_reference, out_engine};
  CHECK_OK(vdit_kbench_report(2, dirs, report, 2.0, stdout));
  const char *files[] = {"report.md", "report.json", "correctness.svg", "speedup.svg"};
  for (int i = 0; i < 4; i++) {
    char path[1200];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", report, files[i]);
    CHECK(stat(path, &st) == 0 && st.st_size > 100);
  }
  const char *missing[] = {"/nonexistent-kbench-run"};
  CHECK_STATUS(vdit_kbench_report(1, missing, report, 2.0, NULL), VDIT_ERROR_IO);
  o.method_dir = "/nonexistent-kbench-method";
  CHECK_STATUS(vdit_kbench_run(&o, out_engine, NULL, NULL, NULL), VDIT_ERROR_IO);
  return check_finish("test_kbench_methods");
}
