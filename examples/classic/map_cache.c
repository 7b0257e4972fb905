/*
 * map_cache.c - the unbounded map cache: a service caches each session's profile in a hash
 * map and never evicts anything. Every entry stays reachable from the map, so no exit-time
 * leak checker calls it lost, yet the process grows for as long as new sessions arrive.
 *
 * The bug is in cache_put: it inserts and never removes. The fix (--fixed) bounds the map
 * with an LRU list and a time to live: entries not used for TTL_SECONDS expire, and past
 * CAPACITY entries the least recently used one goes (cache_evict).
 *
 *   map_cache [--fixed] [--seconds N] [--scale S]
 *
 * Load: 120 requests per (scaled) second from sessions that each make 3 requests, so 40 new
 * sessions a second and 4 KiB per cached profile: about 9 MiB a minute while leaking.
 * docs/GUIDE.md walks through finding it with leakwatch.
 */
#include <stdint.h>

#include "classic_example.h"

enum {
  BUCKETS = 4096,      /* fixed: the map never rehashes, so it is one allocation */
  PROFILE_BYTES = 4000,
  CAPACITY = 1000,     /* the fix: at most this many entries... */
  TTL_SECONDS = 60,    /* ...each used within the last minute */
};

typedef struct entry {
  uint64_t session;
  double last_used;          /* scaled seconds */
  struct entry *bucket_next; /* chain in the hash bucket */
  struct entry *newer, *older; /* the LRU list (used by the fixed version only) */
  char profile[PROFILE_BYTES];
} entry_t;

static struct {
  entry_t **buckets;
  entry_t *newest, *oldest; /* LRU ends */
  size_t n_entries;
  bool bounded;
} cache;

static entry_t **bucket_of(uint64_t session) {
  return &cache.buckets[(session * 0x9E3779B97F4A7C15ull) >> 52];
}

static void lru_unlink(entry_t *e) {
  if (e->newer)
    e->newer->older = e->older;
  else
    cache.newest = e->older;
  if (e->older)
    e->older->newer = e->newer;
  else
    cache.oldest = e->newer;
}

static void lru_push_newest(entry_t *e) {
  e->newer = NULL;
  e->older = cache.newest;
  if (cache.newest)
    cache.newest->newer = e;
  cache.newest = e;
  if (!cache.oldest)
    cache.oldest = e;
}

static void cache_remove(entry_t *e) {
  entry_t **link = bucket_of(e->session);
  while (*link != e)
    link = &(*link)->bucket_next;
  *link = e->bucket_next;
  lru_unlink(e);
  free(e);
  cache.n_entries--;
}

/* The fix: drop what expired, then the least recently used beyond CAPACITY. */
static void cache_evict(double now) {
  while (cache.oldest && now - cache.oldest->last_used > TTL_SECONDS)
    cache_remove(cache.oldest);
  while (cache.n_entries > CAPACITY)
    cache_remove(cache.oldest);
}

static entry_t *cache_get(uint64_t session, double now) {
  for (entry_t *e = *bucket_of(session); e; e = e->bucket_next)
    if (e->session == session) {
      e->last_used = now;
      if (cache.bounded) { /* a hit makes it the most recently used */
        lru_unlink(e);
        lru_push_newest(e);
      }
      return e;
    }
  return NULL;
}

/* THE LEAK: every new session's profile goes into the map and nothing ever takes it out.
 * Without cache_evict the map holds every session the service has ever seen. */
__attribute__((noinline)) static entry_t *cache_put(uint64_t session, double now) {
  entry_t *e = malloc(sizeof *e);
  if (!e)
    return NULL;
  e->session = session;
  e->last_used = now;
  memset(e->profile, 'p', sizeof e->profile); /* stands for a profile read from a database */
  entry_t **bucket = bucket_of(session);
  e->bucket_next = *bucket;
  *bucket = e;
  lru_push_newest(e);
  cache.n_entries++;
  if (cache.bounded)
    cache_evict(now);
  return e;
}

static void handle_request(uint64_t session, double now) {
  entry_t *e = cache_get(session, now);
  if (!e)
    e = cache_put(session, now);
  (void)e; /* ... the request would be served from e->profile here ... */
}

int main(int argc, char **argv) {
  example_options_t o = example_begin(argc, argv, 600,
      "An unbounded map cache; the fix: LRU with a TTL.");
  cache.bounded = o.fixed;
  cache.buckets = calloc(BUCKETS, sizeof *cache.buckets);
  if (!cache.buckets)
    return 1;
  uint64_t requests = 0;
  while (example_running(&o)) {
    double now = example_minutes(&o) * 60;
    uint64_t due = (uint64_t)(now * 120); /* 120 requests a second */
    for (; requests < due; requests++)
      handle_request(requests / 3, now); /* each session makes 3 requests in a row */
    example_sleep(&o, 0.1);
  }
  printf("map_cache: %llu requests, %zu entries cached\n", (unsigned long long)requests,
         cache.n_entries);
  return 0;
}
