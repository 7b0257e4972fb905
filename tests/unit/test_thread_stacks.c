/*
 * test_thread_stacks.c - the stacks of other threads, read without signals
 * (src/agent/thread_stacks.c): a thread blocked in read is found in that system call with
 * its callers; a thread under a frame whose CFA is rbp-based (a variable-length array makes
 * -O2 code keep a frame pointer) is followed past that frame by the rbp guess, to the thread
 * start; a thread that never blocks is reported as running, without frames; the calling
 * thread is left out; a thread blocked inside a signal handler that runs on a sigaltstack
 * is followed through the signal frame back to the code it interrupted; system call names.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/thread_stacks.h"

static int pipe_ends[2];
static volatile int stop;
static volatile int vla_length = 40;

__attribute__((noinline)) static void blocked_in_read(void) {
  char byte;
  if (read(pipe_ends[0], &byte, 1) < 0)
    return;
}

/* The array's size is known only at run time, so the function addresses its frame through
 * rbp and its CFI says CFA = rbp + 16 at the call below. */
__attribute__((noinline)) static void under_frame_pointer(void) {
  char buffer[vla_length];
  memset(buffer, 1, sizeof buffer);
  __asm__ volatile("" : : "r"(buffer) : "memory");
  blocked_in_read();
  __asm__ volatile("" : : "r"(buffer) : "memory");
}

__attribute__((noinline)) static void spin(void) {
  while (!stop)
    sched_yield();
}

/* The test's threads, by tid: other threads (the agent core's, linked in here, starts one
 * whose name is set a moment later) are not looked at. */
static volatile pid_t own_tids[4];
static void note_tid(void *slot) { own_tids[(intptr_t)slot] = (pid_t)syscall(SYS_gettid); }
static bool own_thread(pid_t tid) {
  for (int i = 0; i < 4; i++)
    if (own_tids[i] == tid)
      return true;
  return false;
}

static void *read_thread(void *arg) {
  note_tid(arg);
  blocked_in_read();
  return NULL;
}
static void *frame_pointer_thread(void *arg) {
  note_tid(arg);
  under_frame_pointer();
  return NULL;
}
static void *spin_thread(void *arg) {
  note_tid(arg);
  spin();
  return NULL;
}

static void blocked_in_handler(void);
static void on_signal(int sig);
static void wait_for_signal(void);
static void *signal_thread(void *arg);

/* True when one of the frames lies in fn: after its start, before the next of this file's
 * functions (and within 1 KiB: these are small). */
static bool has_frame_in(const lw_thread_stack_t *t, void (*fn)(void)) {
  const uintptr_t known[] = {(uintptr_t)blocked_in_read,  (uintptr_t)under_frame_pointer,
                             (uintptr_t)spin,             (uintptr_t)read_thread,
                             (uintptr_t)frame_pointer_thread, (uintptr_t)spin_thread,
                             (uintptr_t)blocked_in_handler, (uintptr_t)on_signal,
                             (uintptr_t)wait_for_signal,  (uintptr_t)signal_thread};
  uintptr_t start = (uintptr_t)fn, end = start + 1024;
  for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
    if (known[i] > start && known[i] < end)
      end = known[i];
  for (int i = 0; i < t->depth; i++)
    if (t->frames[i] > start && t->frames[i] < end)
      return true;
  return false;
}
static bool has_frame_in_thread_main(const lw_thread_stack_t *t, void *(*fn)(void *)) {
  return has_frame_in(t, (void (*)(void))fn);
}

static lw_thread_stack_t stacks[16];

/* Captures until the three waiting threads are all in read and the spinner is seen running
 * (they start at their own pace; under AddressSanitizer a new thread waits on a futex for a
 * moment before its function runs). */
static long capture_when_waiting(size_t *seen) {
  long n = 0;
  for (int attempt = 0; attempt < 500; attempt++) {
    n = lw__thread_stacks_capture(stacks, 16, seen);
    int in_read = 0, spinning = 0;
    for (long i = 0; i < n; i++) {
      in_read += own_thread(stacks[i].tid) && stacks[i].where == LW_THREAD_IN_SYSCALL &&
                 stacks[i].syscall == SYS_read;
      spinning += stacks[i].tid == own_tids[3] && stacks[i].where == LW_THREAD_RUNNING;
    }
    if (in_read == 3 && spinning == 1)
      return n;
    struct timespec pause = {0, 10000000};
    nanosleep(&pause, NULL);
  }
  return n;
}

