// Shared by the kbench tests: options for a folder of candidates and a checked evaluation.
#ifndef VDIT_TESTS_KBENCH_UTIL_H
#define VDIT_TESTS_KBENCH_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vdit/kbench.h"

// The source root (VDIT_KBENCH_ROOT when the test runs away from its source tree).
static inline const char *kbench_test_root(void) {
  const char *root = getenv("VDIT_KBENCH_ROOT");
  return root && *root ? root : VDIT_KBENCH_SOURCE_DIR;
}

static inline vdit_kbench_options kbench_test_options(vdit_device_type device, const char *method_dir) {
  const char *tmp = getenv("VDIT_TEST_TMP");
  static char build[1024];
  snprintf(build, sizeof build, "%s/kbench_build", tmp ? tmp : "/tmp");
  vdit_kbench_options o = {.device = device, .method_dir = method_dir, .build_dir = build, .trials = 5,
                           .repetitions = 20, .warmup_ms = 1, .timing_shape_standard = 1, .seed = 7, .timeout_s = 20};
  return o;
}

// Evaluates `task` from `dir`; checks the reason, prints the detail.
static inline void kbench_expect(const vdit_kbench_options *o, const char *task, vdit_kbench_reason expected) {
  int index = vdit_kbench_task_find(task);
  CHECK(index >= 0);
  if (index < 0) return;
  vdit_kbench_result r;
  vdit_status status = vdit_kbench_evaluate(o, index, &r);
  CHECK(status == VDIT_OK);
  if (status != VDIT_OK) {
    fprintf(stderr, "  %s: %s\n", task, vdit_last_error());
    return;
  }
  printf("  %-18s %-16s -> %-18s %s\n", o->method_dir + (strrchr(o->method_dir, '/') ? strrchr(o->method_dir, '/') - o->method_dir + 1 : 0),
         task, vdit_kbench_reason_name(r.reason), r.detail);
  CHECK(r.reason == expected);
  CHECK(r.correct == (expected == VDIT_KBENCH_PASS));
}

#endif
