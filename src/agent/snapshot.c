/*
 * snapshot.c - LEAKWATCH_SNAPSHOT_AT: heap profiles written while memory rises towards the
 * point where the process is killed, so that an OOM kill (which no handler sees) still
 * leaves the profile of what it held.
 *
 * The value is up to 8 levels, comma-separated: "90%" is a share of the memory cgroup's
 * limit, compared with the group's usage (what the kernel compares with that limit);
 * "512MiB" is a size, compared with the process's resident memory. Each level, the first
 * time it is crossed, writes one profile, <output>.snapshot-<n> (n = 1, 2, ... in the order
 * written), beside the exit profile; levels crossed together write one. So there are at
 * most as many snapshots as levels, each at a higher level than the last.
 *
 * Runs on the agent thread, every CHECK_MS (one small file read: /proc/self/statm or the
 * group's usage); the profile is built there as for the control socket's `heap`. With
 * LEAKWATCH_CONTROL=0 there is no thread and no snapshot (said once at start). A fork
 * child goes on from the levels its parent had crossed, under its own output name.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "common/cgroup.h"
#include "common/file.h"
#include "common/fmt.h"
#include "common/procfs.h"
#include "common/units.h"

enum { MAX_LEVELS = 8, CHECK_MS = 100 };

typedef struct {
  uint64_t value;   /* bytes, or percent x 100 of the cgroup limit */
  bool percent;
  bool crossed;
} level_t;

static struct {
  bool parsed;
  bool off;         /* nothing to watch (no levels, no output, no limit) */
  int n_levels;
  level_t levels[MAX_LEVELS];
  bool any_percent;
  lw_cgroup_t group; /* where percent levels are measured (version NONE: not found) */
  bool group_looked;
  int written;
  uint64_t next_check_ms;
} snapshot;

/* "90%", "87.5%": hundredths of a percent. */
static bool parse_percent(const char *text, size_t len, uint64_t *out) {
  uint64_t whole = 0, hundredths = 0;
  size_t i = 0;
  for (; i < len && text[i] >= '0' && text[i] <= '9' && whole < 1000; i++)
    whole = whole * 10 + (uint64_t)(text[i] - '0');
  if (i == 0)
    return false;
  if (i < len && text[i] == '.') {
    int digits = 0;
    for (i++; i < len && text[i] >= '0' && text[i] <= '9'; i++, digits++)
      if (digits < 2)
        hundredths = hundredths * 10 + (uint64_t)(text[i] - '0');
    if (digits == 1)
      hundredths *= 10;
  }
  *out = whole * 100 + hundredths;
  return i + 1 == len && text[i] == '%' && *out > 0 && *out <= 10000;
}

static bool parse_levels(const char *text) {
  const char *p = text;
  while (*p) {
    const char *end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    char one[64];
    if (len == 0 || len >= sizeof one || snapshot.n_levels == MAX_LEVELS)
      return false;
    memcpy(one, p, len);
    one[len] = '\0';
    level_t *level = &snapshot.levels[snapshot.n_levels++];
    if (one[len - 1] == '%') {
      level->percent = true;
      snapshot.any_percent = true;
      if (!parse_percent(one, len, &level->value))
        return false;
    } else if (lw_parse_size(one, &level->value) != 0 || level->value < (1u << 20)) {
      /* a bare "90" is a forgotten %, not 90 bytes */
      return false;
    }
    p = end ? end + 1 : p + len;
  }
  return snapshot.n_levels > 0;
}

/* The memory cgroup of this process (the one holding its memory files). */
static void find_group(void) {
  lw_cgroup_mounts_t mounts;
  char text[4096], v2_path[LW_CGROUP_PATH_MAX], v1_path[LW_CGROUP_PATH_MAX];
  snapshot.group.version = LW_CGROUP_NONE;
  ssize_t n = lw_proc_read_path("/proc/self/cgroup", text, sizeof text);
  if (n <= 0 || lw_cgroup_detect(&mounts) != 0 ||
      lw_procfs_parse_cgroup(text, (size_t)n, v2_path, sizeof v2_path, v1_path,
                             sizeof v1_path) != 0)
    return;
  if (lw_cgroup_resolve(&mounts, v2_path, v1_path, &snapshot.group) != 0)
    snapshot.group.version = LW_CGROUP_NONE;
}

