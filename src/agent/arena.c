/*
 * arena.c - all memory the agent uses for itself comes from here, straight from mmap.
 *
 * The agent must never allocate through the malloc it tracks (it would recurse, distort the
 * profile and could deadlock inside the host's allocator). Nothing is reserved ahead: address
 * space counts against the program's limits (RLIMIT_AS counts every mapping, RLIMIT_DATA
 * every private writable one, even untouched and MAP_NORESERVE), so tables map chunks as they
 * grow, and agent_memory_bytes is what the agent holds mapped.
 *
 * The budget: when the process has such a limit, the agent's mappings stay under 1/8 of what
 * the limit left when the agent started (read once, at its first mapping), so the program
 * keeps at least 7/8 of its room. Tables get 3/4 of the budget; memory held for clients
 * (replies waiting to be taken, profile windows waiting for their end) at most the other
 * quarter, and an export's short-lived scratch whatever the others leave. Each is counted
 * on its own, so what clients hold can never take the room the tables grow into (a table
 * that cannot grow stops sampling for good: a local client must not be able to steer
 * sampling off), and a profile can still be written once the tables stop growing.
 * A mapping past the budget fails like one the kernel refused: a table that cannot grow
 * stops sampling (said once, as any failure to get memory), an export says it could not
 * write its profile, a window or reply is refused, and the program runs on.
 *
 * Transient mappings are wiped in a fork child (MADV_WIPEONFORK) and listed in a small
 * static table that is not, so the child, where the threads that use them do not exist,
 * unmaps every one and stops counting them (lw__arena_postfork_child).
 *
 * Every mapping goes through map_pages(), which is also where tests inject failures
 * (LEAKWATCH_FAULT_MMAP=N makes the Nth call fail, LEAKWATCH_FAULT_MMAP_FROM=N that one and
 * every later one) to prove the host survives the agent running out of memory.
 */
#define _GNU_SOURCE /* mremap */
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/spinlock.h"
#include "common/procfs.h"
#include "common/text_scan.h"

static uint64_t mapped_bytes; /* every mapping the agent holds now */
static uint64_t mmap_calls;

/* What the budget is shared between, each counted on its own (and all in mapped_bytes). */
enum { SHARE_TABLES = 0, SHARE_HELD = 1, SHARE_SCRATCH = 2, SHARES = 3 };
static uint64_t share_bytes[SHARES];

enum { BUDGET_SHARE = 8 }; /* the agent's share of what the limits leave: 1/8 */
static struct {
  int state;            /* 0 not read yet, 1 being read, 2 read */
  uint64_t bytes;       /* UINT64_MAX: no limit */
  const char *limit;    /* which limit set it */
  bool reported[SHARES];
} budget = {0, UINT64_MAX, NULL, {false, false, false}};

static size_t page_round(size_t size) { return (size + 4095) & ~(size_t)4095; }

/* statm's first field (the whole address space) and sixth (data + stack), in bytes. */
static bool read_statm(uint64_t *size, uint64_t *data) {
  char text[160];
  ssize_t n = lw_proc_read_path("/proc/self/statm", text, sizeof text);
  if (n <= 0)
    return false;
  const char *p = text, *end = text + n;
  uint64_t fields[6];
  for (int i = 0; i < 6; i++) {
    p = lw_scan_u64(p, end, &fields[i]);
    if (!p)
      return false;
    if (p < end && *p == ' ')
      p++;
  }
  uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
  *size = fields[0] * page;
  *data = fields[5] * page;
  return true;
}