static void test_stacks_of_other_threads(void **state) {
  (void)state;
  assert_int_equal(pipe(pipe_ends), 0);
  pthread_t threads[4];
  assert_int_equal(pthread_create(&threads[0], NULL, read_thread, (void *)0), 0);
  assert_int_equal(pthread_create(&threads[1], NULL, read_thread, (void *)1), 0);
  assert_int_equal(pthread_create(&threads[2], NULL, frame_pointer_thread, (void *)2), 0);
  assert_int_equal(pthread_create(&threads[3], NULL, spin_thread, (void *)3), 0);

  size_t seen = 0;
  long n = capture_when_waiting(&seen);
  assert_int_equal(seen, (size_t)n);
  int plain = 0, guessed = 0, running = 0, others = 0;
  for (long i = 0; i < n; i++) {
    const lw_thread_stack_t *t = &stacks[i];
    assert_true(t->tid != (pid_t)syscall(SYS_gettid)); /* the calling thread is left out */
    if (!own_thread(t->tid)) {
      others++;
      continue;
    }
    if (t->where == LW_THREAD_RUNNING) {
      running++;
      assert_int_equal(t->depth, 0);
      continue;
    }
    assert_int_equal(t->where, LW_THREAD_IN_SYSCALL);
    assert_int_equal(t->syscall, SYS_read);
    assert_true(has_frame_in(t, blocked_in_read));
    assert_false(t->truncated);
    if (has_frame_in(t, under_frame_pointer)) {
      /* Past the rbp-based frame: its caller, and on to the thread's start. */
      assert_true(has_frame_in_thread_main(t, frame_pointer_thread));
      guessed++;
    } else {
      assert_true(has_frame_in_thread_main(t, read_thread));
      plain++;
    }
  }
  assert_int_equal(plain, 2);
  assert_int_equal(guessed, 1);
  assert_int_equal(running, 1);
  assert_int_equal(n, 4 + others);

  stop = 1;
  assert_int_equal(write(pipe_ends[1], "xyz", 3), 3); /* one byte for each reader */
  for (int i = 0; i < 4; i++)
    pthread_join(threads[i], NULL);
  assert_int_equal(lw__thread_stacks_capture(stacks, 16, &seen), others);
}

/* ---- a thread blocked in a signal handler, on its alternate stack ---------------------- */

static int handler_pipe[2];
static volatile int handler_done;
static volatile pid_t handler_tid;

__attribute__((noinline)) static void blocked_in_handler(void) {
  char byte;
  if (read(handler_pipe[0], &byte, 1) < 0)
    return;
}
static void on_signal(int sig) {
  (void)sig;
  blocked_in_handler();
}
__attribute__((noinline)) static void wait_for_signal(void) {
  while (!handler_done)
    pause(); /* the handler interrupts this */
}
static void *signal_thread(void *arg) {
  (void)arg;
  stack_t alternate = {.ss_sp = mmap(NULL, 65536, PROT_READ | PROT_WRITE,
                                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
                       .ss_size = 65536};
  if (alternate.ss_sp == MAP_FAILED || sigaltstack(&alternate, NULL) != 0)
    return NULL;
  handler_tid = (pid_t)syscall(SYS_gettid);
  wait_for_signal();
  return NULL;
}

/* The thread's entry in a capture, once it is in `nr` (5 s at most); NULL otherwise. */
static const lw_thread_stack_t *wait_for_syscall(pid_t tid, long nr) {
  for (int attempt = 0; attempt < 500; attempt++) {
    size_t seen;
    long n = lw__thread_stacks_capture(stacks, 16, &seen);
    for (long i = 0; i < n; i++)
      if (stacks[i].tid == tid && stacks[i].where == LW_THREAD_IN_SYSCALL &&
          stacks[i].syscall == nr)
        return &stacks[i];
    struct timespec pause_time = {0, 10000000};
    nanosleep(&pause_time, NULL);
  }
  return NULL;
}

static void test_stack_through_signal_handler(void **state) {
  (void)state;
  assert_int_equal(pipe(handler_pipe), 0);
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_handler = on_signal;
  action.sa_flags = SA_ONSTACK;
  assert_int_equal(sigaction(SIGUSR2, &action, NULL), 0);
  pthread_t thread;
  assert_int_equal(pthread_create(&thread, NULL, signal_thread, NULL), 0);
  for (int i = 0; i < 500 && !handler_tid; i++) {
    struct timespec pause_time = {0, 10000000};
    nanosleep(&pause_time, NULL);
  }
  assert_true(handler_tid != 0);
  assert_non_null(wait_for_syscall(handler_tid, SYS_pause));
  assert_int_equal(pthread_kill(thread, SIGUSR2), 0);
  const lw_thread_stack_t *t = wait_for_syscall(handler_tid, SYS_read);
  assert_non_null(t);
  assert_true(has_frame_in(t, blocked_in_handler));
  assert_true(has_frame_in(t, wait_for_signal)); /* past the signal frame, on its own stack */
  assert_true(has_frame_in_thread_main(t, signal_thread));
  assert_false(t->truncated);

  handler_done = 1;
  assert_int_equal(write(handler_pipe[1], "x", 1), 1);
  pthread_join(thread, NULL);
}

static void test_system_call_names(void **state) {
  (void)state;
  assert_string_equal(lw__syscall_name(SYS_read), "read");
  assert_string_equal(lw__syscall_name(SYS_futex), "futex");
  assert_string_equal(lw__syscall_name(SYS_epoll_wait), "epoll_wait");
  assert_null(lw__syscall_name(-1));
  assert_null(lw__syscall_name(100000));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_stacks_of_other_threads),
      cmocka_unit_test(test_stack_through_signal_handler),
      cmocka_unit_test(test_system_call_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
