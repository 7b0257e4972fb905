/*
 * goroutine_export.c - /debug/pprof/goroutine for a C process: its threads counted by their
 * current stack, in the three forms Go serves (FORMATS.md 2.1, reference captures
 * http-goroutine-d1/-d2):
 *   debug=0  a gzipped pprof profile, sample type goroutine/count, period 1 (Go's
 *            printCountProfile), one sample per distinct stack with a "state" label;
 *   debug=1  "goroutine profile: total N", then "N @ pc pc ..." per distinct stack, largest
 *            count first, with "#\t0xpc\tfunction\tobject+0xoffset" lines;
 *   debug=2  one block per thread, "goroutine TID [state, name]:", function and object
 *            lines per frame, and "created by" the function that called pthread_create.
 * A goroutine is a thread, its number the thread id, its state the system call it waits in
 * (docs/LIVE.md says what differs from Go). Stacks come from thread_stacks.c; names from
 * the heap profile's ELF symbol code (lw__export_symbolize), so no file:line here.
 *
 * Runs on the agent thread. Memory: the caller's allocator for the output, the transient
 * (mmap) allocator for the work, all returned before it ends; bounded by the thread count
 * (about 600 bytes a thread, at most MAX_THREADS threads read).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/export_reply.h"
#include "agent/goroutine_export.h"
#include "agent/maps_reader.h"
#include "agent/thread_stacks.h"
#include "common/fmt.h"
#include "common/gzip.h"
#include "common/profile.h"

enum { MAX_THREADS = 16384, SPARE_THREADS = 64 };

/* An executable mapping, for "object+0xoffset" and the profile's mappings. */
typedef struct {
  uint64_t start, end, offset;
  uint32_t path; /* offset into the path pool */
  uint64_t profile_id;
  bool unnamed; /* some location in it got no function name */
} code_mapping_t;

typedef struct {
  const lw_allocator_t *work;
  lw_thread_stack_t *threads;
  size_t n_threads, seen, cap_threads;
  /* Every distinct code address, sorted, with its name (offset into names + 1; 0: none). */
  uint64_t *addresses;
  uint32_t *name_at;
  size_t n_addresses;
  lw_buf_t names;
  code_mapping_t *mappings;
  size_t n_mappings, cap_mappings;
  lw_buf_t paths;
  uint32_t *order; /* thread indices grouped by stack */
  uint32_t *group_start, *by_count; /* debug=1: where each group starts; groups by count */
} goroutines_t;

/* ---- sorting without qsort (glibc's may call malloc) ----------------------------------- */

typedef int (*compare_fn)(const goroutines_t *g, uint32_t a, uint32_t b);

static void sift(const goroutines_t *g, uint32_t *v, size_t root, size_t n, compare_fn cmp) {
  for (;;) {
    size_t child = 2 * root + 1;
    if (child >= n)
      return;
    if (child + 1 < n && cmp(g, v[child], v[child + 1]) < 0)
      child++;
    if (cmp(g, v[root], v[child]) >= 0)
      return;
    uint32_t t = v[root];
    v[root] = v[child];
    v[child] = t;
    root = child;
  }
}

static void heap_sort(const goroutines_t *g, uint32_t *v, size_t n, compare_fn cmp) {
  for (size_t i = n / 2; i-- > 0;)
    sift(g, v, i, n, cmp);
  for (size_t end = n; end > 1; end--) {
    uint32_t t = v[0];
    v[0] = v[end - 1];
    v[end - 1] = t;
    sift(g, v, 0, end - 1, cmp);
  }
}

static void sort_addresses(uint64_t *v, size_t n) {
  /* Shell sort with Ciura's gaps: a few thousand addresses, no recursion, no memory. */
  static const size_t gaps[] = {1750, 701, 301, 132, 57, 23, 10, 4, 1};
  for (size_t k = 0; k < sizeof gaps / sizeof gaps[0]; k++)
    for (size_t i = gaps[k]; i < n; i++) {
      uint64_t x = v[i];
      size_t j = i;
      for (; j >= gaps[k] && v[j - gaps[k]] > x; j -= gaps[k])
        v[j] = v[j - gaps[k]];
      v[j] = x;
    }
}

