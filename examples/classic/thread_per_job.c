/*
 * thread_per_job.c - a thread per job that blocks forever: every job gets its own thread,
 * which sends a request and waits for the reply with no deadline. One reply in five is
 * lost (a backend that drops requests under load), and each lost reply keeps a thread -
 * its stack, its descriptors, whatever it holds - until the process dies.
 *
 * The bug is in start_job (a thread per job) together with wait_for_reply's wait with no
 * deadline. The fix (--fixed) is a pool: WORKERS threads started once take jobs from a
 * queue and wait at most REPLY_TIMEOUT_SECONDS for a reply, so a lost reply costs a
 * timeout, not a thread; at shutdown the pool is stopped and joined.
 *
 *   thread_per_job [--fixed] [--seconds N] [--scale S]
 *
 * Load: 5 jobs per (scaled) second, so 60 threads stuck per minute while leaking.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>

#include "classic_example.h"

enum {
  JOBS_PER_SECOND = 5,
  LOST_EVERY = 5,            /* the backend never answers one job in five */
  WORKERS = 4,               /* the fix: the pool's size */
  REPLY_TIMEOUT_SECONDS = 2, /* the fix: how long a worker waits for a reply */
  MAX_JOBS = 1 << 20,
};

static example_options_t options;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t replies = PTHREAD_COND_INITIALIZER; /* a reply arrived */
static pthread_cond_t queued = PTHREAD_COND_INITIALIZER;  /* a job was queued (pool) */
static uint8_t answered[MAX_JOBS];                         /* by job number */
static uint32_t queue[MAX_JOBS], queue_head, queue_tail;   /* the pool's job queue */
static bool stopping;

/* Waits for job's reply: forever when deadline is 0 (the bug), else until deadline.
 * Returns whether the reply came. Called with lock held. */
static bool wait_for_reply(uint32_t job, const struct timespec *deadline) {
  while (!answered[job % MAX_JOBS] && !stopping) {
    if (!deadline)
      pthread_cond_wait(&replies, &lock); /* THE LEAK: a lost reply never wakes this */
    else if (pthread_cond_timedwait(&replies, &lock, deadline) == ETIMEDOUT)
      return false;
  }
  return answered[job % MAX_JOBS];
}

static void *job_thread(void *arg) {
  uint32_t job = (uint32_t)(uintptr_t)arg;
  pthread_mutex_lock(&lock);
  wait_for_reply(job, NULL);
  pthread_mutex_unlock(&lock);
  return NULL;
}

/* THE LEAK, part 1: one thread per job, however many are still waiting. */
__attribute__((noinline)) static void start_job(uint32_t job) {
  pthread_t thread;
  if (pthread_create(&thread, NULL, job_thread, (void *)(uintptr_t)job) == 0)
    pthread_detach(thread);
}

/* The fix: a worker of the pool takes the next job and waits for its reply with a deadline. */
static void *pool_worker(void *arg) {
  (void)arg;
  pthread_mutex_lock(&lock);
  while (!stopping) {
    if (queue_head == queue_tail) {
      pthread_cond_wait(&queued, &lock);
      continue;
    }
    uint32_t job = queue[queue_head++ % MAX_JOBS];
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    double wait = (double)REPLY_TIMEOUT_SECONDS / options.scale;
    deadline.tv_sec += (time_t)wait;
    deadline.tv_nsec += (long)((wait - (double)(time_t)wait) * 1e9);
    if (deadline.tv_nsec >= 1000000000) {
      deadline.tv_sec++;
      deadline.tv_nsec -= 1000000000;
    }
    wait_for_reply(job, &deadline); /* a lost reply: give up and take the next job */
  }
  pthread_mutex_unlock(&lock);
  return NULL;
}

__attribute__((noinline)) static int start_pool(pthread_t *workers) {
  for (int i = 0; i < WORKERS; i++)
    if (pthread_create(&workers[i], NULL, pool_worker, NULL) != 0)
      return -1;
  return 0;
}

int main(int argc, char **argv) {
  options = example_begin(argc, argv, 600,
      "A thread per job that blocks forever; the fix: a pool with reply deadlines.");
  pthread_t workers[WORKERS];
  if (options.fixed && start_pool(workers) < 0) {
    perror("thread_per_job: cannot start the pool");
    return 1;
  }
  uint32_t jobs = 0, replied = 0;
  while (example_running(&options)) {
    double now = example_minutes(&options) * 60;
    uint32_t due = (uint32_t)(now * JOBS_PER_SECOND);
    for (; jobs < due; jobs++) {
      if (options.fixed) {
        pthread_mutex_lock(&lock);
        queue[queue_tail++ % MAX_JOBS] = jobs;
        pthread_cond_signal(&queued);
        pthread_mutex_unlock(&lock);
      } else {
        start_job(jobs);
      }
    }
    /* The backend answers each job a fifth of a second after it started, but loses some. */
    uint32_t answerable = now > 0.2 ? (uint32_t)((now - 0.2) * JOBS_PER_SECOND) : 0;
    pthread_mutex_lock(&lock);
    for (; replied < answerable && replied < jobs; replied++)
      if (replied % LOST_EVERY != LOST_EVERY - 1)
        answered[replied % MAX_JOBS] = 1;
    pthread_cond_broadcast(&replies);
    pthread_mutex_unlock(&lock);
    example_sleep(&options, 0.1);
  }
  if (options.fixed) { /* a clean shutdown: stop the pool and wait for it */
    pthread_mutex_lock(&lock);
    stopping = true;
    pthread_cond_broadcast(&queued);
    pthread_cond_broadcast(&replies);
    pthread_mutex_unlock(&lock);
    for (int i = 0; i < WORKERS; i++)
      pthread_join(workers[i], NULL);
  }
  printf("thread_per_job: %u jobs, %u replies lost\n", jobs, jobs / LOST_EVERY);
  return 0;
}
