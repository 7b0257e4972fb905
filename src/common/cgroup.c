/*
 * cgroup.c - memory cgroup detection, reading and child groups (see cgroup.h). Plain
 * system calls only; formats follow the kernel's Documentation/admin-guide/cgroup-v2.rst
 * and cgroup-v1/memory.rst.
 */
#define _GNU_SOURCE
#include "common/cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/fmt.h"
#include "common/text_scan.h"

/* v1 prints PAGE_COUNTER_MAX * PAGE_SIZE for "no limit" (9223372036854771712 with 4 KiB
 * pages); any limit this large means none. */
#define V1_UNLIMITED_FLOOR 0x7FFFFFFFFFFFF000ull

/* Accepts an optional trailing newline and nothing else after the value. */
static bool only_newline(const char *p, const char *end) {
  return p == end || (p + 1 == end && *p == '\n');
}

int lw_cgroup_parse_u64(const char *text, size_t len, uint64_t *out) {
  const char *p = lw_scan_u64(text, text + len, out);
  return p && only_newline(p, text + len) ? 0 : -EINVAL;
}

int lw_cgroup_parse_limit(const char *text, size_t len, uint64_t *out) {
  if (len >= 3 && memcmp(text, "max", 3) == 0 && only_newline(text + 3, text + len)) {
    *out = LW_CGROUP_UNLIMITED;
    return 0;
  }
  uint64_t v;
  if (lw_cgroup_parse_u64(text, len, &v) != 0)
    return -EINVAL;
  *out = v >= V1_UNLIMITED_FLOOR ? LW_CGROUP_UNLIMITED : v;
  return 0;
}

/* "key value" lines; stores the values of known keys; unknown keys are skipped (newer
 * kernels add some). Returns the number of known keys or -EINVAL. */
typedef struct {
  const char *key;
  uint64_t *value;
} kv_t;

static int parse_kv_lines(const char *text, size_t len, const kv_t *keys, size_t n_keys) {
  const char *p = text, *end = text + len;
  int found = 0;
  while (p < end) {
    const char *eol = lw_line_end(p, end);
    const char *space = memchr(p, ' ', (size_t)(eol - p));
    if (eol > p && !space)
      return -EINVAL;
    if (space) {
      uint64_t v;
      const char *q = lw_scan_u64(space + 1, eol, &v);
      if (!q || q != eol)
        return -EINVAL;
      for (size_t i = 0; i < n_keys; i++)
        if (strlen(keys[i].key) == (size_t)(space - p) &&
            memcmp(keys[i].key, p, (size_t)(space - p)) == 0) {
          *keys[i].value = v;
          found++;
        }
    }
    p = eol < end ? eol + 1 : end;
  }
  return found;
}

int lw_cgroup_parse_v2_events(const char *text, size_t len, lw_cgroup_v2_events_t *out) {
  memset(out, 0, sizeof *out);
  const kv_t keys[] = {{"low", &out->low}, {"high", &out->high}, {"max", &out->max},
                       {"oom", &out->oom}, {"oom_kill", &out->oom_kill},
                       {"oom_group_kill", &out->oom_group_kill}};
  int found = parse_kv_lines(text, len, keys, sizeof keys / sizeof keys[0]);
  /* oom_kill has been there since memory.events exists (4.13); without it, not this file. */
  return found >= 5 ? 0 : -EINVAL;
}

int lw_cgroup_parse_v1_oom_control(const char *text, size_t len,
                                   lw_cgroup_v1_oom_control_t *out) {
  memset(out, 0, sizeof *out);
  uint64_t disable = UINT64_MAX, under = UINT64_MAX, kills = UINT64_MAX;
  const kv_t keys[] = {{"oom_kill_disable", &disable}, {"under_oom", &under},
                       {"oom_kill", &kills}};
  int found = parse_kv_lines(text, len, keys, sizeof keys / sizeof keys[0]);
  if (found < 2 || disable == UINT64_MAX || under == UINT64_MAX)
    return -EINVAL;
  out->oom_kill_disable = disable != 0;
  out->under_oom = under != 0;
  out->has_oom_kill = kills != UINT64_MAX;
  out->oom_kill = out->has_oom_kill ? kills : 0;
  return 0;
}

/* Copies a mountinfo field, decoding the kernel's octal escapes (\040 space, \011 tab,
 * \012 newline, \134 backslash). */
static int copy_unescaped(char *dst, size_t size, const char *p, const char *q) {
  size_t n = 0;
  while (p < q) {
    char c = *p++;
    if (c == '\\' && q - p >= 3 && p[0] >= '0' && p[0] <= '3' && p[1] >= '0' && p[1] <= '7' &&
        p[2] >= '0' && p[2] <= '7') {
      c = (char)((p[0] - '0') * 64 + (p[1] - '0') * 8 + (p[2] - '0'));
      p += 3;
    }
    if (n + 1 >= size)
      return -ENAMETOOLONG;
    dst[n++] = c;
  }
  dst[n] = '\0';
  return 0;
}

