/*
 * proc_discovery.h - finding processes by name for `watch --name` and the exporter's
 * `name`/`cmdline` patterns: a scan of /proc matching each process's name (comm), or its
 * whole command line, against a POSIX extended regular expression.
 */
#ifndef LW_CLI_PROC_DISCOVERY_H
#define LW_CLI_PROC_DISCOVERY_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>

/* The text a pattern is matched against: the name, or with full the command line with
 * its NUL separators turned into spaces. Returns false when the process is gone. */
bool lw_proc_match_text(int pid, bool full, char *text, size_t size);

/* Writes up to max matching PIDs (never our own) into pids, ascending by /proc order.
 * Returns the number found, or -1 when /proc cannot be listed. */
int lw_proc_find(const regex_t *regex, bool full, int *pids, size_t max);

#endif
