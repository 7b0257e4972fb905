/*
 * fd_table.c - the creating stack of every live file descriptor (LEAKWATCH_TRACK_FDS=1).
 *
 * A table indexed by descriptor number (they are small integers): for each open descriptor
 * created after the agent started, the stack that created it and its kind. Set by the
 * wrappers in interpose_fd.c after the creating call succeeds; cleared *before* the real
 * close, so a descriptor number reused by another thread's open in between is never
 * cleared by mistake. Entries are single 64-bit words written with atomic stores, so
 * readers (profiles, history) need no lock.
 *
 * Bounded by the descriptor limit (at most 1,048,576 entries). The entries live in chunks
 * of 4096 descriptors (32 KiB), each mapped the first time a descriptor in its range is
 * recorded, so a process with a few hundred descriptors holds one chunk, not 8 MiB of
 * address space. Descriptors above the limit, or in a chunk that could not be mapped, are
 * not tracked (counted).
 */
#include <string.h>
#include <sys/resource.h>

#include "agent/agent.h"
#include "common/procfs.h"

enum { CHUNK_BITS = 12, CHUNK = 1 << CHUNK_BITS };

/* Each entry: (stack_id + 1) << 8 | kind; 0 = not tracked. A chunk pointer is set once, by
 * compare-and-swap, and never changes. */
static uint64_t **chunks;
static size_t capacity; /* descriptors the directory covers */
static uint64_t untracked;

bool lw__fd_tracking(void) { return __atomic_load_n(&chunks, __ATOMIC_ACQUIRE) != NULL; }

void lw__fd_init(void) {
  if (!lw__options.track_fds || chunks)
    return;
  struct rlimit limit;
  size_t want = 65536;
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_max != RLIM_INFINITY &&
      limit.rlim_max > want)
    want = limit.rlim_max;
  if (want > (1u << 20))
    want = 1u << 20;
  want = (want + CHUNK - 1) & ~(size_t)(CHUNK - 1);
  uint64_t **directory = lw__arena_map((want / CHUNK) * sizeof *directory);
  if (!directory) {
    lw__log("cannot map memory to track file descriptors; LEAKWATCH_TRACK_FDS is off");
    return;
  }
  capacity = want;
  __atomic_store_n(&chunks, directory, __ATOMIC_RELEASE);
}

/* The entry of fd, or NULL when its chunk is not mapped (nothing recorded there). */
static uint64_t *entry_of(uint64_t **directory, int fd) {
  uint64_t *chunk = __atomic_load_n(&directory[(size_t)fd >> CHUNK_BITS], __ATOMIC_ACQUIRE);
  return chunk ? &chunk[fd & (CHUNK - 1)] : NULL;
}

/* The entry of fd, mapping its chunk if it is the first descriptor there. */
static uint64_t *entry_for_recording(uint64_t **directory, int fd) {
  uint64_t **slot = &directory[(size_t)fd >> CHUNK_BITS];
  uint64_t *chunk = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
  if (!chunk) {
    uint64_t *fresh = lw__arena_map(CHUNK * sizeof *fresh);
    if (!fresh)
      return NULL;
    chunk = NULL;
    if (__atomic_compare_exchange_n(slot, &chunk, fresh, false, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE))
      chunk = fresh;
    else
      lw__arena_unmap(fresh, CHUNK * sizeof *fresh); /* another thread mapped it first */
  }
  return &chunk[fd & (CHUNK - 1)];
}

bool lw__fd_wanted(int fd) {
  if (!__atomic_load_n(&chunks, __ATOMIC_ACQUIRE) || fd < 0)
    return false;
  if ((size_t)fd >= capacity) {
    __atomic_add_fetch(&untracked, 1, __ATOMIC_RELAXED);
    return false;
  }
  /* The agent's own descriptors (sockets, /proc reads) are not the program's. */
  return !lw__thread.guard;
}

void lw__fd_record(const int *fds, int count, int kind, const uint64_t *frames, int depth,
                   bool truncated) {
  uint64_t **directory = __atomic_load_n(&chunks, __ATOMIC_ACQUIRE);
  if (!directory)
    return;
  uint32_t stack = lw__record_intern_walk(frames, depth, truncated);
  for (int i = 0; i < count; i++) {
    if (fds[i] < 0 || (size_t)fds[i] >= capacity)
      continue;
    uint64_t *entry = entry_for_recording(directory, fds[i]);
    if (entry)
      __atomic_store_n(entry, ((uint64_t)stack + 1) << 8 | (uint64_t)kind, __ATOMIC_RELEASE);
    else
      __atomic_add_fetch(&untracked, 1, __ATOMIC_RELAXED);
  }
}

int lw__fd_kind(int fd) {
  uint64_t **directory = __atomic_load_n(&chunks, __ATOMIC_ACQUIRE);
  if (!directory || fd < 0 || (size_t)fd >= capacity)
    return LW_FD_OTHER;
  uint64_t *e = entry_of(directory, fd);
  uint64_t entry = e ? __atomic_load_n(e, __ATOMIC_RELAXED) : 0;
  return entry ? (int)(entry & 0xff) : LW_FD_OTHER; /* untracked source: unknown */
}

void lw__fd_closing(int fd) {
  uint64_t **directory = __atomic_load_n(&chunks, __ATOMIC_ACQUIRE);
  if (!directory || fd < 0 || (size_t)fd >= capacity)
    return;
  uint64_t *e = entry_of(directory, fd);
  if (e)
    __atomic_store_n(e, 0, __ATOMIC_RELEASE);
}

void lw__fd_closing_range(unsigned first, unsigned last) {
  uint64_t **directory = __atomic_load_n(&chunks, __ATOMIC_ACQUIRE);
  if (!directory)
    return;
  for (size_t fd = first; fd <= last && fd < capacity; fd++) {
    uint64_t *e = entry_of(directory, (int)fd);
    if (!e) {
      fd |= CHUNK - 1; /* nothing recorded in this chunk: skip it */
      continue;
    }
    if (__atomic_load_n(e, __ATOMIC_RELAXED))
      __atomic_store_n(e, 0, __ATOMIC_RELEASE);
  }
}
static void count_one(int fd, uint32_t stack_id, int kind, void *context) {
  (void)fd;
  (void)stack_id;
  (void)kind;
  ++*(uint64_t *)context;
}

uint64_t lw__fd_live_count(void) {
  uint64_t n = 0;
  lw__fd_for_each(count_one, &n);
  return n;
}

size_t lw__fd_for_each(void (*fn)(int fd, uint32_t stack_id, int kind, void *context),
                       void *context) {
  uint64_t **directory = __atomic_load_n(&chunks, __ATOMIC_ACQUIRE);
  size_t n = 0;
  for (size_t c = 0; directory && c < capacity / CHUNK; c++) {
    const uint64_t *chunk = __atomic_load_n(&directory[c], __ATOMIC_ACQUIRE);
    for (size_t i = 0; chunk && i < CHUNK; i++) {
      uint64_t entry = __atomic_load_n(&chunk[i], __ATOMIC_RELAXED);
      if (!entry)
        continue;
      fn((int)(c * CHUNK + i), (uint32_t)((entry >> 8) - 1), (int)(entry & 0xff), context);
      n++;
    }
  }
  return n;
}

/* A fork child keeps its descriptors (they are inherited): the table stays valid. */
