/*
 * probe_profile.h - test helper: runs the symbolize_probe fixture and builds, with the
 * common profile builder, the kind of profile the agent writes from its output: executable
 * mappings from /proc/self/maps with build IDs, one Location per probed address (absolute,
 * return address - 1), no Function records, and one heap sample per probe.
 *
 * Header-only (static functions) because each test binary is built from one .c file.
 */
#ifndef LW_TEST_PROBE_PROFILE_H
#define LW_TEST_PROBE_PROFILE_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/symbolize.h"
#include "common/profile.h"

#define PROBE_MAX 16

typedef struct probe {
  char label[64];
  uint64_t address;
  int lines[4]; /* expected source lines, innermost first */
  int n_lines;
  uint64_t location_id;
} probe_t;

typedef struct probe_run {
  probe_t probes[PROBE_MAX];
  int n_probes;
  char exe[4096]; /* path of the fixture binary */
} probe_run_t;

static const probe_t *probe_find(const probe_run_t *run, const char *label) {
  for (int i = 0; i < run->n_probes; i++)
    if (strcmp(run->probes[i].label, label) == 0)
      return &run->probes[i];
  return NULL;
}

/* Runs the fixture and fills *p (initialised here) and *run. Returns 0 or -1. */
static int probe_profile_build(lw_profile_t *p, probe_run_t *run) {
  memset(run, 0, sizeof *run);
  snprintf(run->exe, sizeof run->exe, "%s/tests/fixtures/symbolize_probe", LW_BUILD_DIR);
  FILE *out = popen(run->exe, "r");
  if (!out)
    return -1;
  lw_profile_init(p, &lw_libc_allocator);
  lw_profile_set_heap_layout(p, 1);
  p->time_nanos = 1700000000000000000;

  char line[8192];
  bool in_maps = false;
  while (fgets(line, sizeof line, out)) {
    line[strcspn(line, "\n")] = '\0';
    if (in_maps) {
      uint64_t start, end, offset;
      char perms[8], path[4096] = "";
      int consumed = 0;
      if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %7s %" SCNx64 " %*s %*s%n", &start, &end, perms,
                 &offset, &consumed) < 4)
        continue;
      const char *rest = line + consumed;
      while (*rest == ' ')
        rest++;
      snprintf(path, sizeof path, "%s", rest);
      if (perms[2] != 'x' || !path[0])
        continue;
      lw_profile_mapping_t m;
      memset(&m, 0, sizeof m);
      m.memory_start = start;
      m.memory_limit = end;
      m.file_offset = offset;
      m.filename = lw_profile_string(p, path);
      char hex[128];
      if (path[0] == '/' && lw_read_build_id(path, hex, sizeof hex) == 0)
        m.build_id = lw_profile_string(p, hex);
      lw_profile_add_mapping(p, &m);
      continue;
    }
    if (strcmp(line, "maps") == 0) {
      in_maps = true;
      continue;
    }
    probe_t *probe = &run->probes[run->n_probes];
    char kind[16];
    int n = 0;
    if (sscanf(line, "%15s %63s %" SCNx64 "%n", kind, probe->label, &probe->address, &n) < 3 ||
        run->n_probes == PROBE_MAX)
      continue;
    const char *rest = line + n;
    int value, used;
    while (probe->n_lines < 4 && sscanf(rest, "%d%n", &value, &used) == 1) {
      probe->lines[probe->n_lines++] = value;
      rest += used;
    }
    run->n_probes++;
  }
  if (pclose(out) != 0)
    return -1;

  /* Locations after all mappings are known; one sample per probe, sizes 1 KiB * (i+1). */
  for (int i = 0; i < run->n_probes; i++) {
    probe_t *probe = &run->probes[i];
    uint64_t mapping_id = 0;
    for (size_t j = 0; j < p->n_mappings; j++)
      if (probe->address >= p->mappings[j].memory_start &&
          probe->address < p->mappings[j].memory_limit)
        mapping_id = p->mappings[j].id;
    probe->location_id = lw_profile_add_location(p, mapping_id, probe->address, NULL, 0);
    int64_t bytes = 1024 * (i + 1);
    const int64_t values[] = {1, bytes, 1, bytes};
    lw_profile_add_sample(p, &probe->location_id, 1, values, 4, NULL, 0);
  }
  return lw_profile_build_index(p) == 0 && !p->failed && run->n_probes > 0 ? 0 : -1;
}

#endif
