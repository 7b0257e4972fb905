/*
 * test_cgroup.c - memory cgroup detection, parsing, reading and child groups
 * (src/common/cgroup.c).
 *
 * Parsers run on files captured on this v1/hybrid machine (tests/data/cgroup/v1*, including
 * oom_control after a real OOM kill) and on v2 files in the kernel's documented format.
 * Live checks use whichever hierarchy this machine has: here the v1 memory controller
 * (a child group is created, limited, entered and removed when running as root); the v2
 * child-group code runs against a directory tree that plays the kernel's part.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/cgroup.h"
#include "common/file.h"
#include "common/procfs.h"

static lw_buf_t load(const char *name) {
  char path[512];
  snprintf(path, sizeof path, "%s/tests/data/cgroup/%s", LW_SOURCE_DIR, name);
  lw_buf_t buf;
  lw_buf_init(&buf, &lw_libc_allocator);
  if (lw_read_file(path, &buf, 1 << 20) != 0)
    fail_msg("cannot read %s", path);
  return buf;
}

static uint64_t parse_file(const char *name, int (*parse)(const char *, size_t, uint64_t *)) {
  lw_buf_t b = load(name);
  uint64_t v = 0;
  if (parse((char *)b.data, b.len, &v) != 0)
    fail_msg("%s does not parse", name);
  lw_buf_free(&b);
  return v;
}

static void test_value_files(void **state) {
  (void)state;
  assert_true(parse_file("v1.memory.limit_in_bytes", lw_cgroup_parse_limit) ==
              LW_CGROUP_UNLIMITED);
  assert_int_equal(parse_file("v1.memory.usage_in_bytes", lw_cgroup_parse_u64), 117227520);
  assert_int_equal(parse_file("v1.memory.max_usage_in_bytes", lw_cgroup_parse_u64), 183902208);
  assert_int_equal(parse_file("v1.memory.failcnt", lw_cgroup_parse_u64), 0);
  assert_true(parse_file("v2.memory.max", lw_cgroup_parse_limit) == LW_CGROUP_UNLIMITED);
  assert_int_equal(parse_file("v2-capped.memory.max", lw_cgroup_parse_limit), 67108864);
  assert_int_equal(parse_file("v2.memory.current", lw_cgroup_parse_u64), 52383744);
  assert_int_equal(parse_file("v2.memory.peak", lw_cgroup_parse_u64), 67104768);

  uint64_t v;
  const char *bad[] = {"", "\n", "max\nmax\n", "12 kB\n", "-1\n", "99999999999999999999\n", "mux"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    if (lw_cgroup_parse_limit(bad[i], strlen(bad[i]), &v) == 0)
      fail_msg("'%s' should not parse as a limit", bad[i]);
  assert_int_equal(lw_cgroup_parse_limit("4096", 4, &v), 0);
  assert_int_equal(v, 4096);
}

static void test_events_and_oom_control(void **state) {
  (void)state;
  lw_buf_t b = load("v2.memory.events");
  lw_cgroup_v2_events_t ev;
  assert_int_equal(lw_cgroup_parse_v2_events((char *)b.data, b.len, &ev), 0);
  assert_int_equal(ev.max, 118);
  assert_int_equal(ev.oom, 2);
  assert_int_equal(ev.oom_kill, 1);
  lw_buf_free(&b);
  b = load("v2-5.10.memory.events"); /* before oom_group_kill existed */
  assert_int_equal(lw_cgroup_parse_v2_events((char *)b.data, b.len, &ev), 0);
  assert_int_equal(ev.oom_kill, 0);
  lw_buf_free(&b);
  const char *bad = "low 0\nhigh x\n";
  assert_int_equal(lw_cgroup_parse_v2_events(bad, strlen(bad), &ev), -EINVAL);

  lw_cgroup_v1_oom_control_t oom;
  b = load("v1.memory.oom_control");
  assert_int_equal(lw_cgroup_parse_v1_oom_control((char *)b.data, b.len, &oom), 0);
  assert_true(oom.has_oom_kill);
  assert_int_equal(oom.oom_kill, 0);
  assert_false(oom.under_oom);
  lw_buf_free(&b);
  b = load("v1-after-oom.memory.oom_control");
  assert_int_equal(lw_cgroup_parse_v1_oom_control((char *)b.data, b.len, &oom), 0);
  assert_int_equal(oom.oom_kill, 1);
  lw_buf_free(&b);
  const char *old = "oom_kill_disable 0\nunder_oom 0\n"; /* before Linux 4.13 */
  assert_int_equal(lw_cgroup_parse_v1_oom_control(old, strlen(old), &oom), 0);
  assert_false(oom.has_oom_kill);
}

