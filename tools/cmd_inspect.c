// vdit inspect: lists the tensors of a safetensors file (name, dtype, shape, parameters,
// bytes), its metadata and totals, and the Wan2.1 model config the file implies (or why it
// is not one), as a table or one JSON object.
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "vdit/model.h"
#include "vdit/tensor.h"

// What the file says as a model: ok with its config, or the reason it is not a Wan2.1
// transformer checkpoint (vdit_model_config_infer's message).
typedef struct inspect_model {
  int ok;
  vdit_model_config config;
  char error[512];
} inspect_model;

static void infer_model(const vdit_safetensors *file, const vdit_model_hints *hints, inspect_model *model) {
  memset(model, 0, sizeof *model);
  const vdit_safetensors *files[1] = {file};
  model->ok = vdit_model_config_infer(files, 1, hints, &model->config) == VDIT_OK;
  if (!model->ok) snprintf(model->error, sizeof model->error, "%s", vdit_last_error());
}

// Prints `text` with control characters escaped, so that a hostile name cannot move the
// cursor or break the table; returns the number of characters printed.
static int print_escaped(const char *text) {
  int printed = 0;
  for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
    if (*c < 0x20 || *c == 0x7f) printed += printf("\\x%02x", *c);
    else {
      putchar(*c);
      if ((*c & 0xc0) != 0x80) printed++; // count UTF-8 characters, not bytes
    }
  }
  return printed;
}

static int escaped_width(const char *text) {
  int width = 0;
  for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
    if (*c < 0x20 || *c == 0x7f) width += 4;
    else if ((*c & 0xc0) != 0x80) width++;
  }
  return width;
}

static void format_shape(const vdit_safetensors_info *info, char *out, size_t size) {
  size_t used = (size_t)snprintf(out, size, "[");
  for (int i = 0; i < info->ndim && used < size; i++)
    used += (size_t)snprintf(out + used, size - used, "%s%" PRId64, i ? ", " : "", info->shape[i]);
  if (used < size) snprintf(out + used, size - used, "]");
}

// "4.0 KiB", "1.3 GiB": the size a person reads; exact bytes are printed beside it.
static void format_size(uint64_t bytes, char *out, size_t size) {
  static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = (double)bytes;
  int unit = 0;
  while (value >= 1024 && unit < 4) {
    value /= 1024;
    unit++;
  }
  if (unit == 0) snprintf(out, size, "%" PRIu64 " B", bytes);
  else snprintf(out, size, "%.1f %s", value, units[unit]);
}

static int matches(const char *name, const char *filter) { return !filter || strstr(name, filter) != NULL; }

static void print_model_text(const inspect_model *model) {
  if (!model->ok) {
    printf("model: not a loadable Wan2.1 transformer: ");
    print_escaped(model->error);
    putchar('\n');
    return;
  }
  const vdit_model_config *c = &model->config;
  char description[320];
  printf("model: Wan2.1 text-to-video transformer, %s names", vdit_model_naming_name(c->naming));
  if (c->prefix[0]) {
    printf(" prefixed '");
    print_escaped(c->prefix);
    printf("'");
  }
  printf(", %zu parameter tensors\n       %s\n       heads %s\n", vdit_model_parameter_count(c),
         vdit_model_config_describe(c, description, sizeof description),
         c->heads_from_config ? "from config.json"
                              : "from the head-dim-128 rule of the released models (--config config.json to set them)");
}

