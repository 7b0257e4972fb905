/*
 * test_procfs.c - /proc parsers and readers (src/common/procfs.c).
 *
 * Parsers run on files captured from a 6.18 kernel (tests/data/procfs/, including a comm
 * with ") (" in it and a kernel thread without Vm lines), an older smaps_rollup layout, and
 * every truncated prefix of each (they must fail cleanly, never read past the end). The
 * readers run on this process (descriptors of every type opened here must be counted as
 * such), on a fake /proc tree, and on a process that has exited.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/file.h"
#include "common/procfs.h"

static lw_buf_t load(const char *name) {
  char path[512];
  snprintf(path, sizeof path, "%s/tests/data/procfs/%s", LW_SOURCE_DIR, name);
  lw_buf_t buf;
  lw_buf_init(&buf, &lw_libc_allocator);
  if (lw_read_file(path, &buf, 1 << 20) != 0)
    fail_msg("cannot read %s", path);
  return buf;
}

static void test_stat_captured(void **state) {
  (void)state;
  lw_buf_t b = load("self-6.18.stat");
  lw_proc_stat_t st;
  assert_int_equal(lw_procfs_parse_stat((char *)b.data, b.len, &st), 0);
  assert_int_equal(st.pid, 8665);
  assert_string_equal(st.comm, "we) ird (name");
  assert_int_equal(st.state, 'R');
  assert_int_equal(st.ppid, 8662);
  assert_int_equal(st.minflt, 2908);
  assert_int_equal(st.majflt, 1);
  assert_int_equal(st.utime_ticks, 4);
  assert_int_equal(st.stime_ticks, 0);
  assert_int_equal(st.num_threads, 1);
  assert_int_equal(st.starttime_ticks, 136658);
  assert_int_equal(st.vsize_bytes, 17317888);
  assert_int_equal(st.rss_pages, 3414);
  lw_buf_free(&b);

  b = load("kthread-6.18.stat");
  assert_int_equal(lw_procfs_parse_stat((char *)b.data, b.len, &st), 0);
  assert_int_equal(st.pid, 2);
  assert_string_equal(st.comm, "kthreadd");
  assert_int_equal(st.vsize_bytes, 0);
  lw_buf_free(&b);

  /* A comm longer than the field is cut, not overflowed. */
  char text[512];
  snprintf(text, sizeof text, "7 (%s) S 1 1 1 0 -1 0 1 0 2 0 3 4 -5 -6 20 -10 9 0 77 4096 2",
           "0123456789012345678901234567890123456789012345678901234567890123456789");
  assert_int_equal(lw_procfs_parse_stat(text, strlen(text), &st), 0);
  assert_int_equal(strlen(st.comm), sizeof st.comm - 1);
  assert_int_equal(st.num_threads, 9);
  assert_int_equal(st.utime_ticks, 3);
  assert_int_equal(st.rss_pages, 2);
}

static void test_status_captured(void **state) {
  (void)state;
  lw_buf_t b = load("self-6.18.status");
  lw_proc_status_t s;
  assert_int_equal(lw_procfs_parse_status((char *)b.data, b.len, &s), 0);
  assert_string_equal(s.name, "we) ird (name");
  assert_true(s.has_vm);
  assert_int_equal(s.uid_real, 0);
  assert_int_equal(s.vm_peak_bytes, 16912 * 1024);
  assert_int_equal(s.vm_hwm_bytes, 13848 * 1024);
  assert_int_equal(s.vm_rss_bytes, 13848 * 1024);
  assert_int_equal(s.rss_anon_bytes, 7028 * 1024);
  assert_int_equal(s.vm_data_bytes, 8132 * 1024);
  assert_int_equal(s.vm_swap_bytes, 0);
  assert_int_equal(s.threads, 1);
  assert_int_equal(s.voluntary_ctxt_switches, 22);
  assert_int_equal(s.nonvoluntary_ctxt_switches, 4);
  lw_buf_free(&b);

  b = load("kthread-6.18.status");
  assert_int_equal(lw_procfs_parse_status((char *)b.data, b.len, &s), 0);
  assert_false(s.has_vm);
  assert_int_equal(s.threads, 1);
  lw_buf_free(&b);

  const char *bad = "Name:\tx\nUid:\t1000\n";
  assert_int_equal(lw_procfs_parse_status(bad, strlen(bad), &s), -EINVAL);
  const char *bad_kb = "Name:\tx\nUid:\t1 1 1 1\nVmRSS:\t  lots kB\n";
  assert_int_equal(lw_procfs_parse_status(bad_kb, strlen(bad_kb), &s), -EINVAL);
}

