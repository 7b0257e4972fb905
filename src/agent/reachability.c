/*
 * reachability.c - at exit in exact mode, which live allocations can no longer be reached:
 * LeakSanitizer's three classes, by a conservative scan of the process's memory.
 *
 *   still reachable   a pointer to it (start or interior) is in a root or in a reachable block
 *   indirectly lost   not reachable, but pointed to by another unreachable block
 *   definitely lost   not reachable, and no unreachable block points to it either: the head
 *                     of what was dropped
 *
 * Roots: the writable segments of every loaded object except the agent's own (globals,
 * .bss, the loader's and libc's data), the exiting thread's stack from its stack pointer up,
 * the whole stack mapping of every other registered thread (they still run during exit;
 * stale words only make the scan more conservative), and the main thread's static TLS.
 * Every word of a root or a reachable block that points into a live block marks it.
 * Conservative means a stale or coincidental word can keep a lost block "reachable"; it
 * never makes a reachable block "lost".
 *
 * Needs every allocation recorded (LEAKWATCH_RATE=1) and no dropped samples. Runs in the
 * destructor, before the exit profile is written; its memory is mapped and returned here.
 */
#define _GNU_SOURCE
#include <link.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/maps_reader.h"

enum { UNVISITED = 0, REACHABLE = 1, INDIRECT = 2 };

typedef struct {
  uint64_t start;
  uint64_t end;
  uint32_t stack_id;
  uint32_t state;
} block_t;

typedef struct {
  block_t *blocks;
  size_t n, capacity;
  uint32_t *work; /* indexes of reachable blocks still to scan */
  size_t n_work;
  uintptr_t own_start, own_end; /* the agent's own object: not a root */
} scan_t;

static void collect_block(const lw_live_entry_t *e, void *context) {
  scan_t *s = context;
  if (s->n < s->capacity)
    s->blocks[s->n++] = (block_t){e->address, e->address + (e->size ? e->size : 1), e->stack_id,
                                  UNVISITED};
}

static void sift(block_t *a, size_t root, size_t n) {
  for (;;) {
    size_t child = 2 * root + 1;
    if (child >= n)
      return;
    if (child + 1 < n && a[child + 1].start > a[child].start)
      child++;
    if (a[root].start >= a[child].start)
      return;
    block_t t = a[root];
    a[root] = a[child];
    a[child] = t;
    root = child;
  }
}

static void sort_blocks(block_t *a, size_t n) { /* heapsort: no allocation, no recursion */
  for (size_t i = n / 2; i-- > 0;)
    sift(a, i, n);
  for (size_t end = n; end-- > 1;) {
    block_t t = a[0];
    a[0] = a[end];
    a[end] = t;
    sift(a, 0, end);
  }
}

/* The block containing address, or NULL. */
static block_t *find(const scan_t *s, uint64_t address) {
  if (!s->n || address < s->blocks[0].start)
    return NULL;
  size_t low = 0, high = s->n;
  while (low + 1 < high) {
    size_t mid = low + (high - low) / 2;
    if (s->blocks[mid].start <= address)
      low = mid;
    else
      high = mid;
  }
  return address < s->blocks[low].end ? &s->blocks[low] : NULL;
}

/* Marks every unvisited block that a word of [start, end) points into. */
static void scan_range(scan_t *s, uintptr_t start, uintptr_t end, uint32_t mark, block_t *self) {
  start = (start + 7) & ~(uintptr_t)7;
  for (uintptr_t p = start; p + 8 <= end; p += 8) {
    uint64_t word = *(const uint64_t *)p;
    block_t *b = find(s, word);
    if (!b || b == self || b->state == REACHABLE || b->state == mark)
      continue;
    b->state = mark;
    if (mark == REACHABLE)
      s->work[s->n_work++] = (uint32_t)(b - s->blocks);
  }
}

/* The same through the kernel, for memory another thread may unmap while we read it
 * (large blocks glibc serves with mmap, other threads' stacks): an unmapped range ends the
 * scan of that range instead of crashing the host. */
static void scan_range_checked(scan_t *s, uintptr_t start, uintptr_t end, uint32_t mark,
                               block_t *self) {
  static uint64_t chunk[8192]; /* 64 KiB; only the exiting thread runs this */
  start = (start + 7) & ~(uintptr_t)7;
  pid_t pid = getpid();
  while (start + 8 <= end) {
    size_t len = end - start < sizeof chunk ? (end - start) & ~(size_t)7 : sizeof chunk;
    struct iovec local = {chunk, len}, remote = {(void *)start, len};
    ssize_t got = process_vm_readv(pid, &local, 1, &remote, 1, 0);
    if (got <= 0)
      return;
    scan_range(s, (uintptr_t)chunk, (uintptr_t)chunk + ((size_t)got & ~(size_t)7), mark, self);
    start += (size_t)got;
  }
}

static void scan_block(scan_t *s, block_t *b, uint32_t mark) {
  if (b->end - b->start >= 64 * 1024)
    scan_range_checked(s, b->start, b->end, mark, b);
  else
    scan_range(s, b->start, b->end, mark, b);
}

static void drain(scan_t *s) {
  while (s->n_work) {
    block_t *b = &s->blocks[s->work[--s->n_work]];
    scan_block(s, b, REACHABLE);
  }
}

/* Roots 1: writable segments of loaded objects, and the static TLS size they need. */
typedef struct {
  scan_t *scan;
  size_t tls_bytes;
} objects_t;

