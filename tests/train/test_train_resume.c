// Bitwise resume: N steps straight against N/2 steps, a checkpoint, a fresh trainer loading
// it and N/2 more steps. The two final checkpoints (weights, token table, EMA, Adam moments,
// step) must be the same bytes. Also: a checkpoint of another model config is refused, and
// the trainer's held-out loss is reproducible.
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "synthetic_source.h"
#include "vdit/train.h"

static unsigned char *read_all(const char *path, size_t *size) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *data = malloc((size_t)n);
  *size = fread(data, 1, (size_t)n, f);
  fclose(f);
  return data;
}

static void run_steps(vdit_trainer *t, int64_t count, double *last_loss) {
  for (int64_t i = 0; i < count; i++) {
    vdit_train_step_info info;
    CHECK_OK(vdit_trainer_step(t, &info));
    *last_loss = info.loss;
  }
}

int main(void) {
  const char *tmp = getenv("VDIT_TEST_TMP") ? getenv("VDIT_TEST_TMP") : ".";
  char straight[1024], half[1024], resumed[1024];
  snprintf(straight, sizeof straight, "%s/resume_straight.safetensors", tmp);
  snprintf(half, sizeof half, "%s/resume_half.safetensors", tmp);
  snprintf(resumed, sizeof resumed, "%s/resume_resumed.safetensors", tmp);

  vdit_train_config config;
  synthetic_tiny_config(&config);
  config.steps = 6;
  config.caption_dropout = 0.3; // some captions dropped, drawn from the step's stream
  config.clip = 0.5;            // clipping active
  synthetic_source data = {0};
  vdit_train_source source;
  synthetic_source_init(&source, &data);

  vdit_trainer *a = NULL, *b = NULL, *c = NULL;
  double loss_a = 0, loss_b = 0;
  CHECK_OK(vdit_trainer_create(&config, &source, &a));
  run_steps(a, 6, &loss_a);
  CHECK_OK(vdit_trainer_save(a, straight));
  double eval_a[VDIT_TRAIN_BUCKETS], eval_again[VDIT_TRAIN_BUCKETS], eval_c[VDIT_TRAIN_BUCKETS];
  CHECK_OK(vdit_trainer_evaluate(a, eval_a));
  CHECK_OK(vdit_trainer_evaluate(a, eval_again));

  CHECK_OK(vdit_trainer_create(&config, &source, &b));
  run_steps(b, 3, &loss_b);
  CHECK_OK(vdit_trainer_save(b, half));
  vdit_trainer_free(b);
  CHECK_OK(vdit_trainer_create(&config, &source, &c));
  CHECK_OK(vdit_trainer_load(c, half));
  CHECK_EQ_INT(vdit_trainer_step_index(c), 3);
  run_steps(c, 3, &loss_b);
  CHECK_OK(vdit_trainer_save(c, resumed));
  CHECK_OK(vdit_trainer_evaluate(c, eval_c));
  CHECK_EQ_FLOAT_BITS((float)loss_a, (float)loss_b);
  for (int k = 0; k < VDIT_TRAIN_BUCKETS; k++) {
    CHECK(eval_a[k] == eval_again[k]);
    CHECK(eval_a[k] == eval_c[k]);
    CHECK(eval_a[k] > 0);
  }

  size_t size_s = 0, size_r = 0;
  unsigned char *s = read_all(straight, &size_s), *r = read_all(resumed, &size_r);
  CHECK(s && r);
  CHECK_EQ_INT(size_s, size_r);
  if (s && r && size_s == size_r) CHECK(memcmp(s, r, size_s) == 0);
  printf("straight 6 steps vs 3 + save + load + 3: %zu-byte checkpoints %s, loss %.6f\n", size_s,
         s && r && size_s == size_r && memcmp(s, r, size_s) == 0 ? "identical" : "DIFFER", loss_a);
  free(s);
  free(r);

  // The checkpoint is a bundle: it loads for generation, with the trained weights.
  vdit_bundle bundle;
  CHECK_OK(vdit_bundle_load(resumed, &bundle));
  CHECK_EQ_INT(bundle.config.vocab, SYNTHETIC_VOCAB);
  CHECK(strcmp(bundle.words[7], "right") == 0);
  CHECK(memcmp(bundle.weights.data, vdit_trainer_bundle(c)->weights.data, bundle.weights.floats * sizeof(float)) == 0);
  vdit_bundle_free(&bundle);

  // Another model config refuses the checkpoint, naming the difference.
  vdit_train_config other = config;
  other.bundle.model.layers = 3;
  vdit_trainer *d = NULL;
  CHECK_OK(vdit_trainer_create(&other, &source, &d));
  CHECK_STATUS(vdit_trainer_load(d, resumed), VDIT_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(vdit_last_error(), "differs") != NULL);
  // A bundle (no optimizer state) is not a checkpoint.
  char exported[1024];
  snprintf(exported, sizeof exported, "%s/resume_export.safetensors", tmp);
  CHECK_OK(vdit_trainer_export(c, exported));
  CHECK_STATUS(vdit_trainer_load(a, exported), VDIT_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(vdit_last_error(), "not a checkpoint") != NULL);

  vdit_trainer_free(a);
  vdit_trainer_free(c);
  vdit_trainer_free(d);
  remove(straight);
  remove(half);
  remove(resumed);
  remove(exported);
  return check_finish("test_train_resume");
}
