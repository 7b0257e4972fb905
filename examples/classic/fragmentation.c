/*
 * fragmentation.c - fragmentation that is not a leak: four workers each run a batch job
 * now and then - build 50,000 small records (about 20 MiB), keep one in 64 as the batch's
 * result until the next batch, free the rest. The live heap stays near 1 MiB and does not
 * grow, yet RSS stays at about 80 MiB: the kept results sit scattered across the pages the
 * batch used, in four malloc arenas (one per thread), and glibc returns free memory to the
 * system only from the top of an arena. Nothing is lost; the allocator holds it.
 *
 * leakwatch's verdict is "no leak": no site grows. What tells it apart is RSS far above the
 * heap in use, and free memory the allocator holds (`leakwatch stats`, `leakwatch explain`),
 * which `leakwatch trim PID` gives back. The fix (--fixed) calls malloc_trim(0) after each
 * batch, which returns the free pages inside the arenas too. Without a code change,
 * MALLOC_ARENA_MAX=1 keeps one arena for the four workers, which take turns, so each batch
 * reuses the pages the previous one freed: about a quarter of the RSS (MALLOC_ARENA_MAX=2,
 * about half).
 *
 *   fragmentation [--fixed] [--seconds N] [--scale S]
 *
 * A batch every 10 (scaled) seconds per worker.
 */
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>

#include "classic_example.h"

enum { WORKERS = 4, RECORDS = 50000, KEEP_EVERY = 64, BATCH_EVERY_SECONDS = 10 };

static example_options_t options;

typedef struct {
  char *results[RECORDS / KEEP_EVERY + 1]; /* what the last batch kept */
  size_t n_results;
  uint32_t random_state;
  int number; /* 0 .. WORKERS - 1 */
} worker_t;

__attribute__((noinline)) static char *make_record(worker_t *w) {
  w->random_state = w->random_state * 1103515245u + 12345u;
  size_t bytes = 256 + (w->random_state >> 16) % 256;
  char *record = malloc(bytes);
  if (record)
    memset(record, 'r', bytes);
  return record;
}

static void run_batch(worker_t *w) {
  static __thread char *records[RECORDS];
  for (size_t i = 0; i < w->n_results; i++) /* the previous batch's results go */
    free(w->results[i]);
  w->n_results = 0;
  for (size_t i = 0; i < RECORDS; i++)
    records[i] = make_record(w);
  for (size_t i = 0; i < RECORDS; i++) {
    if (i % KEEP_EVERY == 0)
      w->results[w->n_results++] = records[i]; /* kept: pins its page */
    else
      free(records[i]);
  }
  if (options.fixed)
    malloc_trim(0); /* the fix: give the free pages inside the arenas back */
}

static void *worker(void *arg) {
  worker_t *w = arg;
  /* The workers take turns: each starts its first batch a quarter of the period after the
   * previous one, so their batches rarely overlap (and one arena could serve them all). */
  for (int i = 0; i < w->number && example_running(&options); i++)
    example_sleep(&options, (double)BATCH_EVERY_SECONDS / WORKERS);
  while (example_running(&options)) {
    run_batch(w);
    for (int i = 0; i < BATCH_EVERY_SECONDS * 10 && example_running(&options); i++)
      example_sleep(&options, 0.1);
  }
  for (size_t i = 0; i < w->n_results; i++)
    free(w->results[i]);
  return NULL;
}

int main(int argc, char **argv) {
  options = example_begin(argc, argv, 600,
      "Fragmentation that is not a leak; the fix: malloc_trim (or MALLOC_ARENA_MAX=1).");
  static worker_t workers[WORKERS];
  pthread_t threads[WORKERS];
  for (int i = 0; i < WORKERS; i++) {
    workers[i].random_state = (uint32_t)i + 1;
    workers[i].number = i;
    if (pthread_create(&threads[i], NULL, worker, &workers[i]) != 0) {
      perror("fragmentation: cannot start a worker");
      return 1;
    }
  }
  for (int i = 0; i < WORKERS; i++)
    pthread_join(threads[i], NULL);
  printf("fragmentation: done\n");
  return 0;
}
