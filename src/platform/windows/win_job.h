/*
 * win_job.h - a Job Object with a per-process memory limit: the Windows form of running a
 * command in a capped memory cgroup (../../cli/memory_cap.h). The limit is on committed
 * memory (private bytes) of each process in the job; at the limit, allocations fail
 * (VirtualAlloc returns ERROR_COMMITMENT_LIMIT, malloc returns NULL) and the job posts
 * JOB_OBJECT_MSG_PROCESS_MEMORY_LIMIT; nothing is killed, unlike the OOM killer. The job
 * records the peak, and child processes the command starts are limited too.
 */
#ifndef LW_PLATFORM_WINDOWS_WIN_JOB_H
#define LW_PLATFORM_WINDOWS_WIN_JOB_H

#include <stdbool.h>
#include <stdint.h>

typedef struct lw_win_job {
  void *job;  /* HANDLE */
  void *port; /* completion port receiving the job's messages */
  uint64_t limit_bytes;
  uint64_t limit_hits;       /* JOB_OBJECT_MSG_PROCESS_MEMORY_LIMIT messages */
  double first_hit_seconds;  /* after start, or -1 */
  double started;            /* lw_os_mono_now at assignment */
} lw_win_job_t;

/* Creates the job with the limit. Returns 0 or a negative errno. */
int lw_win_job_create(lw_win_job_t *job, uint64_t limit_bytes);
/* Puts a (suspended) process into the job; starts the clock. */
int lw_win_job_assign(lw_win_job_t *job, void *process);
/* Reads the job's pending messages, waiting up to wait_ms for the first. */
void lw_win_job_poll(lw_win_job_t *job, unsigned wait_ms);
/* Peak committed memory of any process in the job (0 when the system does not say). */
uint64_t lw_win_job_peak(const lw_win_job_t *job);
/* True when the limit the system reports back is the one set (wine accepts the call but
 * may not enforce it; the caller says so). */
bool lw_win_job_limit_in_force(const lw_win_job_t *job);
void lw_win_job_close(lw_win_job_t *job);

#endif
