/*
 * timerfd_per_task.c - a timerfd per task, never closed: an event loop gives each task a
 * timerfd for its deadline and watches it with epoll. When the timer fires, the loop takes
 * the timerfd out of epoll and finishes the task - but never closes the timerfd. Removing a
 * descriptor from epoll does not close it: one descriptor is lost per task.
 *
 * The bug is in finish_task (EPOLL_CTL_DEL without close). The fix (--fixed) closes it
 * there. `leakwatch watch` shows the timerfd count climbing from outside; leakwatch's
 * descriptor tracking names schedule_task as where they are created.
 *
 *   timerfd_per_task [--fixed] [--seconds N] [--scale S]
 *
 * Load: one task a (scaled) second, each due half a second later.
 */
#include <errno.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>

#include "classic_example.h"

enum { TASKS_PER_SECOND = 1 };

/* Starts a task: a timerfd that fires once after DELAY scaled seconds, watched by epoll. */
__attribute__((noinline)) static int schedule_task(int epoll_fd, double delay) {
  int timer = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (timer < 0)
    return -1;
  struct itimerspec when = {{0, 0}, {(time_t)delay, (long)((delay - (double)(time_t)delay) * 1e9)}};
  struct epoll_event event = {.events = EPOLLIN, .data.fd = timer};
  if (timerfd_settime(timer, 0, &when, NULL) < 0 ||
      epoll_ctl(epoll_fd, EPOLL_CTL_ADD, timer, &event) < 0) {
    close(timer);
    return -1;
  }
  return 0;
}

static void finish_task(int epoll_fd, int timer, bool fixed) {
  uint64_t expirations;
  if (read(timer, &expirations, sizeof expirations) < 0 && errno != EAGAIN)
    perror("timerfd_per_task: read");
  epoll_ctl(epoll_fd, EPOLL_CTL_DEL, timer, NULL);
  if (fixed)
    close(timer); /* the fix */
  /* THE LEAK (without --fixed): the timerfd stays open, out of epoll, never used again */
}

int main(int argc, char **argv) {
  example_options_t o = example_begin(argc, argv, 600,
      "A timerfd per task never closed; the fix: close it when the task ends.");
  int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd < 0) {
    perror("timerfd_per_task: epoll_create1");
    return 1;
  }
  unsigned started = 0, finished = 0;
  while (example_running(&o)) {
    unsigned due = (unsigned)(example_minutes(&o) * 60 * TASKS_PER_SECOND);
    for (; started < due; started++)
      if (schedule_task(epoll_fd, 0.5 / o.scale) < 0) {
        fprintf(stderr, "timerfd_per_task: task %u: %s\n", started, strerror(errno));
        example_stop_requested = 1; /* out of descriptors: where this leak ends */
      }
    struct epoll_event events[16];
    int n = epoll_wait(epoll_fd, events, 16, (int)(100 / o.scale) + 1);
    for (int i = 0; i < n; i++, finished++)
      finish_task(epoll_fd, events[i].data.fd, o.fixed);
  }
  close(epoll_fd);
  printf("timerfd_per_task: %u tasks started, %u finished\n", started, finished);
  return 0;
}
