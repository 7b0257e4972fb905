/*
 * proc_discovery.h - finding processes by name for `watch --name` and the exporter's
 * `name`/`cmdline` patterns: a scan of /proc matching each process's name (comm), or its
 * whole command line, against a POSIX extended regular expression. Also one variable of a
 * process's environment (where its agent put its socket).
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

/* The value of environment variable `name` as process pid was started with
 * (/proc/<pid>/environ: the same user's processes, or any for root). False when unset,
 * unreadable or longer than size - 1. */
bool lw_proc_environ_value(int pid, const char *name, char *value, size_t size);

#endif
