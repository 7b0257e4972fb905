/*
 * bench_attach_churn.c - bench_churn's malloc/free churn in rounds, one per line read on
 * stdin, in a process that lives on between them: bench/attach_cost.sh times rounds before
 * an attach (no agent), after `leakwatch attach` (or `heaptrack -p`) and after the detach, in
 * the same process, against a preloaded agent's rounds interleaved with them.
 *
 *   bench_attach_churn [--pairs N] [--live N] [--idle-threads N] [--self-attach LIB]
 *
 * Says "ready" once, then for each line: one round of N malloc+free pairs of 16-256 bytes
 * (a ring of `live` blocks, the oldest replaced each step) and "ns_per_pair=X". EOF ends it.
 * --idle-threads starts that many threads that only wait, as a server's pool does: the
 * attach must work, and quickly, with them there. --self-attach dlopens LIB
 * (libleakwatch-attach.so) and calls lw_attach_start itself before the first round, as the
 * injector makes a thread do: callgrind, which cannot follow an injector, counts the
 * attached hooks' instructions that way.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "churn_loop.h"

static long pairs = 5000000;
static int live = 1024;

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The same loop as bench_churn.c, so the numbers compare with docs/PERFORMANCE.md's. */
static void churn(void) { lw_bench_churn_loop(pairs, live); }

static void *idle(void *unused) {
  (void)unused;
  for (;;)
    pause();
  return NULL;
}

int main(int argc, char **argv) {
  int idle_threads = 0;
  const char *self_attach = NULL;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--pairs") == 0)
      pairs = atol(argv[i + 1]);
    else if (strcmp(argv[i], "--live") == 0)
      live = atoi(argv[i + 1]);
    else if (strcmp(argv[i], "--idle-threads") == 0)
      idle_threads = atoi(argv[i + 1]);
    else if (strcmp(argv[i], "--self-attach") == 0)
      self_attach = argv[i + 1];
    else {
      fprintf(stderr, "bench_attach_churn: unknown option '%s'\n", argv[i]);
      return 2;
    }
  }
  for (int i = 0; i < idle_threads; i++) {
    pthread_t thread;
    if (pthread_create(&thread, NULL, idle, NULL) != 0) {
      fprintf(stderr, "bench_attach_churn: cannot start idle thread %d\n", i + 1);
      return 1;
    }
  }
  if (self_attach) {
    typedef int (*start_fn)(const char *, char *, unsigned long);
    void *library = dlopen(self_attach, RTLD_NOW | RTLD_LOCAL);
    start_fn start = library ? (start_fn)dlsym(library, "lw_attach_start") : NULL;
    char message[256] = "";
    if (!start || start("\0", message, sizeof message) != 0) {
      fprintf(stderr, "bench_attach_churn: cannot attach '%s': %s\n", self_attach,
              library ? message : dlerror());
      return 1;
    }
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  printf("ready\n");
  char line[64];
  while (fgets(line, sizeof line, stdin)) {
    double start = now_seconds();
    churn();
    printf("ns_per_pair=%.2f\n", (now_seconds() - start) * 1e9 / (double)pairs);
  }
  return 0;
}
