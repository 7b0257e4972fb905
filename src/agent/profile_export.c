/*
 * profile_export.c - turns the stack table into a gzipped pprof heap profile.
 *
 * The profile follows Go's heap profile exactly (FORMATS.md 1.4, 6): sample types
 * alloc_objects/count, alloc_space/bytes, inuse_objects/count, inuse_space/bytes; period_type
 * space/bytes with the sampling rate as period; values already scaled to estimates; a
 * numeric "bytes" label with the average object size; locations at call sites (return
 * address - 1) with mappings carrying build IDs and file offsets. Functions get ELF symbol
 * names (demangled when the process has libstdc++), so `go tool pprof` shows names even
 * without DWARF; `leakwatch run` adds file:line and inline frames afterwards.
 *
 * In-use values come from the per-stack counters, not from a walk of the live table, so
 * taking a profile never blocks allocating threads. One export runs at a time (export_lock);
 * all its memory is scratch memory returned at the end. fork() does not take export_lock:
 * a host that forks while a client pulls a big profile must not wait for it (issue 13). The
 * child, where the exporting thread does not exist, gets a fresh lock and none of the
 * scratch or reply memory (arena.c unmaps it); the table locks an export takes are each
 * held briefly.
 *
 * Replies are memory the host pays for until the client takes them: the output allocator
 * counts what its blocks hold, and lw__reply_budget() says how much they may hold at once
 * (export_reply.h).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h> /* free() for __cxa_demangle results */
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/export_reply.h"
#include "agent/maps_reader.h"
#include "common/file.h"
#include "common/fmt.h"
#include "common/gzip.h"
#include "common/procfs.h"
#include "common/profile.h"

static pthread_mutex_t export_lock = PTHREAD_MUTEX_INITIALIZER;
/* Held around the export's calls into the dynamic loader (dl_iterate_phdr, dlsym), which
 * take the loader's own locks: fork waits for these short calls, so a child never inherits
 * a loader lock held by an exporting thread it does not have. */
static pthread_mutex_t loader_lock = PTHREAD_MUTEX_INITIALIZER;

static int collect_mappings(lw_object_mapping_t **mappings, size_t *n) {
  pthread_mutex_lock(&loader_lock);
  int result = lw__mappings_collect(mappings, n);
  pthread_mutex_unlock(&loader_lock);
  return result;
}

typedef char *(*demangle_fn)(const char *, char *, size_t *, int *);

/* __cxa_demangle, looked up at start-up (lw__demangler_resolve): a lookup that fails (a C
 * program) allocates in glibc, and at exit from a signal handler that interrupted malloc
 * that would wait forever for the lock below the handler. Live exports look again while
 * none is known (a dlopen may have brought the C++ runtime); the exit never looks, and
 * after exit from a signal handler nothing is demangled at all: __cxa_demangle allocates
 * too (the CLI demangles when it symbolizes). */
enum { DEMANGLE_LIVE, DEMANGLE_EXIT, DEMANGLE_OFF };
static demangle_fn demangler;
static int demangle_mode;

void lw__demangler_resolve(void) {
  pthread_mutex_lock(&loader_lock);
  demangle_fn fn = (demangle_fn)dlsym(RTLD_DEFAULT, "__cxa_demangle");
  if (!fn)
    (void)dlerror(); /* leave no failed lookup of ours for the program's dlerror() */
  pthread_mutex_unlock(&loader_lock);
  __atomic_store_n(&demangler, fn, __ATOMIC_RELEASE);
}

void lw__demangler_exit(bool from_signal_handler) {
  __atomic_store_n(&demangle_mode, from_signal_handler ? DEMANGLE_OFF : DEMANGLE_EXIT,
                   __ATOMIC_RELEASE);
}

static demangle_fn find_demangler(void) {
  int mode = __atomic_load_n(&demangle_mode, __ATOMIC_ACQUIRE);
  if (mode == DEMANGLE_OFF)
    return NULL;
  if (mode == DEMANGLE_LIVE && !__atomic_load_n(&demangler, __ATOMIC_ACQUIRE))
    lw__demangler_resolve();
  return __atomic_load_n(&demangler, __ATOMIC_ACQUIRE);
}

typedef struct {
  lw_profile_t profile;
  lw_object_mapping_t *mappings;
  size_t n_mappings;
  uint64_t *mapping_ids;        /* per mapping: profile mapping id, 0 until referenced */
  lw_elf_symbols_t **symbols;   /* per mapping, opened on first use */
  bool *symbols_tried;
  bool *mapping_unnamed;        /* per mapping: some location got no name */
  /* (address, mapping) -> location id, open addressing */
  uint64_t *location_keys;
  uint32_t *location_mapping;
  uint64_t *location_ids;
  size_t location_capacity;
  size_t n_locations;
  /* function name string index -> function id */
  int64_t *function_names;
  uint64_t *function_ids;
  size_t function_capacity;
  size_t n_functions;
  demangle_fn demangle;
  uint64_t truncated_location;
  uint64_t overflow_location;
  const lw_export_options_t *options;
  lw_stack_counters_t *counters; /* per stack id, as of this export (heap profiles) */
  uint32_t counters_count;
  lw_stack_counters_t *since; /* per stack id: live allocations made since options->since_ms */
  uint32_t since_count;
} exporter_t;

