// The model config and weights loader: config.json in both key sets, the config inferred
// from the golden checkpoints' tensor names and shapes (both name sets, two configs), the
// parameter table against the files' names, BF16/F16/prefixed/sharded checkpoints, and the
// one-line errors for broken checkpoints (a missing, mis-shaped, unexpected or duplicated
// tensor, an image-to-video tensor, a truncated file, a wrong config.json).
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "vdit/model.h"

// The call fails with `status` and its message contains `text`.
#define CHECK_FAILS_WITH(expr, status, text)                                                       \
  do {                                                                                             \
    vdit_error_clear();                                                                            \
    vdit_status check_s_ = (expr);                                                                 \
    if (check_s_ != (status) || !strstr(vdit_last_error(), (text)))                                \
      CHECK_FAIL_("%s: got '%s' (%s), want '%s' containing \"%s\"", #expr, vdit_status_string(check_s_), \
                  vdit_last_error(), vdit_status_string(status), (text));                          \
    else if (strchr(vdit_last_error(), '\n'))                                                     \
      CHECK_FAIL_("%s: error is not one line: %s", #expr, vdit_last_error());                      \
  } while (0)

static char data_dir[1024], tmp_dir[1024];

static void path_join(char *out, size_t size, const char *a, const char *b) { snprintf(out, size, "%s/%s", a, b); }

static void test_hints(void) {
  char path[1200];
  vdit_model_hints h;
  path_join(path, sizeof path, data_dir, "wan_small/config_diffusers.json");
  CHECK_OK(vdit_model_hints_read(path, &h));
  CHECK_EQ_INT(h.format, VDIT_MODEL_NAMING_DIFFUSERS);
  CHECK_EQ_INT(h.heads, 2);
  CHECK_EQ_INT(h.head_dim, 16);
  CHECK_EQ_INT(h.dim, 32);
  CHECK_EQ_INT(h.layers, 2);
  CHECK_EQ_INT(h.ffn_dim, 48);
  CHECK_EQ_INT(h.freq_dim, 16);
  CHECK_EQ_INT(h.text_dim, 24);
  CHECK_EQ_INT(h.in_channels, 6);
  CHECK_EQ_INT(h.out_channels, 4);
  CHECK_EQ_INT(h.patch[0], 1);
  CHECK_EQ_INT(h.patch[1], 2);
  CHECK_EQ_INT(h.patch[2], 2);
  CHECK(h.eps == 1e-6);
  CHECK_EQ_INT(h.qk_norm, 1);
  CHECK_EQ_INT(h.cross_attn_norm, 1);

  path_join(path, sizeof path, data_dir, "wan_small/patch212/config_wan.json");
  CHECK_OK(vdit_model_hints_read(path, &h));
  CHECK_EQ_INT(h.format, VDIT_MODEL_NAMING_WAN);
  CHECK_EQ_INT(h.heads, 3);
  CHECK_EQ_INT(h.head_dim, -1);
  CHECK_EQ_INT(h.dim, 30);
  CHECK_EQ_INT(h.layers, 1);
  CHECK_EQ_INT(h.ffn_dim, 20);
  CHECK_EQ_INT(h.freq_dim, 8);
  CHECK_EQ_INT(h.text_dim, 11);
  CHECK_EQ_INT(h.in_channels, 3);
  CHECK_EQ_INT(h.out_channels, 5);
  CHECK_EQ_INT(h.patch[0], 2);
  CHECK_EQ_INT(h.patch[1], 1);
  CHECK_EQ_INT(h.patch[2], 2);
  CHECK_EQ_INT(h.qk_norm, 1);

  // diffusers: out_channels null means in_channels.
  const char *null_out = "{\"num_attention_heads\": 12, \"attention_head_dim\": 128, \"in_channels\": 16, "
                         "\"out_channels\": null}";
  CHECK_OK(vdit_model_hints_parse(null_out, strlen(null_out), "c.json", &h));
  CHECK_EQ_INT(h.out_channels, 16);
  CHECK_EQ_INT(h.dim, 1536);
  CHECK_EQ_INT(h.layers, -1);

  const struct {
    const char *text;
    vdit_status status;
    const char *message;
  } bad[] = {
      {"{\"num_heads\": 2, \"num_layers\": \"2\"}", VDIT_ERROR_CORRUPT_FILE, "c.json: \"num_layers\": expected an integer"},
      {"{\"num_heads\": 2, \"num_layers\": 0}", VDIT_ERROR_CORRUPT_FILE, "\"num_layers\" is 0"},
      {"{\"num_attention_heads\": 40, \"added_kv_proj_dim\": 5120}", VDIT_ERROR_UNSUPPORTED, "\"added_kv_proj_dim\" is set"},
      {"{\"num_heads\": 40, \"model_type\": \"i2v\"}", VDIT_ERROR_UNSUPPORTED, "\"model_type\" is \"i2v\""},
      {"{\"_class_name\": \"AutoencoderKLWan\"}", VDIT_ERROR_UNSUPPORTED, "describes a AutoencoderKLWan"},
      {"{\"hidden_size\": 12}", VDIT_ERROR_CORRUPT_FILE, "neither num_attention_heads"},
      {"{\"num_heads\": 2,}", VDIT_ERROR_CORRUPT_FILE, "c.json: not valid JSON"},
      {"[1, 2]", VDIT_ERROR_CORRUPT_FILE, "must be a JSON object"},
      {"{\"num_heads\": 2, \"patch_size\": [1, 2]}", VDIT_ERROR_CORRUPT_FILE, "\"patch_size\" must be an array of 3"},
      {"{\"num_heads\": 5, \"dim\": 32}", VDIT_ERROR_CORRUPT_FILE, "dim 32 is not a multiple of num_heads 5"},
      {"{\"num_attention_heads\": 2, \"qk_norm\": \"layer_norm\"}", VDIT_ERROR_UNSUPPORTED, "\"qk_norm\" is \"layer_norm\""},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    CHECK_FAILS_WITH(vdit_model_hints_parse(bad[i].text, strlen(bad[i].text), "c.json", &h), bad[i].status,
                     bad[i].message);
  CHECK_FAILS_WITH(vdit_model_hints_read("/no/such/config.json", &h), VDIT_ERROR_IO, "cannot open /no/such/config.json");
}

// Opens `folder`/`name`.
static vdit_safetensors *open_data(const char *folder, const char *name) {
  char path[1200];
  snprintf(path, sizeof path, "%s/%s/%s", data_dir, folder, name);
  vdit_safetensors *file = NULL;
  CHECK_OK(vdit_safetensors_open(path, &file));
  return file;
}

typedef struct expected_config {
  const char *folder;
  int64_t dim, heads, head_dim, layers, ffn_dim, freq_dim, text_dim, in_channels, out_channels, patch[3];
  size_t parameters;
} expected_config;

static const expected_config expected[] = {
    {"wan_small", 32, 2, 16, 2, 48, 16, 24, 6, 4, {1, 2, 2}, 69},
    {"wan_small/patch212", 30, 3, 10, 1, 20, 8, 11, 3, 5, {2, 1, 2}, 42},
};

static void check_config(const vdit_model_config *c, const expected_config *e, vdit_model_naming naming) {
  CHECK_EQ_INT(c->dim, e->dim);
  CHECK_EQ_INT(c->heads, e->heads);
  CHECK_EQ_INT(c->head_dim, e->head_dim);
  CHECK_EQ_INT(c->layers, e->layers);
  CHECK_EQ_INT(c->ffn_dim, e->ffn_dim);
  CHECK_EQ_INT(c->freq_dim, e->freq_dim);
  CHECK_EQ_INT(c->text_dim, e->text_dim);
  CHECK_EQ_INT(c->in_channels, e->in_channels);
  CHECK_EQ_INT(c->out_channels, e->out_channels);
  for (int i = 0; i < 3; i++) CHECK_EQ_INT(c->patch[i], e->patch[i]);
  CHECK(c->eps == 1e-6);
  CHECK(c->rope_theta == 10000);
  CHECK_EQ_INT(c->qk_norm, 1);
  CHECK_EQ_INT(c->cross_attn_norm, 1);
  CHECK_EQ_INT(c->naming, naming);
  CHECK(strcmp(c->prefix, "") == 0);
  CHECK_EQ_INT(c->heads_from_config, 1);
  CHECK_EQ_INT(vdit_model_parameter_count(c), e->parameters);
}

// Every parameter name in `naming` is a tensor of `file`, and the file has no other.
static void check_names(const vdit_model_weights *w, const vdit_safetensors *file, vdit_model_naming naming) {
  size_t count = vdit_model_parameter_count(&w->config);
  CHECK_EQ_INT(count, vdit_safetensors_count(file));
  for (size_t p = 0; p < count; p++) {
    char name[256];
    vdit_tensor *t = NULL;
    CHECK_OK(vdit_model_parameter(w, p, naming, name, sizeof name, &t));
    vdit_tensor view;
    if (vdit_safetensors_tensor(file, name, &view) != VDIT_OK) {
      CHECK_FAIL_("parameter %zu '%s' not in %s", p, name, vdit_safetensors_path(file));
      continue;
    }
    CHECK(vdit_tensor_same_shape(t, &view));
    if (view.dtype == VDIT_DTYPE_F32 && vdit_tensor_same_shape(t, &view))
      CHECK(memcmp(t->data, view.data, vdit_tensor_bytes(&view)) == 0);
  }
}

static void test_infer_and_load(void) {
  static const char *const files[VDIT_MODEL_NAMING_COUNT] = {"model_diffusers.safetensors", "model_wan.safetensors"};
  static const char *const configs[VDIT_MODEL_NAMING_COUNT] = {"config_diffusers.json", "config_wan.json"};
  for (size_t e = 0; e < 2; e++) {
    vdit_model_weights loaded[VDIT_MODEL_NAMING_COUNT];
    for (int naming = 0; naming < VDIT_MODEL_NAMING_COUNT; naming++) {
      vdit_safetensors *file = open_data(expected[e].folder, files[naming]);
      if (!file) return;
      // Either config.json key set works with either name set.
      for (int c = 0; c < VDIT_MODEL_NAMING_COUNT; c++) {
        char path[1200];
        snprintf(path, sizeof path, "%s/%s/%s", data_dir, expected[e].folder, configs[c]);
        vdit_model_hints hints;
        CHECK_OK(vdit_model_hints_read(path, &hints));
        vdit_model_config config;
        const vdit_safetensors *list[1] = {file};
        CHECK_OK(vdit_model_config_infer(list, 1, &hints, &config));
        check_config(&config, &expected[e], (vdit_model_naming)naming);
      }
      // Without config.json the heads cannot be told (head dim 16 and 10, not 128).
      const vdit_safetensors *list[1] = {file};
      vdit_model_config config;
      CHECK_FAILS_WITH(vdit_model_config_infer(list, 1, NULL, &config), VDIT_ERROR_INVALID_ARGUMENT,
                       "cannot tell the number of heads");
      // A config.json that disagrees with the tensors.
      const char *wrong_layers = "{\"num_heads\": 2, \"num_layers\": 30}";
      vdit_model_hints hints;
      CHECK_OK(vdit_model_hints_parse(wrong_layers, strlen(wrong_layers), "c.json", &hints));
      CHECK_FAILS_WITH(vdit_model_config_infer(list, 1, &hints, &config), VDIT_ERROR_INVALID_ARGUMENT,
                       "config.json says num_layers 30 but the checkpoint has");
      const char *wrong_heads = "{\"num_attention_heads\": 4, \"attention_head_dim\": 128}";
      CHECK_OK(vdit_model_hints_parse(wrong_heads, strlen(wrong_heads), "c.json", &hints));
      CHECK_FAILS_WITH(vdit_model_config_infer(list, 1, &hints, &config), VDIT_ERROR_INVALID_ARGUMENT,
                       "num_attention_heads x attention_head_dim = 512 but patch_embedding.weight gives dim");

      char path[1200], config_path[1200];
      snprintf(path, sizeof path, "%s/%s/%s", data_dir, expected[e].folder, files[naming]);
      snprintf(config_path, sizeof config_path, "%s/%s/%s", data_dir, expected[e].folder, configs[naming]);
      CHECK_OK(vdit_model_load(path, config_path, &loaded[naming]));
      check_config(&loaded[naming].config, &expected[e], (vdit_model_naming)naming);
      check_names(&loaded[naming], file, (vdit_model_naming)naming);
      vdit_safetensors_close(file);
    }
    // The same numbers from both name sets, in particular the cross-attention norm (norm2 in
    // diffusers, norm3 in Wan).
    CHECK_EQ_INT(loaded[0].floats, loaded[1].floats);
    if (loaded[0].data && loaded[1].data) {
      CHECK(memcmp(loaded[0].data, loaded[1].data, loaded[0].floats * sizeof(float)) == 0);
      vdit_safetensors *d = open_data(expected[e].folder, files[0]);
      vdit_safetensors *w = open_data(expected[e].folder, files[1]);
      vdit_tensor norm2, norm3;
      CHECK_OK(vdit_safetensors_tensor(d, "blocks.0.norm2.weight", &norm2));
      CHECK_OK(vdit_safetensors_tensor(w, "blocks.0.norm3.weight", &norm3));
      CHECK(memcmp(loaded[0].blocks[0].cross_norm_weight.data, norm2.data, vdit_tensor_bytes(&norm2)) == 0);
      CHECK(memcmp(loaded[1].blocks[0].cross_norm_weight.data, norm3.data, vdit_tensor_bytes(&norm3)) == 0);
      vdit_safetensors_close(d);
      vdit_safetensors_close(w);
    }
    // Aligned, named tensors inside the one allocation.
    const vdit_model_weights *m = &loaded[0];
    CHECK(m->blocks && m->data);
    CHECK((uintptr_t)m->blocks[0].self_q.weight.data % 64 == 0);
    CHECK((float *)m->head.bias.data >= m->data && (float *)m->head.bias.data < m->data + m->floats);
    CHECK_EQ_INT(m->blocks[0].self_q.weight.shape[0], expected[e].dim);
    CHECK_EQ_INT(m->head.weight.shape[0], expected[e].out_channels * expected[e].patch[0] * expected[e].patch[1] *
                                              expected[e].patch[2]);
    vdit_model_weights_free(&loaded[0]);
    vdit_model_weights_free(&loaded[1]);
  }
}

// ---------------------------------------------------------------- modified checkpoints

// Every tensor of a file, as names and views, to be edited and written back.
typedef struct tensor_list {
  vdit_safetensors *file;
  size_t count;
  char *names[256];
  vdit_tensor tensors[256];
  vdit_tensor owned[256]; // converted copies to free
} tensor_list;

static int list_read(tensor_list *list, const char *folder, const char *name) {
  memset(list, 0, sizeof *list);
  list->file = open_data(folder, name);
  if (!list->file) return 0;
  list->count = vdit_safetensors_count(list->file);
  for (size_t i = 0; i < list->count && i < 256; i++) {
    vdit_safetensors_info info;
    CHECK_OK(vdit_safetensors_entry(list->file, i, &info));
    list->names[i] = strdup(info.name);
    CHECK_OK(vdit_safetensors_tensor_at(list->file, i, &list->tensors[i]));
  }
  return 1;
}

static void list_free(tensor_list *list) {
  for (size_t i = 0; i < 256; i++) {
    free(list->names[i]);
    vdit_tensor_free(&list->owned[i]);
  }
  vdit_safetensors_close(list->file);
  memset(list, 0, sizeof *list);
}

static size_t list_find(const tensor_list *list, const char *name) {
  for (size_t i = 0; i < list->count; i++)
    if (strcmp(list->names[i], name) == 0) return i;
  CHECK_FAIL_("no tensor %s in the list", name);
  return 0;
}

static void list_remove(tensor_list *list, const char *name) {
  size_t i = list_find(list, name);
  free(list->names[i]);
  vdit_tensor_free(&list->owned[i]);
  list->count--;
  list->names[i] = list->names[list->count];
  list->tensors[i] = list->tensors[list->count];
  list->owned[i] = list->owned[list->count];
  list->names[list->count] = NULL;
  memset(&list->owned[list->count], 0, sizeof(vdit_tensor));
}

static void list_add(tensor_list *list, const char *name, const vdit_tensor *t) {
  list->names[list->count] = strdup(name);
  list->tensors[list->count++] = *t;
}

static void list_rename(tensor_list *list, const char *prefix) {
  for (size_t i = 0; i < list->count; i++) {
    size_t n = strlen(prefix) + strlen(list->names[i]) + 1;
    char *renamed = malloc(n);
    snprintf(renamed, n, "%s%s", prefix, list->names[i]);
    free(list->names[i]);
    list->names[i] = renamed;
  }
}

// Converts every tensor to `dtype` (bf16 or f16).
static void list_convert(tensor_list *list, vdit_dtype dtype) {
  for (size_t i = 0; i < list->count; i++) {
    vdit_tensor *t = &list->owned[i];
    CHECK_OK(vdit_tensor_alloc(t, dtype, VDIT_CPU, list->tensors[i].ndim, list->tensors[i].shape));
    CHECK_OK(vdit_convert_from_float(dtype, (size_t)vdit_tensor_numel(t), list->tensors[i].data, t->data));
    list->tensors[i] = *t;
  }
}

static void list_write(const tensor_list *list, const char *path) {
  CHECK_OK(vdit_safetensors_write(path, list->count, (const char *const *)list->names, list->tensors, 0, NULL, NULL));
}

static void tmp_path(char *out, size_t size, const char *name) { snprintf(out, size, "%s/%s", tmp_dir, name); }

// vdit_model_load on a modified copy of wan_small's diffusers checkpoint fails with `text`
// (with its config.json unless `no_config`).
static void check_broken_with(tensor_list *list, const char *file_name, int no_config, vdit_status status,
                              const char *text) {
  char path[1200], config[1200];
  tmp_path(path, sizeof path, file_name);
  list_write(list, path);
  snprintf(config, sizeof config, "%s/wan_small/config_diffusers.json", data_dir);
  vdit_model_weights w;
  CHECK_FAILS_WITH(vdit_model_load(path, no_config ? NULL : config, &w), status, text);
  CHECK(w.data == NULL);
}

static void check_broken(tensor_list *list, const char *file_name, vdit_status status, const char *text) {
  check_broken_with(list, file_name, 0, status, text);
}

static void test_broken_checkpoints(void) {
  tensor_list list;
  if (!list_read(&list, "wan_small", "model_diffusers.safetensors")) return;
  vdit_tensor saved = list.tensors[list_find(&list, "blocks.1.attn1.to_k.weight")];

  list_remove(&list, "blocks.1.attn1.to_k.weight");
  check_broken(&list, "missing.safetensors", VDIT_ERROR_INVALID_ARGUMENT,
               "missing.safetensors: missing tensor 'blocks.1.attn1.to_k.weight'");
  list_add(&list, "blocks.1.attn1.to_k.weight", &saved);

  // (32, 48) viewed as (48, 32): the same bytes, the wrong shape.
  size_t i = list_find(&list, "blocks.0.ffn.net.2.weight");
  vdit_tensor original = list.tensors[i];
  int64_t transposed[2] = {48, 32};
  CHECK_OK(vdit_tensor_reshape(&original, 2, transposed, &list.tensors[i]));
  check_broken(&list, "shape.safetensors", VDIT_ERROR_INVALID_ARGUMENT,
               "tensor 'blocks.0.ffn.net.2.weight' has shape (48, 32), expected (32, 48)");
  list.tensors[i] = original;

  // The patch kernel decides dim, channels and patch: a 4-d one is refused by name.
  i = list_find(&list, "patch_embedding.weight");
  original = list.tensors[i];
  int64_t four[4] = {32, 6, 2, 2};
  CHECK_OK(vdit_tensor_reshape(&original, 4, four, &list.tensors[i]));
  check_broken(&list, "patch4.safetensors", VDIT_ERROR_INVALID_ARGUMENT,
               "tensor 'patch_embedding.weight' has shape (32, 6, 2, 2); it must have 5 dims");
  list.tensors[i] = original;

  list_add(&list, "blocks.0.attn2.add_k_proj.weight", &saved);
  check_broken(&list, "i2v.safetensors", VDIT_ERROR_UNSUPPORTED,
               "tensor 'blocks.0.attn2.add_k_proj.weight' belongs to an image-to-video or VACE model");
  list_remove(&list, "blocks.0.attn2.add_k_proj.weight");

  list_add(&list, "blocks.0.attn1.extra", &saved);
  check_broken(&list, "extra.safetensors", VDIT_ERROR_INVALID_ARGUMENT, "unexpected tensor 'blocks.0.attn1.extra'");
  list_remove(&list, "blocks.0.attn1.extra");

  // A stray third block: config.json disagrees; without it, the block's first tensor is missing.
  list_add(&list, "blocks.2.attn1.to_k.weight", &saved);
  check_broken(&list, "block2.safetensors", VDIT_ERROR_INVALID_ARGUMENT,
               "config.json says num_layers 2 but the checkpoint has 3");
  check_broken_with(&list, "block2.safetensors", 1, VDIT_ERROR_INVALID_ARGUMENT,
                    "missing tensor 'blocks.2.scale_shift_table'");
  list_remove(&list, "blocks.2.attn1.to_k.weight");

  list_remove(&list, "condition_embedder.time_embedder.linear_1.weight");
  check_broken(&list, "no_anchor.safetensors", VDIT_ERROR_INVALID_ARGUMENT, "is not a Wan2.1 transformer checkpoint");
  list_free(&list);

  // A 64-bit integer weight.
  if (!list_read(&list, "wan_small", "model_diffusers.safetensors")) return;
  i = list_find(&list, "proj_out.bias");
  int64_t ints[16] = {0};
  vdit_tensor int_bias;
  int64_t shape16[1] = {16};
  CHECK_OK(vdit_tensor_view(&int_bias, ints, VDIT_DTYPE_I64, VDIT_CPU, 1, shape16, NULL));
  list.tensors[i] = int_bias;
  check_broken(&list, "int.safetensors", VDIT_ERROR_UNSUPPORTED, "tensor 'proj_out.bias' is I64");
  list_free(&list);

  // A truncated file: the header promises more bytes than there are.
  char source[1200], path[1200], config[1200];
  snprintf(source, sizeof source, "%s/wan_small/model_diffusers.safetensors", data_dir);
  snprintf(config, sizeof config, "%s/wan_small/config_diffusers.json", data_dir);
  tmp_path(path, sizeof path, "truncated.safetensors");
  FILE *in = fopen(source, "rb"), *out = fopen(path, "wb");
  CHECK(in && out);
  if (in && out) {
    fseek(in, 0, SEEK_END);
    long size = ftell(in);
    fseek(in, 0, SEEK_SET);
    char *bytes = malloc((size_t)size);
    CHECK(fread(bytes, 1, (size_t)size, in) == (size_t)size);
    fwrite(bytes, 1, (size_t)size - 1000, out);
    free(bytes);
  }
  if (in) fclose(in);
  if (out) fclose(out);
  vdit_model_weights w;
  CHECK_FAILS_WITH(vdit_model_load(path, config, &w), VDIT_ERROR_CORRUPT_FILE, "truncated.safetensors: tensor '");
  CHECK_FAILS_WITH(vdit_model_load("/no/such/model.safetensors", NULL, &w), VDIT_ERROR_IO, "cannot open");
}

// Converted, prefixed and sharded checkpoints load to the same numbers.
static void test_checkpoint_variants(void) {
  char reference_path[1200], config[1200], path[1200];
  snprintf(reference_path, sizeof reference_path, "%s/wan_small/model_wan.safetensors", data_dir);
  snprintf(config, sizeof config, "%s/wan_small/config_wan.json", data_dir);
  vdit_model_weights reference;
  CHECK_OK(vdit_model_load(reference_path, config, &reference));
  if (!reference.data) return;

  const vdit_dtype dtypes[2] = {VDIT_DTYPE_BF16, VDIT_DTYPE_F16};
  for (int d = 0; d < 2; d++) {
    tensor_list list;
    if (!list_read(&list, "wan_small", "model_wan.safetensors")) break;
    list_convert(&list, dtypes[d]);
    tmp_path(path, sizeof path, d ? "wan_f16.safetensors" : "wan_bf16.safetensors");
    list_write(&list, path);
    list_free(&list);
    vdit_model_weights w;
    CHECK_OK(vdit_model_load(path, config, &w));
    if (!w.data) continue;
    size_t mismatches = 0, count = vdit_model_parameter_count(&w.config);
    for (size_t p = 0; p < count; p++) {
      vdit_tensor *a, *b;
      CHECK_OK(vdit_model_parameter(&w, p, VDIT_MODEL_NAMING_WAN, NULL, 0, &a));
      CHECK_OK(vdit_model_parameter(&reference, p, VDIT_MODEL_NAMING_WAN, NULL, 0, &b));
      for (int64_t k = 0; k < vdit_tensor_numel(a); k++) {
        float x = ((const float *)b->data)[k];
        float want = d ? vdit_f16_to_float(vdit_f16_from_float(x)) : vdit_bf16_to_float(vdit_bf16_from_float(x));
        mismatches += ((const float *)a->data)[k] != want;
      }
    }
    CHECK_EQ_INT(mismatches, 0);
    vdit_model_weights_free(&w);
  }

  // ComfyUI-style single file: every name under "model.diffusion_model.".
  tensor_list list;
  if (list_read(&list, "wan_small", "model_wan.safetensors")) {
    list_rename(&list, "model.diffusion_model.");
    tmp_path(path, sizeof path, "prefixed.safetensors");
    list_write(&list, path);
    vdit_model_weights w;
    CHECK_OK(vdit_model_load(path, config, &w));
    if (w.data) {
      CHECK(strcmp(w.config.prefix, "model.diffusion_model.") == 0);
      CHECK(memcmp(w.data, reference.data, w.floats * sizeof(float)) == 0);
    }
    vdit_model_weights_free(&w);
    // A tensor outside the prefix is not part of the model.
    vdit_tensor extra = list.tensors[0];
    list_add(&list, "patch_embedding.bias", &extra);
    list_write(&list, path);
    CHECK_FAILS_WITH(vdit_model_load(path, config, &w), VDIT_ERROR_INVALID_ARGUMENT,
                     "unexpected tensor 'patch_embedding.bias'");
    list_free(&list);
  }

  // A folder of shards with its config.json.
  char folder[1200], shard[1300], folder_config[1300];
  tmp_path(folder, sizeof folder, "sharded");
  mkdir(folder, 0755);
  if (list_read(&list, "wan_small", "model_wan.safetensors")) {
    size_t half = list.count / 2;
    snprintf(shard, sizeof shard, "%s/model-00001-of-00002.safetensors", folder);
    CHECK_OK(vdit_safetensors_write(shard, half, (const char *const *)list.names, list.tensors, 0, NULL, NULL));
    snprintf(shard, sizeof shard, "%s/model-00002-of-00002.safetensors", folder);
    CHECK_OK(vdit_safetensors_write(shard, list.count - half, (const char *const *)list.names + half,
                                    list.tensors + half, 0, NULL, NULL));
    snprintf(folder_config, sizeof folder_config, "%s/config.json", folder);
    FILE *in = fopen(config, "rb"), *out = fopen(folder_config, "wb");
    CHECK(in && out);
    char buffer[4096];
    size_t n;
    while (in && out && (n = fread(buffer, 1, sizeof buffer, in)) > 0) fwrite(buffer, 1, n, out);
    if (in) fclose(in);
    if (out) fclose(out);
    vdit_model_weights w;
    CHECK_OK(vdit_model_load(folder, NULL, &w)); // config.json from the folder
    if (w.data) CHECK(memcmp(w.data, reference.data, w.floats * sizeof(float)) == 0);
    vdit_model_weights_free(&w);
    // The same tensor in two shards.
    snprintf(shard, sizeof shard, "%s/model-00002-of-00002.safetensors", folder);
    CHECK_OK(vdit_safetensors_write(shard, list.count - half + 1, (const char *const *)list.names + half - 1,
                                    list.tensors + half - 1, 0, NULL, NULL));
    CHECK_FAILS_WITH(vdit_model_load(folder, NULL, &w), VDIT_ERROR_INVALID_ARGUMENT, "is in two shards");
    list_free(&list);
  }
  vdit_model_weights_free(&reference);
}

static void test_presets(void) {
  vdit_model_config c;
  CHECK_OK(vdit_model_config_preset("wan2.1-1.3b", &c));
  CHECK_EQ_INT(c.dim, 1536);
  CHECK_EQ_INT(c.heads, 12);
  CHECK_EQ_INT(c.layers, 30);
  CHECK_EQ_INT(c.ffn_dim, 8960);
  CHECK_OK(vdit_model_config_validate(&c));
  // 30 blocks x 27 tensors + 15 top-level ones.
  CHECK_EQ_INT(vdit_model_parameter_count(&c), 30 * 27 + 15);
  CHECK_OK(vdit_model_config_preset("wan2.1-14b", &c));
  CHECK_EQ_INT(c.dim, 5120);
  CHECK_EQ_INT(c.heads, 40);
  CHECK_FAILS_WITH(vdit_model_config_preset("wan2.2", &c), VDIT_ERROR_INVALID_ARGUMENT, "unknown model preset 'wan2.2'");
  CHECK_OK(vdit_model_config_preset("wan2.1-1.3b", &c));
  c.head_dim = 127;
  c.heads = 1;
  c.dim = 127;
  CHECK_FAILS_WITH(vdit_model_config_validate(&c), VDIT_ERROR_INVALID_ARGUMENT, "head_dim 127 is odd");
  c.layers = 0;
  CHECK_FAILS_WITH(vdit_model_config_validate(&c), VDIT_ERROR_INVALID_ARGUMENT, "layers is 0");
}

int main(void) {
  const char *data = getenv("VDIT_TEST_DATA"), *tmp = getenv("VDIT_TEST_TMP");
  if (!data || !tmp) {
    fprintf(stderr, "test_model_config: VDIT_TEST_DATA and VDIT_TEST_TMP must be set (ctest sets them)\n");
    return 1;
  }
  snprintf(data_dir, sizeof data_dir, "%s", data);
  snprintf(tmp_dir, sizeof tmp_dir, "%s/model_config", tmp);
  mkdir(tmp_dir, 0755);
  test_hints();
  test_infer_and_load();
  test_broken_checkpoints();
  test_checkpoint_variants();
  test_presets();
  return check_finish("test_model_config");
}
