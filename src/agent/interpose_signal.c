/*
 * interpose_signal.c - sigaction and the signal() family, wrapped so that the program
 * always sees and sets its own view of SIGTERM, SIGINT, SIGHUP, SIGSEGV, SIGBUS and
 * SIGABRT while the agent's handler stands in for their default action
 * (fatal_signal.c). Every other signal, and every call while that feature is off, goes
 * straight to the next definition. Only interpose*.c go into libleakwatch.so.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>

#include "agent/agent.h"

void *lw__real_lookup(const char *name); /* real.c: the next definition of name */

typedef sighandler_t (*set_handler_fn)(int, sighandler_t);

/* The next definition of a signal() variant, looked up on first use (a library's
 * constructor may call it before the agent's runs). */
static set_handler_fn next_definition(set_handler_fn *slot, const char *name) {
  set_handler_fn f = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
  if (!f) {
    f = (set_handler_fn)lw__real_lookup(name);
    __atomic_store_n(slot, f, __ATOMIC_RELEASE);
  }
  return f;
}

#define SET_HANDLER_WRAPPER(name)                                         \
  static set_handler_fn next_##name;                                      \
  LW_EXPORT sighandler_t name(int sig, sighandler_t handler) {            \
    set_handler_fn set = next_definition(&next_##name, #name);            \
    if (!set) {                                                           \
      errno = EINVAL;                                                     \
      return SIG_ERR;                                                     \
    }                                                                     \
    return lw__fatal_signal_set_handler(sig, handler, set);              \
  }

SET_HANDLER_WRAPPER(signal)
SET_HANDLER_WRAPPER(bsd_signal)
SET_HANDLER_WRAPPER(sysv_signal)
SET_HANDLER_WRAPPER(sigset)

LW_EXPORT int sigaction(int sig, const struct sigaction *action, struct sigaction *old) {
  return lw__fatal_signal_sigaction(sig, action, old);
}
