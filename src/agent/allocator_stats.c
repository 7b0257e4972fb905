/*
 * allocator_stats.c - which allocator serves the program's malloc behind the agent (glibc,
 * jemalloc, tcmalloc) and that allocator's own view of its memory, as JSON for the control
 * command `allocator` (docs/CONTROL.md), which `leakwatch explain` reads.
 *
 * Every allocator entry point is found with dlsym at run time: the agent links no allocator.
 * Runs on the agent thread only, whose guard is up for good, so what these calls allocate
 * inside libc or the allocator (malloc_info's FILE, jemalloc's stats refresh) goes to the
 * real allocator unsampled and is never counted as the program's. glibc's malloc_info and
 * mallinfo2 take each arena's lock in turn, briefly; never call them from a signal handler.
 * Pairs with allocator_release.c (trim and purge) and soft_limit.c.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>

#include "agent/agent.h"
#include "common/fmt.h"
#include "common/json_writer.h"

/* Arenas listed one by one in the reply; beyond this only the totals (a 64-core machine's
 * glibc may have 512 arenas, and the reply stays small). */
enum { MAX_LISTED_ARENAS = 64 };

static int detected_kind = -1;
static char detected_file[256];

/* The object that defines `symbol`, when it is the same object that serves malloc. */
static bool defined_beside_malloc(const char *symbol, const Dl_info *malloc_object) {
  void *address = dlsym(RTLD_DEFAULT, symbol);
  Dl_info where;
  return address && dladdr(address, &where) && where.dli_fbase == malloc_object->dli_fbase;
}

lw_allocator_kind_t lw__allocator_kind(void) {
  int kind = __atomic_load_n(&detected_kind, __ATOMIC_ACQUIRE);
  if (kind >= 0)
    return (lw_allocator_kind_t)kind;
  kind = LW_ALLOCATOR_UNKNOWN;
  Dl_info where;
  if (lw__real.malloc && dladdr((void *)lw__real.malloc, &where) && where.dli_fname) {
    lw_fmt(detected_file, sizeof detected_file, "%s", where.dli_fname);
    /* jemalloc and tcmalloc first: either may be linked into the program itself, and the
     * program's file name says nothing about its allocator. */
    if (defined_beside_malloc("mallctl", &where))
      kind = LW_ALLOCATOR_JEMALLOC;
    else if (defined_beside_malloc("MallocExtension_GetNumericProperty", &where))
      kind = LW_ALLOCATOR_TCMALLOC;
    else if (strstr(where.dli_fname, "libc.so") && defined_beside_malloc("mallinfo2", &where))
      kind = LW_ALLOCATOR_GLIBC;
  }
  __atomic_store_n(&detected_kind, kind, __ATOMIC_RELEASE);
  return (lw_allocator_kind_t)kind;
}

const char *lw__allocator_name(lw_allocator_kind_t kind) {
  switch (kind) {
  case LW_ALLOCATOR_GLIBC:
    return "glibc";
  case LW_ALLOCATOR_JEMALLOC:
    return "jemalloc";
  case LW_ALLOCATOR_TCMALLOC:
    return "tcmalloc";
  case LW_ALLOCATOR_UNKNOWN:
    break;
  }
  return "unknown";
}

/* ---- glibc: mallinfo2 totals, malloc_info per arena ------------------------------------- */

/* malloc_info writes XML to a FILE; a cookie stream hands it to us in pieces, parsed line
 * by line as it comes, so no buffer grows with the number of arenas. Per arena (<heap
 * nr="N">): the free bytes (<total type="fast"/"rest" size=...>) and the memory it holds
 * from the system (<system type="current" size=...>). After the last heap, the process
 * totals, with <total type="mmap"> for blocks mmapped one by one. */
typedef struct {
  char line[512];
  size_t len;
  bool in_heap;
  uint64_t arena_free, arena_system;
  uint64_t n_arenas;
  uint64_t arenas_system, arenas_free;
  uint64_t largest_arena_system;
  lw_buf_t *listed; /* "[{...},...": the first MAX_LISTED_ARENAS arenas */
} malloc_info_reader_t;