static void test_smaps_rollup_io_statm_limits(void **state) {
  (void)state;
  lw_buf_t b = load("self-6.18.smaps_rollup");
  lw_proc_smaps_rollup_t r;
  assert_int_equal(lw_procfs_parse_smaps_rollup((char *)b.data, b.len, &r), 0);
  assert_int_equal(r.rss_bytes, 13848 * 1024);
  assert_int_equal(r.pss_bytes, 12503 * 1024);
  assert_int_equal(r.pss_anon_bytes, 7028 * 1024);
  assert_int_equal(r.uss_bytes, (5184 + 7028) * 1024);
  assert_int_equal(r.swap_bytes, 0);
  lw_buf_free(&b);

  b = load("old-4.19.smaps_rollup");
  assert_int_equal(lw_procfs_parse_smaps_rollup((char *)b.data, b.len, &r), 0);
  assert_int_equal(r.pss_bytes, 2131 * 1024);
  assert_int_equal(r.pss_anon_bytes, 0); /* not in this kernel's rollup */
  assert_int_equal(r.uss_bytes, (456 + 1588) * 1024);
  assert_int_equal(r.swap_bytes, 128 * 1024);
  assert_int_equal(r.swap_pss_bytes, 64 * 1024);
  lw_buf_free(&b);

  b = load("self-6.18.io");
  lw_proc_io_t io;
  assert_int_equal(lw_procfs_parse_io((char *)b.data, b.len, &io), 0);
  assert_int_equal(io.rchar, 1720820);
  assert_int_equal(io.wchar, 4188);
  assert_int_equal(io.read_bytes, 774144);
  assert_int_equal(io.write_bytes, 32768);
  lw_buf_free(&b);

  b = load("self-6.18.statm");
  lw_proc_statm_t sm;
  assert_int_equal(lw_procfs_parse_statm((char *)b.data, b.len, &sm), 0);
  assert_int_equal(sm.size_pages, 4228);
  assert_int_equal(sm.resident_pages, 3462);
  assert_int_equal(sm.data_pages, 2066);
  lw_buf_free(&b);

  b = load("self-6.18.limits");
  lw_proc_limits_t lim;
  assert_int_equal(lw_procfs_parse_limits((char *)b.data, b.len, &lim), 0);
  assert_int_equal(lim.open_files_soft, 20000);
  assert_int_equal(lim.open_files_hard, 20000);
  assert_true(lim.address_space_soft == LW_PROC_UNLIMITED);
  assert_true(lim.address_space_hard == LW_PROC_UNLIMITED);
  lw_buf_free(&b);
}

static void test_cgroup_paths(void **state) {
  (void)state;
  char v2[256], v1[256];
  lw_buf_t b = load("self-6.18.cgroup");
  assert_int_equal(lw_procfs_parse_cgroup((char *)b.data, b.len, v2, sizeof v2, v1, sizeof v1), 0);
  assert_string_equal(v2, "/");
  assert_string_equal(v1, "/process_api/073e6032bc8f08ee0642bc15c5042ff6");
  lw_buf_free(&b);

  b = load("v2-only.cgroup");
  assert_int_equal(lw_procfs_parse_cgroup((char *)b.data, b.len, v2, sizeof v2, v1, sizeof v1), 0);
  assert_string_equal(v2, "/user.slice/user-1000.slice/user@1000.service/app.slice/app-foo.scope");
  assert_string_equal(v1, "");
  lw_buf_free(&b);

  b = load("hybrid-systemd.cgroup");
  assert_int_equal(lw_procfs_parse_cgroup((char *)b.data, b.len, v2, sizeof v2, v1, sizeof v1), 0);
  assert_string_equal(v1, "/user.slice/user-1000.slice/session-2.scope");
  assert_string_equal(v2, "/user.slice/user-1000.slice/session-2.scope");
  lw_buf_free(&b);

  const char *bad = "garbage\n";
  assert_int_equal(lw_procfs_parse_cgroup(bad, strlen(bad), v2, sizeof v2, v1, sizeof v1),
                   -EINVAL);
  const char *long_path = "0::/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n";
  assert_int_equal(lw_procfs_parse_cgroup(long_path, strlen(long_path), v2, 8, v1, sizeof v1),
                   -ENAMETOOLONG);
}

/* Every prefix of every captured file parses or fails cleanly (run under ASan in CI's
 * sanitizer build; here it at least proves no crash and no success on nonsense). */
