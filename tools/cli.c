// Option parsing, help text and user-facing errors for the vdit command.
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/json.h"
#include "vdit/base.h"

int cli_usage_error(const char *command, const char *hint, const char *format, ...) {
  va_list args;
  va_start(args, format);
  fprintf(stderr, "vdit%s%s: ", command ? " " : "", command ? command : "");
  vfprintf(stderr, format, args);
  if (hint) fprintf(stderr, " (%s)", hint);
  fputc('\n', stderr);
  va_end(args);
  return CLI_EXIT_USAGE;
}

int cli_report_failure(const char *command, int status) {
  const char *detail = vdit_last_error();
  fprintf(stderr, "vdit %s: %s%s%s\n", command, vdit_status_string((vdit_status)status),
          detail[0] ? ": " : "", detail);
  return CLI_EXIT_FAILURE;
}

static size_t edit_distance(const char *a, const char *b) {
  size_t n = strlen(a), m = strlen(b);
  if (n > 64 || m > 64) return (size_t)-1;
  size_t row[65];
  for (size_t j = 0; j <= m; j++) row[j] = j;
  for (size_t i = 1; i <= n; i++) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= m; j++) {
      size_t above = row[j];
      size_t cost = diagonal + (a[i - 1] != b[j - 1]);
      size_t best = above + 1 < row[j - 1] + 1 ? above + 1 : row[j - 1] + 1;
      row[j] = cost < best ? cost : best;
      diagonal = above;
    }
  }
  return row[m];
}

const char *cli_closest(const char *word, const char *const *candidates) {
  const char *best = NULL;
  size_t best_distance = (size_t)-1;
  for (size_t i = 0; candidates[i]; i++) {
    size_t d = edit_distance(word, candidates[i]);
    if (d < best_distance) {
      best_distance = d;
      best = candidates[i];
    }
  }
  size_t length = strlen(word);
  size_t allowed = length <= 4 ? 1 : length <= 8 ? 2 : 3;
  return best_distance <= allowed ? best : NULL;
}

int cli_unknown_word(const char *command, const char *what, const char *prefix, const char *word,
                     const char *const *candidates, const char *hint) {
  const char *closest = cli_closest(word, candidates);
  if (!closest) return cli_usage_error(command, hint, "unknown %s '%s%s'", what, prefix, word);
  char suggestion[256];
  snprintf(suggestion, sizeof suggestion, "did you mean '%s%s'? %s", prefix, closest, hint);
  return cli_usage_error(command, suggestion, "unknown %s '%s%s'", what, prefix, word);
}

int cli_parse_device(const char *command, const char *text, vdit_device *device) {
  if (strcmp(text, "cpu") == 0) *device = VDIT_CPU;
  else if (strcmp(text, "cuda") == 0) *device = VDIT_CUDA(0);
  else {
    char hint[96];
    snprintf(hint, sizeof hint, "see 'vdit %s --help'", command);
    return cli_usage_error(command, hint, "--device must be cpu or cuda, got '%s'", text);
  }
  return -1;
}

void cli_print_json_string(const char *text) {
  vdit_json_writer writer;
  vdit_json_writer_init(&writer);
  vdit_json_append_string(&writer, text, strlen(text));
  if (vdit_json_writer_finish(&writer) == VDIT_OK) fputs(writer.data, stdout);
  else fputs("\"\"", stdout); // out of memory for one string: still valid JSON
  vdit_json_writer_free(&writer);
}

static void print_help(const cli_command *command, const char *description,
                       const cli_option *options, int option_count) {
  printf("usage: %s\n\n%s\n\noptions:\n", command->usage, description);
  for (int i = 0; i < option_count; i++) {
    char left[64];
    snprintf(left, sizeof left, "--%s%s%s", options[i].name, options[i].value_name ? " " : "",
             options[i].value_name ? options[i].value_name : "");
    printf("  %-24s %s\n", left, options[i].help);
  }
  printf("  %-24s %s\n", "--help", "show this help and exit");
}

static int parse_value(const char *command, const cli_option *option, const char *text) {
  char hint[96];
  snprintf(hint, sizeof hint, "see 'vdit %s --help'", command);
  errno = 0;
  char *end = NULL;
  switch (option->kind) {
    case CLI_INT: {
      long long value = strtoll(text, &end, 10);
      if (end == text || *end != '\0' || errno == ERANGE)
        return cli_usage_error(command, hint, "--%s expects an integer, got '%s'", option->name, text);
      *(int64_t *)option->target = value;
      return -1;
    }
    case CLI_DOUBLE: {
      double value = strtod(text, &end);
      if (end == text || *end != '\0' || errno == ERANGE)
        return cli_usage_error(command, hint, "--%s expects a number, got '%s'", option->name, text);
      *(double *)option->target = value;
      return -1;
    }
    case CLI_STRING: *(const char **)option->target = text; return -1;
    case CLI_FLAG: break;
  }
  return -1;
}

int cli_parse(const cli_command *command, const char *description, const cli_option *options,
              int option_count, int argc, char **argv, const char **positional,
              int max_positional, int *positional_count) {
  if (positional_count) *positional_count = 0;
  char hint[96];
  snprintf(hint, sizeof hint, "see 'vdit %s --help'", command->name);
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
      print_help(command, description, options, option_count);
      return CLI_EXIT_OK;
    }
    if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
      if (positional_count && *positional_count < max_positional) {
        positional[(*positional_count)++] = arg;
        continue;
      }
      return cli_usage_error(command->name, hint, "unexpected argument '%s'", arg);
    }
    // --name or --name=value
    const char *name = arg + 2;
    const char *equals = strchr(name, '=');
    size_t name_length = equals ? (size_t)(equals - name) : strlen(name);
    const cli_option *match = NULL;
    for (int o = 0; o < option_count; o++)
      if (strlen(options[o].name) == name_length && strncmp(options[o].name, name, name_length) == 0)
        match = &options[o];
    if (!match) {
      const char *names[128];
      int n = 0;
      for (int o = 0; o < option_count && n < 126; o++) names[n++] = options[o].name;
      names[n++] = "help";
      names[n] = NULL;
      char bare[65];
      snprintf(bare, sizeof bare, "%.*s", (int)(name_length < 64 ? name_length : 64), name);
      return cli_unknown_word(command->name, "option", "--", bare, names, hint);
    }
    if (match->kind == CLI_FLAG) {
      if (equals) return cli_usage_error(command->name, hint, "--%s takes no value", match->name);
      *(int *)match->target = 1;
      continue;
    }
    const char *value = equals ? equals + 1 : NULL;
    if (!value) {
      if (i + 1 >= argc)
        return cli_usage_error(command->name, hint, "--%s needs a value (%s)", match->name, match->value_name);
      value = argv[++i];
    }
    int code = parse_value(command->name, match, value);
    if (code >= 0) return code;
  }
  return -1;
}
