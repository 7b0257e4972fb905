/*
 * real_fd.h - the real descriptor functions behind interpose_fd.c's wrappers, resolved with
 * the allocation functions at start-up (real.c).
 *
 * Resolving on first use would run dlsym wherever that use happens: in a signal handler, in
 * a fork child, with descriptor tracking off. So every entry is resolved once, early, and
 * until then (and for a function this libc lacks, such as close_range before glibc 2.34)
 * holds a fallback that makes the system call itself or fails with ENOSYS: a wrapper never
 * calls through NULL.
 */
#ifndef LW_AGENT_REAL_FD_H
#define LW_AGENT_REAL_FD_H

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "agent/agent.h"

/* Declared here for libcs whose headers lack them. */
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dir, const char *path, int flags);
int __openat64_2(int dir, const char *path, int flags);
int close_range(unsigned int first, unsigned int last, int flags);
void closefrom(int low);
int fcntl64(int fd, int cmd, ...);
int eventfd(unsigned int value, int flags);
int timerfd_create(int clock, int flags);
int epoll_create(int size);
int epoll_create1(int flags);
int signalfd(int fd, const sigset_t *mask, int flags);
int inotify_init(void);
int inotify_init1(int flags);
int memfd_create(const char *name, unsigned int flags);

/* X(name) for every function interpose_fd.c wraps. */
#define LW_FD_FUNCTIONS(X)                                                                   \
  X(open) X(open64) X(openat) X(openat64) X(__open_2) X(__open64_2) X(__openat_2)            \
  X(__openat64_2) X(creat) X(creat64) X(socket) X(accept) X(accept4) X(socketpair) X(pipe)   \
  X(pipe2) X(eventfd) X(timerfd_create) X(epoll_create) X(epoll_create1) X(signalfd)         \
  X(inotify_init) X(inotify_init1) X(memfd_create) X(dup) X(dup2) X(dup3) X(fcntl)           \
  X(fcntl64) X(close) X(close_range) X(closefrom) X(fopen) X(fopen64) X(freopen)             \
  X(freopen64) X(fclose)

#define LW_FD_FIELD(name) __typeof__(name) *name;
typedef struct lw_real_fd_functions {
  LW_FD_FUNCTIONS(LW_FD_FIELD)
} lw_real_fd_functions_t;
#undef LW_FD_FIELD

extern lw_real_fd_functions_t lw__real_fd LW_HIDDEN;
/* Resolves every entry (lw__real_resolve calls it); idempotent. */
void lw__real_fd_resolve(void);

#endif
