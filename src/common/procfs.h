/*
 * procfs.h - readers for /proc/<pid>/...: what any process's memory, fds, threads, faults,
 * CPU and I/O look like from outside, with no agent in the process.
 *
 * Two layers, kept apart so the parsers can be unit-tested and fuzzed on captured text:
 *  - parsers (lw_procfs_parse_*) take a slurped buffer (text, len; no NUL needed) and fill
 *    a struct; they never read past len and return 0 or -EINVAL;
 *  - readers (lw_proc_*) slurp the files with plain open/pread/getdents64 into caller
 *    buffers, optionally keeping the files open between samples (a watcher re-reads the
 *    same files every second: pread at offset 0 regenerates a seq_file without the path
 *    lookup of a new open).
 * Nothing here calls malloc or stdio, so the agent can use it (issue 3) as well as the CLI.
 * Pairs with cgroup.h (which uses lw_procfs_parse_cgroup) and the CLI's watch sampler.
 *
 * Units: every *_bytes field is bytes (the kB of status/smaps_rollup converted), *_ticks
 * fields are clock ticks (sysconf(_SC_CLK_TCK), 100 on Linux), *_pages are pages.
 */
#ifndef LW_COMMON_PROCFS_H
#define LW_COMMON_PROCFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* /proc/<pid>/stat, parsed from the last ')' because comm may hold spaces and parens. */
typedef struct lw_proc_stat {
  int32_t pid;
  char comm[64];     /* NUL-terminated; longer names are cut */
  char state;        /* R S D Z T t X I ... */
  int32_t ppid;
  uint64_t minflt;   /* field 10, minor faults (no I/O) */
  uint64_t majflt;   /* field 12, major faults (I/O) */
  uint64_t utime_ticks;  /* field 14 */
  uint64_t stime_ticks;  /* field 15 */
  int64_t num_threads;   /* field 20 */
  uint64_t starttime_ticks; /* field 22, since boot */
  uint64_t vsize_bytes;  /* field 23 */
  uint64_t rss_pages;    /* field 24 */
} lw_proc_stat_t;
int lw_procfs_parse_stat(const char *text, size_t len, lw_proc_stat_t *out);

/* /proc/<pid>/statm: seven page counts. */
typedef struct lw_proc_statm {
  uint64_t size_pages, resident_pages, shared_pages, text_pages, lib_pages, data_pages,
      dirty_pages;
} lw_proc_statm_t;
int lw_procfs_parse_statm(const char *text, size_t len, lw_proc_statm_t *out);

/* /proc/<pid>/status. Kernel threads have no Vm* lines: has_vm tells. */
typedef struct lw_proc_status {
  char name[64];
  uint32_t uid_real, uid_effective, gid_real, gid_effective;
  bool has_vm;
  uint64_t vm_peak_bytes, vm_size_bytes, vm_hwm_bytes, vm_rss_bytes, rss_anon_bytes,
      rss_file_bytes, rss_shmem_bytes, vm_data_bytes, vm_stk_bytes, vm_swap_bytes;
  uint64_t threads;
  uint64_t voluntary_ctxt_switches, nonvoluntary_ctxt_switches;
} lw_proc_status_t;
int lw_procfs_parse_status(const char *text, size_t len, lw_proc_status_t *out);

/* /proc/<pid>/smaps_rollup (Linux 4.14+). USS, the memory that would be freed if the
 * process exited, is private_clean + private_dirty + private_hugetlb (as smem and psutil
 * count it). */
typedef struct lw_proc_smaps_rollup {
  uint64_t rss_bytes, pss_bytes, pss_anon_bytes, pss_file_bytes, pss_shmem_bytes,
      shared_clean_bytes, shared_dirty_bytes, private_clean_bytes, private_dirty_bytes,
      private_hugetlb_bytes, anonymous_bytes, swap_bytes, swap_pss_bytes;
  uint64_t uss_bytes;
} lw_proc_smaps_rollup_t;
int lw_procfs_parse_smaps_rollup(const char *text, size_t len, lw_proc_smaps_rollup_t *out);

/* /proc/<pid>/io. rchar/wchar count every read(2)/write(2)-family byte (files, sockets,
 * pipes, ttys); read_bytes/write_bytes only what reached or came from the storage layer. */
typedef struct lw_proc_io {
  uint64_t rchar, wchar, syscr, syscw, read_bytes, write_bytes, cancelled_write_bytes;
} lw_proc_io_t;
int lw_procfs_parse_io(const char *text, size_t len, lw_proc_io_t *out);

/* /proc/<pid>/limits; LW_PROC_UNLIMITED stands for "unlimited". */
#define LW_PROC_UNLIMITED UINT64_MAX
typedef struct lw_proc_limits {
  uint64_t open_files_soft, open_files_hard;
  uint64_t address_space_soft, address_space_hard; /* bytes */
} lw_proc_limits_t;
int lw_procfs_parse_limits(const char *text, size_t len, lw_proc_limits_t *out);

/* /proc/<pid>/cgroup: the unified (v2, "0::/path") path and the v1 memory controller's
 * path, each "" when absent. Returns -EINVAL on malformed lines, -ENAMETOOLONG when a path
 * does not fit. */