static void test_mountinfo(void **state) {
  (void)state;
  lw_cgroup_mounts_t m;
  lw_buf_t b = load("hybrid.mountinfo");
  assert_int_equal(lw_cgroup_parse_mountinfo((char *)b.data, b.len, &m), 0);
  assert_string_equal(m.v2_mount, "/sys/fs/cgroup/unified");
  assert_string_equal(m.v2_root, "/");
  assert_string_equal(m.v1_memory_mount, "/sys/fs/cgroup/memory");
  lw_buf_free(&b);

  b = load("v2-only.mountinfo");
  assert_int_equal(lw_cgroup_parse_mountinfo((char *)b.data, b.len, &m), 0);
  assert_string_equal(m.v2_mount, "/sys/fs/cgroup");
  assert_string_equal(m.v1_memory_mount, "");
  lw_buf_free(&b);

  b = load("docker-v1.mountinfo");
  assert_int_equal(lw_cgroup_parse_mountinfo((char *)b.data, b.len, &m), 0);
  assert_string_equal(m.v1_memory_mount, "/sys/fs/cgroup/cpu and memory");
  assert_string_equal(m.v1_memory_root, "/docker/4f1c2a");
  assert_string_equal(m.v2_mount, "");
  lw_buf_free(&b);

  const char *bad = "1 2 3:4 / /x rw no-dash-here cgroup2\n";
  assert_int_equal(lw_cgroup_parse_mountinfo(bad, strlen(bad), &m), -EINVAL);
  /* Every prefix fails cleanly or parses. */
  b = load("hybrid.mountinfo");
  for (size_t len = 0; len <= b.len; len++) {
    char *copy = malloc(len + 1);
    memcpy(copy, b.data, len);
    (void)lw_cgroup_parse_mountinfo(copy, len, &m);
    free(copy);
  }
  lw_buf_free(&b);
}

static void test_join(void **state) {
  (void)state;
  char out[LW_CGROUP_PATH_MAX];
  assert_int_equal(lw_cgroup_join("/sys/fs/cgroup/memory", "/", "/process_api/x", out, sizeof out), 0);
  assert_string_equal(out, "/sys/fs/cgroup/memory/process_api/x");
  assert_int_equal(lw_cgroup_join("/sys/fs/cgroup", "/", "/", out, sizeof out), 0);
  assert_string_equal(out, "/sys/fs/cgroup");
  /* Subtree mount: the path repeats the mount's root. */
  assert_int_equal(lw_cgroup_join("/sys/fs/cgroup/memory", "/docker/abc", "/docker/abc", out, sizeof out), 0);
  assert_string_equal(out, "/sys/fs/cgroup/memory");
  assert_int_equal(lw_cgroup_join("/sys/fs/cgroup/memory", "/docker/abc", "/docker/abc/sub", out, sizeof out), 0);
  assert_string_equal(out, "/sys/fs/cgroup/memory/sub");
  /* "/docker/abcd" is not under "/docker/abc". */
  assert_int_equal(lw_cgroup_join("/m", "/docker/abc", "/docker/abcd", out, sizeof out), 0);
  assert_string_equal(out, "/m/docker/abcd");
  assert_int_equal(lw_cgroup_join("/m", "/", "/a/b/c/d", out, 6), -ENAMETOOLONG);
}

/* The memory cgroup of this process, read through the detected hierarchy. */
static int own_cgroup(lw_cgroup_mounts_t *m, lw_cgroup_t *cg) {
  if (lw_cgroup_detect(m) != 0)
    return -1;
  char text[4096], v2[512], v1[512];
  int fd = open("/proc/self/cgroup", O_RDONLY);
  ssize_t n = read(fd, text, sizeof text);
  close(fd);
  if (n <= 0 || lw_procfs_parse_cgroup(text, (size_t)n, v2, sizeof v2, v1, sizeof v1) != 0)
    return -1;
  return lw_cgroup_resolve(m, v2, v1, cg);
}

