// The CPU backend: C candidates as shared objects. <dir>/<task>.so is loaded as it is (the
// bundled methods, built by CMake); otherwise <dir>/<task>.c is compiled with the system C
// compiler (-O2 -shared -fPIC -ffp-contract=off) into the build folder, its log kept.
// Timing: wall clock after writing a buffer twice the last-level cache (the L2 flush's
// analogue), same protocol as on the GPU.
#define _POSIX_C_SOURCE 200809L
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kbench/kbench_internal.h"

typedef int (*kb_run_fn)(const kb_args *);

typedef struct cpu_kernel {
  void *handle;
  kb_run_fn run;
} cpu_kernel;

typedef struct cpu_state {
  const vdit_kbench_options *options;
  char build_dir[1024];
  unsigned char *flush;
  size_t flush_bytes;
} cpu_state;

static int file_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static const char *method_name(const char *dir) {
  const char *slash = strrchr(dir, '/');
  return slash && slash[1] ? slash + 1 : dir;
}

// Runs argv with stderr and stdout into log_path; returns the exit status (or -1).
static int run_compiler(char *const argv[], const char *log_path) {
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) dup2(fd, 1), dup2(fd, 2);
    execvp(argv[0], argv);
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void first_log_lines(const char *log_path, char *detail, size_t size) {
  FILE *f = fopen(log_path, "r");
  char line[512];
  size_t used = 0;
  detail[0] = 0;
  while (f && fgets(line, sizeof line, f) && used + 2 < size) {
    if (!strstr(line, "error") && used == 0) continue; // the first error line first
    line[strcspn(line, "\n")] = 0;
    used += (size_t)snprintf(detail + used, size - used, "%s%s", used ? " | " : "", line);
  }
  if (f) fclose(f);
}

static vdit_status cpu_load(kb_backend *b, const char *dir, const char *task, void **kernel,
                            vdit_kbench_reason *reason, char *detail, size_t detail_size) {
  cpu_state *s = b->state;
  char so[2048], source[2048];
  snprintf(so, sizeof so, "%s/%s.so", dir, task);
  snprintf(source, sizeof source, "%s/%s.c", dir, task);
  *kernel = NULL;
  *reason = VDIT_KBENCH_PASS;
  if (!file_exists(so)) {
    if (!file_exists(source)) {
      *reason = VDIT_KBENCH_MISSING;
      snprintf(detail, detail_size, "no %s.c or %s.so in %s", task, task, dir);
      return VDIT_OK;
    }
    char out[2048], log[2048], include_kb[1100], include_vdit[1100], default_kb[1024], default_vdit[1024];
    snprintf(default_kb, sizeof default_kb, "%s/kbench/include", kb_source_root());
    snprintf(default_vdit, sizeof default_vdit, "%s/include", kb_source_root());
    snprintf(out, sizeof out, "%s/%s_%s.so", s->build_dir, method_name(dir), task);
    snprintf(log, sizeof log, "%s/%s_%s.log", s->build_dir, method_name(dir), task);
    const char *o_inc = s->options->include_dir ? s->options->include_dir : default_kb;
    const char *v_inc = s->options->vdit_include_dir ? s->options->vdit_include_dir : default_vdit;
    snprintf(include_kb, sizeof include_kb, "-I%s", o_inc);
    snprintf(include_vdit, sizeof include_vdit, "-I%s", v_inc);
    const char *cc = s->options->cc ? s->options->cc : getenv("CC");
    if (!cc || !*cc) cc = "cc";
    char *argv[] = {(char *)cc, "-std=c11", "-O2", "-shared", "-fPIC", "-ffp-contract=off", include_kb, include_vdit,
                    "-o", out, source, NULL};
    int rc = run_compiler(argv, log);
    if (rc != 0) {
      *reason = VDIT_KBENCH_COMPILE_ERROR;
      char lines[240];
      first_log_lines(log, lines, sizeof lines);
      snprintf(detail, detail_size, "%s (exit %d; log %s): %s", cc, rc, log, lines);
      return VDIT_OK;
    }
    snprintf(so, sizeof so, "%s", out);
  }
  cpu_kernel *k = calloc(1, sizeof *k);
  if (!k) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "kbench: no memory");
  k->handle = dlopen(so, RTLD_NOW | RTLD_LOCAL);
  if (!k->handle) {
    *reason = VDIT_KBENCH_LOAD_ERROR;
    snprintf(detail, detail_size, "dlopen %s: %s", so, dlerror());
    free(k);
    return VDIT_OK;
  }
  void *symbol = dlsym(k->handle, "kb_run");
  if (!symbol) {
    *reason = VDIT_KBENCH_LOAD_ERROR;
    snprintf(detail, detail_size, "%s has no kb_run entry point", so);
    dlclose(k->handle);
    free(k);
    return VDIT_OK;
  }
  memcpy(&k->run, &symbol, sizeof symbol);
  *kernel = k;
  return VDIT_OK;
}

static void cpu_unload(kb_backend *b, void *kernel) {
  cpu_kernel *k = kernel;
  if (!k) return;
  if (k->handle) dlclose(k->handle);
  free(k);
}

