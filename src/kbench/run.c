// Running a method over the task registry: each CPU task in a child process (a crash or a
// hang is the candidate's failure, not the evaluator's), CUDA tasks in this process; one
// JSON line per task into results.jsonl.
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kbench/kbench_internal.h"

static void json_string(FILE *out, const char *s) {
  fputc('"', out);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') fprintf(out, "\\%c", c);
    else if (c < 0x20) fprintf(out, "\\u%04x", c);
    else fputc(c, out);
  }
  fputc('"', out);
}

static void json_number(FILE *out, double x) {
  if (isfinite(x)) fprintf(out, "%.6g", x);
  else fputs("null", out);
}

void vdit_kbench_result_write_json(const vdit_kbench_result *r, const char *device, FILE *out) {
  fputs("{\"task\": ", out), json_string(out, r->task);
  fputs(", \"method\": ", out), json_string(out, r->method);
  fputs(", \"device\": ", out), json_string(out, device ? device : "");
  fputs(", \"category\": ", out), json_string(out, vdit_kbench_category_name(r->category));
  fprintf(out, ", \"difficulty\": %d, \"attempted\": %s, \"compiled\": %s, \"correct\": %s, \"reason\": ", r->difficulty,
          r->attempted ? "true" : "false", r->compiled ? "true" : "false", r->correct ? "true" : "false");
  json_string(out, vdit_kbench_reason_name(r->reason));
  fputs(", \"detail\": ", out), json_string(out, r->detail);
  fprintf(out, ", \"trials\": %d", r->trials);
  const char *names[] = {"error", "baseline_error", "bound", "cosine", "rel_l1", "rmse", "time_ms", "baseline_time_ms",
                         "speedup", "roofline_ms"};
  double values[] = {r->error, r->baseline_error, r->bound, r->cosine, r->rel_l1, r->rmse, r->time_ms,
                     r->baseline_time_ms, r->speedup, r->roofline_ms};
  for (int i = 0; i < 10; i++) fprintf(out, ", \"%s\": ", names[i]), json_number(out, values[i]);
  fprintf(out, ", \"suspect\": %s}", r->suspect ? "true" : "false");
}

static vdit_status evaluate_in_child(const vdit_kbench_options *o, int task, vdit_kbench_result *result) {
  int fds[2];
  if (pipe(fds) != 0) return VDIT_ERROR(VDIT_ERROR_INTERNAL, "kbench: pipe failed: %s", strerror(errno));
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]), close(fds[1]);
    return VDIT_ERROR(VDIT_ERROR_INTERNAL, "kbench: fork failed: %s", strerror(errno));
  }
  if (pid == 0) {
    close(fds[0]);
    kb_backend b;
    vdit_kbench_result r;
    memset(&r, 0, sizeof r);
    vdit_status status = kb_backend_cpu_init(&b, o);
    if (status == VDIT_OK) status = kb_evaluate_with(&b, o, task, &r), kb_backend_cpu_free(&b);
    char message[512];
    snprintf(message, sizeof message, "%s", status == VDIT_OK ? "" : vdit_last_error());
    ssize_t w1 = write(fds[1], &status, sizeof status);
    ssize_t w2 = write(fds[1], &r, sizeof r);
    ssize_t w3 = write(fds[1], message, sizeof message);
    (void)w1, (void)w2, (void)w3;
    close(fds[1]);
    _exit(0);
  }
  close(fds[1]);
  const kb_task *t = kb_task_at(task);
  memset(result, 0, sizeof *result);
  snprintf(result->task, sizeof result->task, "%s", t->name);
  const char *slash = strrchr(o->method_dir, '/');
  snprintf(result->method, sizeof result->method, "%s", slash && slash[1] ? slash + 1 : o->method_dir);
  result->category = t->category, result->difficulty = t->difficulty, result->attempted = 1, result->compiled = 1;

  unsigned char buffer[sizeof(vdit_status) + sizeof(vdit_kbench_result) + 512];
  size_t got = 0;
  double limit = o->timeout_s > 0 ? o->timeout_s : 60.0, start = vdit_time_seconds();
  int timed_out = 0;
  while (got < sizeof buffer) {
    double left = limit - (vdit_time_seconds() - start);
    if (left <= 0) { timed_out = 1; break; }
    struct pollfd pfd = {fds[0], POLLIN, 0};
    int ready = poll(&pfd, 1, (int)(left * 1000) + 1);
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;
    ssize_t n = read(fds[0], buffer + got, sizeof buffer - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += (size_t)n;
  }
  close(fds[0]);
  if (timed_out) kill(pid, SIGKILL);
  int wstatus = 0;
  while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {}
  if (got == sizeof buffer) {
    vdit_status status;
    memcpy(&status, buffer, sizeof status);
    memcpy(result, buffer + sizeof status, sizeof *result);
    if (status != VDIT_OK) return VDIT_ERROR(status, "%s", (const char *)(buffer + sizeof status + sizeof *result));
    return VDIT_OK;
  }
  result->correct = 0;
  if (timed_out) {
    result->reason = VDIT_KBENCH_TIMEOUT;
    snprintf(result->detail, sizeof result->detail, "no result within %.0f s (killed)", limit);
  } else {
    result->reason = VDIT_KBENCH_CRASH;
    if (WIFSIGNALED(wstatus))
      snprintf(result->detail, sizeof result->detail, "the candidate's process died of signal %d (%s)", WTERMSIG(wstatus),
               strsignal(WTERMSIG(wstatus)));
    else
      snprintf(result->detail, sizeof result->detail, "the candidate's process exited (%d) without a result",
               WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1);
  }
  return VDIT_OK;
}

