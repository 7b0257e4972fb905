/*
 * init.c - the agent's life cycle: start (possibly inside the process's first malloc),
 * fork, and the profile written at exit.
 *
 * Start is staged. lw__agent_ensure_ready() does only what is safe inside a malloc called
 * before constructors run: resolve the real functions, read options, map the tables. The
 * constructor then does what needs a running libc (output file naming, fork handlers).
 * The exit profile is written by the destructor, which runs from _dl_fini after atexit
 * handlers and static destructors, so what they free is not reported as leaked.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/agent_stack.h"
#include "agent/unwind.h"
#include "common/file.h"
#include "common/fmt.h"
#include "common/output_names.h"

volatile int lw__agent_state = LW_AGENT_OFF;
uint64_t lw__profiles_written;

static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
static char output_base[4096]; /* LEAKWATCH_OUTPUT with %p expanded, before any .pid suffix */
static char output_path[4096]; /* where this process writes its exit profile */
static int root_pid;

void lw__agent_fail(const char *why) {
  if (__atomic_exchange_n(&lw__agent_state, LW_AGENT_FAILED, __ATOMIC_ACQ_REL) !=
      LW_AGENT_FAILED)
    lw__log("sampling stopped: %s; the program continues without leakwatch", why);
}

static bool start(void) {
  lw__log_remember_stderr();
  lw__real_resolve();
  lw__options_load();
  if (!lw__options.enabled)
    return false;
  /* Never instrument a setuid/setgid program: the loader already refuses LD_PRELOAD paths
   * with slashes for them, this covers the rest. */
  if (getauxval(AT_SECURE)) {
    lw__log("not sampling a setuid/setgid program");
    return false;
  }
  lw__thread_registry_init();
  lw__unwind_init();
  lw__unwind_skip_module((const void *)start);
  lw__mappings_init();
  lw__fd_init();
  if (lw__stacks_init(lw__options.max_stacks) < 0 || lw__live_init(lw__options.max_live) < 0) {
    lw__agent_fail("cannot map memory for the agent's tables");
    return false;
  }
  lw__now_ms(); /* sets the start time */
  return true;
}

bool lw__agent_ensure_ready(void) {
  int state = __atomic_load_n(&lw__agent_state, __ATOMIC_ACQUIRE);
  if (LW_LIKELY(state == LW_AGENT_READY))
    return true;
  if (state == LW_AGENT_FAILED)
    return false;
  pthread_mutex_lock(&init_lock);
  if (lw__agent_state == LW_AGENT_OFF) {
    lw__agent_state = LW_AGENT_INITIALIZING;
    bool ok = start();
    __atomic_store_n(&lw__agent_state, ok ? LW_AGENT_READY : LW_AGENT_FAILED, __ATOMIC_RELEASE);
  }
  pthread_mutex_unlock(&init_lock);
  return lw__agent_state == LW_AGENT_READY;
}

/* ---- output file naming ---------------------------------------------------------------- */

/* Expands %p to the pid; everything else is copied. */
static void expand_output(const char *pattern, char *out, size_t size) {
  size_t j = 0;
  for (const char *p = pattern; *p && j + 1 < size; p++) {
    if (p[0] == '%' && p[1] == 'p') {
      j += lw_fmt(out + j, size - j, "%d", (int)getpid());
      if (j >= size)
        j = size - 1;
      p++;
    } else {
      out[j++] = *p;
    }
  }
  out[j] = '\0';
}

/* The process the output name belongs to writes <output>; every other process (a fork
 * child, or a program it exec'd) writes <output>.<pid>, so none overwrites another. */
static void choose_output_path(void) {
  if (!output_base[0]) {
    output_path[0] = '\0';
    return;
  }
  bool per_pid_pattern = strstr(lw__options.output, "%p") != NULL;
  if (per_pid_pattern || root_pid == getpid())
    lw_fmt(output_path, sizeof output_path, "%s", output_base);
  else
    lw_fmt(output_path, sizeof output_path, "%s.%d", output_base, (int)getpid());
}

/* ---- fork ------------------------------------------------------------------------------ */

/* Locks are taken in the order docs/INTERNALS.md ("Lock order") gives. */
static void prefork(void) {
  lw__guard_enter(&lw__thread);
  lw__export_prefork();
  lw__mappings_prefork();
  lw__stacks_prefork();
  lw__live_prefork();
  lw__thread_prefork();
}

