/*
 * maps_reader.h - streams the lines of /proc/self/maps through a fixed buffer, so the agent
 * can read it at any time without allocating.
 */
#ifndef LW_AGENT_MAPS_READER_H
#define LW_AGENT_MAPS_READER_H

#include <stdbool.h>
#include <stdint.h>

typedef struct lw_maps_line {
  uint64_t start;
  uint64_t end;
  uint64_t offset;
  bool readable, writable, executable;
  const char *path; /* "" for anonymous mappings; " (deleted)" already removed */
} lw_maps_line_t;

/* Calls fn for each line until it returns false. Returns 0, or -errno if the file could not
 * be read. The reader's own buffer (mapped for the read) is left out of the lines: a line
 * the kernel merged with it comes trimmed, or as two lines around it. */
int lw__maps_for_each(bool (*fn)(const lw_maps_line_t *line, void *context), void *context);

#endif