/* ---- capture, names, mappings ---------------------------------------------------------- */

static bool add_mapping(const lw_maps_line_t *line, void *context) {
  goroutines_t *g = context;
  if (!line->executable || !line->path[0])
    return true;
  if (g->n_mappings == g->cap_mappings) {
    size_t cap = g->cap_mappings ? 2 * g->cap_mappings : 256;
    code_mapping_t *grown = lw_resize(g->work, g->mappings, g->cap_mappings * sizeof *grown,
                                      cap * sizeof *grown);
    if (!grown)
      return false;
    g->mappings = grown;
    g->cap_mappings = cap;
  }
  code_mapping_t *m = &g->mappings[g->n_mappings++];
  *m = (code_mapping_t){line->start, line->end, line->offset, (uint32_t)g->paths.len, 0, false};
  lw_buf_append(&g->paths, line->path, strlen(line->path) + 1);
  return true;
}

static const code_mapping_t *mapping_of(const goroutines_t *g, uint64_t address) {
  for (size_t i = 0; i < g->n_mappings; i++)
    if (address >= g->mappings[i].start && address < g->mappings[i].end)
      return &g->mappings[i];
  return NULL;
}

static const char *path_of(const goroutines_t *g, const code_mapping_t *m) {
  return (const char *)g->paths.data + m->path;
}

static size_t address_index(const goroutines_t *g, uint64_t address) {
  size_t low = 0, high = g->n_addresses;
  while (low < high) {
    size_t middle = low + (high - low) / 2;
    if (g->addresses[middle] < address)
      low = middle + 1;
    else
      high = middle;
  }
  return low;
}

static void found_name(uint64_t address, const char *name, void *context) {
  goroutines_t *g = context;
  size_t i = address_index(g, address);
  if (i < g->n_addresses && g->addresses[i] == address) {
    g->name_at[i] = (uint32_t)g->names.len + 1;
    lw_buf_append(&g->names, name, strlen(name) + 1);
  }
}

static const char *name_of(const goroutines_t *g, uint64_t address) {
  size_t i = address_index(g, address);
  if (i < g->n_addresses && g->addresses[i] == address && g->name_at[i])
    return (const char *)g->names.data + g->name_at[i] - 1;
  return NULL;
}

/* The call site of pthread_create that made a thread (its creating stack's first frame). */
static uint64_t creator_of(const lw_thread_stack_t *t) {
  if (!t->created_stack)
    return 0;
  const lw_stack_t *s = lw__stacks_get(t->created_stack - 1);
  return s && s->depth ? s->frames[0] : 0;
}

static int compare_stacks(const goroutines_t *g, uint32_t a, uint32_t b) {
  const lw_thread_stack_t *x = &g->threads[a], *y = &g->threads[b];
  if (x->depth != y->depth)
    return x->depth < y->depth ? -1 : 1;
  for (uint16_t i = 0; i < x->depth; i++)
    if (x->frames[i] != y->frames[i])
      return x->frames[i] < y->frames[i] ? -1 : 1;
  if (x->where != y->where)
    return x->where < y->where ? -1 : 1;
  if (x->syscall != y->syscall)
    return x->syscall < y->syscall ? -1 : 1;
  return x->truncated != y->truncated ? (x->truncated ? 1 : -1) : 0;
}

static int compare_tids(const goroutines_t *g, uint32_t a, uint32_t b) {
  pid_t x = g->threads[a].tid, y = g->threads[b].tid;
  return x < y ? -1 : x > y ? 1 : 0;
}

/* Runs under the thread registry's lock (thread starts and exits wait): a binary search in
 * g->order, sorted by tid. */
static void note_created_stack(const lw_thread_state_t *thread, void *context) {
  goroutines_t *g = context;
  size_t low = 0, high = g->n_threads;
  while (low < high) {
    size_t middle = low + (high - low) / 2;
    lw_thread_stack_t *t = &g->threads[g->order[middle]];
    if (t->tid == thread->tid) {
      t->created_stack = thread->created_stack;
      return;
    }
    if (t->tid < thread->tid)
      low = middle + 1;
    else
      high = middle;
  }
}

