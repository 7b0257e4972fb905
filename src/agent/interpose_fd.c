/*
 * interpose_fd.c - the libc functions that create and close file descriptors, wrapped so
 * LEAKWATCH_TRACK_FDS=1 can record the stack that created each live descriptor
 * (fd_table.c). Off by default: then each wrapper is one branch and the real call.
 *
 * Descriptors libc creates internally are seen through the public function that asked for
 * them (fopen's open is libc-internal, so fopen itself is wrapped; fclose likewise). A
 * wrapper never changes what the call does or the errno it leaves. The real functions were
 * resolved at start-up (real.c, real_fd.h); only interpose*.c go into libleakwatch.so.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/real_fd.h"
#include "agent/unwind.h"
#include "common/procfs.h"

/* REAL(name) is the next definition of name (or its fallback): never NULL. */
#define REAL(name) __atomic_load_n(&lw__real_fd.name, __ATOMIC_RELAXED)

static inline bool tracking(void) { return LW_UNLIKELY(lw__fd_tracking()); }

/* Records the descriptors a call made (-1 entries are skipped), keeping the call's errno.
 * Always inlined into the exported wrapper, so the stack walk starts at the program's frame
 * that called it: no agent frame is walked (each costs about as much as a program frame),
 * and a pipe's two descriptors share one walk. */
static inline __attribute__((always_inline)) void record_created(const int *fds, int count,
                                                                 int kind) {
  if (!tracking() || !lw__fd_wanted(fds[0] >= 0 ? fds[0] : fds[count - 1]))
    return;
  int saved = errno;
  lw_thread_state_t *thread = &lw__thread;
  lw__guard_enter(thread); /* a signal handler's descriptors, meanwhile, are not recorded */
  uint64_t frames[LW_MAX_DEPTH];
  bool truncated = false;
  int depth = lw__unwind_here(frames, lw__options.depth, 0, &truncated);
  lw__fd_record(fds, count, kind, frames, depth, truncated);
  lw__guard_exit(thread);
  errno = saved;
}

static inline __attribute__((always_inline)) int created(int fd, int kind) {
  if (fd >= 0)
    record_created(&fd, 1, kind);
  return fd;
}

static void closing(int fd) {
  if (tracking()) {
    int saved = errno;
    lw__fd_closing(fd);
    errno = saved;
  }
}

/* open and friends take a mode only with O_CREAT or O_TMPFILE. */
#define MODE_ARGUMENT(flags, mode)                          \
  mode_t mode = 0;                                          \
  if ((flags) & (O_CREAT | __O_TMPFILE)) {                  \
    va_list args_;                                          \
    va_start(args_, flags);                                 \
    mode = (mode_t)va_arg(args_, int);                      \
    va_end(args_);                                          \
  }

LW_EXPORT int open(const char *path, int flags, ...) {
  MODE_ARGUMENT(flags, mode)
  return created(REAL(open)(path, flags, mode), LW_FD_FILE);
}
LW_EXPORT int open64(const char *path, int flags, ...) {
  MODE_ARGUMENT(flags, mode)
  return created(REAL(open64)(path, flags, mode), LW_FD_FILE);
}
LW_EXPORT int openat(int dir, const char *path, int flags, ...) {
  MODE_ARGUMENT(flags, mode)
  return created(REAL(openat)(dir, path, flags, mode), LW_FD_FILE);
}
LW_EXPORT int openat64(int dir, const char *path, int flags, ...) {
  MODE_ARGUMENT(flags, mode)
  return created(REAL(openat64)(dir, path, flags, mode), LW_FD_FILE);
}
/* _FORTIFY_SOURCE's checked variants. */
LW_EXPORT int __open_2(const char *path, int flags) {
  return created(REAL(__open_2)(path, flags), LW_FD_FILE);
}
LW_EXPORT int __open64_2(const char *path, int flags) {
  return created(REAL(__open64_2)(path, flags), LW_FD_FILE);
}
LW_EXPORT int __openat_2(int dir, const char *path, int flags) {
  return created(REAL(__openat_2)(dir, path, flags), LW_FD_FILE);
}
LW_EXPORT int __openat64_2(int dir, const char *path, int flags) {
  return created(REAL(__openat64_2)(dir, path, flags), LW_FD_FILE);
}
LW_EXPORT int creat(const char *path, mode_t mode) {
  return created(REAL(creat)(path, mode), LW_FD_FILE);
}
LW_EXPORT int creat64(const char *path, mode_t mode) {
  return created(REAL(creat64)(path, mode), LW_FD_FILE);
}

