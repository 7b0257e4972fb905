/*
 * attach.c - libleakwatch-attach.so's entry points: lw_attach_start and lw_attach_stop, which
 * `leakwatch attach` and `detach` make one of a running program's threads call (the
 * interface: docs/INTERNALS.md, "Attach"), and the dlsym hook that finds libraries loaded
 * since.
 *
 * Start reads the options it is given (not the program's environment), starts the agent as
 * the preloaded one's constructor does, points every loaded object's calls at the hooks
 * (attach_got_patch.c) and starts the agent thread. It runs on a thread the injector
 * hijacked, which may be any of the program's and may have been stopped anywhere: it takes
 * no lock an allocating thread holds for long, and leaves heavy work (symbols, maps) to the
 * agent thread, which does it when a profile is asked for. Stop writes back every slot,
 * stops sampling and the agent thread; the library stays mapped (-z nodelete: a call may
 * still be inside a hook). A second start samples again, with the first one's tables
 * (docs/INTERNALS.md says what that keeps).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/attach.h"
#include "common/fmt.h"
#include "common/sampling.h"

enum { MAX_OPTIONS = 64, OPTIONS_TEXT = 16384 };

static pthread_mutex_t attach_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
  bool attached;
  bool started_once;                /* the tables exist: a later attach reuses them */
  char text[OPTIONS_TEXT];          /* a copy of the caller's options */
  char *entries[MAX_OPTIONS + 1];   /* lw__options_source: NULL ended */
  uint64_t random_state;
} attach;

static void say(char *message, unsigned long size, const char *text) {
  if (message && size)
    lw_fmt(message, size, "%s", text);
}

/* Copies "NAME=VALUE\0...\0\0" into attach.entries; false (and why) when malformed. */
static bool read_options(const char *options, char *message, unsigned long size) {
  size_t used = 0;
  int n = 0;
  for (const char *p = options; p && *p; p += strlen(p) + 1) {
    size_t len = strlen(p);
    if (strncmp(p, "LEAKWATCH_", 10) != 0 || !strchr(p, '=')) {
      if (message && size)
        lw_fmt(message, size, "bad option '%.64s': expected LEAKWATCH_NAME=VALUE", p);
      return false;
    }
    if (n == MAX_OPTIONS || used + len + 1 > sizeof attach.text) {
      say(message, size, "too many options");
      return false;
    }
    memcpy(attach.text + used, p, len + 1);
    attach.entries[n++] = attach.text + used;
    used += len + 1;
  }
  attach.entries[n] = NULL;
  return true;
}

/* The preloaded agent (or another copy of this one, loaded globally) exports lw_stats. */
static bool other_agent_loaded(void) {
  void *f = dlsym(RTLD_DEFAULT, "lw_stats");
  if (!f)
    return false;
  Dl_info found, self;
  return !(dladdr(f, &found) && dladdr((const void *)other_agent_loaded, &self) &&
           found.dli_fbase == self.dli_fbase);
}

static uint64_t realtime_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- a second attach: the first one's tables, emptied of what it left live ----------------- */

typedef struct {
  uint64_t *addresses;
  size_t n, capacity;
} live_list_t;

static void collect_live(const lw_live_entry_t *entry, void *context) {
  live_list_t *list = context;
  if (list->n < list->capacity)
    list->addresses[list->n++] = entry->address;
}

/* The blocks the last attach sampled may have been freed while detached (nobody told the
 * agent): none of them belongs to "since this attach". */
static void forget_live(void) {
  live_list_t list = {0};
  list.capacity = lw__live_count() + 1024;
  list.addresses = lw__arena_map(list.capacity * sizeof(uint64_t));
  if (!list.addresses)
    return;
  lw__live_for_each(collect_live, &list);
  for (size_t i = 0; i < list.n; i++) {
    lw_live_entry_t removed;
    bool busy;
    lw__live_remove(list.addresses[i], &removed, true, &busy);
  }
  lw__arena_unmap(list.addresses, list.capacity * sizeof(uint64_t));
}

/* Detached, every thread's countdown was set beyond reach (lw__sampler_reset when not
 * ready): give each a fresh draw, start and countdown together so its byte count holds. */
static void rearm_thread(const lw_thread_state_t *thread, void *context) {
  (void)context;
  lw_thread_state_t *t = (lw_thread_state_t *)thread;
  int64_t next = lw__options.rate <= 1 ? -1 : lw_sample_interval(&attach.random_state,
                                                                  lw__options.rate);
  __atomic_store_n(&t->countdown_start, next, __ATOMIC_RELEASE);
  __atomic_store_n(&t->countdown, next, __ATOMIC_RELEASE);
}

static bool restart(char *message, unsigned long size) {
  lw__options_load();
  if (!lw__options.enabled) {
    say(message, size, "LEAKWATCH_ENABLE=0 was given");
    return false;
  }
  forget_live();
  if (lw__options.rate <= 1) /* exact mode keeps the free filter at "maybe" (live_table.c) */
    memset(lw__free_filter, 255, sizeof lw__free_filter);
  attach.random_state = realtime_ns() | 1;
  lw__thread_for_each(rearm_thread, NULL);
  __atomic_store_n(&lw__agent_state, LW_AGENT_READY, __ATOMIC_RELEASE);
  return true;
}

