/*
 * http_owner.c - which process of a tree serves LEAKWATCH_HTTP, and who holds the port when
 * it cannot (issue 13).
 *
 * LEAKWATCH_HTTP is inherited by every child, so without a rule a shell's every command
 * tried to bind the port and said "Address already in use", and a wrapper such as timeout
 * took the port from the program it runs. The rule: the endpoint belongs to the first
 * process of the tree that serves it; LEAKWATCH_HTTP_PROGRAM=name gives it to the programs
 * of that name instead (the others stay quiet); without it, wrappers that only run another
 * program (timeout, nohup, env, ...) leave it to that program. Fork children never serve
 * their parent's endpoint, and a process whose ancestor holds the port stays quiet. When the
 * port is held by anyone else, the message names the holder: its socket's inode from
 * /proc/net/tcp{,6}, then the process that has it open, from /proc/<pid>/fd (ancestors
 * first, then every process we may look into, with a bounded number of readlinks). Done once,
 * when the listener is opened, and only when bind fails. No allocation: getdents64 and
 * fixed buffers.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent/http_owner.h"
#include "agent/raw_directory.h"
#include "common/fmt.h"
#include "common/proc_net_tcp.h"
#include "common/procfs.h"

/* ---- which program serves ------------------------------------------------------------ */

/* Programs that run one other program (exec it, or wait for it): the endpoint is meant for
 * that program. */
static const char *const wrappers[] = {"timeout", "time",   "nohup",   "env",    "nice",
                                       "ionice",  "stdbuf", "setsid",  "taskset", "chrt",
                                       "flock",   "strace", "ltrace",  "setpriv", "runuser",
                                       "unshare", "prlimit", "cgexec", "numactl", "xvfb-run"};

static const char *base_name(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}

/* This program's names: comm (15 characters at most), the executable's file name and
 * argv[0]'s, NUL-terminated in names[0..2] ("" when unreadable). */
static void own_names(char names[3][256]) {
  ssize_t n = lw_proc_read_path("/proc/self/comm", names[0], 255);
  n = n > 0 ? n : 0;
  while (n > 0 && names[0][n - 1] == '\n')
    n--;
  names[0][n] = '\0';
  char path[4096];
  n = readlink("/proc/self/exe", path, sizeof path - 1);
  path[n > 0 ? n : 0] = '\0';
  lw_fmt(names[1], 256, "%s", base_name(path));
  n = lw_proc_read_path("/proc/self/cmdline", path, sizeof path - 1);
  path[n > 0 ? n : 0] = '\0'; /* argv[0] ends at its NUL */
  lw_fmt(names[2], 256, "%s", base_name(path));
}

bool lw__http_program_serves(char *name, size_t name_size) {
  char names[3][256];
  own_names(names);
  lw_fmt(name, name_size, "%s", names[1][0] ? names[1] : names[0]);
  const char *wanted = lw__options.http_program;
  if (wanted[0]) {
    for (int i = 0; i < 3; i++)
      if (names[i][0] && strcmp(names[i], wanted) == 0)
        return true;
    return false;
  }
  for (size_t w = 0; w < sizeof wrappers / sizeof wrappers[0]; w++)
    for (int i = 0; i < 3; i++)
      if (strcmp(names[i], wrappers[w]) == 0)
        return false;
  return true;
}

/* ---- who holds the port ------------------------------------------------------------ */

/* The inode of the socket listening on the address (and its owner's uid), from
 * /proc/net/tcp or tcp6, read a block at a time. */
static bool find_listener(const struct sockaddr_storage *address, uint64_t *inode,
                          unsigned *uid) {
  char hex[33];
  unsigned port;
  const char *table;
  if (address->ss_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)address;
    /* Four 32-bit words, each printed as the host's integer. */
    for (int w = 0; w < 4; w++) {
      uint32_t word;
      memcpy(&word, a->sin6_addr.s6_addr + 4 * w, 4);
      lw_fmt(hex + 8 * w, 9, "%08X", word);
    }
    port = ntohs(a->sin6_port);
    table = "/proc/net/tcp6";
  } else {
    const struct sockaddr_in *a = (const struct sockaddr_in *)address;
    lw_fmt(hex, sizeof hex, "%08X", a->sin_addr.s_addr);
    port = ntohs(a->sin_port);
    table = "/proc/net/tcp";
  }
  int fd = open(table, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return false;
  char block[8192];
  size_t have = 0;
  bool found = false;
  for (;;) {
    ssize_t n = read(fd, block + have, sizeof block - have);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    have += (size_t)n;
    char *line = block, *end = block + have, *newline;
    while (!found && (newline = memchr(line, '\n', (size_t)(end - line))) != NULL) {
      found = lw_proc_net_tcp_listener(line, newline, port, hex, strlen(hex), inode, uid);
      line = newline + 1;
    }
    if (found)
      break;
    have = (size_t)(end - line);
    memmove(block, line, have);
    if (have == sizeof block)
      have = 0; /* a line longer than the block: not one of ours */
  }
  close(fd);
  return found;
}

