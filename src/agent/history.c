/*
 * history.c - per allocation site, a bounded history of its estimated live bytes and
 * objects, for telling a leak (live bytes that keep growing) from churn or a cache that
 * levels off. The verdicts are computed outside the process (src/common/leak_verdict.c);
 * the agent only keeps the series and the ages of live sampled allocations.
 *
 * Every LEAKWATCH_HISTORY_INTERVAL (default 10 s) the agent thread reads every stack's
 * in-use counters (a pass over the stack table, no locks) and appends a point to each
 * tracked site: a fine ring of 90 points (15 minutes at the default interval) and a coarse
 * ring of 96 points taken every 9th snapshot (2.4 hours). A site is tracked from the first
 * snapshot where it holds live memory, while a slot is free (LEAKWATCH_HISTORY_SITES,
 * default 1024), and forgotten after a whole fine window at zero. Memory: about 3 KiB per
 * tracked site and 4 bytes per stack, mapped as sites are tracked and stacks appear (the
 * arrays grow by copying: nobody else reads them); the stacks' counters are read into
 * scratch memory that each snapshot returns. Descriptors and threads need arrays only up
 * to the highest stack id that holds one now.
 *
 * Descriptors and threads have histories too (docs/LEAKS.md, "Descriptors and threads"): a
 * site there is the stack that created them, and a point is the exact count of those still
 * open (LEAKWATCH_TRACK_FDS=1) or still running. They share the slots with the heap sites.
 *
 * Only the agent thread touches this state (snapshots and the history command both run on
 * it); the exit writer uses it after that thread has stopped.
 */
#include <fcntl.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "common/file.h"
#include "common/fmt.h"
#include "common/procfs.h"

enum { FINE_POINTS = 90, COARSE_POINTS = 96, COARSE_EVERY = 9 };

/* What a site counts: sampled heap memory, live descriptors, live threads. */
enum { KIND_HEAP, KIND_FDS, KIND_THREADS, KINDS };
static const char *const kind_names[KINDS] = {"heap", "fds", "threads"};

typedef struct {
  uint64_t bytes;
  uint64_t objects;
} point_t;

typedef struct {
  uint32_t stack_id;
  uint8_t kind;
  uint8_t fd_type;       /* KIND_FDS: the lw_fd_type_t of its descriptors */
  uint32_t zero_streak;  /* consecutive snapshots at zero bytes */
  uint64_t first_seq;    /* snapshot number of the first fine point */
  uint64_t first_coarse; /* coarse point number of the first coarse point */
  point_t fine[FINE_POINTS];
  point_t coarse[COARSE_POINTS];
} site_t;

static struct {
  bool ready;
  uint64_t seq;                         /* snapshots taken */
  uint64_t coarse_seq;                  /* coarse points taken */
  uint64_t fine_time_ms[FINE_POINTS];   /* by seq % FINE_POINTS */
  uint64_t coarse_time_ms[COARSE_POINTS];
  site_t *sites;                        /* sites_room of them mapped */
  uint32_t n_sites;                     /* slots handed out (some may be free again) */
  uint32_t max_sites;
  uint32_t sites_room;
  uint32_t *free_slots;                 /* stack of freed slot indexes (free_slots_room) */
  uint64_t free_slots_room;             /* grown apart from sites: one may fail alone */
  uint32_t n_free;
  /* By stack id (slot_room, counts_room, types_room entries mapped): */
  uint32_t *slot_of_stack[KINDS];       /* slot + 1, 0 = untracked; fds and threads mapped
                                           when first needed */
  uint32_t *counts;                     /* fds or threads counted this snapshot */
  uint8_t *types;                       /* fd type seen this snapshot */
  uint64_t slot_room[KINDS], counts_room, types_room; /* entries mapped of each */
  uint64_t counted_room; /* ids the kind being counted can use: all three arrays have it */
  uint64_t stack_capacity;
  uint64_t first_snapshot_ms;
  bool slots_ran_out; /* a site holding memory once found no free slot */
  bool exit_marker;   /* mark_exit_began is registered with atexit */
} history;

/* When the process began to exit (lw__now_ms clock, 0: not yet), written as exit_began_ms
 * so that verdicts at exit judge the history before static destructors or an interpreter's
 * shutdown freed everything (docs/LEAKS.md, "Verdicts at exit"). Atomic: set by the exiting
 * thread (or a signal handler), read by the agent thread. */
static uint64_t exit_began_ms;

