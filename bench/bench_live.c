/*
 * bench_live.c - holds many live allocations to measure the agent's own memory: allocates
 * N blocks of 16-128 bytes (default 1,000,000) from 64 call sites, then reports the
 * process's resident memory and, when the agent is present, its agent_memory_bytes.
 *
 *   bench_live [--objects N]
 *
 * Prints "objects=N rss_kib=K hwm_kib=K agent_memory_bytes=B samples_live=S".
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "leakwatch.h"

static void **blocks;
volatile int sink;

/* 64 call sites: the low bits pick one of several distinct callers. */
__attribute__((noinline)) static void *site(long i) { sink++; return malloc(16 + (size_t)(i % 113)); }
__attribute__((noinline)) static void *via_a(long i) { void *p = site(i); sink++; return p; }
__attribute__((noinline)) static void *via_b(long i) { void *p = site(i); sink--; return p; }
__attribute__((noinline)) static void *pick(long i, int depth) {
  if (depth == 0)
    return site(i);
  void *p = ((i >> depth) & 1) ? via_a(i) : via_b(i);
  if (depth > 1)
    free(pick(i, depth - 1)); /* different stack shapes; freed immediately */
  return p;
}

static long status_kib(const char *field) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long value = -1;
  size_t n = strlen(field);
  while (f && fgets(line, sizeof line, f))
    if (strncmp(line, field, n) == 0)
      value = atol(line + n);
  if (f)
    fclose(f);
  return value;
}

int main(int argc, char **argv) {
  long objects = 1000000;
  if (argc == 3 && strcmp(argv[1], "--objects") == 0)
    objects = atol(argv[2]);
  blocks = malloc((size_t)objects * sizeof *blocks);
  for (long i = 0; i < objects; i++)
    blocks[i] = pick(i, (int)(i % 6));
  int (*stats)(lw_stats_t *, size_t) = (int (*)(lw_stats_t *, size_t))dlsym(RTLD_DEFAULT, "lw_stats");
  lw_stats_t s;
  memset(&s, 0, sizeof s);
  if (stats)
    stats(&s, sizeof s);
  printf("objects=%ld rss_kib=%ld hwm_kib=%ld agent_memory_bytes=%llu samples_live=%llu\n", objects,
         status_kib("VmRSS:"), status_kib("VmHWM:"), (unsigned long long)s.agent_memory_bytes,
         (unsigned long long)s.samples_live);
  for (long i = 0; i < objects; i++)
    free(blocks[i]);
  free(blocks);
  return 0;
}