/* One limit's share: 1/8 of what is left under the soft limit (the one the kernel checks). */
static void consider_limit(int resource, const char *name, uint64_t in_use) {
  struct rlimit limit;
  if (getrlimit(resource, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY)
    return;
  uint64_t left = limit.rlim_cur > in_use ? limit.rlim_cur - in_use : 0;
  if (left / BUDGET_SHARE < budget.bytes) {
    budget.bytes = left / BUDGET_SHARE;
    budget.limit = name;
  }
}

/* Reads the limits once, at the agent's first mapping (agent start, under the init lock
 * or the agent thread; a racing caller just sees no budget yet). */
static void budget_init(void) {
  int expected = 0;
  if (!__atomic_compare_exchange_n(&budget.state, &expected, 1, false, __ATOMIC_ACQ_REL,
                                   __ATOMIC_RELAXED))
    return;
  uint64_t size = 0, data = 0;
  bool known = read_statm(&size, &data);
  consider_limit(RLIMIT_AS, "RLIMIT_AS", size);
  consider_limit(RLIMIT_DATA, "RLIMIT_DATA", data);
  if (!known && budget.bytes != UINT64_MAX)
    budget.bytes /= 2; /* what is in use is unknown: be more careful */
  __atomic_store_n(&budget.state, 2, __ATOMIC_RELEASE);
}

/* Whether mapping number `call` is one a test asked to fail. The first failure injected is
 * announced, so a test walking every point in turn knows when it has passed the last one. */
static bool fault_injected(uint64_t call) {
  static bool announced;
  bool fail = (lw__options.fault_mmap && call == lw__options.fault_mmap) ||
              (lw__options.fault_mmap_from && call >= lw__options.fault_mmap_from);
  if (fail && !__atomic_exchange_n(&announced, true, __ATOMIC_RELAXED))
    lw__log("LEAKWATCH_FAULT_MMAP: the agent's mapping number %llu fails (a test)",
            (unsigned long long)call);
  return fail;
}

/* The most a share may hold alone: 3/4 of the budget for the tables, the rest for what
 * clients hold, all of it for scratch (the whole budget bounds the sum besides). */
static uint64_t share_limit(int share) {
  if (budget.bytes == UINT64_MAX)
    return UINT64_MAX;
  uint64_t tables = budget.bytes / 4 * 3;
  return share == SHARE_TABLES ? tables : share == SHARE_HELD ? budget.bytes - tables
                                                              : budget.bytes;
}

/* Adds size to *counter unless that passes limit. */
static bool counter_take(uint64_t *counter, uint64_t size, uint64_t limit) {
  uint64_t now = __atomic_load_n(counter, __ATOMIC_RELAXED);
  do {
    if (now + size > limit || now + size < now)
      return false;
  } while (!__atomic_compare_exchange_n(counter, &now, now + size, true, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED));
  return true;
}

static void budget_refused(int share) {
  if (__atomic_exchange_n(&budget.reported[share], true, __ATOMIC_RELAXED))
    return;
  if (share == SHARE_HELD)
    lw__log("replies and profile windows waiting for their clients reached their share of the "
            "agent's memory budget (%llu KiB of %llu KiB: 1/%d of what %s left the program): "
            "more are refused until some are taken, and sampling goes on",
            (unsigned long long)share_limit(SHARE_HELD) / 1024,
            (unsigned long long)budget.bytes / 1024, BUDGET_SHARE, budget.limit);
  else
    lw__log("the agent's memory budget is reached (%llu KiB: 1/%d of what %s left the "
            "program)",
            (unsigned long long)budget.bytes / 1024, BUDGET_SHARE, budget.limit);
}

/* Takes `size` bytes of a share of the budget, and of the whole. */
static bool budget_take(uint64_t size, int share) {
  if (LW_UNLIKELY(__atomic_load_n(&budget.state, __ATOMIC_ACQUIRE) != 2))
    budget_init();
  uint64_t whole = budget.bytes;
  if (!counter_take(&share_bytes[share], size, share_limit(share))) {
    budget_refused(share);
    return false;
  }
  if (!counter_take(&mapped_bytes, size, whole)) {
    __atomic_sub_fetch(&share_bytes[share], size, __ATOMIC_RELAXED);
    budget_refused(share == SHARE_HELD ? SHARE_SCRATCH : share);
    return false;
  }
  return true;
}

static void budget_return(uint64_t size, int share) {
  __atomic_sub_fetch(&share_bytes[share], size, __ATOMIC_RELAXED);
  __atomic_sub_fetch(&mapped_bytes, size, __ATOMIC_RELAXED);
}

static void *map_pages(size_t size, int share) {
  uint64_t call = __atomic_add_fetch(&mmap_calls, 1, __ATOMIC_RELAXED);
  if ((lw__options.fault_mmap || lw__options.fault_mmap_from) && fault_injected(call))
    return NULL;
  if (!budget_take(size, share))
    return NULL;
  void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    budget_return(size, share);
    return NULL;
  }
  return p;
}

void *lw__arena_map(size_t size) { return map_pages(page_round(size), SHARE_TABLES); }

void lw__arena_unmap(void *address, size_t size) {
  if (!address)
    return;
  size = page_round(size);
  munmap(address, size);
  budget_return(size, SHARE_TABLES);
}

uint64_t lw__arena_bytes(void) { return __atomic_load_n(&mapped_bytes, __ATOMIC_RELAXED); }

uint64_t lw__arena_budget(void) {
  if (__atomic_load_n(&budget.state, __ATOMIC_ACQUIRE) != 2)
    budget_init();
  return budget.bytes;
}

