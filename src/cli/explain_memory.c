/*
 * explain_memory.c - a process's resident memory by kind, from /proc/PID/smaps (see
 * explain_memory.h for how each kind is recognised and why).
 */
#include "cli/explain_memory.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* glibc's HEAP_MAX_SIZE on 64-bit targets: 2 x DEFAULT_MMAP_THRESHOLD_MAX (32 MiB). */
#define ARENA_HEAP_SIZE (64ull << 20)
/* A pthread guard is a page by default (pthread_attr_setguardsize may ask for more); a
 * larger PROT_NONE mapping below a read-write one is some other reserve (an arena's, a
 * program's own), and a big mapping the kernel placed right above it is no stack. */
#define MAX_GUARD_SIZE (1ull << 20)

typedef struct {
  uint64_t start, end;
  uint64_t rss, pss, swap, anonymous;
  char perms[5];
  char name[96];
} mapping_t;

static bool parse_header(const char *line, mapping_t *m) {
  char *end;
  m->start = strtoull(line, &end, 16);
  if (*end != '-')
    return false;
  m->end = strtoull(end + 1, &end, 16);
  if (*end != ' ' || m->end <= m->start)
    return false;
  const char *p = end + 1;
  memcpy(m->perms, p, 4);
  m->perms[4] = '\0';
  /* perms offset dev inode name: the name starts after the fifth field. */
  for (int field = 0; field < 4 && *p; field++) {
    while (*p && *p != ' ')
      p++;
    while (*p == ' ')
      p++;
  }
  size_t len = strcspn(p, "\n");
  if (len >= sizeof m->name)
    len = sizeof m->name - 1;
  memcpy(m->name, p, len);
  m->name[len] = '\0';
  return true;
}

/* "Rss:    1234 kB" -> bytes, when the line starts with key. */
static bool field_kib(const char *line, const char *key, uint64_t *out) {
  size_t n = strlen(key);
  if (strncmp(line, key, n) != 0)
    return false;
  *out = strtoull(line + n, NULL, 10) * 1024;
  return true;
}

static bool anonymous(const mapping_t *m) { return m->name[0] == '\0'; }
static bool no_access(const mapping_t *m) { return strncmp(m->perms, "---", 3) == 0; }
static bool read_write(const mapping_t *m) { return m->perms[0] == 'r' && m->perms[1] == 'w'; }

static bool arena_heap(const mapping_t *maps, size_t n, size_t i) {
  const mapping_t *m = &maps[i];
  if (!anonymous(m) || !read_write(m) || m->start % ARENA_HEAP_SIZE != 0 ||
      m->end - m->start > ARENA_HEAP_SIZE)
    return false; /* a heap never grows past its 64 MiB (a big aligned mmap is no heap) */
  if (m->end - m->start == ARENA_HEAP_SIZE)
    return true;
  /* The reserve may have merged with a guard page or reserve mapped after it: longer. */
  return i + 1 < n && maps[i + 1].start == m->end && anonymous(&maps[i + 1]) &&
         no_access(&maps[i + 1]) && maps[i + 1].end >= m->start + ARENA_HEAP_SIZE;
}

static bool holds_stack_pointer(const mapping_t *m, const uint64_t *sp, size_t n_sp) {
  for (size_t i = 0; i < n_sp; i++)
    if (sp[i] >= m->start && sp[i] < m->end)
      return true;
  return false;
}

static void keep_largest(lw_explain_memory_t *out, const mapping_t *m) {
  int slot = LW_EXPLAIN_LARGEST;
  while (slot > 0 && out->largest_other[slot - 1].rss_bytes < m->rss)
    slot--;
  if (slot == LW_EXPLAIN_LARGEST || m->rss == 0)
    return;
  memmove(&out->largest_other[slot + 1], &out->largest_other[slot],
          (LW_EXPLAIN_LARGEST - 1 - (size_t)slot) * sizeof out->largest_other[0]);
  lw_explain_mapping_t *e = &out->largest_other[slot];
  e->start = m->start;
  e->end = m->end;
  e->rss_bytes = m->rss;
  memcpy(e->perms, m->perms, sizeof e->perms);
  snprintf(e->name, sizeof e->name, "%s", m->name);
}

static bool shared_memory(const mapping_t *m) {
  return m->perms[3] == 's' &&
         (strncmp(m->name, "/dev/shm/", 9) == 0 || strncmp(m->name, "/dev/zero", 9) == 0 ||
          strncmp(m->name, "/memfd:", 7) == 0 || strncmp(m->name, "/SYSV", 5) == 0 ||
          anonymous(m));
}

