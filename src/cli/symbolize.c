/*
 * symbolize.c - addresses to functions, file:line and inline frames with libdw (see
 * symbolize.h). Runs in the CLI only, never in the agent: it opens files, allocates freely
 * and may take seconds on big binaries.
 *
 * One Dwfl session per mapped file (a profile's mappings need not form a valid address
 * space, and a session per file cannot collide with another), reported at the load bias
 * computed from the mapping and the file's program headers. Functions are interned so one
 * function is one Function record, and results are cached per (file, address).
 */
#include "cli/symbolize.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwelf.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <stdarg.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "cli/cli.h"

/* libstdc++'s demangler (cxxabi.h is C++ only; this is its C-compatible declaration). */
/* An inline chain deeper than this is cut at the outermost frames we keep. */
#define MAX_FRAMES 64

/* ---- small helpers --------------------------------------------------------------------- */

static void to_hex(const uint8_t *bytes, size_t n, char *hex, size_t size) {
  static const char digits[] = "0123456789abcdef";
  size_t j = 0;
  for (size_t i = 0; i < n && j + 2 < size; i++) {
    hex[j++] = digits[bytes[i] >> 4];
    hex[j++] = digits[bytes[i] & 15];
  }
  if (size)
    hex[j] = '\0';
}

static bool hex_equal(const char *a, const char *b) {
  for (; *a && *b; a++, b++) {
    char x = *a >= 'A' && *a <= 'F' ? (char)(*a - 'A' + 'a') : *a;
    char y = *b >= 'A' && *b <= 'F' ? (char)(*b - 'A' + 'a') : *b;
    if (x != y)
      return false;
  }
  return *a == *b;
}

/* Build ID of an open ELF as hex; "" when it has none. */
static void elf_build_id_hex(Elf *elf, char *hex, size_t size) {
  const void *bits = NULL;
  ssize_t n = dwelf_elf_gnu_build_id(elf, &bits);
  if (n > 0 && bits)
    to_hex(bits, (size_t)n, hex, size);
  else if (size)
    hex[0] = '\0';
}

static bool on_pseudo_filesystem(int fd) {
  struct statfs fs;
  return fstatfs(fd, &fs) == 0 && (fs.f_type == PROC_SUPER_MAGIC || fs.f_type == SYSFS_MAGIC);
}

int lw_open_named_file(const char *path) {
  /* stat first: opening a device can itself do something (a tape rewinds on open). */
  struct stat st;
  if (stat(path, &st) < 0)
    return -1;
  if (!S_ISREG(st.st_mode)) {
    errno = ENODEV;
    return -1;
  }
  /* ...and fstat after, since the name may have changed in between. */
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || on_pseudo_filesystem(fd)) {
    close(fd);
    errno = ENODEV;
    return -1;
  }
  return fd;
}

int lw_read_build_id(const char *path, char *hex, size_t size) {
  elf_version(EV_CURRENT);
  int fd = lw_open_named_file(path);
  if (fd < 0)
    return -1;
  Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
  int rc = -1;
  if (elf && elf_kind(elf) == ELF_K_ELF) {
    elf_build_id_hex(elf, hex, size);
    rc = hex[0] ? 0 : -1;
  }
  if (elf)
    elf_end(elf);
  close(fd);
  return rc;
}

/* ---- which locations need work ---------------------------------------------------------- */

/* A location needs symbolizing unless some line already has a source position (Go writes
 * file:line; the agent writes only ELF names, with no file and line 0). */
static bool location_needs(const lw_profile_t *p, const lw_profile_location_t *l) {
  const lw_profile_line_t *lines = lw_location_lines(p, l);
  for (uint32_t i = 0; i < l->n_lines; i++) {
    const lw_profile_function_t *f = lw_profile_function(p, lines[i].function_id);
    if (lines[i].line != 0 || (f && f->filename != 0))
      return false;
  }
  return true;
}

/* Pseudo-files that never exist on disk (pprof skips the same ones). */
static bool symbolizable_file(const char *file) {
  if (file[0] != '/')
    return false;
  static const char *const prefixes[] = {"/dev/", "/memfd:", "//anon", "/SYSV", "/anon_hugepage"};
  for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++)
    if (strncmp(file, prefixes[i], strlen(prefixes[i])) == 0)
      return false;
  return true;
}

static const lw_profile_mapping_t *mapping_for(const lw_profile_t *p,
                                               const lw_profile_location_t *l) {
  if (l->mapping_id)
    return lw_profile_mapping(p, l->mapping_id);
  for (size_t i = 0; i < p->n_mappings; i++)
    if (l->address >= p->mappings[i].memory_start && l->address < p->mappings[i].memory_limit)
      return &p->mappings[i];
  return NULL;
}

