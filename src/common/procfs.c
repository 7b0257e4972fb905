/*
 * procfs.c - /proc/<pid> parsers and readers (see procfs.h). System calls only: no malloc,
 * no stdio, no locale; the agent may call everything here.
 */
#define _GNU_SOURCE
#include "common/procfs.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/fmt.h"
#include "common/text_scan.h"

/* ---- Small scanning helpers over [p, end) ------------------------------------------- */

static bool is_space(char c) { return c == ' ' || c == '\t'; }

static const char *skip_spaces(const char *p, const char *end) {
  while (p < end && is_space(*p))
    p++;
  return p;
}

static const char *scan_i64(const char *p, const char *end, int64_t *out) {
  bool negative = p < end && *p == '-';
  uint64_t magnitude;
  const char *q = lw_scan_u64(p + negative, end, &magnitude);
  if (!q || magnitude > (uint64_t)INT64_MAX + negative)
    return NULL;
  *out = negative ? (int64_t)(0 - magnitude) : (int64_t)magnitude;
  return q;
}

/* Copies [p, q) into a NUL-terminated field, cutting what does not fit. */
static void copy_cut(char *dst, size_t size, const char *p, const char *q) {
  size_t n = (size_t)(q - p);
  if (n >= size)
    n = size - 1;
  memcpy(dst, p, n);
  dst[n] = '\0';
}

/* "Key:   123 kB" -> bytes. The value is taken as kB when the unit says so. */
static bool kb_value(const char *p, const char *end, uint64_t *out) {
  uint64_t v;
  p = lw_scan_u64(skip_spaces(p, end), end, &v);
  if (!p)
    return false;
  p = skip_spaces(p, end);
  if (end - p >= 2 && p[0] == 'k' && p[1] == 'B') {
    if (v > UINT64_MAX / 1024)
      return false;
    v *= 1024;
  }
  *out = v;
  return true;
}

/* Key-to-field table for the "Key: value" files (status, smaps_rollup, io). The key's
 * length is stored so that matching a line costs a length compare for most keys (these
 * parsers run for every watched process every second). */
typedef struct {
  const char *key;
  uint8_t len;
  bool kb;       /* value in kB, stored in bytes */
  size_t offset; /* of a uint64_t in the output struct */
} key_field_t;

#define KEY(key, kb, type, field) {key, sizeof key - 1, kb, offsetof(type, field)}

static const key_field_t *find_key(const key_field_t *keys, size_t n_keys, const char *p,
                                   size_t key_len) {
  for (size_t i = 0; i < n_keys; i++)
    if (keys[i].len == key_len && memcmp(keys[i].key, p, key_len) == 0)
      return &keys[i];
  return NULL;
}

/* Stores the value of a known key's line. Returns false when it is malformed. */
static bool store_value(const key_field_t *k, const char *value, const char *eol, void *base) {
  uint64_t v;
  if (k->kb ? !kb_value(value, eol, &v) : !lw_scan_u64(skip_spaces(value, eol), eol, &v))
    return false;
  memcpy((char *)base + k->offset, &v, sizeof v);
  return true;
}

/* Walks "Key: value" lines in one pass, storing the values of keys in the table. Returns
 * the number of keys found, or -1 when a known key has a malformed value. */
static int parse_keyed(const char *text, size_t len, const key_field_t *keys, size_t n_keys,
                       void *base) {
  const char *p = text, *end = text + len;
  int found = 0;
  while (p < end) {
    const char *eol = lw_line_end(p, end);
    const char *colon = memchr(p, ':', (size_t)(eol - p));
    const key_field_t *k = colon ? find_key(keys, n_keys, p, (size_t)(colon - p)) : NULL;
    if (k) {
      if (!store_value(k, colon + 1, eol, base))
        return -1;
      found++;
    }
    p = eol < end ? eol + 1 : end;
  }
  return found;
}

/* ---- Parsers ------------------------------------------------------------------------- */

