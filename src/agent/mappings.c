/*
 * mappings.c - which loaded object (file, build ID, offsets) each code address belongs to,
 * including objects that dlclose has since unloaded.
 *
 * Stacks store raw addresses. To attribute them at export time we need the mappings that
 * were in place when the stack was captured: if a library is unloaded, its addresses may be
 * reused by another. So dlclose is interposed: just before the real call we capture the
 * object's executable mappings (its file is about to disappear from /proc/self/maps), and if
 * the object really went away we keep them as "retired" with the epoch at which they were
 * unloaded, and bump the epoch. A stack captured in epoch E belongs to the mapping containing
 * its address with the smallest unload epoch greater than E (current mappings count as
 * unloaded at infinity).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/maps_reader.h"
#include "agent/unwind.h"
#include "common/fmt.h"

static uint32_t current_epoch;
static pthread_mutex_t retired_lock = PTHREAD_MUTEX_INITIALIZER;
static lw_object_mapping_t *retired;
static size_t n_retired;
static size_t retired_capacity;

uint32_t lw__mappings_epoch(void) { return __atomic_load_n(&current_epoch, __ATOMIC_ACQUIRE); }

void lw__mappings_init(void) {}

void lw__mappings_prefork(void) { pthread_mutex_lock(&retired_lock); }
void lw__mappings_postfork_parent(void) { pthread_mutex_unlock(&retired_lock); }
void lw__mappings_postfork_child(void) { pthread_mutex_init(&retired_lock, NULL); }

/* ---- build IDs from the loaded objects' notes --------------------------------------- */

static void hex_encode(const uint8_t *bytes, size_t n, char *out, size_t out_size) {
  static const char digits[] = "0123456789abcdef";
  size_t j = 0;
  for (size_t i = 0; i < n && j + 2 < out_size; i++) {
    out[j++] = digits[bytes[i] >> 4];
    out[j++] = digits[bytes[i] & 15];
  }
  out[j] = '\0';
}

/* Finds NT_GNU_BUILD_ID in an object's PT_NOTE segments (they are mapped, so readable). */
static void object_build_id(const struct dl_phdr_info *info, char *out, size_t out_size) {
  out[0] = '\0';
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_NOTE)
      continue;
    const uint8_t *p = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr);
    const uint8_t *end = p + ph->p_memsz;
    while (p + sizeof(ElfW(Nhdr)) <= end) {
      const ElfW(Nhdr) *note = (const ElfW(Nhdr) *)p;
      size_t name_size = (note->n_namesz + 3) & ~3u;
      size_t desc_size = (note->n_descsz + 3) & ~3u;
      const uint8_t *name = p + sizeof *note;
      const uint8_t *desc = name + name_size;
      if (desc + desc_size > end)
        break;
      if (note->n_type == NT_GNU_BUILD_ID && note->n_namesz == 4 && memcmp(name, "GNU", 4) == 0) {
        hex_encode(desc, note->n_descsz, out, out_size);
        return;
      }
      p = desc + desc_size;
    }
  }
}

/* ---- capture before dlclose --------------------------------------------------------- */

enum { MAX_CAPTURED = 4 };

typedef struct {
  uintptr_t base;
  char name[512]; /* copied: the link map (and its name) is freed by dlclose */
  size_t n;
  lw_object_mapping_t segments[MAX_CAPTURED];
} capture_t;

/* Captures live in a small static pool, not in the thread's TLS or on its stack (either
 * would come out of the stack of every thread, however small): a dlclose claims a slot and
 * gives it back afterwards. With every slot taken (that many threads unloading at once) the
 * object goes uncaptured and its frames show as bare addresses. */
enum { CAPTURE_SLOTS = 4 };
static capture_t capture_pool[CAPTURE_SLOTS];
static uint8_t capture_taken[CAPTURE_SLOTS];

static capture_t *claim_capture(void) {
  for (int i = 0; i < CAPTURE_SLOTS; i++)
    if (!__atomic_exchange_n(&capture_taken[i], 1, __ATOMIC_ACQUIRE))
      return &capture_pool[i];
  return NULL;
}

static void release_capture(capture_t *c) {
  if (c)
    __atomic_store_n(&capture_taken[c - capture_pool], 0, __ATOMIC_RELEASE);
}

static __thread capture_t *pending_capture;
static __thread int dlclose_depth;

