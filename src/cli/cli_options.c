/*
 * cli_options.c - the option parser and message helpers every subcommand uses (cli.h).
 * One table per command drives both parsing and --help, so they cannot disagree.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifndef _WIN32
#include <unistd.h>
#endif

#include "cli/cli.h"
#include "common/units.h"

static FILE *diagnostics;

FILE *lw_cli_diagnostics(void) { return diagnostics ? diagnostics : stderr; }

void lw_cli_set_diagnostics(FILE *stream) { diagnostics = stream; }

void lw_cli_error(const char *format, ...) {
  va_list args;
  va_start(args, format);
  FILE *out = lw_cli_diagnostics();
  fputs("leakwatch: ", out);
  vfprintf(out, format, args);
  fputc('\n', out);
  fflush(out);
  va_end(args);
}

void lw_cli_warn(const char *format, ...) {
  va_list args;
  va_start(args, format);
  FILE *out = lw_cli_diagnostics();
  fputs("leakwatch: warning: ", out);
  vfprintf(out, format, args);
  fputc('\n', out);
  fflush(out);
  va_end(args);
}

int lw_cli_usage_error(const lw_cli_spec_t *spec, const char *format, ...) {
  va_list args;
  va_start(args, format);
  FILE *out = lw_cli_diagnostics();
  fprintf(out, "leakwatch %s: ", spec->name);
  vfprintf(out, format, args);
  fprintf(out, " (see 'leakwatch %s --help')\n", spec->name);
  va_end(args);
  return LW_EXIT_USAGE;
}

void lw_cli_print_help(const lw_cli_spec_t *spec) {
  printf("Usage: %s\n\n%s\n", spec->usage, spec->summary);
  if (spec->options && spec->options[0].long_name) {
    printf("\nOptions:\n");
    for (const lw_cli_option_t *o = spec->options; o->long_name; o++) {
      char left[64];
      char shortname[8] = "    ";
      if (o->short_name)
        snprintf(shortname, sizeof shortname, "-%c, ", o->short_name);
      snprintf(left, sizeof left, "%s--%s%s%s", shortname, o->long_name, o->argument ? " " : "",
               o->argument ? o->argument : "");
      printf("  %-28s %s\n", left, o->help);
    }
  }
  printf("  %-28s %s\n", "-h, --help", "show this help and exit");
  if (spec->epilog)
    printf("\n%s\n", spec->epilog);
}

void lw_cli_parser_init(lw_cli_parser_t *parser, const lw_cli_spec_t *spec, int argc,
                        char **argv, bool stop_at_positional) {
  memset(parser, 0, sizeof *parser);
  parser->spec = spec;
  parser->argc = argc;
  parser->argv = argv;
  parser->index = 1;
  parser->stop_at_positional = stop_at_positional;
  parser->positionals = calloc((size_t)argc + 1, sizeof(char *));
  if (!parser->positionals) {
    lw_cli_error("out of memory");
    exit(LW_EXIT_FAILURE);
  }
}

void lw_cli_parser_free(lw_cli_parser_t *parser) {
  free(parser->positionals);
  parser->positionals = NULL;
}

/* Prints "<problem> '<what>'" as a usage error and exits 2. */
static _Noreturn void usage_exit(const lw_cli_parser_t *parser, const char *problem,
                                 const char *what) {
  exit(lw_cli_usage_error(parser->spec, "%s '%s'", problem, what));
}

/* Takes the option's value from "--x=v", the rest of "-xv", or the next argument. */
static const char *take_value(lw_cli_parser_t *parser, const lw_cli_option_t *o,
                              const char *inline_value, const char *shown) {
  if (!o->argument) {
    if (inline_value)
      usage_exit(parser, "a value was given to the flag", shown);
    return NULL;
  }
  if (inline_value)
    return inline_value;
  if (parser->index >= parser->argc)
    usage_exit(parser, "missing value for option", shown);
  return parser->argv[parser->index++];
}

int lw_cli_next(lw_cli_parser_t *parser, const char **value) {
  const lw_cli_option_t *options = parser->spec->options;
  *value = NULL;
  if (parser->pending_shorts && *parser->pending_shorts) {
    char c = *parser->pending_shorts++;
    char shown[3] = {'-', c, 0};
    if (c == 'h') {
      lw_cli_print_help(parser->spec);
      exit(LW_EXIT_OK);
    }
    for (int i = 0; options && options[i].long_name; i++) {
      if (options[i].short_name != c)
        continue;
      const char *inline_value = NULL;
      if (options[i].argument && *parser->pending_shorts) {
        inline_value = parser->pending_shorts;
        parser->pending_shorts = NULL;
      }
      *value = take_value(parser, &options[i], inline_value, shown);
      return i;
    }
    usage_exit(parser, "unknown option", shown);
  }
  parser->pending_shorts = NULL;
  while (parser->index < parser->argc) {
    char *arg = parser->argv[parser->index];
    if (strcmp(arg, "--") == 0) {
      parser->index++;
      if (!parser->stop_at_positional) {
        while (parser->index < parser->argc)
          parser->positionals[parser->n_positionals++] = parser->argv[parser->index++];
      }
      return LW_CLI_END;
    }
    if (arg[0] != '-' || arg[1] == '\0') {
      if (parser->stop_at_positional)
        return LW_CLI_END;
      parser->positionals[parser->n_positionals++] = arg;
      parser->index++;
      continue;
    }
    parser->index++;
    if (arg[1] != '-') {
      parser->pending_shorts = arg + 1;
      return lw_cli_next(parser, value);
    }
    const char *name = arg + 2;
    const char *equals = strchr(name, '=');
    size_t name_len = equals ? (size_t)(equals - name) : strlen(name);
    if (name_len == 4 && strncmp(name, "help", 4) == 0) {
      lw_cli_print_help(parser->spec);
      exit(LW_EXIT_OK);
    }
    for (int i = 0; options && options[i].long_name; i++) {
      if (strlen(options[i].long_name) == name_len &&
          strncmp(options[i].long_name, name, name_len) == 0) {
        *value = take_value(parser, &options[i], equals ? equals + 1 : NULL, arg);
        return i;
      }
    }
    char shown[128];
    snprintf(shown, sizeof shown, "--%.*s", (int)(name_len > 100 ? 100 : name_len), name);
    usage_exit(parser, "unknown option", shown);
  }
  return LW_CLI_END;
}

