/*
 * agent.h - internal interfaces of libleakwatch.so, grouped by the file that defines them.
 *
 * The agent runs inside someone else's process. Everything declared here obeys the agent's
 * rules (docs/INTERNALS.md): nothing reachable from an allocation hook calls malloc, stdio or
 * getenv; memory comes from arena.c; diagnostics go through log.c; a failure stops sampling,
 * never the host.
 *
 * Names: lw__<module>_<verb>. Public lw_* functions are in include/leakwatch.h.
 */
#ifndef LW_AGENT_AGENT_H
#define LW_AGENT_AGENT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/alloc.h"
#include "common/buf.h"

#define LW_EXPORT __attribute__((visibility("default")))
/* Agent globals are local to libleakwatch.so; saying so lets the hot paths address them
 * directly instead of through the GOT. */
#define LW_HIDDEN __attribute__((visibility("hidden")))
#define LW_LIKELY(x) __builtin_expect(!!(x), 1)
#define LW_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* ---- options.c: LEAKWATCH_* settings, read once from the environment ------------------ */

typedef struct lw_options {
  uint64_t rate;          /* LEAKWATCH_RATE: mean bytes between samples; 1 = every allocation */
  char output[4096];      /* LEAKWATCH_OUTPUT: profile written at exit ("" = none) */
  int depth;              /* LEAKWATCH_DEPTH: frames kept per stack */
  uint64_t max_stacks;    /* LEAKWATCH_MAX_STACKS */
  uint64_t max_live;      /* LEAKWATCH_MAX_LIVE: sampled allocations tracked at once */
  bool verbose;           /* LEAKWATCH_VERBOSE: one line at start with the settings */
  bool enabled;           /* LEAKWATCH_DISABLE=1 turns the agent into a pass-through */
  uint64_t fault_mmap;    /* LEAKWATCH_FAULT_MMAP=N: the Nth agent mmap fails (tests only) */
  uint64_t fault_mmap_from; /* LEAKWATCH_FAULT_MMAP_FROM=N: the Nth and all later fail (tests) */
  int root_pid;           /* LEAKWATCH_ROOT_PID: pid of the process the output belongs to */
  bool control;           /* LEAKWATCH_CONTROL: the control socket (default on) */
  char http[128];         /* LEAKWATCH_HTTP: "127.0.0.1:6060" serves net/http/pprof paths */
  bool http_allow_remote; /* LEAKWATCH_HTTP_ALLOW_REMOTE: permit a non-loopback address */
  char http_program[64];  /* LEAKWATCH_HTTP_PROGRAM: the program of a tree that serves HTTP */
  uint64_t reply_memory;  /* LEAKWATCH_REPLY_MEMORY: bytes replies may hold at once (cap) */
  uint64_t log_interval_ms; /* LEAKWATCH_LOG_INTERVAL: periodic stats line (0 = off) */
  char log_path[4096];    /* LEAKWATCH_LOG: where that line goes (default stderr) */
  uint64_t history_interval_ms; /* LEAKWATCH_HISTORY_INTERVAL: site history (0 = off) */
  uint64_t history_sites;       /* LEAKWATCH_HISTORY_SITES: sites tracked at once */
  char history_output[4096];    /* LEAKWATCH_HISTORY_OUTPUT: history written at exit */
  uint64_t history_old_after_ms; /* LEAKWATCH_HISTORY_OLD_AFTER: "old" in that history */
  bool reachability;      /* LEAKWATCH_REACHABILITY: lost/reachable classes at exit (rate 1) */
  bool track_fds;         /* LEAKWATCH_TRACK_FDS: creating stacks of live descriptors */
  bool fatal_signals;     /* LEAKWATCH_FATAL_SIGNALS: a profile before TERM/INT/HUP/crash death */
  char snapshot_at[128];  /* LEAKWATCH_SNAPSHOT_AT: "90%,512MiB": heap snapshots on the way up */
  uint64_t soft_limit;    /* LEAKWATCH_SOFT_LIMIT: RSS above which free memory is returned */
  uint64_t soft_limit_interval_ms; /* LEAKWATCH_SOFT_LIMIT_INTERVAL: at most one release */
} lw_options_t;

extern lw_options_t lw__options LW_HIDDEN;
/* Parses the environment (scanning environ directly: safe before main, no allocation). */
void lw__options_load(void);
/* The value of an environment variable, scanning environ (no getenv); NULL if unset. */
const char *lw__environ_value(const char *name);