static bool grow_locations(exporter_t *x);
static bool grow_functions(exporter_t *x);

static uint64_t mix(uint64_t key) {
  key ^= key >> 33;
  key *= 0xff51afd7ed558ccdULL;
  key ^= key >> 33;
  return key;
}

/* Function id for a name (interned, demangled when possible). */
static uint64_t function_for(exporter_t *x, const char *symbol) {
  int64_t system_name = lw_profile_string(&x->profile, symbol);
  if (x->n_functions * 2 >= x->function_capacity && !grow_functions(x))
    return 0;
  size_t slot = mix((uint64_t)system_name) & (x->function_capacity - 1);
  while (x->function_names[slot] >= 0) {
    if (x->function_names[slot] == system_name)
      return x->function_ids[slot];
    slot = (slot + 1) & (x->function_capacity - 1);
  }
  int64_t name = system_name;
  if (x->demangle && symbol[0] == '_' && symbol[1] == 'Z') {
    int status = -1;
    char *pretty = x->demangle(symbol, NULL, NULL, &status);
    if (pretty && status == 0)
      name = lw_profile_string(&x->profile, pretty);
    free(pretty); /* __cxa_demangle allocates with malloc; the guard keeps it untracked */
  }
  uint64_t id = lw_profile_add_function(&x->profile, name, system_name, 0, 0);
  x->function_names[slot] = system_name;
  x->function_ids[slot] = id;
  x->n_functions++;
  return id;
}

static bool grow_functions(exporter_t *x) {
  size_t old_capacity = x->function_capacity;
  int64_t *old_names = x->function_names;
  uint64_t *old_ids = x->function_ids;
  size_t capacity = old_capacity ? old_capacity * 2 : 1024;
  x->function_names = lw_alloc(&lw__scratch_allocator, capacity * sizeof(int64_t));
  x->function_ids = lw_alloc(&lw__scratch_allocator, capacity * sizeof(uint64_t));
  if (!x->function_names || !x->function_ids)
    return false;
  memset(x->function_names, 0xff, capacity * sizeof(int64_t)); /* -1 = empty */
  x->function_capacity = capacity;
  for (size_t i = 0; i < old_capacity; i++) {
    if (old_names[i] < 0)
      continue;
    size_t slot = mix((uint64_t)old_names[i]) & (capacity - 1);
    while (x->function_names[slot] >= 0)
      slot = (slot + 1) & (capacity - 1);
    x->function_names[slot] = old_names[i];
    x->function_ids[slot] = old_ids[i];
  }
  return true;
}

static uint64_t mapping_id_for(exporter_t *x, size_t index) {
  if (!x->mapping_ids[index]) {
    const lw_object_mapping_t *m = &x->mappings[index];
    lw_profile_mapping_t pm;
    memset(&pm, 0, sizeof pm);
    pm.memory_start = m->start;
    pm.memory_limit = m->limit;
    pm.file_offset = m->file_offset;
    pm.filename = lw_profile_string(&x->profile, m->path);
    pm.build_id = lw_profile_string(&x->profile, m->build_id);
    x->mapping_ids[index] = lw_profile_add_mapping(&x->profile, &pm);
  }
  return x->mapping_ids[index];
}

static uint64_t pseudo_location(exporter_t *x, const char *name) {
  lw_profile_line_t line = {function_for(x, name), 0, 0};
  return lw_profile_add_location(&x->profile, 0, 0, &line, 1);
}

static uint64_t location_for(exporter_t *x, uint64_t address, uint32_t epoch) {
  const lw_object_mapping_t *m = lw__mappings_find(x->mappings, x->n_mappings, address, epoch);
  uint32_t mapping_index = m ? (uint32_t)(m - x->mappings) : UINT32_MAX;
  if (x->n_locations * 2 >= x->location_capacity && !grow_locations(x))
    return 0;
  size_t slot = mix(address ^ ((uint64_t)mapping_index << 47)) & (x->location_capacity - 1);
  while (x->location_ids[slot]) {
    if (x->location_keys[slot] == address && x->location_mapping[slot] == mapping_index)
      return x->location_ids[slot];
    slot = (slot + 1) & (x->location_capacity - 1);
  }
  uint64_t mapping_id = 0;
  lw_profile_line_t line = {0, 0, 0};
  if (m) {
    mapping_id = mapping_id_for(x, mapping_index);
    if (!x->symbols_tried[mapping_index]) {
      x->symbols_tried[mapping_index] = true;
      x->symbols[mapping_index] = lw__elf_symbols_open(m->path, m->build_id);
    }
    const char *name = lw__elf_symbols_lookup(x->symbols[mapping_index], m, address);
    if (name)
      line.function_id = function_for(x, name);
    else
      x->mapping_unnamed[mapping_index] = true;
  }
  uint64_t id = lw_profile_add_location(&x->profile, mapping_id, address, &line,
                                        line.function_id ? 1 : 0);
  x->location_keys[slot] = address;
  x->location_mapping[slot] = mapping_index;
  x->location_ids[slot] = id;
  x->n_locations++;
  return id;
}