typedef struct {
  uint64_t inode;
  int budget; /* readlinks left */
} search_t;

typedef struct {
  search_t *search;
  int dir;
  char want[48]; /* socket:[inode] */
  size_t want_len;
  bool found;
} fd_visit_t;

static bool visit_fd(const char *name, void *context) {
  fd_visit_t *v = context;
  if (name[0] == '.')
    return true;
  char target[64];
  v->search->budget--;
  ssize_t len = readlinkat(v->dir, name, target, sizeof target);
  v->found = len == (ssize_t)v->want_len && memcmp(target, v->want, v->want_len) == 0;
  return !v->found && v->search->budget > 0;
}

/* Whether /proc/<pid>/fd holds socket:[inode]. */
static bool has_socket(int pid, search_t *s) {
  if (s->budget <= 0)
    return false;
  char path[64];
  lw_fmt(path, sizeof path, "/proc/%d/fd", pid);
  fd_visit_t visit = {.search = s};
  visit.dir = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (visit.dir < 0)
    return false;
  visit.want_len =
      lw_fmt(visit.want, sizeof visit.want, "socket:[%llu]", (unsigned long long)s->inode);
  lw__directory_for_each(visit.dir, visit_fd, &visit);
  close(visit.dir);
  return visit.found;
}

/* The parent of pid, from /proc/<pid>/stat (after the command's closing parenthesis). */
static int parent_of(int pid) {
  char path[64], text[512];
  lw_fmt(path, sizeof path, "/proc/%d/stat", pid);
  ssize_t n = lw_proc_read_path(path, text, sizeof text - 1);
  if (n <= 0)
    return 0;
  text[n] = '\0';
  const char *p = strrchr(text, ')');
  if (!p || p[1] != ' ' || !p[2] || p[3] != ' ')
    return 0;
  int ppid = 0;
  for (p += 4; *p >= '0' && *p <= '9'; p++)
    ppid = ppid * 10 + (*p - '0');
  return ppid;
}

static void name_of(int pid, char *name, size_t size) {
  char path[64];
  lw_fmt(path, sizeof path, "/proc/%d/comm", pid);
  ssize_t n = lw_proc_read_path(path, name, size - 1);
  n = n > 0 ? n : 0;
  while (n > 0 && name[n - 1] == '\n')
    n--;
  name[n] = '\0';
  if (!n)
    lw_fmt(name, size, "?");
}

typedef struct {
  search_t *search;
  lw_port_holder_t *holder;
  int self;
} process_visit_t;

static bool visit_process(const char *name, void *context) {
  process_visit_t *v = context;
  int pid = (int)lw__directory_number(name);
  if (pid > 0 && pid != v->self && has_socket(pid, v->search)) {
    v->holder->pid = pid;
    name_of(pid, v->holder->name, sizeof v->holder->name);
  }
  return !v->holder->pid && v->search->budget > 0;
}

bool lw__http_port_holder(const struct sockaddr_storage *address, lw_port_holder_t *holder) {
  memset(holder, 0, sizeof *holder);
  if (!find_listener(address, &holder->inode, &holder->uid))
    return false;
  search_t s = {holder->inode, 20000};
  /* Ancestors first: the usual holder is the process this one was started from. */
  int self = (int)getpid();
  for (int pid = getppid(), depth = 0; pid > 1 && depth < 64; pid = parent_of(pid), depth++) {
    if (has_socket(pid, &s)) {
      holder->pid = pid;
      holder->ancestor = true;
      name_of(pid, holder->name, sizeof holder->name);
      return true;
    }
  }
  int proc = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (proc < 0)
    return true; /* the inode and uid are known, the process is not */
  process_visit_t visit = {&s, holder, self};
  lw__directory_for_each(proc, visit_process, &visit);
  close(proc);
  return true;
}
