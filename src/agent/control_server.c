/*
 * control_server.c - the agent's end of the control socket (protocol: docs/CONTROL.md,
 * src/common/control_protocol.h): where the socket lives, who may connect, and the commands.
 *
 * The socket is <dir>/<pid>.sock in a directory only its owner can enter (0700), where dir
 * is $XDG_RUNTIME_DIR/leakwatch or /tmp/leakwatch-<uid> (lw_control_dirs). A directory that
 * exists with the wrong owner or permissions, or is a symlink, is not used: someone may be
 * trying to catch our connections. Runs on the agent thread.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "agent/connection.h"
#include "agent/export_reply.h"
#include "common/control_protocol.h"
#include "common/fmt.h"
#include "common/json_writer.h"
#include "common/procfs.h"
#include "leakwatch.h"

static char socket_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
static dev_t socket_file_dev; /* the socket's file, to notice it removed or replaced */
static ino_t socket_file_ino;
static uint64_t start_unix_seconds;

const char *lw__control_socket_path(void) { return socket_path; }

/* A private directory: created 0700 if missing; if present, ours, a directory (not a
 * symlink) and closed to others. */
static bool private_dir(const char *dir) {
  if (mkdir(dir, 0700) != 0 && errno != EEXIST)
    return false;
  struct stat st;
  if (lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
      (st.st_mode & 077) != 0) {
    lw__log("not using '%s' for the control socket: not a private directory of this user", dir);
    return false;
  }
  return true;
}

