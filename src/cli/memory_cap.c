/*
 * memory_cap.c - a command under a memory cap: child memory cgroup (v2 or v1) or RLIMIT_AS
 * (see memory_cap.h).
 */
#define _GNU_SOURCE
#include "cli/memory_cap.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/procfs.h"
#include "common/units.h"

const char *lw_memory_cap_mode_name(lw_memory_cap_mode_t mode) {
  switch (mode) {
  case LW_CAP_CGROUP_V2:
    return "cgroup v2 memory.max";
  case LW_CAP_CGROUP_V1:
    return "cgroup v1 memory.limit_in_bytes";
  case LW_CAP_RLIMIT_AS:
    return "RLIMIT_AS";
  default:
    return "none";
  }
}

static double since(const struct timespec *start) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

/* The caller's own memory cgroups: the v2 group (if v2 has the memory controller) and the
 * v1 memory group (if mounted). */
static void own_groups(lw_cgroup_t *v2, lw_cgroup_t *v1) {
  v2->version = v1->version = LW_CGROUP_NONE;
  lw_cgroup_mounts_t mounts;
  if (lw_cgroup_detect(&mounts) != 0)
    return;
  char text[4096], v2_path[LW_CGROUP_PATH_MAX], v1_path[LW_CGROUP_PATH_MAX];
  int fd = open("/proc/self/cgroup", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return;
  ssize_t n = read(fd, text, sizeof text);
  close(fd);
  if (n <= 0 ||
      lw_procfs_parse_cgroup(text, (size_t)n, v2_path, sizeof v2_path, v1_path, sizeof v1_path) != 0)
    return;
  if (mounts.v2_mount[0] && mounts.v2_has_memory && v2_path[0] &&
      lw_cgroup_join(mounts.v2_mount, mounts.v2_root, v2_path, v2->dir, sizeof v2->dir) == 0)
    v2->version = LW_CGROUP_V2;
  if (mounts.v1_memory_mount[0] && v1_path[0] &&
      lw_cgroup_join(mounts.v1_memory_mount, mounts.v1_memory_root, v1_path, v1->dir,
                     sizeof v1->dir) == 0)
    v1->version = LW_CGROUP_V1;
}

/* v1: an eventfd the kernel signals on OOM in the group (cgroup.event_control). */
static void arm_v1_events(lw_memory_cap_t *cap) {
  char path[LW_CGROUP_PATH_MAX + 32], line[64];
  snprintf(path, sizeof path, "%s/memory.oom_control", cap->group.dir);
  cap->oom_control_fd = open(path, O_RDONLY | O_CLOEXEC);
  cap->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  snprintf(path, sizeof path, "%s/cgroup.event_control", cap->group.dir);
  int control = open(path, O_WRONLY | O_CLOEXEC);
  bool armed = false;
  if (cap->oom_control_fd >= 0 && cap->event_fd >= 0 && control >= 0) {
    int n = snprintf(line, sizeof line, "%d %d", cap->event_fd, cap->oom_control_fd);
    armed = write(control, line, (size_t)n) == n;
  }
  if (control >= 0)
    close(control);
  if (!armed) { /* newer kernels may refuse; polling every 100 ms still works */
    if (cap->event_fd >= 0)
      close(cap->event_fd);
    if (cap->oom_control_fd >= 0)
      close(cap->oom_control_fd);
    cap->event_fd = cap->oom_control_fd = -1;
  }
}

/* Does this machine have swap? (SwapTotal in /proc/meminfo.) */
static bool machine_has_swap(void) {
  char text[4096];
  int fd = open("/proc/meminfo", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return true; /* unknown: cap swap too, to be safe */
  ssize_t n = read(fd, text, sizeof text - 1);
  close(fd);
  if (n <= 0)
    return true;
  text[n] = '\0';
  const char *line = strstr(text, "SwapTotal:");
  return !line || strtoull(line + 10, NULL, 10) > 0;
}

/* Creates and limits a group under parent. Returns 0 or a negative errno. */
static int make_group(lw_memory_cap_t *cap, const lw_cgroup_t *parent, uint64_t limit) {
  int rc = -EEXIST;
  for (int attempt = 0; attempt < 100 && rc == -EEXIST; attempt++) {
    char name[64];
    if (attempt == 0)
      snprintf(name, sizeof name, "leakwatch-run-%d", (int)getpid());
    else
      snprintf(name, sizeof name, "leakwatch-run-%d-%d", (int)getpid(), attempt);
    rc = lw_cgroup_create_child(parent, name, &cap->group);
  }
  if (rc != 0)
    return rc;
  cap->group_created = true;
  rc = lw_cgroup_set_limit(&cap->group, limit, machine_has_swap());
  if (rc == 0) {
    cap->procs_fd = lw_cgroup_open_procs(&cap->group);
    if (cap->procs_fd < 0)
      rc = cap->procs_fd;
  }
  if (rc != 0) {
    if (cap->procs_fd >= 0)
      close(cap->procs_fd);
    cap->procs_fd = -1;
    (void)lw_cgroup_remove(&cap->group);
    cap->group_created = false;
    return rc;
  }
  if (cap->group.version == LW_CGROUP_V1) {
    arm_v1_events(cap);
  } else {
    char path[LW_CGROUP_PATH_MAX + 32], text[512];
    snprintf(path, sizeof path, "%s/memory.events", cap->group.dir);
    cap->event_fd = open(path, O_RDONLY | O_CLOEXEC);
    if (cap->event_fd >= 0) /* reading arms the change notification */
      (void)!pread(cap->event_fd, text, sizeof text, 0);
  }
  lw_cgroup_memory_t mem;
  if (lw_cgroup_read_memory(&cap->group, &mem) == 0)
    cap->oom_kills_before = mem.oom_kills;
  return 0;
}

static const char *version_text(lw_cgroup_version_t v) { return v == LW_CGROUP_V2 ? "v2" : "v1"; }

int lw_memory_cap_prepare(lw_memory_cap_t *cap, uint64_t limit_bytes,
                          const lw_memory_cap_options_t *options) {
  memset(cap, 0, sizeof *cap);
  cap->procs_fd = cap->event_fd = cap->oom_control_fd = -1;
  cap->first_oom_seconds = -1;
  cap->limit_bytes = limit_bytes;
  lw_memory_cap_mode_t want = options ? options->mode : LW_CAP_AUTO;
  if (limit_bytes < 4096) {
    snprintf(cap->warning, sizeof cap->warning, "a memory cap must be at least 4 KiB");
    return -EINVAL;
  }
  if (want == LW_CAP_RLIMIT_AS) {
    cap->mode = LW_CAP_RLIMIT_AS;
    return 0;
  }
  lw_cgroup_t candidates[2];
  size_t n = 0;
  if (options && options->cgroup_parent) {
    lw_cgroup_t given = {options->parent_version, ""};
    if (given.version == LW_CGROUP_NONE) {
      char probe[LW_CGROUP_PATH_MAX + 32];
      snprintf(probe, sizeof probe, "%s/cgroup.subtree_control", options->cgroup_parent);
      given.version = access(probe, F_OK) == 0 ? LW_CGROUP_V2 : LW_CGROUP_V1;
    }
    snprintf(given.dir, sizeof given.dir, "%s", options->cgroup_parent);
    candidates[n++] = given;
  } else {
    lw_cgroup_t v2, v1;
    own_groups(&v2, &v1);
    if (v2.version == LW_CGROUP_V2)
      candidates[n++] = v2;
    if (v1.version == LW_CGROUP_V1)
      candidates[n++] = v1;
  }
  char reasons[480] = "";
  size_t used = 0;
  int last = -ENOENT;
  for (size_t i = 0; i < n; i++) {
    lw_memory_cap_mode_t mode = candidates[i].version == LW_CGROUP_V2 ? LW_CAP_CGROUP_V2
                                                                      : LW_CAP_CGROUP_V1;
    if (want != LW_CAP_AUTO && want != mode)
      continue;
    int rc = make_group(cap, &candidates[i], limit_bytes);
    if (rc == 0) {
      cap->mode = mode;
      return 0;
    }
    last = rc;
    int w = snprintf(reasons + used, sizeof reasons - used, "%scgroup %s under %s: %s",
                     used ? "; " : "", version_text(candidates[i].version), candidates[i].dir,
                     rc == -EBUSY ? "the parent holds processes, so it cannot pass the memory "
                                    "controller down (cgroup v2 'no internal processes' rule)"
                                  : strerror(-rc));
    if (w > 0 && (size_t)w < sizeof reasons - used)
      used += (size_t)w;
  }
  if (!used)
    snprintf(reasons, sizeof reasons, "no memory cgroup (v2 with the memory controller, or "
                                      "the v1 memory controller) for this process");
  if (want != LW_CAP_AUTO) {
    snprintf(cap->warning, sizeof cap->warning, "cannot use %s: %s",
             lw_memory_cap_mode_name(want), reasons);
    return last;
  }
  char size[32];
  lw_format_bytes(size, sizeof size, (double)limit_bytes);
  cap->mode = LW_CAP_RLIMIT_AS;
  snprintf(cap->warning, sizeof cap->warning,
           "no writable memory cgroup (%s); capping the address space instead (RLIMIT_AS = "
           "%s), which limits reserved virtual memory, not memory in use: allocations fail "
           "instead of the OOM killer acting, untouched reservations count, page cache does "
           "not, and children are limited one by one",
           reasons, size);
  return 0;
}

int lw_memory_cap_enter(const lw_memory_cap_t *cap) {
  if (cap->mode == LW_CAP_RLIMIT_AS) {
    struct rlimit limit = {cap->limit_bytes, cap->limit_bytes};
    return setrlimit(RLIMIT_AS, &limit) == 0 ? 0 : -errno;
  }
  if (cap->procs_fd < 0)
    return -EBADF;
  return lw_cgroup_enter(cap->procs_fd);
}

void lw_memory_cap_started(lw_memory_cap_t *cap) {
  clock_gettime(CLOCK_MONOTONIC, &cap->started);
}

int lw_memory_cap_event_fd(const lw_memory_cap_t *cap) { return cap->event_fd; }

void lw_memory_cap_check(lw_memory_cap_t *cap) {
  if (!cap->group_created)
    return;
  if (cap->event_fd >= 0) {
    if (cap->mode == LW_CAP_CGROUP_V1) {
      uint64_t count;
      (void)!read(cap->event_fd, &count, sizeof count); /* clear the eventfd */
    } else {
      char text[512];
      (void)!pread(cap->event_fd, text, sizeof text, 0); /* re-arm the notification */
    }
  }
  lw_cgroup_memory_t mem;
  if (cap->first_oom_seconds < 0 && lw_cgroup_read_memory(&cap->group, &mem) == 0 &&
      mem.oom_kills > cap->oom_kills_before)
    cap->first_oom_seconds = since(&cap->started);
}

int lw_memory_cap_wait(lw_memory_cap_t *cap, pid_t pid, int *status, struct rusage *usage) {
  int pidfd = (int)syscall(SYS_pidfd_open, pid, 0); /* Linux 5.3+; else time out and poll */
  int rc = 0;
  for (;;) {
    struct pollfd fds[2];
    nfds_t n = 0;
    if (pidfd >= 0)
      fds[n++] = (struct pollfd){pidfd, POLLIN, 0};
    if (cap->event_fd >= 0)
      fds[n++] = (struct pollfd){cap->event_fd,
                                 (short)(cap->mode == LW_CAP_CGROUP_V1 ? POLLIN : POLLPRI), 0};
    if (poll(fds, n, 100) < 0 && errno != EINTR) {
      rc = -errno;
      break;
    }
    lw_memory_cap_check(cap);
    pid_t r = wait4(pid, status, WNOHANG, usage);
    if (r == pid)
      break;
    if (r < 0 && errno != EINTR) {
      rc = -errno;
      break;
    }
  }
  if (pidfd >= 0)
    close(pidfd);
  return rc;
}

int lw_memory_cap_collect(lw_memory_cap_t *cap, int wait_status, const struct rusage *usage,
                          lw_memory_cap_result_t *out) {
  memset(out, 0, sizeof *out);
  out->mode = cap->mode;
  out->limit_bytes = cap->limit_bytes;
  out->seconds = since(&cap->started);
  out->seconds_to_oom = -1;
  if (usage)
    out->peak_rss_bytes = (uint64_t)usage->ru_maxrss * 1024; /* Linux reports KiB */
  if (cap->group_created) {
    snprintf(out->group_dir, sizeof out->group_dir, "%s", cap->group.dir);
    lw_memory_cap_check(cap);
    lw_cgroup_memory_t mem;
    if (lw_cgroup_read_memory(&cap->group, &mem) == 0) {
      out->group_peak_known = (mem.has & LW_CGROUP_HAS_PEAK) != 0;
      out->group_peak_bytes = mem.peak_bytes;
      out->oom_kills = mem.oom_kills - cap->oom_kills_before;
      out->limit_hits = mem.limit_hits;
    }
    if (out->oom_kills > 0) {
      out->seconds_to_oom = cap->first_oom_seconds >= 0 ? cap->first_oom_seconds : out->seconds;
      out->oom_time_bound = cap->first_oom_seconds < 0;
    }
  }
  if (WIFEXITED(wait_status)) {
    out->end = LW_CAP_END_EXITED;
    out->exit_status = WEXITSTATUS(wait_status);
  } else if (WIFSIGNALED(wait_status)) {
    out->signal = WTERMSIG(wait_status);
    out->end = out->signal == SIGKILL && out->oom_kills > 0 ? LW_CAP_END_OOM_KILLED
                                                            : LW_CAP_END_SIGNALED;
  }
  return 0;
}

void lw_memory_cap_report(const lw_memory_cap_result_t *r, lw_buf_t *out) {
  char limit[32], peak[32], rss[32];
  lw_format_bytes(limit, sizeof limit, (double)r->limit_bytes);
  lw_format_bytes(peak, sizeof peak, (double)r->group_peak_bytes);
  lw_format_bytes(rss, sizeof rss, (double)r->peak_rss_bytes);
  const char *p = "leakwatch: memory cap: ";
  if (r->mode == LW_CAP_RLIMIT_AS)
    lw_buf_printf(out, "%s%s of address space (RLIMIT_AS)\n", p, limit);
  else
    lw_buf_printf(out, "%s%s (%s) in %s\n", p, limit, lw_memory_cap_mode_name(r->mode),
                  r->group_dir);
  switch (r->end) {
  case LW_CAP_END_OOM_KILLED:
    lw_buf_printf(out, "%skilled by the OOM killer at the cap %s%.2f s after start\n", p,
                  r->oom_time_bound ? "at most " : "", r->seconds_to_oom);
    break;
  case LW_CAP_END_SIGNALED:
    lw_buf_printf(out, "%skilled by signal %d (%s) after %.2f s\n", p, r->signal,
                  strsignal(r->signal), r->seconds);
    break;
  default:
    lw_buf_printf(out, "%sexited with status %d after %.2f s%s\n", p, r->exit_status, r->seconds,
                  r->mode == LW_CAP_RLIMIT_AS && r->exit_status != 0
                      ? " (under RLIMIT_AS running out shows as failed allocations, not kills)"
                      : "");
  }
  if (r->mode != LW_CAP_RLIMIT_AS) {
    lw_buf_printf(out, "%s%llu OOM kill%s in the group", p, (unsigned long long)r->oom_kills,
                  r->oom_kills == 1 ? "" : "s");
    if (r->oom_kills && r->end != LW_CAP_END_OOM_KILLED)
      lw_buf_printf(out, " (first %s%.2f s after start)", r->oom_time_bound ? "at most " : "",
                    r->seconds_to_oom);
    lw_buf_printf(out, ", the cap was reached %llu time%s\n", (unsigned long long)r->limit_hits,
                  r->limit_hits == 1 ? "" : "s");
    if (r->group_peak_known)
      lw_buf_printf(out, "%speak %s in the group, peak RSS %s of the command\n", p, peak, rss);
    else
      lw_buf_printf(out, "%speak RSS %s of the command (this kernel has no group peak)\n", p, rss);
  } else {
    lw_buf_printf(out, "%speak RSS %s of the command\n", p, rss);
  }
}

void lw_memory_cap_report_json(const lw_memory_cap_result_t *r, lw_buf_t *out) {
  static const char *modes[] = {"none", "cgroup-v2", "cgroup-v1", "rlimit-as"};
  static const char *ends[] = {"exited", "oom-killed", "signaled"};
  lw_buf_printf(out, "{\"mode\":\"%s\",\"limit_bytes\":%llu,\"group\":", modes[r->mode],
                (unsigned long long)r->limit_bytes);
  if (r->group_dir[0]) {
    lw_buf_append_byte(out, '"');
    for (const char *c = r->group_dir; *c; c++) {
      if (*c == '"' || *c == '\\')
        lw_buf_append_byte(out, '\\');
      lw_buf_append_byte(out, (uint8_t)*c);
    }
    lw_buf_append_byte(out, '"');
  } else {
    lw_buf_append_str(out, "null");
  }
  lw_buf_printf(out, ",\"end\":\"%s\",\"exit_status\":", ends[r->end]);
  if (r->end == LW_CAP_END_EXITED)
    lw_buf_printf(out, "%d,\"signal\":null", r->exit_status);
  else
    lw_buf_printf(out, "null,\"signal\":%d", r->signal);
  lw_buf_printf(out, ",\"seconds\":%.3f,\"seconds_to_oom\":", r->seconds);
  if (r->seconds_to_oom >= 0)
    lw_buf_printf(out, "%.3f", r->seconds_to_oom);
  else
    lw_buf_append_str(out, "null");
  lw_buf_printf(out, ",\"oom_kills\":%llu,\"limit_hits\":%llu,\"group_peak_bytes\":",
                (unsigned long long)r->oom_kills, (unsigned long long)r->limit_hits);
  if (r->group_peak_known)
    lw_buf_printf(out, "%llu", (unsigned long long)r->group_peak_bytes);
  else
    lw_buf_append_str(out, "null");
  lw_buf_printf(out, ",\"peak_rss_bytes\":%llu}", (unsigned long long)r->peak_rss_bytes);
}

int lw_memory_cap_cleanup(lw_memory_cap_t *cap) {
  /* Descriptors first: an armed v1 eventfd holds a reference on the group. */
  int *fds[] = {&cap->procs_fd, &cap->event_fd, &cap->oom_control_fd};
  for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
    if (*fds[i] >= 0) {
      close(*fds[i]);
      *fds[i] = -1;
    }
  if (!cap->group_created)
    return 0;
  int rc = lw_cgroup_remove(&cap->group);
  if (rc != 0)
    snprintf(cap->warning, sizeof cap->warning,
             "could not remove the memory cgroup %s: %s%s", cap->group.dir, strerror(-rc),
             rc == -EBUSY ? " (processes the command left behind are still in it)" : "");
  else
    cap->group_created = false;
  return rc;
}