int lw_procfs_parse_stat(const char *text, size_t len, lw_proc_stat_t *out) {
  memset(out, 0, sizeof *out);
  const char *end = text + len;
  const char *open = memchr(text, '(', len);
  const char *close = NULL;
  for (const char *p = end; p > text; p--)
    if (p[-1] == ')') {
      close = p - 1;
      break;
    }
  if (!open || !close || close < open)
    return -EINVAL;
  int64_t pid;
  const char *q = scan_i64(skip_spaces(text, open), open, &pid);
  if (!q || pid < 0 || pid > INT32_MAX)
    return -EINVAL;
  out->pid = (int32_t)pid;
  copy_cut(out->comm, sizeof out->comm, open + 1, close);

  /* Fields from 3 (state) on, 1-based as in proc(5). Counters and sizes are unsigned;
   * priority, nice and the children's times may be negative. */
  const char *p = close + 1;
  uint64_t fields[25] = {0};
  for (int field = 3; field <= 24; field++) {
    p = skip_spaces(p, end);
    if (p >= end)
      return -EINVAL;
    if (field == 3) {
      out->state = *p++;
      continue;
    }
    int64_t negative;
    q = *p == '-' ? scan_i64(p, end, &negative) : lw_scan_u64(p, end, &fields[field]);
    if (!q)
      return -EINVAL;
    if (*p == '-')
      fields[field] = (uint64_t)negative;
    p = q;
  }
  if (fields[4] > INT32_MAX)
    return -EINVAL;
  out->ppid = (int32_t)fields[4];
  out->minflt = fields[10];
  out->majflt = fields[12];
  out->utime_ticks = fields[14];
  out->stime_ticks = fields[15];
  out->num_threads = (int64_t)fields[20];
  out->starttime_ticks = fields[22];
  out->vsize_bytes = fields[23];
  out->rss_pages = fields[24];
  return 0;
}

int lw_procfs_parse_statm(const char *text, size_t len, lw_proc_statm_t *out) {
  uint64_t v[7];
  const char *p = text, *end = text + len;
  for (int i = 0; i < 7; i++) {
    p = lw_scan_u64(skip_spaces(p, end), end, &v[i]);
    if (!p)
      return -EINVAL;
  }
  out->size_pages = v[0];
  out->resident_pages = v[1];
  out->shared_pages = v[2];
  out->text_pages = v[3];
  out->lib_pages = v[4];
  out->data_pages = v[5];
  out->dirty_pages = v[6];
  return 0;
}

/* "Uid:\t0\t0\t0\t0" -> real and effective. */
static bool two_ids(const char *p, const char *end, uint32_t *real, uint32_t *effective) {
  uint64_t a, b;
  p = lw_scan_u64(skip_spaces(p, end), end, &a);
  if (!p)
    return false;
  p = lw_scan_u64(skip_spaces(p, end), end, &b);
  if (!p || a > UINT32_MAX || b > UINT32_MAX)
    return false;
  *real = (uint32_t)a;
  *effective = (uint32_t)b;
  return true;
}