int lw__control_listen(void) {
  char dirs[2][256];
  int n = lw_control_dirs(lw__environ_value("XDG_RUNTIME_DIR"), (unsigned)geteuid(), dirs);
  static pid_t started_pid;
  if (started_pid != getpid()) { /* this process's start, not a reopened socket's */
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    start_unix_seconds = (uint64_t)now.tv_sec;
    started_pid = getpid();
  }
  /* A fork child's copy names its parent's socket: never unlinked from here. */
  socket_path[0] = '\0';
  for (int i = 0; i < n; i++) {
    if (!private_dir(dirs[i]))
      continue;
    /* Bound and listening under a temporary name, then renamed into place: a CLI that
     * finds <pid>.sock and is refused takes it for a dead agent's and removes it, which it
     * did to a socket bound but not yet listening. */
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    char final_path[sizeof address.sun_path];
    if (lw_fmt(final_path, sizeof final_path, "%s/%d.sock", dirs[i], (int)getpid()) >=
            sizeof final_path ||
        lw_fmt(address.sun_path, sizeof address.sun_path, "%s/%d.sock.new", dirs[i],
               (int)getpid()) >= sizeof address.sun_path)
      continue;
    int fd = lw__agent_fd_raise(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (fd < 0)
      return -1;
    unlink(address.sun_path); /* left by an earlier program with this pid (exec, crash) */
    struct stat file;
    if (bind(fd, (struct sockaddr *)&address, sizeof address) == 0 &&
        chmod(address.sun_path, 0600) == 0 && listen(fd, 16) == 0 &&
        rename(address.sun_path, final_path) == 0 && lstat(final_path, &file) == 0) {
      memcpy(socket_path, final_path, sizeof socket_path);
      socket_file_dev = file.st_dev;
      socket_file_ino = file.st_ino;
      return fd;
    }
    lw__log("cannot listen on '%s': %s", final_path, strerror(errno));
    unlink(address.sun_path);
    close(fd);
  }
  return -1;
}

/* False when the socket's file is gone or another one took its name (a cleaner of old
 * files in /tmp, a CLI that took it for a dead agent's): the socket is then unreachable. */
bool lw__control_socket_file_intact(void) {
  struct stat file;
  if (!socket_path[0])
    return false;
  int saved_errno = errno;
  bool intact = lstat(socket_path, &file) == 0 && file.st_dev == socket_file_dev &&
                file.st_ino == socket_file_ino && S_ISSOCK(file.st_mode);
  errno = saved_errno;
  return intact;
}

void lw__control_close_listener(void) {
  if (socket_path[0])
    unlink(socket_path);
  socket_path[0] = '\0';
}

/* ---- replies ------------------------------------------------------------------------- */

static void reply_error(lw_connection_t *c, const char *message) {
  lw_buf_printf(&c->reply, "%s ERROR %s\n", LW_CONTROL_MAGIC, message);
}

/* Writes the header for a body of `len` bytes and appends the body. */
static void reply_ok(lw_connection_t *c, const char *content_type, const void *body, size_t len) {
  lw_buf_printf(&c->reply, "%s OK %s %zu\n", LW_CONTROL_MAGIC, content_type, len);
  lw_buf_append(&c->reply, body, len);
}

static void reply_json(lw_connection_t *c, lw_buf_t *json) {
  if (lw_buf_failed(json))
    reply_error(c, "out of memory");
  else
    reply_ok(c, "application/json", json->data, json->len);
  lw_buf_free(json);
}

/* -EBUSY: the reply budget refused the copy (profile_export.c's copy_out, counted there).
 * Not out of memory, and it passes once other clients take their replies: say so, as the
 * HTTP endpoint's 503 does. */
static void reply_profile(lw_connection_t *c, const lw_export_options_t *options) {
  uint8_t *bytes = NULL;
  size_t len = 0;
  int result = lw__export_profile_bytes(options, &lw__output_allocator, &bytes, &len);
  if (result == -EBUSY) {
    char message[200];
    lw_fmt(message, sizeof message,
           "replies not yet taken by their clients hold %llu KiB of the %llu KiB this process "
           "lets them hold (LEAKWATCH_REPLY_MEMORY): retry in a few seconds",
           (unsigned long long)(lw__reply_held() >> 10),
           (unsigned long long)(lw__reply_budget() >> 10));
    reply_error(c, message);
    return;
  }
  if (result < 0) {
    reply_error(c, "cannot build the profile: out of memory");
    return;
  }
  reply_ok(c, "application/x-pprof-gzip", bytes, len);
  lw__output_allocator.release(NULL, bytes, len);
}

/* The process's command line, from /proc/self/cmdline (NUL-separated), space-joined. */
static void append_cmdline(lw_buf_t *json) {
  char raw[4096];
  ssize_t n = lw_proc_read_path("/proc/self/cmdline", raw, sizeof raw - 1);
  if (n < 0)
    n = 0;
  for (ssize_t i = 0; i + 1 < n; i++)
    if (raw[i] == '\0')
      raw[i] = ' ';
  raw[n > 0 ? n - 1 : 0] = '\0';
  lw_json_string(json, raw);
}

static void command_info(lw_connection_t *c) {
  lw_buf_t json;
  lw_buf_init(&json, &lw__output_allocator);
  lw_stats_t s;
  lw_stats(&s, sizeof s);
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  lw_buf_printf(&json, "{\"protocol\":%d,\"agent_version\":", LW_CONTROL_VERSION);
  lw_json_string(&json, LW_AGENT_VERSION);
  lw_buf_printf(&json, ",\"pid\":%d,\"command\":", (int)getpid());
  append_cmdline(&json);
  lw_buf_printf(&json,
                ",\"start_time_unix\":%llu,\"uptime_seconds\":%llu,\"sampling_rate\":%llu,"
                "\"inuse_bytes_estimate\":%llu,\"sampling_enabled\":%llu,\"http\":",
                (unsigned long long)start_unix_seconds,
                (unsigned long long)((uint64_t)now.tv_sec - start_unix_seconds),
                (unsigned long long)s.sampling_rate, (unsigned long long)s.inuse_bytes_estimate,
                (unsigned long long)s.sampling_enabled);
  lw_json_string(&json, lw__http_address());
  /* 0: started with the program; else `leakwatch attach` loaded it then (ps says so). */
  lw_buf_printf(&json, ",\"attached_at_unix\":%llu}\n",
                (unsigned long long)(lw__attached_at_ns / 1000000000u));
  reply_json(c, &json);
}

/* glibc's own figures (mallinfo2), when glibc's malloc is the one in use. */
static void append_allocator(lw_buf_t *json) {
  typedef struct mallinfo2 (*mallinfo2_fn)(void);
  mallinfo2_fn info = (mallinfo2_fn)dlsym(RTLD_DEFAULT, "mallinfo2");
  Dl_info where;
  bool glibc = info && dladdr((void *)lw__real.malloc, &where) && where.dli_fname &&
               strstr(where.dli_fname, "libc.so");
  if (!glibc) {
    lw_buf_append_str(json, "null");
    return;
  }
  struct mallinfo2 m = info();
  lw_buf_printf(json,
                "{\"name\":\"glibc\",\"arena_bytes\":%zu,\"mmap_bytes\":%zu,\"mmap_blocks\":%zu,"
                "\"in_use_bytes\":%zu,\"free_bytes\":%zu,\"releasable_bytes\":%zu,"
                "\"free_chunks\":%zu}",
                m.arena, m.hblkhd, m.hblks, m.uordblks, m.fordblks, m.keepcost, m.ordblks);
}

static void command_stats(lw_connection_t *c) {
  lw_buf_t json;
  lw_buf_init(&json, &lw__output_allocator);
  lw_stats_t s;
  lw_stats(&s, sizeof s);
  lw_buf_printf(&json, "{\"pid\":%d,\"stats\":{", (int)getpid());
  bool first = true;
#define LW_STATS_JSON(name, description)                               \
  lw_buf_printf(&json, "%s\"" #name "\":%llu", first ? "" : ",",       \
                (unsigned long long)s.name);                           \
  first = false;
  LW_STATS_FIELDS(LW_STATS_JSON)
#undef LW_STATS_JSON
  lw_buf_append_str(&json, "},\"allocator\":");
  append_allocator(&json);
  lw_buf_append_str(&json, "}\n");
  reply_json(c, &json);
}

/* Each allocator returns memory its own way (allocator_release.c): malloc_trim would reach
 * glibc's idle malloc behind jemalloc and return nothing. */
static void command_trim(lw_connection_t *c) {
  lw_allocator_release_t r;
  if (lw__allocator_release(&r) < 0) {
    char message[200];
    if (r.kind == LW_ALLOCATOR_UNKNOWN)
      lw_fmt(message, sizeof message, "the allocator behind the agent is not glibc's, jemalloc "
                                      "or tcmalloc: leakwatch cannot ask it to return memory");
    else
      lw_fmt(message, sizeof message, "%s refused %s", lw__allocator_name(r.kind), r.method);
    reply_error(c, message);
    return;
  }
  lw_buf_t json;
  lw_buf_init(&json, &lw__output_allocator);
  lw_buf_printf(&json, "{\"pid\":%d,\"rss_before_bytes\":%llu,\"rss_after_bytes\":%llu,"
                       "\"released\":%s,\"allocator\":\"%s\",\"method\":",
                (int)getpid(), (unsigned long long)r.rss_before_bytes,
                (unsigned long long)r.rss_after_bytes, r.released ? "true" : "false",
                lw__allocator_name(r.kind));
  lw_json_string(&json, r.method);
  lw_buf_printf(&json, ",\"duration_us\":%llu}\n", (unsigned long long)(r.duration_ns / 1000));
  reply_json(c, &json);
}

static void command_allocator(lw_connection_t *c) {
  lw_buf_t json;
  lw_buf_init(&json, &lw__output_allocator);
  lw_buf_printf(&json, "{\"pid\":%d,\"rss_bytes\":%llu,\"allocator\":", (int)getpid(),
                (unsigned long long)lw__resident_bytes());
  lw__allocator_write_json(&json);
  lw_buf_append_str(&json, "}\n");
  reply_json(c, &json);
}

/* heap-window: at the end of the window, what was allocated during it and is still live. */
static void finish_window(lw_connection_t *c) {
  lw_export_options_t options = {
      .base = c->snapshot,
      .base_count = c->snapshot_count,
      .inuse_since = true,
      .since_ms = c->window_start_ms,
      .duration_nanos = (int64_t)c->window_seconds * 1000000000,
  };
  reply_profile(c, &options);
  lw__window_snapshot_release(c->snapshot, c->snapshot_count); /* the reply replaced it */
  c->snapshot = NULL;
}

bool lw__control_handle(lw_connection_t *c) {
  char *newline = memchr(c->request, '\n', c->request_len);
  if (!newline) {
    if (c->request_len <= LW_CONTROL_MAX_REQUEST)
      return false;
    reply_error(c, "request longer than " "256" " bytes");
    return true;
  }
  lw_control_request_t request;
  char error[256];
  if (lw_control_parse_request(c->request, (size_t)(newline - c->request), &request, error,
                               sizeof error) < 0) {
    reply_error(c, error);
    return true;
  }
  switch (request.command) {
  case LW_CONTROL_INFO:
    command_info(c);
    break;
  case LW_CONTROL_STATS:
    command_stats(c);
    break;
  case LW_CONTROL_HEAP:
    reply_profile(c, NULL);
    break;
  case LW_CONTROL_HEAP_WINDOW:
    switch (lw__window_snapshot_take(&c->snapshot, &c->snapshot_count)) {
    case 0:
      break;
    case -EBUSY: { /* the window's snapshot is held like a reply, for its length */
      lw__reply_refused_note();
      uint64_t needs = (uint64_t)lw__stacks_count() * sizeof(lw_stack_counters_t);
      char message[240];
      lw_fmt(message, sizeof message,
             "replies and windows waiting for their clients hold %llu KiB of the %llu KiB this "
             "process lets them hold (LEAKWATCH_REPLY_MEMORY); this window needs %llu KiB: "
             "retry later",
             (unsigned long long)(lw__reply_held() >> 10),
             (unsigned long long)(lw__reply_budget() >> 10),
             (unsigned long long)(needs >> 10));
      reply_error(c, message);
      return true;
    }
    default:
      reply_error(c, "out of memory");
      return true;
    }
    c->window_start_ms = lw__now_ms();
    c->window_seconds = request.argument;
    lw__connection_wait(c, request.argument, finish_window);
    break;
  case LW_CONTROL_TRIM:
    command_trim(c);
    break;
  case LW_CONTROL_ALLOCATOR:
    command_allocator(c);
    break;
  case LW_CONTROL_FDS:
  case LW_CONTROL_THREADS: {
    if (request.command == LW_CONTROL_FDS && !lw__fd_tracking()) {
      reply_error(c, "file descriptors are not tracked in this process (start it with "
                     "LEAKWATCH_TRACK_FDS=1, or leakwatch run --fds)");
      break;
    }
    lw_export_options_t options = {
        .kind = request.command == LW_CONTROL_FDS ? LW_EXPORT_FDS : LW_EXPORT_THREADS};
    reply_profile(c, &options);
    break;
  }
  case LW_CONTROL_HISTORY: {
    lw_buf_t text;
    lw_buf_init(&text, &lw__output_allocator);
    if (lw__history_write(&text, request.argument ? request.argument : 60) < 0)
      reply_error(c, "out of memory");
    else
      reply_ok(c, "text/plain", text.data, text.len);
    lw_buf_free(&text);
    break;
  }
  }
  return true;
}