static void test_truncated_inputs(void **state) {
  (void)state;
  const char *files[] = {"self-6.18.stat",   "self-6.18.status", "self-6.18.smaps_rollup",
                         "self-6.18.io",     "self-6.18.statm",  "self-6.18.limits",
                         "self-6.18.cgroup", "kthread-6.18.stat", "old-4.19.smaps_rollup"};
  for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
    lw_buf_t b = load(files[f]);
    for (size_t len = 0; len <= b.len; len++) {
      /* A private heap copy of exactly len bytes, so reading past it is caught by ASan. */
      char *copy = malloc(len ? len : 1);
      memcpy(copy, b.data, len);
      lw_proc_stat_t st;
      lw_proc_status_t s;
      lw_proc_smaps_rollup_t r;
      lw_proc_io_t io;
      lw_proc_statm_t sm;
      lw_proc_limits_t lim;
      char v2[64], v1[64];
      int rc = lw_procfs_parse_stat(copy, len, &st);
      if (len < 20)
        assert_int_not_equal(rc, 0);
      (void)lw_procfs_parse_status(copy, len, &s);
      (void)lw_procfs_parse_smaps_rollup(copy, len, &r);
      (void)lw_procfs_parse_io(copy, len, &io);
      (void)lw_procfs_parse_statm(copy, len, &sm);
      (void)lw_procfs_parse_limits(copy, len, &lim);
      (void)lw_procfs_parse_cgroup(copy, len, v2, sizeof v2, v1, sizeof v1);
      free(copy);
    }
    lw_buf_free(&b);
  }
}

static void test_classify_links(void **state) {
  (void)state;
  static const struct {
    const char *link;
    lw_fd_type_t type;
  } cases[] = {
      {"socket:[12345]", LW_FD_SOCKET},
      {"pipe:[999]", LW_FD_PIPE},
      {"anon_inode:[eventfd]", LW_FD_EVENTFD},
      {"anon_inode:[timerfd]", LW_FD_TIMERFD},
      {"anon_inode:[eventpoll]", LW_FD_EPOLL},
      {"anon_inode:[signalfd]", LW_FD_SIGNALFD},
      {"anon_inode:inotify", LW_FD_INOTIFY},
      {"anon_inode:[io_uring]", LW_FD_ANON},
      {"anon_inode:[pidfd]", LW_FD_ANON},
      {"anon_inode:bpf-map", LW_FD_ANON},
      {"/dev/null", LW_FD_DEVICE},
      {"/dev/pts/3", LW_FD_DEVICE},
      {"/dev/shm/sem.x", LW_FD_FILE},
      {"/var/log/syslog", LW_FD_FILE},
      {"/memfd:cache (deleted)", LW_FD_FILE},
      {"net:[4026531840]", LW_FD_OTHER},
      {"", LW_FD_OTHER},
      {"anon_inode:", LW_FD_ANON},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    lw_fd_type_t got = lw_procfs_classify_fd_link(cases[i].link, strlen(cases[i].link));
    if (got != cases[i].type)
      fail_msg("'%s' classified as %s, want %s", cases[i].link, lw_fd_type_name(got),
               lw_fd_type_name(cases[i].type));
  }
  assert_string_equal(lw_fd_type_name(LW_FD_ANON), "anon_inode");
  assert_string_equal(lw_fd_type_name(LW_FD_TYPE_COUNT), "other");
}

