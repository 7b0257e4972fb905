/*
 * attach_got_patch.c - points the calls every loaded object makes to an interposed function
 * at the agent's, and back (libleakwatch-attach.so only; x86-64 ELF).
 *
 * A library dlopened into a running program interposes nothing: each object reaches malloc
 * through a slot of its own global offset table, which the loader filled long before. So
 * attaching writes the agent's function into every slot named by a JUMP_SLOT or GLOB_DAT
 * relocation of a function the agent exports (the malloc family, the C++ operators,
 * pthread_create, dlclose, dlsym; the descriptor functions only with LEAKWATCH_TRACK_FDS;
 * not the signal functions, for a feature attach leaves off),
 * in every loaded object - the program, libc itself (which calls malloc through its own
 * PLT so that interposition works), libstdc++ - except the agent and the loader. What a slot
 * held is saved; detaching writes it back where the slot still holds the agent's function.
 * Slots under RELRO are made writable for the write and read-only again.
 *
 * Never called from an allocation hook: from lw_attach_start and lw_attach_stop, the dlsym
 * hook and the agent thread, one at a time (patch_lock). Memory comes from the arena.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <pthread.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/attach.h"
#include "agent/maps_reader.h"
#include "agent/real_fd.h"

/* Patch order, so that no block is taken by the agent's malloc and given back past its free:
 * the functions that release memory everywhere first, then the rest, then operator new
 * (whose first call asks whether the operator reaches the agent's malloc, interpose_new.c). */
enum { PASS_RELEASE, PASS_OTHER, PASS_NEW, PASSES };

typedef struct {
  const char *name;
  uintptr_t function;
  uint8_t pass;
} hook_t;

typedef struct {
  uintptr_t slot;
  uintptr_t original;
  uintptr_t hook;
  uintptr_t object; /* the object's dynamic section: still loaded when restored? */
  uintptr_t relro_start, relro_end; /* set when the slot is under RELRO */
} patch_t;

enum { MAX_HOOKS = 256 };

static pthread_mutex_t patch_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
  hook_t hooks[MAX_HOOKS]; /* sorted by name */
  int n_hooks;
  bool hooks_ready;
  bool fds;                /* the descriptor functions are patched too */
  bool active;             /* between patch_all and restore_all */
  uintptr_t self_base, loader_base, vdso_base;
  patch_t *patches;
  size_t n_patches, patch_capacity;
  uintptr_t *objects;      /* dynamic sections of the objects patched */
  size_t n_objects, object_capacity;
  unsigned long long adds_seen; /* dlpi_adds at the last scan */
  lw_got_patch_counts_t counts;
} got;

static const char *const fd_names[] = {
#define LW_FD_NAME(name) #name,
    LW_FD_FUNCTIONS(LW_FD_NAME)
#undef LW_FD_NAME
};

static bool is_fd_function(const char *name) {
  for (size_t i = 0; i < sizeof fd_names / sizeof fd_names[0]; i++)
    if (strcmp(fd_names[i], name) == 0)
      return true;
  return false;
}

/* The signal functions stand in for the program only while the agent's own handlers do
 * (fatal_signal.c), which an attached agent never installs: they are left alone. */
static bool not_redirected(const char *name) {
  static const char *const names[] = {"signal", "bsd_signal", "sysv_signal", "sigset",
                                      "sigaction"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strcmp(names[i], name) == 0)
      return true;
  return false;
}

static uint8_t pass_of(const char *name) {
  static const char *const releasing[] = {"free", "cfree", "realloc", "reallocarray", "close",
                                          "close_range", "closefrom", "fclose"};
  if (strncmp(name, "_Zd", 3) == 0)
    return PASS_RELEASE;
  if (strncmp(name, "_Zn", 3) == 0)
    return PASS_NEW;
  for (size_t i = 0; i < sizeof releasing / sizeof releasing[0]; i++)
    if (strcmp(releasing[i], name) == 0)
      return PASS_RELEASE;
  return PASS_OTHER;
}

/* ---- an object's dynamic section ----------------------------------------------------- */

