/*
 * control_client.c - talking to agents over their control sockets (see control_client.h and
 * docs/CONTROL.md).
 *
 * An agent puts its socket in its own user's directory (its XDG_RUNTIME_DIR/leakwatch, or
 * /tmp/leakwatch-<uid>), so the socket of a process is looked for in this user's directories
 * and then in those of the process's owner, with the XDG_RUNTIME_DIR the process was
 * started with: root reaches any user's agent, and a user reaches a service of theirs
 * started with another XDG_RUNTIME_DIR. Who may talk to an agent: its user and root.
 */
#define _GNU_SOURCE
#include "cli/control_client.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cli/proc_discovery.h"
#include "common/control_protocol.h"

static int socket_dirs(char dirs[2][256]) {
  return lw_control_dirs(getenv("XDG_RUNTIME_DIR"), (unsigned)geteuid(), dirs);
}

enum { MAX_DIRS = 6 };

/* Adds dir unless it is there already. */
static void add_dir(char dirs[MAX_DIRS][256], int *n, const char *dir) {
  for (int i = 0; i < *n; i++)
    if (strcmp(dirs[i], dir) == 0)
      return;
  if (*n < MAX_DIRS && strlen(dir) < 256)
    strcpy(dirs[(*n)++], dir);
}

/* Where pid's agent may have its socket: this user's directories, then its owner's, from
 * the XDG_RUNTIME_DIR it was started with (or /run/user/<uid>) and /tmp/leakwatch-<uid>.
 * *owner is the process's uid ((unsigned)-1 when /proc does not say). */
static int socket_dirs_for(int pid, char dirs[MAX_DIRS][256], unsigned *owner) {
  char own[2][256];
  int n = 0, n_own = socket_dirs(own);
  for (int i = 0; i < n_own; i++)
    add_dir(dirs, &n, own[i]);
  *owner = (unsigned)-1;
  char path[64];
  struct stat st;
  snprintf(path, sizeof path, "/proc/%d", pid);
  if (stat(path, &st) != 0)
    return n;
  *owner = (unsigned)st.st_uid;
  char xdg[256] = "";
  bool has_xdg = lw_proc_environ_value(pid, "XDG_RUNTIME_DIR", xdg, sizeof xdg);
  char theirs[2][256];
  int n_theirs = lw_control_dirs(has_xdg ? xdg : NULL, *owner, theirs);
  for (int i = 0; i < n_theirs; i++)
    add_dir(dirs, &n, theirs[i]);
  if (!has_xdg) { /* environ unreadable or unset: the login session's usual place */
    char run[256];
    snprintf(run, sizeof run, "/run/user/%u/leakwatch", *owner);
    add_dir(dirs, &n, run);
  }
  return n;
}

static bool process_exists(int pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d", pid);
  return access(path, F_OK) == 0;
}

/* Whether the agent's library is mapped in pid (its maps name libleakwatch). A socket nobody
 * listens on is stale only if not: a live agent closes its socket for a moment when the
 * program took the descriptor (it reopens it after a grace), and a detached agent stays
 * mapped but removes its own socket. Unreadable maps count as mapped: never remove what
 * may be a live agent's. */
static bool agent_library_mapped(int pid) {
  char path[64], line[4096];
  snprintf(path, sizeof path, "/proc/%d/maps", pid);
  FILE *maps = fopen(path, "re");
  if (!maps)
    return true;
  bool mapped = false;
  while (!mapped && fgets(line, sizeof line, maps))
    mapped = strstr(line, "/libleakwatch") != NULL;
  fclose(maps);
  return mapped;
}

/* The process's name (/proc/<pid>/comm) for messages, or "?". */
static void process_name(int pid, char *out, size_t size) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/comm", pid);
  FILE *f = fopen(path, "r");
  if (!f || !fgets(out, (int)size, f))
    snprintf(out, size, "?");
  else
    out[strcspn(out, "\n")] = '\0';
  if (f)
    fclose(f);
}

/* Why a directory of another user's agent cannot be looked into, or "" when it can. */
static void dir_access(const char *dir, char *why, size_t size) {
  why[0] = '\0';
  if (access(dir, X_OK) == 0 || errno == ENOENT)
    return;
  struct stat st;
  if (stat(dir, &st) == 0)
    snprintf(why, size, "%.255s is private to uid %u (mode %04o)", dir, (unsigned)st.st_uid,
             (unsigned)(st.st_mode & 07777));
  else
    snprintf(why, size, "%.255s: %.100s", dir, strerror(errno));
}