bool lw_symbolize_needed(const lw_profile_t *p) {
  for (size_t i = 0; i < p->n_locations; i++) {
    const lw_profile_location_t *l = &p->locations[i];
    const lw_profile_mapping_t *m = mapping_for(p, l);
    if (m && symbolizable_file(lw_profile_str(p, m->filename)) && location_needs(p, l))
      return true;
  }
  return false;
}

/* ---- state ------------------------------------------------------------------------------- */

typedef struct frame {
  char name[1024];
  char system_name[1024];
  char file[2048];
  int64_t start_line;
  int64_t line;
} frame_t;

typedef struct module {
  int64_t filename;  /* string index */
  uint64_t bias;
  int state;         /* 1 usable, -1 unusable (warned) */
  Dwfl *dwfl;
  Dwfl_Module *mod;
} module_t;

typedef struct mapping_stats {
  size_t processed, with_function, with_lines;
} mapping_stats_t;

typedef struct {
  int64_t name, system_name, filename, start_line;
  uint64_t id;
} function_key_t;

typedef struct {
  const module_t *module;
  uint64_t address;
  uint32_t first_line, n_lines; /* in profile->lines; n_lines 0 = unresolved */
  bool dwarf;
  bool used;
} address_entry_t;

typedef struct symbolizer {
  lw_profile_t *p;
  const lw_symbolize_options_t *options;
  lw_symbolize_result_t *result;
  Dwfl_Callbacks callbacks;
  module_t *modules;
  size_t n_modules, cap_modules;
  int *mapping_module; /* per mapping index: module index, -1 none yet, -2 unusable */
  mapping_stats_t *stats;
  function_key_t *functions; /* open addressing on the key; id 0 = empty */
  size_t function_cap, n_function_keys;
  uint64_t next_function_id;
  address_entry_t *addresses;
  size_t address_cap, n_addresses;
  frame_t *frames; /* MAX_FRAMES of them: scratch for resolve() */
  bool oom;
} symbolizer_t;

static void warn(symbolizer_t *s, const char *format, ...) __attribute__((format(printf, 2, 3)));
static void warn(symbolizer_t *s, const char *format, ...) {
  char raw[1024], message[1024];
  va_list args;
  va_start(args, format);
  vsnprintf(raw, sizeof raw, format, args);
  va_end(args);
  lw_escape_text(message, sizeof message, raw); /* paths come from the profile */
  s->result->n_warnings++;
  if (s->options->warn)
    s->options->warn(s->options->warn_context, message);
  else
    lw_cli_warn("%s", message);
}

/* ---- function interning ------------------------------------------------------------------ */

static uint64_t mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  return h * 0xff51afd7ed558ccdull;
}

static uint64_t function_hash(const function_key_t *k) {
  return mix(mix(mix(mix(0, (uint64_t)k->name), (uint64_t)k->system_name), (uint64_t)k->filename),
             (uint64_t)k->start_line);
}

static bool function_table_insert(symbolizer_t *s, const function_key_t *k) {
  if ((s->n_function_keys + 1) * 2 > s->function_cap) {
    size_t cap = s->function_cap ? s->function_cap * 2 : 1024;
    function_key_t *table = calloc(cap, sizeof *table);
    if (!table)
      return false;
    for (size_t i = 0; i < s->function_cap; i++) {
      if (!s->functions[i].id)
        continue;
      size_t slot = function_hash(&s->functions[i]) & (cap - 1);
      while (table[slot].id)
        slot = (slot + 1) & (cap - 1);
      table[slot] = s->functions[i];
    }
    free(s->functions);
    s->functions = table;
    s->function_cap = cap;
  }
  size_t slot = function_hash(k) & (s->function_cap - 1);
  while (s->functions[slot].id) {
    const function_key_t *o = &s->functions[slot];
    if (o->name == k->name && o->system_name == k->system_name && o->filename == k->filename &&
        o->start_line == k->start_line)
      return true; /* first one wins: duplicates in a decoded profile stay as they are */
    slot = (slot + 1) & (s->function_cap - 1);
  }
  s->functions[slot] = *k;
  s->n_function_keys++;
  return true;
}

