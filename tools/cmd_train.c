// vdit train: trains a text-to-video model bundle with rectified flow (docs/train.md) from a
// JSON config, with flags that override its fields; clips come from the procedural world
// (--data world, the default) or from moving squares (--data squares, for smoke runs).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "vdit/train.h"

static int copy_path(const char *flag, const char *value, char *out) {
  if (strlen(value) >= VDIT_TRAIN_PATH_SIZE)
    return cli_usage_error("train", "use a shorter path", "--%s path is longer than %d bytes", flag,
                           VDIT_TRAIN_PATH_SIZE - 1);
  snprintf(out, VDIT_TRAIN_PATH_SIZE, "%s", value);
  return -1;
}

static int run(int argc, char **argv) {
  const char *config_path = NULL, *data = "world", *checkpoint = NULL, *resume = NULL, *output = NULL;
  const char *metrics = NULL, *device_name = NULL, *attn = NULL, *distill = NULL;
  int64_t steps = -1, batch = -1, warmup = -1, seed = -1, eval_interval = -1, checkpoint_interval = -1;
  double lr = -1, ema = -1, caption_dropout = -1;
  int print_config = 0;
  const cli_option options[] = {
      {"config", CLI_STRING, &config_path, "FILE", "the training config (JSON; docs/train.md lists the fields)"},
      {"data", CLI_STRING, &data, "SOURCE", "world (the procedural world, default) or squares (a smoke test)"},
      {"steps", CLI_INT, &steps, "N", "optimizer steps (overrides the config)"},
      {"batch", CLI_INT, &batch, "N", "clips per step"},
      {"lr", CLI_DOUBLE, &lr, "X", "peak learning rate"},
      {"warmup", CLI_INT, &warmup, "N", "linear warm-up steps"},
      {"ema", CLI_DOUBLE, &ema, "X", "EMA decay"},
      {"caption-dropout", CLI_DOUBLE, &caption_dropout, "P", "probability of an empty caption (for guidance)"},
      {"seed", CLI_INT, &seed, "N", "seed of the weights, noise and timesteps"},
      {"eval-interval", CLI_INT, &eval_interval, "N", "held-out loss every N steps (0: never)"},
      {"checkpoint", CLI_STRING, &checkpoint, "FILE", "checkpoint file (written every --checkpoint-interval steps)"},
      {"checkpoint-interval", CLI_INT, &checkpoint_interval, "N", "steps between checkpoints (0: at the end only)"},
      {"resume", CLI_STRING, &resume, "FILE", "continue from this checkpoint (bitwise as if never stopped)"},
      {"output", CLI_STRING, &output, "FILE", "write the EMA model here at the end (e.g. models/NAME/model.safetensors)"},
      {"metrics", CLI_STRING, &metrics, "FILE", "append each step and evaluation as a JSON line (the training curve)"},
      {"device", CLI_STRING, &device_name, "cpu|cuda", "where to train (default: cuda when a GPU is present)"},
      {"attn", CLI_STRING, &attn, "POLICY", "the model's self-attention, e.g. 'sparge(topk=0.25)' (layer conditions only; default dense)"},
      {"distill", CLI_STRING, &distill, "TEACHER", "velocity distillation: start from this bundle and regress its dense velocity (docs/train.md)"},
      {"print-config", CLI_FLAG, &print_config, NULL, "print the resolved config as JSON and exit"},
  };
  const int count = (int)(sizeof options / sizeof options[0]);
  int code = cli_parse(&cli_command_train,
                       "Trains a pixel-space Wan DiT and its caption-token table on clips of the procedural\n"
                       "world with rectified flow (velocity target, logit-normal timesteps, shift), AdamW with\n"
                       "warm-up and cosine decay, gradient clipping and EMA weights. Shows a progress line\n"
                       "(step, loss, lr, step time, ETA), the held-out loss per t bucket, and writes\n"
                       "checkpoints that --resume continues bit for bit. Flags override the config's fields.\n"
                       "--distill TEACHER --attn POLICY: velocity distillation of a sparse-attention student\n"
                       "from the frozen dense teacher (it starts as the teacher; the loss is their velocity MSE).",
                       options, count, argc, argv, NULL, 0, NULL);
  if (code >= 0) return code;
  vdit_train_config config;
  vdit_train_config_default(&config);
  vdit_status status = config_path ? vdit_train_config_read(config_path, &config) : VDIT_OK;
  if (status != VDIT_OK) return cli_report_failure("train", status);
  if (steps >= 0) config.steps = steps;
  if (batch >= 0) config.batch = batch;
  if (warmup >= 0) config.warmup = warmup;
  if (seed >= 0) config.seed = (uint64_t)seed;
  if (eval_interval >= 0) config.eval_interval = eval_interval;
  if (checkpoint_interval >= 0) config.checkpoint_interval = checkpoint_interval;
  if (lr >= 0) config.lr = lr, config.min_lr = config.min_lr < lr ? config.min_lr : lr;
  if (ema >= 0) config.ema = ema;
  if (caption_dropout >= 0) config.caption_dropout = caption_dropout;
  if (checkpoint && (code = copy_path("checkpoint", checkpoint, config.checkpoint)) >= 0) return code;
  if (resume && (code = copy_path("resume", resume, config.resume)) >= 0) return code;
  if (output && (code = copy_path("output", output, config.output)) >= 0) return code;
  if (metrics && (code = copy_path("metrics", metrics, config.metrics)) >= 0) return code;
  if (attn && (code = copy_path("attn", attn, config.attn)) >= 0) return code;
  if (distill && (code = copy_path("distill", distill, config.distill)) >= 0) return code;
  if (config.distill[0]) { // the teacher defines the model
    vdit_bundle teacher;
    status = vdit_bundle_load(config.distill, &teacher);
    if (status != VDIT_OK) return cli_report_failure("train", status);
    config.bundle = teacher.config;
    vdit_bundle_free(&teacher);
  }
  int gpus = 0;
  config.device = vdit_gpu_count(&gpus) == VDIT_OK && gpus > 0 ? VDIT_CUDA(0) : VDIT_CPU;
  if (device_name && (code = cli_parse_device("train", device_name, &config.device)) >= 0) return code;

  vdit_train_source source;
  vdit_squares_source squares;
  vdit_world_source *world = NULL;
  if (strcmp(data, "squares") == 0) {
    vdit_squares_source_init(&squares, 0, &source);
  } else if (strcmp(data, "world") == 0) {
    status = vdit_world_source_create(config.data_seed, &world, &source);
    if (status != VDIT_OK) return cli_report_failure("train", status);
  } else {
    const char *names[] = {"world", "squares", NULL};
    return cli_unknown_word("train", "data source", "", data, names, "--data is world or squares");
  }
  config.bundle.vocab = source.vocab;
  status = vdit_train_config_validate(&config);
  if (status == VDIT_OK && print_config) {
    char *json = NULL;
    status = vdit_train_config_to_json(&config, &json);
    if (status == VDIT_OK) printf("%s\n", json);
    free(json);
    vdit_world_source_free(world);
    return status == VDIT_OK ? CLI_EXIT_OK : cli_report_failure("train", status);
  }
  if (status == VDIT_OK) {
    char line[512];
    fprintf(stderr, "model: %s\n", vdit_model_config_describe(&config.bundle.model, line, sizeof line));
    fprintf(stderr, "device: %s\n", config.device.type == VDIT_DEVICE_CUDA ? "cuda (bf16 compute, f32 master)" : "cpu (f32)");
    fprintf(stderr, "clips: %lld frames of %lldx%lld from %s, %lld-token captions; %lld steps of batch %lld\n",
            (long long)config.bundle.frames, (long long)config.bundle.height, (long long)config.bundle.width, data,
            (long long)config.bundle.text_length, (long long)config.steps, (long long)config.batch);
    if (config.attn[0]) fprintf(stderr, "attention: %s\n", config.attn);
    if (config.distill[0])
      fprintf(stderr, "distilling from %s (dense; loss and held-out loss: MSE to its velocity)\n", config.distill);
    status = vdit_train_run(&config, &source, stderr);
  }
  vdit_world_source_free(world);
  return status == VDIT_OK ? CLI_EXIT_OK : cli_report_failure("train", status);
}

const cli_command cli_command_train = {"train", "train a text-to-video model on the procedural world",
                                       "vdit train --config FILE.json [options]", run};