/* ---- transient mappings ------------------------------------------------------------------
 * Memory that serves one request and goes: an export's scratch (below), replies and window
 * snapshots (profile_export.c's output allocator), files being written. Its pages are wiped
 * in a fork child (MADV_WIPEONFORK): fork does not wait for an export or a reply on another
 * thread, and the child, where that thread does not exist, must neither pay for their
 * memory nor see a list caught half-linked. Wiped, a region's own header says nothing, so
 * each mapping is also listed here, in static memory fork copies as it is: the child unmaps
 * every listed one. A slot is written size first and address last, and cleared before its
 * mapping goes, so the child never unmaps a range that is no longer the agent's (at worst,
 * a mapping made or dropped at the very moment of the fork is left to the child unlisted).
 * Older kernels refuse the advice: the child then inherits the pages until it unmaps them. */

enum { TRANSIENT_SLOTS = 1024 }; /* 256 MiB of scratch chunks; a mapping past it fails */

static struct {
  lw_spinlock_t lock; /* held for a scan of the slots, never across a system call */
  uint32_t used;      /* slots [0, used) have been used */
  struct {
    uintptr_t address; /* 0: free */
    size_t size;
  } slots[TRANSIENT_SLOTS];
} transient;

static bool transient_list(void *address, size_t size) {
  lw_spin_lock(&transient.lock);
  for (uint32_t i = 0; i < TRANSIENT_SLOTS; i++) {
    if (transient.slots[i].address)
      continue;
    transient.slots[i].size = size;
    __atomic_store_n(&transient.slots[i].address, (uintptr_t)address, __ATOMIC_RELEASE);
    if (i >= transient.used)
      transient.used = i + 1;
    lw_spin_unlock(&transient.lock);
    return true;
  }
  lw_spin_unlock(&transient.lock);
  return false;
}

static void transient_unlist(void *address) {
  lw_spin_lock(&transient.lock);
  for (uint32_t i = 0; i < transient.used; i++) {
    if (transient.slots[i].address == (uintptr_t)address) {
      __atomic_store_n(&transient.slots[i].address, 0, __ATOMIC_RELEASE);
      break;
    }
  }
  lw_spin_unlock(&transient.lock);
}

static void *map_transient(size_t size, int share) {
  size = page_round(size);
  void *p = map_pages(size, share);
  if (!p)
    return NULL;
  (void)madvise(p, size, MADV_WIPEONFORK);
  if (!transient_list(p, size)) {
    munmap(p, size);
    budget_return(size, share);
    return NULL;
  }
  return p;
}

static void unmap_transient(void *address, size_t size, int share) {
  if (!address)
    return;
  size = page_round(size);
  transient_unlist(address); /* first: a child forked from now on leaves it alone */
  munmap(address, size);
  budget_return(size, share);
}

void *lw__arena_map_held(size_t size) { return map_transient(size, SHARE_HELD); }
void lw__arena_unmap_held(void *address, size_t size) {
  unmap_transient(address, size, SHARE_HELD);
}

/* Grows a transient mapping in place or elsewhere (MREMAP_MAYMOVE keeps the wipe advice);
 * NULL, and the old mapping kept, when it cannot. */
static void *remap_scratch(void *address, size_t old_size, size_t new_size) {
  if (!budget_take(new_size - old_size, SHARE_SCRATCH))
    return NULL;
  transient_unlist(address); /* mremap may move it: never listed at an old address */
  void *moved = mremap(address, old_size, new_size, MREMAP_MAYMOVE);
  if (moved == MAP_FAILED) {
    budget_return(new_size - old_size, SHARE_SCRATCH);
    (void)transient_list(address, old_size); /* no slot: only a fork child would miss it */
    return NULL;
  }
  if (!transient_list(moved, new_size)) {
    munmap(moved, new_size);
    budget_return(new_size, SHARE_SCRATCH);
    return NULL;
  }
  return moved;
}

/* ---- scratch allocator ------------------------------------------------------------------
 * Small blocks come from 256 KiB chunks by bumping; large blocks get their own mapping and
 * grow with mremap. Nothing is reused until lw__scratch_release_all, which the one user at a
 * time (profile export, under its lock) calls when done. */

enum { CHUNK_SIZE = 256 * 1024, LARGE_BLOCK = 32 * 1024 };

typedef struct scratch_region {
  struct scratch_region *next;
  size_t size;     /* bytes mapped, including this header */
  size_t used;     /* chunks: bytes handed out, including this header */
  int large;
  int pad;
} scratch_region_t;

