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
 * Bounded by the descriptor limit (at most 1,048,576 entries, 8 MiB of address space,
 * touched only where descriptors are). Descriptors above it are not tracked (counted).
 */
#include <string.h>
#include <sys/resource.h>

#include "agent/agent.h"
#include "common/procfs.h"

static uint64_t *table; /* (stack_id + 1) << 8 | kind; 0 = not tracked */
static size_t capacity;
static uint64_t untracked;

bool lw__fd_tracking(void) { return table != NULL; }

void lw__fd_init(void) {
  if (!lw__options.track_fds || table)
    return;
  struct rlimit limit;
  size_t want = 65536;
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_max != RLIM_INFINITY &&
      limit.rlim_max > want)
    want = limit.rlim_max;
  if (want > (1u << 20))
    want = 1u << 20;
  uint64_t *t = lw__arena_reserve(want * sizeof *t);
  if (!t) {
    lw__log("cannot map memory to track file descriptors; LEAKWATCH_TRACK_FDS is off");
    return;
  }
  capacity = want;
  __atomic_store_n(&table, t, __ATOMIC_RELEASE);
}

bool lw__fd_wanted(int fd) {
  if (!__atomic_load_n(&table, __ATOMIC_ACQUIRE) || fd < 0)
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
  uint64_t *t = __atomic_load_n(&table, __ATOMIC_ACQUIRE);
  if (!t)
    return;
  uint32_t stack = lw__record_intern_walk(frames, depth, truncated);
  for (int i = 0; i < count; i++)
    if (fds[i] >= 0 && (size_t)fds[i] < capacity)
      __atomic_store_n(&t[fds[i]], ((uint64_t)stack + 1) << 8 | (uint64_t)kind,
                       __ATOMIC_RELEASE);
}

int lw__fd_kind(int fd) {
  uint64_t *t = __atomic_load_n(&table, __ATOMIC_ACQUIRE);
  if (!t || fd < 0 || (size_t)fd >= capacity)
    return LW_FD_OTHER;
  uint64_t entry = __atomic_load_n(&t[fd], __ATOMIC_RELAXED);
  return entry ? (int)(entry & 0xff) : LW_FD_OTHER; /* untracked source: unknown */
}

void lw__fd_closing(int fd) {
  uint64_t *t = __atomic_load_n(&table, __ATOMIC_ACQUIRE);
  if (t && fd >= 0 && (size_t)fd < capacity)
    __atomic_store_n(&t[fd], 0, __ATOMIC_RELEASE);
}

void lw__fd_closing_range(unsigned first, unsigned last) {
  uint64_t *t = __atomic_load_n(&table, __ATOMIC_ACQUIRE);
  if (!t)
    return;
  for (size_t fd = first; fd <= last && fd < capacity; fd++)
    if (__atomic_load_n(&t[fd], __ATOMIC_RELAXED))
      __atomic_store_n(&t[fd], 0, __ATOMIC_RELEASE);
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
  uint64_t *t = __atomic_load_n(&table, __ATOMIC_ACQUIRE);
  size_t n = 0;
  for (size_t fd = 0; t && fd < capacity; fd++) {
    uint64_t entry = __atomic_load_n(&t[fd], __ATOMIC_RELAXED);
    if (!entry)
      continue;
    fn((int)fd, (uint32_t)((entry >> 8) - 1), (int)(entry & 0xff), context);
    n++;
  }
  return n;
}

/* A fork child keeps its descriptors (they are inherited): the table stays valid. */