void lw__snapshot_init(void) {
  const char *value = lw__options.snapshot_at;
  snapshot.parsed = true;
  snapshot.off = true;
  if (!value[0])
    return;
  if (!parse_levels(value)) {
    lw__log("ignoring LEAKWATCH_SNAPSHOT_AT='%s': expected up to %d levels like 90%% (of the "
            "memory cgroup's limit) or 512MiB (of resident memory, at least 1MiB), "
            "comma-separated",
            value, MAX_LEVELS);
    return;
  }
  if (!lw__exit_output_path()[0]) {
    lw__log("LEAKWATCH_SNAPSHOT_AT needs LEAKWATCH_OUTPUT (snapshots are written beside it)");
    return;
  }
  if (!lw__options.control) {
    lw__log("LEAKWATCH_SNAPSHOT_AT is watched by the agent thread, which LEAKWATCH_CONTROL=0 "
            "turns off: no snapshots");
    return;
  }
  snapshot.off = false;
}

bool lw__snapshot_wanted(void) {
  if (!snapshot.parsed)
    lw__snapshot_init();
  return !snapshot.off;
}

static uint64_t resident_bytes(void) {
  char text[256];
  lw_proc_statm_t statm;
  ssize_t n = lw_proc_read_path("/proc/self/statm", text, sizeof text - 1);
  if (n <= 0 || lw_procfs_parse_statm(text, (size_t)n, &statm) != 0)
    return 0;
  return statm.resident_pages * (uint64_t)sysconf(_SC_PAGESIZE);
}

static void write_snapshot(const char *why) {
  char path[4096 + 32];
  int n = ++snapshot.written;
  if (lw_fmt(path, sizeof path, "%s.snapshot-%d", lw__exit_output_path(), n) >= sizeof path)
    return;
  int result = lw__export_profile(path);
  if (result < 0) {
    char problem[160];
    lw_output_problem(path, result, problem, sizeof problem);
    lw__log("%s: cannot write heap snapshot '%s': %s", why, path, problem);
    return;
  }
  lw__log("%s: heap snapshot written to %s", why, path);
}

void lw__snapshot_check(uint64_t now_ms) {
  if (!lw__snapshot_wanted() || now_ms < snapshot.next_check_ms)
    return;
  snapshot.next_check_ms = now_ms + CHECK_MS;
  if (snapshot.any_percent && !snapshot.group_looked) {
    snapshot.group_looked = true;
    find_group();
    lw_cgroup_memory_t memory;
    if (snapshot.group.version == LW_CGROUP_NONE ||
        lw_cgroup_read_memory(&snapshot.group, &memory) != 0 ||
        !(memory.has & LW_CGROUP_HAS_MAX) || memory.max_bytes == LW_CGROUP_UNLIMITED)
      lw__log("LEAKWATCH_SNAPSHOT_AT: the memory cgroup has no limit now; its %% levels wait "
              "for one");
  }
  uint64_t rss = 0, usage = 0, limit = LW_CGROUP_UNLIMITED;
  bool have_rss = false, have_group = false;
  char why[160] = "";
  for (int i = 0; i < snapshot.n_levels; i++) {
    level_t *level = &snapshot.levels[i];
    if (level->crossed)
      continue;
    if (level->percent) {
      if (!have_group) {
        lw_cgroup_memory_t memory;
        have_group = true;
        if (snapshot.group.version != LW_CGROUP_NONE &&
            lw_cgroup_read_memory(&snapshot.group, &memory) == 0 &&
            (memory.has & LW_CGROUP_HAS_MAX)) {
          usage = memory.current_bytes;
          limit = memory.max_bytes;
        }
      }
      if (limit == LW_CGROUP_UNLIMITED ||
          (unsigned __int128)usage * 10000 < (unsigned __int128)limit * level->value)
        continue;
      lw_fmt(why, sizeof why, "memory cgroup at %llu%% of its limit (%llu of %llu MiB)",
             (unsigned long long)(usage * 100 / limit), (unsigned long long)(usage >> 20),
             (unsigned long long)(limit >> 20));
    } else {
      if (!have_rss) {
        rss = resident_bytes();
        have_rss = true;
      }
      if (!rss || rss < level->value)
        continue;
      lw_fmt(why, sizeof why, "resident memory at %llu MiB (level %llu MiB)",
             (unsigned long long)(rss >> 20), (unsigned long long)(level->value >> 20));
    }
    level->crossed = true;
  }
  if (why[0])
    write_snapshot(why);
}

uint64_t lw__snapshot_next_ms(void) {
  return snapshot.parsed && !snapshot.off ? snapshot.next_check_ms : 0;
}
