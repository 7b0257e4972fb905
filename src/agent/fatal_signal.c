/*
 * fatal_signal.c - a profile before a signal ends the process: SIGTERM, SIGINT and SIGHUP
 * (a service stopped, a Ctrl-C) and SIGSEGV, SIGBUS and SIGABRT (a crash), when their
 * action is the default one. The agent's handler writes what exit would have written (the
 * profile, its sidecars, the history: init.c, lw__exit_outputs_write) and the process then
 * dies of the same signal, so its parent sees the same status and a crash still dumps core.
 *
 * The program never sees the handler: sigaction, signal, bsd_signal, sysv_signal and sigset
 * are interposed (interpose_signal.c) and answer with what the program set or found (the
 * default), and a handler the program installs replaces the agent's at once, so its own
 * handlers run exactly as before. Setting the default back gives the signal to the agent
 * again. Only a program that asks the kernel directly (syscall(SYS_rt_sigaction), or
 * /proc/self/status's SigCgt) sees the agent's handler.
 *
 * The handler runs wherever the signal landed. It writes nothing, and says so in one line,
 * when that would not be safe: the signal interrupted the agent itself (its guard is up:
 * it may hold a table lock) or the allocator (init.c finds that from the signal frame),
 * exactly as for exit() called from a signal handler. A second fatal signal while the
 * first is being handled ends the process at once (a second Ctrl-C does not wait).
 *
 * Async-signal-safety: the handler itself calls only tgkill, sigprocmask and the exit
 * writer, which runs on the agent's own stack and uses no lock the interrupted code can
 * hold once the checks above passed (docs/COMPATIBILITY.md, "Signals").
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent/agent.h"

void *lw__real_lookup(const char *name); /* real.c: the next definition of name */

typedef int (*sigaction_fn)(int, const struct sigaction *, struct sigaction *);

/* glibc's own entry point, for a program where dlsym finds no next sigaction. */
extern int __sigaction(int, const struct sigaction *, struct sigaction *);

enum { SIGNAL_SLOTS = 65 };

static const int watched_signals[] = {SIGTERM, SIGINT, SIGHUP, SIGSEGV, SIGBUS, SIGABRT};

static struct {
  sigaction_fn real;
  bool active; /* handlers may be installed: LEAKWATCH_FATAL_SIGNALS and somewhere to write */
  /* By signal number: the agent's handler is installed (the program sees view instead). */
  volatile uint8_t owned[SIGNAL_SLOTS];
  struct sigaction view[SIGNAL_SLOTS]; /* what sigaction tells the program */
  int handling; /* atomic: a fatal signal is being handled */
} fatal;

static sigaction_fn real_sigaction(void) {
  sigaction_fn f = __atomic_load_n(&fatal.real, __ATOMIC_ACQUIRE);
  if (!f) {
    f = (sigaction_fn)lw__real_lookup("sigaction");
    if (!f)
      f = __sigaction;
    __atomic_store_n(&fatal.real, f, __ATOMIC_RELEASE);
  }
  return f;
}

static bool watched(int sig) {
  for (size_t i = 0; i < sizeof watched_signals / sizeof watched_signals[0]; i++)
    if (watched_signals[i] == sig)
      return true;
  return false;
}

static const char *signal_name(int sig) {
  switch (sig) {
  case SIGTERM:
    return "SIGTERM";
  case SIGINT:
    return "SIGINT";
  case SIGHUP:
    return "SIGHUP";
  case SIGSEGV:
    return "SIGSEGV";
  case SIGBUS:
    return "SIGBUS";
  default:
    return "SIGABRT";
  }
}

static bool is_default(const struct sigaction *action) {
  return action->sa_handler == SIG_DFL;
}

/* Dies of sig as the default action would have. The kernel restored the default as the
 * handler was entered (SA_RESETHAND: no system call needed here, which a seccomp filter
 * might refuse), so a fault returns to re-execute the faulting instruction (the core dump
 * shows the real fault), and a signal that was sent is sent again and unblocked. */
static void die_of(int sig, const siginfo_t *info) {
  if ((sig == SIGSEGV || sig == SIGBUS) && info && info->si_code > 0)
    return;
  syscall(SYS_tgkill, getpid(), (pid_t)syscall(SYS_gettid), sig);
  sigset_t only;
  sigemptyset(&only);
  sigaddset(&only, sig);
  sigprocmask(SIG_UNBLOCK, &only, NULL); /* the pending signal is delivered here */
  _exit(128 + sig);                      /* not reached */
}