static vdit_status check_options(const vdit_kbench_options *o) {
  if (!o || !o->method_dir) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "kbench: no method folder given (--method DIR)");
  struct stat st;
  if (stat(o->method_dir, &st) != 0 || !S_ISDIR(st.st_mode))
    return VDIT_ERROR(VDIT_ERROR_IO, "kbench: method folder %s not found (check the path)", o->method_dir);
  if (o->baseline_dir && (stat(o->baseline_dir, &st) != 0 || !S_ISDIR(st.st_mode)))
    return VDIT_ERROR(VDIT_ERROR_IO, "kbench: baseline folder %s not found (check the path)", o->baseline_dir);
  return VDIT_OK;
}

vdit_status vdit_kbench_evaluate(const vdit_kbench_options *options, int task, vdit_kbench_result *result) {
  VDIT_TRY(check_options(options));
  if (!kb_task_at(task)) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "kbench: no task %d", task);
  if (options->device == VDIT_DEVICE_CPU) {
    vdit_kbench_options o = *options;
    char build[1024];
    if (!o.build_dir) {
      const char *tmp = getenv("TMPDIR");
      snprintf(build, sizeof build, "%s/vdit-kbench-%ld", tmp && *tmp ? tmp : "/tmp", (long)getpid());
      o.build_dir = build;
    }
    mkdir(o.build_dir, 0755);
    return evaluate_in_child(&o, task, result);
  }
  kb_backend b;
  VDIT_TRY(kb_backend_cuda_init(&b, options));
  vdit_status status = kb_evaluate_with(&b, options, task, result);
  kb_backend_cuda_free(&b);
  return status;
}

// A task is selected by its name or its category's name in the comma-separated list.
static int selected(const char *list, const kb_task *t) {
  if (!list || !*list) return 1;
  const char *category = vdit_kbench_category_name(t->category);
  size_t name_length = strlen(t->name), category_length = strlen(category);
  for (const char *s = list; *s;) {
    size_t n = strcspn(s, ",");
    if ((n == name_length && strncmp(s, t->name, n) == 0) || (n == category_length && strncmp(s, category, n) == 0))
      return 1;
    s += n;
    if (*s == ',') s++;
  }
  return 0;
}

