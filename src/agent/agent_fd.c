/*
 * agent_fd.c - the agent's own descriptors, out of the host program's way (agent_fd.h).
 *
 * Where: near the top of the soft RLIMIT_NOFILE, since the kernel hands out the lowest free
 * number and programs count on that (first open() is 3; close 0, 1, 2 and open /dev/null
 * three times). When the limit allows, the top is capped at 2048: above select()'s 1024, and
 * not at the top of a limit of a million, where the kernel would size the descriptor table
 * (and copy it on every fork) for a million entries.
 *
 * Checked how: the program can close a number and get it back for something else at any
 * time, from any thread. Device, inode and type (from fstat) tell the agent's socket or pipe
 * from anything the program may have put there: sockets and pipes each have an inode of
 * their own (eventfds share one, which is why the wake-up is a pipe). A change between the
 * check and the call that follows is possible but needs the program to close and reuse
 * that very number in the microseconds between; high numbers make even that unlikely.
 */
#define _GNU_SOURCE
#include "agent/agent_fd.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

enum {
  SPAN = 64,          /* the agent keeps at most about 30 descriptors; room around them */
  SELECT_LIMIT = 1024, /* FD_SETSIZE */
  HIGH_CAP = 2048,
};

/* The lowest number the agent's descriptors go at or above. */
static int high_base(void) {
  struct rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0)
    return -1;
  rlim_t top = limit.rlim_cur;
  if (top > HIGH_CAP)
    top = HIGH_CAP;
  if (top >= 2 * SPAN)
    return (int)(top - SPAN);
  return (int)(top / 2); /* a tiny limit: still above what the program opens first */
}

int lw__agent_fd_raise(int fd) {
  if (fd < 0)
    return fd;
  int base = high_base();
  if (base > 3 && fd < base) {
    int high = fcntl(fd, F_DUPFD_CLOEXEC, base);
    if (high >= 0) {
      close(fd);
      fd = high;
    }
    /* else no free number up there (the program uses them): stays low, still checked */
  }
  return fd;
}

bool lw__agent_fd_adopt(lw_agent_fd_t *out, int fd) {
  *out = LW_AGENT_FD_NONE;
  if (fd < 0)
    return false;
  fd = lw__agent_fd_raise(fd);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    close(fd);
    return false;
  }
  *out = (lw_agent_fd_t){.fd = fd, .dev = st.st_dev, .ino = st.st_ino,
                         .type = st.st_mode & S_IFMT};
  return true;
}

bool lw__agent_fd_check(lw_agent_fd_t *a) {
  if (a->fd < 0)
    return false;
  struct stat st;
  if (fstat(a->fd, &st) == 0 && st.st_dev == a->dev && st.st_ino == a->ino &&
      (st.st_mode & S_IFMT) == a->type)
    return true;
  a->fd = -1; /* the program's now: abandoned, not closed */
  return false;
}

void lw__agent_fd_close(lw_agent_fd_t *a) {
  if (lw__agent_fd_check(a))
    close(a->fd);
  a->fd = -1;
}
