/*
 * leaky_cache.c - a small "service" with the two most common leaks in long-running C code,
 * for `leakwatch run` to find (scripts/setup.sh --demo runs it).
 *
 *   1. An unbounded cache: every request's result is cached by key and nothing is ever
 *      evicted, so memory grows with the number of distinct keys (cache_insert).
 *   2. An error path that returns early and forgets to free (parse_request).
 *
 * Run with --fixed to see the same program with a bounded cache and the missing free added:
 * leakwatch then reports nothing of either.
 *
 *   leaky_cache [--fixed] [--requests N]
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_LIMIT 64 /* entries kept by the fixed version */

typedef struct entry {
  char key[32];
  char *value;
  struct entry *next;
} entry_t;

static entry_t *cache;
static size_t cache_size;
static bool fixed;

/* Evicts the oldest entries (at the tail) beyond CACHE_LIMIT: the fix for leak 1. */
static void cache_trim(void) {
  if (cache_size <= CACHE_LIMIT)
    return;
  entry_t *e = cache;
  for (size_t i = 1; i < CACHE_LIMIT; i++)
    e = e->next;
  entry_t *victim = e->next;
  e->next = NULL;
  while (victim) {
    entry_t *next = victim->next;
    free(victim->value);
    free(victim);
    victim = next;
    cache_size--;
  }
}

static void cache_insert(const char *key, const char *value) {
  entry_t *e = malloc(sizeof *e);
  if (!e)
    return;
  snprintf(e->key, sizeof e->key, "%s", key);
  e->value = strdup(value);
  e->next = cache;
  cache = e;
  cache_size++;
  if (fixed)
    cache_trim();
}

/* Parses "key=value"; the buffer leaks on the error path unless fixed. */
static int parse_request(const char *request, char *key, size_t key_size) {
  char *copy = malloc(256);
  if (!copy)
    return -1;
  snprintf(copy, 256, "%s", request);
  char *equals = strchr(copy, '=');
  if (!equals) {
    if (fixed)
      free(copy);
    return -1; /* leak 2: copy is lost here */
  }
  *equals = '\0';
  snprintf(key, key_size, "%s", copy);
  free(copy);
  return 0;
}

static void handle(int i) {
  char request[64], key[32], value[512];
  if (i % 10 == 9)
    snprintf(request, sizeof request, "malformed-%d", i); /* every tenth request is bad */
  else
    snprintf(request, sizeof request, "user%d=profile", i);
  if (parse_request(request, key, sizeof key) < 0)
    return;
  memset(value, 'v', sizeof value - 1);
  value[sizeof value - 1] = '\0';
  cache_insert(key, value);
}

int main(int argc, char **argv) {
  int requests = 20000;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--fixed") == 0) {
      fixed = true;
    } else if (strcmp(argv[i], "--requests") == 0 && i + 1 < argc) {
      requests = atoi(argv[++i]);
    } else {
      fprintf(stderr, "usage: leaky_cache [--fixed] [--requests N]\n");
      return 2;
    }
  }
  for (int i = 0; i < requests; i++)
    handle(i);
  printf("handled %d requests, %zu cached\n", requests, cache_size);
  if (fixed) { /* a clean shutdown releases what is left */
    while (cache) {
      entry_t *next = cache->next;
      free(cache->value);
      free(cache);
      cache = next;
    }
  }
  return 0;
}
