/*
 * allocator_release.c - asks the allocator behind the agent to return the free memory it
 * holds to the system, the way that allocator understands: malloc_trim(0) for glibc (which
 * also gives back whole free pages inside its arenas, not only the top), an "arena.<all>.
 * purge" mallctl for jemalloc (malloc_trim would reach glibc's unused malloc there and
 * return nothing), MallocExtension_ReleaseFreeMemory for tcmalloc. Measures resident memory
 * before and after. Used by the control command `trim` and by LEAKWATCH_SOFT_LIMIT
 * (soft_limit.c); runs on the agent thread. Entry points found with dlsym, never linked.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "common/fmt.h"
#include "common/procfs.h"

/* jemalloc's MALLCTL_ARENAS_ALL (jemalloc.h, 5.x): the arena index that means every arena. */
#define JEMALLOC_ARENAS_ALL "4096"

uint64_t lw__resident_bytes(void) {
  char text[128];
  ssize_t n = lw_proc_read_path("/proc/self/statm", text, sizeof text - 1);
  if (n <= 0)
    return 0;
  text[n] = '\0';
  const char *p = strchr(text, ' ');
  uint64_t pages = 0;
  for (p = p ? p + 1 : text; *p >= '0' && *p <= '9'; p++)
    pages = pages * 10 + (uint64_t)(*p - '0');
  return pages * (uint64_t)sysconf(_SC_PAGESIZE);
}

static uint64_t monotonic_ns(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

static bool jemalloc_purge(lw_allocator_release_t *out) {
  typedef int (*mallctl_fn)(const char *, void *, size_t *, void *, size_t);
  mallctl_fn mallctl = (mallctl_fn)dlsym(RTLD_DEFAULT, "mallctl");
  lw_fmt(out->method, sizeof out->method, "mallctl(\"arena." JEMALLOC_ARENAS_ALL ".purge\")");
  if (mallctl("arena." JEMALLOC_ARENAS_ALL ".purge", NULL, NULL, NULL, 0) == 0)
    return true;
  /* Before 5.0 the index of "all arenas" was arenas.narenas itself. */
  unsigned arenas = 0;
  size_t size = sizeof arenas;
  if (mallctl("arenas.narenas", &arenas, &size, NULL, 0) != 0)
    return false;
  char name[48];
  lw_fmt(name, sizeof name, "arena.%u.purge", arenas);
  lw_fmt(out->method, sizeof out->method, "mallctl(\"%s\")", name);
  return mallctl(name, NULL, NULL, NULL, 0) == 0;
}

int lw__allocator_release(lw_allocator_release_t *out) {
  memset(out, 0, sizeof out[0]);
  lw_allocator_kind_t kind = lw__allocator_kind();
  out->kind = kind;
  out->rss_before_bytes = lw__resident_bytes();
  uint64_t start = monotonic_ns();
  bool done = false;
  switch (kind) {
  case LW_ALLOCATOR_GLIBC: {
    typedef int (*trim_fn)(size_t);
    trim_fn trim = (trim_fn)dlsym(RTLD_DEFAULT, "malloc_trim");
    lw_fmt(out->method, sizeof out->method, "malloc_trim(0)");
    if (trim) {
      out->released = trim(0) != 0;
      done = true;
    }
    break;
  }
  case LW_ALLOCATOR_JEMALLOC:
    done = jemalloc_purge(out);
    out->released = done;
    break;
  case LW_ALLOCATOR_TCMALLOC: {
    typedef void (*release_fn)(void);
    release_fn release = (release_fn)dlsym(RTLD_DEFAULT, "MallocExtension_ReleaseFreeMemory");
    lw_fmt(out->method, sizeof out->method, "MallocExtension_ReleaseFreeMemory()");
    if (release) {
      release();
      done = out->released = true;
    }
    break;
  }
  case LW_ALLOCATOR_UNKNOWN:
    break;
  }
  out->duration_ns = monotonic_ns() - start;
  out->rss_after_bytes = lw__resident_bytes();
  return done ? 0 : -1;
}
