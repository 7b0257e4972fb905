/*
 * log.c - the agent's diagnostics: one line on stderr, "leakwatch[pid]: ...".
 *
 * Formatted with lw_fmt and written with write(2), so it is safe from allocation hooks and
 * fork children. Capped at 32 messages per process so a misbehaving agent can never flood
 * the host's stderr.
 *
 * Descriptor 2 belongs to the program: a daemon may close it and find its own file or a
 * client's socket there next, just when the agent has something to say (it noticed its own
 * descriptors taken). So a line is written only to the stderr the program started with, or
 * to a terminal or /dev/null (character devices) it put there; anything else is left alone.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent.h"
#include "common/fmt.h"

enum { MAX_MESSAGES = 32 };
static int messages_written;

static struct {
  bool known; /* fd 2 was open at start */
  dev_t dev;
  ino_t ino;
} stderr_at_start;

void lw__log_remember_stderr(void) {
  struct stat st;
  stderr_at_start.known = fstat(STDERR_FILENO, &st) == 0;
  if (stderr_at_start.known) {
    stderr_at_start.dev = st.st_dev;
    stderr_at_start.ino = st.st_ino;
  }
}

int lw__stderr_fd(void) {
  struct stat st;
  if (fstat(STDERR_FILENO, &st) != 0)
    return -1;
  if (stderr_at_start.known && st.st_dev == stderr_at_start.dev &&
      st.st_ino == stderr_at_start.ino)
    return STDERR_FILENO;
  return S_ISCHR(st.st_mode) ? STDERR_FILENO : -1;
}

void lw__log(const char *format, ...) {
  if (__atomic_fetch_add(&messages_written, 1, __ATOMIC_RELAXED) >= MAX_MESSAGES)
    return;
  char line[1024];
  size_t n = lw_fmt(line, sizeof line, "leakwatch[%d]: ", (int)getpid());
  va_list args;
  va_start(args, format);
  if (n < sizeof line)
    n += lw_vfmt(line + n, sizeof line - n, format, args);
  va_end(args);
  if (n > sizeof line - 2)
    n = sizeof line - 2;
  line[n++] = '\n';
  int fd = lw__stderr_fd();
  if (fd >= 0)
    lw_fdprintf(fd, "%.*s", (int)n, line);
}