static bool grow_locations(exporter_t *x) {
  size_t old_capacity = x->location_capacity;
  uint64_t *old_keys = x->location_keys, *old_ids = x->location_ids;
  uint32_t *old_mapping = x->location_mapping;
  size_t capacity = old_capacity ? old_capacity * 2 : 4096;
  x->location_keys = lw_alloc(&lw__scratch_allocator, capacity * sizeof(uint64_t));
  x->location_ids = lw_alloc(&lw__scratch_allocator, capacity * sizeof(uint64_t));
  x->location_mapping = lw_alloc(&lw__scratch_allocator, capacity * sizeof(uint32_t));
  if (!x->location_keys || !x->location_ids || !x->location_mapping)
    return false;
  memset(x->location_ids, 0, capacity * sizeof(uint64_t));
  x->location_capacity = capacity;
  for (size_t i = 0; i < old_capacity; i++) {
    if (!old_ids[i])
      continue;
    size_t slot = mix(old_keys[i] ^ ((uint64_t)old_mapping[i] << 47)) & (capacity - 1);
    while (x->location_ids[slot])
      slot = (slot + 1) & (capacity - 1);
    x->location_keys[slot] = old_keys[i];
    x->location_mapping[slot] = old_mapping[i];
    x->location_ids[slot] = old_ids[i];
  }
  return true;
}

/* The four values of a stack's sample under the export's options. */
static void stack_values(const exporter_t *x, const lw_stack_t *s, int64_t values[4]) {
  const lw_stack_counters_t *c = &x->counters[s->id];
  const lw_export_options_t *o = x->options;
  values[0] = (int64_t)lw__stack_objects(c, false);
  values[1] = (int64_t)(c->alloc_bytes_fp / 256);
  values[2] = (int64_t)lw__stack_objects(c, true);
  values[3] = (int64_t)(c->inuse_bytes_fp / 256);
  if (o->base && s->id < o->base_count) {
    const lw_stack_counters_t *b = &o->base[s->id];
    values[0] -= (int64_t)lw__stack_objects(b, false);
    values[1] -= (int64_t)(b->alloc_bytes_fp / 256);
    if (o->subtract_inuse) {
      values[2] -= (int64_t)lw__stack_objects(b, true);
      values[3] -= (int64_t)(b->inuse_bytes_fp / 256);
    }
  }
  if (o->inuse_since) {
    const lw_stack_counters_t *w = s->id < x->since_count ? &x->since[s->id] : NULL;
    values[2] = w ? (int64_t)lw__stack_objects(w, true) : 0;
    values[3] = w ? (int64_t)(w->inuse_bytes_fp / 256) : 0;
  }
}

static void emit_sample(exporter_t *x, const lw_stack_t *s, const int64_t values[4],
                        const char *reachability);
static void emit_counted(exporter_t *x, const lw_stack_t *s, int64_t count, const char *key,
                         const char *value);

static void add_stack_sample(exporter_t *x, const lw_stack_t *s) {
  if (s->id >= x->counters_count || !x->counters[s->id].alloc_samples)
    return;
  int64_t values[4];
  stack_values(x, s, values);
  const lw_export_options_t *o = x->options;
  if (o->reach && s->id < o->reach_count) {
    /* One sample per reachability class that holds memory; the allocation values go with
     * the first, so every column still sums to the site's totals. */
    static const char *const names[LW_REACH_KINDS] = {"definitely_lost", "indirectly_lost",
                                                      "still_reachable"};
    const lw_reach_counts_t *r = &o->reach[s->id];
    bool first = true;
    for (int k = 0; k < LW_REACH_KINDS; k++) {
      if (!r->objects[k])
        continue;
      int64_t split[4] = {first ? values[0] : 0, first ? values[1] : 0, (int64_t)r->objects[k],
                          (int64_t)r->bytes[k]};
      emit_sample(x, s, split, names[k]);
      first = false;
    }
    if (first) {
      values[2] = values[3] = 0;
      emit_sample(x, s, values, NULL);
    }
    return;
  }
  emit_sample(x, s, values, NULL);
}

/* The location ids of a stack, leaf first, with the pseudo frames that explain gaps. */
static size_t stack_locations(exporter_t *x, const lw_stack_t *s, uint64_t *locations) {
  size_t n = 0;
  if (s->id == LW_STACK_OVERFLOW_ID) {
    if (!x->overflow_location)
      x->overflow_location = pseudo_location(x, "[stack table full]");
    locations[n++] = x->overflow_location;
    return n;
  }
  for (uint16_t i = 0; i < s->depth; i++) {
    uint64_t id = location_for(x, s->frames[i], s->epoch);
    if (id)
      locations[n++] = id;
  }
  if (s->truncated) {
    if (!x->truncated_location)
      x->truncated_location = pseudo_location(x, "[truncated stack]");
    locations[n++] = x->truncated_location;
  }
  return n;
}

