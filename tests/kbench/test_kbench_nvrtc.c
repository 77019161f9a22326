// Every bundled CUDA candidate compiles with NVRTC for sm_90 (no GPU needed), and the
// compile-time defences answer: a device-side launch is side_stream, a syntax error is
// compile_error with its log.
#include "kbench_test_util.h"

#ifdef VDIT_HAVE_CUDA
#include "kbench/kbench_internal.h"

static int compile(const char *dir, const char *task, vdit_kbench_reason expected) {
  char path[2048], detail[320];
  snprintf(path, sizeof path, "%s/%s.cu", dir, task);
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  fclose(f);
  void *cubin = NULL;
  size_t size = 0;
  vdit_kbench_reason reason = VDIT_KBENCH_PASS;
  const char *tmp = getenv("VDIT_TEST_TMP");
  CHECK_OK(kb_nvrtc_compile(path, 9, 0, NULL, tmp, &cubin, &size, &reason, detail, sizeof detail));
  if (reason != expected) fprintf(stderr, "  %s: %s (%s)\n", path, vdit_kbench_reason_name(reason), detail);
  CHECK(reason == expected);
  CHECK((cubin != NULL) == (expected == VDIT_KBENCH_PASS));
  free(cubin);
  return 1;
}
#endif

int main(void) {
#ifndef VDIT_HAVE_CUDA
  return check_skip("test_kbench_nvrtc", "built without CUDA");
#else
  char dir[1024];
  const char *methods[] = {"reference", "engine"};
  for (int m = 0; m < 2; m++) {
    snprintf(dir, sizeof dir, "%s/kbench/methods/%s", kbench_test_root(), methods[m]);
    int compiled = 0;
    for (int t = 0; t < vdit_kbench_task_count(); t++) {
      vdit_kbench_task_info info;
      CHECK_OK(vdit_kbench_task_get(t, &info));
      compiled += compile(dir, info.name, VDIT_KBENCH_PASS);
    }
    printf("  %s: %d CUDA candidates compiled\n", methods[m], compiled);
    CHECK(compiled >= (m == 0 ? vdit_kbench_task_count() : 10));
  }
  const struct { const char *kind, *task; vdit_kbench_reason expected; } adversaries[] = {
      {"side_stream", "relu", VDIT_KBENCH_SIDE_STREAM}, {"compile_error", "relu", VDIT_KBENCH_COMPILE_ERROR},
      {"stale", "relu", VDIT_KBENCH_PASS},              {"nothing", "relu", VDIT_KBENCH_PASS},
      {"zero_input", "relu", VDIT_KBENCH_PASS},         {"edit_input", "layer_norm", VDIT_KBENCH_PASS},
      {"hardcoded_shape", "softmax", VDIT_KBENCH_PASS}, {"skip_rows", "rms_norm", VDIT_KBENCH_PASS},
      {"fake_quant", "w8a8_linear", VDIT_KBENCH_PASS},  {"fake_quant", "quant_int8_row", VDIT_KBENCH_PASS},
  };
  for (size_t i = 0; i < sizeof adversaries / sizeof adversaries[0]; i++) {
    snprintf(dir, sizeof dir, "%s/tests/kbench/adversarial/%s", kbench_test_root(), adversaries[i].kind);
    CHECK(compile(dir, adversaries[i].task, adversaries[i].expected));
  }
  return check_finish("test_kbench_nvrtc");
#endif
}