static void test_live_own_group(void **state) {
  (void)state;
  lw_cgroup_mounts_t m;
  lw_cgroup_t cg;
  if (own_cgroup(&m, &cg) != 0) {
    print_message("no memory cgroup for this process; nothing to read\n");
    skip();
  }
  print_message("memory cgroup: v%d %s\n", cg.version, cg.dir);
  lw_cgroup_memory_t mem;
  assert_int_equal(lw_cgroup_read_memory(&cg, &mem), 0);
  assert_true(mem.has & LW_CGROUP_HAS_CURRENT);
  assert_true(mem.has & LW_CGROUP_HAS_MAX);
  assert_true(mem.current_bytes > 0);
  if (mem.has & LW_CGROUP_HAS_PEAK)
    assert_true(mem.peak_bytes >= mem.current_bytes / 2);
  lw_cgroup_t gone = cg;
  strcat(gone.dir, "/no-such-group");
  assert_int_equal(lw_cgroup_read_memory(&gone, &mem), -ENOENT);
}

/* Creates a child group under our own, caps it, moves a child process in, removes it. */
static void test_live_child_group(void **state) {
  (void)state;
  lw_cgroup_mounts_t m;
  lw_cgroup_t parent, child;
  if (own_cgroup(&m, &parent) != 0 || access(parent.dir, W_OK) != 0) {
    print_message("no writable memory cgroup here; child groups not exercised live\n");
    skip();
  }
  char name[64];
  snprintf(name, sizeof name, "lw-test-cgroup-%d", (int)getpid());
  int rc = lw_cgroup_create_child(&parent, name, &child);
  if (rc == -EBUSY || rc == -EACCES || rc == -EPERM || rc == -EROFS) {
    print_message("cannot create a child group (%s); skipped\n", strerror(-rc));
    skip();
  }
  assert_int_equal(rc, 0);
  assert_int_equal(lw_cgroup_set_limit(&child, 48 << 20, false), 0);
  lw_cgroup_memory_t mem;
  assert_int_equal(lw_cgroup_read_memory(&child, &mem), 0);
  assert_int_equal(mem.max_bytes, 48 << 20);
  int procs = lw_cgroup_open_procs(&child);
  assert_true(procs >= 0);
  int ready[2];
  assert_int_equal(pipe(ready), 0);
  pid_t pid = fork();
  if (pid == 0) {
    close(ready[0]);
    if (lw_cgroup_enter(procs) != 0)
      _exit(3);
    /* 16 MiB touched inside the group shows up in its usage (volatile: the stores must
     * happen, the compiler may not drop them). */
    volatile char *p = malloc(16 << 20);
    for (size_t i = 0; i < (16 << 20); i += 4096)
      p[i] = 1;
    (void)!write(ready[1], "r", 1);
    pause();
    _exit(0);
  }
  close(procs);
  close(ready[1]);
  char c;
  ssize_t got = read(ready[0], &c, 1);
  close(ready[0]);
  lw_cgroup_memory_t during;
  int read_rc = lw_cgroup_read_memory(&child, &during);
  /* A group with a process in it cannot be removed... */
  int busy_rc = rmdir(child.dir) == 0 ? 0 : errno;
  kill(pid, SIGKILL);
  int status;
  waitpid(pid, &status, 0);
  /* ...and can once it is empty. */
  int remove_rc = lw_cgroup_remove(&child);
  assert_int_equal(got, 1);
  assert_int_equal(read_rc, 0);
  assert_true(during.current_bytes >= 16 << 20);
  assert_true(during.peak_bytes >= 16 << 20);
  assert_int_equal(busy_rc, EBUSY);
  assert_int_equal(remove_rc, 0);
  assert_int_equal(access(child.dir, F_OK), -1);
  assert_int_equal(lw_cgroup_create_child(&parent, "../escape", &child), -EINVAL);
}

static void write_file(const char *dir, const char *name, const char *text) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  assert_int_equal(lw_write_file_atomic(path, text, strlen(text), 0644), 0);
}

