// vdit: the command-line front end. Dispatches `vdit <command> [options]`.
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "vdit/build_config.h"

static const cli_command *const commands[] = {
    &cli_command_info,
    &cli_command_inspect,
    &cli_command_attn,
    &cli_command_formats,
    &cli_command_bench,
    &cli_command_ops,
    &cli_command_shield,
    &cli_command_capture,
    &cli_command_train,
    &cli_command_generate,
    &cli_command_world,
    &cli_command_kbench,
};
enum { COMMAND_COUNT = sizeof commands / sizeof commands[0] };

static void print_usage(void) {
  printf("usage: vdit <command> [options]\n\n"
         "vdit %s runs and trains video diffusion transformers (Wan2.1) on CPU and CUDA.\n\n"
         "commands:\n",
         VDIT_VERSION_STRING);
  for (int i = 0; i < COMMAND_COUNT; i++) printf("  %-10s %s\n", commands[i]->name, commands[i]->summary);
  printf("\n'vdit <command> --help' describes a command's options.\n");
}

int main(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
      strcmp(argv[1], "help") == 0) {
    print_usage();
    return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
  }
  if (strcmp(argv[1], "--version") == 0) {
    printf("vdit %s\n", VDIT_VERSION_STRING);
    return CLI_EXIT_OK;
  }
  for (int i = 0; i < COMMAND_COUNT; i++)
    if (strcmp(argv[1], commands[i]->name) == 0) return commands[i]->run(argc - 1, argv + 1);

  const char *names[COMMAND_COUNT + 1];
  for (int i = 0; i < COMMAND_COUNT; i++) names[i] = commands[i]->name;
  names[COMMAND_COUNT] = NULL;
  return cli_unknown_word(NULL, "command", "", argv[1], names, "see 'vdit --help'");
}