int lw_explain_memory_parse(const char *smaps, const uint64_t *stack_pointers,
                            size_t n_stack_pointers, lw_explain_memory_t *out) {
  uint64_t threads = out->threads, with_sp = out->threads_with_sp;
  memset(out, 0, sizeof *out);
  out->threads = threads;
  out->threads_with_sp = with_sp;
  size_t n = 0, capacity = 0;
  mapping_t *maps = NULL;
  for (const char *line = smaps; *line;) {
    const char *next = strchr(line, '\n');
    next = next ? next + 1 : line + strlen(line);
    mapping_t header;
    memset(&header, 0, sizeof header);
    if (line[0] >= '0' && line[0] <= 'f' && strchr(line, '-') && strchr(line, '-') < next &&
        parse_header(line, &header)) {
      if (n == capacity) {
        capacity = capacity ? capacity * 2 : 256;
        mapping_t *grown = realloc(maps, capacity * sizeof *maps);
        if (!grown) {
          free(maps);
          return -1;
        }
        maps = grown;
      }
      maps[n++] = header;
    } else if (n) {
      mapping_t *m = &maps[n - 1];
      if (!field_kib(line, "Rss:", &m->rss) && !field_kib(line, "Pss:", &m->pss) &&
          !field_kib(line, "Swap:", &m->swap))
        field_kib(line, "Anonymous:", &m->anonymous);
    }
    line = next;
  }
  for (size_t i = 0; i < n; i++) {
    const mapping_t *m = &maps[i];
    out->rss_bytes += m->rss;
    out->pss_bytes += m->pss;
    out->swap_bytes += m->swap;
    out->anon_bytes += m->anonymous;
    if (strcmp(m->name, "[heap]") == 0) {
      out->brk_heap_bytes += m->rss;
    } else if (strcmp(m->name, "[stack]") == 0) {
      out->stack_bytes += m->rss;
      out->n_stacks++;
    } else if (m->name[0] == '[' || (m->name[0] == '/' && m->perms[2] == 'x')) {
      out->code_bytes += m->rss; /* [vdso], [vvar], [vsyscall] and executable files */
    } else if (shared_memory(m)) {
      out->shared_memory_bytes += m->rss;
    } else if (!anonymous(m)) {
      out->file_bytes += m->rss; /* data and read-only parts of files, mapped files */
    } else if (arena_heap(maps, n, i)) {
      out->arena_heap_bytes += m->rss;
      out->n_arena_heaps++;
    } else if (read_write(m) &&
               (holds_stack_pointer(m, stack_pointers, n_stack_pointers) ||
                (i > 0 && maps[i - 1].end == m->start && anonymous(&maps[i - 1]) &&
                 no_access(&maps[i - 1]) &&
                 maps[i - 1].end - maps[i - 1].start <= MAX_GUARD_SIZE &&
                 !(i >= 2 && arena_heap(maps, n, i - 2))))) { /* not a heap's reserve */
      out->stack_bytes += m->rss;
      out->n_stacks++;
    } else if (!no_access(m)) {
      out->other_anon_bytes += m->rss;
      out->n_other_anon++;
      keep_largest(out, m);
    }
  }
  free(maps);
  return 0;
}

/* The stack pointers of the threads asleep in a system call: /proc/PID/task/TID/syscall is
 * "nr arg1 ... arg6 sp pc" then (kstkesp in stat is 0 on current kernels); "running" or
 * unreadable gives none. */
static size_t read_stack_pointers(int pid, uint64_t **out, uint64_t *threads) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/task", pid);
  DIR *dir = opendir(path);
  *out = NULL;
  *threads = 0;
  if (!dir)
    return 0;
  size_t n = 0, capacity = 0;
  struct dirent *entry;
  while ((entry = readdir(dir)) != NULL) {
    if (entry->d_name[0] < '0' || entry->d_name[0] > '9')
      continue;
    (*threads)++;
    char file[320], text[256];
    snprintf(file, sizeof file, "/proc/%d/task/%s/syscall", pid, entry->d_name);
    FILE *f = fopen(file, "r");
    if (!f)
      continue;
    size_t len = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[len] = '\0';
    char *words[10];
    int n_words = 0;
    for (char *save = NULL, *w = strtok_r(text, " \n", &save); w && n_words < 10;
         w = strtok_r(NULL, " \n", &save))
      words[n_words++] = w;
    if (n_words != 9)
      continue; /* "running", or a kernel that says less */
    if (n == capacity) {
      capacity = capacity ? capacity * 2 : 16;
      uint64_t *grown = realloc(*out, capacity * sizeof **out);
      if (!grown)
        break;
      *out = grown;
    }
    (*out)[n++] = strtoull(words[7], NULL, 16);
  }
  closedir(dir);
  return n;
}

int lw_explain_memory_read(int pid, lw_explain_memory_t *out, char *error, size_t error_size) {
  memset(out, 0, sizeof *out);
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/smaps", pid);
  FILE *f = fopen(path, "r");
  if (!f) {
    snprintf(error, error_size, "cannot read %s: %s", path,
             errno == ENOENT ? "no such process" : strerror(errno));
    return -1;
  }
  size_t len = 0, capacity = 1 << 20;
  char *text = malloc(capacity);
  while (text) {
    len += fread(text + len, 1, capacity - len - 1, f);
    if (len + 1 < capacity)
      break;
    capacity *= 2;
    char *grown = realloc(text, capacity);
    if (!grown) {
      free(text);
      text = NULL;
    }
    text = grown;
  }
  bool failed = ferror(f);
  fclose(f);
  if (!text || failed) {
    snprintf(error, error_size, "cannot read %s: %s", path,
             text ? "read error" : "out of memory");
    free(text);
    return -1;
  }
  text[len] = '\0';
  if (len == 0) {
    snprintf(error, error_size, "%s is empty (a kernel thread, or a process that exited)",
             path);
    free(text);
    return -1;
  }
  uint64_t *sp = NULL;
  uint64_t threads = 0;
  size_t n_sp = read_stack_pointers(pid, &sp, &threads);
  out->threads = threads;
  out->threads_with_sp = n_sp;
  int result = lw_explain_memory_parse(text, sp, n_sp, out);
  free(sp);
  free(text);
  if (result < 0)
    snprintf(error, error_size, "out of memory reading %s", path);
  return result;
}