/* Explains why there is no usable agent socket for pid. */
static void explain_missing(int pid, char *error, size_t size) {
  if (!process_exists(pid)) {
    snprintf(error, size, "no process with pid %d", pid);
    return;
  }
  char name[64];
  process_name(pid, name, sizeof name);
  char dirs[MAX_DIRS][256];
  unsigned owner;
  int n = socket_dirs_for(pid, dirs, &owner);
  if (owner != (unsigned)-1 && owner != geteuid() && geteuid() != 0) {
    snprintf(error, size,
             "pid %d (%s) belongs to another user (uid %u); leakwatch talks only to agents of "
             "its own user, and root to any user's",
             pid, name, owner);
    return;
  }
  for (int i = 0; i < n; i++) {
    char why[400];
    dir_access(dirs[i], why, sizeof why);
    if (why[0]) {
      snprintf(error, size,
               "cannot look for the agent of pid %d (%s, uid %u): %s, and this process may "
               "not enter it (root needs CAP_DAC_OVERRIDE, which a user namespace or a "
               "container may withhold)",
               pid, name, owner, why);
      return;
    }
  }
  char where[512] = "";
  for (int i = 0, used = 0; i < n && used < (int)sizeof where; i++)
    used += snprintf(where + used, sizeof where - (size_t)used, "%s%s", i ? ", " : "", dirs[i]);
  snprintf(error, size,
           "pid %d (%s) is not running with the leakwatch agent: no socket %d.sock in %s "
           "(start it with leakwatch run, or LD_PRELOAD=libleakwatch.so)",
           pid, name, pid, where);
}

/* The socket of pid's agent: path must hold a sockaddr_un path (108 bytes); longer ones
 * cannot be sockets anyway. *owner is the process's uid. */
static int find_socket_of(int pid, char *path, size_t size, unsigned *owner) {
  char dirs[MAX_DIRS][256];
  int n = socket_dirs_for(pid, dirs, owner);
  for (int i = 0; i < n; i++) {
    int len = snprintf(path, size, "%s/%d.sock", dirs[i], pid);
    struct stat st;
    if (len > 0 && (size_t)len < size && stat(path, &st) == 0 && S_ISSOCK(st.st_mode))
      return 0;
  }
  return -1;
}

static int find_socket(int pid, char *path, size_t size) {
  unsigned owner;
  return find_socket_of(pid, path, size, &owner);
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until fd is ready for `events` or the deadline passes. */
static bool wait_ready(int fd, short events, int64_t deadline) {
  for (;;) {
    int64_t left = deadline - now_ms();
    if (left <= 0)
      return false;
    struct pollfd p = {fd, events, 0};
    int r = poll(&p, 1, (int)left);
    if (r > 0)
      return true;
    if (r < 0 && errno != EINTR)
      return false;
  }
}

int lw_control_call(int pid, const char *request, lw_buf_t *body, int timeout_ms, char *error,
                    size_t error_size) {
  char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
  if (pid <= 0) {
    snprintf(error, error_size, "invalid pid %d", pid);
    return -1;
  }
  unsigned owner;
  if (find_socket_of(pid, path, sizeof path, &owner) < 0) {
    explain_missing(pid, error, error_size);
    return -1;
  }
  if (!process_exists(pid)) {
    unlink(path); /* a crashed or killed agent left it */
    snprintf(error, error_size, "no process with pid %d (removed its stale socket)", pid);
    return -1;
  }
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    snprintf(error, error_size, "cannot create a socket: %s", strerror(errno));
    return -1;
  }
  struct sockaddr_un address = {.sun_family = AF_UNIX};
  memcpy(address.sun_path, path, sizeof address.sun_path);
  int64_t deadline = now_ms() + timeout_ms;
  int result = -1;
  if (connect(fd, (struct sockaddr *)&address, sizeof address) != 0) {
    if (errno == ECONNREFUSED && agent_library_mapped(pid)) {
      snprintf(error, error_size,
               "the agent of pid %d is not answering at %s (it reopens its socket within a "
               "second or two if the program closed it; try again)",
               pid, path);
    } else if (errno == ECONNREFUSED) {
      /* The socket file outlived its agent and the pid now belongs to another process. */
      unlink(path);
      snprintf(error, error_size,
               "pid %d is not running with the leakwatch agent (removed a stale socket)", pid);
    } else if (errno == EACCES || errno == EPERM) {
      if (geteuid() == 0)
        snprintf(error, error_size,
                 "cannot connect to the agent of pid %d (uid %u) at %s: permission denied "
                 "(root needs CAP_DAC_OVERRIDE to use another user's socket, which a user "
                 "namespace or a container may withhold)",
                 pid, owner, path);
      else
        snprintf(error, error_size,
                 "cannot connect to the agent of pid %d at %s: permission denied (only its "
                 "user, uid %u, and root may)",
                 pid, path, owner);
    } else {
      snprintf(error, error_size, "cannot connect to the agent of pid %d: %s", pid, strerror(errno));
    }
    goto out;
  }
  char line[LW_CONTROL_MAX_REQUEST + 32];
  int n = snprintf(line, sizeof line, "%s %s\n", LW_CONTROL_MAGIC, request);
  if (n <= 0 || (size_t)n >= sizeof line || send(fd, line, (size_t)n, MSG_NOSIGNAL) != n) {
    snprintf(error, error_size, "cannot send to the agent of pid %d: %s", pid, strerror(errno));
    goto out;
  }
  /* Read everything (the agent closes after one reply), then split header and body. */
  lw_buf_t raw;
  lw_buf_init(&raw, &lw_libc_allocator);
  for (;;) {
    if (!wait_ready(fd, POLLIN, deadline)) {
      snprintf(error, error_size, "the agent of pid %d did not answer within %d s", pid,
               timeout_ms / 1000);
      lw_buf_free(&raw);
      goto out;
    }
    if (!lw_buf_reserve(&raw, 65536)) {
      snprintf(error, error_size, "out of memory reading the reply of pid %d", pid);
      lw_buf_free(&raw);
      goto out;
    }
    ssize_t got = read(fd, raw.data + raw.len, raw.cap - raw.len);
    if (got < 0 && errno == EINTR)
      continue;
    if (got <= 0)
      break;
    raw.len += (size_t)got;
  }
  uint8_t *newline = raw.len ? memchr(raw.data, '\n', raw.len < 600 ? raw.len : 600) : NULL;
  lw_control_reply_t reply;
  if (raw.len == 0) {
    if (process_exists(pid))
      snprintf(error, error_size, "the agent of pid %d closed the connection without a reply", pid);
    else
      snprintf(error, error_size, "pid %d exited before its agent replied", pid);
  } else if (!newline ||
             lw_control_parse_reply((const char *)raw.data, (size_t)(newline - raw.data),
                                    &reply) < 0) {
    snprintf(error, error_size, "the agent of pid %d sent a reply leakwatch does not understand",
             pid);
  } else if (!reply.ok) {
    snprintf(error, error_size, "the agent of pid %d: %s", pid, reply.message);
  } else if (raw.len - (size_t)(newline + 1 - raw.data) != reply.length) {
    snprintf(error, error_size, "the reply of pid %d was cut short (%zu of %llu bytes)", pid,
             raw.len - (size_t)(newline + 1 - raw.data), (unsigned long long)reply.length);
  } else {
    lw_buf_append(body, newline + 1, (size_t)reply.length);
    result = lw_buf_failed(body) ? -1 : 0;
    if (result < 0)
      snprintf(error, error_size, "out of memory");
  }
  lw_buf_free(&raw);
out:
  close(fd);
  return result;
}