static void postfork_parent(void) {
  lw__thread_postfork_parent();
  lw__live_postfork_parent();
  lw__stacks_postfork_parent();
  lw__mappings_postfork_parent();
  lw__export_postfork_parent();
  lw__guard_exit(&lw__thread);
}

static void postfork_child(void) {
  lw__thread_postfork_child();
  lw__live_postfork_child();
  lw__stacks_postfork_child();
  lw__mappings_postfork_child();
  lw__export_postfork_child();
  lw__history_postfork_child();
  lw__agent_thread_postfork_child();
  expand_output(lw__options.output, output_base, sizeof output_base);
  choose_output_path();
  lw__guard_exit(&lw__thread);
}

/* ---- constructor and destructor -------------------------------------------------------- */

uint64_t lw__attached_at_ns;

void lw__attach_note(char *out, size_t size) {
  out[0] = '\0';
  if (!lw__attached_at_ns)
    return;
  time_t seconds = (time_t)(lw__attached_at_ns / 1000000000u);
  struct tm utc;
  if (!gmtime_r(&seconds, &utc))
    return;
  lw_fmt(out, size, "since attach at %04d-%02d-%02d %02d:%02d:%02d UTC", utc.tm_year + 1900,
         utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec);
}

bool lw__agent_begin(void) {
  if (!lw__agent_ensure_ready())
    return false;
  lw__thread_register();
  static bool fork_handlers; /* once, though a detached agent may be attached again */
  if (!fork_handlers)
    pthread_atfork(prefork, postfork_parent, postfork_child);
  fork_handlers = true;
  expand_output(lw__options.output, output_base, sizeof output_base);
  root_pid = lw__options.root_pid;
  if ((output_base[0] || lw__options.history_output[0]) && !root_pid) {
    root_pid = getpid();
    /* First process under this output name (or history file): programs it execs inherit
     * the variable and know they are not the owner of the plain name. An attached agent
     * leaves the program's environment alone (its programs run without the agent). */
    if (!lw__attached_at_ns) {
      char pid_text[16];
      lw_fmt(pid_text, sizeof pid_text, "%d", (int)getpid());
      setenv("LEAKWATCH_ROOT_PID", pid_text, 1);
    }
  }
  choose_output_path();
  /* Looked up now, never at exit, where a lookup may allocate (exit_from_handler.c); the
   * demangler only for an exit profile (live exports look it up themselves). */
  lw__allocator_code_init();
  if (output_path[0])
    lw__demangler_resolve();
  if (!lw__attached_at_ns) /* an attached agent interposes nothing: the program would see it */
    lw__fatal_signals_install(output_path[0] || lw__options.history_output[0]);
  if (lw__options.verbose)
    lw__log("sampling every %llu bytes, depth %d, output %s",
            (unsigned long long)lw__options.rate, lw__options.depth,
            output_path[0] ? output_path : "(none)");
  return true;
}

/* The program sees errno as it would without the agent: main starts with the value the
 * loader left, whatever the agent's start-up (mkdir, unlink, failed opens) did to it.
 * libleakwatch-attach.so starts when lw_attach_start says so (attach.c), not when loaded. */
__attribute__((constructor)) static void agent_constructor(void) {
#ifndef LW_ATTACH
  int saved_errno = errno;
  lw_thread_state_t *t = &lw__thread;
  lw__guard_enter(t);
  lw__agent_begin();
  lw__guard_exit(t);
  /* The libraries are loaded and main is next: a safe point to start a thread (unlike the
   * first malloc, which may come from inside the loader). */
  lw__agent_thread_start();
  errno = saved_errno;
#endif
}

static void count_created_thread(const lw_thread_state_t *thread, void *context) {
  if (thread->created_stack)
    ++*(uint64_t *)context;
}

/* Descriptors still open and threads still running at exit, beside the heap profile
 * (out.fds.pb.gz, out.threads.pb.gz). With none, a file from an earlier run under the same
 * name is removed: it would describe a run that is not this one. */
static void write_exit_sidecar(lw_export_kind_t kind, const char *name, uint64_t live) {
  char path[sizeof output_path + 32];
  if (lw_output_sidecar_path(output_path, name, path, sizeof path) < 0)
    return;
  if (!live) {
    unlink(path);
    return;
  }
  lw_export_options_t options = {.kind = kind};
  int result = lw__export_profile_with(path, &options);
  if (result < 0) {
    char problem[160]; /* a refused symlink or FIFO is named, not "File exists" */
    lw_output_problem(path, result, problem, sizeof problem);
    lw__log("cannot write %s profile '%s': %s", name, path, problem);
  }
}