/* The free filter's pages go back to the system on detach (exact mode sets all 2 MiB of
 * them): the pass-through state reads no filter byte that matters, a stale byte in the
 * partial pages at either end only sends a free through the slow path, and a later attach
 * empties the live table the filter stands for (forget_live). */
static void release_free_filter(void) {
  uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
  uintptr_t start = ((uintptr_t)lw__free_filter + page - 1) & ~(page - 1);
  uintptr_t end = ((uintptr_t)lw__free_filter + sizeof lw__free_filter) & ~(page - 1);
  if (end > start)
    madvise((void *)start, end - start, MADV_DONTNEED);
}

/* ---- entry points -------------------------------------------------------------------------- */

LW_EXPORT int lw_attach_start(const char *options, char *message, unsigned long message_size) {
  int saved_errno = errno;
  lw_thread_state_t *t = &lw__thread;
  int result = 1;
  pthread_mutex_lock(&attach_lock);
  lw__guard_enter(t);
  if (attach.attached || other_agent_loaded()) {
    say(message, message_size, "already running the agent");
    goto out;
  }
  if (!read_options(options, message, message_size))
    goto out;
  lw__options_reset();
  lw__options_source = attach.entries;
  lw__attached_at_ns = realtime_ns();
  if (!attach.started_once) {
    if (!lw__agent_ensure_ready()) {
      say(message, message_size,
          lw__options.enabled ? "the agent could not start (see the program's stderr)"
                              : "LEAKWATCH_ENABLE=0 was given");
      goto out;
    }
    attach.started_once = true;
  } else if (!restart(message, message_size)) {
    goto out;
  }
  if (!lw__agent_begin()) {
    say(message, message_size, "the agent could not start (see the program's stderr)");
    goto out;
  }
  if (lw__got_patch_all(lw__options.track_fds) != 0) {
    __atomic_store_n(&lw__agent_state, LW_AGENT_FAILED, __ATOMIC_RELEASE);
    say(message, message_size, "cannot read the agent's own symbol table");
    goto out;
  }
  lw__agent_thread_start();
  if (lw__options.verbose) {
    lw_got_patch_counts_t counts;
    lw__got_counts(&counts);
    lw__log("attached: %llu calls redirected in %llu objects",
            (unsigned long long)counts.slots, (unsigned long long)counts.objects);
  }
  attach.attached = true;
  result = 0;
out:
  lw__guard_exit(t);
  pthread_mutex_unlock(&attach_lock);
  errno = saved_errno;
  return result;
}

LW_EXPORT int lw_attach_stop(char *message, unsigned long message_size) {
  int saved_errno = errno;
  lw_thread_state_t *t = &lw__thread;
  pthread_mutex_lock(&attach_lock);
  lw__guard_enter(t);
  int result = 1;
  if (!attach.attached) {
    say(message, message_size, "the agent is not attached");
    goto out;
  }
  lw__got_restore_all();
  /* Failed, quietly: a hook still reached (a function pointer taken while attached, a call
   * under way) passes through, and a sampled block freed later goes to the real free. */
  __atomic_store_n(&lw__agent_state, LW_AGENT_FAILED, __ATOMIC_RELEASE);
  lw__agent_thread_stop(); /* closes the socket, the endpoint and the wake-up pipe */
  release_free_filter();
  attach.attached = false;
  lw_got_patch_counts_t counts;
  lw__got_counts(&counts);
  if (lw__options.verbose)
    lw__log("detached: %llu calls restored, %llu left (unloaded or rewritten since)",
            (unsigned long long)counts.restored, (unsigned long long)counts.left);
  result = 0;
out:
  lw__guard_exit(t);
  pthread_mutex_unlock(&attach_lock);
  errno = saved_errno;
  return result;
}

/* ---- libraries loaded after the attach ----------------------------------------------------
 * dlopen itself is not hooked: it searches the caller's RUNPATH and expands $ORIGIN from the
 * caller's address, which a hook in between would change. A program looks up what it loaded
 * with dlsym first, so that is where new objects are patched (the agent thread also checks
 * every second). RTLD_DEFAULT and RTLD_NEXT depend on the caller too: those go straight on
 * (a tail call, so the caller's address is the one dlsym sees). */

typedef void *(*dlsym_fn)(void *, const char *);

static dlsym_fn real_dlsym(void) {
  static dlsym_fn found;
  dlsym_fn f = __atomic_load_n(&found, __ATOMIC_ACQUIRE);
  if (!f) {
    f = (dlsym_fn)lw__real_lookup("dlsym"); /* libc has it: never NULL in practice */
    __atomic_store_n(&found, f, __ATOMIC_RELEASE);
  }
  return f;
}

LW_EXPORT void *dlsym(void *handle, const char *name) {
  if (handle != RTLD_DEFAULT && handle != RTLD_NEXT && attach.attached) {
    int saved_errno = errno;
    lw_thread_state_t *t = &lw__thread;
    lw__guard_enter(t);
    lw__got_patch_new_objects();
    lw__leave_agent(t);
    errno = saved_errno;
  }
  dlsym_fn next = real_dlsym();
  if (LW_UNLIKELY(!next))
    return NULL;
  return next(handle, name);
}
