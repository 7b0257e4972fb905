/*
 * stack_table.c - every distinct call stack, stored once, with its sample counters.
 *
 * Lookups are lock-free: the hash index is an open-addressed array of stack ids published
 * with release stores, and a stack's frames never change once published. Inserts take
 * insert_lock. When the index gets half full it is rebuilt at twice the size and the new
 * one published; the old one stays mapped (a reader may still be probing it), which costs at
 * most as much again as the live index. The table is bounded by LEAKWATCH_MAX_STACKS: past
 * it, samples are charged to stack id 0, "(stack table full)", and counted as drops.
 *
 * Memory is mapped as the table fills, never reserved ahead (address space counts against
 * the program's limits, arena.c): stack records are bump-allocated from chunks mapped one
 * at a time (64 KiB, doubling to 2 MiB), so a record never moves; the id -> stack directory
 * doubles like the index, old copies staying mapped for readers still holding them. When
 * memory for them cannot be mapped (the kernel refuses, or the agent's budget is spent) the
 * agent stops sampling, as on any failure to get memory (docs/INTERNALS.md, the rules).
 */
#include <string.h>

#include "agent/agent.h"

typedef struct stack_index {
  uint64_t mask;      /* slots - 1 */
  uint32_t slots[];   /* stack id, 0 = empty (id 0 is never indexed) */
} stack_index_t;

enum { FIRST_CHUNK = 64 * 1024, LAST_CHUNK = 2 * 1024 * 1024, FIRST_DIRECTORY = 1024 };

static struct {
  pthread_mutex_t insert_lock;
  stack_index_t *index;
  lw_stack_t **directory; /* published with release, like the index */
  uint64_t directory_slots;
  uint32_t count;      /* ids handed out; read with acquire */
  uint64_t max;
  char *chunk;         /* where records are bumped from */
  size_t chunk_used;
  size_t chunk_size;
  size_t storage_mapped;   /* all chunks together, at most storage_capacity */
  size_t storage_capacity;
  uint64_t dropped;
} table = {.insert_lock = PTHREAD_MUTEX_INITIALIZER};

static uint64_t hash_frames(const uint64_t *frames, int depth, uint32_t epoch) {
  uint64_t h = 0x9E3779B97F4A7C15ULL ^ ((uint64_t)depth << 32) ^ epoch;
  for (int i = 0; i < depth; i++) {
    h ^= frames[i];
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 31;
  }
  return h ? h : 1;
}

static stack_index_t *index_create(uint64_t slots) {
  stack_index_t *index = lw__arena_map(sizeof(stack_index_t) + slots * sizeof(uint32_t));
  if (index)
    index->mask = slots - 1;
  return index;
}

/* Places id in the index; insert_lock held (or the index not yet published). */
static void index_put(stack_index_t *index, uint32_t id, uint64_t hash) {
  uint64_t slot = hash & index->mask;
  while (index->slots[slot])
    slot = (slot + 1) & index->mask;
  __atomic_store_n(&index->slots[slot], id, __ATOMIC_RELEASE);
}

static lw_stack_t *find(const stack_index_t *index, const uint64_t *frames, int depth,
                        uint32_t epoch, uint64_t hash, bool truncated) {
  uint64_t slot = hash & index->mask;
  for (;;) {
    uint32_t id = __atomic_load_n(&index->slots[slot], __ATOMIC_ACQUIRE);
    if (!id)
      return NULL;
    /* Loaded after the id: a directory published before the id was indexed holds it. */
    lw_stack_t *s = __atomic_load_n(&table.directory, __ATOMIC_ACQUIRE)[id];
    if (s->hash == hash && s->depth == depth && s->epoch == epoch &&
        s->truncated == truncated &&
        memcmp(s->frames, frames, (size_t)depth * sizeof frames[0]) == 0)
      return s;
    slot = (slot + 1) & index->mask;
  }
}

/* Maps the next storage chunk, big enough for `size`; insert_lock held. False when the
 * storage bound is reached (the table is full) or the mapping fails (sampling stops). The
 * rest of the old chunk is left unused. */
static bool next_chunk(size_t size) {
  size_t want = table.chunk_size ? table.chunk_size * 2 : FIRST_CHUNK;
  if (want > LAST_CHUNK)
    want = LAST_CHUNK;
  if (want < size)
    want = size;
  if (table.storage_mapped + want > table.storage_capacity) {
    want = (table.storage_capacity - table.storage_mapped) & ~(size_t)4095;
    if (want < size)
      return false;
  }
  char *chunk = lw__arena_map(want);
  if (!chunk) {
    lw__agent_fail("cannot map memory to grow the stack table");
    return false;
  }
  table.chunk = chunk;
  table.chunk_used = 0;
  table.chunk_size = want;
  table.storage_mapped += want;
  return true;
}

/* Carves a stack record out of the storage chunks; insert_lock held. */
static lw_stack_t *new_stack(int depth) {
  size_t size = (sizeof(lw_stack_t) + (size_t)depth * sizeof(uint64_t) + 15) & ~(size_t)15;
  if (table.chunk_used + size > table.chunk_size && !next_chunk(size))
    return NULL;
  lw_stack_t *s = (lw_stack_t *)(table.chunk + table.chunk_used);
  table.chunk_used += size;
  return s;
}

