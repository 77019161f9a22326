// On a GPU: every adversarial CUDA candidate is rejected with the right reason through
// NVRTC and the driver API, and the bundled methods pass the same tasks.
#include "kbench_test_util.h"

int main(void) {
  int gpus = 0;
  vdit_gpu_count(&gpus);
  if (!vdit_built_with_cuda() || gpus == 0) return check_skip("test_kbench_adversarial_gpu", "no GPU");
  static const struct { const char *kind, *task; vdit_kbench_reason expected; } cases[] = {
      {"stale", "relu", VDIT_KBENCH_STALE_OUTPUT},
      {"nothing", "relu", VDIT_KBENCH_UNWRITTEN},
      {"zero_input", "relu", VDIT_KBENCH_INPUT_MODIFIED},
      {"edit_input", "layer_norm", VDIT_KBENCH_INPUT_MODIFIED},
      {"hardcoded_shape", "softmax", VDIT_KBENCH_SHAPE_SPECIFIC},
      {"skip_rows", "rms_norm", VDIT_KBENCH_PARTIAL_ROWS},
      {"fake_quant", "quant_int8_row", VDIT_KBENCH_CONTRACT_MISMATCH},
      {"fake_quant", "w8a8_linear", VDIT_KBENCH_CONTRACT_MISMATCH},
      {"side_stream", "relu", VDIT_KBENCH_SIDE_STREAM},
      {"compile_error", "relu", VDIT_KBENCH_COMPILE_ERROR},
  };
  char dir[1024];
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    snprintf(dir, sizeof dir, "%s/tests/kbench/adversarial/%s", kbench_test_root(), cases[i].kind);
    vdit_kbench_options o = kbench_test_options(VDIT_DEVICE_CUDA, dir);
    kbench_expect(&o, cases[i].task, cases[i].expected);
  }
  const char *methods[] = {"reference", "engine"};
  const char *tasks[] = {"relu", "layer_norm", "softmax", "rms_norm", "quant_int8_row", "w8a8_linear"};
  for (int m = 0; m < 2; m++) {
    snprintf(dir, sizeof dir, "%s/kbench/methods/%s", kbench_test_root(), methods[m]);
    vdit_kbench_options o = kbench_test_options(VDIT_DEVICE_CUDA, dir);
    for (size_t i = 0; i < sizeof tasks / sizeof tasks[0]; i++) {
      char path[1200];
      snprintf(path, sizeof path, "%s/%s.cu", dir, tasks[i]);
      FILE *f = fopen(path, "r");
      if (!f) continue;
      fclose(f);
      kbench_expect(&o, tasks[i], VDIT_KBENCH_PASS);
    }
  }
  return check_finish("test_kbench_adversarial_gpu");
}