/* Opens one descriptor of each kind in this process and checks each count went up by one. */
static void test_live_fd_types(void **state) {
  (void)state;
  char scratch[4096];
  lw_proc_handle_t h;
  assert_int_equal(lw_proc_open(&h, "/proc", getpid(), true), 0);
  lw_proc_fds_t before, after;
  assert_int_equal(lw_proc_read_fds(&h, true, scratch, sizeof scratch, &before), 0);

  int fds[16], n = 0;
  int p[2], sv[2];
  assert_int_equal(pipe(p), 0);
  fds[n++] = p[0];
  fds[n++] = p[1];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  fds[n++] = sv[0];
  fds[n++] = sv[1];
  fds[n++] = eventfd(0, 0);
  fds[n++] = timerfd_create(CLOCK_MONOTONIC, 0);
  fds[n++] = epoll_create1(0);
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGUSR2);
  fds[n++] = signalfd(-1, &mask, 0);
  fds[n++] = inotify_init1(0);
  fds[n++] = open("/dev/null", O_RDONLY);
  fds[n++] = open(LW_SOURCE_DIR "/CMakeLists.txt", O_RDONLY);
  fds[n++] = memfd_create("lwtest", 0);
  for (int i = 0; i < n; i++)
    assert_true(fds[i] >= 0);

  assert_int_equal(lw_proc_read_fds(&h, true, scratch, sizeof scratch, &after), 0);
  assert_int_equal(after.total - before.total, (uint64_t)n);
  const int want[LW_FD_TYPE_COUNT] = {
      [LW_FD_PIPE] = 2,   [LW_FD_SOCKET] = 2,   [LW_FD_EVENTFD] = 1, [LW_FD_TIMERFD] = 1,
      [LW_FD_EPOLL] = 1,  [LW_FD_SIGNALFD] = 1, [LW_FD_INOTIFY] = 1, [LW_FD_DEVICE] = 1,
      [LW_FD_FILE] = 2,
  };
  for (int t = 0; t < LW_FD_TYPE_COUNT; t++)
    if (after.by_type[t] - before.by_type[t] != (uint64_t)want[t])
      fail_msg("%s: %d new, want %d", lw_fd_type_name(t),
               (int)(after.by_type[t] - before.by_type[t]), want[t]);
  /* Without classification only the total is counted. */
  lw_proc_fds_t plain;
  assert_int_equal(lw_proc_read_fds(&h, false, scratch, sizeof scratch, &plain), 0);
  assert_int_equal(plain.total, after.total);
  assert_int_equal(plain.by_type[LW_FD_PIPE], 0);
  for (int i = 0; i < n; i++)
    close(fds[i]);
  lw_proc_close(&h);
}

static void *parked(void *arg) {
  int *fd = arg;
  char c;
  (void)!read(*fd, &c, 1);
  return NULL;
}

/* Kept-open files re-read with pread see new values (threads, faults). */
static void test_live_reread(void **state) {
  (void)state;
  char text[4096], scratch[2048];
  lw_proc_handle_t h;
  assert_int_equal(lw_proc_open(&h, "/proc", getpid(), true), 0);
  ssize_t n = lw_proc_read(&h, LW_PROC_STAT, text, sizeof text);
  assert_true(n > 0);
  lw_proc_stat_t st;
  assert_int_equal(lw_procfs_parse_stat(text, (size_t)n, &st), 0);
  assert_int_equal(st.pid, getpid());
  int64_t threads_before = st.num_threads;
  assert_int_equal(lw_proc_count_tasks(&h, scratch, sizeof scratch), threads_before);

  int p[2];
  assert_int_equal(pipe(p), 0);
  pthread_t thread;
  assert_int_equal(pthread_create(&thread, NULL, parked, &p[0]), 0);
  n = lw_proc_read(&h, LW_PROC_STAT, text, sizeof text);
  assert_int_equal(lw_procfs_parse_stat(text, (size_t)n, &st), 0);
  assert_int_equal(st.num_threads, threads_before + 1);
  assert_int_equal(lw_proc_count_tasks(&h, scratch, sizeof scratch), threads_before + 1);
  n = lw_proc_read(&h, LW_PROC_STATUS, text, sizeof text);
  lw_proc_status_t s;
  assert_int_equal(lw_procfs_parse_status(text, (size_t)n, &s), 0);
  assert_int_equal(s.threads, (uint64_t)threads_before + 1);
  assert_int_equal(write(p[1], "x", 1), 1);
  pthread_join(thread, NULL);
  close(p[0]);
  close(p[1]);

  /* Touching fresh pages raises the minor fault count seen through the same descriptor. */
  uint64_t faults_before = st.minflt;
  size_t size = 64 << 20;
  char *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  assert_true(mem != MAP_FAILED);
  for (size_t i = 0; i < size; i += 4096)
    mem[i] = 1;
  n = lw_proc_read(&h, LW_PROC_STAT, text, sizeof text);
  assert_int_equal(lw_procfs_parse_stat(text, (size_t)n, &st), 0);
  assert_true(st.minflt >= faults_before + 1000);
  n = lw_proc_read(&h, LW_PROC_SMAPS_ROLLUP, text, sizeof text);
  lw_proc_smaps_rollup_t r;
  assert_int_equal(lw_procfs_parse_smaps_rollup(text, (size_t)n, &r), 0);
  assert_true(r.uss_bytes >= size);
  munmap(mem, size);

  /* A buffer that is too small says so and keeps what fits. */
  assert_int_equal(lw_proc_read(&h, LW_PROC_STATUS, text, 16), -EFBIG);
  assert_memory_equal(text, "Name:", 5);
  lw_proc_close(&h);
}

