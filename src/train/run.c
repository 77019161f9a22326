// `vdit train`'s loop: resume, steps with a progress line, held-out loss, checkpoints, export.
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vdit/train.h"

static void print_eval(FILE *log, int64_t step, const double loss[VDIT_TRAIN_BUCKETS]) {
  fprintf(log, "eval step %lld: held-out loss by t", (long long)step);
  double mean = 0;
  for (int k = 0; k < VDIT_TRAIN_BUCKETS; k++) {
    fprintf(log, " [%.1f,%.1f) %.5f", (double)k / VDIT_TRAIN_BUCKETS, (double)(k + 1) / VDIT_TRAIN_BUCKETS, loss[k]);
    mean += loss[k] / VDIT_TRAIN_BUCKETS;
  }
  fprintf(log, "  mean %.5f\n", mean);
  fflush(log);
}

static vdit_status open_metrics(const char *path, FILE **file) {
  *file = NULL;
  if (!path[0]) return VDIT_OK;
  *file = fopen(path, "a");
  if (!*file) return VDIT_ERROR(VDIT_ERROR_IO, "cannot open the metrics file %s: %s", path, strerror(errno));
  return VDIT_OK;
}

static vdit_status evaluate(vdit_trainer *trainer, int64_t step, FILE *log, FILE *metrics, int newline) {
  double held_out[VDIT_TRAIN_BUCKETS];
  VDIT_TRY(vdit_trainer_evaluate(trainer, held_out));
  if (newline) fputc('\n', log);
  print_eval(log, step, held_out);
  if (metrics) {
    fprintf(metrics, "{\"step\": %lld, \"eval\": [", (long long)step);
    for (int k = 0; k < VDIT_TRAIN_BUCKETS; k++) fprintf(metrics, "%s%.6g", k ? ", " : "", held_out[k]);
    fprintf(metrics, "]}\n");
    fflush(metrics);
  }
  return VDIT_OK;
}

vdit_status vdit_train_run(const vdit_train_config *config, const vdit_train_source *source, FILE *log) {
  if (!log) log = stderr;
  vdit_trainer *trainer = NULL;
  VDIT_TRY(vdit_trainer_create(config, source, &trainer));
  vdit_status status = VDIT_OK;
  if (config->resume[0]) {
    status = vdit_trainer_load(trainer, config->resume);
    if (status == VDIT_OK)
      fprintf(log, "resumed from %s at step %lld\n", config->resume, (long long)vdit_trainer_step_index(trainer));
  }
  const int64_t start = vdit_trainer_step_index(trainer);
  FILE *metrics = NULL;
  if (status == VDIT_OK) status = open_metrics(config->metrics, &metrics);
  if (status == VDIT_OK && config->eval_interval > 0 && start == 0) status = evaluate(trainer, 0, log, metrics, 0);
  vdit_progress progress;
  vdit_progress_begin(&progress, "train", (uint64_t)(config->steps > start ? config->steps - start : 0), log);
  double loss_sum = 0, seconds_sum = 0;
  int64_t loss_count = 0;
  while (status == VDIT_OK && vdit_trainer_step_index(trainer) < config->steps) {
    vdit_train_step_info info;
    status = vdit_trainer_step(trainer, &info);
    if (status != VDIT_OK) break;
    loss_sum += info.loss;
    seconds_sum += info.seconds;
    loss_count++;
    char extra[160];
    snprintf(extra, sizeof extra, "step %lld loss %.5f (mean %.5f) lr %.2e |g| %.3f %.3f s/step", (long long)info.step,
             info.loss, loss_sum / (double)loss_count, info.lr, info.grad_norm, seconds_sum / (double)loss_count);
    vdit_progress_update(&progress, (uint64_t)(info.step - start), extra);
    if (metrics)
      fprintf(metrics, "{\"step\": %lld, \"loss\": %.6g, \"lr\": %.6g, \"grad_norm\": %.6g, \"seconds\": %.4f}\n",
              (long long)info.step, info.loss, info.lr, info.grad_norm, info.seconds);
    const int last = info.step == config->steps;
    if (config->eval_interval > 0 && (info.step % config->eval_interval == 0 || last))
      status = evaluate(trainer, info.step, log, metrics, progress.is_terminal);
    if (status == VDIT_OK && config->checkpoint[0] &&
        ((config->checkpoint_interval > 0 && info.step % config->checkpoint_interval == 0) || last))
      status = vdit_trainer_save(trainer, config->checkpoint);
    if (last) {
      snprintf(extra, sizeof extra, "loss %.5f (mean of %lld steps %.5f), %.3f s/step", info.loss,
               (long long)loss_count, loss_sum / (double)loss_count, seconds_sum / (double)loss_count);
      vdit_progress_end(&progress, extra);
    }
  }
  if (status == VDIT_OK && config->output[0]) {
    status = vdit_trainer_export(trainer, config->output);
    if (status == VDIT_OK) fprintf(log, "model (EMA weights) written to %s\n", config->output);
  }
  if (status == VDIT_OK && config->checkpoint[0]) fprintf(log, "checkpoint: %s\n", config->checkpoint);
  if (metrics) fclose(metrics);
  vdit_trainer_free(trainer);
  return status;
}
