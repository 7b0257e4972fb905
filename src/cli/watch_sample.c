/*
 * watch_sample.c - reads one sample of a process from /proc and its memory cgroup
 * (see watch_sample.h).
 */
#define _GNU_SOURCE
#include "cli/watch_sample.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double clock_seconds(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* btime from /proc/stat: boot time in seconds since the epoch (for process start times). */
static double read_boot_time(const char *proc_root) {
  char path[256], text[8192];
  snprintf(path, sizeof path, "%s/stat", proc_root);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return 0;
  ssize_t n = read(fd, text, sizeof text - 1);
  close(fd);
  if (n <= 0)
    return 0;
  text[n] = '\0';
  const char *b = strstr(text, "\nbtime ");
  return b ? (double)strtoull(b + 7, NULL, 10) : 0;
}

int lw_watch_sampler_init(lw_watch_sampler_t *sampler, bool fd_types, bool smaps) {
  memset(sampler, 0, sizeof *sampler);
  sampler->fd_types = fd_types;
  sampler->smaps = smaps;
  sampler->smaps_every = 10;
  sampler->proc_root = "/proc";
  sampler->clk_tck = sysconf(_SC_CLK_TCK);
  if (sampler->clk_tck <= 0)
    sampler->clk_tck = 100;
  sampler->boot_time_unix = read_boot_time(sampler->proc_root);
  /* Without cgroup mounts the cgroup columns are simply absent. */
  sampler->have_mounts = lw_cgroup_detect(&sampler->mounts) == 0;
  return access(sampler->proc_root, R_OK | X_OK) == 0 ? 0 : -errno;
}

void lw_watch_sampler_begin(lw_watch_sampler_t *sampler) {
  sampler->tick++;
  sampler->n_cache = 0;
}

int lw_watch_target_open(lw_watch_sampler_t *sampler, lw_watch_target_t *target, int pid) {
  memset(target, 0, sizeof *target);
  target->pid = pid;
  int rc = lw_proc_open(&target->handle, sampler->proc_root, pid, true);
  target->opened = rc == 0;
  return rc;
}

void lw_watch_target_close(lw_watch_target_t *target) {
  if (target->opened)
    lw_proc_close(&target->handle);
  target->opened = false;
}

static bool is_denied(ssize_t rc) { return rc == -EACCES || rc == -EPERM; }
static bool is_gone(ssize_t rc) { return rc == -ESRCH || rc == -ENOENT; }

/* The memory cgroup's values, read once per round per group. */
static void sample_cgroup(lw_watch_sampler_t *sampler, lw_watch_target_t *target,
                          lw_watch_sample_t *out) {
  if (!sampler->have_mounts)
    return;
  /* Resolve on first use and every 30 rounds: a process may be moved to another group. */
  if (!target->cgroup_known || sampler->tick - target->cgroup_resolved_tick >= 30) {
    target->cgroup_known = false;
    target->cgroup_resolved_tick = sampler->tick;
    ssize_t n = lw_proc_read(&target->handle, LW_PROC_CGROUP, sampler->text, sizeof sampler->text);
    char v2[LW_CGROUP_PATH_MAX], v1[LW_CGROUP_PATH_MAX];
    if (n < 0 || lw_procfs_parse_cgroup(sampler->text, (size_t)n, v2, sizeof v2, v1, sizeof v1) != 0)
      return;
    if (lw_cgroup_resolve(&sampler->mounts, v2, v1, &target->cgroup) != 0)
      return;
    target->cgroup_known = true;
  }
  lw_cgroup_memory_t *mem = NULL;
  for (size_t i = 0; i < sampler->n_cache && !mem; i++)
    if (strcmp(sampler->cache[i].dir, target->cgroup.dir) == 0) {
      if (sampler->cache[i].rc != 0)
        return;
      mem = &sampler->cache[i].memory;
    }
  lw_cgroup_memory_t own;
  if (!mem) {
    int rc = lw_cgroup_read_memory(&target->cgroup, &own);
    if (sampler->n_cache < LW_WATCH_CGROUP_CACHE) {
      size_t i = sampler->n_cache++;
      snprintf(sampler->cache[i].dir, sizeof sampler->cache[i].dir, "%s", target->cgroup.dir);
      sampler->cache[i].rc = rc;
      sampler->cache[i].memory = own;
    }
    if (rc != 0) {
      target->cgroup_known = false; /* the group went away: resolve again next time */
      return;
    }
    mem = &own;
  }
  if (mem->has & LW_CGROUP_HAS_CURRENT)
    lw_watch_set(out, LW_W_CG_CURRENT, (double)mem->current_bytes);
  if ((mem->has & LW_CGROUP_HAS_MAX) && mem->max_bytes != LW_CGROUP_UNLIMITED)
    lw_watch_set(out, LW_W_CG_MAX, (double)mem->max_bytes);
  if (mem->has & LW_CGROUP_HAS_PEAK)
    lw_watch_set(out, LW_W_CG_PEAK, (double)mem->peak_bytes);
  if (mem->has & LW_CGROUP_HAS_OOM_KILLS)
    lw_watch_set(out, LW_W_CG_OOM_KILLS, (double)mem->oom_kills);
}