static int collect(goroutines_t *g) {
  long n = lw__thread_stacks_count();
  if (n < 0)
    return (int)n;
  g->cap_threads = (size_t)n + SPARE_THREADS;
  if (g->cap_threads > MAX_THREADS)
    g->cap_threads = MAX_THREADS;
  g->threads = lw_alloc(g->work, g->cap_threads * sizeof *g->threads);
  if (!g->threads)
    return -ENOMEM;
  long filled = lw__thread_stacks_capture(g->threads, g->cap_threads, &g->seen);
  if (filled < 0)
    return (int)filled;
  g->n_threads = (size_t)filled;

  size_t total = 0;
  for (size_t i = 0; i < g->n_threads; i++)
    total += g->threads[i].depth + 1u;
  g->addresses = lw_alloc(g->work, (total ? total : 1) * sizeof *g->addresses);
  g->order = lw_alloc(g->work, (g->n_threads ? g->n_threads : 1) * sizeof *g->order);
  if (!g->addresses || !g->order)
    return -ENOMEM;
  for (size_t i = 0; i < g->n_threads; i++)
    g->order[i] = (uint32_t)i;
  heap_sort(g, g->order, g->n_threads, compare_tids);
  lw__thread_for_each(note_created_stack, g);
  size_t k = 0;
  for (size_t i = 0; i < g->n_threads; i++) {
    const lw_thread_stack_t *t = &g->threads[i];
    for (uint16_t f = 0; f < t->depth; f++)
      g->addresses[k++] = t->frames[f];
    uint64_t creator = creator_of(t);
    if (creator)
      g->addresses[k++] = creator;
  }
  sort_addresses(g->addresses, k);
  size_t unique = 0;
  for (size_t i = 0; i < k; i++)
    if (!unique || g->addresses[unique - 1] != g->addresses[i])
      g->addresses[unique++] = g->addresses[i];
  g->n_addresses = unique;
  g->name_at = lw_alloc(g->work, (unique ? unique : 1) * sizeof *g->name_at);
  if (!g->name_at)
    return -ENOMEM;
  memset(g->name_at, 0, (unique ? unique : 1) * sizeof *g->name_at);
  if (unique)
    lw__export_symbolize(g->addresses, unique, found_name, g);
  lw__maps_for_each(add_mapping, g);
  if (lw_buf_failed(&g->names) || lw_buf_failed(&g->paths))
    return -ENOMEM;
  return 0;
}

/* ---- text ------------------------------------------------------------------------------- */

static void state_text(const lw_thread_stack_t *t, char *out, size_t size) {
  if (t->where == LW_THREAD_IN_SYSCALL) {
    const char *name = lw__syscall_name(t->syscall);
    if (name)
      lw_fmt(out, size, "%s", name);
    else
      lw_fmt(out, size, "syscall %d", (int)t->syscall);
  } else {
    lw_fmt(out, size, "%s", t->where == LW_THREAD_BLOCKED ? "blocked" : "running");
  }
}

/* "object+0xoffset": where an address lies, as a file offset into the object (what
 * addr2line -e object takes for the usual layouts). */
static void print_place(const goroutines_t *g, lw_buf_t *out, uint64_t address) {
  const code_mapping_t *m = mapping_of(g, address);
  if (m)
    lw_buf_printf(out, "%s+0x%llx", path_of(g, m),
                  (unsigned long long)(address - m->start + m->offset));
  else
    lw_buf_printf(out, "?+0x%llx", (unsigned long long)address);
}

/* The function's name, or "?" when no symbol table names it (the place line still says
 * where it is; `leakwatch` and pprof can symbolize the profile with debug files). */
static void print_function(const goroutines_t *g, lw_buf_t *out, uint64_t address) {
  const char *name = name_of(g, address);
  lw_buf_append_str(out, name ? name : "?");
}

