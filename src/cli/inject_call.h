/*
 * inject_call.h - makes one thread of a running process call dlopen(library), dlsym(symbol)
 * and symbol(arguments), then carry on exactly where it was: what `leakwatch attach` and
 * `detach` use to start and stop the agent in a process that was not started with it.
 *
 * The thread's registers are changed once, to jump into a self-restoring call written
 * beforehand, so the program is whole even if leakwatch is killed at any point (the kernel
 * lets a dead tracer's threads go; the call then finishes and returns by itself).
 * docs/INTERNALS.md ("Attaching to a running process") explains the choices.
 */
#ifndef LW_CLI_INJECT_CALL_H
#define LW_CLI_INJECT_CALL_H

#include <stdbool.h>
#include <stddef.h>

#include "cli/inject_target.h"

typedef struct lw_inject_request {
  const char *library; /* path as the process sees it */
  int dlopen_flags;    /* RTLD_NOW; with RTLD_NOLOAD, only a library already loaded */
  const char *symbol;  /* called as int symbol(argument0, argument1, argument2) */
  const char *options; /* attach: NUL-separated strings ended by an empty one; or NULL */
  size_t options_size; /* bytes of options, the final empty string included */
  int timeout_ms;      /* for the call to return once the thread runs it */
} lw_inject_request_t;

typedef struct lw_inject_result {
  bool loaded;        /* dlopen gave a handle */
  bool found;         /* dlsym found the symbol */
  int status;         /* what the symbol returned (0: success) */
  char message[512];  /* its message, or dlerror's text when not loaded or not found */
  int tid;            /* the thread that made the call */
  double stopped_ms;  /* how long that thread was stopped by ptrace */
  double call_ms;     /* from its release to the call's return */
} lw_inject_result_t;

/* Runs the call on a thread that is safe to borrow (not inside the loader or the
 * allocator), trying for about two seconds. The symbol is called with (options, message,
 * sizeof message) when options is set, else (message, sizeof message, 0).
 * Returns 0 when the call ran (the result says how it went), or -1 with one line in error
 * when nothing was called (no safe thread, permission, the process exited). */
int lw_inject_call(const lw_inject_target_t *target, const lw_inject_request_t *request,
                   lw_inject_result_t *result, char *error, size_t error_size);

/* Tests only: with LEAKWATCH_ATTACH_PAUSE_AT=<stage>, prints "stage <stage>" on stderr and
 * waits there forever, so a test can kill leakwatch with SIGKILL at that point. */
void lw_inject_stage(const char *stage);

#endif