/* ---- log.c: diagnostics on stderr, "leakwatch[pid]: ..." ------------------------------ */

void lw__log(const char *format, ...) __attribute__((format(printf, 1, 2)));
/* Remembers which file descriptor 2 is, at start (the program's stderr). */
void lw__log_remember_stderr(void);
/* 2 while descriptor 2 may take the agent's text (the stderr the program started with, or
 * a character device), else -1: the program put something else there. */
int lw__stderr_fd(void);

/* ---- arena.c: the agent's own memory --------------------------------------------------- */

#ifdef _WIN32
/* Windows only (memory_windows.c): address space committed page by page as it is touched.
 * Nothing uses it now; tables map chunks as they grow (docs/INTERNALS.md, "Tables"). */
void *lw__arena_reserve(size_t size);
void lw__arena_note_used(size_t bytes);
#endif
/* Page-granular mapping for agent data. NULL when the kernel refuses it or it would take the
 * agent past its budget (arena.c); a table that cannot grow then stops sampling. */
void *lw__arena_map(size_t size);
void lw__arena_unmap(void *address, size_t size);
/* What the agent holds mapped for itself now, in bytes (agent_memory_bytes). */
uint64_t lw__arena_bytes(void);
/* The most the agent's mappings may take: 1/8 of what RLIMIT_AS or RLIMIT_DATA left the
 * program when the agent started; UINT64_MAX when neither is set. Linux only. */
uint64_t lw__arena_budget(void);
/* Mappings held for a client (replies, window snapshots, files being written): out of the
 * budget's quarter for them, never the tables' 3/4. They and the scratch memory are wiped
 * in a fork child and unmapped there by lw__arena_postfork_child. Linux only. */
void *lw__arena_map_held(size_t size);
void lw__arena_unmap_held(void *address, size_t size);
void lw__arena_postfork_child(void);
/* An lw_allocator_t for short-lived work (building a profile): blocks come from mmap and
 * everything is returned by lw__scratch_release_all. One user at a time (export lock). */
extern const lw_allocator_t lw__scratch_allocator;
void lw__scratch_release_all(void);

/* ---- real.c: the interposed functions' real implementations --------------------------- */

typedef struct lw_real_functions {
  void *(*malloc)(size_t);
  void (*free)(void *);
  void *(*calloc)(size_t, size_t);
  void *(*realloc)(void *, size_t);
  void *(*reallocarray)(void *, size_t, size_t);
  int (*posix_memalign)(void **, size_t, size_t);
  void *(*aligned_alloc)(size_t, size_t);
  void *(*memalign)(size_t, size_t);
  void *(*valloc)(size_t);
  void *(*pvalloc)(size_t);
  size_t (*malloc_usable_size)(void *);
  int (*pthread_create)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
  int (*dlclose)(void *);
} lw_real_functions_t;

/* Starts out pointing at bootstrap versions that resolve the real functions on first use
 * and serve allocations made while dlsym itself allocates. */
extern lw_real_functions_t lw__real LW_HIDDEN;
/* Resolves every real function with dlsym(RTLD_NEXT); idempotent. */
void lw__real_resolve(void);
/* True if p was handed out by the bootstrap arena (such blocks are never given to the real
 * free). */
bool lw__bootstrap_owns(const void *p);
size_t lw__bootstrap_size(const void *p);

/* ---- thread_state.c: per-thread counters and the registry of threads ------------------ */