static uint64_t function_id(symbolizer_t *s, const char *name, const char *system_name,
                            const char *filename, int64_t start_line) {
  lw_profile_t *p = s->p;
  function_key_t k = {lw_profile_string(p, name), lw_profile_string(p, system_name),
                      lw_profile_string(p, filename), start_line, 0};
  if (p->failed) {
    s->oom = true;
    return 0;
  }
  if (s->function_cap) {
    size_t slot = function_hash(&k) & (s->function_cap - 1);
    while (s->functions[slot].id) {
      const function_key_t *o = &s->functions[slot];
      if (o->name == k.name && o->system_name == k.system_name && o->filename == k.filename &&
          o->start_line == k.start_line)
        return o->id;
      slot = (slot + 1) & (s->function_cap - 1);
    }
  }
  if (!lw_profile_add_function(p, k.name, k.system_name, k.filename, k.start_line)) {
    s->oom = true;
    return 0;
  }
  /* The builder numbers functions 1..n; a decoded profile may use other ids, so take one
   * above the largest seen. */
  k.id = s->next_function_id++;
  p->functions[p->n_functions - 1].id = k.id;
  if (!function_table_insert(s, &k)) {
    s->oom = true;
    return 0;
  }
  return k.id;
}

/* ---- address cache ------------------------------------------------------------------------ */

static size_t address_slot(const symbolizer_t *s, const module_t *m, uint64_t address) {
  uint64_t h = mix(mix(0, (uint64_t)(uintptr_t)m), address);
  size_t slot = h & (s->address_cap - 1);
  while (s->addresses[slot].used &&
         !(s->addresses[slot].module == m && s->addresses[slot].address == address))
    slot = (slot + 1) & (s->address_cap - 1);
  return slot;
}

static address_entry_t *address_lookup(symbolizer_t *s, const module_t *m, uint64_t address) {
  if (!s->address_cap)
    return NULL;
  address_entry_t *e = &s->addresses[address_slot(s, m, address)];
  return e->used ? e : NULL;
}

static void address_store(symbolizer_t *s, const module_t *m, uint64_t address, uint32_t first,
                          uint32_t n, bool dwarf) {
  if ((s->n_addresses + 1) * 2 > s->address_cap) {
    size_t old_cap = s->address_cap;
    address_entry_t *old = s->addresses;
    size_t cap = old_cap ? old_cap * 2 : 4096;
    address_entry_t *table = calloc(cap, sizeof *table);
    if (!table)
      return; /* the cache is an optimisation: carry on without it */
    s->addresses = table;
    s->address_cap = cap;
    for (size_t i = 0; i < old_cap; i++)
      if (old[i].used)
        s->addresses[address_slot(s, old[i].module, old[i].address)] = old[i];
    free(old);
  }
  address_entry_t *e = &s->addresses[address_slot(s, m, address)];
  if (!e->used)
    s->n_addresses++;
  *e = (address_entry_t){m, address, first, n, dwarf, true};
}

/* ---- opening binaries ---------------------------------------------------------------------- */

/* Opens `path` and returns its fd when its build ID is `want` (hex). */
static int open_if_build_id(const char *path, const char *want) {
  int fd = lw_open_named_file(path);
  if (fd < 0)
    return -1;
  Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
  char have[128] = "";
  if (elf) {
    elf_build_id_hex(elf, have, sizeof have);
    elf_end(elf);
  }
  if (!have[0] || !hex_equal(have, want)) {
    close(fd);
    return -1;
  }
  return fd;
}

static bool exists_not_regular(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && !S_ISREG(st.st_mode);
}

/* Whether a path dwfl_standard_find_debuginfo would open (elfutils' find-debuginfo.c:
 * the debuglink as given, beside the binary, in .debug/ there, under /usr/lib/debug, and
 * the build-id tree) exists and is not a regular file. */
static bool not_regular_candidate(const char *file_name, const char *debuglink,
                                  const unsigned char *bits, int n_bits) {
  char path[4096], dir[4096];
  if (n_bits > 1 && bits) {
    char hex[256];
    to_hex(bits, (size_t)n_bits, hex, sizeof hex);
    snprintf(path, sizeof path, "/usr/lib/debug/.build-id/%.2s/%s.debug", hex, hex + 2);
    if (exists_not_regular(path))
      return true;
  }
  if (!debuglink || !debuglink[0])
    return false;
  if (debuglink[0] == '/')
    return exists_not_regular(debuglink);
  snprintf(dir, sizeof dir, "%s", file_name ? file_name : "");
  char *slash = strrchr(dir, '/');
  if (slash)
    *slash = '\0';
  else
    snprintf(dir, sizeof dir, ".");
  static const char *const prefixes[] = {"", "", "/usr/lib/debug", "/usr/lib/debug"};
  static const char *const middles[] = {"/", "/.debug/", "/", "/"};
  for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
    snprintf(path, sizeof path, "%s%s%s%s", prefixes[i], i == 3 ? "" : dir, middles[i],
             debuglink);
    if (exists_not_regular(path))
      return true;
  }
  return false;
}