static void read_back(const char *dir, const char *name, char *out, size_t size) {
  lw_cgroup_t cg = {LW_CGROUP_V2, ""};
  snprintf(cg.dir, sizeof cg.dir, "%s", dir);
  assert_true(lw_cgroup_read_file(&cg, name, out, size) >= 0);
}

/* The v2 code path against a tree shaped like cgroupfs: the test writes the files the
 * kernel would create and checks what the module writes and reads. */
static void test_v2_fake_tree(void **state) {
  (void)state;
  char root[] = "/tmp/lw-cgroup-XXXXXX";
  assert_non_null(mkdtemp(root));
  write_file(root, "cgroup.subtree_control", "cpu io\n");
  lw_cgroup_t parent = {LW_CGROUP_V2, ""}, child;
  snprintf(parent.dir, sizeof parent.dir, "%s", root);
  assert_int_equal(lw_cgroup_create_child(&parent, "job", &child), 0);
  char text[256];
  read_back(root, "cgroup.subtree_control", text, sizeof text);
  assert_memory_equal(text, "+memory", 7); /* the controller was passed down first */
  /* The kernel would have made these in the new group. */
  write_file(child.dir, "memory.max", "max\n");
  write_file(child.dir, "memory.swap.max", "max\n");
  write_file(child.dir, "cgroup.procs", "");
  write_file(child.dir, "memory.current", "1048576\n");
  write_file(child.dir, "memory.peak", "67104768\n");
  write_file(child.dir, "memory.events", "low 0\nhigh 0\nmax 9\noom 1\noom_kill 1\n");
  assert_int_equal(lw_cgroup_set_limit(&child, 64 << 20, true), 0);
  read_back(child.dir, "memory.max", text, sizeof text);
  assert_string_equal(text, "67108864");
  read_back(child.dir, "memory.swap.max", text, sizeof text);
  assert_string_equal(text, "0");
  int procs = lw_cgroup_open_procs(&child);
  assert_true(procs >= 0);
  assert_int_equal(lw_cgroup_enter(procs), 0);
  close(procs);
  read_back(child.dir, "cgroup.procs", text, sizeof text);
  assert_string_equal(text, "0\n");
  lw_cgroup_memory_t mem;
  assert_int_equal(lw_cgroup_read_memory(&child, &mem), 0);
  assert_int_equal(mem.current_bytes, 1048576);
  assert_int_equal(mem.peak_bytes, 67104768);
  assert_int_equal(mem.oom_kills, 1);
  assert_int_equal(mem.limit_hits, 9);
  assert_int_equal(mem.has, LW_CGROUP_HAS_CURRENT | LW_CGROUP_HAS_MAX | LW_CGROUP_HAS_PEAK |
                                LW_CGROUP_HAS_OOM_KILLS | LW_CGROUP_HAS_LIMIT_HITS);
  /* Resolution picks v2 only where memory.current exists. */
  lw_cgroup_mounts_t mounts = {0};
  snprintf(mounts.v2_mount, sizeof mounts.v2_mount, "%s", root);
  strcpy(mounts.v2_root, "/");
  mounts.v2_has_memory = true;
  lw_cgroup_t found;
  assert_int_equal(lw_cgroup_resolve(&mounts, "/job", "", &found), 0);
  assert_int_equal(found.version, LW_CGROUP_V2);
  assert_string_equal(found.dir, child.dir);
  assert_int_equal(lw_cgroup_resolve(&mounts, "/", "", &found), -ENOENT);
  assert_int_equal(found.version, LW_CGROUP_NONE);
  /* A parent whose subtree_control cannot be written (kernel: EBUSY) fails cleanly. */
  lw_cgroup_t missing = {LW_CGROUP_V2, "/nonexistent/cgroup"};
  assert_true(lw_cgroup_create_child(&missing, "x", &child) < 0);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  assert_int_equal(system(cmd), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_value_files),
      cmocka_unit_test(test_events_and_oom_control),
      cmocka_unit_test(test_mountinfo),
      cmocka_unit_test(test_join),
      cmocka_unit_test(test_live_own_group),
      cmocka_unit_test(test_live_child_group),
      cmocka_unit_test(test_v2_fake_tree),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
