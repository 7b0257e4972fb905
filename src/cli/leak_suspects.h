/*
 * leak_suspects.h - ranks the allocation sites of an agent's history by how likely they are
 * to leak (src/common/leak_verdict.c) and writes the result for humans or scripts. Used by
 * `leakwatch leaks PID` and the "grew during the run" section of `leakwatch run --leaks`.
 */
#ifndef LW_CLI_LEAK_SUSPECTS_H
#define LW_CLI_LEAK_SUSPECTS_H

#include <stdbool.h>
#include <stdio.h>

#include "cli/site_history.h"
#include "common/leak_verdict.h"
#include "common/profile.h"

typedef struct lw_leak_suspects_options {
  lw_leak_verdict_options_t verdict; /* sampling_rate is taken from the history */
  int max_sites;                     /* suspects listed (default 10) */
  int max_frames;                    /* frames per stack (default 8) */
  bool json;
  bool all;                          /* also list the sites that are not suspects, and why */
  const char *subject;               /* "in pid 4242", "during the run" */
} lw_leak_suspects_options_t;

/* profiles name the frames (heap, fd and threadcreate profiles of the same process,
 * symbolized; entries may be NULL); frames none of them know stay addresses. Heap sites
 * come first, then descriptor and thread sections when the history has such sites. Returns
 * the number of suspects, or -1 when out of memory. */
int lw_leak_suspects_write(FILE *out, const lw_history_t *history,
                           const lw_profile_t *const *profiles, size_t n_profiles,
                           const lw_leak_suspects_options_t *options);

#endif
