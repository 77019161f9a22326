// Every adversarial CPU candidate in tests/kbench/adversarial is rejected with the right
// reason; the reference method passes the same tasks.
#include "kbench_test_util.h"

typedef struct adversary {
  const char *kind, *task;
  vdit_kbench_reason expected;
} adversary;

int main(void) {
  static const adversary cases[] = {
      {"stale", "relu", VDIT_KBENCH_STALE_OUTPUT},
      {"nothing", "relu", VDIT_KBENCH_UNWRITTEN},
      {"zero_input", "relu", VDIT_KBENCH_INPUT_MODIFIED},
      {"edit_input", "layer_norm", VDIT_KBENCH_INPUT_MODIFIED},
      {"hardcoded_shape", "softmax", VDIT_KBENCH_SHAPE_SPECIFIC},
      {"skip_rows", "rms_norm", VDIT_KBENCH_PARTIAL_ROWS},
      {"fake_quant", "quant_int8_row", VDIT_KBENCH_CONTRACT_MISMATCH},
      {"fake_quant", "w8a8_linear", VDIT_KBENCH_CONTRACT_MISMATCH},
      {"compile_error", "relu", VDIT_KBENCH_COMPILE_ERROR},
      {"crash", "relu", VDIT_KBENCH_CRASH},
      {"hang", "relu", VDIT_KBENCH_TIMEOUT},
      {"nondeterministic", "sum_rows", VDIT_KBENCH_NONDETERMINISTIC},
      {"constant_output", "sum_rows", VDIT_KBENCH_INACCURATE},
      {"nothing", "gelu_tanh", VDIT_KBENCH_MISSING},
  };
  char dir[1024];
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    snprintf(dir, sizeof dir, "%s/tests/kbench/adversarial/%s", kbench_test_root(), cases[i].kind);
    vdit_kbench_options o = kbench_test_options(VDIT_DEVICE_CPU, dir);
    o.timeout_s = 5;
    kbench_expect(&o, cases[i].task, cases[i].expected);
  }
  // The same tasks from the reference method (compiled by the evaluator from source) pass.
  snprintf(dir, sizeof dir, "%s/kbench/methods/reference", kbench_test_root());
  vdit_kbench_options o = kbench_test_options(VDIT_DEVICE_CPU, dir);
  const char *tasks[] = {"relu", "layer_norm", "softmax", "rms_norm", "quant_int8_row", "w8a8_linear", "sum_rows"};
  for (size_t i = 0; i < sizeof tasks / sizeof tasks[0]; i++) kbench_expect(&o, tasks[i], VDIT_KBENCH_PASS);
  return check_finish("test_kbench_adversarial");
}
