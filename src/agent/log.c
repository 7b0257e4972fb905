/*
 * log.c - the agent's diagnostics: one line on stderr, "leakwatch[pid]: ...".
 *
 * Formatted with lw_fmt and written with write(2), so it is safe from allocation hooks and
 * fork children. Capped at 32 messages per process so a misbehaving agent can never flood
 * the host's stderr.
 */
#include <stdarg.h>
#include <unistd.h>

#include "agent/agent.h"
#include "common/fmt.h"

enum { MAX_MESSAGES = 32 };
static int messages_written;

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
  lw_fdprintf(STDERR_FILENO, "%.*s", (int)n, line);
}
