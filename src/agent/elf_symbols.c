/*
 * elf_symbols.c - function names for code addresses, from a file's ELF symbol table.
 *
 * Used when the agent writes a profile, so that `go tool pprof` shows function names even
 * for binaries without DWARF (pprof itself cannot use ELF symbols, FORMATS.md 1.8). The
 * file is mapped read-only, its build ID compared with the one seen in memory (a rebuilt
 * binary must not lend its names to old addresses), and its function symbols sorted once.
 * `leakwatch run` later replaces these names with full DWARF symbolization.
 */
#include <elf.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent.h"

typedef struct {
  uint64_t address;
  uint64_t size;
  const char *name;
} symbol_t;

struct lw_elf_symbols {
  const uint8_t *image;
  size_t image_size;
  const Elf64_Phdr *program_headers;
  int n_program_headers;
  symbol_t *symbols;
  size_t n_symbols;
  bool out_of_memory; /* a symbol table was there but could not be indexed */
};

static bool in_image(const lw_elf_symbols_t *e, uint64_t offset, uint64_t size) {
  return offset <= e->image_size && size <= e->image_size - offset;
}

static void hex_encode(const uint8_t *bytes, size_t n, char *out, size_t out_size) {
  static const char digits[] = "0123456789abcdef";
  size_t j = 0;
  for (size_t i = 0; i < n && j + 2 < out_size; i++) {
    out[j++] = digits[bytes[i] >> 4];
    out[j++] = digits[bytes[i] & 15];
  }
  out[j] = '\0';
}

static void file_build_id(const lw_elf_symbols_t *e, char *out, size_t out_size) {
  out[0] = '\0';
  for (int i = 0; i < e->n_program_headers; i++) {
    const Elf64_Phdr *ph = &e->program_headers[i];
    if (ph->p_type != PT_NOTE || !in_image(e, ph->p_offset, ph->p_filesz))
      continue;
    const uint8_t *p = e->image + ph->p_offset;
    const uint8_t *end = p + ph->p_filesz;
    while (p + sizeof(Elf64_Nhdr) <= end) {
      const Elf64_Nhdr *note = (const Elf64_Nhdr *)p;
      size_t name_size = (note->n_namesz + 3) & ~3u;
      size_t desc_size = (note->n_descsz + 3) & ~3u;
      const uint8_t *name = p + sizeof *note;
      const uint8_t *desc = name + name_size;
      if (name_size > (size_t)(end - name) || desc_size > (size_t)(end - desc))
        break;
      if (note->n_type == NT_GNU_BUILD_ID && note->n_namesz == 4 && memcmp(name, "GNU", 4) == 0) {
        hex_encode(desc, note->n_descsz, out, out_size);
        return;
      }
      p = desc + desc_size;
    }
  }
}

/* Heapsort by address: no recursion, no allocation (qsort may malloc). */
static void sift_down(symbol_t *a, size_t root, size_t n) {
  for (;;) {
    size_t child = 2 * root + 1;
    if (child >= n)
      return;
    if (child + 1 < n && a[child + 1].address > a[child].address)
      child++;
    if (a[root].address >= a[child].address)
      return;
    symbol_t t = a[root];
    a[root] = a[child];
    a[child] = t;
    root = child;
  }
}

static void sort_symbols(symbol_t *a, size_t n) {
  for (size_t i = n / 2; i-- > 0;)
    sift_down(a, i, n);
  for (size_t end = n; end-- > 1;) {
    symbol_t t = a[0];
    a[0] = a[end];
    a[end] = t;
    sift_down(a, 0, end);
  }
}

/* Collects STT_FUNC/IFUNC symbols of one symbol table section. */
static bool load_table(lw_elf_symbols_t *e, const Elf64_Shdr *sections, size_t n_sections,
                       uint32_t type) {
  for (size_t i = 0; i < n_sections; i++) {
    const Elf64_Shdr *sh = &sections[i];
    if (sh->sh_type != type || sh->sh_entsize != sizeof(Elf64_Sym) || sh->sh_link >= n_sections)
      continue;
    const Elf64_Shdr *strings = &sections[sh->sh_link];
    if (!in_image(e, sh->sh_offset, sh->sh_size) ||
        !in_image(e, strings->sh_offset, strings->sh_size) || strings->sh_size == 0)
      continue;
    const Elf64_Sym *syms = (const Elf64_Sym *)(e->image + sh->sh_offset);
    size_t n = sh->sh_size / sizeof(Elf64_Sym);
    const char *names = (const char *)(e->image + strings->sh_offset);
    if (names[strings->sh_size - 1] != '\0')
      continue;
    e->symbols = lw_alloc(&lw__scratch_allocator, (n ? n : 1) * sizeof(symbol_t));
    if (!e->symbols) {
      e->out_of_memory = true;
      return false;
    }
    for (size_t j = 0; j < n; j++) {
      int kind = ELF64_ST_TYPE(syms[j].st_info);
      if ((kind != STT_FUNC && kind != STT_GNU_IFUNC) || syms[j].st_shndx == SHN_UNDEF ||
          syms[j].st_value == 0 || syms[j].st_name >= strings->sh_size)
        continue;
      symbol_t *s = &e->symbols[e->n_symbols++];
      s->address = syms[j].st_value;
      s->size = syms[j].st_size;
      s->name = names + syms[j].st_name;
    }
    sort_symbols(e->symbols, e->n_symbols);
    return e->n_symbols > 0;
  }
  return false;
}