static scratch_region_t *regions;
static scratch_region_t *current_chunk; /* where small blocks are bumped from */

static void *scratch_alloc(void *context, size_t size) {
  (void)context;
  size = (size + 15) & ~(size_t)15;
  if (size >= LARGE_BLOCK) {
    size_t total = page_round(size + sizeof(scratch_region_t));
    scratch_region_t *r = map_transient(total, SHARE_SCRATCH);
    if (!r)
      return NULL;
    r->size = total;
    r->used = total;
    r->large = 1;
    r->next = regions;
    regions = r;
    return r + 1;
  }
  scratch_region_t *chunk = current_chunk;
  if (!chunk || chunk->size - chunk->used < size) {
    /* An eighth of what the export holds already, at least CHUNK_SIZE: chunks grow with
     * the export, so even one of several GiB takes under a hundred transient slots. */
    uint64_t grown = __atomic_load_n(&share_bytes[SHARE_SCRATCH], __ATOMIC_RELAXED) / 8;
    size_t chunk_size = grown > CHUNK_SIZE ? page_round((size_t)grown) : CHUNK_SIZE;
    chunk = map_transient(chunk_size, SHARE_SCRATCH);
    if (!chunk)
      return NULL;
    chunk->size = chunk_size;
    chunk->used = sizeof(scratch_region_t);
    chunk->large = 0;
    chunk->next = regions;
    regions = chunk;
    current_chunk = chunk;
  }
  void *p = (char *)chunk + chunk->used;
  chunk->used += size;
  return p;
}

static scratch_region_t *large_region_of(void *block) {
  return (scratch_region_t *)block - 1;
}

static void unlink_region(scratch_region_t *r) {
  for (scratch_region_t **link = &regions; *link; link = &(*link)->next) {
    if (*link == r) {
      *link = r->next;
      return;
    }
  }
}

static void scratch_release(void *context, void *block, size_t size) {
  (void)context;
  if (!block || ((size + 15) & ~(size_t)15) < LARGE_BLOCK)
    return; /* small blocks go back with their chunk */
  scratch_region_t *r = large_region_of(block);
  unlink_region(r);
  unmap_transient(r, r->size, SHARE_SCRATCH);
}

static void *scratch_resize(void *context, void *block, size_t old_size, size_t new_size) {
  if (!block)
    return scratch_alloc(context, new_size);
  size_t old_rounded = (old_size + 15) & ~(size_t)15;
  if (old_rounded >= LARGE_BLOCK) {
    scratch_region_t *r = large_region_of(block);
    size_t total = page_round(new_size + sizeof(scratch_region_t));
    if (total <= r->size)
      return block;
    unlink_region(r);
    scratch_region_t *moved = remap_scratch(r, r->size, total);
    if (!moved) {
      r->next = regions; /* still mapped, still the caller's */
      regions = r;
      return NULL;
    }
    r = moved;
    r->size = total;
    r->used = total;
    r->next = regions;
    regions = r;
    return r + 1;
  }
  void *grown = scratch_alloc(context, new_size);
  if (grown)
    memcpy(grown, block, old_size < new_size ? old_size : new_size);
  return grown;
}

const lw_allocator_t lw__scratch_allocator = {scratch_alloc, scratch_resize, scratch_release,
                                              NULL};

void lw__scratch_release_all(void) {
  current_chunk = NULL;
  while (regions) {
    scratch_region_t *r = regions;
    regions = r->next;
    unmap_transient(r, r->size, SHARE_SCRATCH);
  }
}

/* In a fork child: every transient mapping is its parent's (an export, a reply, a window on
 * a thread the child does not have). Unmapped, uncounted, and the scratch list emptied. */
void lw__arena_postfork_child(void) {
  lw_spin_reset(&transient.lock);
  for (uint32_t i = 0; i < transient.used && i < TRANSIENT_SLOTS; i++) {
    uintptr_t address = transient.slots[i].address;
    if (address)
      munmap((void *)address, transient.slots[i].size);
    transient.slots[i].address = 0;
  }
  transient.used = 0;
  for (int share = SHARE_HELD; share <= SHARE_SCRATCH; share++) {
    uint64_t bytes = __atomic_exchange_n(&share_bytes[share], 0, __ATOMIC_RELAXED);
    __atomic_sub_fetch(&mapped_bytes, bytes, __ATOMIC_RELAXED);
  }
  regions = NULL;
  current_chunk = NULL;
}