static void on_fatal_signal(int sig, siginfo_t *info, void *context) {
  (void)context;
  int saved_errno = errno;
  if (__atomic_exchange_n(&fatal.handling, 1, __ATOMIC_ACQ_REL) == 0) {
    lw__history_mark_exit();
    lw__exit_outputs_write(signal_name(sig));
  }
  die_of(sig, info);
  errno = saved_errno; /* a fault returns to re-execute the instruction, and dies there */
}

static bool install(int sig, struct sigaction *previous) {
  struct sigaction ours;
  memset(&ours, 0, sizeof ours);
  ours.sa_sigaction = on_fatal_signal;
  /* SA_ONSTACK: a sigaltstack, if the program has one, for a stack overflow's SIGSEGV.
   * SA_RESETHAND: the default is back the moment the handler runs, so the same signal
   * again (a second Ctrl-C) ends the process at once. */
  ours.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART | SA_RESETHAND;
  sigemptyset(&ours.sa_mask);
  if (real_sigaction()(sig, &ours, previous) != 0)
    return false;
  fatal.owned[sig] = 1;
  return true;
}

void lw__fatal_signals_install(bool have_outputs) {
  int saved_errno = errno;
  real_sigaction(); /* resolved now, never first in a signal handler */
  errno = saved_errno;
  if (!lw__options.fatal_signals || !have_outputs)
    return;
  for (size_t i = 0; i < sizeof watched_signals / sizeof watched_signals[0]; i++) {
    int sig = watched_signals[i];
    struct sigaction current;
    if (fatal.owned[sig] || real_sigaction()(sig, NULL, &current) != 0 || !is_default(&current))
      continue; /* the program's (or ignored): left alone */
    fatal.view[sig] = current;
    install(sig, NULL);
  }
  fatal.active = true;
  errno = saved_errno;
}

int lw__fatal_signal_sigaction(int sig, const struct sigaction *action, struct sigaction *old) {
  if (!fatal.active || sig <= 0 || sig >= SIGNAL_SLOTS || !watched(sig))
    return real_sigaction()(sig, action, old);
  if (fatal.owned[sig]) {
    struct sigaction previous = fatal.view[sig];
    if (action && !is_default(action)) {
      int result = real_sigaction()(sig, action, NULL);
      if (result != 0)
        return result;
      fatal.owned[sig] = 0; /* the program's handler from now on */
    }
    if (action)
      fatal.view[sig] = *action;
    if (old)
      *old = previous;
    return 0;
  }
  if (action && is_default(action) && !__atomic_load_n(&fatal.handling, __ATOMIC_ACQUIRE)) {
    struct sigaction previous;
    if (install(sig, &previous)) {
      fatal.view[sig] = *action;
      if (old)
        *old = previous;
      return 0;
    }
  }
  return real_sigaction()(sig, action, old);
}

/* What signal(), bsd_signal(), sysv_signal() and sigset() do, for the signals the agent
 * watches: `set` is the real function. */
sighandler_t lw__fatal_signal_set_handler(int sig, sighandler_t handler,
                                          sighandler_t (*set)(int, sighandler_t)) {
  if (!fatal.active || sig <= 0 || sig >= SIGNAL_SLOTS || !watched(sig))
    return set(sig, handler);
  if (fatal.owned[sig] && handler != SIG_HOLD) {
    sighandler_t previous = fatal.view[sig].sa_handler;
    if (handler != SIG_DFL) {
      sighandler_t result = set(sig, handler);
      if (result == SIG_ERR)
        return result;
      fatal.owned[sig] = 0;
    }
    fatal.view[sig].sa_handler = handler;
    return previous;
  }
  if (handler == SIG_DFL && !fatal.owned[sig] &&
      !__atomic_load_n(&fatal.handling, __ATOMIC_ACQUIRE)) {
    struct sigaction previous;
    if (install(sig, &previous)) {
      memset(&fatal.view[sig], 0, sizeof fatal.view[sig]);
      fatal.view[sig].sa_handler = SIG_DFL;
      return previous.sa_handler;
    }
  }
  sighandler_t result = set(sig, handler);
  /* sigset(sig, SIG_HOLD) answers with the disposition, which may be the agent's. */
  if ((void *)result == (void *)on_fatal_signal)
    result = fatal.view[sig].sa_handler;
  return result;
}