/* The hot fields come first: the malloc and free hooks touch only the first three. */
typedef struct lw_thread_state {
  int64_t countdown;        /* bytes until the next sample; < 0 means sample now */
  uint64_t malloc_calls;    /* exact, written only by the owning thread */
  uint64_t free_calls;      /* exact, written only by the owning thread */
  int64_t countdown_start;  /* countdown value at the last reset (bytes accounting) */
  uint64_t bytes_base;      /* bytes requested before the last reset */
  uint64_t random_state;    /* xorshift state for the sampler */
  uint32_t guard;           /* > 0 while agent code runs on this thread */
  uint8_t registered;
  uint8_t exit_rounds;
  uint8_t n_deferred;       /* frees that arrived while this thread held a table lock */
  uint32_t bytes_seq;       /* odd while lw__sampler_reset moves countdown into bytes_base */
  void *deferred_frees[15];
  pid_t tid;
  uintptr_t stack_high;     /* top of the thread's stack (reachability scans below it) */
  uint32_t created_stack;   /* stack id + 1 of the pthread_create that made it; 0 unknown */
  /* The stack ids of this thread's last walks, by unwinder tag (lw__record_intern_walk):
   * slot tag & 1, since the unwinder's memo hands out tags to its two entries in turn. */
  uint64_t walk_tag[2];
  uint32_t walk_stack[2];
  uint32_t walk_epoch[2];
  /* Allocation counters of this thread's latest samples, not yet added to their stack
   * (record.c): samples of one stack in a row are summed here with plain stores and added
   * to the stack with atomic adds when another stack comes, or the thread exits or is
   * left behind by fork. Readers add what is pending (under pending_seq, a seqlock). */
  uint32_t pending_seq;   /* odd while the owner changes the fields below */
  uint32_t pending_stack; /* stack id + 1; 0 = nothing pending */
  uint64_t pending_samples, pending_objects_fp, pending_bytes_fp;
  struct lw_thread_state *next;
  struct lw_thread_state *prev;
} lw_thread_state_t;

/* initial-exec in both agents. libleakwatch-attach.so has it from a library of its own,
 * libleakwatch-attach-tls.so (attach_thread_tls.c): dlopen puts a library's whole TLS block
 * in static TLS when any of it is initial-exec, and only this much fits there. */
#ifdef LW_ATTACH
extern __thread lw_thread_state_t lw__thread __attribute__((tls_model("initial-exec")));
#else
extern __thread lw_thread_state_t lw__thread __attribute__((tls_model("initial-exec"))) LW_HIDDEN;
#endif

/* One more call on a counter of the calling thread's own state (malloc_calls, free_calls).
 * A signal handler that allocates may run between any two instructions of this thread, so
 * the increment must be one instruction that adds to memory: a load-add-store (which the
 * compiler makes of `++`, as it likes: realloc's two counts became one 16-byte load, add
 * and store) would store a sum that leaves out the handler's calls. On x86-64 that is
 * `addq` (no lock: only this thread writes the counter); elsewhere a relaxed atomic add. */
static inline void lw__count_call(uint64_t *counter) {
#if defined(__x86_64__)
  __asm__("addq $1, %0" : "+m"(*counter));
#else
  __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
#endif
}

/* Adds the calling thread to the registry (once). */
void lw__thread_register(void);
/* Sums the counters of all threads, live and exited. */
typedef struct lw_call_totals {
  uint64_t malloc_calls;
  uint64_t free_calls;
  uint64_t bytes_requested;
  uint64_t threads_seen;
  uint64_t threads_live; /* registered now */
} lw_call_totals_t;
void lw__thread_totals(lw_call_totals_t *out);
/* Bytes requested by the calling thread so far (countdown-based accounting). */
static inline uint64_t lw__thread_bytes(const lw_thread_state_t *t) {
  return t->bytes_base + (uint64_t)(t->countdown_start - t->countdown);
}
void lw__thread_registry_init(void);
/* Calls fn for every registered thread, under the registry lock (fn must not allocate). */
void lw__thread_for_each(void (*fn)(const lw_thread_state_t *thread, void *context),
                         void *context);
void lw__thread_prefork(void);
void lw__thread_postfork_parent(void);
void lw__thread_postfork_child(void);

/* ---- sampler.c: when to sample ------------------------------------------------------- */

/* Sets a fresh countdown for the calling thread, after folding the bytes consumed so far
 * into bytes_base. Called from the slow path after every sampling decision. */
void lw__sampler_reset(lw_thread_state_t *t);
/* The slow path's decision for an allocation of `size` bytes whose countdown ran out (the
 * allocation hooks of both platforms call it): starts the agent if needed, registers a new
 * thread. True when the allocation is to be recorded; call lw__sampler_reset after. */
bool lw__sampler_should_record(lw_thread_state_t *t, size_t size);

/* ---- stack_table.c: deduplicated call stacks ------------------------------------------ */

enum { LW_MAX_DEPTH = 128, LW_STACK_OVERFLOW_ID = 0 };

/* What a stack has allocated since the start, in 1/256 units ("fixed point") so that
 * weights of sampled allocations (1 / probability of being sampled, docs/INTERNALS.md) sum
 * exactly. Every sample adds to these with relaxed atomic adds. What the stack holds now
 * is not kept here: the live table is the one record of that, and
 * lw__stack_counters_read sums it when a reader asks, so frees update no counter. */
