/*
 * memory_cap_windows.h - what `leakwatch run --memory-max` reports on Windows, where the cap
 * is a Job Object's per-process memory limit (src/platform/windows/win_job.h): the limit,
 * how the command ended, how often it hit the limit and when first, and its peaks. The
 * Linux report (memory_cap.h) is about cgroups and OOM kills; this one says what differs:
 * at a job limit allocations fail, nothing is killed.
 */
#ifndef LW_CLI_MEMORY_CAP_WINDOWS_H
#define LW_CLI_MEMORY_CAP_WINDOWS_H

#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"

typedef struct lw_job_cap_result {
  uint64_t limit_bytes;
  bool limit_in_force;       /* the system reports the limit back (wine may not enforce it) */
  uint64_t exit_code;        /* GetExitCodeProcess */
  double seconds;
  uint64_t limit_hits;       /* JOB_OBJECT_MSG_PROCESS_MEMORY_LIMIT messages */
  double first_hit_seconds;  /* or -1 */
  uint64_t job_peak_bytes;   /* PeakProcessMemoryUsed: committed memory */
  uint64_t peak_working_set_bytes;
  uint64_t peak_private_bytes; /* PeakPagefileUsage of the command */
} lw_job_cap_result_t;

/* A few lines, each "leakwatch: memory cap: ...". */
void lw_job_cap_report(const lw_job_cap_result_t *r, lw_buf_t *out);
/* One JSON object (no newline). */
void lw_job_cap_report_json(const lw_job_cap_result_t *r, lw_buf_t *out);

#endif
