// What `vdit capture` and `vdit shield --model` share: a model from a checkpoint or random
// weights of a given shape ("random:dim=256,heads=4,..."), and its inputs, seeded random or
// from a file.
#ifndef VDIT_TOOLS_MODEL_SOURCE_H
#define VDIT_TOOLS_MODEL_SOURCE_H

#include "cli.h"
#include "vdit/model.h"

typedef struct model_source_flags {
  const char *model, *config, *inputs;
  int64_t batch, frames, height, width, text_tokens, seed, weight_seed;
  double timestep;
} model_source_flags;

// Defaults: batch 1, a latent video of 3 x 8 x 8, 16 text tokens, timestep 500, seeds 0.
void model_source_defaults(model_source_flags *flags);
enum { MODEL_SOURCE_OPTION_COUNT = 11 };
// The options (fills `options`, MODEL_SOURCE_OPTION_COUNT entries).
void model_source_options(model_source_flags *flags, cli_option *options);

typedef struct model_run_inputs {
  vdit_tensor video;     // (B, C_in, F, H, W)
  vdit_tensor timesteps; // (B)
  vdit_tensor context;   // (B, S, D_txt)
  vdit_tensor output;    // (B, C_out, F' p_t, H' p_h, W' p_w), allocated
  int64_t grid[3];       // token grid (F', H', W')
} model_run_inputs;

// Loads the model and makes the inputs; -1 to go on, else an exit code after a one-line error.
int model_source_open(const char *command, const char *hint, const model_source_flags *flags,
                      vdit_model_weights *weights, model_run_inputs *inputs);
void model_run_inputs_free(model_run_inputs *inputs);
// A one-line description of the model ("wan_small/model.safetensors: dim 32 = 2 heads x 16, ...").
void model_source_describe(const model_source_flags *flags, const vdit_model_weights *weights, char *buffer,
                           size_t size);

#endif