/* The number in attribute `name="..."` of an XML line, or 0. */
static uint64_t xml_number(const char *line, const char *name) {
  char key[32];
  lw_fmt(key, sizeof key, "%s=\"", name);
  const char *p = strstr(line, key);
  uint64_t value = 0;
  if (p)
    for (p += strlen(key); *p >= '0' && *p <= '9'; p++)
      value = value * 10 + (uint64_t)(*p - '0');
  return value;
}

static void malloc_info_line(malloc_info_reader_t *r, const char *line) {
  if (strstr(line, "<heap nr=")) {
    r->in_heap = true;
    r->arena_free = r->arena_system = 0;
  } else if (strstr(line, "</heap>")) {
    r->in_heap = false;
    if (r->n_arenas < MAX_LISTED_ARENAS)
      lw_buf_printf(r->listed, "%s{\"system_bytes\":%llu,\"free_bytes\":%llu}",
                    r->n_arenas ? "," : "", (unsigned long long)r->arena_system,
                    (unsigned long long)r->arena_free);
    r->n_arenas++;
    r->arenas_system += r->arena_system;
    r->arenas_free += r->arena_free;
    if (r->arena_system > r->largest_arena_system)
      r->largest_arena_system = r->arena_system;
  } else if (r->in_heap && (strstr(line, "<total type=\"fast\"") ||
                            strstr(line, "<total type=\"rest\""))) {
    r->arena_free += xml_number(line, "size");
  } else if (r->in_heap && strstr(line, "<system type=\"current\"")) {
    r->arena_system = xml_number(line, "size");
  }
}

static ssize_t malloc_info_write(void *cookie, const char *bytes, size_t size) {
  malloc_info_reader_t *r = cookie;
  for (size_t i = 0; i < size; i++) {
    if (bytes[i] == '\n') {
      r->line[r->len] = '\0';
      malloc_info_line(r, r->line);
      r->len = 0;
    } else if (r->len + 1 < sizeof r->line) {
      r->line[r->len++] = bytes[i];
    }
  }
  return (ssize_t)size;
}

static void append_glibc(lw_buf_t *json) {
  typedef struct mallinfo2 (*mallinfo2_fn)(void);
  typedef int (*malloc_info_fn)(int, FILE *);
  mallinfo2_fn info = (mallinfo2_fn)dlsym(RTLD_DEFAULT, "mallinfo2");
  malloc_info_fn per_arena = (malloc_info_fn)dlsym(RTLD_DEFAULT, "malloc_info");
  struct mallinfo2 m = info();
  /* arena_bytes: the main arena's brk heap plus the other arenas' heaps (mallinfo2 sums
   * every arena); free_bytes: free chunks in them; releasable: the main arena's top. */
  lw_buf_printf(json,
                "\"arena_bytes\":%zu,\"mmap_bytes\":%zu,\"mmap_blocks\":%zu,"
                "\"in_use_bytes\":%zu,\"free_bytes\":%zu,\"releasable_bytes\":%zu,"
                "\"free_chunks\":%zu,\"fast_free_bytes\":%zu",
                m.arena, m.hblkhd, m.hblks, m.uordblks, m.fordblks, m.keepcost, m.ordblks,
                m.fsmblks);
  if (!per_arena)
    return;
  lw_buf_t listed;
  lw_buf_init(&listed, &lw__output_allocator);
  malloc_info_reader_t reader;
  memset(&reader, 0, sizeof reader);
  reader.listed = &listed;
  cookie_io_functions_t io = {NULL, malloc_info_write, NULL, NULL};
  FILE *stream = fopencookie(&reader, "w", io);
  if (!stream) {
    lw_buf_free(&listed);
    return;
  }
  char buffer[4096]; /* the stream's buffer: stdio need not allocate one */
  setvbuf(stream, buffer, _IOFBF, sizeof buffer);
  int result = per_arena(0, stream);
  fclose(stream);
  if (result == 0 && reader.n_arenas && !lw_buf_failed(&listed)) {
    lw_buf_printf(json,
                  ",\"arenas\":%llu,\"arenas_system_bytes\":%llu,\"arenas_free_bytes\":%llu,"
                  "\"largest_arena_system_bytes\":%llu,\"arena_list\":[",
                  (unsigned long long)reader.n_arenas,
                  (unsigned long long)reader.arenas_system,
                  (unsigned long long)reader.arenas_free,
                  (unsigned long long)reader.largest_arena_system);
    lw_buf_append(json, listed.data, listed.len);
    lw_buf_append_str(json, "]");
  }
  lw_buf_free(&listed);
}

