/*
 * exporter_loop_posix.c - the exporter's wait loop on Linux (see exporter_loop.h): signals
 * arrive as reads on a signalfd, polled with the listening socket, so they are handled
 * between requests, never in the middle of one.
 */
#define _GNU_SOURCE
#include "cli/exporter_loop.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "cli/cli.h"

int lw_exporter_loop_run(const lw_exporter_loop_t *loop) {
  if (loop->service) {
    lw_cli_error("--service is for Windows; under systemd run the exporter as it is "
                 "(contrib/leakwatch-exporter.service)");
    return LW_EXIT_USAGE;
  }
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGHUP);
  int sig_fd = -1;
  if (sigprocmask(SIG_BLOCK, &mask, NULL) != 0 ||
      (sig_fd = signalfd(-1, &mask, SFD_CLOEXEC)) < 0) {
    lw_cli_error("signalfd: %s", strerror(errno));
    return LW_EXIT_FAILURE;
  }
  signal(SIGPIPE, SIG_IGN);
  loop->ready(loop->context);
  char line[256];
  int status = LW_EXIT_OK;
  for (;;) {
    struct pollfd fds[2] = {{sig_fd, POLLIN, 0}, {loop->listen_fd, POLLIN, 0}};
    int n = poll(fds, 2, -1);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      snprintf(line, sizeof line, "poll: %s", strerror(errno));
      loop->log(line);
      status = LW_EXIT_FAILURE;
      break;
    }
    if (fds[0].revents & POLLIN) {
      struct signalfd_siginfo info;
      if (read(sig_fd, &info, sizeof info) == (ssize_t)sizeof info) {
        if (info.ssi_signo == SIGHUP) {
          loop->reload(loop->context);
        } else {
          snprintf(line, sizeof line, "stopping on %s",
                   info.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
          loop->log(line);
          break;
        }
      }
      continue; /* signals first: a SIGTERM is not kept waiting by a queue of clients */
    }
    if (fds[1].revents & POLLIN)
      loop->serve(loop->context);
  }
  close(sig_fd);
  return status;
}

void lw_exporter_loop_syslog(const char *line, bool error) {
  (void)line; /* stderr goes to the journal under systemd */
  (void)error;
}
