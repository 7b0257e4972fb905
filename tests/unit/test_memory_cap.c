/*
 * test_memory_cap.c - memory caps (src/cli/memory_cap.c) on this machine's hierarchy:
 * a child that outgrows its cap is OOM-killed inside a new group (peak near the cap, one
 * OOM kill, time until it), one that fits exits normally, the group is removed afterwards;
 * RLIMIT_AS makes allocation fail instead; and a user who cannot write any memory cgroup
 * gets the RLIMIT_AS fallback with a warning that says how it differs. Cgroup cases are
 * skipped (with a note) where no memory cgroup is writable.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli/memory_cap.h"

/* Touches `mib` MiB one MiB at a time (each page written, so it is resident). */
static void touch(size_t mib) {
  for (size_t i = 0; i < mib; i++) {
    char *p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
      _exit(3); /* what RLIMIT_AS produces */
    for (size_t off = 0; off < (1 << 20); off += 4096)
      ((volatile char *)p)[off] = 1;
  }
}

/* Runs a child under the cap that touches `mib` MiB, then exits 0. */
static void run_child(lw_memory_cap_t *cap, size_t mib, lw_memory_cap_result_t *result) {
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    if (lw_memory_cap_enter(cap) != 0)
      _exit(4);
    touch(mib);
    _exit(0);
  }
  lw_memory_cap_started(cap);
  int status;
  struct rusage usage;
  assert_int_equal(lw_memory_cap_wait(cap, pid, &status, &usage), 0);
  assert_int_equal(lw_memory_cap_collect(cap, status, &usage, result), 0);
}

static bool cgroup_cap(lw_memory_cap_t *cap, uint64_t limit) {
  lw_memory_cap_options_t options = {LW_CAP_AUTO, NULL, LW_CGROUP_NONE};
  assert_int_equal(lw_memory_cap_prepare(cap, limit, &options), 0);
  if (cap->mode == LW_CAP_RLIMIT_AS) {
    print_message("no writable memory cgroup here (%s); cgroup caps not exercised\n",
                  cap->warning);
    lw_memory_cap_cleanup(cap);
    return false;
  }
  assert_string_equal(cap->warning, "");
  print_message("cap via %s in %s\n", lw_memory_cap_mode_name(cap->mode), cap->group.dir);
  return true;
}

static void test_oom_kill_in_group(void **state) {
  (void)state;
  lw_memory_cap_t cap;
  if (!cgroup_cap(&cap, 64 << 20))
    skip();
  lw_memory_cap_result_t r;
  run_child(&cap, 512, &r);
  char dir[LW_CGROUP_PATH_MAX];
  snprintf(dir, sizeof dir, "%s", cap.group.dir);
  assert_int_equal(lw_memory_cap_cleanup(&cap), 0);
  assert_int_equal(access(dir, F_OK), -1); /* the group is gone */
  assert_int_equal(r.end, LW_CAP_END_OOM_KILLED);
  assert_int_equal(r.signal, SIGKILL);
  assert_true(r.oom_kills >= 1);
  print_message("oom_kills %llu limit_hits %llu peak %llu rss %llu to_oom %.3f of %.3f\n", (unsigned long long)r.oom_kills, (unsigned long long)r.limit_hits, (unsigned long long)r.group_peak_bytes, (unsigned long long)r.peak_rss_bytes, r.seconds_to_oom, r.seconds);
  assert_true(r.limit_hits >= 1);
  assert_true(r.seconds_to_oom > 0 && r.seconds_to_oom <= r.seconds + 1e-6);
  if (r.group_peak_known) {
    assert_true(r.group_peak_bytes >= (uint64_t)60 << 20);
    assert_true(r.group_peak_bytes <= (uint64_t)64 << 20);
  }
  assert_true(r.peak_rss_bytes >= (uint64_t)40 << 20);
  assert_true(r.peak_rss_bytes <= (uint64_t)96 << 20); /* plus file pages charged elsewhere */

  lw_buf_t text;
  lw_buf_init(&text, &lw_libc_allocator);
  lw_memory_cap_report(&r, &text);
  lw_buf_append_byte(&text, 0);
  print_message("%s", (char *)text.data);
  assert_non_null(strstr((char *)text.data, "leakwatch: memory cap: 64.0 MiB (cgroup v"));
  assert_non_null(strstr((char *)text.data, "killed by the OOM killer at the cap"));
  assert_non_null(strstr((char *)text.data, "OOM kill"));
  lw_buf_reset(&text);
  lw_memory_cap_report_json(&r, &text);
  lw_buf_append_byte(&text, 0);
  assert_non_null(strstr((char *)text.data, "\"end\":\"oom-killed\""));
  assert_non_null(strstr((char *)text.data, "\"signal\":9"));
  lw_buf_free(&text);
}

