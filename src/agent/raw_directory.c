/*
 * raw_directory.c - directory entries with getdents64, for the agent's reads of /proc
 * (raw_directory.h).
 */
#include "agent/raw_directory.h"

#include <errno.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

/* One entry of getdents64's buffer. */
typedef struct {
  uint64_t ino;
  int64_t off;
  unsigned short reclen;
  unsigned char type;
  char name[];
} linux_dirent64_t;

int lw__directory_for_each(int fd, bool (*visit)(const char *name, void *context),
                           void *context) {
  char entries[4096] __attribute__((aligned(8)));
  long n;
  while ((n = syscall(SYS_getdents64, fd, entries, sizeof entries)) > 0) {
    for (long at = 0; at < n;) {
      const linux_dirent64_t *entry = (const linux_dirent64_t *)(entries + at);
      at += entry->reclen;
      if (!visit(entry->name, context))
        return 0;
    }
  }
  return n < 0 ? -errno : 0;
}

long lw__directory_number(const char *name) {
  long number = 0;
  const char *c = name;
  for (; *c >= '0' && *c <= '9' && number < 0x40000000; c++)
    number = number * 10 + (*c - '0');
  return *c || c == name ? 0 : number;
}