static void print_text(const vdit_safetensors *file, const char *filter, const inspect_model *model) {
  size_t count = vdit_safetensors_count(file);
  printf("file: %s (%" PRIu64 " bytes, header %" PRIu64 " bytes)\n", vdit_safetensors_path(file),
         vdit_safetensors_file_bytes(file), vdit_safetensors_header_bytes(file));
  size_t metadata_count = vdit_safetensors_metadata_count(file);
  for (size_t i = 0; i < metadata_count; i++) {
    const char *key, *value;
    if (vdit_safetensors_metadata_entry(file, i, &key, &value) != VDIT_OK) continue;
    printf(i == 0 ? "metadata: " : "          ");
    print_escaped(key);
    printf(" = ");
    print_escaped(value);
    putchar('\n');
  }
  int name_width = 4, dtype_width = 5, shape_width = 5, parameters_width = 10, bytes_width = 5;
  size_t shown = 0;
  uint64_t parameters = 0, bytes = 0;
  char shape[VDIT_SAFETENSORS_MAX_DIMS * 22 + 4];
  for (size_t i = 0; i < count; i++) {
    vdit_safetensors_info info;
    if (vdit_safetensors_entry(file, i, &info) != VDIT_OK || !matches(info.name, filter)) continue;
    int w = escaped_width(info.name);
    if (w > name_width) name_width = w;
    if ((int)strlen(info.dtype_name) > dtype_width) dtype_width = (int)strlen(info.dtype_name);
    format_shape(&info, shape, sizeof shape);
    if ((int)strlen(shape) > shape_width) shape_width = (int)strlen(shape);
    char number[24];
    if ((int)snprintf(number, sizeof number, "%" PRIu64, info.element_count) > parameters_width)
      parameters_width = (int)strlen(number);
    if ((int)snprintf(number, sizeof number, "%" PRIu64, info.bytes) > bytes_width) bytes_width = (int)strlen(number);
    shown++;
    parameters += info.element_count;
    bytes += info.bytes;
  }
  if (shown) {
    printf("\n%-*s  %-*s  %-*s  %*s  %*s\n", name_width, "name", dtype_width, "dtype", shape_width, "shape",
           parameters_width, "parameters", bytes_width, "bytes");
    for (size_t i = 0; i < count; i++) {
      vdit_safetensors_info info;
      if (vdit_safetensors_entry(file, i, &info) != VDIT_OK || !matches(info.name, filter)) continue;
      int w = print_escaped(info.name);
      format_shape(&info, shape, sizeof shape);
      printf("%*s  %-*s  %-*s  %*" PRIu64 "  %*" PRIu64 "\n", name_width - w, "", dtype_width, info.dtype_name,
             shape_width, shape, parameters_width, info.element_count, bytes_width, info.bytes);
    }
  }
  char size[32];
  format_size(bytes, size, sizeof size);
  printf("\n");
  if (filter) printf("%zu of %zu tensors match '%s': ", shown, count, filter);
  else printf("%zu tensor%s: ", shown, shown == 1 ? "" : "s");
  printf("%" PRIu64 " parameters, %" PRIu64 " bytes (%s)\n", parameters, bytes, size);
  print_model_text(model);
}

static void print_model_json(const inspect_model *model) {
  if (!model->ok) {
    printf("\"model\": null, \"model_error\": ");
    cli_print_json_string(model->error);
    return;
  }
  const vdit_model_config *c = &model->config;
  printf("\"model\": {\"naming\": \"%s\", \"prefix\": ", vdit_model_naming_name(c->naming));
  cli_print_json_string(c->prefix);
  printf(", \"dim\": %" PRId64 ", \"heads\": %" PRId64 ", \"head_dim\": %" PRId64 ", \"heads_from\": \"%s\", "
         "\"layers\": %" PRId64 ", \"ffn_dim\": %" PRId64 ", \"freq_dim\": %" PRId64 ", \"text_dim\": %" PRId64
         ", \"in_channels\": %" PRId64 ", \"out_channels\": %" PRId64 ", \"patch_size\": [%" PRId64 ", %" PRId64
         ", %" PRId64 "], \"eps\": %.17g, \"qk_norm\": %s, \"cross_attn_norm\": %s, \"parameter_tensors\": %zu}",
         c->dim, c->heads, c->head_dim, c->heads_from_config ? "config" : "head_dim_128", c->layers, c->ffn_dim,
         c->freq_dim, c->text_dim, c->in_channels, c->out_channels, c->patch[0], c->patch[1], c->patch[2], c->eps,
         c->qk_norm ? "true" : "false", c->cross_attn_norm ? "true" : "false", vdit_model_parameter_count(c));
}

