/*
 * explain_memory.h - where a process's resident memory is, from /proc/PID/smaps alone (no
 * agent needed): the brk heap, glibc's other arenas, thread stacks, code, mapped files,
 * shared memory, and anonymous memory outside all of these, with its largest mappings.
 * `leakwatch explain` puts the agent's and the allocator's figures beside it
 * (explain_verdict.c). Linux only.
 *
 * How the kinds are told apart (none of this is marked in smaps, so it is inferred):
 *   - glibc arena heaps: anonymous read-write mappings that start on a 64 MiB boundary
 *     (HEAP_MAX_SIZE) and are either 64 MiB long or followed by their PROT_NONE reserve;
 *   - thread stacks: the mapping that holds a thread's stack pointer (the next-to-last field
 *     of /proc/PID/task/TID/syscall, present while the thread sleeps in a system call), and
 *     anonymous read-write mappings right above a PROT_NONE guard of at most 1 MiB (how
 *     glibc lays out pthread stacks), plus [stack];
 *   - code: file mappings that are executable, and [vdso]; files: other file mappings;
 *   - shared memory: shared mappings of /dev/shm, /dev/zero, memfd and SysV segments.
 */
#ifndef LW_CLI_EXPLAIN_MEMORY_H
#define LW_CLI_EXPLAIN_MEMORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { LW_EXPLAIN_LARGEST = 5 };

typedef struct lw_explain_mapping {
  uint64_t start, end;
  uint64_t rss_bytes;
  char perms[5];
  char name[96]; /* "" for anonymous */
} lw_explain_mapping_t;

typedef struct lw_explain_memory {
  uint64_t rss_bytes, pss_bytes, swap_bytes;
  uint64_t anon_bytes;        /* every anonymous resident byte (Anonymous: lines) */
  uint64_t brk_heap_bytes;    /* [heap] */
  uint64_t arena_heap_bytes;  /* glibc's other arenas' heaps */
  uint64_t n_arena_heaps;
  uint64_t stack_bytes;       /* thread stacks and [stack] */
  uint64_t n_stacks;
  uint64_t code_bytes;
  uint64_t file_bytes;
  uint64_t shared_memory_bytes;
  uint64_t other_anon_bytes;  /* anonymous private memory that is none of the above */
  uint64_t n_other_anon;
  lw_explain_mapping_t largest_other[LW_EXPLAIN_LARGEST]; /* by rss, largest first */
  uint64_t threads;
  uint64_t threads_with_sp;   /* threads whose stack pointer could be read */
} lw_explain_memory_t;

/* Reads /proc/<pid>/smaps (and task/ for the threads). Returns 0, or -1 with a one-line
 * reason in error ("cannot read /proc/4242/smaps: Permission denied"). */
int lw_explain_memory_read(int pid, lw_explain_memory_t *out, char *error, size_t error_size);

/* Classifies one smaps text (used by the reader and by unit tests). stack_pointers: the
 * threads' stack pointers (may be NULL). */
int lw_explain_memory_parse(const char *smaps, const uint64_t *stack_pointers,
                            size_t n_stack_pointers, lw_explain_memory_t *out);

#endif
