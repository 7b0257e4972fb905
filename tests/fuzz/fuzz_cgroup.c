/*
 * fuzz_cgroup.c - libFuzzer target for the cgroup text parsers (src/common/cgroup.c):
 * /proc/<pid>/mountinfo, v2 memory.max/current/peak/events and v1 limit_in_bytes,
 * failcnt and oom_control all get the same bytes, and what mountinfo yields is joined
 * with a group path taken from the input, as lw_cgroup_resolve does. Nothing may read
 * outside the input, and accepted results must be NUL-terminated within their fields.
 * Seeds: captured files (corpus/cgroup/). Built and replayed like the other targets
 * (tests/fuzz/CMakeLists.txt, docs/FUZZING.md).
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/cgroup.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void expect_terminated(const char *field, size_t size) {
  if (!memchr(field, '\0', size))
    __builtin_trap();
}

/* Joins a mount from mountinfo with `path` and checks the result fits where it says. */
static void join(const char *mount, const char *root, const char *path) {
  char out[LW_CGROUP_PATH_MAX];
  int rc = lw_cgroup_join(mount, root, path, out, sizeof out);
  if (rc == 0)
    expect_terminated(out, sizeof out);
  else if (rc != -ENAMETOOLONG)
    __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = malloc(size ? size : 1); /* exactly size bytes: overreads are caught */
  if (!text)
    return 0;
  memcpy(text, data, size);

  lw_cgroup_mounts_t mounts;
  if (lw_cgroup_parse_mountinfo(text, size, &mounts) == 0) {
    expect_terminated(mounts.v2_mount, sizeof mounts.v2_mount);
    expect_terminated(mounts.v2_root, sizeof mounts.v2_root);
    expect_terminated(mounts.v1_memory_mount, sizeof mounts.v1_memory_mount);
    expect_terminated(mounts.v1_memory_root, sizeof mounts.v1_memory_root);
    /* The group path: the input's last line, as /proc/<pid>/cgroup would give it. */
    char path[2 * LW_CGROUP_PATH_MAX];
    const char *last = text;
    for (size_t i = 0; i + 1 < size; i++)
      if (text[i] == '\n')
        last = text + i + 1;
    size_t n = (size_t)(text + size - last);
    if (n >= sizeof path)
      n = sizeof path - 1;
    memcpy(path, last, n);
    path[n] = '\0';
    join(mounts.v2_mount, mounts.v2_root, path);
    join(mounts.v1_memory_mount, mounts.v1_memory_root, path);
  }
  uint64_t value;
  (void)lw_cgroup_parse_limit(text, size, &value);
  (void)lw_cgroup_parse_u64(text, size, &value);
  lw_cgroup_v2_events_t events;
  (void)lw_cgroup_parse_v2_events(text, size, &events);
  lw_cgroup_v1_oom_control_t oom;
  if (lw_cgroup_parse_v1_oom_control(text, size, &oom) == 0 && !oom.has_oom_kill &&
      oom.oom_kill != 0)
    __builtin_trap(); /* a count the file did not have */
  free(text);
  return 0;
}