typedef struct lw_stack_allocated {
  uint64_t samples;
  uint64_t objects_fp; /* not kept in exact mode, where objects = samples */
  uint64_t bytes_fp;
} lw_stack_allocated_t;

/* A stack's counters as readers see them (lw__stack_counters_read): allocated, and in
 * use now. */
typedef struct lw_stack_counters {
  uint64_t alloc_samples;
  uint64_t alloc_objects_fp;
  uint64_t alloc_bytes_fp;
  uint64_t inuse_samples;
  uint64_t inuse_objects_fp;
  uint64_t inuse_bytes_fp;
} lw_stack_counters_t;

typedef struct lw_stack {
  uint64_t hash;
  uint32_t id;
  uint32_t epoch;     /* mappings epoch the frames belong to (mappings.c) */
  uint16_t depth;
  uint8_t truncated;
  uint8_t reserved;
  lw_stack_allocated_t allocated;
  uint64_t frames[];  /* call sites (return address - 1), innermost first */
} lw_stack_t;

int lw__stacks_init(uint64_t max_stacks);
/* Returns the id of the stack (inserting it), or LW_STACK_OVERFLOW_ID when the table is
 * full; lock-free when the stack is already known. */
uint32_t lw__stacks_intern(const uint64_t *frames, int depth, bool truncated, uint32_t epoch);
lw_stack_t *lw__stacks_get(uint32_t id);
/* Number of ids handed out so far (ids are 0..count-1; 0 is the overflow stack). */
uint32_t lw__stacks_count(void);
uint64_t lw__stacks_dropped(void);
void lw__stacks_prefork(void);
void lw__stacks_postfork_parent(void);
void lw__stacks_postfork_child(void);

/* ---- live_table.c: sampled allocations still live, and the free() filter -------------- */

typedef struct lw_live_entry {
  uint64_t address;
  uint64_t size;
  uint64_t time_ms;   /* allocation time, ms since the agent started */
  uint32_t stack_id;
  uint32_t next;      /* chain within a bucket; 0 ends it */
} lw_live_entry_t;

/* One byte per 2 KiB window of address space (aliased every 4 GiB): nonzero when a
 * sampled allocation may start there. free() reads it without a lock to rule out "not
 * sampled" (docs/INTERNALS.md). The index is the low 32 bits of the address shifted right,
 * which needs no mask: one instruction fewer on every free than a wider index would. The
 * window's size sets the filter's: 2 MiB of static memory, which counts against an
 * address-space limit in every process the agent is loaded into (512-byte windows took 8). */
enum { LW_FILTER_SHIFT = 11, LW_FILTER_BITS = 32 - LW_FILTER_SHIFT };
extern uint8_t lw__free_filter[1u << LW_FILTER_BITS] LW_HIDDEN;
static inline uint8_t *lw__filter_slot(const void *p) {
  return &lw__free_filter[(uint32_t)(uintptr_t)p >> LW_FILTER_SHIFT];
}

int lw__live_init(uint64_t max_live);
/* Records a sampled allocation; returns false when the table is full (counted as a drop). */
bool lw__live_insert(uint64_t address, uint64_t size, uint32_t stack_id, uint64_t time_ms);
/* Removes the entry for address into *removed; false when address was not sampled.
 * `blocking` = false uses trylock (a signal handler may have interrupted this thread while
 * it held the lock); then *busy is set if the lock was taken. */
bool lw__live_remove(uint64_t address, lw_live_entry_t *removed, bool blocking, bool *busy);
/* Calls fn for every live entry, one stripe at a time under that stripe's lock. */
void lw__live_for_each(void (*fn)(const lw_live_entry_t *entry, void *context), void *context);
uint64_t lw__live_count(void);
uint64_t lw__live_dropped(void);
void lw__live_prefork(void);
void lw__live_postfork_parent(void);
void lw__live_postfork_child(void);

/* ---- record.c: what a sampled allocation or a free of one does ------------------------ */

/* Unwinds, interns the stack, inserts into the live table, updates counters. */
void lw__record_alloc(void *address, size_t size);
/* The calling code's stack (the agent's own frames skipped), interned. */
uint32_t lw__record_current_stack(void);
/* Interns the frames lw__unwind_here just returned on this thread; a repeat of a recent walk
 * reuses its stack id without hashing the frames. */