vdit_status vdit_kbench_run(const vdit_kbench_options *options, const char *out_dir, FILE *log, int *passed,
                            int *total) {
  VDIT_TRY(check_options(options));
  if (options->tasks && *options->tasks) { // every word must name a task or a category
    for (const char *s = options->tasks; *s;) {
      size_t n = strcspn(s, ",");
      char word[128];
      snprintf(word, sizeof word, "%.*s", (int)(n < 127 ? n : 127), s);
      vdit_kbench_category c;
      if (vdit_kbench_task_find(word) < 0 && vdit_kbench_category_parse(word, &c) != VDIT_OK)
        return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "kbench: '%s' is neither a task nor a category (see 'vdit kbench list')", word);
      s += n;
      if (*s == ',') s++;
    }
  }
  mkdir(out_dir, 0755);
  char path[2048];
  snprintf(path, sizeof path, "%s/results.jsonl", out_dir);
  FILE *out = fopen(path, "w");
  if (!out) return VDIT_ERROR(VDIT_ERROR_IO, "kbench: cannot write %s: %s", path, strerror(errno));

  vdit_kbench_options o = *options;
  char build[2048];
  if (!o.build_dir) {
    snprintf(build, sizeof build, "%s/build", out_dir);
    o.build_dir = build;
  }
  mkdir(o.build_dir, 0755);
  kb_backend cuda;
  int have_cuda = 0;
  char device[300] = "cpu";
  vdit_status status = VDIT_OK;
  if (o.device == VDIT_DEVICE_CUDA) {
    status = kb_backend_cuda_init(&cuda, &o);
    if (status != VDIT_OK) {
      fclose(out);
      return status;
    }
    have_cuda = 1;
    snprintf(device, sizeof device, "%s", cuda.device_name);
    // Compile every selected candidate and baseline with NVRTC in parallel first.
    int count = 0, capacity = 2 * vdit_kbench_task_count();
    char (*paths)[2048] = calloc((size_t)capacity, sizeof *paths);
    const char **list = calloc((size_t)capacity, sizeof *list);
    if (paths && list) {
      for (int i = 0; i < vdit_kbench_task_count(); i++) {
        const kb_task *t = kb_task_at(i);
        if (!selected(o.tasks, t)) continue;
        snprintf(paths[count], sizeof paths[count], "%s/%s.cu", o.method_dir, t->name);
        list[count] = paths[count], count++;
        if (o.baseline_dir && strcmp(o.baseline_dir, o.method_dir) != 0) {
          snprintf(paths[count], sizeof paths[count], "%s/%s.cu", o.baseline_dir, t->name);
          list[count] = paths[count], count++;
        }
      }
      long cores = sysconf(_SC_NPROCESSORS_ONLN);
      status = kb_backend_cuda_precompile(&cuda, count, list, cores > 0 ? (int)cores : 4);
    }
    free(paths), free(list);
  }
  int pass_count = 0, attempted = 0;
  for (int i = 0; i < vdit_kbench_task_count() && status == VDIT_OK; i++) {
    const kb_task *t = kb_task_at(i);
    if (!selected(o.tasks, t)) continue;
    vdit_kbench_result r;
    status = have_cuda ? kb_evaluate_with(&cuda, &o, i, &r) : evaluate_in_child(&o, i, &r);
    if (status != VDIT_OK) break;
    vdit_kbench_result_write_json(&r, device, out);
    fputc('\n', out);
    fflush(out);
    attempted += r.attempted;
    pass_count += r.correct;
    if (log && r.attempted) {
      if (r.correct && r.speedup > 0)
        fprintf(log, "%-22s %-15s pass  %.4g ms vs baseline %.4g ms: speedup %.3g%s\n", r.task,
                vdit_kbench_category_name(r.category), r.time_ms, r.baseline_time_ms, r.speedup,
                r.suspect ? " (suspect)" : "");
      else
        fprintf(log, "%-22s %-15s %s  %s\n", r.task, vdit_kbench_category_name(r.category),
                vdit_kbench_reason_name(r.reason), r.detail);
    }
  }
  fclose(out);
  if (have_cuda) kb_backend_cuda_free(&cuda);
  if (status != VDIT_OK) return status;
  snprintf(path, sizeof path, "%s/run.json", out_dir);
  FILE *run = fopen(path, "w");
  if (!run) return VDIT_ERROR(VDIT_ERROR_IO, "kbench: cannot write %s: %s", path, strerror(errno));
  fputs("{\"device\": ", run), json_string(run, device);
  fputs(", \"method\": ", run), json_string(run, o.method_dir);
  fputs(", \"baseline\": ", run), json_string(run, o.baseline_dir ? o.baseline_dir : "");
  fprintf(run, ", \"trials\": %d, \"repetitions\": %d, \"seed\": %llu, \"passed\": %d, \"attempted\": %d}\n",
          o.trials >= 5 ? o.trials : 5, o.repetitions >= 20 ? o.repetitions : 20, (unsigned long long)o.seed,
          pass_count, attempted);
  fclose(run);
  if (passed) *passed = pass_count;
  if (total) *total = attempted;
  return VDIT_OK;
}
