/*
 * export_windows.c - the Windows agent's heap profile: the shared stack table's counters
 * written with the shared pprof writer (src/common/profile.c) in the layout the Linux agent
 * uses (../profile_export.c, docs/INTERNALS.md "Export"): four sample types, space/bytes
 * period type with the rate as period, a `bytes` label with the average object size,
 * locations at call sites (return address - 1), and one mapping per loaded module (the
 * executable first) with its path and PE build ID. Frames stay addresses; `leakwatch run`
 * names them from the modules' DWARF afterwards (symbolize_windows.c).
 *
 * Runs once, at process exit, with a private heap for scratch memory.
 */
#include <windows.h>

#include "agent/windows/agent_windows.h"
#include "common/buf.h"
#include "common/file.h"
#include "common/fmt.h"
#include "common/gzip.h"
#include "common/profile.h"

enum { MAX_MODULES = 512 };

typedef struct {
  lw_profile_t profile;
  lw_win_module_t *modules;
  size_t n_modules;
  uint64_t *mapping_ids;
  /* address -> location id, open addressing (power of two). */
  uint64_t *keys, *ids;
  size_t cap, used;
} exporter_t;

static uint64_t mapping_of(const exporter_t *x, uint64_t address) {
  for (size_t i = 0; i < x->n_modules; i++)
    if (address >= x->modules[i].base && address < x->modules[i].limit)
      return x->mapping_ids[i];
  return 0;
}

static bool grow(exporter_t *x) {
  size_t cap = x->cap ? x->cap * 2 : 4096;
  uint64_t *keys = lw_alloc(&lw__win_scratch_allocator, cap * sizeof *keys);
  uint64_t *ids = lw_alloc(&lw__win_scratch_allocator, cap * sizeof *ids);
  if (!keys || !ids)
    return false;
  memset(keys, 0, cap * sizeof *keys);
  for (size_t i = 0; i < x->cap; i++)
    if (x->keys[i]) {
      size_t h = (size_t)(x->keys[i] * 0x9E3779B97F4A7C15ull) & (cap - 1);
      while (keys[h])
        h = (h + 1) & (cap - 1);
      keys[h] = x->keys[i];
      ids[h] = x->ids[i];
    }
  x->keys = keys;
  x->ids = ids;
  x->cap = cap;
  return true;
}

static uint64_t location_for(exporter_t *x, uint64_t address) {
  if ((x->used + 1) * 2 > x->cap && !grow(x))
    return 0;
  uint64_t key = address ? address : 1;
  size_t h = (size_t)(key * 0x9E3779B97F4A7C15ull) & (x->cap - 1);
  while (x->keys[h] && x->keys[h] != key)
    h = (h + 1) & (x->cap - 1);
  if (x->keys[h])
    return x->ids[h];
  uint64_t id = lw_profile_add_location(&x->profile, mapping_of(x, address), address, NULL, 0);
  x->keys[h] = key;
  x->ids[h] = id;
  x->used++;
  return id;
}

static int64_t unix_nanos(void) {
  FILETIME ft;
  GetSystemTimePreciseAsFileTime(&ft);
  ULARGE_INTEGER v;
  v.LowPart = ft.dwLowDateTime;
  v.HighPart = ft.dwHighDateTime;
  return (int64_t)(v.QuadPart - 116444736000000000ull) * 100;
}

static int build(exporter_t *x) {
  lw_profile_t *p = &x->profile;
  lw_profile_set_heap_layout(p, (int64_t)lw__options.rate);
  p->time_nanos = unix_nanos();
  char comment[128];
  lw_fmt(comment, sizeof comment, "leakwatch agent (Windows), pid %lu, sampling every %llu bytes",
         (unsigned long)GetCurrentProcessId(), (unsigned long long)lw__options.rate);
  lw_profile_add_comment(p, comment);

  x->modules = lw_alloc(&lw__win_scratch_allocator, MAX_MODULES * sizeof *x->modules);
  x->mapping_ids = lw_alloc(&lw__win_scratch_allocator, MAX_MODULES * sizeof *x->mapping_ids);
  if (!x->modules || !x->mapping_ids)
    return -ENOMEM;
  x->n_modules = lw__win_modules(x->modules, MAX_MODULES);
  for (size_t i = 0; i < x->n_modules; i++) {
    const lw_win_module_t *m = &x->modules[i];
    lw_profile_mapping_t mapping = {0};
    mapping.memory_start = m->base;
    mapping.memory_limit = m->limit;
    mapping.filename = lw_profile_string(p, m->path);
    mapping.build_id = lw_profile_string(p, m->build_id);
    x->mapping_ids[i] = lw_profile_add_mapping(p, &mapping);
  }

  int64_t bytes_key = lw_profile_string(p, "bytes");
  uint32_t count = lw__stacks_count();
  lw_stack_counters_t *counters =
      lw_alloc(&lw__win_scratch_allocator, (count ? count : 1) * sizeof *counters);
  if (!counters)
    return -ENOMEM;
  lw__stack_counters_fill(counters, count);
  for (uint32_t id = 0; id < count; id++) {
    const lw_stack_t *s = lw__stacks_get(id);
    if (!s)
      continue;
    const lw_stack_counters_t *c = &counters[id];
    int64_t values[4];
    values[0] = (int64_t)lw__stack_objects(c, false);
    values[1] = (int64_t)(c->alloc_bytes_fp / 256);
    values[2] = (int64_t)lw__stack_objects(c, true);
    values[3] = (int64_t)(c->inuse_bytes_fp / 256);
    if (!values[0] && !values[2])
      continue;
    uint64_t locations[LW_MAX_DEPTH];
    size_t n = 0;
    for (size_t f = 0; f < s->depth && n < LW_MAX_DEPTH; f++) {
      uint64_t loc = location_for(x, s->frames[f]);
      if (loc)
        locations[n++] = loc;
    }
    lw_profile_label_t label = {bytes_key, 0, values[0] ? values[1] / values[0] : 0, 0};
    lw_profile_add_sample(p, locations, n, values, 4, &label, values[0] ? 1 : 0);
  }
  return p->failed ? -ENOMEM : 0;
}

int lw__win_export_profile(const char *path) {
  exporter_t x;
  memset(&x, 0, sizeof x);
  lw_profile_init(&x.profile, &lw__win_scratch_allocator);
  int rc = build(&x);
  lw_buf_t raw, gz;
  lw_buf_init(&raw, &lw__win_scratch_allocator);
  lw_buf_init(&gz, &lw__win_scratch_allocator);
  if (rc == 0)
    rc = lw_profile_encode(&x.profile, &raw);
  if (rc == 0)
    rc = lw_gzip_compress(raw.data, raw.len, &gz, 1);
  if (rc == 0)
    rc = lw_write_file_atomic(path, gz.data, gz.len, 0644);
  lw__win_scratch_reset(); /* everything above lived in the scratch heap */
  return rc;
}