int lw_procfs_parse_status(const char *text, size_t len, lw_proc_status_t *out) {
  memset(out, 0, sizeof *out);
#define F(key, kb, field) KEY(key, kb, lw_proc_status_t, field)
  static const key_field_t keys[] = {
      F("VmPeak", true, vm_peak_bytes), F("VmSize", true, vm_size_bytes),
      F("VmHWM", true, vm_hwm_bytes),   F("VmRSS", true, vm_rss_bytes),
      F("RssAnon", true, rss_anon_bytes), F("RssFile", true, rss_file_bytes),
      F("RssShmem", true, rss_shmem_bytes), F("VmData", true, vm_data_bytes),
      F("VmStk", true, vm_stk_bytes),   F("VmSwap", true, vm_swap_bytes),
      F("Threads", false, threads),
      F("voluntary_ctxt_switches", false, voluntary_ctxt_switches),
      F("nonvoluntary_ctxt_switches", false, nonvoluntary_ctxt_switches),
  };
#undef F
  bool have_name = false, have_uid = false;
  const char *p = text, *end = text + len;
  while (p < end) {
    const char *eol = lw_line_end(p, end);
    const char *colon = memchr(p, ':', (size_t)(eol - p));
    size_t key_len = colon ? (size_t)(colon - p) : 0;
    if (key_len == 4 && memcmp(p, "Name", 4) == 0) {
      copy_cut(out->name, sizeof out->name, skip_spaces(colon + 1, eol), eol);
      have_name = true;
    } else if (key_len == 3 && memcmp(p, "Uid", 3) == 0) {
      if (!two_ids(colon + 1, eol, &out->uid_real, &out->uid_effective))
        return -EINVAL;
      have_uid = true;
    } else if (key_len == 3 && memcmp(p, "Gid", 3) == 0) {
      if (!two_ids(colon + 1, eol, &out->gid_real, &out->gid_effective))
        return -EINVAL;
    } else if (colon) {
      const key_field_t *k = find_key(keys, sizeof keys / sizeof keys[0], p, key_len);
      if (k) {
        if (!store_value(k, colon + 1, eol, out))
          return -EINVAL;
        if (k->kb) /* kernel threads have no Vm and Rss lines */
          out->has_vm = true;
      }
    }
    p = eol < end ? eol + 1 : end;
  }
  return have_name && have_uid ? 0 : -EINVAL;
}

int lw_procfs_parse_smaps_rollup(const char *text, size_t len, lw_proc_smaps_rollup_t *out) {
  memset(out, 0, sizeof *out);
#define F(key, field) KEY(key, true, lw_proc_smaps_rollup_t, field)
  static const key_field_t keys[] = {
      F("Rss", rss_bytes),
      F("Pss", pss_bytes),
      F("Pss_Anon", pss_anon_bytes),
      F("Pss_File", pss_file_bytes),
      F("Pss_Shmem", pss_shmem_bytes),
      F("Shared_Clean", shared_clean_bytes),
      F("Shared_Dirty", shared_dirty_bytes),
      F("Private_Clean", private_clean_bytes),
      F("Private_Dirty", private_dirty_bytes),
      F("Private_Hugetlb", private_hugetlb_bytes),
      F("Anonymous", anonymous_bytes),
      F("Swap", swap_bytes),
      F("SwapPss", swap_pss_bytes),
  };
#undef F
  int found = parse_keyed(text, len, keys, sizeof keys / sizeof keys[0], out);
  /* Rss and Pss are in every kernel's rollup; without them this is not a rollup. */
  if (found < 2)
    return -EINVAL;
  out->uss_bytes = out->private_clean_bytes + out->private_dirty_bytes + out->private_hugetlb_bytes;
  return 0;
}

int lw_procfs_parse_io(const char *text, size_t len, lw_proc_io_t *out) {
  memset(out, 0, sizeof *out);
#define F(key, field) KEY(key, false, lw_proc_io_t, field)
  static const key_field_t keys[] = {
      F("rchar", rchar), F("wchar", wchar), F("syscr", syscr), F("syscw", syscw),
      F("read_bytes", read_bytes), F("write_bytes", write_bytes),
      F("cancelled_write_bytes", cancelled_write_bytes),
  };
#undef F
  int found = parse_keyed(text, len, keys, sizeof keys / sizeof keys[0], out);
  return found >= 2 ? 0 : -EINVAL;
}

/* "1024" or "unlimited" */
static const char *scan_limit(const char *p, const char *end, uint64_t *out) {
  p = skip_spaces(p, end);
  if (end - p >= 9 && memcmp(p, "unlimited", 9) == 0) {
    *out = LW_PROC_UNLIMITED;
    return p + 9;
  }
  return lw_scan_u64(p, end, out);
}