LW_EXPORT int socket(int domain, int type, int protocol) {
  return created(REAL(socket)(domain, type, protocol), LW_FD_SOCKET);
}
LW_EXPORT int accept(int fd, struct sockaddr *address, socklen_t *len) {
  return created(REAL(accept)(fd, address, len), LW_FD_SOCKET);
}
LW_EXPORT int accept4(int fd, struct sockaddr *address, socklen_t *len, int flags) {
  return created(REAL(accept4)(fd, address, len, flags), LW_FD_SOCKET);
}
LW_EXPORT int socketpair(int domain, int type, int protocol, int fds[2]) {
  int result = REAL(socketpair)(domain, type, protocol, fds);
  if (result == 0)
    record_created(fds, 2, LW_FD_SOCKET);
  return result;
}
LW_EXPORT int pipe(int fds[2]) {
  int result = REAL(pipe)(fds);
  if (result == 0)
    record_created(fds, 2, LW_FD_PIPE);
  return result;
}
LW_EXPORT int pipe2(int fds[2], int flags) {
  int result = REAL(pipe2)(fds, flags);
  if (result == 0)
    record_created(fds, 2, LW_FD_PIPE);
  return result;
}
LW_EXPORT int eventfd(unsigned int value, int flags) {
  return created(REAL(eventfd)(value, flags), LW_FD_EVENTFD);
}
LW_EXPORT int timerfd_create(int clock, int flags) {
  return created(REAL(timerfd_create)(clock, flags), LW_FD_TIMERFD);
}
LW_EXPORT int epoll_create(int size) { return created(REAL(epoll_create)(size), LW_FD_EPOLL); }
LW_EXPORT int epoll_create1(int flags) {
  return created(REAL(epoll_create1)(flags), LW_FD_EPOLL);
}
LW_EXPORT int signalfd(int fd, const sigset_t *mask, int flags) {
  int result = REAL(signalfd)(fd, mask, flags);
  return fd == -1 ? created(result, LW_FD_SIGNALFD) : result; /* fd != -1 updates that one */
}
LW_EXPORT int inotify_init(void) { return created(REAL(inotify_init)(), LW_FD_INOTIFY); }
LW_EXPORT int inotify_init1(int flags) {
  return created(REAL(inotify_init1)(flags), LW_FD_INOTIFY);
}
LW_EXPORT int memfd_create(const char *name, unsigned int flags) {
  return created(REAL(memfd_create)(name, flags), LW_FD_FILE); /* as /proc shows it */
}

/* ---- duplicates ------------------------------------------------------------------------ */

/* A duplicate has the kind of its source (unknown when the source is not tracked) and the
 * stack that duplicated it. */
static inline __attribute__((always_inline)) int duplicated(int from, int to) {
  if (to >= 0 && tracking())
    record_created(&to, 1, lw__fd_kind(from));
  return to;
}

LW_EXPORT int dup(int fd) { return duplicated(fd, REAL(dup)(fd)); }
LW_EXPORT int dup2(int from, int to) {
  if (from != to)
    closing(to); /* dup2 closes `to` first */
  return duplicated(from, REAL(dup2)(from, to));
}
LW_EXPORT int dup3(int from, int to, int flags) {
  if (from != to)
    closing(to);
  return duplicated(from, REAL(dup3)(from, to, flags));
}

/* fcntl's third argument is an int or a pointer; both travel in the same register. */
#define FCNTL_BODY(real)                                                      \
  va_list args;                                                               \
  va_start(args, cmd);                                                        \
  void *argument = va_arg(args, void *);                                      \
  va_end(args);                                                               \
  int result = real(fd, cmd, argument);                                       \
  if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)                               \
    duplicated(fd, result);                                                   \
  return result;

LW_EXPORT int fcntl(int fd, int cmd, ...) { FCNTL_BODY(REAL(fcntl)) }
LW_EXPORT int fcntl64(int fd, int cmd, ...) { FCNTL_BODY(REAL(fcntl64)) }

/* ---- closing --------------------------------------------------------------------------- */

LW_EXPORT int close(int fd) {
  closing(fd);
  return REAL(close)(fd);
}

LW_EXPORT int close_range(unsigned int first, unsigned int last, int flags) {
  if (tracking() && !(flags & CLOSE_RANGE_CLOEXEC)) {
    int saved = errno;
    lw__fd_closing_range(first, last);
    errno = saved;
  }
  return REAL(close_range)(first, last, flags);
}

LW_EXPORT void closefrom(int low) {
  if (tracking() && low >= 0) {
    int saved = errno;
    lw__fd_closing_range((unsigned)low, ~0u);
    errno = saved;
  }
  REAL(closefrom)(low);
}

/* ---- stdio: libc opens and closes these descriptors internally ------------------------- */

static inline __attribute__((always_inline)) FILE *opened_stream(FILE *f) {
  if (f && tracking())
    created(fileno(f), LW_FD_FILE);
  return f;
}

LW_EXPORT FILE *fopen(const char *path, const char *mode) {
  return opened_stream(REAL(fopen)(path, mode));
}
LW_EXPORT FILE *fopen64(const char *path, const char *mode) {
  return opened_stream(REAL(fopen64)(path, mode));
}
LW_EXPORT FILE *freopen(const char *path, const char *mode, FILE *stream) {
  if (stream)
    closing(fileno(stream));
  return opened_stream(REAL(freopen)(path, mode, stream));
}
LW_EXPORT FILE *freopen64(const char *path, const char *mode, FILE *stream) {
  if (stream)
    closing(fileno(stream));
  return opened_stream(REAL(freopen64)(path, mode, stream));
}
LW_EXPORT int fclose(FILE *stream) {
  if (stream)
    closing(fileno(stream));
  return REAL(fclose)(stream);
}
