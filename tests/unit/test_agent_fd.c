/*
 * test_agent_fd.c - the agent's own descriptors (src/agent/agent_fd.c): adopted ones move
 * to a high number with close-on-exec and leave the low one free; one the program closed
 * or replaced (dup2 of its file, a new pipe at the same number) is abandoned and never
 * closed by the agent; with the soft limit low, the numbers stay under it.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/agent_fd.h"

static int lowest_free(void) {
  int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  assert_true(fd >= 0);
  close(fd);
  return fd;
}

static void test_adopted_goes_high_and_leaves_the_low_number(void **state) {
  (void)state;
  int low = lowest_free();
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert_int_equal(fd, low);
  lw_agent_fd_t a;
  assert_true(lw__agent_fd_adopt(&a, fd));
  assert_true(a.fd > 100);
  assert_int_equal(lowest_free(), low);
  assert_true(fcntl(a.fd, F_GETFD) & FD_CLOEXEC);
  assert_true(lw__agent_fd_check(&a));
  lw__agent_fd_close(&a);
  assert_int_equal(a.fd, -1);
}

static void test_replaced_is_abandoned_not_closed(void **state) {
  (void)state;
  int ends[2];
  assert_int_equal(pipe2(ends, O_CLOEXEC), 0);
  lw_agent_fd_t a;
  assert_true(lw__agent_fd_adopt(&a, ends[0]));
  int number = a.fd;
  /* The program puts its own file on the number (bash: exec N>file). */
  int file = open("/dev/null", O_WRONLY | O_CLOEXEC);
  assert_true(file >= 0);
  assert_int_equal(dup2(file, number), number);
  assert_false(lw__agent_fd_check(&a));
  assert_int_equal(a.fd, -1);
  lw__agent_fd_close(&a); /* must not close the program's descriptor */
  assert_true(fcntl(number, F_GETFD) >= 0);
  close(number);
  close(file);
  close(ends[1]);
}

static void test_another_pipe_at_the_same_number_is_not_ours(void **state) {
  (void)state;
  int ends[2], other[2];
  assert_int_equal(pipe2(ends, O_CLOEXEC), 0);
  lw_agent_fd_t a;
  assert_true(lw__agent_fd_adopt(&a, ends[1]));
  int number = a.fd;
  assert_int_equal(pipe2(other, O_CLOEXEC), 0);
  assert_int_equal(dup2(other[1], number), number); /* same type, another inode */
  assert_false(lw__agent_fd_check(&a));
  assert_true(fcntl(number, F_GETFD) >= 0);
  close(number);
  close(other[0]);
  close(other[1]);
  close(ends[0]);
}

static void test_closed_is_abandoned(void **state) {
  (void)state;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  lw_agent_fd_t a;
  assert_true(lw__agent_fd_adopt(&a, fd));
  close(a.fd); /* the daemon closes every number */
  assert_false(lw__agent_fd_check(&a));
  assert_int_equal(a.fd, -1);
}

static void test_low_limit_is_respected(void **state) {
  (void)state;
  struct rlimit old, low;
  assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
  low = old;
  low.rlim_cur = 200;
  assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  lw_agent_fd_t a;
  assert_true(lw__agent_fd_adopt(&a, fd));
  assert_true(a.fd >= 100 && a.fd < 200);
  lw__agent_fd_close(&a);
  assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
}

static void test_nothing_to_adopt(void **state) {
  (void)state;
  lw_agent_fd_t a;
  assert_false(lw__agent_fd_adopt(&a, -1));
  assert_int_equal(a.fd, -1);
  assert_false(lw__agent_fd_check(&a));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_adopted_goes_high_and_leaves_the_low_number),
      cmocka_unit_test(test_replaced_is_abandoned_not_closed),
      cmocka_unit_test(test_another_pipe_at_the_same_number_is_not_ours),
      cmocka_unit_test(test_closed_is_abandoned),
      cmocka_unit_test(test_low_limit_is_respected),
      cmocka_unit_test(test_nothing_to_adopt),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