static bool list_has(const char *p, const char *q, const char *item) {
  size_t n = strlen(item);
  while (p < q) {
    const char *comma = memchr(p, ',', (size_t)(q - p));
    const char *stop = comma ? comma : q;
    if ((size_t)(stop - p) == n && memcmp(p, item, n) == 0)
      return true;
    p = stop + 1;
  }
  return false;
}

int lw_cgroup_parse_mountinfo(const char *text, size_t len, lw_cgroup_mounts_t *out) {
  memset(out, 0, sizeof *out);
  const char *p = text, *end = text + len;
  while (p < end) {
    const char *eol = lw_line_end(p, end);
    /* id parent maj:min root mountpoint options [optional fields...] - fstype source super */
    enum { MAX_TOKENS = 24 };
    const char *tok[MAX_TOKENS], *tok_end[MAX_TOKENS];
    int n = 0;
    for (const char *q = p; q < eol && n < MAX_TOKENS;) {
      const char *space = memchr(q, ' ', (size_t)(eol - q));
      tok[n] = q;
      tok_end[n] = space ? space : eol;
      n++;
      q = space ? space + 1 : eol;
    }
    int dash = -1;
    for (int i = 6; i < n; i++)
      if (tok_end[i] - tok[i] == 1 && tok[i][0] == '-') {
        dash = i;
        break;
      }
    if (eol > p && (dash < 0 || dash + 2 >= n)) /* fstype and source are required */
      return -EINVAL;
    if (eol > p) {
      const char *fstype = tok[dash + 1];
      size_t fs_len = (size_t)(tok_end[dash + 1] - fstype);
      const char *super = dash + 3 < n ? tok[dash + 3] : eol;
      const char *super_end = dash + 3 < n ? tok_end[dash + 3] : eol;
      char *mount_dst = NULL, *root_dst = NULL;
      if (fs_len == 7 && memcmp(fstype, "cgroup2", 7) == 0 && !out->v2_mount[0]) {
        mount_dst = out->v2_mount;
        root_dst = out->v2_root;
      } else if (fs_len == 6 && memcmp(fstype, "cgroup", 6) == 0 &&
                 list_has(super, super_end, "memory") && !out->v1_memory_mount[0]) {
        mount_dst = out->v1_memory_mount;
        root_dst = out->v1_memory_root;
      }
      if (mount_dst) {
        int rc = copy_unescaped(mount_dst, LW_CGROUP_PATH_MAX, tok[4], tok_end[4]);
        if (rc == 0)
          rc = copy_unescaped(root_dst, LW_CGROUP_PATH_MAX, tok[3], tok_end[3]);
        if (rc != 0)
          return rc;
      }
    }
    p = eol < end ? eol + 1 : end;
  }
  return 0;
}

/* Reads a whole small file into buf (NUL-terminated); returns length or -errno. */
static int slurp(const char *path, char *buf, size_t size) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  size_t got = 0;
  int rc = 0;
  while (got + 1 < size) {
    ssize_t n = read(fd, buf + got, size - 1 - got);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      rc = -errno;
      break;
    }
    if (n == 0)
      break;
    got += (size_t)n;
  }
  close(fd);
  buf[got] = '\0';
  return rc < 0 ? rc : (int)got;
}

/* O_TRUNC as the shell's `echo v > file` does: cgroupfs ignores it, regular files (tests'
 * stand-in trees) need it. */
static int write_text(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  size_t len = strlen(text);
  ssize_t n;
  do
    n = write(fd, text, len);
  while (n < 0 && errno == EINTR);
  int rc = n < 0 ? -errno : (size_t)n == len ? 0 : -EIO;
  close(fd);
  return rc;
}

int lw_cgroup_detect(lw_cgroup_mounts_t *out) {
  char text[16384];
  int n = slurp("/proc/self/mountinfo", text, sizeof text);
  if (n < 0)
    return n;
  int rc = lw_cgroup_parse_mountinfo(text, (size_t)n, out);
  if (rc != 0 || !out->v2_mount[0])
    return rc;
  char path[LW_CGROUP_PATH_MAX + 32], controllers[512];
  if (lw_fmt(path, sizeof path, "%s/cgroup.controllers", out->v2_mount) >= sizeof path)
    return -ENAMETOOLONG;
  n = slurp(path, controllers, sizeof controllers);
  if (n > 0) {
    /* Space-separated list, e.g. "cpuset cpu io memory hugetlb pids rdma misc". */
    for (char *c = controllers; *c; c++)
      if (*c == ' ' || *c == '\n')
        *c = ',';
    out->v2_has_memory = list_has(controllers, controllers + n, "memory");
  }
  return 0;
}

