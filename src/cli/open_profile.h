/*
 * open_profile.h - what the analysis commands (top, traces, diff, list, flame, report) share
 * to get a profile ready: load it (profile_io.h), symbolize it when it carries bare
 * addresses (symbolize.h), and report problems as "leakwatch: '<file>': <problem>". Also the
 * options for that (--debug-dir, --no-symbolize), parsed the same way everywhere.
 */
#ifndef LW_CLI_OPEN_PROFILE_H
#define LW_CLI_OPEN_PROFILE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/profile.h"

#define LW_OPEN_MAX_DEBUG_DIRS 16

typedef struct lw_open_options {
  const char *debug_dirs[LW_OPEN_MAX_DEBUG_DIRS];
  size_t n_debug_dirs;
  bool no_symbolize;
} lw_open_options_t;

/* Help texts for the shared options, so every command words them alike. */
#define LW_OPEN_HELP_DEBUG_DIR \
  "also look for split debug info under DIR (.build-id/ab/cdef.debug or debuginfod's " \
  "<build-id>/debuginfo); repeatable"
#define LW_OPEN_HELP_NO_SYMBOLIZE "use the profile's names as they are, open no binaries"

/* Handles --debug-dir and --no-symbolize; returns false when `option` is neither.
 * Exits with a usage error when too many --debug-dir are given. */
bool lw_open_option(lw_open_options_t *o, const char *option, const char *value);

/* Loads `path` into *out and symbolizes what needs it; errors and warnings go to stderr.
 * Then every string the profile holds is made safe to print (lw_profile_escape_strings), as
 * these commands only show it. Returns 0, or -1 (after printing the error) when the file
 * cannot be used. */
int lw_open_profile(const char *path, const lw_open_options_t *o, lw_profile_t *out);

/* Rewrites each string of the table with lw_escape_text (symbolize.h): function and file
 * names, sample types, labels, comments from a crafted profile reach the terminal as
 * "\x1b[2J" text, never as escape sequences. Indexes do not change. Returns 0, or -1 when
 * memory ran out (the profile is then unchanged). */
int lw_profile_escape_strings(lw_profile_t *p);

/* "Nov 22, 2026 at 02:20:19 UTC" for a profile's time_nanos ("" when unset). */
void lw_profile_time_text(const lw_profile_t *p, char *out, size_t size);

/* Basename of the main binary (mapping[0]), as pprof's "File:" line; "" when unknown. */
const char *lw_profile_main_file(const lw_profile_t *p);

#endif