int lw_procfs_parse_limits(const char *text, size_t len, lw_proc_limits_t *out) {
  out->open_files_soft = out->open_files_hard = LW_PROC_UNLIMITED;
  out->address_space_soft = out->address_space_hard = LW_PROC_UNLIMITED;
  static const char open_files[] = "Max open files", address_space[] = "Max address space";
  const char *p = text, *end = text + len;
  int found = 0;
  while (p < end) {
    const char *eol = lw_line_end(p, end);
    uint64_t *soft = NULL, *hard = NULL;
    size_t skip = 0;
    if ((size_t)(eol - p) > sizeof open_files - 1 &&
        memcmp(p, open_files, sizeof open_files - 1) == 0) {
      soft = &out->open_files_soft;
      hard = &out->open_files_hard;
      skip = sizeof open_files - 1;
    } else if ((size_t)(eol - p) > sizeof address_space - 1 &&
               memcmp(p, address_space, sizeof address_space - 1) == 0) {
      soft = &out->address_space_soft;
      hard = &out->address_space_hard;
      skip = sizeof address_space - 1;
    }
    if (soft) {
      const char *q = scan_limit(p + skip, eol, soft);
      if (!q || !(q = scan_limit(q, eol, hard)))
        return -EINVAL;
      found++;
    }
    p = eol < end ? eol + 1 : end;
  }
  return found == 2 ? 0 : -EINVAL;
}

/* True when the comma-separated list [p, q) contains `item`. */
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

int lw_procfs_parse_cgroup(const char *text, size_t len, char *v2_path, size_t v2_size,
                           char *v1_memory_path, size_t v1_size) {
  if (v2_size)
    v2_path[0] = '\0';
  if (v1_size)
    v1_memory_path[0] = '\0';
  const char *p = text, *end = text + len;
  while (p < end) {
    const char *eol = lw_line_end(p, end);
    if (eol > p) {
      const char *c1 = memchr(p, ':', (size_t)(eol - p));
      const char *c2 = c1 ? memchr(c1 + 1, ':', (size_t)(eol - c1 - 1)) : NULL;
      if (!c2)
        return -EINVAL;
      uint64_t id;
      if (lw_scan_u64(p, c1, &id) != c1)
        return -EINVAL;
      const char *path = c2 + 1;
      char *dst = NULL;
      size_t dst_size = 0;
      if (id == 0 && c2 == c1 + 1) {
        dst = v2_path;
        dst_size = v2_size;
      } else if (list_has(c1 + 1, c2, "memory")) {
        dst = v1_memory_path;
        dst_size = v1_size;
      }
      if (dst) {
        if ((size_t)(eol - path) >= dst_size)
          return -ENAMETOOLONG;
        copy_cut(dst, dst_size, path, eol);
      }
    }
    p = eol < end ? eol + 1 : end;
  }
  return 0;
}

static bool starts_with(const char *text, size_t len, const char *prefix) {
  size_t n = strlen(prefix);
  return len >= n && memcmp(text, prefix, n) == 0;
}

lw_fd_type_t lw_procfs_classify_fd_link(const char *target, size_t len) {
  if (starts_with(target, len, "socket:["))
    return LW_FD_SOCKET;
  if (starts_with(target, len, "pipe:["))
    return LW_FD_PIPE;
  if (starts_with(target, len, "anon_inode:")) {
    const char *kind = target + 11;
    size_t n = len - 11;
    if (starts_with(kind, n, "[eventfd]"))
      return LW_FD_EVENTFD;
    if (starts_with(kind, n, "[timerfd]"))
      return LW_FD_TIMERFD;
    if (starts_with(kind, n, "[eventpoll]"))
      return LW_FD_EPOLL;
    if (starts_with(kind, n, "[signalfd]"))
      return LW_FD_SIGNALFD;
    if (starts_with(kind, n, "inotify"))
      return LW_FD_INOTIFY;
    return LW_FD_ANON;
  }
  if (starts_with(target, len, "/dev/")) {
    /* tmpfs-backed files that live under /dev are files, not devices. */
    if (starts_with(target, len, "/dev/shm/") || starts_with(target, len, "/dev/mqueue/"))
      return LW_FD_FILE;
    return LW_FD_DEVICE;
  }
  if (starts_with(target, len, "/"))
    return LW_FD_FILE;
  return LW_FD_OTHER;
}

