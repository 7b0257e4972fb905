/*
 * main.c - the `leakwatch` command: global flags and dispatch to the subcommands listed in
 * commands.h (one cmd_<name>.c each, git-style).
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

typedef struct {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *summary;
} command_t;

static const command_t commands[] = {
#define LW_DECLARE_COMMAND(name, summary) {#name, lw_cmd_##name, summary},
#include "cli/commands.h"
#undef LW_DECLARE_COMMAND
    {NULL, NULL, NULL},
};

static void print_usage(FILE *out) {
  fprintf(out,
          "Usage: leakwatch COMMAND [OPTIONS] [ARGS...]\n\n"
          "Find memory leaks and watch memory in native processes without recompiling them.\n\n"
          "Commands:\n");
  for (size_t i = 0; commands[i].name; i++)
    fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
  fprintf(out, "\nRun 'leakwatch COMMAND --help' for a command's options.\n"
               "Global: --version, --help.\n");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    print_usage(stderr);
    return LW_EXIT_USAGE;
  }
  const char *name = argv[1];
  if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
    if (strcmp(name, "help") == 0 && argc > 2) {
      char *help_argv[] = {argv[2], "--help", NULL};
      for (size_t i = 0; commands[i].name; i++)
        if (strcmp(commands[i].name, argv[2]) == 0)
          return commands[i].run(2, help_argv);
      lw_cli_error("unknown command '%s' (see 'leakwatch --help')", argv[2]);
      return LW_EXIT_USAGE;
    }
    print_usage(stdout);
    return LW_EXIT_OK;
  }
  if (strcmp(name, "--version") == 0 || strcmp(name, "version") == 0) {
    printf("leakwatch %s\n", LW_VERSION);
    return LW_EXIT_OK;
  }
  for (size_t i = 0; commands[i].name; i++)
    if (strcmp(commands[i].name, name) == 0)
      return commands[i].run(argc - 1, argv + 1);
  lw_cli_error("unknown command '%s' (see 'leakwatch --help')", name);
  return LW_EXIT_USAGE;
}