void lw__history_mark_exit(void) {
  uint64_t unset = 0, now = lw__now_ms();
  __atomic_compare_exchange_n(&exit_began_ms, &unset, now ? now : 1, false, __ATOMIC_RELEASE,
                              __ATOMIC_RELAXED);
}

/* atexit handlers run last-registered first, and a program registers its static
 * destructors before main: this one, registered at the first snapshot (main is running by
 * then), runs before them. One registered later (a function-local static's destructor,
 * registered at its first use) runs before it: that tear-down is not told apart. */
static void mark_exit_began(void) { lw__history_mark_exit(); }

/* Who may touch the history: the agent thread's snapshots and replies, and the exit path
 * (which may run while a timed-out agent thread is still inside a snapshot). A try-lock:
 * the agent thread skips a tick rather than wait; the exit path waits a bounded time for
 * another thread, never for its own. A fork child has no holder: it clears it. */
static int history_busy;

static bool history_try_lock(void) {
  int expected = 0;
  return __atomic_compare_exchange_n(&history_busy, &expected, 1, false, __ATOMIC_ACQUIRE,
                                     __ATOMIC_RELAXED);
}

static void history_unlock(void) { __atomic_store_n(&history_busy, 0, __ATOMIC_RELEASE); }

/* The exit path's wait: up to about a second for the agent thread to finish its snapshot. */
static bool history_lock_at_exit(void) {
  for (int i = 0; i < 200; i++) {
    if (history_try_lock())
      return true;
    struct timespec pause = {0, 5 * 1000 * 1000};
    nanosleep(&pause, NULL);
  }
  lw__log("the site history at exit is left out: the agent thread is still taking one");
  return false;
}

void lw__history_postfork_child(void) { __atomic_store_n(&history_busy, 0, __ATOMIC_RELAXED); }

/* Grows an array of `size`-byte elements from *room to `want` elements, copying it into a
 * new mapping. False, keeping the old, when it cannot. The new array is published before
 * its room and the old one unmapped last, so a fork child copied at any moment in between
 * holds an array at least as large as its room says (and at worst an orphaned mapping). */
static bool grow_array(void **array, uint64_t *room, uint64_t want, size_t size) {
  if (want <= *room)
    return true;
  void *bigger = lw__arena_map(want * size);
  if (!bigger)
    return false;
  void *old = *array;
  uint64_t old_room = *room;
  if (old)
    memcpy(bigger, old, old_room * size);
  *array = bigger;
  __atomic_signal_fence(__ATOMIC_SEQ_CST); /* fork copies memory in program order */
  *room = want;
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  if (old)
    lw__arena_unmap(old, old_room * size);
  return true;
}

/* Grows a by-stack array to hold ids below need: doubling, from 4096 ids. */
static bool stack_room(void **array, uint64_t *room, uint64_t need, size_t size) {
  if (need <= *room)
    return true;
  uint64_t want = *room ? *room * 2 : 4096;
  if (want < need)
    want = (need + 4095) & ~(uint64_t)4095;
  if (want > history.stack_capacity)
    want = history.stack_capacity;
  return grow_array(array, room, want, size);
}

static bool history_init(void) {
  history.max_sites = (uint32_t)lw__options.history_sites;
  history.stack_capacity = lw__options.max_stacks;
  history.ready = stack_room((void **)&history.slot_of_stack[KIND_HEAP],
                             &history.slot_room[KIND_HEAP], 1, sizeof(uint32_t));
  if (!history.ready)
    lw__log("cannot map memory for allocation-site history; leak verdicts are unavailable");
  return history.ready;
}

/* The next never-used slot, growing the sites by 64 at a time. */
static bool sites_room(void) {
  if (history.n_sites < history.sites_room)
    return true;
  uint64_t want = history.sites_room + 64;
  if (want > history.max_sites)
    want = history.max_sites;
  uint64_t room = history.sites_room;
  if (!grow_array((void **)&history.free_slots, &history.free_slots_room, want,
                  sizeof(uint32_t)) ||
      !grow_array((void **)&history.sites, &room, want, sizeof(site_t)))
    return false;
  history.sites_room = (uint32_t)want;
  return true;
}

static site_t *take_slot(int kind, uint32_t stack_id) {
  uint32_t index;
  if (history.n_free)
    index = history.free_slots[--history.n_free];
  else if (history.n_sites < history.max_sites && sites_room()) {
    index = history.n_sites++;
  } else {
    history.slots_ran_out = true;
    return NULL;
  }
  site_t *site = &history.sites[index];
  memset(site, 0, sizeof *site);
  site->stack_id = stack_id;
  site->kind = (uint8_t)kind;
  site->first_seq = history.seq;
  site->first_coarse = history.coarse_seq;
  history.slot_of_stack[kind][stack_id] = index + 1;
  return site;
}