uint32_t lw__record_intern_walk(const uint64_t *frames, int depth, bool truncated);
/* Removes a sampled allocation from the live table; returns true if it was one. */
bool lw__record_free(void *address);
/* Same without waiting for a table lock (from a signal handler that may have interrupted
 * this thread inside the table): *busy says the lock was taken and nothing was done. */
bool lw__record_free_nonblocking(void *address, bool *busy);
/* The weight of one sample of `size` bytes: objects and bytes it stands for, x 256. */
void lw__record_weights(uint64_t size, uint64_t *objects_fp, uint64_t *bytes_fp);
/* Adds a thread's pending allocation counters to their stack (the thread's own state, or
 * one that cannot run: exited, or left behind by fork). */
void lw__record_flush_pending(lw_thread_state_t *thread);
/* Totals of the estimated counters (sum over stacks), for lw_stats. */
typedef struct lw_estimate_totals {
  uint64_t inuse_bytes;
  uint64_t inuse_objects;
  uint64_t alloc_bytes;
  uint64_t samples_total;
  uint64_t stacks_truncated;
} lw_estimate_totals_t;
void lw__record_totals(lw_estimate_totals_t *out);
/* A stack's estimated objects (allocated, or in use), from whichever counters the mode
 * keeps: in exact mode objects are samples. */
uint64_t lw__stack_objects(const lw_stack_counters_t *counters, bool inuse);
/* Every stack's counters now, for ids [0, *count): allocation counters from the stack
 * table, in-use ones summed over the live table. NULL when memory cannot be mapped; free
 * with lw__stack_counters_free. */
lw_stack_counters_t *lw__stack_counters_read(uint32_t *count);
/* The same into out[0, count), which the caller provides. */
void lw__stack_counters_fill(lw_stack_counters_t *out, uint32_t count);
void lw__stack_counters_free(lw_stack_counters_t *counters, uint32_t count);
/* A window's starting counters (lw__stack_counters_fill) in reply memory, counted in
 * lw__reply_held. 0, -EBUSY when the replies' budget has no room for it, -ENOMEM. Linux. */
int lw__window_snapshot_take(lw_stack_counters_t **out, uint32_t *count);
void lw__window_snapshot_release(lw_stack_counters_t *counters, uint32_t count);
uint64_t lw__now_ms(void);

/* ---- mappings.c: which object each code address belongs to --------------------------- */

typedef struct lw_object_mapping {
  uint64_t start;
  uint64_t limit;
  uint64_t file_offset;
  uint32_t unload_epoch;  /* UINT32_MAX while loaded */
  char path[512];
  char build_id[81];      /* hex */
} lw_object_mapping_t;

/* Current epoch: bumped each time dlclose unloads an object. Stacks carry the epoch they
 * were captured in, so their addresses are attributed to the objects loaded at the time. */
uint32_t lw__mappings_epoch(void);
/* Called around the real dlclose: remembers the object's executable mappings (they are
 * gone afterwards) and, if it was unloaded, retires them and bumps the epoch. */
void lw__mappings_before_dlclose(void *handle);
void lw__mappings_after_dlclose(void);
/* Fills *out with the executable mappings: retired ones first, then the current
 * /proc/self/maps. `out` is allocated with the scratch allocator. */
int lw__mappings_collect(lw_object_mapping_t **out, size_t *count);
/* The mapping holding address for a stack of `epoch` (see mappings.c), or NULL. */
const lw_object_mapping_t *lw__mappings_find(const lw_object_mapping_t *mappings, size_t count,
                                             uint64_t address, uint32_t epoch);
void lw__mappings_init(void);
void lw__mappings_prefork(void);
void lw__mappings_postfork_parent(void);
void lw__mappings_postfork_child(void);

/* ---- elf_symbols.c: function names from ELF symbol tables ----------------------------- */

typedef struct lw_elf_symbols lw_elf_symbols_t;
/* Opens path and indexes its function symbols (.symtab, else .dynsym), checking that its
 * build ID matches (when given). NULL when the file cannot be used. Scratch memory. */
lw_elf_symbols_t *lw__elf_symbols_open(const char *path, const char *build_id);
/* The symbol covering a runtime address in a mapping (start/file_offset as in maps), or
 * NULL. */
const char *lw__elf_symbols_lookup(lw_elf_symbols_t *symbols, const lw_object_mapping_t *mapping,
                                   uint64_t address);
void lw__elf_symbols_close(lw_elf_symbols_t *symbols);

/* ---- profile_export.c: tables -> pprof ------------------------------------------------- */

