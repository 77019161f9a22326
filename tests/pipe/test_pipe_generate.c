// Generation with a bundle: tokenization (case, punctuation, padding, unknown words with the
// nearby vocabulary), the bundle file round trip, and vdit_pipe_generate: pixels in [0, 1],
// the same bits for the same seed, different noise for another seed, guidance changing the
// result, and a one-step run that matches one Euler step of the model computed by hand.
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../train/synthetic_source.h"
#include "check.h"
#include "vdit/num.h"
#include "vdit/pipe.h"

int main(void) {
  vdit_train_config tc;
  synthetic_tiny_config(&tc);
  vdit_bundle bundle;
  CHECK_OK(vdit_bundle_alloc(&tc.bundle, synthetic_words, &bundle));
  vdit_bundle_init(&bundle, 3);
  vdit_tensor *head;
  for (size_t i = 0; i < vdit_model_parameter_count(&tc.bundle.model); i++) {
    char name[256];
    CHECK_OK(vdit_model_parameter(&bundle.weights, i, VDIT_MODEL_NAMING_DIFFUSERS, name, sizeof name, &head));
    if (strcmp(name, "proj_out.weight") == 0) CHECK_OK(vdit_tensor_fill_normal(head, 9, 0, 0, 0.3));
  }

  int32_t tokens[6];
  CHECK_OK(vdit_bundle_tokenize(&bundle, "Red square, moves RIGHT.", tokens));
  const int32_t want[6] = {1, 4, 5, 7, 0, 0};
  for (int i = 0; i < 6; i++) CHECK_EQ_INT(tokens[i], want[i]);
  CHECK_STATUS(vdit_bundle_tokenize(&bundle, "a redd square", tokens), VDIT_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(vdit_last_error(), "unknown word 'a'") != NULL);
  CHECK_STATUS(vdit_bundle_tokenize(&bundle, "redd square", tokens), VDIT_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(vdit_last_error(), "unknown word 'redd' in the prompt (nearby words: red,") != NULL);
  CHECK_STATUS(vdit_bundle_tokenize(&bundle, "red red red red red red red", tokens), VDIT_ERROR_INVALID_ARGUMENT);

  // Round trip through a file.
  const char *tmp = getenv("VDIT_TEST_TMP") ? getenv("VDIT_TEST_TMP") : ".";
  char path[1024];
  snprintf(path, sizeof path, "%s/generate_bundle.safetensors", tmp);
  bundle.config.sample_steps = 3;
  CHECK_OK(vdit_bundle_save(&bundle, NULL, NULL, VDIT_DTYPE_F32, path));
  vdit_bundle loaded;
  CHECK_OK(vdit_bundle_load(path, &loaded));
  CHECK(memcmp(loaded.weights.data, bundle.weights.data, bundle.weights.floats * sizeof(float)) == 0);
  CHECK(memcmp(loaded.token_table, bundle.token_table, 8 * 8 * sizeof(float)) == 0);
  CHECK_EQ_INT(loaded.config.sample_steps, 3);
  CHECK(strcmp(loaded.words[5], "moves") == 0);
  // BF16: every weight and table entry is the original rounded to nearest even.
  CHECK_OK(vdit_bundle_save(&bundle, NULL, NULL, VDIT_DTYPE_BF16, path));
  vdit_bundle narrow;
  CHECK_OK(vdit_bundle_load(path, &narrow));
  size_t mismatches = 0;
  for (size_t i = 0; narrow.weights.data && i < bundle.weights.floats; i++)
    mismatches += narrow.weights.data[i] != vdit_bf16_to_float(vdit_bf16_from_float(bundle.weights.data[i]));
  for (size_t i = 0; narrow.token_table && i < 8 * 8; i++)
    mismatches += narrow.token_table[i] != vdit_bf16_to_float(vdit_bf16_from_float(bundle.token_table[i]));
  CHECK_EQ_INT(mismatches, 0);
  vdit_bundle_free(&narrow);
  remove(path);
  vdit_bundle missing;
  CHECK_STATUS(vdit_bundle_load(path, &missing), VDIT_ERROR_IO);
  CHECK(strstr(vdit_last_error(), "no model at") != NULL);

  const size_t n = 3 * 2 * 8 * 8;
  float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b), *c = malloc(n * sizeof *c);
  vdit_generate_options options;
  vdit_generate_options_default(&options);
  options.prompt = "blue square moves left";
  options.seed = 11;
  CHECK_OK(vdit_pipe_generate(&loaded, &options, a));
  CHECK_OK(vdit_pipe_generate(&loaded, &options, b));
  CHECK(memcmp(a, b, n * sizeof *a) == 0);
  int in_range = 1;
  for (size_t i = 0; i < n; i++) in_range &= a[i] >= 0 && a[i] <= 1;
  CHECK(in_range);
  options.seed = 12;
  CHECK_OK(vdit_pipe_generate(&loaded, &options, b));
  CHECK(memcmp(a, b, n * sizeof *a) != 0);
  options.seed = 11;
  options.cfg = 1; // conditional model alone
  CHECK_OK(vdit_pipe_generate(&loaded, &options, b));
  CHECK(memcmp(a, b, n * sizeof *a) != 0);

  // One step, cfg 1, shift 1: x = noise + (0 - 1) v(noise, t = 1000), then (x + 1) / 2 clamped.
  options.steps = 1;
  options.shift = 1;
  CHECK_OK(vdit_pipe_generate(&loaded, &options, b));
  const int64_t video_shape[5] = {1, 3, 2, 8, 8}, context_shape[3] = {1, 6, 8}, one[1] = {1};
  vdit_tensor video, out, context, ts;
  CHECK_OK(vdit_tensor_alloc(&video, VDIT_DTYPE_F32, VDIT_CPU, 5, video_shape));
  CHECK_OK(vdit_tensor_alloc(&out, VDIT_DTYPE_F32, VDIT_CPU, 5, video_shape));
  CHECK_OK(vdit_tensor_alloc(&context, VDIT_DTYPE_F32, VDIT_CPU, 3, context_shape));
  CHECK_OK(vdit_tensor_alloc(&ts, VDIT_DTYPE_F32, VDIT_CPU, 1, one));
  vdit_rng_normal(11, 0, n, video.data);
  ((float *)ts.data)[0] = 1000.0f;
  const int32_t prompt[6] = {3, 4, 5, 6, 0, 0};
  CHECK_OK(vdit_text_embed(loaded.token_table, 8, 8, prompt, 1, 6, context.data));
  CHECK_OK(vdit_model_forward(&loaded.weights, NULL, &video, &ts, &context, &out, NULL));
  double worst = 0;
  for (size_t i = 0; i < n; i++) {
    float x = ((float *)video.data)[i] - ((float *)out.data)[i];
    float p = 0.5f * (x + 1.0f);
    p = p < 0 ? 0 : p > 1 ? 1 : p;
    if (fabs(p - b[i]) > worst) worst = fabs(p - b[i]);
  }
  CHECK(worst < 1e-6);

  options.prompt = "purple square";
  CHECK_STATUS(vdit_pipe_generate(&loaded, &options, b), VDIT_ERROR_INVALID_ARGUMENT);
  vdit_tensor_free(&video);
  vdit_tensor_free(&out);
  vdit_tensor_free(&context);
  vdit_tensor_free(&ts);
  free(a);
  free(b);
  free(c);
  vdit_bundle_free(&loaded);
  vdit_bundle_free(&bundle);
  return check_finish("test_pipe_generate");
}