typedef struct {
  uintptr_t base;
  uintptr_t dynamic;
  const ElfW(Sym) *symbols;
  const char *strings;
  size_t strings_size;
  const ElfW(Rela) *tables[2]; /* JMPREL, RELA */
  size_t table_bytes[2];
  const uint32_t *gnu_hash;
  uintptr_t relro_start, relro_end; /* whole pages the loader made read-only */
} object_t;

/* The loader rewrote the d_ptr entries of every object it relocated to run-time addresses;
 * an entry below the base is still file-relative. */
static uintptr_t pointer(const object_t *o, ElfW(Addr) value) {
  return value < o->base ? o->base + value : value;
}

static bool read_object(const struct dl_phdr_info *info, object_t *o) {
  memset(o, 0, sizeof *o);
  o->base = info->dlpi_addr;
  long page = sysconf(_SC_PAGESIZE);
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type == PT_DYNAMIC)
      o->dynamic = o->base + ph->p_vaddr;
    if (ph->p_type == PT_GNU_RELRO) {
      o->relro_start = (o->base + ph->p_vaddr) & ~(uintptr_t)(page - 1);
      o->relro_end = (o->base + ph->p_vaddr + ph->p_memsz) & ~(uintptr_t)(page - 1);
    }
  }
  if (!o->dynamic)
    return false;
  bool rela_plt = true;
  for (const ElfW(Dyn) *d = (const ElfW(Dyn) *)o->dynamic; d->d_tag != DT_NULL; d++) {
    switch (d->d_tag) {
    case DT_SYMTAB: o->symbols = (const ElfW(Sym) *)pointer(o, d->d_un.d_ptr); break;
    case DT_STRTAB: o->strings = (const char *)pointer(o, d->d_un.d_ptr); break;
    case DT_STRSZ: o->strings_size = d->d_un.d_val; break;
    case DT_JMPREL: o->tables[0] = (const ElfW(Rela) *)pointer(o, d->d_un.d_ptr); break;
    case DT_PLTRELSZ: o->table_bytes[0] = d->d_un.d_val; break;
    case DT_PLTREL: rela_plt = d->d_un.d_val == DT_RELA; break;
    case DT_RELA: o->tables[1] = (const ElfW(Rela) *)pointer(o, d->d_un.d_ptr); break;
    case DT_RELASZ: o->table_bytes[1] = d->d_un.d_val; break;
    case DT_GNU_HASH: o->gnu_hash = (const uint32_t *)pointer(o, d->d_un.d_ptr); break;
    }
  }
  if (!rela_plt)
    o->tables[0] = NULL;
  return o->symbols && o->strings;
}

static const char *symbol_name(const object_t *o, uint32_t index) {
  uint32_t offset = o->symbols[index].st_name;
  return offset < o->strings_size ? o->strings + offset : NULL;
}

/* ---- the agent's own exports: what to patch --------------------------------------------- */

/* The number of dynamic symbols, from the GNU hash table: past the highest bucket's chain. */
static uint32_t symbol_count(const object_t *o) {
  const uint32_t *h = o->gnu_hash;
  uint32_t n_buckets = h[0], first = h[1], bloom_words = h[2];
  const uint32_t *buckets = (const uint32_t *)((const ElfW(Addr) *)(h + 4) + bloom_words);
  const uint32_t *chain = buckets + n_buckets;
  uint32_t last = 0;
  for (uint32_t b = 0; b < n_buckets; b++)
    if (buckets[b] > last)
      last = buckets[b];
  if (last < first)
    return first;
  while (!(chain[last - first] & 1))
    last++;
  return last + 1;
}

static int compare_hooks(const void *a, const void *b) {
  return strcmp(((const hook_t *)a)->name, ((const hook_t *)b)->name);
}

static int find_self(struct dl_phdr_info *info, size_t size, void *context) {
  (void)size;
  if (info->dlpi_addr != got.self_base)
    return 0;
  object_t *o = context;
  return read_object(info, o) && o->gnu_hash ? 1 : 0;
}

