/*
 * watch_sample.h - one sample of one process from outside: /proc/<pid>/{stat, status,
 * smaps_rollup, io, limits, fd/, cgroup} and the memory cgroup, into lw_watch_sample_t,
 * with rates computed against the previous sample.
 *
 * Cost per process and sample (what docs/PERFORMANCE.md measures): about six pread(2)s on
 * files kept open, one getdents64 plus a readlink per descriptor (without --no-fd-types),
 * and the cgroup files once per group and tick (processes sharing a group share the read).
 *
 * Used by `leakwatch watch` and `leakwatch exporter`. CLI-side (it may allocate), but all
 * /proc and cgroup parsing lives in src/common (procfs.h, cgroup.h).
 */
#ifndef LW_CLI_WATCH_SAMPLE_H
#define LW_CLI_WATCH_SAMPLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli/watch_metrics.h"
#include "common/cgroup.h"
#include "common/procfs.h"

/* What could not be read for lack of permission (bits). */
enum {
  LW_DENIED_SMAPS = 1u << 0,  /* smaps_rollup: PSS, USS */
  LW_DENIED_FDS = 1u << 1,    /* fd/: descriptor counts */
  LW_DENIED_IO = 1u << 2,     /* io: read/write bytes */
  LW_DENIED_LIMITS = 1u << 3, /* limits: max fds */
  LW_DENIED_STATUS = 1u << 4, /* status: RSS, swap, data, threads (hidepid mounts) */
};

#ifdef _WIN32
/* The Windows sampler (Toolhelp, NtQueryInformationProcess, the system handle table). */
#include "cli/watch_sample_windows.h"
#else
#define LW_WATCH_CGROUP_CACHE 64

typedef struct lw_watch_sampler {
  bool fd_types; /* readlink every descriptor to count by type */
  bool smaps;    /* read smaps_rollup (PSS, USS): walks every mapping of the process */
  /* smaps_rollup is the costliest read (the kernel walks the page tables): it is re-read
   * when RSS or swap changed since the last read, and at least every smaps_every rounds
   * (1 = every round). In between the previous PSS and USS are reported. */
  unsigned smaps_every;
  const char *proc_root;
  long clk_tck;
  double boot_time_unix;
  bool have_mounts;
  lw_cgroup_mounts_t mounts;
  uint64_t tick;
  struct {
    char dir[LW_CGROUP_PATH_MAX];
    int rc;
    lw_cgroup_memory_t memory;
  } cache[LW_WATCH_CGROUP_CACHE];
  size_t n_cache;
  char text[16384];   /* one /proc file at a time */
  char scratch[32768]; /* getdents64 buffer */
} lw_watch_sampler_t;

/* Per watched process. */
typedef struct lw_watch_target {
  int pid;
  lw_proc_handle_t handle;
  bool opened;
  lw_cgroup_t cgroup;
  uint64_t cgroup_resolved_tick; /* re-resolved now and then: processes can be moved */
  bool cgroup_known;
  /* Values read less often than every round (see lw_watch_sampler_t.smaps_every). */
  bool have_smaps;
  uint64_t smaps_tick;
  double smaps_rss, smaps_swap, pss, uss;
  bool have_limits;
  uint64_t limits_tick;
  double max_fds; /* < 0: unlimited */
} lw_watch_target_t;
#endif /* _WIN32 */

/* smaps_every starts at 10 (watch); the exporter sets 1. Returns 0 or a negative errno
 * (only when /proc itself is unreadable). */
int lw_watch_sampler_init(lw_watch_sampler_t *sampler, bool fd_types, bool smaps);
/* Starts a sampling round: cgroup values read from now on are shared by this round. */
void lw_watch_sampler_begin(lw_watch_sampler_t *sampler);

/* Opens the process. Returns 0, -ENOENT (no such process) or another negative errno. */
int lw_watch_target_open(lw_watch_sampler_t *sampler, lw_watch_target_t *target, int pid);
void lw_watch_target_close(lw_watch_target_t *target);

/* Reads one sample. prev (may be NULL) gives the rates. Returns 0, or -ESRCH when the
 * process has exited (also when it is a zombie waiting for its parent). *denied gets the
 * LW_DENIED_* bits of what permissions hid; those fields are absent from the sample. */
int lw_watch_sample(lw_watch_sampler_t *sampler, lw_watch_target_t *target,
                    const lw_watch_sample_t *prev, lw_watch_sample_t *out, unsigned *denied);

/* "smaps_rollup (PSS, USS), fd/ (descriptor counts)": what the denied bits cost. */
void lw_watch_denied_text(unsigned denied, char *out, size_t size);
/* Where those were read from, for the same message: "/proc/812 (owned by uid 106)". */
void lw_watch_denied_where(const lw_watch_target_t *target, char *out, size_t size);
/* How to get them: "run as the process's user or with CAP_SYS_PTRACE". */
extern const char *const lw_watch_denied_fix;

#endif