/* libdw asks for split debug info when the binary has none: our directories first, in the
 * two layouts in use (build-id trees as in /usr/lib/debug, and debuginfod's cache, which
 * stores <build-id>/debuginfo), then elfutils' standard search (debuglink, /usr/lib/debug,
 * and debuginfod itself when DEBUGINFOD_URLS is set). */
static int find_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname,
                          Dwarf_Addr base, const char *file_name, const char *debuglink_file,
                          GElf_Word debuglink_crc, char **debuginfo_file_name) {
  const symbolizer_t *s = *userdata;
  const unsigned char *bits = NULL;
  GElf_Addr vaddr;
  int n = dwfl_module_build_id(mod, &bits, &vaddr);
  if (s && n > 1 && bits) {
    char hex[256];
    to_hex(bits, (size_t)n, hex, sizeof hex);
    for (size_t i = 0; i < s->options->n_debug_dirs; i++) {
      const char *dir = s->options->debug_dirs[i];
      char path[4096];
      for (size_t j = 0; j < 2; j++) {
        if (j == 0)
          snprintf(path, sizeof path, "%s/.build-id/%.2s/%s.debug", dir, hex, hex + 2);
        else
          snprintf(path, sizeof path, "%s/%s/debuginfo", dir, hex);
        int fd = open_if_build_id(path, hex);
        if (fd >= 0) {
          *debuginfo_file_name = strdup(path);
          return fd;
        }
      }
    }
  }
  /* elfutils' search opens its candidates plainly: a FIFO planted where it looks (beside a
   * binary a crafted profile names, say) would block it forever. Candidates that exist and
   * are not regular files end the search here. */
  if (s && not_regular_candidate(file_name, debuglink_file, bits, n)) {
    warn((symbolizer_t *)s, "'%s': a debug info file where elfutils looks is not a regular "
         "file; symbolizing without it", file_name ? file_name : modname);
    return -1;
  }
  return dwfl_standard_find_debuginfo(mod, userdata, modname, base, file_name, debuglink_file,
                                      debuglink_crc, debuginfo_file_name);
}

/* The load bias of the mapping: runtime address minus link-time (p_vaddr) address, from the
 * executable PT_LOAD segment that contains the mapping's file offset. */
static bool mapping_bias(Elf *elf, const lw_profile_mapping_t *m, uint64_t *bias) {
  size_t n;
  if (elf_getphdrnum(elf, &n) != 0)
    return false;
  const GElf_Phdr *best = NULL;
  GElf_Phdr phdr, chosen;
  for (size_t i = 0; i < n; i++) {
    if (!gelf_getphdr(elf, (int)i, &phdr) || phdr.p_type != PT_LOAD)
      continue;
    uint64_t align = phdr.p_align > 1 ? phdr.p_align : 1;
    uint64_t start = phdr.p_offset & ~(align - 1);
    if (m->file_offset < start || m->file_offset >= phdr.p_offset + phdr.p_filesz)
      continue;
    if (!best || (phdr.p_flags & PF_X)) {
      chosen = phdr;
      best = &chosen;
      if (phdr.p_flags & PF_X)
        break;
    }
  }
  if (!best)
    return false;
  *bias = m->memory_start - m->file_offset + best->p_offset - best->p_vaddr;
  return true;
}