/* Every function libleakwatch-attach.so exports but its lw_* API: the interposed ones. */
static bool collect_hooks(void) {
  object_t self;
  if (!dl_iterate_phdr(find_self, &self))
    return false;
  uint32_t n = symbol_count(&self);
  got.n_hooks = 0;
  for (uint32_t i = 1; i < n && got.n_hooks < MAX_HOOKS; i++) {
    const ElfW(Sym) *s = &self.symbols[i];
    const char *name = symbol_name(&self, i);
    if (!name || ELF64_ST_TYPE(s->st_info) != STT_FUNC || s->st_shndx == SHN_UNDEF ||
        ELF64_ST_VISIBILITY(s->st_other) != STV_DEFAULT || strncmp(name, "lw_", 3) == 0 ||
        not_redirected(name))
      continue;
    got.hooks[got.n_hooks++] =
        (hook_t){name, self.base + s->st_value, pass_of(name)};
  }
  /* A few hundred names at most: insertion sort, no libc qsort callback subtleties. */
  for (int i = 1; i < got.n_hooks; i++)
    for (int j = i; j > 0 && compare_hooks(&got.hooks[j - 1], &got.hooks[j]) > 0; j--) {
      hook_t swap = got.hooks[j];
      got.hooks[j] = got.hooks[j - 1];
      got.hooks[j - 1] = swap;
    }
  return got.n_hooks > 0;
}

static const hook_t *find_hook(const char *name) {
  int low = 0, high = got.n_hooks - 1;
  while (low <= high) {
    int middle = (low + high) / 2;
    int c = strcmp(got.hooks[middle].name, name);
    if (c == 0)
      return &got.hooks[middle];
    if (c < 0)
      low = middle + 1;
    else
      high = middle - 1;
  }
  return NULL;
}

/* ---- growing arrays in arena memory ------------------------------------------------------ */

static bool make_room(void **array, size_t *capacity, size_t used, size_t element) {
  if (used < *capacity)
    return true;
  size_t bigger = *capacity ? *capacity * 2 : 4096 / element * 4;
  void *fresh = lw__arena_map(bigger * element);
  if (!fresh)
    return false;
  if (*array) {
    memcpy(fresh, *array, used * element);
    lw__arena_unmap(*array, *capacity * element);
  }
  *array = fresh;
  *capacity = bigger;
  return true;
}

/* ---- patching ---------------------------------------------------------------------------- */

static bool skipped(const struct dl_phdr_info *info) {
  return info->dlpi_addr == got.self_base || info->dlpi_addr == got.loader_base ||
         (got.vdso_base && (uintptr_t)info->dlpi_phdr >= got.vdso_base &&
          (uintptr_t)info->dlpi_phdr < got.vdso_base + 65536);
}

static bool object_known(uintptr_t dynamic) {
  for (size_t i = 0; i < got.n_objects; i++)
    if (got.objects[i] == dynamic)
      return true;
  return false;
}

typedef struct {
  int pass;
  bool new_only;      /* only objects not patched before (a later dlopen) */
  uintptr_t *seen;    /* dynamic sections of the objects loaded now */
  size_t n_seen, seen_capacity;
  int unsettled;      /* objects still being loaded: left for the next scan */
} scan_t;

static bool seen_now(const scan_t *scan, uintptr_t dynamic) {
  for (size_t i = 0; i < scan->n_seen; i++)
    if (scan->seen[i] == dynamic)
      return true;
  return false;
}

static void patch_slot(const object_t *o, uintptr_t slot, const hook_t *hook, bool *opened) {
  uintptr_t current = __atomic_load_n((uintptr_t *)slot, __ATOMIC_RELAXED);
  if (current == hook->function)
    return;
  if (!make_room((void **)&got.patches, &got.patch_capacity, got.n_patches, sizeof(patch_t))) {
    got.counts.refused++;
    return;
  }
  bool relro = slot >= o->relro_start && slot < o->relro_end;
  if (relro && !*opened) {
    if (mprotect((void *)o->relro_start, o->relro_end - o->relro_start,
                 PROT_READ | PROT_WRITE) != 0) {
      got.counts.refused++;
      return;
    }
    *opened = true;
  }
  got.patches[got.n_patches++] = (patch_t){slot, current, hook->function, o->dynamic,
                                           relro ? o->relro_start : 0, relro ? o->relro_end : 0};
  /* One aligned store: a thread calling through the slot meanwhile takes either function. */
  __atomic_store_n((uintptr_t *)slot, hook->function, __ATOMIC_RELEASE);
  got.counts.slots++;
}