static void print_json(const vdit_safetensors *file, const char *filter, const inspect_model *model) {
  size_t count = vdit_safetensors_count(file);
  printf("{\"file\": ");
  cli_print_json_string(vdit_safetensors_path(file));
  printf(", \"file_bytes\": %" PRIu64 ", \"header_bytes\": %" PRIu64 ", \"metadata\": {",
         vdit_safetensors_file_bytes(file), vdit_safetensors_header_bytes(file));
  for (size_t i = 0; i < vdit_safetensors_metadata_count(file); i++) {
    const char *key, *value;
    if (vdit_safetensors_metadata_entry(file, i, &key, &value) != VDIT_OK) continue;
    printf("%s", i ? ", " : "");
    cli_print_json_string(key);
    printf(": ");
    cli_print_json_string(value);
  }
  printf("}, ");
  print_model_json(model);
  printf(", \"tensors\": [");
  size_t shown = 0;
  uint64_t parameters = 0, bytes = 0;
  for (size_t i = 0; i < count; i++) {
    vdit_safetensors_info info;
    if (vdit_safetensors_entry(file, i, &info) != VDIT_OK || !matches(info.name, filter)) continue;
    printf("%s{\"name\": ", shown ? ", " : "");
    cli_print_json_string(info.name);
    printf(", \"dtype\": \"%s\", \"shape\": [", info.dtype_name);
    for (int d = 0; d < info.ndim; d++) printf("%s%" PRId64, d ? ", " : "", info.shape[d]);
    printf("], \"parameters\": %" PRIu64 ", \"bytes\": %" PRIu64 ", \"data_offsets\": [%" PRIu64 ", %" PRIu64 "]}",
           info.element_count, info.bytes, info.offset, info.offset + info.bytes);
    shown++;
    parameters += info.element_count;
    bytes += info.bytes;
  }
  printf("], \"tensor_count\": %zu, \"parameter_count\": %" PRIu64 ", \"data_bytes\": %" PRIu64 "}\n", shown,
         parameters, bytes);
}

static int run_inspect(int argc, char **argv) {
  int json = 0;
  const char *filter = NULL, *config_path = NULL;
  const cli_option options[] = {
      {"json", CLI_FLAG, &json, NULL, "print one JSON object"},
      {"filter", CLI_STRING, &filter, "TEXT", "list only tensors whose name contains TEXT (default: all)"},
      {"config", CLI_STRING, &config_path, "FILE",
       "the model's config.json, for the number of heads (default: none; head dim 128)"},
  };
  const char *positional[1];
  int positional_count = 0;
  int code = cli_parse(&cli_command_inspect,
                       "Lists each tensor of a safetensors file (name, dtype, shape, parameters, bytes), its\n"
                       "metadata and the totals, then the Wan2.1 model config the tensors imply (or why\n"
                       "they are not a Wan2.1 transformer). The whole header is validated first: a\n"
                       "corrupt or truncated file gives one line saying what is wrong and where.",
                       options, 3, argc, argv, positional, 1, &positional_count);
  if (code >= 0) return code;
  if (positional_count == 0)
    return cli_usage_error("inspect", "see 'vdit inspect --help'", "missing the FILE.safetensors argument");

  vdit_model_hints hints;
  vdit_model_hints_init(&hints);
  if (config_path) {
    vdit_status status = vdit_model_hints_read(config_path, &hints);
    if (status != VDIT_OK) return cli_report_failure("inspect", status);
  }
  vdit_safetensors *file = NULL;
  vdit_status status = vdit_safetensors_open(positional[0], &file);
  if (status == VDIT_ERROR_IO) {
    fprintf(stderr, "vdit inspect: %s: %s (check the path)\n", vdit_status_string(status), vdit_last_error());
    return CLI_EXIT_FAILURE;
  }
  if (status != VDIT_OK) return cli_report_failure("inspect", status);
  inspect_model model;
  infer_model(file, &hints, &model);
  if (json) print_json(file, filter, &model);
  else print_text(file, filter, &model);
  vdit_safetensors_close(file);
  return CLI_EXIT_OK;
}

const cli_command cli_command_inspect = {
    .name = "inspect",
    .summary = "list the tensors and metadata of a .safetensors file",
    .usage = "vdit inspect FILE.safetensors [--json] [--filter TEXT] [--config config.json]",
    .run = run_inspect,
};
