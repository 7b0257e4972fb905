/*
 * leak_report.h - the ranked "still allocated at exit" report that `leakwatch run` prints:
 * per allocation site the estimated bytes and objects and the symbolized stack.
 */
#ifndef LW_CLI_LEAK_REPORT_H
#define LW_CLI_LEAK_REPORT_H

#include <stdbool.h>
#include <stdio.h>

#include "common/profile.h"

typedef struct lw_leak_report_options {
  int max_sites;     /* sites listed (default 10) */
  int max_frames;    /* frames shown per site (default 8) */
  bool json;
  const char *profile_path; /* named in the report */
  const char *when;         /* "at exit" (the default), "now", ... in the headline */
} lw_leak_report_options_t;

/* True for frames inside allocation functions (malloc, operator new, strdup ...) and the C++
 * standard library (std::...): shown, but not what a report names as the site. */
bool lw_leak_report_is_allocator_frame(const char *frame_name);

/* Frames of a sample as display strings, leaf first, inline frames expanded; at most max,
 * *more set when some were left out. Returns how many. */
int lw_leak_report_sample_frames(const lw_profile_t *profile, const lw_profile_sample_t *sample,
                                 char frames[][512], int max, bool *more);

/* Writes the report for a heap profile (in-use values) to out. Returns the number of sites
 * with live bytes. */
int lw_leak_report_write(FILE *out, const lw_profile_t *profile,
                         const lw_leak_report_options_t *options);

#endif
