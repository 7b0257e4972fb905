/*
 * live_table.c - the sampled allocations that are still live, and the free() filter.
 *
 * A hash table from address to (size, stack, time), split into 64 stripes by a hash of the
 * address so threads sampling at once rarely share a lock; there is no global lock. Each
 * stripe's bucket array grows under that stripe's lock. Entries come from one pool (bounded
 * by LEAKWATCH_MAX_LIVE) and are recycled through per-stripe free lists; when the pool is
 * exhausted the sample is dropped and counted. The pool is a directory of chunks of 4096
 * entries (128 KiB) mapped as they are first needed, so it holds address space for what it
 * holds, not for its bound (arena.c says why), and an entry never moves.
 *
 * The free filter is one byte per 512-byte window of address space (aliased every 4 GiB):
 * a saturating count of live sampled allocations starting in that window. free() reads it
 * without a lock; zero means "not sampled" for certain, so unsampled frees never reach this
 * file. Byte 0 stays nonzero so free(NULL) takes the slow path, which ignores it.
 */
#include <string.h>

#include "agent/agent.h"
#include "agent/spinlock.h"

enum { STRIPES = 64, INITIAL_BUCKETS = 256 };

uint8_t lw__free_filter[1u << LW_FILTER_BITS];

typedef struct stripe {
  lw_spinlock_t lock;
  uint32_t *buckets;  /* entry index (into pool), 0 = empty */
  uint64_t n_buckets; /* power of two */
  uint64_t count;     /* written under the lock, read without it (lw__live_count): atomic */
  uint32_t free_list; /* recycled entries, chained through next */
} __attribute__((aligned(64))) stripe_t;

enum { POOL_CHUNK_BITS = 12, POOL_CHUNK = 1 << POOL_CHUNK_BITS };

static stripe_t stripes[STRIPES];
/* Entry i is pool_chunks[i >> POOL_CHUNK_BITS][i % POOL_CHUNK]; index 0 is never used. A
 * chunk pointer is set once (compare-and-swap by whichever thread first needs the chunk)
 * and read under a stripe lock by threads that got the index after it was set, so a plain
 * load sees it (and the compiler may keep pool_chunks in a register along a chain). */
static lw_live_entry_t **pool_chunks;
static uint64_t pool_capacity;
static uint64_t pool_next = 1;
static uint64_t dropped;

static inline lw_live_entry_t *entry_at(uint32_t index) {
  return &pool_chunks[index >> POOL_CHUNK_BITS][index & (POOL_CHUNK - 1)];
}

/* Maps the chunk holding index if no thread has yet. When it cannot be mapped, sampling
 * stops (the usual rule) and false is returned. */
static bool chunk_ready(uint64_t index) {
  lw_live_entry_t **slot = &pool_chunks[index >> POOL_CHUNK_BITS];
  if (LW_LIKELY(__atomic_load_n(slot, __ATOMIC_ACQUIRE) != NULL))
    return true;
  lw_live_entry_t *chunk = lw__arena_map(POOL_CHUNK * sizeof(lw_live_entry_t));
  if (!chunk) {
    lw__agent_fail("cannot map memory to grow the live table");
    return false;
  }
  lw_live_entry_t *expected = NULL;
  if (!__atomic_compare_exchange_n(slot, &expected, chunk, false, __ATOMIC_ACQ_REL,
                                   __ATOMIC_ACQUIRE))
    lw__arena_unmap(chunk, POOL_CHUNK * sizeof(lw_live_entry_t)); /* another thread won */
  return true;
}

static inline uint64_t hash_address(uint64_t address) {
  return (address >> 4) * 0x9E3779B97F4A7C15ULL;
}
static inline stripe_t *stripe_of(uint64_t hash) { return &stripes[hash >> 58]; }

static void filter_add(uint64_t address) {
  uint8_t *slot = lw__filter_slot((void *)address);
  uint8_t old = __atomic_load_n(slot, __ATOMIC_RELAXED);
  while (old != 255 &&
         !__atomic_compare_exchange_n(slot, &old, (uint8_t)(old + 1), true, __ATOMIC_RELEASE,
                                      __ATOMIC_RELAXED)) {
  }
}