/* Finds or opens the module for a mapping; NULL when it cannot be used (warned once). */
static module_t *module_for(symbolizer_t *s, size_t mapping_index) {
  int known = s->mapping_module[mapping_index];
  if (known == -2)
    return NULL;
  if (known >= 0)
    return s->modules[known].state > 0 ? &s->modules[known] : NULL;
  lw_profile_t *p = s->p;
  const lw_profile_mapping_t *m = &p->mappings[mapping_index];
  const char *path = lw_profile_str(p, m->filename);
  const char *want = lw_profile_str(p, m->build_id);
  const char *shown_id = want[0] ? want : "none recorded";
  s->mapping_module[mapping_index] = -2;

  int fd = lw_open_named_file(path);
  if (fd < 0) {
    s->result->n_mappings_missing++;
    warn(s, "'%s' (build ID %s): %s; its frames stay unsymbolized", path, shown_id,
         errno == ENODEV ? "not a regular file" : strerror(errno));
    return NULL;
  }
  Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
  if (!elf || elf_kind(elf) != ELF_K_ELF) {
    if (elf)
      elf_end(elf);
    close(fd);
    s->result->n_mappings_missing++;
    warn(s, "'%s' (build ID %s): not an ELF file; its frames stay unsymbolized", path,
         shown_id);
    return NULL;
  }
  char have[128];
  elf_build_id_hex(elf, have, sizeof have);
  /* A profile without a build ID cannot be checked; pprof accepts the file then, so do we. */
  if (want[0] && !hex_equal(have, want)) {
    elf_end(elf);
    close(fd);
    s->result->n_mappings_mismatched++;
    warn(s, "'%s' has build ID %s but the profile was taken with build ID %s (rebuilt or "
         "replaced since?); its frames stay unsymbolized", path, have[0] ? have : "(none)", want);
    return NULL;
  }
  uint64_t bias = 0;
  bool ok = mapping_bias(elf, m, &bias);
  elf_end(elf);
  if (!ok) {
    close(fd);
    s->result->n_mappings_mismatched++;
    warn(s, "'%s' (build ID %s): no loadable segment at file offset 0x%" PRIx64
         "; its frames stay unsymbolized", path, shown_id, m->file_offset);
    return NULL;
  }
  /* Same file at the same bias (a profile may list a file's segments separately): share. */
  for (size_t i = 0; i < s->n_modules; i++) {
    if (s->modules[i].state > 0 && s->modules[i].bias == bias &&
        strcmp(lw_profile_str(p, s->modules[i].filename), path) == 0) {
      close(fd);
      s->mapping_module[mapping_index] = (int)i;
      return &s->modules[i];
    }
  }
  if (s->n_modules == s->cap_modules) {
    size_t cap = s->cap_modules ? s->cap_modules * 2 : 16;
    module_t *grown = realloc(s->modules, cap * sizeof *grown);
    if (!grown) {
      close(fd);
      s->oom = true;
      return NULL;
    }
    s->modules = grown;
    s->cap_modules = cap;
  }
  module_t *mod = &s->modules[s->n_modules];
  memset(mod, 0, sizeof *mod);
  mod->filename = m->filename;
  mod->bias = bias;
  mod->dwfl = dwfl_begin(&s->callbacks);
  if (mod->dwfl) {
    dwfl_report_begin(mod->dwfl);
    /* add_p_vaddr: `bias` is added to the file's p_vaddr (libdwfl.h table). */
    mod->mod = dwfl_report_elf(mod->dwfl, lw_symbolize_basename(path), path, fd, bias, true);
    dwfl_report_end(mod->dwfl, NULL, NULL);
  }
  if (!mod->dwfl || !mod->mod) {
    if (!mod->mod)
      close(fd); /* dwfl_report_elf consumes the fd only on success */
    s->result->n_mappings_missing++;
    warn(s, "'%s' (build ID %s): %s; its frames stay unsymbolized", path, shown_id,
         dwfl_errmsg(-1));
    if (mod->dwfl)
      dwfl_end(mod->dwfl);
    return NULL;
  }
  void **userdata = NULL;
  dwfl_module_info(mod->mod, &userdata, NULL, NULL, NULL, NULL, NULL, NULL);
  if (userdata)
    *userdata = s;
  mod->state = 1;
  s->mapping_module[mapping_index] = (int)s->n_modules;
  s->n_modules++;
  return mod;
}

/* ---- DWARF ------------------------------------------------------------------------------ */

static const char *die_string(Dwarf_Die *die, unsigned int at) {
  Dwarf_Attribute attr;
  return dwarf_attr_integrate(die, at, &attr) ? dwarf_formstring(&attr) : NULL;
}

/* Absolute path: DWARF file names may be relative to the compilation directory. */
static void absolute_file(const char *file, const char *comp_dir, char *out, size_t size) {
  if (!file)
    file = "";
  if (file[0] && file[0] != '/' && comp_dir && comp_dir[0])
    snprintf(out, size, "%s/%s", comp_dir, file);
  else
    snprintf(out, size, "%s", file);
}

/* The DIE that declares a function: follows abstract_origin (inlined or out-of-line
 * instances) and specification (C++ members defined outside their class). */
