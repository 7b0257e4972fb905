/*
 * exporter_config.h - the exporter's configuration file, re-read on SIGHUP.
 *
 *   # leakwatch exporter configuration: one setting per line, '#' comments
 *   listen 127.0.0.1:9797      # address to serve on (loopback unless told otherwise)
 *   pid 1234                   # a process by id (repeatable)
 *   name ^nginx$               # processes whose name matches (POSIX extended regex)
 *   cmdline ^/usr/bin/python3 .*worker\.py   # processes whose command line matches
 *   fd-types on|off            # count descriptors by type (readlink per fd; default on)
 *   smaps on|off               # read smaps_rollup for PSS/USS (default on)
 *
 * Parsing is separate from reading so it can be tested on text; errors name the line.
 */
#ifndef LW_CLI_EXPORTER_CONFIG_H
#define LW_CLI_EXPORTER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#define LW_EXPORTER_MAX_PIDS 1024
#define LW_EXPORTER_MAX_PATTERNS 32

typedef struct lw_exporter_pattern {
  char regex[256];
  bool full; /* cmdline: match the command line instead of the name */
} lw_exporter_pattern_t;

typedef struct lw_exporter_config {
  char listen[256]; /* empty: not set here */
  int pids[LW_EXPORTER_MAX_PIDS];
  size_t n_pids;
  lw_exporter_pattern_t patterns[LW_EXPORTER_MAX_PATTERNS];
  size_t n_patterns;
  int fd_types; /* -1 not set, 0 off, 1 on */
  int smaps;
} lw_exporter_config_t;

void lw_exporter_config_init(lw_exporter_config_t *config);

/* Adds the settings in text to *config (so command-line settings can come first).
 * Returns 0, or -1 with "line N: problem" in err. */
int lw_exporter_config_parse(const char *text, size_t len, lw_exporter_config_t *config,
                             char *err, size_t err_size);

/* Adds one pid / pattern (command-line use); -1 with a message when full or invalid. */
int lw_exporter_config_add_pid(lw_exporter_config_t *config, const char *text, char *err,
                               size_t err_size);
int lw_exporter_config_add_pattern(lw_exporter_config_t *config, const char *regex, bool full,
                                   char *err, size_t err_size);

#endif