static int by_pid(const void *a, const void *b) {
  int x = *(const int *)a, y = *(const int *)b;
  return (x > y) - (x < y);
}

enum { MAX_LIST_DIRS = 256 };

/* For root: every user's socket directories (/tmp/leakwatch-<uid>, /run/user/<uid>/leakwatch)
 * after its own. */
static void add_user_dirs(char (*dirs)[256], int *n) {
  const char *parents[2] = {"/tmp", "/run/user"};
  for (int p = 0; p < 2; p++) {
    DIR *dir = opendir(parents[p]);
    if (!dir)
      continue;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL && *n < MAX_LIST_DIRS) {
      char path[256];
      char *end = NULL;
      if (p == 0 && strncmp(e->d_name, "leakwatch-", 10) == 0 &&
          strtoul(e->d_name + 10, &end, 10) != (unsigned long)geteuid() && end && !*end)
        snprintf(path, sizeof path, "/tmp/%.200s", e->d_name);
      else if (p == 1 && e->d_name[0] >= '0' && e->d_name[0] <= '9')
        snprintf(path, sizeof path, "/run/user/%.200s/leakwatch", e->d_name);
      else
        continue;
      bool seen = false;
      for (int i = 0; i < *n && !seen; i++)
        seen = strcmp(dirs[i], path) == 0;
      if (!seen)
        strcpy(dirs[(*n)++], path);
    }
    closedir(dir);
  }
}

int lw_control_list(void (*fn)(int pid, const char *socket_path, void *context), void *context) {
  static char dirs[MAX_LIST_DIRS][256];
  int n_dirs = socket_dirs(dirs);
  if (geteuid() == 0)
    add_user_dirs(dirs, &n_dirs);
  int pids[4096];
  int n = 0;
  for (int d = 0; d < n_dirs; d++) {
    DIR *dir = opendir(dirs[d]);
    if (!dir)
      continue;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL && n < 4096) {
      char *end = NULL;
      long pid = strtol(e->d_name, &end, 10);
      if (pid <= 0 || !end || strcmp(end, ".sock") != 0)
        continue;
      if (!process_exists((int)pid)) {
        char path[512];
        if (snprintf(path, sizeof path, "%s/%s", dirs[d], e->d_name) < (int)sizeof path)
          unlink(path); /* stale: its process is gone */
        continue;
      }
      bool seen = false;
      for (int i = 0; i < n; i++)
        seen = seen || pids[i] == (int)pid;
      if (seen)
        continue;
      pids[n++] = (int)pid;
    }
    closedir(dir);
  }
  qsort(pids, (size_t)n, sizeof pids[0], by_pid);
  for (int i = 0; i < n; i++) {
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    if (find_socket(pids[i], path, sizeof path) == 0)
      fn(pids[i], path, context);
  }
  return n;
}
