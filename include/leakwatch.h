/*
 * leakwatch.h - the in-process API of libleakwatch.so.
 *
 * A program running with the agent preloaded (LD_PRELOAD=libleakwatch.so) can ask it for
 * counters or a heap profile at any moment. Programs that must also run without the agent
 * can look the functions up at run time: dlsym(RTLD_DEFAULT, "lw_write_profile").
 *
 * Everything here is safe to call from any thread. None of it is async-signal-safe.
 */
#ifndef LEAKWATCH_H
#define LEAKWATCH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LW_API __attribute__((visibility("default")))

/*
 * The counters, once each: X(name, description). Drives lw_stats_t, the agent's stats
 * output, /metrics and /debug/vars, so no counter can be missing from one of them.
 * "exact" counters count every call; "estimated" ones are scaled from samples
 * (docs/INTERNALS.md derives the estimator).
 */
#define LW_STATS_FIELDS(X)                                                                   \
  X(malloc_calls, "allocation calls (malloc, calloc, realloc, memalign family), exact")      \
  X(free_calls, "free calls with a non-NULL pointer, and reallocs that moved, exact")        \
  X(bytes_requested, "bytes requested by all allocation calls since start, exact")           \
  X(live_objects, "allocations not yet freed (malloc_calls - free_calls), exact")            \
  X(inuse_bytes_estimate, "bytes in live allocations, estimated from samples")               \
  X(inuse_objects_estimate, "live allocations, estimated from samples")                      \
  X(alloc_bytes_estimate, "bytes allocated since start, estimated from samples")             \
  X(samples_total, "allocations sampled since start")                                        \
  X(samples_live, "sampled allocations still live")                                          \
  X(stacks, "distinct call stacks stored")                                                   \
  X(stacks_truncated, "samples whose stack was cut at the depth limit or an unwind stop")   \
  X(dropped_samples, "samples lost because the live table was full or out of memory")        \
  X(dropped_stacks, "samples recorded without their stack because the stack table was full") \
  X(agent_memory_bytes, "memory the agent has mapped for its own tables")                    \
  X(sampling_rate, "mean bytes between samples (1 = every allocation)")                      \
  X(sampling_enabled, "1 while sampling, 0 after the agent stopped (see its stderr line)")   \
  X(threads_seen, "threads that have allocated since start")                                 \
  X(profiles_written, "heap profiles written (at exit, on demand, by the CLI)")               \
  X(threads_live, "threads running now that the agent has seen (created or allocating)")     \
  X(fds_live, "open file descriptors with a known creating stack (LEAKWATCH_TRACK_FDS=1)")   \
  X(attached_at_unix, "when leakwatch attach loaded the agent (Unix seconds); 0: preloaded")

#define LW_STATS_VERSION 1

typedef struct lw_stats {
  uint32_t size;    /* filled in by lw_stats(): bytes written */
  uint32_t version; /* LW_STATS_VERSION of the agent */
#define LW_STATS_MEMBER(name, description) uint64_t name;
  LW_STATS_FIELDS(LW_STATS_MEMBER)
#undef LW_STATS_MEMBER
} lw_stats_t;

/* Fills *stats (out_size = sizeof *stats; an older, smaller struct is filled as far as it
 * goes). Returns 0, or -1 if the agent is not active in this process. */
LW_API int lw_stats(lw_stats_t *stats, size_t out_size);

/* Writes the current heap profile (gzipped pprof, in-use and allocated since start) to
 * path, atomically (a temporary file renamed into place). Returns 0 or a negative errno. */
LW_API int lw_write_profile(const char *path);

#ifdef __cplusplus
}
#endif

#endif