static vdit_status cpu_alloc(kb_backend *b, const kb_problem *p, kb_buffers *buf) {
  memset(buf, 0, sizeof *buf);
  for (int k = 0; k < p->in_count; k++)
    if (!(buf->in[k] = vdit_host_alloc(kb_tensor_bytes(&p->in[k]) + 64, 64))) goto oom;
  for (int k = 0; k < p->out_count; k++)
    if (!(buf->out[k] = vdit_host_alloc(kb_tensor_bytes(&p->out[k]) + 64, 64))) goto oom;
  if (!(buf->work = vdit_host_alloc(p->work_bytes > 0 ? p->work_bytes : 1024, 64))) goto oom;
  return VDIT_OK;
oom:
  b->release(b, p, buf);
  return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "kbench: no memory for task %s", p->task->name);
}

static void cpu_release(kb_backend *b, const kb_problem *p, kb_buffers *buf) {
  for (int k = 0; k < KB_MAX_IN; k++) vdit_host_free(buf->in[k]);
  for (int k = 0; k < KB_MAX_OUT; k++) vdit_host_free(buf->out[k]);
  vdit_host_free(buf->work);
  memset(buf, 0, sizeof *buf);
}

static vdit_status cpu_upload(kb_backend *b, const kb_problem *p, kb_buffers *buf) {
  for (int k = 0; k < p->in_count; k++) memcpy(buf->in[k], p->in[k].data, kb_tensor_bytes(&p->in[k]));
  return VDIT_OK;
}

static vdit_status cpu_run(kb_backend *b, void *kernel, const kb_problem *p, kb_buffers *buf, int poison,
                           void **out_host, void **in_host, vdit_kbench_reason *reason, char *detail,
                           size_t detail_size) {
  cpu_kernel *k = kernel;
  VDIT_TRY(cpu_upload(b, p, buf));
  for (int o = 0; o < p->out_count; o++) kb_fill_poison(buf->out[o], p->out[o].dtype, p->out[o].count, poison);
  memset(buf->work, poison ? 0x5a : 0xa5, p->work_bytes > 0 ? p->work_bytes : 1024);
  kb_args args;
  kb_make_args(p, buf, &args);
  int rc = k->run(&args);
  if (rc != 0) {
    *reason = VDIT_KBENCH_LAUNCH_ERROR;
    snprintf(detail, detail_size, "kb_run returned %d", rc);
    return VDIT_OK;
  }
  for (int o = 0; o < p->out_count; o++) memcpy(out_host[o], buf->out[o], kb_tensor_bytes(&p->out[o]));
  for (int i = 0; i < p->in_count; i++) memcpy(in_host[i], buf->in[i], kb_tensor_bytes(&p->in[i]));
  return VDIT_OK;
}

static vdit_status cpu_time_once(kb_backend *b, void *kernel, const kb_problem *p, kb_buffers *buf, double *seconds) {
  cpu_state *s = b->state;
  cpu_kernel *k = kernel;
  // Evict the caches: write a buffer twice the size of the last-level cache.
  for (size_t i = 0; i < s->flush_bytes; i += 64) s->flush[i] = (unsigned char)(s->flush[i] + 1);
  kb_args args;
  kb_make_args(p, buf, &args);
  double start = vdit_time_seconds();
  int rc = k->run(&args);
  *seconds = vdit_time_seconds() - start;
  if (rc != 0) return VDIT_ERROR(VDIT_ERROR_INTERNAL, "kbench: %s returned %d while timed", p->task->name, rc);
  return VDIT_OK;
}

static size_t last_level_cache_bytes(void) {
  size_t best = 0;
  for (int index = 0; index < 8; index++) {
    char path[128], text[64];
    snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", index);
    FILE *f = fopen(path, "r");
    if (!f) continue;
    if (fgets(text, sizeof text, f)) {
      char *end = NULL;
      size_t value = (size_t)strtoull(text, &end, 10);
      if (end && (*end == 'K' || *end == 'k')) value <<= 10;
      else if (end && (*end == 'M' || *end == 'm')) value <<= 20;
      if (value > best) best = value;
    }
    fclose(f);
  }
  return best ? best : (size_t)32 << 20;
}

vdit_status kb_backend_cpu_init(kb_backend *b, const vdit_kbench_options *o) {
  memset(b, 0, sizeof *b);
  cpu_state *s = calloc(1, sizeof *s);
  if (!s) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "kbench: no memory");
  s->options = o;
  if (o->build_dir) {
    snprintf(s->build_dir, sizeof s->build_dir, "%s", o->build_dir);
  } else {
    const char *tmp = getenv("TMPDIR");
    snprintf(s->build_dir, sizeof s->build_dir, "%s/vdit-kbench-%ld", tmp && *tmp ? tmp : "/tmp", (long)getpid());
  }
  mkdir(s->build_dir, 0755);
  s->flush_bytes = 2 * last_level_cache_bytes();
  s->flush = calloc(1, s->flush_bytes);
  if (!s->flush) {
    free(s);
    return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "kbench: no memory for the cache flush buffer");
  }
  b->state = s;
  b->device_name = "cpu";
  b->load = cpu_load, b->unload = cpu_unload, b->alloc = cpu_alloc, b->release = cpu_release;
  b->run = cpu_run, b->upload = cpu_upload, b->time_once = cpu_time_once;
  // A generous roofline (no laptop or server core beats it): 2 TFLOP/s, 400 GB/s.
  b->peak_tflops = 2.0, b->peak_gbs = 400.0;
  return VDIT_OK;
}

void kb_backend_cpu_free(kb_backend *b) {
  cpu_state *s = b->state;
  if (s) free(s->flush), free(s);
  b->state = NULL;
}
