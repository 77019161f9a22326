// The subcommands of `vdit`, one file each (tools/cmd_<name>.c). To add one, define its
// cli_command there, declare it here and list it in tools/vdit.c.
#ifndef VDIT_TOOLS_COMMANDS_H
#define VDIT_TOOLS_COMMANDS_H

#include "cli.h"

extern const cli_command cli_command_info;
extern const cli_command cli_command_inspect;
extern const cli_command cli_command_attn;
extern const cli_command cli_command_formats;
extern const cli_command cli_command_bench;
extern const cli_command cli_command_ops;
extern const cli_command cli_command_shield;
extern const cli_command cli_command_capture;

// `vdit bench model` (tools/cmd_bench_model.c), reached through `vdit bench`; argv[0] is "model".
int cli_bench_model(int argc, char **argv);
extern const cli_command cli_command_train;
extern const cli_command cli_command_generate;
extern const cli_command cli_command_world;
extern const cli_command cli_command_kbench;

#endif