static void release_slot(site_t *site) {
  uint32_t index = (uint32_t)(site - history.sites);
  history.slot_of_stack[site->kind][site->stack_id] = 0;
  site->stack_id = UINT32_MAX;
  history.free_slots[history.n_free++] = index;
}

/* Appends this snapshot's point to a site; frees its slot after a whole window at zero. */
static void record_point(site_t *site, uint64_t bytes, uint64_t objects, bool coarse) {
  point_t p = {bytes, objects};
  site->fine[history.seq % FINE_POINTS] = p;
  if (coarse)
    site->coarse[history.coarse_seq % COARSE_POINTS] = p;
  site->zero_streak = bytes ? 0 : site->zero_streak + 1;
  if (site->zero_streak >= FINE_POINTS)
    release_slot(site); /* nothing live for a whole window: make room for others */
}

static void snapshot_heap(uint32_t count, bool coarse) {
  /* Held only for this pass: a persistent copy would cost 48 bytes per stack for good. */
  uint32_t n = 0;
  lw_stack_counters_t *counters = lw__stack_counters_read(&n);
  if (!counters)
    return; /* no point this time; the next snapshot tries again */
  if (n < count)
    count = n;
  for (uint32_t id = 0; id < count; id++) {
    const lw_stack_counters_t *c = &counters[id];
    uint64_t bytes = c->inuse_bytes_fp / 256;
    uint32_t slot = history.slot_of_stack[KIND_HEAP][id];
    site_t *site = slot ? &history.sites[slot - 1] : NULL;
    if (!site) {
      if (!bytes || !(site = take_slot(KIND_HEAP, id)))
        continue;
    }
    record_point(site, bytes, lw__stack_objects(c, true), coarse);
  }
  lw__stack_counters_free(counters, n);
}

/* ---- descriptors and threads: exact counts by creating stack ---------------------------- */

static void count_fd(int fd, uint32_t stack_id, int type, void *context) {
  (void)fd;
  (void)context;
  if (stack_id < history.counted_room) {
    history.counts[stack_id]++;
    history.types[stack_id] = (uint8_t)type;
  }
}

static void count_thread(const lw_thread_state_t *t, void *context) {
  (void)context;
  if (t->created_stack && t->created_stack - 1 < history.counted_room)
    history.counts[t->created_stack - 1]++;
}

typedef struct {
  int kind;
  bool coarse;
} new_sites_t;

/* A stack whose count this snapshot is not zero but that has no slot yet gets one. */
static void track_new_site(uint32_t stack_id, const new_sites_t *pass) {
  if (stack_id >= history.counted_room || !history.counts[stack_id])
    return;
  site_t *site = take_slot(pass->kind, stack_id);
  if (site) {
    site->fd_type = history.types[stack_id];
    record_point(site, history.counts[stack_id], history.counts[stack_id], pass->coarse);
  }
  history.counts[stack_id] = 0; /* counted once, and the table is clean for next time */
}

static void track_new_fd_site(int fd, uint32_t stack_id, int type, void *context) {
  (void)fd;
  (void)type;
  track_new_site(stack_id, context);
}

static void track_new_thread_site(const lw_thread_state_t *t, void *context) {
  if (t->created_stack)
    track_new_site(t->created_stack - 1, context);
}

static void highest_fd_stack(int fd, uint32_t stack_id, int type, void *context) {
  (void)fd;
  (void)type;
  uint64_t *need = context;
  if ((uint64_t)stack_id + 1 > *need)
    *need = (uint64_t)stack_id + 1;
}

static void highest_thread_stack(const lw_thread_state_t *t, void *context) {
  uint64_t *need = context;
  if (t->created_stack > *need)
    *need = t->created_stack;
}

