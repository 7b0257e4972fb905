/*
 * inject_target.h - what `leakwatch attach/detach` must know about a running process before
 * it touches it: whether it may and can be entered (each refusal is one line naming its
 * cause), and where its C library's dlopen/dlsym/dlerror, its dynamic loader and its
 * allocator live, for inject_call.c.
 *
 * Read-only: nothing here stops, traces or writes to the process. Pairs with inject_call.h.
 */
#ifndef LW_CLI_INJECT_TARGET_H
#define LW_CLI_INJECT_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct lw_address_range {
  uint64_t start, end; /* [start, end) */
} lw_address_range_t;

enum { LW_INJECT_MAX_AVOID = 48, LW_INJECT_MAX_MODULES = 8 };

/* An executable segment of a mapped ELF object whose last page has room past the code the
 * file puts there (the rest of the page is the file's padding): where the self-restoring
 * call is written. */
typedef struct lw_inject_slack {
  uint64_t start; /* first byte past the segment's code, 16-aligned */
  uint64_t size;  /* bytes up to the end of the page */
} lw_inject_slack_t;

typedef struct lw_inject_target {
  int pid;
  char libc_path[4096];    /* as the process maps it */
  uint64_t dlopen_address; /* in the process */
  uint64_t dlsym_address;
  uint64_t dlerror_address;
  /* Code a thread must not be stopped in, nor have on its stack, when it is made to call
   * dlopen: the dynamic loader (its lock is recursive: a second dlopen inside it would
   * corrupt its lists) and the allocator's entry points (their arena locks are not). */
  lw_address_range_t avoid[LW_INJECT_MAX_AVOID];
  size_t n_avoid;
  lw_address_range_t libc_code; /* a thread stopped here (not in a system call) is avoided */
  lw_inject_slack_t slack[LW_INJECT_MAX_MODULES];
  size_t n_slack;
  char attached_library[4096]; /* the attach library as mapped, or "" */
  bool preloaded;              /* libleakwatch.so is mapped: started with the agent */
} lw_inject_target_t;

/* Checks that `pid` can be entered by this user and is a 64-bit x86 glibc program that is
 * not setuid, not traced, not confined by seccomp, not exiting, and reads the addresses
 * above. attach_name is the attach library's file name ("libleakwatch-attach.so"; tests
 * load a stand-in). Returns 0, or -1 with one line (no "leakwatch:" prefix) in `error`. */
int lw_inject_target_inspect(int pid, const char *attach_name, lw_inject_target_t *target,
                             char *error, size_t error_size);

/* Why ptrace was refused (errno EPERM) for pid: another user, Yama ptrace_scope and how to
 * change it, a missing CAP_SYS_PTRACE, or a tracer already there. */
void lw_inject_explain_permission(int pid, char *error, size_t error_size);

#endif