/* A count profile's sample (fds, threadcreate): one value, an optional string label. */
static void emit_counted(exporter_t *x, const lw_stack_t *s, int64_t count, const char *key,
                         const char *value) {
  uint64_t locations[LW_MAX_DEPTH + 1];
  size_t n = stack_locations(x, s, locations);
  lw_profile_label_t label = {lw_profile_string(&x->profile, key ? key : ""),
                              lw_profile_string(&x->profile, value ? value : ""), 0, 0};
  lw_profile_add_sample(&x->profile, locations, n, &count, 1, &label, key ? 1 : 0);
}

static void emit_sample(exporter_t *x, const lw_stack_t *s, const int64_t values[4],
                        const char *reachability) {
  if (x->options->base && !values[0] && !values[1] && !values[2] && !values[3])
    return; /* nothing happened at this site during the window */
  uint64_t locations[LW_MAX_DEPTH + 1];
  size_t n = stack_locations(x, s, locations);
  lw_profile_label_t labels[2];
  size_t n_labels = 0;
  if (values[0])
    labels[n_labels++] = (lw_profile_label_t){lw_profile_string(&x->profile, "bytes"), 0,
                                              values[1] / values[0], 0};
  if (reachability)
    labels[n_labels++] = (lw_profile_label_t){lw_profile_string(&x->profile, "reachability"),
                                              lw_profile_string(&x->profile, reachability), 0, 0};
  lw_profile_add_sample(&x->profile, locations, n, values, 4, labels, n_labels);
}

/* Weights of live allocations made since options->since_ms, summed per stack. */
static void add_if_since(const lw_live_entry_t *entry, void *context) {
  exporter_t *x = context;
  if (entry->time_ms < x->options->since_ms || entry->stack_id >= x->since_count)
    return;
  lw_stack_counters_t *w = &x->since[entry->stack_id];
  w->inuse_samples++;
  uint64_t objects_fp, bytes_fp;
  lw__record_weights(entry->size, &objects_fp, &bytes_fp);
  w->inuse_objects_fp += objects_fp;
  w->inuse_bytes_fp += bytes_fp;
}

/* ---- count profiles: live descriptors and live threads, by creating stack ---------------- */

typedef struct {
  int64_t *counts; /* [stack id][kind] */
  uint32_t stacks;
  int kinds;
} count_table_t;

static void count_fd(int fd, uint32_t stack_id, int kind, void *context) {
  (void)fd;
  count_table_t *c = context;
  if (stack_id < c->stacks && kind >= 0 && kind < c->kinds)
    c->counts[(size_t)stack_id * (size_t)c->kinds + (size_t)kind]++;
}

static void count_thread(const lw_thread_state_t *t, void *context) {
  count_table_t *c = context;
  if (t->created_stack && t->created_stack - 1 < c->stacks)
    c->counts[t->created_stack - 1]++;
}

static int add_count_samples(exporter_t *x, uint32_t stacks) {
  bool fds = x->options->kind == LW_EXPORT_FDS;
  count_table_t c = {NULL, stacks, fds ? LW_FD_TYPE_COUNT : 1};
  size_t cells = (size_t)(stacks ? stacks : 1) * (size_t)c.kinds;
  c.counts = lw_alloc(&lw__scratch_allocator, cells * sizeof *c.counts);
  if (!c.counts)
    return -1;
  memset(c.counts, 0, cells * sizeof *c.counts);
  if (fds)
    lw__fd_for_each(count_fd, &c);
  else
    lw__thread_for_each(count_thread, &c);
  for (uint32_t id = 0; id < stacks; id++)
    for (int k = 0; k < c.kinds; k++) {
      int64_t n = c.counts[(size_t)id * (size_t)c.kinds + (size_t)k];
      if (n)
        emit_counted(x, lw__stacks_get(id), n, fds ? "type" : NULL,
                     fds ? lw_fd_type_name((lw_fd_type_t)k) : NULL);
    }
  return 0;
}

