/*
 * explain_verdict.h - why a process is as big as it is: from the /proc breakdown
 * (explain_memory.h), the agent's live heap, the allocator's own figures and the growth
 * verdicts of the agent's history, the findings of `leakwatch explain` (leak, allocator
 * retention, memory outside the heap, bounded cache, nothing wrong), each with the numbers
 * it rests on, and advice ranked for what was found, each with a line to try. Pure
 * computation (no I/O), so the thresholds can be tested on made-up figures; cmd_explain.c
 * gathers the inputs and prints. The thresholds are documented in docs/LIVE.md, "explain".
 */
#ifndef LW_CLI_EXPLAIN_VERDICT_H
#define LW_CLI_EXPLAIN_VERDICT_H

#include <stdbool.h>
#include <stdint.h>

#include "cli/explain_memory.h"

enum { LW_EXPLAIN_MAX_SITES = 5, LW_EXPLAIN_MAX_FINDINGS = 5, LW_EXPLAIN_MAX_EVIDENCE = 8,
       LW_EXPLAIN_MAX_ADVICE = 8, LW_EXPLAIN_MAX_UNKNOWN = 4, LW_EXPLAIN_MAX_ARENAS = 64 };

typedef struct lw_explain_site {
  char name[256];          /* the allocation site's frame, as `leakwatch leaks` names it */
  double bytes_per_minute; /* growth rate (suspects) */
  double live_bytes;
  double growth_bytes;
  char confidence[8];      /* "high", "medium" */
  char why[512];           /* the growth verdict's sentence */
} lw_explain_site_t;

typedef struct lw_explain_input {
  int pid;
  lw_explain_memory_t memory;
  bool agent; /* the agent answered: everything below is known */
  uint64_t heap_live_bytes;   /* estimated from samples */
  bool attached;              /* `leakwatch attach` loaded the agent: it saw only later calls */
  uint64_t agent_memory_bytes;
  uint64_t sampling_rate;
  /* The allocator behind the agent: "glibc", "jemalloc", "tcmalloc", "unknown" */
  char allocator[16];
  char allocator_file[256];   /* the object that defines its malloc */
  bool allocator_figures;     /* the figures below were read */
  uint64_t allocator_in_use;  /* what the allocator has handed out and not had back */
  uint64_t allocator_resident; /* the allocator's memory resident now (its heaps) */
  uint64_t allocator_mmap_bytes; /* glibc: blocks mmapped one by one (large requests) */
  uint64_t arenas;            /* 0 unknown */
  uint64_t largest_arena_bytes;
  /* glibc's malloc_info, arena by arena (the first LW_EXPLAIN_MAX_ARENAS) */
  uint64_t arena_system_bytes[LW_EXPLAIN_MAX_ARENAS], arena_free_bytes[LW_EXPLAIN_MAX_ARENAS];
  int n_arena_list;
  /* The agent's history of live heap per site, summed: */
  bool history;
  double history_seconds, min_window_seconds;
  double heap_first_bytes, heap_peak_bytes, heap_now_bytes;
  lw_explain_site_t suspects[LW_EXPLAIN_MAX_SITES];
  int n_suspects;
  /* Sites whose growth verdict says they grew, then levelled off (a cache that filled up),
   * largest first */
  lw_explain_site_t levelled[LW_EXPLAIN_MAX_SITES];
  int n_levelled;
  uint64_t soft_limit_bytes;  /* LEAKWATCH_SOFT_LIMIT in force (0 none) */
  uint64_t soft_limit_releases, soft_limit_released_bytes;
  char command[400];          /* the process's command line, for the lines to try */
  /* Paths to suggest for LD_PRELOAD (empty when not installed) */
  char agent_path[256], jemalloc_path[256], tcmalloc_path[256];
} lw_explain_input_t;

typedef enum {
  LW_FINDING_LEAK,
  LW_FINDING_RETENTION, /* allocator retention / fragmentation */
  LW_FINDING_OUTSIDE,   /* memory outside the heap */
  LW_FINDING_BOUNDED_CACHE,
  LW_FINDING_NOTHING,
  LW_FINDING_UNKNOWN,   /* without the agent, leak and retention cannot be told apart */
} lw_finding_kind_t;

typedef struct lw_explain_finding {
  lw_finding_kind_t kind;
  char headline[256];
  char evidence[LW_EXPLAIN_MAX_EVIDENCE][320];
  int n_evidence;
} lw_explain_finding_t;

typedef struct lw_explain_advice {
  char what[400]; /* why this helps here, with the numbers */
  char line[1200]; /* the exact line to try */
} lw_explain_advice_t;

typedef struct lw_explain_figures {
  /* Derived once, shown in the breakdown and used by the findings. */
  uint64_t heap_resident;   /* memory the allocator holds, resident */
  uint64_t heap_free;       /* ... of which not in use: what a trim could return at most */
  uint64_t outside_heap;    /* anonymous memory neither the allocator's nor the agent's */
} lw_explain_figures_t;

typedef struct lw_explain_result {
  lw_explain_figures_t figures;
  lw_explain_finding_t findings[LW_EXPLAIN_MAX_FINDINGS]; /* the verdict first */
  int n_findings;
  lw_explain_advice_t advice[LW_EXPLAIN_MAX_ADVICE]; /* ranked */
  int n_advice;
  char unknown[LW_EXPLAIN_MAX_UNKNOWN][256]; /* what could not be known, and why */
  int n_unknown;
} lw_explain_result_t;

void lw_explain_judge(const lw_explain_input_t *in, lw_explain_result_t *out);
const char *lw_explain_finding_name(lw_finding_kind_t kind);

#endif
