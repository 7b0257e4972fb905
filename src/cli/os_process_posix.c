/*
 * os_process_posix.c - os_process.h on Linux: fork/exec, waitpid, sigaction, the monotonic
 * clock.
 */
#define _GNU_SOURCE
#include "cli/os_process.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int lw_os_spawn(char **argv) {
  /* A failed exec reports its errno through a close-on-exec pipe, so "no such command" is
   * an error here rather than an exit status 127 seen later. */
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0)
    return -errno;
  pid_t pid = fork();
  if (pid < 0) {
    int err = errno;
    close(pipefd[0]);
    close(pipefd[1]);
    return -err;
  }
  if (pid == 0) {
    signal(SIGPIPE, SIG_DFL);
    execvp(argv[0], argv);
    int err = errno;
    (void)!write(pipefd[1], &err, sizeof err);
    _exit(127);
  }
  close(pipefd[1]);
  int err = 0;
  ssize_t n;
  do
    n = read(pipefd[0], &err, sizeof err);
  while (n < 0 && errno == EINTR);
  close(pipefd[0]);
  if (n == sizeof err) {
    waitpid(pid, NULL, 0);
    return -err;
  }
  return pid;
}

int lw_os_spawn_shell(const char *command, const char *const *env) {
  pid_t pid = fork();
  if (pid < 0)
    return -errno;
  if (pid == 0) {
    for (size_t i = 0; env && env[i]; i++)
      putenv((char *)env[i]); /* the child's own copy of the environment */
    int null = open("/dev/null", O_RDONLY);
    if (null >= 0)
      dup2(null, STDIN_FILENO);
    signal(SIGPIPE, SIG_DFL);
    execl("/bin/sh", "sh", "-c", command, (char *)NULL);
    _exit(127);
  }
  return pid;
}

int lw_os_wait(int pid, bool block, lw_os_exit_t *out) {
  int status = 0;
  pid_t r;
  do
    r = waitpid(pid, &status, block ? 0 : WNOHANG);
  while (r < 0 && errno == EINTR);
  if (r < 0)
    return -errno;
  if (r == 0)
    return 0;
  memset(out, 0, sizeof *out);
  if (WIFSIGNALED(status)) {
    out->signaled = true;
    out->signal = WTERMSIG(status);
  } else {
    out->exit_status = WEXITSTATUS(status);
  }
  return 1;
}

void lw_os_terminate(int pid, bool interrupt) { kill(pid, interrupt ? SIGINT : SIGTERM); }

static volatile sig_atomic_t *stop_flag;

static void on_stop(int sig) {
  if (stop_flag)
    *stop_flag = sig;
}

void lw_os_catch_stop(volatile sig_atomic_t *flag) {
  stop_flag = flag;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop; /* no SA_RESTART: the sleep between samples must wake up */
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
}

void lw_os_sleep_until(double until, volatile sig_atomic_t *stop) {
  struct timespec ts = {(time_t)until, (long)((until - floor(until)) * 1e9)};
  while (!*stop && clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
    ;
}

double lw_os_mono_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double lw_os_wall_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void lw_os_raise_fd_limit(void) {
  struct rlimit lim;
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &lim);
  }
}

const char *lw_os_signal_text(int signal) { return strsignal(signal); }

bool lw_os_stdout_is_terminal(void) { return isatty(STDOUT_FILENO); }
