/*
 * thread_stacks.h - the current stack of every thread of the process, taken from inside it
 * without stopping or signalling any of them (thread_stacks.c), for /debug/pprof/goroutine
 * (goroutine_export.c).
 *
 * A thread blocked in a system call is read through /proc/self/task/TID/syscall (its user
 * stack pointer and pc) and unwound with the agent's CFI unwinder, reading its stack through
 * process_vm_readv; a thread that is running has no registers anyone can read without
 * interrupting it, so it is retried for a few milliseconds and otherwise reported as running,
 * without frames. docs/INTERNALS.md, "Thread stacks without signals", says why.
 *
 * Runs on the agent thread only; never allocates (the caller provides the array), never
 * faults, never sends a signal.
 */
#ifndef LW_AGENT_THREAD_STACKS_H
#define LW_AGENT_THREAD_STACKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum { LW_THREAD_STACK_DEPTH = 64 };

typedef enum {
  LW_THREAD_IN_SYSCALL = 0, /* blocked in a system call: `syscall` says which */
  LW_THREAD_BLOCKED,        /* asleep outside a system call (a page fault, a stop) */
  LW_THREAD_RUNNING,        /* on a CPU or runnable whenever it was looked at: no frames */
  LW_THREAD_GONE,           /* exited while it was being read */
} lw_thread_where_t;

typedef struct lw_thread_stack {
  pid_t tid;
  int32_t syscall;   /* system call number while blocked in one, else -1 */
  uint8_t where;     /* lw_thread_where_t */
  bool truncated;    /* the walk stopped before the outermost frame */
  bool unknown_register; /* ...because a frame needed a register /proc does not give (rbp) */
  uint16_t depth;
  uint32_t created_stack; /* stack id + 1 of the pthread_create that made it; 0 unknown
                           * (left 0 here: goroutine_export.c fills it from the registry) */
  char name[16];     /* comm */
  /* Code addresses, innermost first: the system call's return pc and every caller's return
   * address minus 1 (the call instruction), as profiles want them. */
  uint64_t frames[LW_THREAD_STACK_DEPTH];
} lw_thread_stack_t;

/* Threads of this process now (entries of /proc/self/task), or a negative errno. */
long lw__thread_stacks_count(void);

/* Fills out[0..max) with every thread of the process except the calling one, and returns
 * how many were filled; *seen (may be NULL) gets how many there were, so that seen > the
 * result means the array was too small. A negative errno when /proc/self/task cannot be
 * read. Costs a few system calls per frame (reads of another thread's stack go through
 * process_vm_readv) plus up to about 10 ms of retries when threads are running. */
long lw__thread_stacks_capture(lw_thread_stack_t *out, size_t max, size_t *seen);

/* The name of an x86-64 system call ("read", "futex", ...), or NULL when not in the table. */
const char *lw__syscall_name(long number);

#endif