typedef struct {
  uintptr_t address;
  bool found, writable;
} page_state_t;

static bool find_page(const lw_maps_line_t *line, void *context) {
  page_state_t *page = context;
  if (page->address < line->start || page->address >= line->end)
    return true;
  page->found = true;
  page->writable = line->writable;
  return false;
}

/* An object another thread is loading is listed before the loader has relocated it; its
 * RELRO pages are made read-only once that is done. Until then the agent leaves it alone: a
 * slot it wrote would be overwritten, and pages it made read-only again would fault the
 * loader's writes. The next scan (the dlsym hook, the agent thread) takes it. */
static bool relocated(const object_t *o) {
  if (o->relro_end <= o->relro_start)
    return true; /* no RELRO: nothing is made read-only, a lost write is the only risk */
  page_state_t page = {.address = o->relro_start};
  if (lw__maps_for_each(find_page, &page) < 0 || !page.found)
    return false;
  return !page.writable;
}

static int patch_object(struct dl_phdr_info *info, size_t size, void *context) {
  (void)size;
  scan_t *scan = context;
  object_t o;
  if (skipped(info) || !read_object(info, &o))
    return 0;
  if (scan->pass == 0 && !(scan->new_only && object_known(o.dynamic)) && !relocated(&o)) {
    scan->unsettled++;
    return 0;
  }
  if (scan->pass == 0 && make_room((void **)&scan->seen, &scan->seen_capacity, scan->n_seen,
                                   sizeof(uintptr_t)))
    scan->seen[scan->n_seen++] = o.dynamic;
  if (scan->new_only && object_known(o.dynamic))
    return 0;
  if (scan->pass > 0 && !seen_now(scan, o.dynamic))
    return 0; /* unsettled in the first pass */
  bool opened = false;
  for (int t = 0; t < 2; t++) {
    if (!o.tables[t])
      continue;
    size_t n = o.table_bytes[t] / sizeof(ElfW(Rela));
    for (size_t i = 0; i < n; i++) {
      const ElfW(Rela) *r = &o.tables[t][i];
      uint32_t type = ELF64_R_TYPE(r->r_info);
      uint32_t index = ELF64_R_SYM(r->r_info);
      if ((type != R_X86_64_JUMP_SLOT && type != R_X86_64_GLOB_DAT) || index == 0)
        continue;
      const char *name = symbol_name(&o, index);
      const hook_t *hook = name ? find_hook(name) : NULL;
      if (!hook || hook->pass != scan->pass || (!got.fds && is_fd_function(name)))
        continue;
      patch_slot(&o, o.base + r->r_offset, hook, &opened);
    }
  }
  if (opened)
    mprotect((void *)o.relro_start, o.relro_end - o.relro_start, PROT_READ);
  return 0;
}

static int read_adds(struct dl_phdr_info *info, size_t size, void *context) {
  (void)size;
  *(unsigned long long *)context = info->dlpi_adds;
  return 1;
}

/* Patches every loaded object (or those not patched yet), then remembers which are loaded. */
static void scan(bool new_only) {
  scan_t s = {.new_only = new_only};
  for (s.pass = 0; s.pass < PASSES; s.pass++)
    dl_iterate_phdr(patch_object, &s);
  if (s.seen) {
    /* Objects unloaded since the last scan are forgotten: one loaded at the same place is
     * patched again. */
    got.n_objects = 0;
    if (make_room((void **)&got.objects, &got.object_capacity, s.n_seen, sizeof(uintptr_t))) {
      memcpy(got.objects, s.seen, s.n_seen * sizeof(uintptr_t));
      got.n_objects = s.n_seen;
    }
    lw__arena_unmap(s.seen, s.seen_capacity * sizeof(uintptr_t));
  }
  /* The saved slots of unloaded objects go: their addresses may belong to another object
   * by the time of the detach. */
  size_t kept = 0;
  for (size_t i = 0; i < got.n_patches; i++)
    if (object_known(got.patches[i].object))
      got.patches[kept++] = got.patches[i];
  got.n_patches = kept;
  got.counts.objects = got.n_objects;
  if (s.unsettled)
    got.adds_seen = 0; /* look again at the next check */
}

