/*
 * memory_windows.c - the agent's memory on Windows: lw__arena_* of ../agent.h (which the
 * shared tables call) and a scratch allocator for the exit profile.
 *
 * The tables reserve address space for their maximum size and grow into it, which on Linux
 * costs memory only as pages are touched (MAP_NORESERVE). Windows charges committed memory
 * against the commit limit and a job's memory limit whether touched or not, so reservations
 * here are MEM_RESERVE only, and a vectored exception handler commits a page when the agent
 * first touches it. The handler looks only at access violations inside the agent's own
 * reservations and passes everything else on.
 */
#include <windows.h>

#include "agent/windows/agent_windows.h"

enum { MAX_RESERVATIONS = 64 };
static struct {
  uintptr_t start, end;
} reservations[MAX_RESERVATIONS];
static volatile LONG n_reservations;
static volatile LONG64 used_bytes;
static void *handler;

static LONG CALLBACK commit_on_touch(EXCEPTION_POINTERS *info) {
  EXCEPTION_RECORD *r = info->ExceptionRecord;
  if (r->ExceptionCode != EXCEPTION_ACCESS_VIOLATION || r->NumberParameters < 2)
    return EXCEPTION_CONTINUE_SEARCH;
  uintptr_t address = (uintptr_t)r->ExceptionInformation[1];
  LONG n = n_reservations;
  for (LONG i = 0; i < n; i++)
    if (address >= reservations[i].start && address < reservations[i].end) {
      /* Commit 64 KiB at a time (the allocation granularity): fewer faults as tables fill. */
      uintptr_t page = address & ~(uintptr_t)0xffff;
      if (page < reservations[i].start)
        page = reservations[i].start;
      size_t size = 0x10000;
      if (page + size > reservations[i].end)
        size = reservations[i].end - page;
      if (VirtualAlloc((void *)page, size, MEM_COMMIT, PAGE_READWRITE))
        return EXCEPTION_CONTINUE_EXECUTION;
      return EXCEPTION_CONTINUE_SEARCH; /* out of commit: a real fault, as on Linux */
    }
  return EXCEPTION_CONTINUE_SEARCH;
}

bool lw__win_memory_init(void) {
  if (!handler)
    handler = AddVectoredExceptionHandler(1, commit_on_touch);
  return handler != NULL;
}

static size_t round_up(size_t size) { return (size + 0xffff) & ~(size_t)0xffff; }

void *lw__arena_reserve(size_t size) {
  size = round_up(size);
  LONG slot = InterlockedIncrement(&n_reservations) - 1;
  if (slot >= MAX_RESERVATIONS || !lw__win_memory_init()) {
    InterlockedDecrement(&n_reservations);
    return lw__arena_map(size); /* committed up front: correct, only costlier */
  }
  void *p = VirtualAlloc(NULL, size, MEM_RESERVE, PAGE_READWRITE);
  reservations[slot].start = (uintptr_t)p;
  reservations[slot].end = p ? (uintptr_t)p + size : 0;
  return p;
}

void lw__arena_note_used(size_t bytes) { InterlockedExchangeAdd64(&used_bytes, (LONG64)bytes); }

void *lw__arena_map(size_t size) {
  void *p = VirtualAlloc(NULL, round_up(size), MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
  if (p)
    lw__arena_note_used(round_up(size));
  return p;
}

void lw__arena_unmap(void *address, size_t size) {
  if (address && VirtualFree(address, 0, MEM_RELEASE))
    InterlockedExchangeAdd64(&used_bytes, -(LONG64)round_up(size));
}

uint64_t lw__arena_bytes(void) { return (uint64_t)used_bytes; }

/* ---- scratch: a private Win32 heap, destroyed after each export ---------------------- */

static HANDLE scratch_heap;

static HANDLE heap(void) {
  if (!scratch_heap)
    scratch_heap = HeapCreate(HEAP_NO_SERIALIZE, 0, 0);
  return scratch_heap;
}

static void *scratch_alloc(void *context, size_t size) {
  (void)context;
  return heap() ? HeapAlloc(scratch_heap, 0, size ? size : 1) : NULL;
}

static void *scratch_resize(void *context, void *block, size_t old_size, size_t new_size) {
  (void)context;
  (void)old_size;
  if (!block)
    return scratch_alloc(NULL, new_size);
  return HeapReAlloc(scratch_heap, 0, block, new_size ? new_size : 1);
}

static void scratch_release(void *context, void *block, size_t size) {
  (void)context;
  (void)size;
  if (scratch_heap && block)
    HeapFree(scratch_heap, 0, block);
}

const lw_allocator_t lw__win_scratch_allocator = {scratch_alloc, scratch_resize, scratch_release,
                                                  NULL};

void lw__win_scratch_reset(void) {
  if (scratch_heap)
    HeapDestroy(scratch_heap);
  scratch_heap = NULL;
}