int lw_watch_sample(lw_watch_sampler_t *sampler, lw_watch_target_t *target,
                    const lw_watch_sample_t *prev, lw_watch_sample_t *out, unsigned *denied) {
  memset(out, 0, sizeof *out);
  *denied = 0;
  out->pid = target->pid;
  if (!target->opened)
    return -ESRCH;
  out->time_unix = clock_seconds(CLOCK_REALTIME);
  out->time_mono = clock_seconds(CLOCK_MONOTONIC);
  lw_proc_handle_t *h = &target->handle;
  char *text = sampler->text;
  const size_t size = sizeof sampler->text;

  ssize_t n = lw_proc_read(h, LW_PROC_STAT, text, size);
  if (n < 0)
    return is_gone(n) ? -ESRCH : (int)n;
  lw_proc_stat_t st;
  if (lw_procfs_parse_stat(text, (size_t)n, &st) != 0)
    return -EINVAL;
  if (st.state == 'Z' || st.state == 'X') /* exited; only its parent's wait is missing */
    return -ESRCH;
  snprintf(out->comm, sizeof out->comm, "%s", st.comm);
  double tck = (double)sampler->clk_tck;
  lw_watch_set(out, LW_W_VSIZE, (double)st.vsize_bytes);
  lw_watch_set(out, LW_W_MINOR_FAULTS, (double)st.minflt);
  lw_watch_set(out, LW_W_MAJOR_FAULTS, (double)st.majflt);
  lw_watch_set(out, LW_W_CPU_SECONDS, (double)(st.utime_ticks + st.stime_ticks) / tck);
  lw_watch_set(out, LW_W_THREADS, (double)st.num_threads);
  if (sampler->boot_time_unix > 0)
    lw_watch_set(out, LW_W_START_TIME, sampler->boot_time_unix + (double)st.starttime_ticks / tck);

  n = lw_proc_read(h, LW_PROC_STATUS, text, size);
  lw_proc_status_t status;
  if (n >= 0 && lw_procfs_parse_status(text, (size_t)n, &status) == 0) {
    if (status.has_vm) {
      lw_watch_set(out, LW_W_RSS, (double)status.vm_rss_bytes);
      lw_watch_set(out, LW_W_SWAP, (double)status.vm_swap_bytes);
      lw_watch_set(out, LW_W_DATA, (double)status.vm_data_bytes);
      lw_watch_set(out, LW_W_PEAK_RSS, (double)status.vm_hwm_bytes);
    }
    lw_watch_set(out, LW_W_THREADS, (double)status.threads);
  } else if (is_denied(n)) {
    *denied |= LW_DENIED_STATUS;
  } else if (is_gone(n)) {
    return -ESRCH;
  }

  if (sampler->smaps) {
    bool fresh = !target->have_smaps || !out->has[LW_W_RSS] ||
                 out->v[LW_W_RSS] != target->smaps_rss || out->v[LW_W_SWAP] != target->smaps_swap ||
                 sampler->tick - target->smaps_tick >= sampler->smaps_every;
    if (fresh) {
      n = lw_proc_read(h, LW_PROC_SMAPS_ROLLUP, text, size);
      lw_proc_smaps_rollup_t rollup;
      target->have_smaps = false;
      if (n > 0 && lw_procfs_parse_smaps_rollup(text, (size_t)n, &rollup) == 0) {
        target->have_smaps = true;
        target->smaps_tick = sampler->tick;
        target->smaps_rss = out->v[LW_W_RSS];
        target->smaps_swap = out->v[LW_W_SWAP];
        target->pss = (double)rollup.pss_bytes;
        target->uss = (double)rollup.uss_bytes;
      } else if (is_denied(n)) {
        *denied |= LW_DENIED_SMAPS;
      }
      /* A kernel thread's rollup is empty: no PSS, not an error. */
    }
    if (target->have_smaps) {
      lw_watch_set(out, LW_W_PSS, target->pss);
      lw_watch_set(out, LW_W_USS, target->uss);
    }
  }

  lw_proc_fds_t fds;
  int rc = lw_proc_read_fds(h, sampler->fd_types, sampler->scratch, sizeof sampler->scratch, &fds);
  if (rc == 0) {
    lw_watch_set(out, LW_W_FDS, (double)fds.total);
    if (sampler->fd_types)
      for (int t = 0; t < LW_FD_TYPE_COUNT; t++)
        lw_watch_set(out, LW_W_FDS_TYPE + t, (double)fds.by_type[t]);
  } else if (is_denied(rc)) {
    *denied |= LW_DENIED_FDS;
  }

  n = lw_proc_read(h, LW_PROC_IO, text, size);
  lw_proc_io_t io;
  if (n >= 0 && lw_procfs_parse_io(text, (size_t)n, &io) == 0) {
    lw_watch_set(out, LW_W_READ_BYTES, (double)io.rchar);
    lw_watch_set(out, LW_W_WRITE_BYTES, (double)io.wchar);
    lw_watch_set(out, LW_W_DISK_READ_BYTES, (double)io.read_bytes);
    lw_watch_set(out, LW_W_DISK_WRITE_BYTES, (double)io.write_bytes);
  } else if (is_denied(n)) {
    *denied |= LW_DENIED_IO;
  }

  /* Limits change rarely (prlimit): re-read every 30 rounds. */
  if (!target->have_limits || sampler->tick - target->limits_tick >= 30) {
    n = lw_proc_read(h, LW_PROC_LIMITS, text, size);
    lw_proc_limits_t limits;
    if (n >= 0 && lw_procfs_parse_limits(text, (size_t)n, &limits) == 0) {
      target->have_limits = true;
      target->limits_tick = sampler->tick;
      target->max_fds = limits.open_files_soft == LW_PROC_UNLIMITED ? -1 : (double)limits.open_files_soft;
    } else if (is_denied(n)) {
      *denied |= LW_DENIED_LIMITS;
    }
  }
  if (target->have_limits && target->max_fds >= 0)
    lw_watch_set(out, LW_W_MAX_FDS, target->max_fds);

  sample_cgroup(sampler, target, out);

  lw_watch_rate(out, prev, LW_W_MINOR_FAULTS, LW_W_MINOR_FAULTS_RATE, 1);
  lw_watch_rate(out, prev, LW_W_MAJOR_FAULTS, LW_W_MAJOR_FAULTS_RATE, 1);
  lw_watch_rate(out, prev, LW_W_CPU_SECONDS, LW_W_CPU_PERCENT, 100);
  lw_watch_rate(out, prev, LW_W_READ_BYTES, LW_W_READ_RATE, 1);
  lw_watch_rate(out, prev, LW_W_WRITE_BYTES, LW_W_WRITE_RATE, 1);
  lw_watch_rate(out, prev, LW_W_DISK_READ_BYTES, LW_W_DISK_READ_RATE, 1);
  lw_watch_rate(out, prev, LW_W_DISK_WRITE_BYTES, LW_W_DISK_WRITE_RATE, 1);
  return 0;
}

