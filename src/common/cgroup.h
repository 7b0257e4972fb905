/*
 * cgroup.h - the memory cgroup of a process: where it is, what it uses, its limit, its
 * peak and its OOM kills, for cgroup v2 and for the v1 memory controller; and, for memory
 * caps, making a child group with a limit and moving a process into it.
 *
 * Machines differ (../DESIGN.md): a v2-only machine has memory.current/max/peak/events in
 * the unified hierarchy; a v1 or hybrid machine has memory.usage_in_bytes,
 * limit_in_bytes, max_usage_in_bytes, oom_control and failcnt under the memory
 * controller's own mount. This module hides the difference behind lw_cgroup_memory_t.
 *
 * Like procfs.h: parsers take slurped text and are tested on captured files; readers use
 * open/read/write/mkdir/rmdir only (no malloc, no stdio), so the agent may use them.
 */
#ifndef LW_COMMON_CGROUP_H
#define LW_COMMON_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LW_CGROUP_UNLIMITED UINT64_MAX
#define LW_CGROUP_PATH_MAX 512

typedef enum lw_cgroup_version {
  LW_CGROUP_NONE = 0,
  LW_CGROUP_V1 = 1,
  LW_CGROUP_V2 = 2,
} lw_cgroup_version_t;

/* Where the hierarchies are mounted, from /proc/self/mountinfo. Empty strings when absent. */
typedef struct lw_cgroup_mounts {
  char v2_mount[LW_CGROUP_PATH_MAX]; /* "/sys/fs/cgroup" or "/sys/fs/cgroup/unified" */
  char v2_root[LW_CGROUP_PATH_MAX];  /* mountinfo's root of that mount, usually "/" */
  bool v2_has_memory;                /* "memory" listed in <v2_mount>/cgroup.controllers */
  char v1_memory_mount[LW_CGROUP_PATH_MAX];
  char v1_memory_root[LW_CGROUP_PATH_MAX];
} lw_cgroup_mounts_t;

/* Parses mountinfo text (proc(5)): cgroup2 mounts and the cgroup mount whose super
 * options include "memory"; octal escapes (\040) in mount points are decoded. Does not set
 * v2_has_memory (that needs a file read: lw_cgroup_detect). Returns 0 or -EINVAL. */
int lw_cgroup_parse_mountinfo(const char *text, size_t len, lw_cgroup_mounts_t *out);

/* Reads /proc/self/mountinfo and the v2 root's cgroup.controllers. Returns 0 or a
 * negative errno; a machine without any cgroup mount is 0 with empty fields. */
int lw_cgroup_detect(lw_cgroup_mounts_t *out);

/* One memory cgroup directory. */
typedef struct lw_cgroup {
  lw_cgroup_version_t version;
  char dir[LW_CGROUP_PATH_MAX];
} lw_cgroup_t;

/* Turns a process's paths from /proc/<pid>/cgroup (lw_procfs_parse_cgroup) into the
 * directory holding its memory files: the v2 group when memory.current exists there
 * (the memory controller is enabled for it), else the v1 memory group. Returns 0, or
 * -ENOENT when neither has memory accounting (out->version = LW_CGROUP_NONE). */
int lw_cgroup_resolve(const lw_cgroup_mounts_t *mounts, const char *v2_path,
                      const char *v1_memory_path, lw_cgroup_t *out);

/* Joins mount + (path without the mount's root prefix). Pure; -ENAMETOOLONG if too long. */
int lw_cgroup_join(const char *mount, const char *mount_root, const char *path, char *out,
                   size_t size);

/* Bits of lw_cgroup_memory_t.has: which fields this kernel and version provide. */
enum {
  LW_CGROUP_HAS_CURRENT = 1u << 0,
  LW_CGROUP_HAS_MAX = 1u << 1,
  LW_CGROUP_HAS_PEAK = 1u << 2,       /* v2 memory.peak needs Linux 5.19 */
  LW_CGROUP_HAS_OOM_KILLS = 1u << 3,  /* v1 oom_control's oom_kill needs Linux 4.13 */
  LW_CGROUP_HAS_LIMIT_HITS = 1u << 4,
};