static void filter_remove(uint64_t address) {
  uint8_t *slot = lw__filter_slot((void *)address);
  if (slot == &lw__free_filter[0])
    return; /* keeps free(NULL) on the slow path */
  uint8_t old = __atomic_load_n(slot, __ATOMIC_RELAXED);
  /* 255 is sticky: the count saturated, so we no longer know when it reaches zero. */
  while (old != 255 && old != 0 &&
         !__atomic_compare_exchange_n(slot, &old, (uint8_t)(old - 1), true, __ATOMIC_RELAXED,
                                      __ATOMIC_RELAXED)) {
  }
}

int lw__live_init(uint64_t max_live) {
  lw__free_filter[0] = 255;
  /* In exact mode every allocation is sampled, so almost every free needs the slow path
   * anyway: pin the whole filter at "maybe" (255 is sticky) and skip its upkeep. */
  if (lw__options.rate <= 1)
    memset(lw__free_filter, 255, sizeof lw__free_filter);
  /* One mapping holds every stripe's first bucket array; grown arrays get their own. */
  uint32_t *initial = lw__arena_map((size_t)STRIPES * INITIAL_BUCKETS * sizeof(uint32_t));
  if (!initial)
    return -1;
  for (int i = 0; i < STRIPES; i++) {
    lw_spin_reset(&stripes[i].lock);
    stripes[i].buckets = initial + (size_t)i * INITIAL_BUCKETS;
    stripes[i].n_buckets = INITIAL_BUCKETS;
  }
  /* The pool's directory; chunks come as entries are first taken. */
  pool_chunks = lw__arena_map(((max_live >> POOL_CHUNK_BITS) + 1) * sizeof *pool_chunks);
  if (!pool_chunks)
    return -1;
  pool_capacity = max_live;
  return 0;
}

/* Doubles a stripe's bucket array; lock held. Failure keeps the old one (longer chains). */
static void grow(stripe_t *s) {
  uint64_t n = s->n_buckets * 2;
  uint32_t *bigger = lw__arena_map(n * sizeof(uint32_t));
  if (!bigger) {
    lw__agent_fail("cannot map memory to grow the live table");
    return;
  }
  for (uint64_t b = 0; b < s->n_buckets; b++) {
    uint32_t index = s->buckets[b];
    while (index) {
      lw_live_entry_t *e = entry_at(index);
      uint32_t next = e->next;
      uint64_t slot = hash_address(e->address) & (n - 1);
      e->next = bigger[slot];
      bigger[slot] = index;
      index = next;
    }
  }
  if (s->n_buckets > INITIAL_BUCKETS) /* the initial arrays share one mapping: kept */
    lw__arena_unmap(s->buckets, s->n_buckets * sizeof(uint32_t));
  s->buckets = bigger;
  s->n_buckets = n;
}

/* An entry for the stripe, its index returned and its address in *entry; 0 when the pool is
 * exhausted (*full) or its next chunk could not be mapped. */
static uint32_t take_entry(stripe_t *s, bool *full, lw_live_entry_t **entry) {
  if (s->free_list) {
    uint32_t index = s->free_list;
    *entry = entry_at(index);
    s->free_list = (*entry)->next;
    return index;
  }
  uint64_t index = __atomic_fetch_add(&pool_next, 1, __ATOMIC_RELAXED);
  *full = index > pool_capacity;
  if (*full || !chunk_ready(index))
    return 0; /* an index whose chunk could not be mapped is not used again */
  *entry = entry_at((uint32_t)index);
  return (uint32_t)index;
}

/* Unlinks the entry for address from its chain; lock held. Returns its index (its address
 * in *entry) or 0. */
