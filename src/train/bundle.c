// The model bundle: the DiT weights, the caption-token table and its vocabulary; random
// initialisation, one safetensors file for all of it, and caption tokenization.
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tensor/json.h"
#include "train/train_internal.h"
#include "vdit/train.h"

#define TEXT_TABLE_NAME "text_table.weight"

static size_t table_floats(const vdit_bundle_config *c) { return (size_t)c->vocab * (size_t)c->model.text_dim; }

void vdit_bundle_free(vdit_bundle *bundle) {
  if (!bundle) return;
  vdit_model_weights_free(&bundle->weights);
  vdit_host_free(bundle->token_table);
  free(bundle->words);
  free(bundle->word_storage);
  memset(bundle, 0, sizeof *bundle);
}

static vdit_status check_word(const char *word, int64_t index) {
  if (!*word) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vocabulary: word %lld is empty", (long long)index);
  for (const char *c = word; *c; c++)
    if (isspace((unsigned char)*c) || isupper((unsigned char)*c) || (unsigned char)*c < 0x20)
      return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT,
                        "vocabulary: word %lld '%s' must be lower case without spaces or control characters",
                        (long long)index, word);
  return VDIT_OK;
}

vdit_status vdit_bundle_alloc(const vdit_bundle_config *config, const char *const *words, vdit_bundle *bundle) {
  if (!bundle || !words) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_bundle_alloc: NULL argument");
  memset(bundle, 0, sizeof *bundle);
  VDIT_TRY(vdit_bundle_config_validate(config));
  bundle->config = *config;
  size_t storage = 0;
  for (int64_t i = 1; i < config->vocab; i++) {
    if (!words[i]) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vocabulary: word %lld is NULL", (long long)i);
    VDIT_TRY(check_word(words[i], i));
    for (int64_t j = 1; j < i; j++)
      if (strcmp(words[i], words[j]) == 0)
        return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vocabulary: word '%s' appears twice", words[i]);
    storage += strlen(words[i]) + 1;
  }
  storage += 1; // the padding's ""
  bundle->words = calloc((size_t)config->vocab, sizeof *bundle->words);
  bundle->word_storage = malloc(storage);
  const size_t table_bytes = table_floats(config) * sizeof(float);
  bundle->token_table = vdit_host_alloc(table_bytes, VDIT_HOST_ALIGNMENT);
  if (!bundle->words || !bundle->word_storage || !bundle->token_table) {
    vdit_bundle_free(bundle);
    return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "bundle: no memory for the vocabulary and token table");
  }
  memset(bundle->token_table, 0, table_bytes);
  char *at = bundle->word_storage;
  *at = '\0';
  bundle->words[0] = at++;
  for (int64_t i = 1; i < config->vocab; i++) {
    size_t n = strlen(words[i]) + 1;
    memcpy(at, words[i], n);
    bundle->words[i] = at;
    at += n;
  }
  vdit_status status = vdit_model_weights_alloc(&config->model, &bundle->weights);
  if (status != VDIT_OK) {
    vdit_bundle_free(bundle);
    return status;
  }
  vdit_model_weights_zero(&bundle->weights);
  return VDIT_OK;
}

static int ends_with(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && strcmp(s + a - b, suffix) == 0;
}

void vdit_bundle_init(vdit_bundle *bundle, uint64_t seed) {
  vdit_model_weights *w = &bundle->weights;
  vdit_model_weights_zero(w);
  const size_t count = vdit_model_parameter_count(&w->config);
  for (size_t i = 0; i < count; i++) {
    char name[256];
    vdit_tensor *t;
    if (vdit_model_parameter(w, i, VDIT_MODEL_NAMING_DIFFUSERS, name, sizeof name, &t) != VDIT_OK) continue;
    const uint64_t stream = seed * 1000003u + i;
    if (strstr(name, "scale_shift_table"))
      vdit_tensor_fill_normal(t, stream, 0, 0, 1 / sqrt((double)w->config.dim)); // Wan: randn / dim^0.5
    else if (ends_with(name, ".bias")) continue; // zero
    else if (strstr(name, "norm")) vdit_tensor_fill_uniform(t, stream, 0, 1, 1); // scales 1
    else if (strncmp(name, "proj_out", 8) == 0) continue; // zero head: the first prediction is 0
    else {
      const int64_t fan_in = vdit_tensor_numel(t) / t->shape[0];
      vdit_tensor_fill_normal(t, stream, 0, 0, 1 / sqrt((double)fan_in));
    }
  }
  const int64_t d = bundle->config.model.text_dim;
  vdit_rng_normal(seed * 1000003u + count, 0, table_floats(&bundle->config), bundle->token_table);
  memset(bundle->token_table, 0, (size_t)d * sizeof(float)); // padding
}