static void snapshot_counted(int kind, bool coarse) {
  /* The arrays cover the highest stack holding one of these now (tracked sites' ids were
   * covered when they were tracked, and arrays never shrink). If they cannot grow, those
   * above wait for the next snapshot; heap history goes on. */
  uint64_t need = 1;
  if (kind == KIND_FDS)
    lw__fd_for_each(highest_fd_stack, &need);
  else
    lw__thread_for_each(highest_thread_stack, &need);
  stack_room((void **)&history.slot_of_stack[kind], &history.slot_room[kind], need,
             sizeof(uint32_t));
  stack_room((void **)&history.counts, &history.counts_room, need, sizeof(uint32_t));
  stack_room((void **)&history.types, &history.types_room, need, 1);
  history.counted_room = history.slot_room[kind];
  if (history.counts_room < history.counted_room)
    history.counted_room = history.counts_room;
  if (history.types_room < history.counted_room)
    history.counted_room = history.types_room;
  if (!history.counted_room)
    return;
  if (kind == KIND_FDS)
    lw__fd_for_each(count_fd, NULL);
  else
    lw__thread_for_each(count_thread, NULL);
  /* Tracked sites first (their count may be zero now), then the new ones. */
  for (uint32_t i = 0; i < history.n_sites; i++) {
    site_t *site = &history.sites[i];
    if (site->stack_id == UINT32_MAX || site->kind != kind)
      continue;
    uint32_t n = history.counts[site->stack_id];
    history.counts[site->stack_id] = 0;
    record_point(site, n, n, coarse);
  }
  new_sites_t pass = {kind, coarse};
  if (kind == KIND_FDS)
    lw__fd_for_each(track_new_fd_site, &pass);
  else
    lw__thread_for_each(track_new_thread_site, &pass);
}

static void take_snapshot(void);

void lw__history_snapshot(void) {
  if (!history_try_lock())
    return; /* the exit path is taking the last one */
  take_snapshot();
  history_unlock();
}

static void take_snapshot(void) {
  if (!history.ready && !history_init())
    return;
  uint64_t now = lw__now_ms();
  uint64_t seq = history.seq;
  if (seq == 0)
    history.first_snapshot_ms = now;
  if (!history.exit_marker && !__atomic_load_n(&exit_began_ms, __ATOMIC_ACQUIRE)) {
    history.exit_marker = true; /* once: a refusal (out of memory) is not retried */
    atexit(mark_exit_began);
  }
  bool coarse = seq % COARSE_EVERY == 0;
  history.fine_time_ms[seq % FINE_POINTS] = now;
  if (coarse)
    history.coarse_time_ms[history.coarse_seq % COARSE_POINTS] = now;
  uint32_t count = lw__stacks_count();
  if (!stack_room((void **)&history.slot_of_stack[KIND_HEAP], &history.slot_room[KIND_HEAP],
                  count, sizeof(uint32_t)))
    count = (uint32_t)history.slot_room[KIND_HEAP]; /* the rest wait for the next snapshot */
  snapshot_heap(count, coarse);
  if (lw__options.track_fds)
    snapshot_counted(KIND_FDS, coarse);
  snapshot_counted(KIND_THREADS, coarse);
  history.seq++;
  if (coarse)
    history.coarse_seq++;
}

/* ---- the history as text (docs/CONTROL.md, "history") ---------------------------------- */

typedef struct {
  uint64_t live;
  uint64_t old;
  uint64_t oldest_ms; /* allocation time of the oldest live sample */
} ages_t;

typedef struct {
  ages_t *ages; /* by tracked slot */
  uint64_t old_before_ms;
} ages_scan_t;

static void count_age(const lw_live_entry_t *entry, void *context) {
  ages_scan_t *scan = context;
  if (entry->stack_id >= history.slot_room[KIND_HEAP])
    return;
  uint32_t slot = history.slot_of_stack[KIND_HEAP][entry->stack_id];
  if (!slot)
    return;
  ages_t *a = &scan->ages[slot - 1];
  if (!a->live || entry->time_ms < a->oldest_ms)
    a->oldest_ms = entry->time_ms;
  a->live++;
  if (entry->time_ms <= scan->old_before_ms)
    a->old++;
}

static void append_points(lw_buf_t *out, const char *name, const point_t *ring,
                          const uint64_t *times, uint64_t first, uint64_t end, int capacity) {
  lw_buf_append_str(out, name);
  uint64_t start = end > (uint64_t)capacity && first < end - (uint64_t)capacity
                       ? end - (uint64_t)capacity
                       : first;
  for (uint64_t i = start; i < end; i++) {
    const point_t *p = &ring[i % (uint64_t)capacity];
    lw_buf_printf(out, " %llu:%llu:%llu", (unsigned long long)times[i % (uint64_t)capacity],
                  (unsigned long long)p->bytes, (unsigned long long)p->objects);
  }
  lw_buf_append_byte(out, '\n');
}