const char *lw_fd_type_name(lw_fd_type_t type) {
  static const char *names[LW_FD_TYPE_COUNT] = {
      "file", "socket", "pipe", "eventfd", "timerfd", "epoll",
      "signalfd", "inotify", "anon_inode", "device", "other"};
  return (unsigned)type < LW_FD_TYPE_COUNT ? names[type] : "other";
}

/* ---- Readers ------------------------------------------------------------------------- */

const char *lw_proc_file_name(lw_proc_file_t file) {
  static const char *names[LW_PROC_FILE_COUNT] = {
      "stat", "statm", "status", "smaps_rollup", "io", "limits", "cgroup", "cmdline"};
  return (unsigned)file < LW_PROC_FILE_COUNT ? names[file] : "?";
}

int lw_proc_open(lw_proc_handle_t *handle, const char *proc_root, int pid, bool keep_open) {
  handle->pid = pid;
  handle->keep_open = keep_open;
  handle->fd_dir_fd = -1;
  for (int i = 0; i < LW_PROC_FILE_COUNT; i++)
    handle->fds[i] = -1;
  char path[256];
  if (pid <= 0 || lw_fmt(path, sizeof path, "%s/%d", proc_root, pid) >= sizeof path) {
    handle->dir_fd = -1;
    return pid <= 0 ? -ENOENT : -ENAMETOOLONG;
  }
  handle->dir_fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
  return handle->dir_fd < 0 ? -errno : 0;
}

void lw_proc_close(lw_proc_handle_t *handle) {
  for (int i = 0; i < LW_PROC_FILE_COUNT; i++) {
    if (handle->fds[i] >= 0)
      close(handle->fds[i]);
    handle->fds[i] = -1;
  }
  if (handle->fd_dir_fd >= 0)
    close(handle->fd_dir_fd);
  handle->fd_dir_fd = -1;
  if (handle->dir_fd >= 0)
    close(handle->dir_fd);
  handle->dir_fd = -1;
}

/* Reads from offset 0 until EOF or the buffer is full; the byte count or -errno. */
static ssize_t pread_upto(int fd, char *buf, size_t size) {
  size_t got = 0;
  while (got < size) {
    ssize_t n = pread(fd, buf + got, size - got, (off_t)got);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return -errno;
    }
    if (n == 0)
      break;
    got += (size_t)n;
  }
  return (ssize_t)got;
}

/* As pread_upto, and -EFBIG when the file goes on past the buffer. */
static ssize_t pread_all(int fd, char *buf, size_t size) {
  ssize_t got = pread_upto(fd, buf, size);
  if (got < 0 || (size_t)got < size)
    return got;
  /* Full: is there more? */
  char probe;
  ssize_t n;
  do
    n = pread(fd, &probe, 1, (off_t)got);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    return -errno;
  return n == 0 ? got : -EFBIG;
}

ssize_t lw_proc_read_path(const char *path, char *buf, size_t size) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  ssize_t n = pread_upto(fd, buf, size);
  close(fd);
  return n;
}