static vdit_status vocab_json(const vdit_bundle *bundle, char **json) {
  vdit_json_writer w;
  vdit_json_writer_init(&w);
  vdit_json_append_text(&w, "[");
  for (int64_t i = 0; i < bundle->config.vocab; i++) {
    if (i) vdit_json_append_text(&w, ", ");
    vdit_json_append_string(&w, bundle->words[i], strlen(bundle->words[i]));
  }
  vdit_json_append_text(&w, "]");
  vdit_status status = vdit_json_writer_finish(&w);
  if (status != VDIT_OK) {
    vdit_json_writer_free(&w);
    return status;
  }
  *json = w.data;
  return VDIT_OK;
}

vdit_status train_bundle_write(const vdit_bundle *bundle, const vdit_model_weights *weights, const float *token_table,
                               vdit_dtype dtype, const char *path, size_t extra_count, const char *const *extra_names,
                               const vdit_tensor *extra_tensors, size_t extra_metadata,
                               const char *const *extra_keys, const char *const *extra_values) {
  if (!weights) weights = &bundle->weights;
  if (!token_table) token_table = bundle->token_table;
  const size_t params = vdit_model_parameter_count(&bundle->config.model);
  const size_t count = params + 1 + extra_count;
  char **names = calloc(count, sizeof *names);
  vdit_tensor *tensors = calloc(count, sizeof *tensors);
  char *config_json = NULL, *vocab = NULL;
  uint16_t *narrow = NULL; // the BF16 copies, one buffer
  vdit_status status = VDIT_OK;
  if (dtype != VDIT_DTYPE_F32 && dtype != VDIT_DTYPE_BF16) {
    status = VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "bundle save: weights are written as F32 or BF16");
    goto done;
  }
  if (!names || !tensors) {
    status = VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "bundle save: no memory");
    goto done;
  }
  for (size_t i = 0; i < params && status == VDIT_OK; i++) {
    names[i] = malloc(256);
    vdit_tensor *t;
    if (!names[i]) status = VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "bundle save: no memory");
    else status = vdit_model_parameter(weights, i, VDIT_MODEL_NAMING_DIFFUSERS, names[i], 256, &t);
    if (status == VDIT_OK) tensors[i] = *t;
  }
  if (status != VDIT_OK) goto done;
  const int64_t table_shape[2] = {bundle->config.vocab, bundle->config.model.text_dim};
  names[params] = strdup(TEXT_TABLE_NAME);
  VDIT_TRY(vdit_tensor_view(&tensors[params], (void *)token_table, VDIT_DTYPE_F32, VDIT_CPU, 2, table_shape, NULL));
  for (size_t i = 0; i < extra_count; i++) {
    names[params + 1 + i] = strdup(extra_names[i]);
    tensors[params + 1 + i] = extra_tensors[i];
  }
  for (size_t i = 0; i < count; i++)
    if (!names[i]) {
      status = VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "bundle save: no memory");
      goto done;
    }
  if (dtype == VDIT_DTYPE_BF16) { // the model's tensors and the table rounded to BF16 (nearest even)
    size_t total = 0;
    for (size_t i = 0; i <= params; i++) total += (size_t)vdit_tensor_numel(&tensors[i]);
    narrow = vdit_host_alloc(total * sizeof *narrow, VDIT_HOST_ALIGNMENT);
    if (!narrow) {
      status = VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "bundle save: no memory for the BF16 copy");
      goto done;
    }
    size_t at = 0;
    for (size_t i = 0; i <= params && status == VDIT_OK; i++) {
      vdit_tensor wide = tensors[i];
      status = vdit_tensor_view(&tensors[i], narrow + at, VDIT_DTYPE_BF16, VDIT_CPU, wide.ndim, wide.shape, NULL);
      if (status == VDIT_OK) status = vdit_tensor_convert(&tensors[i], &wide);
      at += (size_t)vdit_tensor_numel(&wide);
    }
    if (status != VDIT_OK) goto done;
  }
  status = vdit_bundle_config_to_json(&bundle->config, &config_json);
  if (status == VDIT_OK) status = vocab_json(bundle, &vocab);
  if (status != VDIT_OK) goto done;
  {
    enum { MAX_METADATA = 16 };
    const char *keys[MAX_METADATA] = {"format", "vdit.config", "vdit.vocab"};
    const char *values[MAX_METADATA] = {"vdit-bundle", config_json, vocab};
    size_t metadata = 3;
    for (size_t i = 0; i < extra_metadata && metadata < MAX_METADATA; i++, metadata++) {
      keys[metadata] = extra_keys[i];
      values[metadata] = extra_values[i];
    }
    status = vdit_safetensors_write(path, count, (const char *const *)names, tensors, metadata, keys, values);
  }