static Dwarf_Die *declaration_of(Dwarf_Die *die, Dwarf_Die *scratch) {
  for (int hops = 0; hops < 8; hops++) {
    Dwarf_Attribute attr;
    Dwarf_Attribute *ref = dwarf_attr(die, DW_AT_abstract_origin, &attr);
    if (!ref)
      ref = dwarf_attr(die, DW_AT_specification, &attr);
    if (!ref || !dwarf_formref_die(ref, scratch))
      break;
    die = scratch;
  }
  return die;
}

/* "ns::Class::" for a C++ function DWARF names without a linkage name (static inline
 * functions): the names of the namespaces and classes that enclose its declaration. */
static void qualifier_of(Dwarf_Die *die, char *out, size_t size) {
  out[0] = '\0';
  Dwarf_Die scratch;
  Dwarf_Die *decl = declaration_of(die, &scratch);
  Dwarf_Die *scopes = NULL;
  int n = dwarf_getscopes_die(decl, &scopes);
  size_t len = 0;
  for (int i = n - 1; i >= 1; i--) {
    int tag = dwarf_tag(&scopes[i]);
    if (tag != DW_TAG_namespace && tag != DW_TAG_class_type && tag != DW_TAG_structure_type &&
        tag != DW_TAG_union_type)
      continue;
    const char *name = dwarf_diename(&scopes[i]);
    int w = snprintf(out + len, size - len, "%s::", name ? name : "(anonymous namespace)");
    if (w < 0 || (size_t)w >= size - len)
      break;
    len += (size_t)w;
  }
  free(scopes);
}

/* Names a function DIE (subprogram or inlined instance): the demangled linkage name when
 * there is one (C++), else DW_AT_name (C), qualified with its namespaces in C++; `fallback`
 * (the ELF symbol) when DWARF has neither. */
static void die_names(Dwarf_Die *die, Dwarf_Die *cu, const char *fallback, frame_t *f) {
  const char *linkage = die_string(die, DW_AT_linkage_name);
  if (!linkage)
    linkage = die_string(die, DW_AT_MIPS_linkage_name);
  const char *name = die_string(die, DW_AT_name);
  if (linkage) {
    snprintf(f->system_name, sizeof f->system_name, "%s", linkage);
    lw_demangle(linkage, f->name, sizeof f->name);
  } else if (name) {
    char qualifier[512] = "";
    int language = dwarf_srclang(cu);
    if (language == DW_LANG_C_plus_plus || language == DW_LANG_C_plus_plus_11 ||
        language == DW_LANG_C_plus_plus_14 || language == DW_LANG_C_plus_plus_03)
      qualifier_of(die, qualifier, sizeof qualifier);
    snprintf(f->name, sizeof f->name, "%s%s", qualifier, name);
    snprintf(f->system_name, sizeof f->system_name, "%s", f->name);
  } else {
    snprintf(f->system_name, sizeof f->system_name, "%s", fallback ? fallback : "");
    lw_demangle(fallback ? fallback : "", f->name, sizeof f->name);
  }
  int decl_line = 0;
  f->start_line = dwarf_decl_line(die, &decl_line) == 0 ? decl_line : 0;
}

/* Fills frames innermost first for the address (already relative to nothing: absolute
 * runtime address). Returns the number of frames, 0 when nothing is known. *dwarf is set
 * when the frames came from debug info (file:line and inline chain). */