const char *const lw_watch_denied_fix = "run as the process's user or with CAP_SYS_PTRACE";

void lw_watch_denied_where(const lw_watch_target_t *target, char *out, size_t size) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d", target->pid);
  struct stat st;
  if (stat(path, &st) == 0)
    snprintf(out, size, "%s (owned by uid %u)", path, (unsigned)st.st_uid);
  else
    snprintf(out, size, "%s", path);
}

void lw_watch_denied_text(unsigned denied, char *out, size_t size) {
  static const struct {
    unsigned bit;
    const char *text;
  } parts[] = {
      {LW_DENIED_STATUS, "status (RSS, swap, data, threads)"},
      {LW_DENIED_SMAPS, "smaps_rollup (PSS, USS)"},
      {LW_DENIED_FDS, "fd/ (descriptor counts)"},
      {LW_DENIED_IO, "io (read/write rates)"},
      {LW_DENIED_LIMITS, "limits (max fds)"},
  };
  size_t n = 0;
  out[0] = '\0';
  for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
    if (!(denied & parts[i].bit))
      continue;
    int w = snprintf(out + n, n < size ? size - n : 0, "%s%s", n ? ", " : "", parts[i].text);
    if (w > 0)
      n += (size_t)w;
    if (n >= size)
      break;
  }
}