static int build_profile(exporter_t *x) {
  lw_profile_t *p = &x->profile;
  lw_profile_init(p, &lw__scratch_allocator);
  lw_export_kind_t kind = x->options->kind;
  if (kind == LW_EXPORT_HEAP) {
    lw_profile_set_heap_layout(p, (int64_t)lw__options.rate);
  } else {
    /* Exact counts of what is live now: Go's threadcreate layout, and the same for fds. */
    const char *type = kind == LW_EXPORT_FDS ? "fds" : "threadcreate";
    lw_profile_add_sample_type(p, type, "count");
    p->period_type.type = lw_profile_string(p, type);
    p->period_type.unit = lw_profile_string(p, "count");
    p->period = 1;
  }
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  p->time_nanos = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
  p->duration_nanos = x->options->duration_nanos;
  if (x->options->alloc_default)
    p->default_sample_type = lw_profile_string(p, "alloc_space");
  char comment[128];
  if (kind == LW_EXPORT_HEAP)
    lw_fmt(comment, sizeof comment, "leakwatch agent, pid %d, sampling every %llu bytes",
           (int)getpid(), (unsigned long long)lw__options.rate);
  else
    lw_fmt(comment, sizeof comment, "leakwatch agent, pid %d, live %s by creating stack",
           (int)getpid(), kind == LW_EXPORT_FDS ? "file descriptors" : "threads");
  lw_profile_add_comment(p, comment);
  /* An attached agent saw nothing before the attach: the profile says so (the CLI shows
   * it), and time_nanos stays the time of collection, as pprof means it. */
  lw__attach_note(comment, sizeof comment);
  if (comment[0])
    lw_profile_add_comment(p, comment);

  if (collect_mappings(&x->mappings, &x->n_mappings) < 0)
    return -1;
  size_t n = x->n_mappings ? x->n_mappings : 1;
  x->mapping_ids = lw_alloc(&lw__scratch_allocator, n * sizeof(uint64_t));
  x->symbols = lw_alloc(&lw__scratch_allocator, n * sizeof(lw_elf_symbols_t *));
  x->symbols_tried = lw_alloc(&lw__scratch_allocator, n * sizeof(bool));
  x->mapping_unnamed = lw_alloc(&lw__scratch_allocator, n * sizeof(bool));
  if (!x->mapping_ids || !x->symbols || !x->symbols_tried || !x->mapping_unnamed ||
      !grow_locations(x) || !grow_functions(x))
    return -1;
  memset(x->mapping_ids, 0, n * sizeof(uint64_t));
  memset(x->symbols_tried, 0, n * sizeof(bool));
  memset(x->mapping_unnamed, 0, n * sizeof(bool));
  /* Every current executable mapping, in /proc/self/maps order (the main binary first),
   * as Go does; retired ones only when a stack refers to them. */
  for (size_t i = 0; i < x->n_mappings; i++)
    if (x->mappings[i].unload_epoch == UINT32_MAX)
      mapping_id_for(x, i);
  x->demangle = find_demangler();

  uint32_t count = lw__stacks_count();
  if (x->options->inuse_since) {
    x->since_count = count;
    x->since = lw_alloc(&lw__scratch_allocator, (count ? count : 1) * sizeof *x->since);
    if (!x->since)
      return -1;
    memset(x->since, 0, (count ? count : 1) * sizeof *x->since);
    lw__live_for_each(add_if_since, x);
  }
  if (kind != LW_EXPORT_HEAP) {
    if (add_count_samples(x, count) < 0)
      return -1;
  } else {
    x->counters_count = count;
    x->counters = lw_alloc(&lw__scratch_allocator, (count ? count : 1) * sizeof *x->counters);
    if (!x->counters)
      return -1;
    lw__stack_counters_fill(x->counters, count);
    for (uint32_t id = 0; id < count; id++) {
      const lw_stack_t *s = lw__stacks_get(id);
      if (s)
        add_stack_sample(x, s);
    }
  }
  /* A mapping whose every location has a name tells pprof not to symbolize it again. */
  for (size_t i = 0; i < x->n_mappings; i++) {
    if (x->mapping_ids[i] && x->symbols[i] && !x->mapping_unnamed[i])
      p->mappings[x->mapping_ids[i] - 1].has_functions = true;
    lw__elf_symbols_close(x->symbols[i]);
  }
  return p->failed ? -1 : 0;
}

static int export_with(const lw_export_options_t *options, size_t text_limit,
                       lw_export_sink_fn sink, void *context);

/* ---- text forms --------------------------------------------------------------------- */

/* The first function name of a location, or "". */
static const char *location_name(const lw_profile_t *p, const lw_profile_location_t *l) {
  if (!l || !l->n_lines)
    return "";
  const lw_profile_function_t *f = lw_profile_function(p, lw_location_lines(p, l)[0].function_id);
  return f ? lw_profile_str(p, f->name) : "";
}

static bool copy_maps_line(const lw_maps_line_t *line, void *context) {
  lw_buf_t *out = context;
  lw_buf_printf(out, "%llx-%llx %c%c%cp %08llx 00:00 0 %s\n", (unsigned long long)line->start,
                (unsigned long long)line->end, line->readable ? 'r' : '-',
                line->writable ? 'w' : '-', line->executable ? 'x' : '-',
                (unsigned long long)line->offset, line->path);
  return true;
}

/* The value samples are ordered by in the text form (Go's order: in-use bytes, or the
 * count, largest first). */
static int64_t text_key(const lw_profile_t *p, uint32_t sample, bool counts) {
  const lw_profile_sample_t *s = &p->samples[sample];
  uint32_t v = counts ? 0 : 3;
  return v < s->n_values ? lw_sample_values(p, s)[v] : 0;
}