static void test_exited_process(void **state) {
  (void)state;
  pid_t child = fork();
  assert_true(child >= 0);
  if (child == 0) {
    pause();
    _exit(0);
  }
  char text[4096], scratch[1024];
  lw_proc_handle_t h;
  assert_int_equal(lw_proc_open(&h, "/proc", child, true), 0);
  assert_true(lw_proc_read(&h, LW_PROC_STAT, text, sizeof text) > 0);
  kill(child, SIGKILL);
  waitpid(child, NULL, 0);
  ssize_t n = lw_proc_read(&h, LW_PROC_STAT, text, sizeof text);
  assert_true(n == -ESRCH || n == -ENOENT);
  assert_true(lw_proc_read(&h, LW_PROC_STATUS, text, sizeof text) < 0);
  lw_proc_fds_t fds;
  assert_true(lw_proc_read_fds(&h, true, scratch, sizeof scratch, &fds) < 0);
  lw_proc_close(&h);
  assert_int_equal(lw_proc_open(&h, "/proc", child, true), -ENOENT);
  lw_proc_close(&h);
  assert_int_equal(lw_proc_open(&h, "/proc", 0, true), -ENOENT);
}

/* A fake /proc: the readers only rely on the layout, so classification and reading can be
 * checked on files and symlinks made here. */
static void test_fake_proc_root(void **state) {
  (void)state;
  char root[] = "/tmp/lw-procfs-XXXXXX";
  assert_non_null(mkdtemp(root));
  char path[512];
  snprintf(path, sizeof path, "%s/4242", root);
  assert_int_equal(mkdir(path, 0755), 0);
  snprintf(path, sizeof path, "%s/4242/fd", root);
  assert_int_equal(mkdir(path, 0755), 0);
  const char *links[] = {"socket:[1]", "socket:[2]", "pipe:[3]", "anon_inode:[eventfd]",
                         "/dev/tty1", "/etc/passwd", "anon_inode:[io_uring]"};
  for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
    snprintf(path, sizeof path, "%s/4242/fd/%zu", root, i);
    assert_int_equal(symlink(links[i], path), 0);
  }
  snprintf(path, sizeof path, "%s/4242/stat", root);
  const char *stat_text = "4242 (fake) S 1 1 1 0 -1 0 5 0 6 0 7 8 0 0 20 0 3 0 100 8192 2\n";
  assert_int_equal(lw_write_file_atomic(path, stat_text, strlen(stat_text), 0644), 0);

  lw_proc_handle_t h;
  assert_int_equal(lw_proc_open(&h, root, 4242, false), 0);
  char text[256], scratch[1024];
  ssize_t n = lw_proc_read(&h, LW_PROC_STAT, text, sizeof text);
  assert_int_equal(n, (ssize_t)strlen(stat_text));
  lw_proc_stat_t st;
  assert_int_equal(lw_procfs_parse_stat(text, (size_t)n, &st), 0);
  assert_string_equal(st.comm, "fake");
  assert_int_equal(lw_proc_read(&h, LW_PROC_IO, text, sizeof text), -ENOENT);
  lw_proc_fds_t fds;
  assert_int_equal(lw_proc_read_fds(&h, true, scratch, sizeof scratch, &fds), 0);
  assert_int_equal(fds.total, 7);
  assert_int_equal(fds.by_type[LW_FD_SOCKET], 2);
  assert_int_equal(fds.by_type[LW_FD_PIPE], 1);
  assert_int_equal(fds.by_type[LW_FD_EVENTFD], 1);
  assert_int_equal(fds.by_type[LW_FD_DEVICE], 1);
  assert_int_equal(fds.by_type[LW_FD_FILE], 1);
  assert_int_equal(fds.by_type[LW_FD_ANON], 1);
  lw_proc_close(&h);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  assert_int_equal(system(cmd), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_stat_captured),
      cmocka_unit_test(test_status_captured),
      cmocka_unit_test(test_smaps_rollup_io_statm_limits),
      cmocka_unit_test(test_cgroup_paths),
      cmocka_unit_test(test_truncated_inputs),
      cmocka_unit_test(test_classify_links),
      cmocka_unit_test(test_live_fd_types),
      cmocka_unit_test(test_live_reread),
      cmocka_unit_test(test_exited_process),
      cmocka_unit_test(test_fake_proc_root),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