int lw_cgroup_join(const char *mount, const char *mount_root, const char *path, char *out,
                   size_t size) {
  size_t root_len = strlen(mount_root);
  /* A mount of a subtree (containers without a cgroup namespace) shows the group's full
   * path in /proc/<pid>/cgroup; strip the part the mount already points at. */
  if (root_len > 1 && strncmp(path, mount_root, root_len) == 0 &&
      (path[root_len] == '/' || path[root_len] == '\0'))
    path += root_len;
  while (*path == '/')
    path++;
  size_t n = *path ? lw_fmt(out, size, "%s/%s", mount, path) : lw_fmt(out, size, "%s", mount);
  return n < size ? 0 : -ENAMETOOLONG;
}

static bool file_exists(const char *dir, const char *name) {
  char path[LW_CGROUP_PATH_MAX + 64];
  if (lw_fmt(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
    return false;
  return access(path, F_OK) == 0;
}

int lw_cgroup_resolve(const lw_cgroup_mounts_t *mounts, const char *v2_path,
                      const char *v1_memory_path, lw_cgroup_t *out) {
  out->version = LW_CGROUP_NONE;
  out->dir[0] = '\0';
  if (mounts->v2_mount[0] && mounts->v2_has_memory && v2_path && v2_path[0] &&
      lw_cgroup_join(mounts->v2_mount, mounts->v2_root, v2_path, out->dir, sizeof out->dir) ==
          0 &&
      file_exists(out->dir, "memory.current")) {
    out->version = LW_CGROUP_V2;
    return 0;
  }
  if (mounts->v1_memory_mount[0] && v1_memory_path && v1_memory_path[0] &&
      lw_cgroup_join(mounts->v1_memory_mount, mounts->v1_memory_root, v1_memory_path,
                     out->dir, sizeof out->dir) == 0 &&
      file_exists(out->dir, "memory.usage_in_bytes")) {
    out->version = LW_CGROUP_V1;
    return 0;
  }
  out->dir[0] = '\0';
  return -ENOENT;
}

int lw_cgroup_read_file(const lw_cgroup_t *cgroup, const char *name, char *buf, size_t size) {
  char path[LW_CGROUP_PATH_MAX + 64];
  if (lw_fmt(path, sizeof path, "%s/%s", cgroup->dir, name) >= sizeof path)
    return -ENAMETOOLONG;
  return slurp(path, buf, size);
}

/* Reads name and parses it with parse(); sets bit in out->has on success. */
static int read_value(const lw_cgroup_t *cg, const char *name,
                      int (*parse)(const char *, size_t, uint64_t *), uint64_t *value,
                      uint32_t bit, uint32_t *has) {
  char text[64];
  int n = lw_cgroup_read_file(cg, name, text, sizeof text);
  if (n < 0)
    return n;
  int rc = parse(text, (size_t)n, value);
  if (rc == 0)
    *has |= bit;
  return rc;
}

int lw_cgroup_read_memory(const lw_cgroup_t *cgroup, lw_cgroup_memory_t *out) {
  memset(out, 0, sizeof *out);
  out->max_bytes = LW_CGROUP_UNLIMITED;
  char text[512];
  int rc, n;
  if (cgroup->version == LW_CGROUP_V2) {
    rc = read_value(cgroup, "memory.current", lw_cgroup_parse_u64, &out->current_bytes,
                    LW_CGROUP_HAS_CURRENT, &out->has);
    if (rc != 0)
      return rc;
    (void)read_value(cgroup, "memory.max", lw_cgroup_parse_limit, &out->max_bytes,
                     LW_CGROUP_HAS_MAX, &out->has);
    (void)read_value(cgroup, "memory.peak", lw_cgroup_parse_u64, &out->peak_bytes,
                     LW_CGROUP_HAS_PEAK, &out->has);
    n = lw_cgroup_read_file(cgroup, "memory.events", text, sizeof text);
    lw_cgroup_v2_events_t events;
    if (n >= 0 && lw_cgroup_parse_v2_events(text, (size_t)n, &events) == 0) {
      out->oom_kills = events.oom_kill;
      out->limit_hits = events.max;
      out->has |= LW_CGROUP_HAS_OOM_KILLS | LW_CGROUP_HAS_LIMIT_HITS;
    }
    return 0;
  }
  if (cgroup->version == LW_CGROUP_V1) {
    rc = read_value(cgroup, "memory.usage_in_bytes", lw_cgroup_parse_u64, &out->current_bytes,
                    LW_CGROUP_HAS_CURRENT, &out->has);
    if (rc != 0)
      return rc;
    (void)read_value(cgroup, "memory.limit_in_bytes", lw_cgroup_parse_limit, &out->max_bytes,
                     LW_CGROUP_HAS_MAX, &out->has);
    (void)read_value(cgroup, "memory.max_usage_in_bytes", lw_cgroup_parse_u64,
                     &out->peak_bytes, LW_CGROUP_HAS_PEAK, &out->has);
    (void)read_value(cgroup, "memory.failcnt", lw_cgroup_parse_u64, &out->limit_hits,
                     LW_CGROUP_HAS_LIMIT_HITS, &out->has);
    /* With swap accounting a charge is tried against memsw first, and a failure there
     * counts in memsw.failcnt only: the two together are the times the limit was hit. */
    uint64_t memsw_hits = 0;
    uint32_t memsw_has = 0;
    if (read_value(cgroup, "memory.memsw.failcnt", lw_cgroup_parse_u64, &memsw_hits,
                   LW_CGROUP_HAS_LIMIT_HITS, &memsw_has) == 0) {
      out->limit_hits += memsw_hits;
      out->has |= memsw_has;
    }
    n = lw_cgroup_read_file(cgroup, "memory.oom_control", text, sizeof text);
    lw_cgroup_v1_oom_control_t oom;
    if (n >= 0 && lw_cgroup_parse_v1_oom_control(text, (size_t)n, &oom) == 0 &&
        oom.has_oom_kill) {
      out->oom_kills = oom.oom_kill;
      out->has |= LW_CGROUP_HAS_OOM_KILLS;
    }
    return 0;
  }
  return -ENOENT;
}

int lw_cgroup_create_child(const lw_cgroup_t *parent, const char *name, lw_cgroup_t *child) {
  if (!name[0] || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
    return -EINVAL;
  child->version = parent->version;
  if (lw_fmt(child->dir, sizeof child->dir, "%s/%s", parent->dir, name) >= sizeof child->dir)
    return -ENAMETOOLONG;
  if (parent->version == LW_CGROUP_V2) {
    char controllers[512];
    int n = lw_cgroup_read_file(parent, "cgroup.subtree_control", controllers,
                                sizeof controllers);
    if (n < 0)
      return n;
    for (char *c = controllers; *c; c++)
      if (*c == ' ' || *c == '\n')
        *c = ',';
    if (!list_has(controllers, controllers + n, "memory")) {
      char path[LW_CGROUP_PATH_MAX + 32];
      if (lw_fmt(path, sizeof path, "%s/cgroup.subtree_control", parent->dir) >= sizeof path)
        return -ENAMETOOLONG;
      int rc = write_text(path, "+memory");
      if (rc != 0)
        return rc;
    }
  } else if (parent->version != LW_CGROUP_V1) {
    return -EINVAL;
  }
  if (mkdir(child->dir, 0755) != 0)
    return -errno;
  return 0;
}

int lw_cgroup_set_limit(const lw_cgroup_t *cgroup, uint64_t bytes, bool cap_swap) {
  char path[LW_CGROUP_PATH_MAX + 64], value[32];
  lw_fmt(value, sizeof value, "%llu", (unsigned long long)bytes);
  const bool v2 = cgroup->version == LW_CGROUP_V2;
  if (lw_fmt(path, sizeof path, "%s/%s", cgroup->dir,
             v2 ? "memory.max" : "memory.limit_in_bytes") >= sizeof path)
    return -ENAMETOOLONG;
  int rc = write_text(path, value);
  if (rc != 0 || !cap_swap)
    return rc;
  /* Swap: the file exists only when swap accounting is on; its absence is not an error.
   * v1 requires memsw >= limit, so it is written after the limit. */
  lw_fmt(path, sizeof path, "%s/%s", cgroup->dir,
         v2 ? "memory.swap.max" : "memory.memsw.limit_in_bytes");
  if (access(path, F_OK) == 0) {
    rc = write_text(path, v2 ? "0" : value);
    if (rc != 0)
      return rc;
  }
  return 0;
}

int lw_cgroup_open_procs(const lw_cgroup_t *cgroup) {
  char path[LW_CGROUP_PATH_MAX + 32];
  if (lw_fmt(path, sizeof path, "%s/cgroup.procs", cgroup->dir) >= sizeof path)
    return -ENAMETOOLONG;
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  return fd < 0 ? -errno : fd;
}

int lw_cgroup_enter(int procs_fd) {
  ssize_t n;
  do
    n = write(procs_fd, "0\n", 2);
  while (n < 0 && errno == EINTR);
  return n < 0 ? -errno : 0;
}

int lw_cgroup_remove(const lw_cgroup_t *cgroup) {
  for (int attempt = 0;; attempt++) {
    if (rmdir(cgroup->dir) == 0)
      return 0;
    int err = errno;
    if (err != EBUSY || attempt >= 50)
      return -err;
    struct timespec pause = {0, 10 * 1000 * 1000}; /* up to 0.5 s in all */
    nanosleep(&pause, NULL);
  }
}