/* Makes room for id in the directory, doubling it when needed; insert_lock held. The old
 * copy stays mapped: a reader may have loaded it (its entries never change). */
static bool directory_room(uint32_t id) {
  if (id < table.directory_slots)
    return true;
  uint64_t slots = table.directory_slots ? table.directory_slots * 2 : FIRST_DIRECTORY;
  if (slots > table.max)
    slots = table.max;
  if (id >= slots)
    return false;
  lw_stack_t **bigger = lw__arena_map(slots * sizeof *bigger);
  if (!bigger) {
    lw__agent_fail("cannot map memory to grow the stack table");
    return false;
  }
  if (table.directory)
    memcpy(bigger, table.directory, table.directory_slots * sizeof *bigger);
  __atomic_store_n(&table.directory, bigger, __ATOMIC_RELEASE);
  table.directory_slots = slots;
  return true;
}

int lw__stacks_init(uint64_t max_stacks) {
  table.max = max_stacks;
  /* Room for the average stack at the default depth; deep stacks fill it sooner and the
   * table then reports "full" the same way. */
  table.storage_capacity = max_stacks * (sizeof(lw_stack_t) + 32 * sizeof(uint64_t));
  table.index = index_create(1024);
  if (!table.index || !directory_room(LW_STACK_OVERFLOW_ID))
    return -1;
  lw_stack_t *overflow = new_stack(0);
  if (!overflow)
    return -1;
  memset(overflow, 0, sizeof *overflow);
  overflow->truncated = 1;
  table.directory[LW_STACK_OVERFLOW_ID] = overflow;
  __atomic_store_n(&table.count, 1, __ATOMIC_RELEASE);
  return 0;
}

/* Doubles the index; insert_lock held. Failure stops sampling and keeps the old one
 * (probes get longer; at 3/4 full it takes no new stacks, lw__stacks_intern). */
static void grow_index(void) {
  stack_index_t *old = table.index;
  stack_index_t *bigger = index_create((old->mask + 1) * 2);
  if (!bigger) {
    lw__agent_fail("cannot map memory to grow the stack table");
    return;
  }
  for (uint32_t id = 1; id < table.count; id++)
    index_put(bigger, id, table.directory[id]->hash);
  __atomic_store_n(&table.index, bigger, __ATOMIC_RELEASE);
}

uint32_t lw__stacks_intern(const uint64_t *frames, int depth, bool truncated, uint32_t epoch) {
  uint64_t hash = hash_frames(frames, depth, epoch ^ (truncated ? 0x80000000u : 0));
  lw_stack_t *found = find(__atomic_load_n(&table.index, __ATOMIC_ACQUIRE), frames, depth,
                           epoch, hash, truncated);
  if (LW_LIKELY(found != NULL))
    return found->id;
  pthread_mutex_lock(&table.insert_lock);
  found = find(table.index, frames, depth, epoch, hash, truncated);
  uint32_t id = LW_STACK_OVERFLOW_ID;
  if (found) {
    id = found->id;
  } else if (table.count < table.max &&
             (uint64_t)table.count * 4 < (table.index->mask + 1) * 3) {
    /* (The load check matters only if the index could not grow: a full open-addressing
     * table would make probes endless.) */
    lw_stack_t *s = directory_room(table.count) ? new_stack(depth) : NULL;
    if (s) {
      memset(s, 0, sizeof *s);
      s->hash = hash;
      s->id = table.count;
      s->epoch = epoch;
      s->depth = (uint16_t)depth;
      s->truncated = truncated;
      memcpy(s->frames, frames, (size_t)depth * sizeof frames[0]);
      table.directory[s->id] = s;
      if ((uint64_t)(s->id + 1) * 2 > table.index->mask + 1)
        grow_index();
      index_put(table.index, s->id, hash);
      __atomic_store_n(&table.count, s->id + 1, __ATOMIC_RELEASE);
      id = s->id;
    }
  }
  /* (After a failure to map memory the agent has said it stopped: "full" would mislead.) */
  if (id == LW_STACK_OVERFLOW_ID &&
      __atomic_fetch_add(&table.dropped, 1, __ATOMIC_RELAXED) == 0 &&
      __atomic_load_n(&lw__agent_state, __ATOMIC_ACQUIRE) != LW_AGENT_FAILED)
    lw__log("stack table full (%u stacks stored; LEAKWATCH_MAX_STACKS=%llu, fewer when stacks "
            "are deep): samples with new stacks are counted under [stack table full]",
            table.count, (unsigned long long)table.max);
  pthread_mutex_unlock(&table.insert_lock);
  return id;
}

lw_stack_t *lw__stacks_get(uint32_t id) {
  return id < __atomic_load_n(&table.count, __ATOMIC_ACQUIRE)
             ? __atomic_load_n(&table.directory, __ATOMIC_ACQUIRE)[id]
             : NULL;
}

uint32_t lw__stacks_count(void) { return __atomic_load_n(&table.count, __ATOMIC_ACQUIRE); }

uint64_t lw__stacks_dropped(void) { return __atomic_load_n(&table.dropped, __ATOMIC_RELAXED); }

void lw__stacks_prefork(void) { pthread_mutex_lock(&table.insert_lock); }
void lw__stacks_postfork_parent(void) { pthread_mutex_unlock(&table.insert_lock); }
void lw__stacks_postfork_child(void) { pthread_mutex_init(&table.insert_lock, NULL); }
