/*
 * arena.c - all memory the agent uses for itself comes from here, straight from mmap.
 *
 * The agent must never allocate through the malloc it tracks (it would recurse, distort the
 * profile and could deadlock inside the host's allocator). Tables reserve address space once
 * and touch pages as they grow, so their cost is what they hold. Every mapping goes through
 * map_pages(), which is also where tests inject failures (LEAKWATCH_FAULT_MMAP=N makes the
 * Nth call fail, LEAKWATCH_FAULT_MMAP_FROM=N that one and every later one) to prove the host
 * survives the agent running out of memory.
 */
#define _GNU_SOURCE /* mremap */
#include <string.h>
#include <sys/mman.h>

#include "agent/agent.h"

static uint64_t used_bytes;   /* touched table memory + plain mappings */
static uint64_t mmap_calls;

static size_t page_round(size_t size) { return (size + 4095) & ~(size_t)4095; }

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

static void *map_pages(size_t size, int extra_flags) {
  uint64_t call = __atomic_add_fetch(&mmap_calls, 1, __ATOMIC_RELAXED);
  if ((lw__options.fault_mmap || lw__options.fault_mmap_from) && fault_injected(call))
    return NULL;
  void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | extra_flags,
                 -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

void *lw__arena_reserve(size_t size) { return map_pages(page_round(size), MAP_NORESERVE); }

void lw__arena_note_used(size_t bytes) {
  __atomic_add_fetch(&used_bytes, bytes, __ATOMIC_RELAXED);
}

void *lw__arena_map(size_t size) {
  size = page_round(size);
  void *p = map_pages(size, 0);
  if (p)
    lw__arena_note_used(size);
  return p;
}

void lw__arena_unmap(void *address, size_t size) {
  if (!address)
    return;
  size = page_round(size);
  munmap(address, size);
  __atomic_sub_fetch(&used_bytes, size, __ATOMIC_RELAXED);
}

uint64_t lw__arena_bytes(void) { return __atomic_load_n(&used_bytes, __ATOMIC_RELAXED); }

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

/* Scratch pages come back zeroed in a fork child (MADV_WIPEONFORK, kept by mremap): fork
 * does not wait for an export on another thread (profile_export.c), and the child, where
 * that thread does not exist, sees its regions as empty ones (size 0, next NULL) instead of
 * a list caught half-linked, and inherits none of their memory. Older kernels refuse the
 * advice; the child then inherits the pages as before. */
static void *scratch_map(size_t size) {
  void *p = lw__arena_map(size);
  if (p)
    (void)madvise(p, size, MADV_WIPEONFORK);
  return p;
}

static void *scratch_alloc(void *context, size_t size) {
  (void)context;
  size = (size + 15) & ~(size_t)15;
  if (size >= LARGE_BLOCK) {
    size_t total = page_round(size + sizeof(scratch_region_t));
    scratch_region_t *r = scratch_map(total);
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
    chunk = scratch_map(CHUNK_SIZE);
    if (!chunk)
      return NULL;
    chunk->size = CHUNK_SIZE;
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
  lw__arena_unmap(r, r->size);
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
    size_t old_total = r->size; /* read before mremap: r may be unmapped afterwards */
    unlink_region(r);
    void *moved = mremap(r, old_total, total, MREMAP_MAYMOVE);
    if (moved == MAP_FAILED) {
      r->next = regions;
      regions = r;
      return NULL;
    }
    lw__arena_note_used(total - old_total);
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
    lw__arena_unmap(r, r->size);
  }
}