static size_t resolve(module_t *m, uint64_t address, frame_t *frames, size_t max, bool *dwarf) {
  *dwarf = false;
  GElf_Off offset = 0;
  GElf_Sym sym;
  const char *symbol = dwfl_module_addrinfo(m->mod, address, &offset, &sym, NULL, NULL, NULL);

  Dwarf_Addr bias = 0;
  Dwarf_Die *cu = dwfl_module_addrdie(m->mod, address, &bias);
  if (cu) {
    Dwfl_Line *line = dwfl_module_getsrc(m->mod, address);
    int lineno = 0;
    const char *file = line ? dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL) : NULL;
    const char *comp_dir = die_string(cu, DW_AT_comp_dir);
    char current_file[2048];
    absolute_file(file, comp_dir, current_file, sizeof current_file);
    int64_t current_line = lineno;

    /* dwarf_getscopes finds the innermost function instance at the address, but past an
     * inlined instance it continues in the abstract definition's scopes; the physical chain
     * of callers comes from dwarf_getscopes_die on that instance (as eu-addr2line -i). */
    Dwarf_Die *scopes = NULL;
    int n = dwarf_getscopes(cu, address - bias, &scopes);
    Dwarf_Die innermost;
    bool found = false;
    for (int i = 0; i < n && !found; i++) {
      int tag = dwarf_tag(&scopes[i]);
      if (tag == DW_TAG_inlined_subroutine || tag == DW_TAG_subprogram) {
        innermost = scopes[i];
        found = true;
      }
    }
    free(scopes);
    scopes = NULL;
    n = found ? dwarf_getscopes_die(&innermost, &scopes) : 0;
    size_t count = 0;
    Dwarf_Files *files = NULL;
    size_t n_files = 0;
    for (int i = 0; i < n && count < max; i++) {
      int tag = dwarf_tag(&scopes[i]);
      if (tag != DW_TAG_inlined_subroutine && tag != DW_TAG_subprogram)
        continue;
      frame_t *f = &frames[count++];
      die_names(&scopes[i], cu, tag == DW_TAG_subprogram ? symbol : NULL, f);
      snprintf(f->file, sizeof f->file, "%s", current_file);
      f->line = current_line;
      if (tag == DW_TAG_subprogram)
        break;
      /* The caller's position is where this inlined instance was called from. */
      Dwarf_Attribute attr;
      Dwarf_Word value = 0;
      current_line = dwarf_formudata(dwarf_attr(&scopes[i], DW_AT_call_line, &attr), &value) == 0
                         ? (int64_t)value
                         : 0;
      if (dwarf_formudata(dwarf_attr(&scopes[i], DW_AT_call_file, &attr), &value) == 0 &&
          (files || dwarf_getsrcfiles(cu, &files, &n_files) == 0) && value < n_files) {
        absolute_file(dwarf_filesrc(files, value, NULL, NULL), comp_dir, current_file,
                      sizeof current_file);
      }
    }
    free(scopes);
    if (count > 0) {
      *dwarf = true;
      return count;
    }
    /* A CU without a subprogram here (assembly with line tables): symbol plus line. */
    if (symbol && file) {
      frame_t *f = &frames[0];
      snprintf(f->system_name, sizeof f->system_name, "%s", symbol);
      lw_demangle(symbol, f->name, sizeof f->name);
      snprintf(f->file, sizeof f->file, "%s", current_file);
      f->line = lineno;
      f->start_line = 0;
      *dwarf = true;
      return 1;
    }
  }
  if (symbol) {
    frame_t *f = &frames[0];
    snprintf(f->system_name, sizeof f->system_name, "%s", symbol);
    lw_demangle(symbol, f->name, sizeof f->name);
    f->file[0] = '\0';
    f->line = 0;
    f->start_line = 0;
    return 1;
  }
  return 0;
}

/* ---- the pass ------------------------------------------------------------------------------ */

/* Gives agent-written ELF names (name == system_name == mangled) a demangled name, for
 * locations we could not resolve ourselves: still the right name, just readable. */
static void demangle_existing(symbolizer_t *s, const lw_profile_location_t *l) {
  lw_profile_t *p = s->p;
  const lw_profile_line_t *lines = lw_location_lines(p, l);
  for (uint32_t i = 0; i < l->n_lines; i++) {
    const lw_profile_function_t *cf = lw_profile_function(p, lines[i].function_id);
    if (!cf || cf->name != cf->system_name)
      continue;
    char demangled[2048];
    if (lw_demangle(lw_profile_str(p, cf->system_name), demangled, sizeof demangled)) {
      lw_profile_function_t *f = &p->functions[cf - p->functions];
      f->name = lw_profile_string(p, demangled);
    }
  }
}

/* Counts a location we could not resolve ourselves: whatever the agent wrote stays. */
static void keep_existing(symbolizer_t *s, size_t mapping_index,
                          const lw_profile_location_t *l) {
  if (l->n_lines) {
    s->stats[mapping_index].with_function++;
    s->result->n_functions++;
  } else {
    s->result->n_unresolved++;
  }
  demangle_existing(s, l);
}

