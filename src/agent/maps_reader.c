/*
 * maps_reader.c - /proc/self/maps, line by line, through an 8 KiB buffer (see maps_reader.h).
 * Parsing is by hand: no sscanf (locale, and stdio in the agent).
 *
 * The buffer is mapped for each read, not taken from the stack: the reader runs on program
 * threads (dlclose, a thread registering itself) whose stacks may be 16 KiB in all, and a
 * read of /proc/self/maps costs far more than the mapping does.
 *
 * That mapping is not the program's, and it is gone when the read ends, so no line shows
 * it. The kernel merges an anonymous mapping with a neighbour of the same protection and
 * shows them as one line: next to the main thread's TCB and static TLS (an anonymous
 * mapping of the loader's), the line for the TCB started at the buffer, and the exit-time
 * reachability scan read the buffer's pages after they were unmapped (a crash in about 4
 * runs in 100). Each line is reported without the buffer's pages: trimmed, split in two
 * around them, or left out when it is the buffer alone.
 */
#include "agent/maps_reader.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static const char *parse_hex(const char *p, uint64_t *out) {
  uint64_t v = 0;
  for (;; p++) {
    char c = *p;
    if (c >= '0' && c <= '9')
      v = (v << 4) | (uint64_t)(c - '0');
    else if (c >= 'a' && c <= 'f')
      v = (v << 4) | (uint64_t)(c - 'a' + 10);
    else
      break;
  }
  *out = v;
  return p;
}

static const char *skip_field(const char *p) {
  while (*p && *p != ' ')
    p++;
  while (*p == ' ')
    p++;
  return p;
}

/* "start-end perms offset dev inode   path" */
static bool parse_line(char *line, lw_maps_line_t *out) {
  const char *p = parse_hex(line, &out->start);
  if (*p != '-')
    return false;
  p = parse_hex(p + 1, &out->end);
  if (*p != ' ' || strlen(p) < 5)
    return false;
  out->readable = p[1] == 'r';
  out->writable = p[2] == 'w';
  out->executable = p[3] == 'x';
  p = skip_field(p + 1);
  p = parse_hex(p, &out->offset);
  p = skip_field(p); /* offset's trailing spaces */
  p = skip_field(p); /* dev */
  p = skip_field(p); /* inode */
  char *path = (char *)p;
  size_t len = strlen(path);
  static const char deleted[] = " (deleted)";
  if (len >= sizeof deleted - 1 && strcmp(path + len - (sizeof deleted - 1), deleted) == 0)
    path[len - (sizeof deleted - 1)] = '\0';
  out->path = path;
  return true;
}

/* Calls fn for the parts of line outside [own_start, own_end) (the reader's buffer).
 * Returns what the last call returned (true when nothing is left to call it for). */
static bool report_without(const lw_maps_line_t *line, uint64_t own_start, uint64_t own_end,
                           bool (*fn)(const lw_maps_line_t *line, void *context),
                           void *context) {
  if (line->end <= own_start || line->start >= own_end)
    return fn(line, context);
  if (line->start < own_start) {
    lw_maps_line_t below = *line;
    below.end = own_start;
    if (!fn(&below, context))
      return false;
  }
  if (line->end > own_end) {
    lw_maps_line_t above = *line;
    above.offset += own_end - line->start;
    above.start = own_end;
    return fn(&above, context);
  }
  return true;
}

int lw__maps_for_each(bool (*fn)(const lw_maps_line_t *line, void *context), void *context) {
  enum { BUFFER_SIZE = 8192 };
  int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  char *buffer = mmap(NULL, BUFFER_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                      -1, 0);
  if (buffer == MAP_FAILED) {
    int error = errno;
    close(fd);
    return -error;
  }
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  size_t mapped = (BUFFER_SIZE + page - 1) & ~(page - 1); /* the pages the buffer holds */
  size_t filled = 0;
  int result = 0;
  bool stop = false;
  while (!stop) {
    ssize_t n = read(fd, buffer + filled, BUFFER_SIZE - 1 - filled);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      result = -errno;
      break;
    }
    filled += (size_t)n;
    buffer[filled] = '\0';
    char *line = buffer;
    char *newline;
    while (!stop && (newline = strchr(line, '\n')) != NULL) {
      *newline = '\0';
      lw_maps_line_t parsed;
      if (parse_line(line, &parsed))
        stop = !report_without(&parsed, (uintptr_t)buffer, (uintptr_t)buffer + mapped, fn,
                               context);
      line = newline + 1;
    }
    size_t rest = filled - (size_t)(line - buffer);
    if (n == 0 || (rest == filled && filled == BUFFER_SIZE - 1)) {
      /* End of file, or a line longer than the buffer (skip it). */
      if (n == 0)
        break;
      rest = 0;
    }
    memmove(buffer, line, rest);
    filled = rest;
  }
  close(fd);
  munmap(buffer, BUFFER_SIZE);
  return result;
}