static int write_history(lw_buf_t *out, uint64_t old_after_seconds);

int lw__history_write(lw_buf_t *out, uint64_t old_after_seconds) {
  if (!history_try_lock())
    return -1; /* only at exit, which is writing it */
  int result = write_history(out, old_after_seconds);
  history_unlock();
  return result;
}

static int write_history(lw_buf_t *out, uint64_t old_after_seconds) {
  uint64_t now = lw__now_ms();
  lw_buf_printf(out,
                "leakwatch-history 1\npid %d\ninterval_ms %llu\nnow_ms %llu\nrate %llu\n"
                "old_after_ms %llu\nsnapshots %llu\nfirst_snapshot_ms %llu\n"
                "untracked_sites_held_nothing %d\n",
                (int)getpid(), (unsigned long long)lw__options.history_interval_ms,
                (unsigned long long)now, (unsigned long long)lw__options.rate,
                (unsigned long long)old_after_seconds * 1000, (unsigned long long)history.seq,
                (unsigned long long)history.first_snapshot_ms, history.slots_ran_out ? 0 : 1);
  uint64_t began = __atomic_load_n(&exit_began_ms, __ATOMIC_ACQUIRE);
  if (began)
    lw_buf_printf(out, "exit_began_ms %llu\n", (unsigned long long)began);
  if (!history.ready || !history.n_sites) {
    /* No snapshot yet (the first comes one interval after the start, or the attach): an
     * empty history, still ended, which the CLI reads as "nothing judged yet". */
    lw_buf_append_str(out, "end\n");
    return lw_buf_failed(out) ? -1 : 0;
  }
  ages_scan_t scan = {lw__arena_map(history.n_sites * sizeof(ages_t)),
                      now > old_after_seconds * 1000 ? now - old_after_seconds * 1000 : 0};
  if (scan.ages)
    lw__live_for_each(count_age, &scan);
  for (uint32_t i = 0; i < history.n_sites; i++) {
    const site_t *site = &history.sites[i];
    if (site->stack_id == UINT32_MAX)
      continue;
    const lw_stack_t *s = lw__stacks_get(site->stack_id);
    const ages_t *a = scan.ages ? &scan.ages[i] : NULL;
    lw_buf_printf(out, "site %u truncated %d epoch %u live %llu old %llu oldest_ms %llu kind %s",
                  site->stack_id, s->truncated, s->epoch,
                  (unsigned long long)(a ? a->live : 0), (unsigned long long)(a ? a->old : 0),
                  (unsigned long long)(a && a->live ? a->oldest_ms : 0), kind_names[site->kind]);
    if (site->kind == KIND_FDS)
      lw_buf_printf(out, " type %s", lw_fd_type_name((lw_fd_type_t)site->fd_type));
    lw_buf_append_str(out, "\nframes");
    for (uint16_t f = 0; f < s->depth; f++)
      lw_buf_printf(out, " 0x%llx", (unsigned long long)s->frames[f]);
    lw_buf_append_byte(out, '\n');
    append_points(out, "fine", site->fine, history.fine_time_ms, site->first_seq, history.seq,
                  FINE_POINTS);
    append_points(out, "coarse", site->coarse, history.coarse_time_ms, site->first_coarse,
                  history.coarse_seq, COARSE_POINTS);
  }
  lw_buf_append_str(out, "end\n");
  if (scan.ages)
    lw__arena_unmap(scan.ages, history.n_sites * sizeof(ages_t));
  return lw_buf_failed(out) ? -1 : 0;
}

void lw__history_exit_point(void) {
  lw__history_mark_exit(); /* unless the atexit marker or a fatal signal did earlier */
  if (!history_lock_at_exit())
    return;
  take_snapshot();
  history_unlock();
}

/* At exit, for `leakwatch run --leaks`: the history next to the profile. */
void lw__history_write_file(const char *path) {
  lw_buf_t text;
  lw_buf_init(&text, &lw__output_allocator);
  if (!history_lock_at_exit())
    return;
  int written = write_history(&text, lw__options.history_old_after_ms / 1000);
  history_unlock();
  if (written == 0) {
    int result = lw_write_file_atomic(path, text.data, text.len, 0600);
    if (result < 0) {
      char problem[160]; /* a refused symlink or FIFO is named, not "File exists" */
      lw_output_problem(path, result, problem, sizeof problem);
      lw__log("cannot write history '%s': %s", path, problem);
    }
  }
  lw_buf_free(&text);
}
