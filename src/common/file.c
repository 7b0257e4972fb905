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
    ssize_t n = read(fd, out->data + out->len, out->cap - out->len);
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

int lw_write_file_atomic(const char *path, const void *data, size_t len, int mode) {
  char temp[4096];
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  if (lw_fmt(temp, sizeof temp, "%s.tmp.%d.%lx", path, (int)getpid(),
             (unsigned long)now.tv_nsec) >= sizeof temp)
    return -ENAMETOOLONG;
  int fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0)
    return -errno;
  int result = write_all(fd, data, len);
  if (close(fd) < 0 && result == 0)
    result = -errno;
  if (result == 0 && rename(temp, path) < 0)
    result = -errno;
  if (result < 0)
    unlink(temp);
  return result;
}
