/*
 * memory_cap.h - running a command under a memory cap, the low-memory rehearsal people do
 * by hand with cgroups: a new child memory cgroup with a limit (v2 memory.max, or the v1
 * memory controller's limit_in_bytes where that is what the machine has), the command
 * moved into it between fork and exec, and afterwards its peak, OOM kills, the time until
 * the first OOM kill and how it ended. Where no memory cgroup is writable it falls back to
 * RLIMIT_AS and says how that differs.
 *
 * The three ways, and why they differ (docs/WATCH.md says the same for users):
 *  - cgroup v2: memory.max caps the group's resident memory including page cache; at the
 *    cap the kernel reclaims, then the OOM killer kills inside the group (memory.events
 *    oom_kill); memory.swap.max is set to 0 so swap cannot stretch the cap.
 *  - cgroup v1: memory.limit_in_bytes, the same idea on the older controller (oom_control's
 *    oom_kill, max_usage_in_bytes for the peak; memsw limit set when swap is accounted).
 *  - RLIMIT_AS: caps virtual address space, not memory use: mmap/malloc fail with ENOMEM
 *    instead of anything being killed, reserved-but-untouched memory (thread stacks,
 *    arenas, sanitizer shadow) counts, page cache does not, and only this process (and
 *    what it forks, each separately) is limited.
 *
 * Use: prepare (before fork) -> enter (in the child, before exec; async-signal-safe) ->
 * started (in the parent after fork) -> wait (or your own wait loop calling
 * lw_memory_cap_check when lw_memory_cap_event_fd is readable) -> collect -> report ->
 * cleanup.
 */
#ifndef LW_CLI_MEMORY_CAP_H
#define LW_CLI_MEMORY_CAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <time.h>

#include "common/buf.h"
#include "common/cgroup.h"

typedef enum lw_memory_cap_mode {
  LW_CAP_AUTO = 0,  /* options only: v2, then v1, then RLIMIT_AS */
  LW_CAP_CGROUP_V2,
  LW_CAP_CGROUP_V1,
  LW_CAP_RLIMIT_AS,
} lw_memory_cap_mode_t;

typedef struct lw_memory_cap_options {
  lw_memory_cap_mode_t mode;
  /* Where to create the group: NULL for the caller's own memory cgroup; else a directory
   * of a delegated subtree (with parent_version saying which hierarchy it belongs to). */
  const char *cgroup_parent;
  lw_cgroup_version_t parent_version;
} lw_memory_cap_options_t;

typedef struct lw_memory_cap {
  lw_memory_cap_mode_t mode; /* what is in force */
  uint64_t limit_bytes;
  lw_cgroup_t group;         /* the group made for the command (cgroup modes) */
  bool group_created;
  int procs_fd;              /* the group's cgroup.procs, written by the child */
  int event_fd;              /* v1: eventfd signalled on OOM; v2: memory.events (POLLPRI) */
  int oom_control_fd;        /* v1: memory.oom_control, which the eventfd is registered on */
  struct timespec started;
  uint64_t oom_kills_before; /* the group is new, but a delegated parent may pass one in */
  double first_oom_seconds;  /* seconds after start of the first OOM kill seen, or -1 */
  char warning[640];         /* why a fallback was taken, for the caller to print */
} lw_memory_cap_t;

/* Sets up the cap (nothing is changed for the caller's own process). Returns 0, or a
 * negative errno with a one-line reason in cap->warning when even the fallback failed or a
 * mode given in options could not be had. A fallback is not an error: it returns 0 with
 * cap->warning set. */
int lw_memory_cap_prepare(lw_memory_cap_t *cap, uint64_t limit_bytes,
                          const lw_memory_cap_options_t *options);

/* In the child between fork and exec: joins the group, or sets RLIMIT_AS. Only
 * async-signal-safe calls. Returns 0 or a negative errno. */
int lw_memory_cap_enter(const lw_memory_cap_t *cap);

/* In the parent right after fork: the clock for "time until OOM" starts. */
void lw_memory_cap_started(lw_memory_cap_t *cap);

/* A descriptor to poll (POLLIN | POLLPRI) for OOM events while the command runs, or -1
 * (then call lw_memory_cap_check now and then). */
int lw_memory_cap_event_fd(const lw_memory_cap_t *cap);
/* Reads the group's OOM kill count; notes the time of the first kill. */
void lw_memory_cap_check(lw_memory_cap_t *cap);

/* Waits for pid to end (wait4), checking OOM events as they come (pidfd + poll; checks
 * every 100 ms where there is no event descriptor). EINTR is retried. Returns 0 or a
 * negative errno. */
int lw_memory_cap_wait(lw_memory_cap_t *cap, pid_t pid, int *status, struct rusage *usage);

typedef enum lw_memory_cap_end {
  LW_CAP_END_EXITED,     /* exited by itself (status in exit_status) */
  LW_CAP_END_OOM_KILLED, /* SIGKILL while the group counted an OOM kill */
  LW_CAP_END_SIGNALED,   /* another signal, or SIGKILL without an OOM kill */
} lw_memory_cap_end_t;

typedef struct lw_memory_cap_result {
  lw_memory_cap_mode_t mode;
  uint64_t limit_bytes;
  char group_dir[LW_CGROUP_PATH_MAX]; /* the group made for the command ("" for RLIMIT_AS) */
  bool group_peak_known;
  uint64_t group_peak_bytes; /* v2 memory.peak (Linux 5.19+) or v1 max_usage_in_bytes */
  uint64_t peak_rss_bytes;   /* the command's own peak RSS (getrusage ru_maxrss) */
  uint64_t oom_kills;        /* OOM kills in the group (cgroup modes) */
  uint64_t limit_hits;       /* times usage hit the cap (v2 events max, v1 failcnt) */
  double seconds;            /* run time */
  double seconds_to_oom;     /* until the first OOM kill, or -1 */
  bool oom_time_bound;       /* the kill was not seen as it happened: at most this long */
  lw_memory_cap_end_t end;
  int exit_status;           /* LW_CAP_END_EXITED */
  int signal;                /* LW_CAP_END_SIGNALED / OOM_KILLED */
} lw_memory_cap_result_t;

/* After the wait: final numbers from the group and the wait status. Returns 0. */
int lw_memory_cap_collect(lw_memory_cap_t *cap, int wait_status, const struct rusage *usage,
                          lw_memory_cap_result_t *out);

/* "cgroup v1 memory.limit_in_bytes", "RLIMIT_AS" ... */
const char *lw_memory_cap_mode_name(lw_memory_cap_mode_t mode);

/* Human report, a few lines each starting "leakwatch: memory cap: ". */
void lw_memory_cap_report(const lw_memory_cap_result_t *result, lw_buf_t *out);
/* The same as one JSON object (no newline). */
void lw_memory_cap_report_json(const lw_memory_cap_result_t *result, lw_buf_t *out);

/* Closes descriptors and removes the group. Returns 0, or a negative errno with
 * cap->warning saying what was left behind (e.g. processes still in the group). */
int lw_memory_cap_cleanup(lw_memory_cap_t *cap);

#endif