/* Why a stack ends early, for the text forms. */
static const char *truncation_note(const lw_thread_stack_t *t) {
  if (!t->truncated)
    return NULL;
  return t->unknown_register ? "...the next frame needs a register the kernel does not show "
                               "(rbp): not followed..."
                             : "...additional frames elided...";
}

static void render_grouped(goroutines_t *g, lw_buf_t *out) {
  heap_sort(g, g->order, g->n_threads, compare_stacks);
  /* Groups of equal stacks, then the groups by count, largest first (Go's order). */
  size_t n_groups = 0;
  uint32_t *group_start = g->group_start =
      lw_alloc(g->work, (g->n_threads + 1) * sizeof *group_start);
  uint32_t *by_count = g->by_count = lw_alloc(g->work, (g->n_threads + 1) * sizeof *by_count);
  if (!group_start || !by_count) {
    out->failed = true;
    return;
  }
  for (size_t i = 0; i < g->n_threads; i++)
    if (!i || compare_stacks(g, g->order[i - 1], g->order[i]) != 0)
      group_start[n_groups++] = (uint32_t)i;
  group_start[n_groups] = (uint32_t)g->n_threads;
  for (size_t i = 0; i < n_groups; i++)
    by_count[i] = (uint32_t)i;
  /* Insertion sort by count, descending; stable, so equal counts keep the stack order. */
  for (size_t i = 1; i < n_groups; i++) {
    uint32_t x = by_count[i];
    uint32_t size_x = group_start[x + 1] - group_start[x];
    size_t j = i;
    for (; j > 0 && group_start[by_count[j - 1] + 1] - group_start[by_count[j - 1]] < size_x; j--)
      by_count[j] = by_count[j - 1];
    by_count[j] = x;
  }
  lw_buf_printf(out, "goroutine profile: total %zu\n", g->n_threads);
  for (size_t k = 0; k < n_groups; k++) {
    uint32_t group = by_count[k];
    const lw_thread_stack_t *t = &g->threads[g->order[group_start[group]]];
    unsigned count = group_start[group + 1] - group_start[group];
    char state[32];
    state_text(t, state, sizeof state);
    if (!t->depth) {
      /* pprof's text parser refuses "N @" without addresses (Go's own threadcreate text
       * has them): a comment keeps the text readable by it, the total still counts them. */
      lw_buf_printf(out, "# %u %s: no stack, the thread%s running each time %s looked at\n\n",
                    count, state, count == 1 ? " was" : "s were", count == 1 ? "it was" : "they were");
      continue;
    }
    lw_buf_printf(out, "%u @", count);
    /* Return addresses, as Go writes them (pprof's parser subtracts 1). */
    for (uint16_t f = 0; f < t->depth; f++)
      lw_buf_printf(out, " 0x%llx", (unsigned long long)(t->frames[f] + 1));
    lw_buf_append_byte(out, '\n');
    for (uint16_t f = 0; f < t->depth; f++) {
      lw_buf_printf(out, "#\t0x%llx\t", (unsigned long long)t->frames[f]);
      print_function(g, out, t->frames[f]);
      lw_buf_append_byte(out, '\t');
      print_place(g, out, t->frames[f]);
      lw_buf_append_byte(out, '\n');
    }
    const char *note = truncation_note(t);
    if (note)
      lw_buf_printf(out, "#\t%s\n", note);
    lw_buf_append_byte(out, '\n');
  }
  if (g->seen > g->n_threads)
    lw_buf_printf(out, "# leakwatch: %zu more threads were not read (at most %d are)\n",
                  g->seen - g->n_threads, MAX_THREADS);
}