static int capture_object(struct dl_phdr_info *info, size_t size, void *arg) {
  (void)size;
  capture_t *c = arg;
  if (info->dlpi_addr != c->base || !info->dlpi_name || strcmp(info->dlpi_name, c->name) != 0)
    return 0;
  char build_id[81];
  object_build_id(info, build_id, sizeof build_id);
  for (int i = 0; i < info->dlpi_phnum && c->n < MAX_CAPTURED; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
      continue;
    lw_object_mapping_t *m = &c->segments[c->n++];
    memset(m, 0, sizeof *m);
    m->start = (info->dlpi_addr + ph->p_vaddr) & ~(uint64_t)4095;
    m->limit = (info->dlpi_addr + ph->p_vaddr + ph->p_memsz + 4095) & ~(uint64_t)4095;
    m->file_offset = ph->p_offset & ~(uint64_t)4095;
    m->unload_epoch = UINT32_MAX;
    memcpy(m->build_id, build_id, sizeof build_id);
    lw_fmt(m->path, sizeof m->path, "%s", info->dlpi_name);
  }
  return 1;
}

/* Replaces the (possibly relative) loader name by the absolute path in /proc/self/maps. */
static bool absolute_path(const lw_maps_line_t *line, void *arg) {
  lw_object_mapping_t *m = arg;
  if (line->start <= m->start && m->start < line->end && line->path[0] == '/') {
    lw_fmt(m->path, sizeof m->path, "%s", line->path);
    return false;
  }
  return true;
}

void lw__mappings_before_dlclose(void *handle) {
  if (dlclose_depth++ > 0)
    return; /* a destructor run by dlclose is closing another library: keep the outer one */
  pending_capture = NULL;
  struct link_map *map = NULL;
  if (!handle || dlinfo(handle, RTLD_DI_LINKMAP, &map) != 0 || !map)
    return;
  capture_t *capture = claim_capture();
  if (!capture)
    return;
  capture->base = map->l_addr;
  lw_fmt(capture->name, sizeof capture->name, "%s", map->l_name ? map->l_name : "");
  capture->n = 0;
  dl_iterate_phdr(capture_object, capture);
  for (size_t i = 0; i < capture->n; i++)
    lw__maps_for_each(absolute_path, &capture->segments[i]);
  if (capture->n)
    pending_capture = capture;
  else
    release_capture(capture);
}

static int still_loaded(struct dl_phdr_info *info, size_t size, void *arg) {
  (void)size;
  const capture_t *c = arg;
  return info->dlpi_addr == c->base && info->dlpi_name && strcmp(info->dlpi_name, c->name) == 0;
}

static bool same_mapping(const lw_object_mapping_t *a, const lw_object_mapping_t *b) {
  return a->start == b->start && a->limit == b->limit && a->file_offset == b->file_offset &&
         strcmp(a->path, b->path) == 0 && strcmp(a->build_id, b->build_id) == 0;
}

typedef enum { RETIRED, RETIRE_NO_MEMORY, RETIRE_FULL } retire_result_t;

/* Adds m, unloaded at `epoch`, to the retired list; retired_lock held.
 *
 * A program that loads and unloads the same library in a loop gets it at the same address
 * each time. If the latest retired mapping over m's addresses is that same mapping, it is
 * extended to the new epoch instead of adding another: no other object had those addresses
 * in between, so every stack finds the same file either way, and the list stays as long as
 * the number of distinct objects. Past MAX_RETIRED the list stops growing. */
static retire_result_t retire(const lw_object_mapping_t *m, uint32_t epoch) {
  enum { MAX_RETIRED = 4096 };
  lw_object_mapping_t *latest = NULL;
  for (size_t i = 0; i < n_retired; i++) {
    lw_object_mapping_t *r = &retired[i];
    if (r->start < m->limit && m->start < r->limit &&
        (!latest || r->unload_epoch > latest->unload_epoch))
      latest = r;
  }
  if (latest && same_mapping(latest, m)) {
    latest->unload_epoch = epoch;
    return RETIRED;
  }
  if (n_retired >= MAX_RETIRED)
    return RETIRE_FULL;
  if (n_retired == retired_capacity) {
    size_t capacity = retired_capacity ? retired_capacity * 2 : 16;
    lw_object_mapping_t *grown = lw__arena_map(capacity * sizeof *grown);
    if (!grown)
      return RETIRE_NO_MEMORY;
    if (retired)
      memcpy(grown, retired, n_retired * sizeof *grown);
    lw__arena_unmap(retired, retired_capacity * sizeof *retired);
    retired = grown;
    retired_capacity = capacity;
  }
  retired[n_retired] = *m;
  retired[n_retired].unload_epoch = epoch;
  n_retired++;
  return RETIRED;
}