/* ---- jemalloc: stats.* through mallctl ------------------------------------------------ */

typedef int (*mallctl_fn)(const char *, void *, size_t *, void *, size_t);

static void append_jemalloc(lw_buf_t *json) {
  mallctl_fn mallctl = (mallctl_fn)dlsym(RTLD_DEFAULT, "mallctl");
  /* The stats are a snapshot refreshed by writing "epoch". */
  uint64_t epoch = 1;
  size_t epoch_size = sizeof epoch;
  mallctl("epoch", &epoch, &epoch_size, &epoch, epoch_size);
  static const char *const names[][2] = {
      {"stats.allocated", "in_use_bytes"},  {"stats.active", "active_bytes"},
      {"stats.metadata", "metadata_bytes"}, {"stats.resident", "resident_bytes"},
      {"stats.mapped", "mapped_bytes"},     {"stats.retained", "retained_bytes"},
  };
  bool first = true;
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    size_t value = 0, size = sizeof value;
    if (mallctl(names[i][0], &value, &size, NULL, 0) != 0)
      continue; /* jemalloc built without statistics */
    lw_buf_printf(json, "%s\"%s\":%zu", first ? "" : ",", names[i][1], value);
    first = false;
  }
  unsigned arenas = 0;
  size_t size = sizeof arenas;
  if (mallctl("arenas.narenas", &arenas, &size, NULL, 0) == 0)
    lw_buf_printf(json, "%s\"arenas\":%u", first ? "" : ",", arenas);
  else if (first)
    lw_buf_append_str(json, "\"stats_missing\":true");
}

/* ---- tcmalloc: MallocExtension properties ------------------------------------------- */

static void append_tcmalloc(lw_buf_t *json) {
  typedef int (*property_fn)(const char *, size_t *);
  property_fn property = (property_fn)dlsym(RTLD_DEFAULT, "MallocExtension_GetNumericProperty");
  static const char *const names[][2] = {
      {"generic.current_allocated_bytes", "in_use_bytes"},
      {"generic.heap_size", "heap_bytes"},
      {"tcmalloc.pageheap_free_bytes", "pageheap_free_bytes"},
      {"tcmalloc.pageheap_unmapped_bytes", "pageheap_unmapped_bytes"},
      {"tcmalloc.central_cache_free_bytes", "central_cache_free_bytes"},
      {"tcmalloc.transfer_cache_free_bytes", "transfer_cache_free_bytes"},
      {"tcmalloc.thread_cache_free_bytes", "thread_cache_free_bytes"},
  };
  bool first = true;
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    size_t value = 0;
    if (!property(names[i][0], &value))
      continue;
    lw_buf_printf(json, "%s\"%s\":%zu", first ? "" : ",", names[i][1], value);
    first = false;
  }
  if (first)
    lw_buf_append_str(json, "\"stats_missing\":true");
}

void lw__allocator_write_json(lw_buf_t *json) {
  lw_allocator_kind_t kind = lw__allocator_kind();
  lw_buf_append_str(json, "{\"name\":");
  lw_json_string(json, lw__allocator_name(kind));
  lw_buf_append_str(json, ",\"file\":");
  lw_json_string(json, detected_file);
  lw_buf_append_str(json, ",\"figures\":{");
  if (kind == LW_ALLOCATOR_GLIBC)
    append_glibc(json);
  else if (kind == LW_ALLOCATOR_JEMALLOC)
    append_jemalloc(json);
  else if (kind == LW_ALLOCATOR_TCMALLOC)
    append_tcmalloc(json);
  lw_buf_append_str(json, "},\"soft_limit\":");
  lw__soft_limit_write_json(json);
  lw_buf_append_str(json, "}");
}