int lw__got_patch_all(bool fds) {
  pthread_mutex_lock(&patch_lock);
  int result = 0;
  if (!got.hooks_ready) {
    Dl_info self;
    if (!dladdr((const void *)lw__got_patch_all, &self) || !(got.self_base =
                                                               (uintptr_t)self.dli_fbase)) {
      result = -1;
      goto out;
    }
    got.loader_base = (uintptr_t)getauxval(AT_BASE);
    got.vdso_base = (uintptr_t)getauxval(AT_SYSINFO_EHDR);
    if (!collect_hooks()) {
      result = -1;
      goto out;
    }
    got.hooks_ready = true;
  }
  got.fds = fds;
  got.n_patches = 0;
  got.n_objects = 0;
  memset(&got.counts, 0, sizeof got.counts);
  dl_iterate_phdr(read_adds, &got.adds_seen);
  scan(false);
  got.active = true;
out:
  pthread_mutex_unlock(&patch_lock);
  return result;
}

void lw__got_patch_new_objects(void) {
  unsigned long long adds = 0;
  dl_iterate_phdr(read_adds, &adds);
  if (adds == __atomic_load_n(&got.adds_seen, __ATOMIC_RELAXED))
    return;
  pthread_mutex_lock(&patch_lock);
  if (got.active && adds != got.adds_seen) {
    got.adds_seen = adds;
    scan(true);
  }
  pthread_mutex_unlock(&patch_lock);
}

static int collect_loaded(struct dl_phdr_info *info, size_t size, void *context) {
  (void)size;
  scan_t *s = context;
  object_t o;
  if (!skipped(info) && read_object(info, &o) &&
      make_room((void **)&s->seen, &s->seen_capacity, s->n_seen, sizeof(uintptr_t)))
    s->seen[s->n_seen++] = o.dynamic;
  return 0;
}

/* Newest first: a slot patched twice (its object unloaded and loaded again at the same
 * place) gets back what it held before the agent's first write there. */
void lw__got_restore_all(void) {
  pthread_mutex_lock(&patch_lock);
  if (!got.active) {
    pthread_mutex_unlock(&patch_lock);
    return;
  }
  scan_t loaded = {0};
  dl_iterate_phdr(collect_loaded, &loaded);
  for (size_t i = got.n_patches; i-- > 0;) {
    patch_t *p = &got.patches[i];
    bool present = false;
    for (size_t j = 0; j < loaded.n_seen && !present; j++)
      present = loaded.seen[j] == p->object;
    if (!present || __atomic_load_n((uintptr_t *)p->slot, __ATOMIC_RELAXED) != p->hook) {
      got.counts.left++; /* unloaded, or someone else wrote there after the agent */
      continue;
    }
    if (p->relro_end && mprotect((void *)p->relro_start, p->relro_end - p->relro_start,
                                 PROT_READ | PROT_WRITE) != 0) {
      got.counts.left++;
      continue;
    }
    uintptr_t expected = p->hook;
    bool restored = __atomic_compare_exchange_n((uintptr_t *)p->slot, &expected, p->original,
                                                false, __ATOMIC_RELEASE, __ATOMIC_RELAXED);
    if (p->relro_end)
      mprotect((void *)p->relro_start, p->relro_end - p->relro_start, PROT_READ);
    if (!restored) {
      got.counts.left++;
      continue;
    }
    got.counts.restored++;
  }
  if (loaded.seen)
    lw__arena_unmap(loaded.seen, loaded.seen_capacity * sizeof(uintptr_t));
  got.active = false;
  pthread_mutex_unlock(&patch_lock);
}

void lw__got_counts(lw_got_patch_counts_t *out) {
  pthread_mutex_lock(&patch_lock);
  *out = got.counts;
  pthread_mutex_unlock(&patch_lock);
}