done:
  if (names)
    for (size_t i = 0; i < count; i++) free(names[i]);
  free(names);
  free(tensors);
  free(config_json);
  free(vocab);
  vdit_host_free(narrow);
  return status;
}

vdit_status vdit_bundle_save(const vdit_bundle *bundle, const vdit_model_weights *weights, const float *token_table,
                             vdit_dtype dtype, const char *path) {
  if (!bundle || !path) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_bundle_save: NULL argument");
  return train_bundle_write(bundle, weights, token_table, dtype, path, 0, NULL, NULL, 0, NULL, NULL);
}

// The vocabulary array of a bundle file's "vdit.vocab".
static vdit_status read_vocab(const char *json, const char *source, int64_t vocab, char ***words_out) {
  vdit_json *d = NULL;
  vdit_json_error error;
  vdit_status status = vdit_json_parse(json, strlen(json), NULL, &d, &error);
  if (status != VDIT_OK)
    return VDIT_ERROR(VDIT_ERROR_CORRUPT_FILE, "%s: metadata vdit.vocab is not valid JSON: %s", source, error.message);
  vdit_json_value root = vdit_json_root(d);
  if (vdit_json_type_of(d, root) != VDIT_JSON_ARRAY || (int64_t)vdit_json_count(d, root) != vocab) {
    vdit_json_free(d);
    return VDIT_ERROR(VDIT_ERROR_CORRUPT_FILE, "%s: metadata vdit.vocab must be an array of %lld words", source,
                      (long long)vocab);
  }
  char **words = calloc((size_t)vocab, sizeof *words);
  int64_t i = 0;
  for (vdit_json_value e = vdit_json_first(d, root); words && e != VDIT_JSON_NONE; e = vdit_json_next(d, e), i++) {
    const char *s = vdit_json_string(d, e, NULL);
    if (!s) {
      status = VDIT_ERROR(VDIT_ERROR_CORRUPT_FILE, "%s: vdit.vocab entry %lld is not a string", source, (long long)i);
      break;
    }
    words[i] = strdup(s);
  }
  vdit_json_free(d);
  if (!words) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "bundle load: no memory");
  if (status != VDIT_OK) {
    for (int64_t j = 0; j < vocab; j++) free(words[j]);
    free(words);
    return status;
  }
  *words_out = words;
  return VDIT_OK;
}

vdit_status vdit_bundle_load(const char *path, vdit_bundle *bundle) {
  if (!path || !bundle) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_bundle_load: NULL argument");
  memset(bundle, 0, sizeof *bundle);
  char file_path[4096];
  struct stat st;
  if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) snprintf(file_path, sizeof file_path, "%s/model.safetensors", path);
  else snprintf(file_path, sizeof file_path, "%s", path);
  vdit_safetensors *file = NULL;
  vdit_status status = vdit_safetensors_open(file_path, &file);
  if (status != VDIT_OK) {
    if (stat(file_path, &st) != 0)
      return VDIT_ERROR(VDIT_ERROR_IO,
                        "no model at %s (train one with 'vdit train', or pass --model DIR|FILE)", file_path);
    return status;
  }
  const char *format = vdit_safetensors_metadata_get(file, "format");
  const char *config_json = vdit_safetensors_metadata_get(file, "vdit.config");
  const char *vocab_json = vdit_safetensors_metadata_get(file, "vdit.vocab");
  char **words = NULL;
  vdit_bundle_config config;
  vdit_bundle_config_default(&config);
  if (!format || strcmp(format, "vdit-bundle") != 0 || !config_json || !vocab_json) {
    status = VDIT_ERROR(VDIT_ERROR_CORRUPT_FILE,
                        "%s: not a vdit model bundle (metadata format = \"vdit-bundle\", vdit.config and vdit.vocab "
                        "expected; 'vdit inspect' shows what it holds)",
                        file_path);
    goto done;
  }
  status = vdit_bundle_config_from_json(config_json, strlen(config_json), file_path, &config);
  if (status == VDIT_OK) status = vdit_bundle_config_validate(&config);
  if (status == VDIT_OK) status = read_vocab(vocab_json, file_path, config.vocab, &words);
  if (status == VDIT_OK) status = vdit_bundle_alloc(&config, (const char *const *)words, bundle);
  if (status == VDIT_OK) {
    const vdit_safetensors *files[1] = {file};
    status = vdit_model_weights_read(files, 1, &bundle->weights);
  }
  if (status == VDIT_OK) {
    vdit_tensor table;
    status = vdit_safetensors_tensor(file, TEXT_TABLE_NAME, &table);
    if (status == VDIT_OK && ((table.dtype != VDIT_DTYPE_F32 && table.dtype != VDIT_DTYPE_BF16) || table.ndim != 2 ||
                              table.shape[0] != config.vocab || table.shape[1] != config.model.text_dim))
      status = VDIT_ERROR(VDIT_ERROR_CORRUPT_FILE, "%s: %s must be F32 or BF16 (%lld, %lld)", file_path,
                          TEXT_TABLE_NAME, (long long)config.vocab, (long long)config.model.text_dim);
    vdit_tensor out;
    if (status == VDIT_OK)
      status = vdit_tensor_view(&out, bundle->token_table, VDIT_DTYPE_F32, VDIT_CPU, 2, table.shape, NULL);
    if (status == VDIT_OK) status = vdit_tensor_convert(&out, &table);
  }