/* True when `value` failed only for its size: the same text with the number replaced by
 * 1 parses (so "99999999999999999999k" is out of range, "12q" is invalid). */
static bool too_large(const char *value, int (*parse)(const char *, uint64_t *)) {
  const char *p = value;
  while (*p == ' ')
    p++;
  const char *digits = p;
  while ((*p >= '0' && *p <= '9') || *p == '.')
    p++;
  if (p == digits)
    return false;
  char one[256];
  uint64_t ignored;
  return snprintf(one, sizeof one, "1%s", p) < (int)sizeof one && parse(one, &ignored) == 0;
}

bool lw_cli_parse_size(const lw_cli_spec_t *spec, const char *option, const char *value,
                       uint64_t *out) {
  if (lw_parse_size(value, out) == 0)
    return true;
  if (value && too_large(value, lw_parse_size))
    lw_cli_usage_error(spec, "size '%s' for --%s is out of range (at most 16 EiB - 1 byte)",
                       value, option);
  else
    lw_cli_usage_error(spec, "invalid size '%s' for --%s (examples: 4096, 512k, 1m, 2GiB)",
                       value ? value : "", option);
  return false;
}

bool lw_cli_parse_duration_ms(const lw_cli_spec_t *spec, const char *option,
                              const char *value, uint64_t *out) {
  if (lw_parse_duration_ms(value, out) == 0)
    return true;
  if (value && too_large(value, lw_parse_duration_ms))
    lw_cli_usage_error(spec, "duration '%s' for --%s is out of range", value, option);
  else
    lw_cli_usage_error(spec, "invalid duration '%s' for --%s (examples: 5, 500ms, 10s, 2m, 1h)",
                       value ? value : "", option);
  return false;
}

bool lw_cli_parse_uint(const lw_cli_spec_t *spec, const char *option, const char *value,
                       uint64_t min, uint64_t max, uint64_t *out) {
  char *end = NULL;
  if (value && *value >= '0' && *value <= '9') {
    errno = 0;
    unsigned long long v = strtoull(value, &end, 10);
    if (end && *end == '\0' && errno != ERANGE && v >= min && v <= max) {
      *out = v;
      return true;
    }
    if (end && *end == '\0') { /* a whole number, just not one allowed here */
      lw_cli_usage_error(spec, "value '%s' for --%s is out of range (from %llu to %llu)", value,
                         option, (unsigned long long)min, (unsigned long long)max);
      return false;
    }
  }
  lw_cli_usage_error(spec, "invalid value '%s' for --%s (a whole number from %llu to %llu)",
                     value ? value : "", option, (unsigned long long)min,
                     (unsigned long long)max);
  return false;
}

const char *lw_cli_nonempty(const lw_cli_spec_t *spec, const char *option, const char *value) {
  if (!value || !value[0])
    exit(lw_cli_usage_error(spec, "empty value for --%s", option));
  return value;
}

bool lw_cli_parse_pid(const lw_cli_spec_t *spec, const char *value, int *pid) {
  char *end = NULL;
  long v = value ? strtol(value, &end, 10) : 0;
  if (!value || !*value || !end || *end || v <= 0 || v > 4194304) {
    lw_cli_usage_error(spec, "'%s' is not a process id", value ? value : "");
    return false;
  }
  *pid = (int)v;
  return true;
}

#ifndef _WIN32
bool lw_cli_library_beside_binary(const char *name, char *out) {
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  char *slash = n > 0 ? (self[n] = '\0', strrchr(self, '/')) : NULL;
  if (!slash)
    return false;
  *slash = '\0';
  const char *relative[] = {"../lib/", "", "../lib/leakwatch/"};
  for (size_t i = 0; i < sizeof relative / sizeof relative[0]; i++) {
    char candidate[PATH_MAX + 64];
    snprintf(candidate, sizeof candidate, "%s/%s%s", self, relative[i], name);
    if (realpath(candidate, out) && access(out, R_OK) == 0)
      return true;
  }
  return false;
}
#endif

int lw_cli_take_pid(lw_cli_parser_t *parser, const lw_cli_spec_t *spec, int *pid) {
  int n_positionals = parser->n_positionals;
  bool pid_ok = n_positionals == 1 && lw_cli_parse_pid(spec, parser->positionals[0], pid);
  lw_cli_parser_free(parser);
  if (n_positionals != 1)
    return lw_cli_usage_error(spec, "expected one PID");
  return pid_ok ? 0 : LW_EXIT_USAGE;
}