static uint32_t unlink_entry(stripe_t *s, uint64_t hash, uint64_t address,
                             lw_live_entry_t **entry) {
  uint32_t *link = &s->buckets[hash & (s->n_buckets - 1)];
  while (*link) {
    lw_live_entry_t *e = entry_at(*link);
    if (e->address == address) {
      uint32_t index = *link;
      *link = e->next;
      __atomic_store_n(&s->count, s->count - 1, __ATOMIC_RELAXED);
      *entry = e;
      return index;
    }
    link = &e->next;
  }
  return 0;
}

bool lw__live_insert(uint64_t address, uint64_t size, uint32_t stack_id, uint64_t time_ms) {
  uint64_t hash = hash_address(address);
  stripe_t *s = stripe_of(hash);
  lw_spin_lock(&s->lock);
  /* An entry for this address can only be stale (a free we could not see, e.g. by a
   * function we do not interpose); the new allocation replaces it. */
  lw_live_entry_t *e = NULL;
  uint32_t index = unlink_entry(s, hash, address, &e);
  bool full = false;
  if (index)
    filter_remove(address);
  else
    index = take_entry(s, &full, &e);
  if (!index) {
    lw_spin_unlock(&s->lock);
    if (__atomic_fetch_add(&dropped, 1, __ATOMIC_RELAXED) == 0 && full)
      lw__log("live table full (%llu sampled allocations, LEAKWATCH_MAX_LIVE): further "
              "samples count as allocated but not in use; see dropped_samples",
              (unsigned long long)pool_capacity);
    return false;
  }
  if (s->count >= s->n_buckets)
    grow(s);
  e->address = address;
  e->size = size;
  e->time_ms = time_ms;
  e->stack_id = stack_id;
  uint32_t *bucket = &s->buckets[hash & (s->n_buckets - 1)];
  e->next = *bucket;
  *bucket = index;
  __atomic_store_n(&s->count, s->count + 1, __ATOMIC_RELAXED);
  filter_add(address);
  lw_spin_unlock(&s->lock);
  return true;
}

bool lw__live_remove(uint64_t address, lw_live_entry_t *removed, bool blocking, bool *busy) {
  uint64_t hash = hash_address(address);
  stripe_t *s = stripe_of(hash);
  *busy = false;
  if (blocking) {
    lw_spin_lock(&s->lock);
  } else if (!lw_spin_trylock(&s->lock)) {
    *busy = true;
    return false;
  }
  lw_live_entry_t *e = NULL;
  uint32_t index = unlink_entry(s, hash, address, &e);
  if (index) {
    *removed = *e;
    e->next = s->free_list;
    s->free_list = index;
    filter_remove(address);
  }
  lw_spin_unlock(&s->lock);
  return index != 0;
}

void lw__live_for_each(void (*fn)(const lw_live_entry_t *entry, void *context), void *context) {
  for (int i = 0; i < STRIPES; i++) {
    stripe_t *s = &stripes[i];
    lw_spin_lock(&s->lock);
    for (uint64_t b = 0; b < s->n_buckets; b++)
      for (uint32_t index = s->buckets[b]; index;) {
        const lw_live_entry_t *e = entry_at(index);
        index = e->next;
        fn(e, context);
      }
    lw_spin_unlock(&s->lock);
  }
}

uint64_t lw__live_count(void) {
  uint64_t total = 0;
  for (int i = 0; i < STRIPES; i++)
    total += __atomic_load_n(&stripes[i].count, __ATOMIC_RELAXED);
  return total;
}

uint64_t lw__live_dropped(void) { return __atomic_load_n(&dropped, __ATOMIC_RELAXED); }

/* Fork: take every stripe lock in index order so the child inherits consistent tables. */
void lw__live_prefork(void) {
  for (int i = 0; i < STRIPES; i++)
    lw_spin_lock(&stripes[i].lock);
}
void lw__live_postfork_parent(void) {
  for (int i = STRIPES - 1; i >= 0; i--)
    lw_spin_unlock(&stripes[i].lock);
}
void lw__live_postfork_child(void) {
  for (int i = 0; i < STRIPES; i++)
    lw_spin_reset(&stripes[i].lock);
}