int lw_procfs_parse_cgroup(const char *text, size_t len, char *v2_path, size_t v2_size,
                           char *v1_memory_path, size_t v1_size);

/* File descriptor types, from the readlink(2) text of /proc/<pid>/fd/<n>. */
typedef enum lw_fd_type {
  LW_FD_FILE,     /* a path: regular file or directory, memfd, /dev/shm */
  LW_FD_SOCKET,   /* socket:[inode] */
  LW_FD_PIPE,     /* pipe:[inode] (also FIFOs opened by path show as a path: file) */
  LW_FD_EVENTFD,  /* anon_inode:[eventfd] */
  LW_FD_TIMERFD,  /* anon_inode:[timerfd] */
  LW_FD_EPOLL,    /* anon_inode:[eventpoll] */
  LW_FD_SIGNALFD, /* anon_inode:[signalfd] */
  LW_FD_INOTIFY,  /* anon_inode:inotify */
  LW_FD_ANON,     /* any other anon_inode: io_uring, pidfd, perf_event, bpf, userfaultfd */
  LW_FD_DEVICE,   /* a path under /dev/ (not /dev/shm or /dev/mqueue): ttys, /dev/null */
  LW_FD_OTHER,    /* anything else: namespace fds (net:[...]), unknown kinds */
  LW_FD_TYPE_COUNT
} lw_fd_type_t;
lw_fd_type_t lw_procfs_classify_fd_link(const char *target, size_t len);
/* "file", "socket", "pipe", "eventfd", "timerfd", "epoll", "signalfd", "inotify",
 * "anon_inode", "device", "other": used as CSV column suffixes and Prometheus labels. */
const char *lw_fd_type_name(lw_fd_type_t type);

typedef struct lw_proc_fds {
  uint64_t total;
  uint64_t by_type[LW_FD_TYPE_COUNT]; /* all zero when types were not asked for */
} lw_proc_fds_t;

/* ---- Readers ---------------------------------------------------------------------- */

typedef enum lw_proc_file {
  LW_PROC_STAT,
  LW_PROC_STATM,
  LW_PROC_STATUS,
  LW_PROC_SMAPS_ROLLUP,
  LW_PROC_IO,
  LW_PROC_LIMITS,
  LW_PROC_CGROUP,
  LW_PROC_CMDLINE,
  LW_PROC_FILE_COUNT
} lw_proc_file_t;
/* "stat", "statm", ... "cmdline": the name under /proc/<pid>/. */
const char *lw_proc_file_name(lw_proc_file_t file);

/* An open /proc/<pid> directory. With keep_open, files stay open after their first read
 * and are re-read with pread; each costs one descriptor, so a watcher of many processes
 * raises RLIMIT_NOFILE or passes keep_open = false (on EMFILE the reader falls back to
 * open-read-close by itself). Because every file is opened relative to the directory
 * descriptor, a PID reused by a new process is never confused with the old one: reads
 * through the old directory fail with ENOENT/ESRCH. */
typedef struct lw_proc_handle {
  int pid;
  int dir_fd;
  int fds[LW_PROC_FILE_COUNT];
  int fd_dir_fd; /* /proc/<pid>/fd, kept open like the files */
  bool keep_open;
} lw_proc_handle_t;

/* proc_root is "/proc" (tests pass a directory laid out the same way). Returns 0, or
 * -ENOENT when there is no such process, or another negative errno. */
int lw_proc_open(lw_proc_handle_t *handle, const char *proc_root, int pid, bool keep_open);
void lw_proc_close(lw_proc_handle_t *handle);

/* Reads the whole file into buf (not NUL-terminated). Returns the byte count, or a
 * negative errno: -EACCES/-EPERM when the caller may not read it (smaps_rollup, io, fd/ and
 * limits need ptrace-read access: same uid, or CAP_SYS_PTRACE), -ESRCH/-ENOENT when the
 * process is gone, -EFBIG when the file is larger than size (buf then holds the first
 * size bytes; fine for cmdline). */
ssize_t lw_proc_read(lw_proc_handle_t *handle, lw_proc_file_t file, char *buf, size_t size);

/* Reads a small file by path (the agent's /proc/self/cmdline, statm, /proc/stat) into buf,
 * not NUL-terminated, cutting it at size bytes. Returns the byte count or a negative
 * errno. */
ssize_t lw_proc_read_path(const char *path, char *buf, size_t size);

/* Counts open descriptors by listing /proc/<pid>/fd with getdents64 into `scratch` (any
 * size from 1 KiB; bigger means fewer system calls). With classify, each entry is also
 * readlink'ed and counted by type: one more system call per descriptor, which is the main
 * cost of watching a process with thousands of fds. Returns 0 or a negative errno. */
int lw_proc_read_fds(lw_proc_handle_t *handle, bool classify, void *scratch,
                     size_t scratch_size, lw_proc_fds_t *out);

/* Number of entries in /proc/<pid>/task (threads), same scratch convention. Returns the
 * count or a negative errno. */
int64_t lw_proc_count_tasks(lw_proc_handle_t *handle, void *scratch, size_t scratch_size);

#endif