/* ---- reachability.c: what is lost at exit (exact mode) ----------------------------------- */

enum { LW_DEFINITELY_LOST = 0, LW_INDIRECTLY_LOST = 1, LW_STILL_REACHABLE = 2, LW_REACH_KINDS = 3 };
typedef struct lw_reach_counts {
  uint64_t objects[LW_REACH_KINDS];
  uint64_t bytes[LW_REACH_KINDS];
} lw_reach_counts_t;
/* Classifies every live allocation (needs LEAKWATCH_RATE=1 and no dropped samples) and
 * returns counts per stack id. Returns 0, or -1 when it cannot. */
int lw__reachability_compute(lw_reach_counts_t **counts, uint32_t *count);
void lw__reachability_free(lw_reach_counts_t *counts, uint32_t count);

typedef enum { LW_EXPORT_HEAP = 0, LW_EXPORT_FDS, LW_EXPORT_THREADS } lw_export_kind_t;

/* What to export besides the plain heap profile (all fields zero = the plain profile). */
typedef struct lw_export_options {
  lw_export_kind_t kind; /* heap; live descriptors by creating stack; live threads likewise */
  /* Counters at the start of a window, indexed by stack id (lw__stack_counters_read): the
   * profile's allocation values become what was allocated since. */
  const lw_stack_counters_t *base;
  uint32_t base_count;
  /* Go's delta profile (/debug/pprof/heap?seconds=N): in-use values are differences too,
   * and may be negative. */
  bool subtract_inuse;
  /* In-use values count only live allocations made at or after since_ms (lw__now_ms
   * clock): "allocated during the window and still live at its end". */
  bool inuse_since;
  uint64_t since_ms;
  int64_t duration_nanos;
  bool alloc_default; /* default_sample_type = alloc_space, as Go's /debug/pprof/allocs */
  /* Split each stack's in-use values by reachability (a "reachability" label). */
  const lw_reach_counts_t *reach;
  uint32_t reach_count;
} lw_export_options_t;

/* Builds the heap profile and writes it atomically to path. Returns 0 or a negative errno. */
int lw__export_profile(const char *path);
int lw__export_profile_with(const char *path, const lw_export_options_t *options);
/* Serializes a heap profile (gzipped) into *out, allocated with `allocator`. options may
 * be NULL. Returns 0 or a negative errno. */
int lw__export_profile_bytes(const lw_export_options_t *options, const lw_allocator_t *allocator,
                             uint8_t **out, size_t *len);
/* The same profile in Go's legacy text form (debug=1): "heap profile: ..." lines with raw
 * return addresses, "#" lines naming them, the maps, and the agent's counters. */
int lw__export_profile_text(const lw_export_options_t *options, lw_buf_t *out);
/* Function names for code addresses of this process (pprof's symbol protocol): calls
 * found(address, name, context) for each address that resolves. */
int lw__export_symbolize(const uint64_t *addresses, size_t n,
                         void (*found)(uint64_t address, const char *name, void *context),
                         void *context);
/* An allocator whose blocks survive the export's scratch memory: for reply bodies. */
extern const lw_allocator_t lw__output_allocator;
void lw__export_prefork(void);
void lw__export_postfork_parent(void);
void lw__export_postfork_child(void);
/* Looks __cxa_demangle up (start-up: a failed lookup allocates). lw__demangler_exit: the
 * exit's exports use what was found, no lookup; none are demangled after exit() from a
 * signal handler (__cxa_demangle allocates). */
void lw__demangler_resolve(void);
void lw__demangler_exit(bool from_signal_handler);

/* ---- exit_from_handler.c: what a signal handler that calls exit() interrupted ---------- */

typedef enum {
  LW_EXIT_PLAIN,                /* not from a signal handler, as far as can be seen */
  LW_EXIT_FROM_HANDLER,         /* a signal frame is on the stack */
  LW_EXIT_INTERRUPTED_ALLOCATOR /* ... and below it, code of the real allocator */
} lw_exit_context_t;
/* Notes where the real allocator's code lies (start-up, once lw__real is resolved). */
void lw__allocator_code_init(void);
/* Looks at the calling thread's stack. Allocates nothing, takes no lock. */
lw_exit_context_t lw__exit_context(void);

/* ---- init.c: start, fork, exit --------------------------------------------------------- */