typedef struct lw_cgroup_memory {
  uint32_t has;
  uint64_t current_bytes; /* v2 memory.current, v1 memory.usage_in_bytes */
  uint64_t max_bytes;     /* v2 memory.max, v1 memory.limit_in_bytes; UNLIMITED = none */
  uint64_t peak_bytes;    /* v2 memory.peak, v1 memory.max_usage_in_bytes */
  uint64_t oom_kills;     /* processes the OOM killer killed in this group (hierarchical) */
  uint64_t limit_hits;    /* v2 memory.events "max", v1 memory.failcnt (+ memsw.failcnt):
                             times usage hit the limit (reclaim ran), killed or not */
} lw_cgroup_memory_t;

/* Reads what exists; missing files leave their `has` bit clear. Returns 0 when at least
 * the current usage was read, else a negative errno (-ENOENT: the group is gone). */
int lw_cgroup_read_memory(const lw_cgroup_t *cgroup, lw_cgroup_memory_t *out);

/* ---- Parsers (pure) --------------------------------------------------------------- */

/* A number or "max" (v2) on one line; v1's "unlimited" 0x7FFFFFFFFFFFF000 (PAGE_COUNTER_MAX
 * pages) and anything above is also reported as LW_CGROUP_UNLIMITED. */
int lw_cgroup_parse_limit(const char *text, size_t len, uint64_t *out);
/* A single unsigned number (memory.current, failcnt, ...). */
int lw_cgroup_parse_u64(const char *text, size_t len, uint64_t *out);

typedef struct lw_cgroup_v2_events {
  uint64_t low, high, max, oom, oom_kill, oom_group_kill;
} lw_cgroup_v2_events_t;
int lw_cgroup_parse_v2_events(const char *text, size_t len, lw_cgroup_v2_events_t *out);

typedef struct lw_cgroup_v1_oom_control {
  bool oom_kill_disable, under_oom;
  bool has_oom_kill;
  uint64_t oom_kill;
} lw_cgroup_v1_oom_control_t;
int lw_cgroup_parse_v1_oom_control(const char *text, size_t len,
                                   lw_cgroup_v1_oom_control_t *out);

/* ---- Child groups (memory caps) ------------------------------------------------------ */

/* Creates parent/name. For v2 it first makes sure the parent passes the memory controller
 * down (writes "+memory" to cgroup.subtree_control when missing; the kernel refuses with
 * EBUSY if the parent holds processes and is not the root: the "no internal processes"
 * rule). Returns 0 or a negative errno (-EEXIST, -EACCES, -EROFS, -EBUSY...). */
int lw_cgroup_create_child(const lw_cgroup_t *parent, const char *name, lw_cgroup_t *child);

/* Sets the memory limit. With cap_swap, swap is held to the same cap where the kernel
 * accounts it (v2 memory.swap.max = 0; v1 memory.memsw.limit_in_bytes = limit), so the cap
 * is what a machine without swap would give; callers pass it when the machine has swap
 * (on a machine without, it changes nothing, and v1 kernels then stop counting failcnt).
 * Returns 0 or a negative errno from the limit file. */
int lw_cgroup_set_limit(const lw_cgroup_t *cgroup, uint64_t bytes, bool cap_swap);

/* Opens cgroup.procs for writing. The fd is for lw_cgroup_enter(), which a child process
 * calls between fork and exec (it is async-signal-safe: one write(2)). */
int lw_cgroup_open_procs(const lw_cgroup_t *cgroup);
/* Moves the calling process into the group of procs_fd ("0" means the writer, in v1 and
 * v2). Returns 0 or a negative errno. */
int lw_cgroup_enter(int procs_fd);

/* Removes an empty group; retries briefly on EBUSY (the kernel finishes tearing down an
 * exited process's membership asynchronously). Returns 0 or a negative errno. */
int lw_cgroup_remove(const lw_cgroup_t *cgroup);

/* Reads a small file under the group's directory into buf (NUL-terminated). Returns the
 * length or a negative errno. Exposed for tests and diagnostics. */
int lw_cgroup_read_file(const lw_cgroup_t *cgroup, const char *name, char *buf, size_t size);

#endif
