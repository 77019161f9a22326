// Option parsing shared by every `vdit` subcommand: one spelling per flag across commands,
// --help from the same table, and one-line errors with a hint.
#ifndef VDIT_TOOLS_CLI_H
#define VDIT_TOOLS_CLI_H

#include <stdint.h>

#include "vdit/tensor.h"

typedef enum cli_kind {
  CLI_FLAG,   // --name           sets an int to 1
  CLI_INT,    // --name N         int64_t
  CLI_DOUBLE, // --name X         double
  CLI_STRING  // --name TEXT      const char *
} cli_kind;

typedef struct cli_option {
  const char *name;       // without the leading "--"
  cli_kind kind;
  void *target;           // int*, int64_t*, double* or const char**
  const char *value_name; // shown in --help ("N", "FILE"); NULL for flags
  const char *help;       // one line; mention the default
} cli_option;

typedef struct cli_command {
  const char *name;    // "info"
  const char *summary; // one line for `vdit --help`
  const char *usage;   // "vdit info [options]"
  int (*run)(int argc, char **argv); // argv[0] is the command name
} cli_command;

// Exit codes of the vdit command.
enum { CLI_EXIT_OK = 0, CLI_EXIT_FAILURE = 1, CLI_EXIT_USAGE = 2 };

// Parses argv[1..argc) against `options`. Positional arguments are stored in
// positional[0..max_positional) and counted in *positional_count (may be NULL when
// max_positional is 0). Returns -1 to go on, or an exit code: CLI_EXIT_OK after printing
// --help, CLI_EXIT_USAGE after printing a one-line error with a hint.
int cli_parse(const cli_command *command, const char *description, const cli_option *options,
              int option_count, int argc, char **argv, const char **positional,
              int max_positional, int *positional_count);

// Prints "vdit <command>: <message> (<hint>)" on one line to stderr; returns CLI_EXIT_USAGE.
int cli_usage_error(const char *command, const char *hint, const char *format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

// Prints "vdit <command>: <vdit_last_error()>" for a failed library call; returns CLI_EXIT_FAILURE.
int cli_report_failure(const char *command, int status);

// The candidate in `candidates` (NULL-terminated) closest to `word` by edit distance, or
// NULL when none is close enough to be a likely typo.
const char *cli_closest(const char *word, const char *const *candidates);

// "vdit[ <command>]: unknown <what> '<prefix><word>' (did you mean '<prefix><closest>'? <hint>)",
// the suggestion only when a candidate is close (cli_closest); returns CLI_EXIT_USAGE.
// `prefix` is "--" for options, "" otherwise; `command` NULL for `vdit` itself.
int cli_unknown_word(const char *command, const char *what, const char *prefix, const char *word,
                     const char *const *candidates, const char *hint);

// --device cpu|cuda (cuda is GPU 0) into *device; -1 to go on, or CLI_EXIT_USAGE after
// "vdit <command>: --device must be cpu or cuda, got '<text>'". Whether the device can be
// used is vdit_device_check's question.
int cli_parse_device(const char *command, const char *text, vdit_device *device);

// A JSON string (quoted and escaped as the library's JSON writer does) on stdout, for --json.
void cli_print_json_string(const char *text);

#endif // VDIT_TOOLS_CLI_H