typedef enum { LW_AGENT_OFF = 0, LW_AGENT_INITIALIZING, LW_AGENT_READY, LW_AGENT_FAILED } lw_agent_state_t;
extern volatile int lw__agent_state;
/* Makes the agent ready (options, tables, unwinder); safe to call from the very first malloc
 * of the process. Returns true if sampling can proceed. */
bool lw__agent_ensure_ready(void);
/* Stops sampling for good after an internal failure; says so once on stderr. */
void lw__agent_fail(const char *why);
extern uint64_t lw__profiles_written;
/* What exit writes (profile, sidecars, history), at most once per process: from the
 * destructor, or from a fatal signal's handler before the process dies of it. Writes
 * nothing, and says so naming `occasion` ("exit", "SIGTERM"), when the calling thread was
 * interrupted inside the agent or the allocator. Keeps errno. */
void lw__exit_outputs_write(const char *occasion);
/* Where this process writes its exit profile ("" = nowhere); snapshots go beside it. */
const char *lw__exit_output_path(void);
/* What the constructor does once the agent is ready (register this thread, fork handlers,
 * exit profile's name); attach.c calls it instead, as libleakwatch-attach.so's constructor
 * does nothing. False when the agent is not ready. */
bool lw__agent_begin(void);
/* CLOCK_REALTIME nanoseconds of the attach that started this agent (attach.c); 0 when it
 * was preloaded. Stats, profiles and verdicts then say "since attach at <time>". */
extern uint64_t lw__attached_at_ns;
/* "since attach at 2026-12-07 23:40:01 UTC", or "" when the agent was preloaded. */
void lw__attach_note(char *out, size_t size);

/* ---- real.c: where the next definition of an interposed function is found ---------------- */

/* Preloaded, the next object after the agent (dlsym(RTLD_NEXT)). Attached, the program's own
 * definition (its global scope), never the agent's: libleakwatch-attach.so is not before
 * anything there. NULL when nothing defines `name`. */
void *lw__real_lookup(const char *name);

/* ---- options.c: the attach's options ----------------------------------------------------- */

/* When set (attach.c), lw__options_load reads these "LEAKWATCH_NAME=VALUE" strings (NULL
 * ended) instead of the environment, which the running program's owner did not set for us. */
extern char **lw__options_source;
/* Puts every option back to its default (before a second attach reads its own). */
void lw__options_reset(void);

/* ---- fd_table.c: creating stacks of live file descriptors ------------------------------- */

/* Kinds are src/common/procfs.h's lw_fd_type_t (the same names the watcher shows). */
void lw__fd_init(void);
bool lw__fd_tracking(void);
/* True when a descriptor created now by the calling thread should be recorded: tracking is
 * on, fd fits the table, and the agent itself is not the one creating it. Counts the ones
 * that do not fit. */
bool lw__fd_wanted(int fd);
/* Records fds[0..count) (-1 entries skipped) as created at the given stack (the program's
 * frames, innermost first) with their kind. The caller unwinds, inside the guard: the
 * wrappers do it in their own frame so that no agent frame has to be walked. */
void lw__fd_record(const int *fds, int count, int kind, const uint64_t *frames, int depth,
                   bool truncated);
/* The kind `fd` was recorded with (LW_FD_OTHER when it is not tracked). */
int lw__fd_kind(int fd);
/* Forgets fd; call before the real close. */
void lw__fd_closing(int fd);
void lw__fd_closing_range(unsigned first, unsigned last);
uint64_t lw__fd_live_count(void);
/* Calls fn for each tracked descriptor; returns how many. Lock-free. */
size_t lw__fd_for_each(void (*fn)(int fd, uint32_t stack_id, int kind, void *context),
                       void *context);

/* ---- fatal_signal.c: a profile before a signal ends the process ------------------------ */

/* Installs the agent's handler for the watched signals whose action is the default, when
 * there is something to write (constructor). */
void lw__fatal_signals_install(bool have_outputs);
/* sigaction and the signal() family as the program sees them (interpose_signal.c). */
struct sigaction;
int lw__fatal_signal_sigaction(int sig, const struct sigaction *action, struct sigaction *old);
typedef void (*lw_signal_handler_t)(int);
lw_signal_handler_t lw__fatal_signal_set_handler(int sig, lw_signal_handler_t handler,
                                                 lw_signal_handler_t (*set)(int,
                                                                            lw_signal_handler_t));

/* ---- snapshot.c: LEAKWATCH_SNAPSHOT_AT, profiles as memory rises --------------------- */