lw_elf_symbols_t *lw__elf_symbols_open(const char *path, const char *build_id) {
  if (!path || path[0] != '/')
    return NULL;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return NULL;
  struct stat st;
  void *image = MAP_FAILED;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= (off_t)sizeof(Elf64_Ehdr))
    image = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (image == MAP_FAILED)
    return NULL;
  lw_elf_symbols_t *e = lw_alloc(&lw__scratch_allocator, sizeof *e);
  if (!e) {
    munmap(image, (size_t)st.st_size);
    return NULL;
  }
  memset(e, 0, sizeof *e);
  e->image = image;
  e->image_size = (size_t)st.st_size;
  const Elf64_Ehdr *eh = image;
  if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
      !in_image(e, eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr)) ||
      !in_image(e, eh->e_shoff, (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr)))
    goto fail;
  e->program_headers = (const Elf64_Phdr *)(e->image + eh->e_phoff);
  e->n_program_headers = eh->e_phnum;
  if (build_id && build_id[0]) {
    char found[81];
    file_build_id(e, found, sizeof found);
    if (strcmp(found, build_id) != 0)
      goto fail; /* the file on disk is not the one that was mapped */
  }
  const Elf64_Shdr *sections = (const Elf64_Shdr *)(e->image + eh->e_shoff);
  bool loaded = load_table(e, sections, eh->e_shnum, SHT_SYMTAB) ||
                load_table(e, sections, eh->e_shnum, SHT_DYNSYM);
  if (e->out_of_memory) {
    /* Fewer names (or none) for this object: the profile keeps its addresses, which the
     * CLI names with libdw; say so once rather than write a poorer profile silently. */
    static bool said;
    if (!__atomic_exchange_n(&said, true, __ATOMIC_RELAXED))
      lw__log("out of memory while reading the symbols of '%s': profiles name fewer "
              "functions (addresses are kept)",
              path);
  }
  if (!loaded)
    goto fail;
  return e;
fail:
  lw__elf_symbols_close(e);
  return NULL;
}

/* Runtime address -> address in the file's own virtual address space (what symbols use). */
static bool to_file_address(const lw_elf_symbols_t *e, const lw_object_mapping_t *m,
                            uint64_t address, uint64_t *out) {
  uint64_t file_offset = address - m->start + m->file_offset;
  for (int i = 0; i < e->n_program_headers; i++) {
    const Elf64_Phdr *ph = &e->program_headers[i];
    if (ph->p_type == PT_LOAD && file_offset >= ph->p_offset &&
        file_offset < ph->p_offset + ph->p_memsz) {
      *out = file_offset - ph->p_offset + ph->p_vaddr;
      return true;
    }
  }
  return false;
}

const char *lw__elf_symbols_lookup(lw_elf_symbols_t *e, const lw_object_mapping_t *m,
                                   uint64_t address) {
  uint64_t target;
  if (!e || !to_file_address(e, m, address, &target))
    return NULL;
  size_t low = 0, high = e->n_symbols;
  while (low < high) { /* first symbol with address > target */
    size_t mid = low + (high - low) / 2;
    if (e->symbols[mid].address <= target)
      low = mid + 1;
    else
      high = mid;
  }
  if (low == 0)
    return NULL;
  const symbol_t *s = &e->symbols[low - 1];
  /* Symbols of size 0 (hand-written assembly) cover up to the next symbol. */
  if (s->size && target >= s->address + s->size)
    return NULL;
  return s->name;
}

void lw__elf_symbols_close(lw_elf_symbols_t *e) {
  if (!e)
    return;
  if (e->image)
    munmap((void *)e->image, e->image_size);
  e->image = NULL;
}