static int scan_object(struct dl_phdr_info *info, size_t size, void *context) {
  (void)size;
  objects_t *o = context;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type == PT_TLS)
      o->tls_bytes += (ph->p_memsz + 63) & ~(size_t)63;
    if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_W))
      continue;
    uintptr_t start = info->dlpi_addr + ph->p_vaddr, end = start + ph->p_memsz;
    if (start < o->scan->own_end && end > o->scan->own_start)
      continue; /* the agent's own tables hold addresses of every live block */
    scan_range(o->scan, start, end, REACHABLE, NULL);
  }
  return 0;
}

static int find_own(struct dl_phdr_info *info, size_t size, void *context) {
  (void)size;
  scan_t *s = context;
  uintptr_t self = (uintptr_t)find_own;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    uintptr_t start = info->dlpi_addr + ph->p_vaddr;
    if (ph->p_type == PT_LOAD && self >= start && self < start + ph->p_memsz) {
      /* The whole object, from its lowest to its highest segment. */
      s->own_start = info->dlpi_addr;
      for (int j = 0; j < info->dlpi_phnum; j++)
        if (info->dlpi_phdr[j].p_type == PT_LOAD &&
            info->dlpi_addr + info->dlpi_phdr[j].p_vaddr + info->dlpi_phdr[j].p_memsz > s->own_end)
          s->own_end = info->dlpi_addr + info->dlpi_phdr[j].p_vaddr + info->dlpi_phdr[j].p_memsz;
      return 1;
    }
  }
  return 0;
}

/* Roots 2: a readable, writable mapping around an address (stacks, the TCB). */
typedef struct {
  uintptr_t address;
  uintptr_t start, end;
} mapping_of_t;

static bool mapping_containing(const lw_maps_line_t *line, void *context) {
  mapping_of_t *m = context;
  if (m->address >= line->start && m->address < line->end) {
    if (line->readable && line->writable) {
      m->start = line->start;
      m->end = line->end;
    }
    return false;
  }
  return true;
}

static bool writable_mapping(uintptr_t address, uintptr_t *start, uintptr_t *end) {
  mapping_of_t m = {address, 0, 0};
  lw__maps_for_each(mapping_containing, &m);
  *start = m.start;
  *end = m.end;
  return m.end > m.start;
}

static void scan_thread_stack(const lw_thread_state_t *t, void *context) {
  scan_t *s = context;
  uintptr_t start, end;
  if (t == &lw__thread || !t->stack_high || !writable_mapping(t->stack_high - 1, &start, &end))
    return;
  scan_range_checked(s, start, end, REACHABLE, NULL); /* it may exit and unmap meanwhile */
}

int lw__reachability_compute(lw_reach_counts_t **out, uint32_t *out_count) {
  *out = NULL;
  *out_count = 0;
  if (lw__options.rate > 1 || lw__live_dropped() > 0)
    return -1; /* needs every live allocation */
  scan_t s;
  memset(&s, 0, sizeof s);
  s.capacity = lw__live_count() + 1024; /* a few more may arrive while we collect */
  size_t blocks_bytes = s.capacity * sizeof(block_t), work_bytes = s.capacity * sizeof(uint32_t);
  s.blocks = lw__arena_map(blocks_bytes);
  s.work = lw__arena_map(work_bytes);
  uint32_t stacks = lw__stacks_count();
  lw_reach_counts_t *counts = lw__arena_map((stacks ? stacks : 1) * sizeof *counts);
  int result = -1;
  if (!s.blocks || !s.work || !counts)
    goto out;
  lw__live_for_each(collect_block, &s);
  sort_blocks(s.blocks, s.n);
  dl_iterate_phdr(find_own, &s);

  objects_t objects = {&s, 0};
  dl_iterate_phdr(scan_object, &objects);
  /* This thread's stack, from here up (what is below is dead frames). */
  uintptr_t sp = (uintptr_t)__builtin_frame_address(0), start, end;
  if (writable_mapping(sp, &start, &end))
    scan_range(&s, sp, end, REACHABLE, NULL);
  lw__thread_for_each(scan_thread_stack, &s);
  /* The main thread's static TLS lies just below its thread pointer (x86-64 variant II). */
  uintptr_t tp;
  __asm__("mov %%fs:0, %0" : "=r"(tp)); /* the thread pointer: the TCB's self pointer */
  if (writable_mapping(tp, &start, &end)) {
    uintptr_t low = tp - objects.tls_bytes - 2048 > start ? tp - objects.tls_bytes - 2048 : start;
    scan_range(&s, low, tp + 4096 < end ? tp + 4096 : end, REACHABLE, NULL);
  }
  drain(&s);
  /* Lost blocks pointed to by other lost blocks are indirectly lost. */
  for (size_t i = 0; i < s.n; i++)
    if (s.blocks[i].state != REACHABLE)
      scan_block(&s, &s.blocks[i], INDIRECT);
  memset(counts, 0, (stacks ? stacks : 1) * sizeof *counts);
  for (size_t i = 0; i < s.n; i++) {
    const block_t *b = &s.blocks[i];
    if (b->stack_id >= stacks)
      continue;
    int kind = b->state == REACHABLE ? LW_STILL_REACHABLE
               : b->state == INDIRECT ? LW_INDIRECTLY_LOST
                                      : LW_DEFINITELY_LOST;
    counts[b->stack_id].objects[kind]++;
    counts[b->stack_id].bytes[kind] += b->end - b->start;
  }
  *out = counts;
  *out_count = stacks;
  counts = NULL;
  result = 0;
out:
  lw__arena_unmap(s.blocks, blocks_bytes);
  lw__arena_unmap(s.work, work_bytes);
  if (counts)
    lw__arena_unmap(counts, (stacks ? stacks : 1) * sizeof *counts);
  return result;
}

void lw__reachability_free(lw_reach_counts_t *counts, uint32_t count) {
  lw__arena_unmap(counts, (count ? count : 1) * sizeof *counts);
}