/* True when levels are set and can be watched (parses them once, says why not). */
bool lw__snapshot_wanted(void);
/* From the agent thread's loop: writes <output>.snapshot-<n> when a level is crossed. */
void lw__snapshot_check(uint64_t now_ms);
/* When the next check is due (the agent thread's clock), 0 when there is nothing to watch. */
uint64_t lw__snapshot_next_ms(void);

/* ---- history.c: per-site history of live bytes, for leak verdicts --------------------- */

/* One snapshot of every site (from the agent thread, every history interval). */
void lw__history_snapshot(void);
/* The history as text (docs/CONTROL.md), with live samples older than old_after_seconds
 * counted per site. Agent thread (or after it stopped). */
int lw__history_write(lw_buf_t *out, uint64_t old_after_seconds);
void lw__history_write_file(const char *path);
/* Exit began now, unless marked earlier (the atexit marker, a fatal signal); the history
 * then says when (exit_began_ms), and `run --leaks` judges the points before it. Any
 * thread, async-signal-safe. */
void lw__history_mark_exit(void);
/* The exit point: marks exit, then takes the last snapshot (exit writer only). */
void lw__history_exit_point(void);
/* In a fork child: the history's lock had no holder there (a parent's snapshot may have
 * been under way); the arrays stay usable (grow_array's order). */
void lw__history_postfork_child(void);

/* ---- agent_thread.c: control socket, HTTP endpoint, periodic stats line ----------------- */

/* Starts the agent thread if any of its jobs is configured (from the constructor). */
void lw__agent_thread_start(void);
/* In a fork child: starts the child's own thread once (cheap check, from slow paths). */
void lw__agent_thread_maybe_start(void);
/* At exit: stops the thread (waits up to 2 s) and removes the control socket. */
void lw__agent_thread_stop(void);
void lw__agent_thread_postfork_child(void);

/* ---- allocator_stats.c, allocator_release.c, soft_limit.c: the allocator behind ---------- */

typedef enum {
  LW_ALLOCATOR_UNKNOWN = 0,
  LW_ALLOCATOR_GLIBC,
  LW_ALLOCATOR_JEMALLOC,
  LW_ALLOCATOR_TCMALLOC,
} lw_allocator_kind_t;

/* Which allocator serves lw__real.malloc (found once, with dladdr/dlsym). */
lw_allocator_kind_t lw__allocator_kind(void);
const char *lw__allocator_name(lw_allocator_kind_t kind);
/* The `allocator` control reply: name, file, that allocator's own figures, soft limit.
 * Agent thread only (glibc's malloc_info, jemalloc's mallctl). */
void lw__allocator_write_json(lw_buf_t *json);

typedef struct lw_allocator_release {
  lw_allocator_kind_t kind;
  char method[64];          /* "malloc_trim(0)", "mallctl(\"arena.4096.purge\")", ... */
  bool released;            /* what the call said (malloc_trim: some memory was returned) */
  uint64_t rss_before_bytes, rss_after_bytes;
  uint64_t duration_ns;     /* time inside the allocator's call */
} lw_allocator_release_t;

/* Returns the allocator's free memory to the system its own way; 0, or -1 when the
 * allocator behind is unknown or refused (out->method says what was tried). */
int lw__allocator_release(lw_allocator_release_t *out);
/* Resident bytes now (/proc/self/statm), 0 when unreadable. */
uint64_t lw__resident_bytes(void);
/* LEAKWATCH_SOFT_LIMIT: from the agent thread's loop; cheap when off or not due. */
void lw__soft_limit_check(uint64_t now_ms);
/* The soft limit's settings and what it returned so far, as JSON ("null" when off). */
void lw__soft_limit_write_json(lw_buf_t *json);

/* Reentrancy guard: agent code sets it so that allocations it causes (inside libc, dlsym,
 * ...) are passed through unsampled. */
static inline void lw__guard_enter(lw_thread_state_t *t) { t->guard++; }
static inline void lw__guard_exit(lw_thread_state_t *t) { t->guard--; }

/* Frees that arrived while this thread was inside agent code holding a table lock (a signal
 * handler that frees) are deferred; they are done when its guard drops (interpose.c). */
void lw__flush_deferred_frees(lw_thread_state_t *t);
static inline void lw__leave_agent(lw_thread_state_t *t) {
  lw__guard_exit(t);
  if (LW_UNLIKELY(t->n_deferred) && t->guard == 0)
    lw__flush_deferred_frees(t);
}

#endif