/* Opens a file relative to the process directory; EMFILE turns keep_open off for good. */
static int open_in(lw_proc_handle_t *handle, const char *name, int flags) {
  if (handle->dir_fd < 0)
    return -EBADF;
  int fd = openat(handle->dir_fd, name, flags | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  return fd;
}

ssize_t lw_proc_read(lw_proc_handle_t *handle, lw_proc_file_t file, char *buf, size_t size) {
  if ((unsigned)file >= LW_PROC_FILE_COUNT || size == 0)
    return -EINVAL;
  int fd = handle->fds[file];
  bool fresh = fd < 0;
  if (fresh) {
    fd = open_in(handle, lw_proc_file_name(file), O_RDONLY);
    if (fd == -EMFILE || fd == -ENFILE) {
      handle->keep_open = false; /* out of descriptors: release what we hold, retry once */
      for (int i = 0; i < LW_PROC_FILE_COUNT; i++)
        if (handle->fds[i] >= 0) {
          close(handle->fds[i]);
          handle->fds[i] = -1;
        }
      fd = open_in(handle, lw_proc_file_name(file), O_RDONLY);
    }
    if (fd < 0)
      return fd;
  }
  ssize_t n = pread_all(fd, buf, size);
  if (handle->keep_open && (n >= 0 || n == -EFBIG)) {
    handle->fds[file] = fd;
  } else {
    close(fd);
    handle->fds[file] = -1;
  }
  return n;
}

struct linux_dirent64 {
  uint64_t d_ino;
  int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

/* Lists a directory with getdents64 (opendir would malloc). For each entry that is not
 * "." or "..", calls visit(context, dir_fd, name). Returns the count or a negative errno. */
static int64_t list_dir(int dir_fd, void *scratch, size_t scratch_size,
                        void (*visit)(void *, int, const char *), void *context) {
  if (lseek(dir_fd, 0, SEEK_SET) < 0)
    return -errno;
  int64_t count = 0;
  for (;;) {
    long n = syscall(SYS_getdents64, dir_fd, scratch, scratch_size);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return -errno;
    }
    if (n == 0)
      return count;
    for (long off = 0; off < n;) {
      struct linux_dirent64 *d = (struct linux_dirent64 *)((char *)scratch + off);
      off += d->d_reclen;
      if (d->d_name[0] == '.' && (d->d_name[1] == '\0' ||
                                  (d->d_name[1] == '.' && d->d_name[2] == '\0')))
        continue;
      count++;
      if (visit)
        visit(context, dir_fd, d->d_name);
    }
  }
}

static void classify_entry(void *context, int dir_fd, const char *name) {
  lw_proc_fds_t *out = context;
  char target[128];
  ssize_t n = readlinkat(dir_fd, name, target, sizeof target);
  /* A descriptor closed between getdents and readlink is simply not counted by type. */
  if (n > 0)
    out->by_type[lw_procfs_classify_fd_link(target, (size_t)n)]++;
}

/* Opens (or reuses) a subdirectory of the process directory for listing. */
static int sub_dir(lw_proc_handle_t *handle, const char *name, int *kept) {
  if (*kept >= 0)
    return *kept;
  int fd = open_in(handle, name, O_RDONLY | O_DIRECTORY);
  if (fd >= 0 && handle->keep_open)
    *kept = fd;
  return fd;
}

int lw_proc_read_fds(lw_proc_handle_t *handle, bool classify, void *scratch,
                     size_t scratch_size, lw_proc_fds_t *out) {
  memset(out, 0, sizeof *out);
  int fd = sub_dir(handle, "fd", &handle->fd_dir_fd);
  if (fd < 0)
    return fd;
  int64_t n = list_dir(fd, scratch, scratch_size, classify ? classify_entry : NULL, out);
  if (fd != handle->fd_dir_fd)
    close(fd);
  if (n < 0) {
    if (fd == handle->fd_dir_fd) {
      close(fd);
      handle->fd_dir_fd = -1;
    }
    return (int)n;
  }
  out->total = (uint64_t)n;
  return 0;
}

int64_t lw_proc_count_tasks(lw_proc_handle_t *handle, void *scratch, size_t scratch_size) {
  int fd = open_in(handle, "task", O_RDONLY | O_DIRECTORY);
  if (fd < 0)
    return fd;
  int64_t n = list_dir(fd, scratch, scratch_size, NULL, NULL);
  close(fd);
  return n;
}