done:
  if (words)
    for (int64_t i = 0; i < config.vocab; i++) free(words[i]);
  free(words);
  vdit_safetensors_close(file);
  if (status != VDIT_OK) vdit_bundle_free(bundle);
  return status;
}

// Edit distance of two short words (at most 63 characters are compared).
static int edit_distance(const char *a, const char *b) {
  int la = (int)strlen(a), lb = (int)strlen(b);
  if (la > 63) la = 63;
  if (lb > 63) lb = 63;
  int row[64];
  for (int j = 0; j <= lb; j++) row[j] = j;
  for (int i = 1; i <= la; i++) {
    int diagonal = row[0];
    row[0] = i;
    for (int j = 1; j <= lb; j++) {
      int above = row[j];
      int best = diagonal + (a[i - 1] != b[j - 1]);
      if (above + 1 < best) best = above + 1;
      if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
      row[j] = best;
      diagonal = above;
    }
  }
  return row[lb];
}

static vdit_status unknown_word(const vdit_bundle *bundle, const char *word) {
  // The five words closest by edit distance (ties in vocabulary order).
  enum { NEARBY = 5 };
  int64_t best[NEARBY];
  int distance[NEARBY], found = 0;
  for (int64_t i = 1; i < bundle->config.vocab; i++) {
    int d = edit_distance(word, bundle->words[i]);
    int at = found;
    while (at > 0 && distance[at - 1] > d) at--;
    if (at >= NEARBY) continue;
    int end = found < NEARBY ? found : NEARBY - 1;
    for (int j = end; j > at; j--) best[j] = best[j - 1], distance[j] = distance[j - 1];
    best[at] = i, distance[at] = d;
    if (found < NEARBY) found++;
  }
  char list[512] = "";
  size_t used = 0;
  for (int i = 0; i < found && used < sizeof list; i++)
    used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", bundle->words[best[i]]);
  return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "unknown word '%s' in the prompt (nearby words: %s; the model knows %lld words)",
                    word, list, (long long)(bundle->config.vocab - 1));
}

vdit_status vdit_bundle_tokenize(const vdit_bundle *bundle, const char *caption, int32_t *tokens) {
  if (!bundle || !caption || !tokens) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_bundle_tokenize: NULL argument");
  const int64_t length = bundle->config.text_length;
  for (int64_t i = 0; i < length; i++) tokens[i] = 0;
  int64_t count = 0;
  const char *at = caption;
  for (;;) {
    while (*at && (isspace((unsigned char)*at) || strchr(",.;:!?", *at))) at++;
    if (!*at) break;
    char word[128];
    size_t n = 0;
    while (*at && !isspace((unsigned char)*at) && !strchr(",.;:!?", *at)) {
      if (n + 1 < sizeof word) word[n++] = (char)tolower((unsigned char)*at);
      at++;
    }
    word[n] = '\0';
    int64_t token = 0;
    for (int64_t i = 1; i < bundle->config.vocab && !token; i++)
      if (strcmp(word, bundle->words[i]) == 0) token = i;
    if (!token) return unknown_word(bundle, word);
    if (count == length)
      return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "the prompt has more than %lld words, the most the model reads",
                        (long long)length);
    tokens[count++] = (int32_t)token;
  }
  return VDIT_OK;
}
