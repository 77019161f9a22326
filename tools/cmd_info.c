// vdit info: version, build options, CPU features and threads, and each GPU.
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "commands.h"
#include "vdit/base.h"
#include "vdit/build_config.h"

typedef struct cpu_description {
  char model[256];
  char features[256];
  int logical_cores;
  int threads; // OpenMP threads vdit will use
} cpu_description;

static void describe_cpu(cpu_description *cpu) {
  memset(cpu, 0, sizeof *cpu);
  snprintf(cpu->model, sizeof cpu->model, "unknown");
  FILE *file = fopen("/proc/cpuinfo", "r");
  if (file) {
    char line[512];
    while (fgets(line, sizeof line, file)) {
      if (strncmp(line, "model name", 10) == 0 && strchr(line, ':')) {
        const char *value = strchr(line, ':') + 1;
        while (*value == ' ') value++;
        snprintf(cpu->model, sizeof cpu->model, "%s", value);
        cpu->model[strcspn(cpu->model, "\n")] = '\0';
        break;
      }
    }
    fclose(file);
  }
  size_t used = 0;
#if defined(__x86_64__) || defined(__i386__)
  static const char *const names[] = {"sse4.2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512bf16"};
  __builtin_cpu_init();
  int supported[8] = {__builtin_cpu_supports("sse4.2"), __builtin_cpu_supports("avx"),
                      __builtin_cpu_supports("avx2"), __builtin_cpu_supports("fma"),
                      __builtin_cpu_supports("f16c"), __builtin_cpu_supports("avx512f"),
                      __builtin_cpu_supports("avx512bw"), __builtin_cpu_supports("avx512bf16")};
  for (int i = 0; i < 8; i++)
    if (supported[i] && used + strlen(names[i]) + 2 < sizeof cpu->features)
      used += (size_t)snprintf(cpu->features + used, sizeof cpu->features - used, "%s%s", used ? " " : "", names[i]);
#endif
  if (used == 0) snprintf(cpu->features, sizeof cpu->features, "none detected");
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  cpu->logical_cores = cores > 0 ? (int)cores : 1;
#ifdef _OPENMP
  cpu->threads = omp_get_max_threads();
#else
  cpu->threads = 1;
#endif
}

static void print_text(const cpu_description *cpu, int gpu_count, const vdit_gpu_info *gpus) {
  printf("vdit %s (%s build, %s)\n", VDIT_VERSION_STRING, VDIT_BUILD_TYPE, VDIT_BUILD_C_COMPILER);
  printf("build: cuda %s%s%s, openmp %s, sanitizers %s\n", vdit_built_with_cuda() ? "on" : "off",
         vdit_built_with_cuda() ? " " : "", vdit_built_with_cuda() ? VDIT_BUILD_CUDA_GENCODE : "",
         strcmp(VDIT_BUILD_OPENMP, "TRUE") == 0 ? "on" : "off",
         strcmp(VDIT_BUILD_SANITIZE, "ON") == 0 ? "on" : "off");
  printf("cpu: %s, %d logical cores, %d threads\n", cpu->model, cpu->logical_cores, cpu->threads);
  printf("cpu features: %s\n", cpu->features);
  if (gpu_count == 0) {
    printf("gpus: none%s\n", vdit_built_with_cuda() ? " found" : " (built without CUDA)");
    return;
  }
  for (int i = 0; i < gpu_count; i++)
    printf("gpu %d: %s, sm_%d%d, %d SMs, %.1f GiB (%.1f GiB free), L2 %.0f MiB, %d MHz\n", i,
           gpus[i].name, gpus[i].compute_major, gpus[i].compute_minor, gpus[i].sm_count,
           (double)gpus[i].memory_total_bytes / (1 << 30), (double)gpus[i].memory_free_bytes / (1 << 30),
           (double)gpus[i].l2_cache_bytes / (1 << 20), gpus[i].clock_mhz);
}

static void print_json(const cpu_description *cpu, int gpu_count, const vdit_gpu_info *gpus) {
  printf("{\"version\": \"%s\", \"build_type\": \"%s\", \"cuda\": %s, \"cuda_gencode\": ",
         VDIT_VERSION_STRING, VDIT_BUILD_TYPE, vdit_built_with_cuda() ? "true" : "false");
  cli_print_json_string(vdit_built_with_cuda() ? VDIT_BUILD_CUDA_GENCODE : "");
  printf(", \"openmp\": %s, \"cpu\": {\"model\": ", strcmp(VDIT_BUILD_OPENMP, "TRUE") == 0 ? "true" : "false");
  cli_print_json_string(cpu->model);
  printf(", \"features\": ");
  cli_print_json_string(cpu->features);
  printf(", \"logical_cores\": %d, \"threads\": %d}, \"gpus\": [", cpu->logical_cores, cpu->threads);
  for (int i = 0; i < gpu_count; i++) {
    printf("%s{\"name\": ", i ? ", " : "");
    cli_print_json_string(gpus[i].name);
    printf(", \"compute_capability\": \"%d.%d\", \"sm_count\": %d, \"memory_bytes\": %zu, "
           "\"memory_free_bytes\": %zu, \"l2_bytes\": %zu, \"clock_mhz\": %d}",
           gpus[i].compute_major, gpus[i].compute_minor, gpus[i].sm_count, gpus[i].memory_total_bytes,
           gpus[i].memory_free_bytes, gpus[i].l2_cache_bytes, gpus[i].clock_mhz);
  }
  printf("]}\n");
}

static int run_info(int argc, char **argv) {
  int json = 0;
  const cli_option options[] = {
      {"json", CLI_FLAG, &json, NULL, "print one JSON object"},
  };
  int code = cli_parse(&cli_command_info,
                       "Prints the version, build options, CPU features and threads, and each GPU's\n"
                       "name, SM count and memory. Works with and without a GPU.",
                       options, 1, argc, argv, NULL, 0, NULL);
  if (code >= 0) return code;

  cpu_description cpu;
  describe_cpu(&cpu);
  enum { MAX_GPUS = 16 };
  vdit_gpu_info gpus[MAX_GPUS];
  int gpu_count = 0;
  vdit_status status = vdit_gpu_count(&gpu_count);
  if (status != VDIT_OK) return cli_report_failure("info", status);
  if (gpu_count > MAX_GPUS) gpu_count = MAX_GPUS;
  for (int i = 0; i < gpu_count; i++) {
    status = vdit_gpu_query(i, &gpus[i]);
    if (status != VDIT_OK) return cli_report_failure("info", status);
  }
  if (json) print_json(&cpu, gpu_count, gpus);
  else print_text(&cpu, gpu_count, gpus);
  return CLI_EXIT_OK;
}

const cli_command cli_command_info = {
    .name = "info",
    .summary = "version, build options, CPU and GPUs",
    .usage = "vdit info [--json]",
    .run = run_info,
};