/* The OOM killer takes a grandchild; the command itself lives on: the time of the kill is
 * seen as it happens (event descriptor), well before the end. */
static void test_oom_kill_of_a_descendant(void **state) {
  (void)state;
  lw_memory_cap_t cap;
  if (!cgroup_cap(&cap, 48 << 20))
    skip();
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    if (lw_memory_cap_enter(&cap) != 0)
      _exit(4);
    pid_t hog = fork();
    if (hog == 0) {
      touch(512);
      _exit(0);
    }
    int status;
    waitpid(hog, &status, 0);
    usleep(400 * 1000);
    _exit(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL ? 0 : 5);
  }
  lw_memory_cap_started(&cap);
  int status;
  struct rusage usage;
  assert_int_equal(lw_memory_cap_wait(&cap, pid, &status, &usage), 0);
  lw_memory_cap_result_t r;
  assert_int_equal(lw_memory_cap_collect(&cap, status, &usage, &r), 0);
  assert_int_equal(lw_memory_cap_cleanup(&cap), 0);
  assert_int_equal(r.end, LW_CAP_END_EXITED);
  assert_int_equal(r.exit_status, 0); /* the grandchild was SIGKILLed */
  assert_int_equal(r.oom_kills, 1);
  assert_false(r.oom_time_bound);
  assert_true(r.seconds_to_oom > 0);
  assert_true(r.seconds_to_oom < r.seconds - 0.3);
  lw_buf_t text;
  lw_buf_init(&text, &lw_libc_allocator);
  lw_memory_cap_report(&r, &text);
  lw_buf_append_byte(&text, 0);
  print_message("%s", (char *)text.data);
  assert_non_null(strstr((char *)text.data, "exited with status 0"));
  assert_non_null(strstr((char *)text.data, "1 OOM kill in the group (first "));
  lw_buf_free(&text);
}

static void test_fits_under_cap(void **state) {
  (void)state;
  lw_memory_cap_t cap;
  if (!cgroup_cap(&cap, 128 << 20))
    skip();
  lw_memory_cap_result_t r;
  run_child(&cap, 16, &r);
  assert_int_equal(lw_memory_cap_cleanup(&cap), 0);
  assert_int_equal(r.end, LW_CAP_END_EXITED);
  assert_int_equal(r.exit_status, 0);
  assert_int_equal(r.oom_kills, 0);
  assert_true(r.seconds_to_oom < 0);
  if (r.group_peak_known)
    assert_true(r.group_peak_bytes >= (uint64_t)16 << 20);
  assert_true(r.peak_rss_bytes >= (uint64_t)16 << 20);
  lw_buf_t text;
  lw_buf_init(&text, &lw_libc_allocator);
  lw_memory_cap_report_json(&r, &text);
  lw_buf_append_byte(&text, 0);
  assert_non_null(strstr((char *)text.data, "\"end\":\"exited\",\"exit_status\":0"));
  assert_non_null(strstr((char *)text.data, "\"seconds_to_oom\":null"));
  lw_buf_free(&text);
}