static void retire_capture(const capture_t *c) {
  pthread_mutex_lock(&retired_lock);
  /* Stacks captured up to now (epoch <= current) may point into the object; from the next
   * epoch on its addresses may belong to something else. */
  uint32_t next_epoch = current_epoch + 1;
  for (size_t i = 0; i < c->n; i++) {
    static bool said;
    retire_result_t result = retire(&c->segments[i], next_epoch);
    if (result != RETIRED && !__atomic_exchange_n(&said, true, __ATOMIC_RELAXED))
      lw__log("%s to keep the mappings of unloaded '%s': profiles show its frames as bare "
              "addresses",
              result == RETIRE_FULL ? "too many unloaded objects" : "out of memory",
              c->segments[i].path);
  }
  __atomic_store_n(&current_epoch, next_epoch, __ATOMIC_RELEASE);
  pthread_mutex_unlock(&retired_lock);
  lw__unwind_flush_cache();
}

void lw__mappings_after_dlclose(void) {
  if (--dlclose_depth > 0)
    return;
  capture_t *c = pending_capture;
  pending_capture = NULL;
  if (!c)
    return;
  if (!dl_iterate_phdr(still_loaded, c))
    retire_capture(c);
  release_capture(c);
}

/* ---- collect for export -------------------------------------------------------------- */

typedef struct {
  uint64_t start, end;
  char build_id[81];
} object_range_t;

typedef struct {
  object_range_t *ranges;
  size_t n, capacity;
} ranges_t;

static int note_object(struct dl_phdr_info *info, size_t size, void *arg) {
  (void)size;
  ranges_t *r = arg;
  char build_id[81];
  object_build_id(info, build_id, sizeof build_id);
  for (int i = 0; i < info->dlpi_phnum && r->n < r->capacity; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
      continue;
    object_range_t *o = &r->ranges[r->n++];
    o->start = info->dlpi_addr + ph->p_vaddr;
    o->end = o->start + ph->p_memsz;
    memcpy(o->build_id, build_id, sizeof build_id);
  }
  return 0;
}

typedef struct {
  lw_object_mapping_t *out;
  size_t n, capacity;
  const ranges_t *objects;
} collect_t;

static bool collect_line(const lw_maps_line_t *line, void *arg) {
  collect_t *c = arg;
  /* Executable mappings of files and named pseudo-files ([vdso]), as Go writes them. */
  if (!line->executable || !line->path[0])
    return true;
  if (c->n == c->capacity)
    return false;
  lw_object_mapping_t *m = &c->out[c->n++];
  memset(m, 0, sizeof *m);
  m->start = line->start;
  m->limit = line->end;
  m->file_offset = line->offset;
  m->unload_epoch = UINT32_MAX;
  lw_fmt(m->path, sizeof m->path, "%s", line->path);
  for (size_t i = 0; i < c->objects->n; i++) {
    const object_range_t *o = &c->objects->ranges[i];
    if (o->start < line->end && line->start < o->end) {
      memcpy(m->build_id, o->build_id, sizeof m->build_id);
      break;
    }
  }
  return true;
}

int lw__mappings_collect(lw_object_mapping_t **out, size_t *count) {
  enum { MAX_CURRENT = 4096 };
  ranges_t objects = {lw_alloc(&lw__scratch_allocator, MAX_CURRENT * sizeof(object_range_t)), 0,
                      MAX_CURRENT};
  if (!objects.ranges)
    return -1;
  dl_iterate_phdr(note_object, &objects);
  pthread_mutex_lock(&retired_lock);
  size_t capacity = n_retired + MAX_CURRENT;
  collect_t c = {lw_alloc(&lw__scratch_allocator, capacity * sizeof(lw_object_mapping_t)), 0,
                 capacity, &objects};
  if (c.out) {
    memcpy(c.out, retired, n_retired * sizeof *retired);
    c.n = n_retired;
  }
  pthread_mutex_unlock(&retired_lock);
  if (!c.out)
    return -1;
  lw__maps_for_each(collect_line, &c);
  *out = c.out;
  *count = c.n;
  return 0;
}

const lw_object_mapping_t *lw__mappings_find(const lw_object_mapping_t *mappings, size_t count,
                                             uint64_t address, uint32_t epoch) {
  const lw_object_mapping_t *best = NULL;
  for (size_t i = 0; i < count; i++) {
    const lw_object_mapping_t *m = &mappings[i];
    if (address < m->start || address >= m->limit || m->unload_epoch <= epoch)
      continue;
    if (!best || m->unload_epoch < best->unload_epoch)
      best = m;
  }
  return best;
}