static void render_each(goroutines_t *g, lw_buf_t *out) {
  heap_sort(g, g->order, g->n_threads, compare_tids);
  for (size_t i = 0; i < g->n_threads; i++) {
    const lw_thread_stack_t *t = &g->threads[g->order[i]];
    char state[32];
    state_text(t, state, sizeof state);
    if (i)
      lw_buf_append_byte(out, '\n');
    lw_buf_printf(out, "goroutine %d [%s", (int)t->tid, state);
    if (t->name[0])
      lw_buf_printf(out, ", %s", t->name);
    lw_buf_append_str(out, "]:\n");
    if (!t->depth)
      lw_buf_append_str(out, "(no stack: the thread was running each time it was looked at, "
                             "and is read only while it waits)\n");
    for (uint16_t f = 0; f < t->depth; f++) {
      print_function(g, out, t->frames[f]);
      lw_buf_append_str(out, "(...)\n\t");
      print_place(g, out, t->frames[f]);
      lw_buf_append_byte(out, '\n');
    }
    const char *note = truncation_note(t);
    if (note)
      lw_buf_printf(out, "%s\n", note);
    uint64_t creator = creator_of(t);
    if (creator) {
      lw_buf_append_str(out, "created by ");
      print_function(g, out, creator);
      lw_buf_append_str(out, "\n\t");
      print_place(g, out, creator);
      lw_buf_append_byte(out, '\n');
    }
  }
  if (g->seen > g->n_threads)
    lw_buf_printf(out, "\n(leakwatch: %zu more threads were not read; at most %d are)\n",
                  g->seen - g->n_threads, MAX_THREADS);
}

/* ---- the profile ------------------------------------------------------------------------ */

typedef struct {
  lw_profile_t profile;
  uint64_t *location_ids; /* per distinct address */
  uint64_t *function_ids; /* per string index */
  size_t n_function_ids;
  uint64_t running_location, truncated_location;
} profile_build_t;

static uint64_t function_for(profile_build_t *b, const char *name) {
  int64_t s = lw_profile_string(&b->profile, name);
  if (s <= 0 || (size_t)s >= b->n_function_ids)
    return 0;
  if (!b->function_ids[s])
    b->function_ids[s] = lw_profile_add_function(&b->profile, s, s, 0, 0);
  return b->function_ids[s];
}

static uint64_t pseudo_location(profile_build_t *b, const char *name) {
  lw_profile_line_t line = {function_for(b, name), 0, 0};
  return lw_profile_add_location(&b->profile, 0, 0, &line, line.function_id ? 1 : 0);
}

static uint64_t location_for(goroutines_t *g, profile_build_t *b, uint64_t address) {
  size_t i = address_index(g, address);
  if (i >= g->n_addresses || g->addresses[i] != address)
    return 0;
  if (b->location_ids[i])
    return b->location_ids[i];
  code_mapping_t *m = (code_mapping_t *)mapping_of(g, address);
  uint64_t mapping_id = m ? m->profile_id : 0;
  const char *name = name_of(g, address);
  lw_profile_line_t line = {name ? function_for(b, name) : 0, 0, 0};
  if (!line.function_id && m)
    m->unnamed = true;
  b->location_ids[i] = lw_profile_add_location(&b->profile, mapping_id, address, &line,
                                               line.function_id ? 1 : 0);
  return b->location_ids[i];
}