/* Heapsort of sample indices by text_key, largest first (no qsort: glibc's may malloc). */
static void sift_down(const lw_profile_t *p, uint32_t *order, size_t root, size_t n, bool counts) {
  for (;;) {
    size_t child = 2 * root + 1;
    if (child >= n)
      return;
    if (child + 1 < n && text_key(p, order[child + 1], counts) < text_key(p, order[child], counts))
      child++;
    if (text_key(p, order[root], counts) <= text_key(p, order[child], counts))
      return;
    uint32_t t = order[root];
    order[root] = order[child];
    order[child] = t;
    root = child;
  }
}
static void sort_largest_first(const lw_profile_t *p, uint32_t *order, size_t n, bool counts) {
  for (size_t i = n / 2; i-- > 0;)
    sift_down(p, order, i, n, counts);
  for (size_t end = n; end > 1; end--) { /* a min-heap: the smallest goes to the back */
    uint32_t t = order[0];
    order[0] = order[end - 1];
    order[end - 1] = t;
    sift_down(p, order, 0, end - 1, counts);
  }
}

/* Renders the built profile like gperftools' heap profile (kind "heapprofile": values are
 * already estimates, so pprof must not scale them again), with Go's "#" naming lines.
 * Samples come largest first, as Go writes them; with a limit, the samples that do not fit
 * are left out and a "#" line (a comment to pprof's parser) says how many are shown. */
static void render_text(const exporter_t *x, lw_buf_t *out, size_t limit) {
  const lw_profile_t *p = &x->profile;
  int64_t totals[4] = {0, 0, 0, 0};
  for (size_t i = 0; i < p->n_samples; i++)
    for (uint32_t v = 0; v < p->samples[i].n_values && v < 4; v++)
      totals[v] += lw_sample_values(p, &p->samples[i])[v];
  bool counts = x->options->kind != LW_EXPORT_HEAP;
  uint32_t *order = lw_alloc(&lw__scratch_allocator, (p->n_samples ? p->n_samples : 1) * 4);
  if (!order) {
    out->failed = true;
    return;
  }
  for (size_t i = 0; i < p->n_samples; i++)
    order[i] = (uint32_t)i;
  sort_largest_first(p, order, p->n_samples, counts);
  if (counts) /* Go's count profiles: "threadcreate profile: total N", "N @ pc pc ..." */
    lw_buf_printf(out, "%s profile: total %lld\n",
                  x->options->kind == LW_EXPORT_FDS ? "fd" : "threadcreate", (long long)totals[0]);
  else
    lw_buf_printf(out, "heap profile: %lld: %lld [%lld: %lld] @ heapprofile\n",
                  (long long)totals[2], (long long)totals[3], (long long)totals[0],
                  (long long)totals[1]);
  size_t shown = 0;
  for (; shown < p->n_samples; shown++) {
    size_t before = out->len;
    const lw_profile_sample_t *s = &p->samples[order[shown]];
    const int64_t *v = lw_sample_values(p, s);
    if (counts)
      lw_buf_printf(out, "%lld @", (long long)v[0]);
    else
      lw_buf_printf(out, "%lld: %lld [%lld: %lld] @", (long long)v[2], (long long)v[3],
                    (long long)v[0], (long long)v[1]);
    /* The legacy parser subtracts 1 from each address: write return addresses. */
    for (uint32_t j = 0; j < s->n_locations; j++) {
      const lw_profile_location_t *l = lw_profile_location(p, lw_sample_locations(p, s)[j]);
      if (l && l->address)
        lw_buf_printf(out, " 0x%llx", (unsigned long long)(l->address + 1));
    }
    lw_buf_append_byte(out, '\n');
    for (uint32_t j = 0; j < s->n_locations; j++) {
      const lw_profile_location_t *l = lw_profile_location(p, lw_sample_locations(p, s)[j]);
      if (l && l->address)
        lw_buf_printf(out, "#\t0x%llx\t%s\n", (unsigned long long)l->address,
                      location_name(p, l));
    }
    lw_buf_append_byte(out, '\n');
    if (limit && out->len > limit) {
      out->len = before;
      break;
    }
  }
  if (shown < p->n_samples)
    lw_buf_printf(out,
                  "# leakwatch: the %zu largest of %zu samples; the rest did not fit in the "
                  "%zu bytes this reply may take (the gzipped profile, without debug=1, has "
                  "them all)\n\n",
                  shown, p->n_samples, limit);
  if (counts)
    return; /* Go's count profiles end here */
  lw_buf_append_str(out, "MAPPED_LIBRARIES:\n");
  lw__maps_for_each(copy_maps_line, out);
}

typedef struct {
  const lw_allocator_t *allocator;
  uint8_t **out;
  size_t *len;
  uint64_t own_held; /* reply memory the reply replaces: its window's snapshot */
} copy_out_t;

/* Sink of lw__export_profile_bytes: one exact-size copy out of the scratch memory. A reply
 * (the output allocator) that would take more than what is left of the reply budget is
 * refused, unless nothing else is held: a profile can always be had, one at a time. A
 * window's base is its snapshot, itself reply memory (record.c) released right after this
 * reply is made: a window let in alone is not refused at its end for its own snapshot. */