static void test_rlimit_as(void **state) {
  (void)state;
  lw_memory_cap_t cap;
  lw_memory_cap_options_t options = {LW_CAP_RLIMIT_AS, NULL, LW_CGROUP_NONE};
  assert_int_equal(lw_memory_cap_prepare(&cap, 256 << 20, &options), 0);
  assert_int_equal(cap.mode, LW_CAP_RLIMIT_AS);
  lw_memory_cap_result_t r;
  run_child(&cap, 1024, &r); /* 1 GiB of mappings cannot fit in 256 MiB of address space */
  assert_int_equal(lw_memory_cap_cleanup(&cap), 0);
  assert_int_equal(r.end, LW_CAP_END_EXITED);
  assert_int_equal(r.exit_status, 3);
  assert_int_equal(r.oom_kills, 0);
  assert_true(r.peak_rss_bytes > 0 && r.peak_rss_bytes <= (uint64_t)256 << 20);
  lw_buf_t text;
  lw_buf_init(&text, &lw_libc_allocator);
  lw_memory_cap_report(&r, &text);
  lw_buf_append_byte(&text, 0);
  assert_non_null(strstr((char *)text.data, "256 MiB of address space (RLIMIT_AS)"));
  assert_non_null(strstr((char *)text.data, "exited with status 3"));
  assert_non_null(strstr((char *)text.data, "failed allocations, not kills"));
  lw_buf_free(&text);
  assert_int_equal(lw_memory_cap_prepare(&cap, 100, &options), -EINVAL);
}

/* As a user who may not write any memory cgroup: AUTO falls back and says why and how. */
static void test_fallback_for_unprivileged_user(void **state) {
  (void)state;
  if (getuid() != 0) {
    print_message("not root: cannot switch to another user here\n");
    skip();
  }
  int pipefd[2];
  assert_int_equal(pipe(pipefd), 0);
  pid_t pid = fork();
  if (pid == 0) {
    close(pipefd[0]);
    if (setgid(65534) != 0 || setuid(65534) != 0)
      _exit(2);
    lw_memory_cap_t cap;
    lw_memory_cap_options_t options = {LW_CAP_AUTO, NULL, LW_CGROUP_NONE};
    int rc = lw_memory_cap_prepare(&cap, 64 << 20, &options);
    char line[800];
    int n = snprintf(line, sizeof line, "%d %d %s", rc, (int)cap.mode, cap.warning);
    (void)!write(pipefd[1], line, (size_t)n);
    _exit(0);
  }
  close(pipefd[1]);
  char line[800] = "";
  ssize_t n = read(pipefd[0], line, sizeof line - 1);
  close(pipefd[0]);
  waitpid(pid, NULL, 0);
  assert_true(n > 0);
  line[n] = '\0';
  print_message("%s\n", line);
  char expect[16];
  snprintf(expect, sizeof expect, "0 %d ", (int)LW_CAP_RLIMIT_AS);
  assert_memory_equal(line, expect, strlen(expect));
  assert_non_null(strstr(line, "no writable memory cgroup ("));
  assert_non_null(strstr(line, "RLIMIT_AS = 64.0 MiB"));
  assert_non_null(strstr(line, "not memory in use"));
  assert_non_null(strstr(line, "instead of the OOM killer"));
}

/* Asking for a hierarchy explicitly fails with the reason when it cannot be had. */
static void test_explicit_mode_errors(void **state) {
  (void)state;
  lw_memory_cap_t cap;
  lw_memory_cap_options_t options = {LW_CAP_CGROUP_V2, "/nonexistent/cgroup", LW_CGROUP_V2};
  int rc = lw_memory_cap_prepare(&cap, 64 << 20, &options);
  assert_true(rc < 0);
  assert_non_null(strstr(cap.warning, "cannot use cgroup v2 memory.max: cgroup v2 under /nonexistent/cgroup"));
  lw_memory_cap_cleanup(&cap);
  /* AUTO with an unusable parent falls back. */
  options.mode = LW_CAP_AUTO;
  assert_int_equal(lw_memory_cap_prepare(&cap, 64 << 20, &options), 0);
  assert_int_equal(cap.mode, LW_CAP_RLIMIT_AS);
  assert_non_null(strstr(cap.warning, "/nonexistent/cgroup"));
  lw_memory_cap_cleanup(&cap);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_oom_kill_in_group),
      cmocka_unit_test(test_oom_kill_of_a_descendant),
      cmocka_unit_test(test_fits_under_cap),
      cmocka_unit_test(test_rlimit_as),
      cmocka_unit_test(test_fallback_for_unprivileged_user),
      cmocka_unit_test(test_explicit_mode_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