static void symbolize_location(symbolizer_t *s, size_t location_index) {
  lw_profile_t *p = s->p;
  lw_profile_location_t *l = &p->locations[location_index];
  const lw_profile_mapping_t *m = mapping_for(p, l);
  size_t mi = (size_t)(m - p->mappings);
  s->result->n_locations++;
  s->stats[mi].processed++;
  module_t *mod = module_for(s, mi);
  if (!mod || l->address < m->memory_start || l->address >= m->memory_limit) {
    keep_existing(s, mi, l);
    return;
  }
  lw_profile_line_t lines[MAX_FRAMES];
  size_t n = 0;
  bool dwarf = false;
  const address_entry_t *cached = address_lookup(s, mod, l->address);
  if (cached) {
    n = cached->n_lines;
    dwarf = cached->dwarf;
    memcpy(lines, p->lines + cached->first_line, n * sizeof *lines);
  } else {
    n = resolve(mod, l->address, s->frames, MAX_FRAMES, &dwarf);
    for (size_t i = 0; i < n; i++) {
      lines[i].function_id = function_id(s, s->frames[i].name, s->frames[i].system_name,
                                         s->frames[i].file, s->frames[i].start_line);
      lines[i].line = s->frames[i].line;
      lines[i].column = 0;
    }
  }
  if (s->oom)
    return;
  if (n == 0) {
    address_store(s, mod, l->address, 0, 0, false);
    keep_existing(s, mi, l);
    return;
  }
  if (lw_profile_set_lines(p, l, lines, n) < 0) {
    s->oom = true;
    return;
  }
  if (!cached)
    address_store(s, mod, l->address, l->first_line, l->n_lines, dwarf);
  s->stats[mi].with_function++;
  s->result->n_functions++;
  if (dwarf) {
    s->stats[mi].with_lines++;
    s->result->n_lines++;
  }
  if (n > 1)
    s->result->n_inlined++;
}

int lw_symbolize_profile(lw_profile_t *p, const lw_symbolize_options_t *options,
                         lw_symbolize_result_t *result) {
  lw_symbolize_options_t defaults;
  lw_symbolize_result_t ignored;
  memset(&defaults, 0, sizeof defaults);
  if (!options)
    options = &defaults;
  if (!result)
    result = &ignored;
  memset(result, 0, sizeof *result);
  if (lw_profile_build_index(p) < 0)
    return -1;

  symbolizer_t s;
  memset(&s, 0, sizeof s);
  s.p = p;
  s.options = options;
  s.result = result;
  s.callbacks.find_elf = dwfl_build_id_find_elf;
  s.callbacks.find_debuginfo = find_debuginfo;
  s.callbacks.section_address = dwfl_offline_section_address;
  elf_version(EV_CURRENT);

  /* Decide first, while the id index still describes every function. */
  bool *todo = calloc(p->n_locations + 1, sizeof *todo);
  s.mapping_module = malloc((p->n_mappings + 1) * sizeof *s.mapping_module);
  s.stats = calloc(p->n_mappings + 1, sizeof *s.stats);
  s.frames = malloc(MAX_FRAMES * sizeof *s.frames);
  if (!todo || !s.mapping_module || !s.stats || !s.frames) {
    free(s.frames);
    free(todo);
    free(s.mapping_module);
    free(s.stats);
    return -1;
  }
  for (size_t i = 0; i < p->n_mappings; i++)
    s.mapping_module[i] = -1;
  size_t n_todo = 0;
  for (size_t i = 0; i < p->n_locations; i++) {
    const lw_profile_location_t *l = &p->locations[i];
    const lw_profile_mapping_t *m = mapping_for(p, l);
    if (m && symbolizable_file(lw_profile_str(p, m->filename)) &&
        (options->force || location_needs(p, l))) {
      todo[i] = true;
      n_todo++;
    }
  }
  for (size_t i = 0; i < p->n_functions; i++) {
    if (p->functions[i].id >= s.next_function_id)
      s.next_function_id = p->functions[i].id + 1;
    function_key_t k = {p->functions[i].name, p->functions[i].system_name,
                        p->functions[i].filename, p->functions[i].start_line,
                        p->functions[i].id};
    if (n_todo && !function_table_insert(&s, &k))
      s.oom = true;
  }
  if (s.next_function_id == 0)
    s.next_function_id = 1;

  for (size_t i = 0; i < p->n_locations && !s.oom; i++)
    if (todo[i])
      symbolize_location(&s, i);

  /* A mapping says what its locations carry only when all of those we handled carry it. */
  for (size_t i = 0; i < p->n_mappings; i++) {
    const mapping_stats_t *st = &s.stats[i];
    if (!st->processed)
      continue;
    lw_profile_mapping_t *m = &p->mappings[i];
    m->has_functions = st->with_function == st->processed;
    m->has_filenames = m->has_line_numbers = m->has_inline_frames =
        st->with_lines == st->processed;
  }

  for (size_t i = 0; i < s.n_modules; i++)
    if (s.modules[i].dwfl)
      dwfl_end(s.modules[i].dwfl);
  free(s.modules);
  free(s.mapping_module);
  free(s.stats);
  free(s.functions);
  free(s.addresses);
  free(s.frames);
  free(todo);
  if (lw_profile_build_index(p) < 0 || p->failed)
    s.oom = true;
  return s.oom ? -1 : 0;
}
