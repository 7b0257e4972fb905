/*
 * test_arena_budget.c - the agent's memory budget (src/agent/arena.c): with RLIMIT_AS or
 * RLIMIT_DATA set, the agent's mappings stay under 1/8 of what the limit left when it
 * first mapped something; tables get 3/4 of that, what is held for clients (replies,
 * windows) at most the other quarter and never the tables' room, scratch memory (profile
 * exports) what is left of the whole; a fork child unmaps what is held and the scratch and
 * stops counting them. Without a limit there is no budget. The budget is read once per
 * process, so each case runs in a child that sets its limit first and reports through a
 * pipe.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/agent.h"
#include "common/procfs.h"

#define MIB (1024ull * 1024)

typedef struct {
  uint64_t budget;
  uint64_t held;    /* bytes lw__arena_map_held gave in 1 MiB blocks before refusing (64 at most) */
  uint64_t tables;  /* bytes lw__arena_map then gave in 1 MiB blocks before refusing */
  uint64_t scratch; /* agent memory when the scratch allocator then refused a 1 MiB block */
  uint64_t after;   /* agent memory once everything was returned */
  int fork_child;   /* 0: a fork child had only the tables left, the rest unmapped */
} outcome_t;

/* The field of /proc/self/statm at `index` (0: whole size, 5: data + stack), in bytes. */
static uint64_t statm_bytes(int index) {
  char text[160];
  ssize_t n = lw_proc_read_path("/proc/self/statm", text, sizeof text - 1);
  if (n <= 0)
    return 0;
  text[n] = '\0';
  unsigned long long fields[6] = {0};
  if (sscanf(text, "%llu %llu %llu %llu %llu %llu", &fields[0], &fields[1], &fields[2],
             &fields[3], &fields[4], &fields[5]) != 6)
    return 0;
  return fields[index] * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* In a child: sets `resource` to what is in use now + room (no limit for -1), maps until
 * refused, and writes what happened to fd. */
static void child(int resource, uint64_t room, int fd) {
  if (resource >= 0) {
    uint64_t in_use = statm_bytes(resource == RLIMIT_AS ? 0 : 5);
    struct rlimit limit = {in_use + room, RLIM_INFINITY};
    if (in_use == 0 || setrlimit(resource, &limit) != 0)
      _exit(3);
  }
  outcome_t o = {lw__arena_budget(), 0, 0, 0, 0, 0};
  void *held[64];
  int n_held = 0;
  while (n_held < 64 && (held[n_held] = lw__arena_map_held(MIB)) != NULL)
    n_held++;
  o.held = (uint64_t)n_held * MIB;
  void *blocks[512];
  int n = 0;
  while (n < 512 && (blocks[n] = lw__arena_map(MIB)) != NULL)
    n++;
  o.tables = (uint64_t)n * MIB;
  const lw_allocator_t *a = &lw__scratch_allocator;
  int scratch_blocks = 0;
  void *scratch = NULL;
  while (scratch_blocks < 512 && (scratch = a->alloc(a->context, MIB)) != NULL)
    scratch_blocks++;
  o.scratch = lw__arena_bytes();
  /* A fork child (the agent's atfork handler calls lw__arena_postfork_child) keeps the
   * tables only: what is held and the scratch are unmapped there (msync says ENOMEM). */
  void *last_scratch = scratch_blocks ? (void *)((uintptr_t)scratch & ~(uintptr_t)4095) : NULL;
  pid_t forked = fork();
  if (forked == 0) {
    lw__arena_postfork_child();
    bool held_gone = !n_held || (msync(held[0], 4096, MS_ASYNC) != 0 && errno == ENOMEM);
    bool scratch_gone =
        !last_scratch || (msync(last_scratch, 4096, MS_ASYNC) != 0 && errno == ENOMEM);
    _exit(lw__arena_bytes() == o.tables && held_gone && scratch_gone ? 0 : 1);
  }
  int status = 1;
  o.fork_child = forked > 0 && waitpid(forked, &status, 0) == forked && WIFEXITED(status)
                     ? WEXITSTATUS(status)
                     : 2;
  lw__scratch_release_all();
  for (int i = 0; i < n; i++)
    lw__arena_unmap(blocks[i], MIB);
  for (int i = 0; i < n_held; i++)
    lw__arena_unmap_held(held[i], MIB);
  o.after = lw__arena_bytes();
  _exit(write(fd, &o, sizeof o) == (ssize_t)sizeof o ? 0 : 4);
}

static outcome_t run_case(int resource, uint64_t room) {
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    close(fds[0]);
    child(resource, room, fds[1]);
  }
  close(fds[1]);
  outcome_t o;
  memset(&o, 0, sizeof o);
  ssize_t got = read(fds[0], &o, sizeof o);
  close(fds[0]);
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || got != (ssize_t)sizeof o)
    fail_msg("the child failed (status %d, %zd bytes reported)", status, got);
  return o;
}

/* A limit with `room` left: budget room / 8 (a little less if the process grew between the
 * readings), tables stop at 3/4 of it, scratch at all of it, everything comes back. */
static void check_limited(int resource) {
  const uint64_t room = 160 * MIB;
  outcome_t o = run_case(resource, room);
  print_message("budget %llu KiB, held %llu KiB, tables %llu KiB, with scratch %llu KiB\n",
                (unsigned long long)o.budget / 1024, (unsigned long long)o.held / 1024,
                (unsigned long long)o.tables / 1024, (unsigned long long)o.scratch / 1024);
  assert_true(o.budget <= room / 8);
  assert_true(o.budget >= room / 8 - 2 * MIB);
  uint64_t quarter = o.budget - o.budget / 4 * 3;
  assert_true(o.held <= quarter);
  assert_true(o.held + 2 * MIB > quarter);
  /* What is held took none of the tables' room. */
  assert_true(o.tables <= o.budget / 4 * 3);
  assert_true(o.tables + 2 * MIB > o.budget / 4 * 3);
  assert_true(o.scratch <= o.budget);
  assert_true(o.scratch + 2 * MIB > o.budget);
  assert_int_equal(o.fork_child, 0);
  assert_int_equal(o.after, 0);
}

static void test_address_space_limit(void **state) {
  (void)state;
  check_limited(RLIMIT_AS);
}

static void test_data_limit(void **state) {
  (void)state;
  check_limited(RLIMIT_DATA);
}

static void test_no_limit_no_budget(void **state) {
  (void)state;
  struct rlimit as, data;
  assert_int_equal(getrlimit(RLIMIT_AS, &as), 0);
  assert_int_equal(getrlimit(RLIMIT_DATA, &data), 0);
  if (as.rlim_cur != RLIM_INFINITY || data.rlim_cur != RLIM_INFINITY)
    skip(); /* the test itself runs under a limit */
  outcome_t o = run_case(-1, 0);
  assert_true(o.budget == UINT64_MAX);
  assert_int_equal(o.held, 64 * MIB); /* everything asked for */
  assert_int_equal(o.tables, 512 * MIB);
  assert_int_equal(o.fork_child, 0);
  assert_int_equal(o.after, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_address_space_limit),
      cmocka_unit_test(test_data_limit),
      cmocka_unit_test(test_no_limit_no_budget),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