static int copy_out(const uint8_t *bytes, size_t len, void *context) {
  copy_out_t *c = context;
  if (c->allocator == &lw__output_allocator) {
    uint64_t held = lw__reply_held(), budget = lw__reply_budget();
    held = held > c->own_held ? held - c->own_held : 0;
    if (held && held + len > budget) {
      lw__reply_refused_note();
      return -EBUSY;
    }
  }
  uint8_t *copy = lw_alloc(c->allocator, len ? len : 1);
  if (!copy)
    return -ENOMEM;
  memcpy(copy, bytes, len);
  *c->out = copy;
  *c->len = len;
  return 0;
}

int lw__export_profile_bytes(const lw_export_options_t *options, const lw_allocator_t *allocator,
                             uint8_t **out, size_t *len) {
  copy_out_t c = {allocator, out, len, 0};
  if (options && options->base)
    c.own_held = (uint64_t)(options->base_count ? options->base_count : 1) *
                 sizeof(lw_stack_counters_t) + 16;
  return export_with(options, 0, copy_out, &c);
}

static int append_text(const uint8_t *bytes, size_t len, void *context) {
  lw_buf_append(context, bytes, len);
  return lw_buf_failed(context) ? -ENOMEM : 0;
}

int lw__export_profile_text(const lw_export_options_t *options, lw_buf_t *out) {
  return export_with(options, SIZE_MAX, append_text, out);
}

int lw__export_profile_into(const lw_export_options_t *options, size_t text_limit,
                            lw_export_sink_fn sink, void *context) {
  return export_with(options, text_limit, sink, context);
}

/* Builds the profile in scratch memory, gzipped (text_limit 0) or as text of at most about
 * text_limit bytes (SIZE_MAX: no limit), and hands it to sink before the scratch memory is
 * returned. Scratch memory is the one export's (export_lock), so a reply costs the host at
 * most one copy beyond it. */
static int export_with(const lw_export_options_t *options, size_t text_limit,
                       lw_export_sink_fn sink, void *context) {
  static const lw_export_options_t plain;
  lw_thread_state_t *t = &lw__thread;
  lw__guard_enter(t);
  pthread_mutex_lock(&export_lock);
  exporter_t x;
  memset(&x, 0, sizeof x);
  x.options = options ? options : &plain;
  int result = -ENOMEM;
  lw_buf_t raw, out;
  lw_buf_init(&raw, &lw__scratch_allocator);
  lw_buf_init(&out, &lw__scratch_allocator);
  if (build_profile(&x) == 0) {
    bool text = text_limit != 0;
    if (text)
      render_text(&x, &out, text_limit == SIZE_MAX ? 0 : text_limit);
    else if (lw_profile_encode(&x.profile, &raw) != 0 ||
             lw_gzip_compress(raw.data, raw.len, &out, 1) != 0)
      out.failed = true;
    if (!lw_buf_failed(&out))
      result = sink(out.data, out.len, context);
  }
  lw__scratch_release_all();
  pthread_mutex_unlock(&export_lock);
  lw__guard_exit(t);
  return result;
}

/* ---- output memory: blocks that survive lw__scratch_release_all ------------------------- */

/* Bytes held by lw__output_allocator's blocks: replies waiting for their clients, and
 * their bodies being built (the agent thread's). Files written at exit or by
 * lw_write_profile use file_allocator, which is not counted. */
static uint64_t output_held;

/* Each block is its own mapping held for a client (arena.c) with a 16-byte header (its mapped
 * size). In a fork child every one of them is unmapped (lw__export_postfork_child): a reply
 * being sent belongs to the parent's client, and the child must neither pay for it nor
 * send it; the child's agent thread drops its inherited connections without releasing
 * their buffers. */
static void *map_alloc(void *context, size_t size) {
  size_t *block = lw__arena_map_held(size + 16);
  if (!block)
    return NULL;
  block[0] = size + 16;
  if (context)
    __atomic_add_fetch((uint64_t *)context, size + 16, __ATOMIC_RELAXED);
  return block + 2;
}
static void map_release(void *context, void *p, size_t size) {
  (void)size;
  if (!p)
    return;
  size_t *block = (size_t *)p - 2;
  if (context)
    __atomic_sub_fetch((uint64_t *)context, block[0], __ATOMIC_RELAXED);
  lw__arena_unmap_held(block, block[0]);
}
static void *map_resize(void *context, void *p, size_t old_size, size_t new_size) {
  void *grown = map_alloc(context, new_size);
  if (grown && p) {
    memcpy(grown, p, old_size < new_size ? old_size : new_size);
    map_release(context, p, old_size);
  }
  return grown;
}
const lw_allocator_t lw__output_allocator = {map_alloc, map_resize, map_release, &output_held};
static const lw_allocator_t file_allocator = {map_alloc, map_resize, map_release, NULL};
const lw_allocator_t *const lw__transient_allocator = &file_allocator;

uint64_t lw__reply_held(void) { return __atomic_load_n(&output_held, __ATOMIC_RELAXED); }

