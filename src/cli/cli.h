/*
 * cli.h - what every `leakwatch` subcommand shares: the option parser that also prints
 * --help, one-line error reporting, exit codes, and the subcommand list.
 *
 * Exit codes (documented in docs/CLI.md): 0 success, 1 the command ran and failed (or, for
 * `leakwatch run`, the target's own status is passed through), 2 usage error, 127 the
 * command to run does not exist.
 */
#ifndef LW_CLI_CLI_H
#define LW_CLI_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum { LW_EXIT_OK = 0, LW_EXIT_FAILURE = 1, LW_EXIT_USAGE = 2, LW_EXIT_NOT_FOUND = 127 };

typedef struct lw_cli_option {
  const char *long_name; /* "rate" for --rate */
  int short_name;        /* 'r' for -r, or 0 */
  const char *argument;  /* name of the value ("BYTES"), or NULL for a flag */
  const char *help;
} lw_cli_option_t;

typedef struct lw_cli_spec {
  const char *name;     /* "run" */
  const char *usage;    /* "leakwatch run [OPTIONS] -- COMMAND [ARGS...]" */
  const char *summary;  /* a paragraph printed under the usage line */
  const lw_cli_option_t *options; /* terminated by an entry with long_name NULL */
  const char *epilog;   /* examples, printed after the options; may be NULL */
} lw_cli_spec_t;

typedef struct lw_cli_parser {
  const lw_cli_spec_t *spec;
  int argc;
  char **argv;
  int index;
  const char *pending_shorts; /* rest of a "-abc" cluster */
  bool stop_at_positional;    /* `run`: the first non-option starts the command */
  char **positionals;
  int n_positionals;
} lw_cli_parser_t;

enum { LW_CLI_END = -1 };

/* argv[0] is the subcommand name. With stop_at_positional, parsing stops at the first
 * non-option (or after "--") and parser->index points at it; otherwise non-options are
 * collected in positionals. */
void lw_cli_parser_init(lw_cli_parser_t *parser, const lw_cli_spec_t *spec, int argc,
                        char **argv, bool stop_at_positional);
void lw_cli_parser_free(lw_cli_parser_t *parser);
/* Returns the index of the next option in spec->options (its value in *value, NULL for
 * flags) or LW_CLI_END. --help/-h prints the help and exits 0; an unknown option or a
 * missing value prints a one-line error and exits 2. */
int lw_cli_next(lw_cli_parser_t *parser, const char **value);
void lw_cli_print_help(const lw_cli_spec_t *spec);

/* Where errors and warnings go: stderr unless set (a Windows service has no stderr, so the
 * exporter points this at its log file). */
FILE *lw_cli_diagnostics(void);
void lw_cli_set_diagnostics(FILE *stream);

/* "leakwatch: <message>" on stderr. */
void lw_cli_error(const char *format, ...) __attribute__((format(printf, 1, 2)));
void lw_cli_warn(const char *format, ...) __attribute__((format(printf, 1, 2)));
/* "leakwatch <cmd>: <message> (see 'leakwatch <cmd> --help')"; returns LW_EXIT_USAGE. */
int lw_cli_usage_error(const lw_cli_spec_t *spec, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

/* Option value helpers: print a usage error naming the option and return false. */
bool lw_cli_parse_size(const lw_cli_spec_t *spec, const char *option, const char *value,
                       uint64_t *out);
bool lw_cli_parse_duration_ms(const lw_cli_spec_t *spec, const char *option,
                              const char *value, uint64_t *out);
bool lw_cli_parse_uint(const lw_cli_spec_t *spec, const char *option, const char *value,
                       uint64_t min, uint64_t max, uint64_t *out);
/* The value of an option that must not be empty (-s ''): returned as is, or a usage error
 * "empty value for --sample" and exit 2, as for a missing value. */
const char *lw_cli_nonempty(const lw_cli_spec_t *spec, const char *option, const char *value);
/* A library installed beside this leakwatch binary: <dir>/../lib/NAME, <dir>/NAME (the
 * build tree) or <dir>/../lib/leakwatch/NAME. The first readable one, resolved, into out
 * (PATH_MAX bytes); false when there is none. */
#ifndef _WIN32
bool lw_cli_library_beside_binary(const char *name, char *out);
#endif
/* A PID argument: a positive whole number. */
bool lw_cli_parse_pid(const lw_cli_spec_t *spec, const char *value, int *pid);
/* The one PID the commands that ask a process take, once the options are read: frees the
 * parser, and returns 0 with *pid set, or the exit status after a usage error. */
int lw_cli_take_pid(lw_cli_parser_t *parser, const lw_cli_spec_t *spec, int *pid);

/* The subcommands: one cmd_<name>.c each, listed in commands.h. */
#define LW_DECLARE_COMMAND(name, summary) int lw_cmd_##name(int argc, char **argv);
#include "cli/commands.h"
#undef LW_DECLARE_COMMAND

#endif
