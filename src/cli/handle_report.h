/*
 * handle_report.h - the "file descriptors still open at exit" and "threads still running at
 * exit" sections of `leakwatch run`: a count profile the agent wrote beside the heap profile
 * (out.fds.pb.gz, out.threads.pb.gz), ranked by count, with the creating stacks.
 */
#ifndef LW_CLI_HANDLE_REPORT_H
#define LW_CLI_HANDLE_REPORT_H

#include <stdbool.h>
#include <stdio.h>

#include "common/profile.h"

typedef enum { LW_HANDLE_REPORT_FDS, LW_HANDLE_REPORT_THREADS } lw_handle_report_kind_t;

typedef struct lw_handle_report_options {
  lw_handle_report_kind_t kind;
  int max_sites;  /* creating stacks listed (default 10) */
  int max_frames; /* frames per stack (default 8) */
  bool json;      /* one JSON object: {"total":N,"by_type":{...},"sites":[...]} */
  const char *profile_path; /* named in the report; may be NULL */
  const char *when;         /* "at exit" (the default), "now in pid 42" */
} lw_handle_report_options_t;

/* profile may be NULL: nothing was left (the agent writes no file then). Returns the total
 * count, or -1 when out of memory. */
int64_t lw_handle_report_write(FILE *out, const lw_profile_t *profile,
                               const lw_handle_report_options_t *options);

#endif
