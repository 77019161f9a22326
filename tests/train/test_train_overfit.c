// A tiny model memorises a tiny synthetic dataset (4 clips with distinct captions): the mean
// held-out loss over the five t buckets (the same 4 clips, fixed noise and t) must fall by at
// least a factor of FACTOR within STEPS steps. A broken gradient, optimizer or data path fails.
#include <stdio.h>

#include "check.h"
#include "synthetic_source.h"
#include "vdit/train.h"

enum { STEPS = 600 };
static const double FACTOR = 6.0; // measured: x10.5 at 600 steps

static double mean_eval(vdit_trainer *t) {
  double loss[VDIT_TRAIN_BUCKETS], mean = 0;
  CHECK_OK(vdit_trainer_evaluate(t, loss));
  for (int k = 0; k < VDIT_TRAIN_BUCKETS; k++) mean += loss[k] / VDIT_TRAIN_BUCKETS;
  return mean;
}

int main(void) {
  vdit_train_config config;
  synthetic_tiny_config(&config);
  config.steps = STEPS;
  config.batch = 4;
  config.lr = 3e-3;
  config.min_lr = 3e-4;
  config.warmup = 10;
  config.caption_dropout = 0;
  config.eval_clips = 4;
  synthetic_source data = {4};
  vdit_train_source source;
  synthetic_source_init(&source, &data);
  vdit_trainer *t = NULL;
  CHECK_OK(vdit_trainer_create(&config, &source, &t));
  if (!t) return check_finish("test_train_overfit");
  const double before = mean_eval(t);
  double first_loss = 0, last_loss = 0;
  for (int i = 0; i < STEPS; i++) {
    vdit_train_step_info info;
    CHECK_OK(vdit_trainer_step(t, &info));
    if (i == 0) first_loss = info.loss;
    last_loss = info.loss;
  }
  const double after = mean_eval(t);
  printf("held-out loss %.5f -> %.5f after %d steps (x%.1f less; train loss %.5f -> %.5f)\n", before, after, STEPS,
         before / after, first_loss, last_loss);
  CHECK(after * FACTOR < before);
  vdit_trainer_free(t);
  return check_finish("test_train_overfit");
}
