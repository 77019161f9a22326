// vdit bench <target> [options]: the spelling of the benchmarks. `vdit bench attn ...`
// is `vdit attn bench ...` (same flags, same output); `vdit bench model` times the model's
// forward step on a GPU (tools/cmd_bench_model.c); other targets join as they come.
#include <stdio.h>
#include <string.h>

#include "commands.h"

enum { BENCH_MAX_ARGS = 256 };

static int run_bench(int argc, char **argv) {
  if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
    printf("usage: vdit bench attn|model [options]\n\n"
           "  attn   time an attention method's forward and backward: the same command as\n"
           "         'vdit attn bench' (see 'vdit attn bench --help')\n"
           "  model  time one forward step of a Wan2.1 preset on the GPU (see 'vdit bench model --help')\n");
    return CLI_EXIT_OK;
  }
  if (argc < 2) return cli_usage_error("bench", "see 'vdit bench --help'", "missing the target: attn or model");
  if (strcmp(argv[1], "model") == 0) return cli_bench_model(argc - 1, argv + 1);
  if (strcmp(argv[1], "attn") == 0) {
    // argv = {"bench", "attn", options...} -> {"attn", "bench", options...}
    if (argc > BENCH_MAX_ARGS) return cli_usage_error("bench attn", "see 'vdit attn bench --help'", "too many arguments");
    char *forwarded[BENCH_MAX_ARGS + 1];
    forwarded[0] = (char *)"attn";
    forwarded[1] = (char *)"bench";
    for (int i = 2; i < argc; i++) forwarded[i] = argv[i];
    forwarded[argc] = NULL;
    return cli_command_attn.run(argc, forwarded);
  }
  static const char *const targets[] = {"attn", "model", NULL};
  const char *closest = cli_closest(argv[1], targets);
  char hint[96];
  snprintf(hint, sizeof hint, "%s%s%ssee 'vdit bench --help'", closest ? "did you mean '" : "", closest ? closest : "",
           closest ? "'? " : "");
  return cli_usage_error("bench", hint, "unknown target '%s'", argv[1]);
}

const cli_command cli_command_bench = {
    .name = "bench",
    .summary = "benchmarks by target: 'vdit bench attn' is 'vdit attn bench'",
    .usage = "vdit bench attn|model [options]",
    .run = run_bench,
};
