/*
 * file.c - whole-file read and atomic write (see file.h). System calls only.
 */
#include "common/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h> /* rename(2) only; no stdio streams */
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/fmt.h"

int lw_read_file(const char *path, lw_buf_t *out, size_t max_bytes) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  int result = 0;
  size_t start = out->len;
  for (;;) {
    if (!lw_buf_reserve(out, 65536)) {
      result = -ENOMEM;
      break;
    }
    /* One byte past the limit is enough to say -EFBIG: never read (and touch) more, so an
     * endless input (/dev/zero) costs the limit, not the doubled buffer's size. */
    size_t room = out->cap - out->len, left = max_bytes - (out->len - start);
    if (left < SIZE_MAX)
      left++;
    ssize_t n = read(fd, out->data + out->len, room < left ? room : left);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      result = -errno;
      break;
    }
    if (n == 0)
      break;
    out->len += (size_t)n;
    if (out->len - start > max_bytes) {
      result = -EFBIG;
      break;
    }
  }
  close(fd);
  return result;
}

static int write_all(int fd, const void *data, size_t len) {
  const char *p = data;
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return -errno;
    }
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

int lw_output_path_check(const char *path, const char **kind) {
  struct stat st;
  if (kind)
    *kind = "";
  if (lstat(path, &st) < 0)
    return errno == ENOENT ? 0 : -errno;
  const char *what = S_ISREG(st.st_mode)    ? NULL
                     : S_ISLNK(st.st_mode)  ? "a symbolic link"
                     : S_ISFIFO(st.st_mode) ? "a FIFO"
                     : S_ISCHR(st.st_mode)  ? "a character device"
                     : S_ISBLK(st.st_mode)  ? "a block device"
                     : S_ISDIR(st.st_mode)  ? "a directory"
                     : S_ISSOCK(st.st_mode) ? "a socket"
                                            : "not a regular file";
  if (!what)
    return 0;
  if (kind)
    *kind = what;
  return -EEXIST;
}

/* Creates the temporary file beside `path` (named in `temp`) with exactly `mode`. Returns
 * the descriptor or a negative errno. */
static int create_temp(const char *path, int mode, char *temp, size_t temp_size) {
  int rc = lw_output_path_check(path, NULL);
  if (rc < 0)
    return rc;
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  if (lw_fmt(temp, temp_size, "%s.tmp.%d.%lx", path, (int)getpid(),
             (unsigned long)now.tv_nsec) >= temp_size)
    return -ENAMETOOLONG;
  int fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode & 0777);
  if (fd < 0)
    return -errno;
  /* open() applied the umask; the promise is `mode` (0600: private whatever the umask). */
  if (fchmod(fd, (mode_t)(mode & 0777)) < 0) {
    int saved = -errno;
    close(fd);
    unlink(temp);
    return saved;
  }
  return fd;
}

int lw_write_file_atomic(const char *path, const void *data, size_t len, int mode) {
  char temp[4096];
  int fd = create_temp(path, mode, temp, sizeof temp);
  if (fd < 0)
    return fd;
  int result = write_all(fd, data, len);
  if (close(fd) < 0 && result == 0)
    result = -errno;
  if (result == 0 && rename(temp, path) < 0)
    result = -errno;
  if (result < 0)
    unlink(temp);
  return result;
}

int lw_create_file_replacing(const char *path, int mode) {
  char temp[4096];
  int fd = create_temp(path, mode, temp, sizeof temp);
  if (fd < 0)
    return fd;
  if (rename(temp, path) < 0) {
    int saved = -errno;
    close(fd);
    unlink(temp);
    return saved;
  }
  return fd;
}