static uint64_t replies_refused;
uint64_t lw__reply_refused(void) { return __atomic_load_n(&replies_refused, __ATOMIC_RELAXED); }
void lw__reply_refused_note(void) { __atomic_add_fetch(&replies_refused, 1, __ATOMIC_RELAXED); }

/* The smaller of LEAKWATCH_REPLY_MEMORY and half the process's resident memory without the
 * replies (but at least 8 MiB): the replies of any number of clients cost a small process
 * little, a big one at most the option's 64 MiB. */
uint64_t lw__reply_budget(void) {
  enum { FLOOR = 8 << 20 };
  uint64_t limit = lw__options.reply_memory;
  char text[256];
  ssize_t n = lw_proc_read_path("/proc/self/statm", text, sizeof text - 1);
  lw_proc_statm_t statm;
  uint64_t half = FLOOR;
  if (n > 0 && lw_procfs_parse_statm(text, (size_t)n, &statm) == 0) {
    long page = sysconf(_SC_PAGESIZE);
    uint64_t rss = statm.resident_pages * (uint64_t)(page > 0 ? page : 4096);
    uint64_t held = lw__reply_held(); /* the host's own memory, without the replies */
    rss = rss > held ? rss - held : 0;
    if (rss / 2 > half)
      half = rss / 2;
  }
  return limit < half ? limit : half;
}

int lw__export_profile(const char *path) { return lw__export_profile_with(path, NULL); }

int lw__export_profile_with(const char *path, const lw_export_options_t *options) {
  uint8_t *bytes = NULL;
  size_t len = 0;
  int result = lw__export_profile_bytes(options, &file_allocator, &bytes, &len);
  if (result == 0) {
    lw_thread_state_t *t = &lw__thread;
    lw__guard_enter(t);
    result = lw_write_file_atomic(path, bytes, len, 0600);
    lw__guard_exit(t);
    if (result == 0)
      __atomic_add_fetch(&lw__profiles_written, 1, __ATOMIC_RELAXED);
  }
  map_release(NULL, bytes, len);
  return result;
}

int lw__export_symbolize(const uint64_t *addresses, size_t n,
                         void (*found)(uint64_t address, const char *name, void *context),
                         void *context) {
  lw_thread_state_t *t = &lw__thread;
  lw__guard_enter(t);
  pthread_mutex_lock(&export_lock);
  exporter_t x;
  memset(&x, 0, sizeof x);
  static const lw_export_options_t plain;
  x.options = &plain;
  int result = -ENOMEM;
  lw_profile_init(&x.profile, &lw__scratch_allocator);
  if (collect_mappings(&x.mappings, &x.n_mappings) == 0) {
    size_t m = x.n_mappings ? x.n_mappings : 1;
    x.mapping_ids = lw_alloc(&lw__scratch_allocator, m * sizeof(uint64_t));
    x.symbols = lw_alloc(&lw__scratch_allocator, m * sizeof(lw_elf_symbols_t *));
    x.symbols_tried = lw_alloc(&lw__scratch_allocator, m * sizeof(bool));
    x.mapping_unnamed = lw_alloc(&lw__scratch_allocator, m * sizeof(bool));
    if (x.mapping_ids && x.symbols && x.symbols_tried && x.mapping_unnamed && grow_locations(&x) &&
        grow_functions(&x)) {
      memset(x.mapping_ids, 0, m * sizeof(uint64_t));
      memset(x.symbols_tried, 0, m * sizeof(bool));
      memset(x.mapping_unnamed, 0, m * sizeof(bool));
      x.demangle = find_demangler();
      uint32_t epoch = lw__mappings_epoch();
      for (size_t i = 0; i < n; i++) {
        uint64_t id = location_for(&x, addresses[i], epoch);
        const lw_profile_location_t *l = id ? &x.profile.locations[id - 1] : NULL;
        const char *name = l ? location_name(&x.profile, l) : "";
        if (name[0])
          found(addresses[i], name, context);
      }
      for (size_t i = 0; i < x.n_mappings; i++)
        lw__elf_symbols_close(x.symbols[i]);
      result = 0;
    }
  }
  lw__scratch_release_all();
  pthread_mutex_unlock(&export_lock);
  lw__guard_exit(t);
  return result;
}

/* fork does not wait for an export (it used to, behind export_lock, for as long as a big
 * profile took to build), only for the export's short calls into the loader. An export in
 * progress on another thread does not exist in the child: the child gets fresh locks, and
 * its scratch and output memory (replies, window snapshots) is unmapped and no longer
 * counted (arena.c), so it holds no replies and its budget is whole. */
void lw__export_prefork(void) { pthread_mutex_lock(&loader_lock); }
void lw__export_postfork_parent(void) { pthread_mutex_unlock(&loader_lock); }
void lw__export_postfork_child(void) {
  pthread_mutex_init(&loader_lock, NULL);
  pthread_mutex_init(&export_lock, NULL);
  lw__arena_postfork_child();
  __atomic_store_n(&output_held, 0, __ATOMIC_RELAXED);
}