static int build_profile(goroutines_t *g, lw_buf_t *out) {
  profile_build_t b;
  memset(&b, 0, sizeof b);
  lw_profile_init(&b.profile, g->work);
  lw_profile_t *p = &b.profile;
  size_t n_addresses = g->n_addresses ? g->n_addresses : 1;
  b.location_ids = lw_alloc(g->work, n_addresses * sizeof *b.location_ids);
  /* Function names are strings of the table: every name, the mapping paths, a few more. */
  b.n_function_ids = g->n_addresses + g->n_mappings + 64;
  b.function_ids = lw_alloc(g->work, b.n_function_ids * sizeof *b.function_ids);
  if (!b.location_ids || !b.function_ids)
    return -ENOMEM;
  memset(b.location_ids, 0, n_addresses * sizeof *b.location_ids);
  memset(b.function_ids, 0, b.n_function_ids * sizeof *b.function_ids);
  /* Go's goroutine profile: printCountProfile's layout. */
  lw_profile_add_sample_type(p, "goroutine", "count");
  p->period_type.type = lw_profile_string(p, "goroutine");
  p->period_type.unit = lw_profile_string(p, "count");
  p->period = 1;
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  p->time_nanos = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
  char comment[160];
  lw_fmt(comment, sizeof comment,
         "leakwatch agent, pid %d: threads by current stack (goroutine = thread)", (int)getpid());
  lw_profile_add_comment(p, comment);
  int64_t state_key = lw_profile_string(p, "state");
  /* Every executable mapping, in /proc/self/maps order: the main binary first, as Go
   * writes them and as pprof expects (it names the profile after mapping 1). */
  for (size_t i = 0; i < g->n_mappings; i++) {
    code_mapping_t *m = &g->mappings[i];
    lw_profile_mapping_t pm;
    memset(&pm, 0, sizeof pm);
    pm.memory_start = m->start;
    pm.memory_limit = m->end;
    pm.file_offset = m->offset;
    pm.filename = lw_profile_string(p, path_of(g, m));
    m->profile_id = lw_profile_add_mapping(p, &pm);
  }

  heap_sort(g, g->order, g->n_threads, compare_stacks);
  for (size_t i = 0; i < g->n_threads;) {
    size_t j = i + 1;
    while (j < g->n_threads && compare_stacks(g, g->order[i], g->order[j]) == 0)
      j++;
    const lw_thread_stack_t *t = &g->threads[g->order[i]];
    uint64_t locations[LW_THREAD_STACK_DEPTH + 1];
    size_t n = 0;
    for (uint16_t f = 0; f < t->depth; f++) {
      uint64_t id = location_for(g, &b, t->frames[f]);
      if (id)
        locations[n++] = id;
    }
    if (!t->depth) {
      if (!b.running_location)
        b.running_location = pseudo_location(&b, "[running]");
      locations[n++] = b.running_location;
    } else if (t->truncated) {
      if (!b.truncated_location)
        b.truncated_location = pseudo_location(&b, "[truncated stack]");
      locations[n++] = b.truncated_location;
    }
    char state[32];
    state_text(t, state, sizeof state);
    lw_profile_label_t label = {state_key, lw_profile_string(p, state), 0, 0};
    int64_t count = (int64_t)(j - i);
    lw_profile_add_sample(p, locations, n, &count, 1, &label, 1);
    i = j;
  }
  /* A mapping whose locations all have names tells pprof not to look for them again. */
  for (size_t i = 0; i < g->n_mappings; i++)
    if (g->mappings[i].profile_id && !g->mappings[i].unnamed)
      p->mappings[g->mappings[i].profile_id - 1].has_functions = true;
  if (p->failed)
    return -ENOMEM;
  lw_buf_t raw;
  lw_buf_init(&raw, g->work);
  int result = 0;
  if (lw_profile_encode(p, &raw) != 0 || lw_gzip_compress(raw.data, raw.len, out, 1) != 0)
    result = -ENOMEM;
  lw_buf_free(&raw);
  lw_profile_free(p);
  return result;
}

/* ---- entry ------------------------------------------------------------------------------ */

int lw__goroutine_export(int debug, lw_buf_t *out) {
  goroutines_t g;
  memset(&g, 0, sizeof g);
  g.work = lw__transient_allocator;
  lw_buf_init(&g.names, g.work);
  lw_buf_init(&g.paths, g.work);
  int result = collect(&g);
  if (result == 0) {
    if (debug <= 0)
      result = build_profile(&g, out);
    else if (debug == 1)
      render_grouped(&g, out);
    else
      render_each(&g, out);
    if (result == 0 && lw_buf_failed(out))
      result = -ENOMEM;
  }
  lw_release(g.work, g.threads, g.cap_threads * sizeof *g.threads);
  lw_release(g.work, g.addresses, 0);
  lw_release(g.work, g.name_at, 0);
  lw_release(g.work, g.order, 0); /* transient blocks know their own size */
  lw_release(g.work, g.group_start, 0);
  lw_release(g.work, g.by_count, 0);
  lw_release(g.work, g.mappings, g.cap_mappings * sizeof *g.mappings);
  lw_buf_free(&g.names);
  lw_buf_free(&g.paths);
  return result;
}