/* The exit work proper, on the agent's own stack (lw__on_agent_stack): exit() may come from
 * a thread with a small stack, and building a profile needs more than such a thread has. */
typedef struct {
  lw_reach_counts_t *reach;
  uint32_t reach_count;
} exit_work_t;

static void exit_work(void *context) {
  exit_work_t *work = context;
  lw__agent_thread_stop();
  if (__atomic_load_n(&lw__agent_state, __ATOMIC_ACQUIRE) != LW_AGENT_READY)
    return;
  if (lw__options.history_output[0] && getpid() == root_pid) {
    lw__history_exit_point(); /* ends every site's series, after exit_began_ms */
    lw__history_write_file(lw__options.history_output);
  }
  if (!output_path[0])
    return;
  lw_export_options_t options = {.reach = work->reach, .reach_count = work->reach_count};
  int result = lw__export_profile_with(output_path, &options);
  if (result < 0) {
    char problem[160];
    lw_output_problem(output_path, result, problem, sizeof problem);
    lw__log("cannot write heap profile '%s': %s", output_path, problem);
  }
  uint64_t threads = 0;
  lw__thread_for_each(count_created_thread, &threads);
  write_exit_sidecar(LW_EXPORT_THREADS, "threads", threads);
  if (lw__options.track_fds)
    write_exit_sidecar(LW_EXPORT_FDS, "fds", lw__fd_live_count());
}

/* exit() may be called from a signal handler that interrupted this thread inside the agent
 * (the guard is up), holding a table lock that the export would wait for forever, or
 * inside the real allocator, holding its lock (exit_from_handler.c). Then nothing is
 * written: one line says so and the process exits. The agent takes its locks only inside
 * the guard, so with the guard down this thread holds none of them; and after any handler
 * the export allocates nothing (no demangling), so an allocator lock the check missed is
 * never waited for either. The same holds for the agent's own handler of a fatal signal
 * (fatal_signal.c), which calls this too, once per process. */
void lw__exit_outputs_write(const char *occasion) {
  static int written;
  if (__atomic_exchange_n(&written, 1, __ATOMIC_ACQ_REL))
    return;
  int saved_errno = errno;
  lw_thread_state_t *t = &lw__thread;
  lw_exit_context_t context = LW_EXIT_PLAIN;
  if (!t->guard && __atomic_load_n(&lw__agent_state, __ATOMIC_ACQUIRE) == LW_AGENT_READY &&
      (output_path[0] || lw__options.history_output[0])) {
    lw__guard_enter(t); /* a handler arriving meanwhile is not sampled (the walk is ours) */
    context = lw__exit_context();
    lw__leave_agent(t);
    lw__demangler_exit(context != LW_EXIT_PLAIN);
  }
  if (t->guard || context == LW_EXIT_INTERRUPTED_ALLOCATOR) {
    lw__agent_thread_stop(); /* bounded: it waits 2 s at most */
    if (__atomic_load_n(&lw__agent_state, __ATOMIC_ACQUIRE) == LW_AGENT_READY &&
        (output_path[0] || lw__options.history_output[0]))
      lw__log("%s during an allocation: no profile written", occasion);
    errno = saved_errno;
    return;
  }
  lw__guard_enter(t);
  exit_work_t work = {NULL, 0};
  /* In exact mode the profile also says which live allocations are lost. This scans the
   * thread's own stack from here up, so it runs here, not on the agent's stack. */
  if (__atomic_load_n(&lw__agent_state, __ATOMIC_ACQUIRE) == LW_AGENT_READY && output_path[0] &&
      lw__options.rate <= 1 && lw__options.reachability) {
    if (lw__reachability_compute(&work.reach, &work.reach_count) < 0)
      lw__log("reachability not computed (%s)", lw__live_dropped() ? "samples were dropped"
                                                                   : "out of memory");
  }
  lw__on_agent_stack(exit_work, &work);
  if (work.reach)
    lw__reachability_free(work.reach, work.reach_count);
  lw__guard_exit(t);
  errno = saved_errno;
}

__attribute__((destructor)) static void agent_destructor(void) { lw__exit_outputs_write("exit"); }

const char *lw__exit_output_path(void) { return output_path; }
