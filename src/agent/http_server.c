/*
 * http_server.c - the agent's optional HTTP endpoint (LEAKWATCH_HTTP=127.0.0.1:6060): the
 * net/http/pprof paths Go programs serve, plus /metrics and /debug/vars, so `go tool pprof`,
 * continuous profilers and a Prometheus server can use a C process unchanged.
 *
 * Behaviour follows Go's net/http/pprof (FORMATS.md 2, reference captures): the same paths,
 * parameters, content types, Content-Disposition names, error statuses and error bodies
 * (with X-Go-Pprof: 1, which pprof uses to show them). Requests are parsed by
 * src/common/http_request.c with hard limits; every connection closes after one reply.
 * Loopback only unless LEAKWATCH_HTTP_ALLOW_REMOTE=1. Runs on the agent thread.
 *
 * What a reply may cost the host is bounded (issue 13): replies waiting for their clients
 * hold at most lw__reply_budget() bytes together; a reply that would take more while others
 * are held gets 503 with Retry-After, and a text profile (?debug=1) is cut to the room left.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/connection.h"
#include "agent/export_reply.h"
#include "agent/goroutine_export.h"
#include "agent/http_owner.h"
#include "agent/thread_stacks.h"
#include "common/fmt.h"
#include "common/http_request.h"
#include "common/procfs.h"
#include "leakwatch.h"

int lw__metrics_prometheus(lw_buf_t *out);
void lw__metrics_vars(lw_buf_t *out);

static char http_address[96];
/* The process that decided whether to serve LEAKWATCH_HTTP (0: none yet). A fork child
 * inherits it: the endpoint is its parent's, and the child neither serves nor complains. */
static pid_t decided_by;

/* A fork child inherits the address with the memory, not the endpoint. */
const char *lw__http_address(void) { return decided_by == getpid() ? http_address : ""; }

/* ---- listening -------------------------------------------------------------------------- */

/* Parses "host:port", ":port" or "[v6]:port" with numeric hosts (and "localhost"): no name
 * resolution inside the target process. */
static bool parse_address(const char *text, struct sockaddr_storage *out, socklen_t *len,
                          bool *loopback) {
  char host[64];
  const char *colon = strrchr(text, ':');
  if (!colon || colon - text >= (long)sizeof host)
    return false;
  memcpy(host, text, (size_t)(colon - text));
  host[colon - text] = '\0';
  unsigned long port = 0;
  const char *p = colon + 1;
  if (!*p)
    return false;
  for (; *p; p++) {
    if (*p < '0' || *p > '9' || (port = port * 10 + (unsigned long)(*p - '0')) > 65535)
      return false;
  }
  memset(out, 0, sizeof *out);
  if (host[0] == '[') {
    size_t n = strlen(host);
    if (n < 3 || host[n - 1] != ']')
      return false;
    host[n - 1] = '\0';
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)out;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons((uint16_t)port);
    if (inet_pton(AF_INET6, host + 1, &a->sin6_addr) != 1)
      return false;
    *loopback = IN6_IS_ADDR_LOOPBACK(&a->sin6_addr);
    *len = sizeof *a;
    return true;
  }
  struct sockaddr_in *a = (struct sockaddr_in *)out;
  a->sin_family = AF_INET;
  a->sin_port = htons((uint16_t)port);
  if (!host[0] || strcmp(host, "localhost") == 0)
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  else if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
    return false;
  *loopback = (ntohl(a->sin_addr.s_addr) >> 24) == 127;
  *len = sizeof *a;
  return true;
}

/* bind failed: says why, naming who holds the port; quiet when an ancestor does (the
 * endpoint is the tree's, and the first process of it serves it). */
static void explain_bind_failure(int error, const struct sockaddr_storage *address,
                                 const char *program) {
  lw_port_holder_t holder;
  if (error != EADDRINUSE || !lw__http_port_holder(address, &holder)) {
    lw__log("cannot serve HTTP on %s: %s", lw__options.http, strerror(error));
    return;
  }
  if (holder.ancestor)
    return;
  if (holder.pid)
    lw__log("cannot serve HTTP on %s: the address is in use by pid %d (%s)", lw__options.http,
            holder.pid, holder.name);
  else
    lw__log("cannot serve HTTP on %s: the address is in use by a process of uid %u that "
            "%s (pid %d) may not look into",
            lw__options.http, holder.uid, program, (int)getpid());
}

int lw__http_listen(void) {
  struct sockaddr_storage address;
  socklen_t len;
  bool loopback;
  pid_t self = getpid();
  if (decided_by && decided_by != self)
    return -1; /* a fork child: the endpoint is the parent's */
  decided_by = self;
  char program[64];
  if (!lw__http_program_serves(program, sizeof program))
    return -1; /* another program of the tree serves it */
  if (!parse_address(lw__options.http, &address, &len, &loopback)) {
    lw__log("LEAKWATCH_HTTP='%s' is not host:port with a numeric host (e.g. 127.0.0.1:6060); "
            "no HTTP endpoint",
            lw__options.http);
    return -1;
  }
  if (!loopback && !lw__options.http_allow_remote) {
    lw__log("refusing to serve profiles on non-loopback address %s: set "
            "LEAKWATCH_HTTP_ALLOW_REMOTE=1 to allow it (see docs/SECURITY.md)",
            lw__options.http);
    return -1;
  }
  int fd = lw__agent_fd_raise(socket(address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd < 0)
    return -1;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, (struct sockaddr *)&address, len) != 0 || listen(fd, 64) != 0) {
    int error = errno;
    close(fd);
    explain_bind_failure(error, &address, program);
    return -1;
  }
  socklen_t bound_len = sizeof address;
  getsockname(fd, (struct sockaddr *)&address, &bound_len);
  char host[64] = "";
  if (address.ss_family == AF_INET6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&address;
    inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
    lw_fmt(http_address, sizeof http_address, "[%s]:%u", host, ntohs(a->sin6_port));
  } else {
    struct sockaddr_in *a = (struct sockaddr_in *)&address;
    inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
    lw_fmt(http_address, sizeof http_address, "%s:%u", host, ntohs(a->sin_port));
  }
  if (!loopback)
    lw__log("WARNING: serving heap profiles and metrics to the network on %s", http_address);
  lw__log("HTTP endpoint on http://%s/debug/pprof/ and /metrics (pid %d, %s)", http_address,
          (int)self, program);
  return fd;
}

/* ---- replies ---------------------------------------------------------------------------- */

typedef struct {
  lw_connection_t *connection;
  bool head_only;
} exchange_t;

/* Replies up to this size are always made: errors and small pages never meet the budget. */
enum { SMALL_REPLY = 64 * 1024, RETRY_AFTER_SECONDS = 5 };

static void reply_parts(exchange_t *x, int status, const char *content_type,
                        const char *extra_headers, const void *body, size_t len,
                        const void *tail, size_t tail_len, bool check_budget);

/* 503 with Retry-After: the replies held now leave no room for this one. */
static void reply_busy(exchange_t *x, uint64_t held, uint64_t budget, size_t len) {
  lw__reply_refused_note();
  char body[320];
  lw_fmt(body, sizeof body,
         "leakwatch: replies not yet taken by their clients hold %llu KiB of the %llu KiB "
         "this process lets them hold (LEAKWATCH_REPLY_MEMORY); this one needs %llu KiB: "
         "retry in a few seconds\n",
         (unsigned long long)(held >> 10), (unsigned long long)(budget >> 10),
         (unsigned long long)(len >> 10));
  char headers[96];
  lw_fmt(headers, sizeof headers, "Retry-After: %d\r\nX-Go-Pprof: 1\r\n", RETRY_AFTER_SECONDS);
  reply_parts(x, 503, "text/plain; charset=utf-8", headers, body, strlen(body), NULL, 0, false);
}

/* Makes the reply (headers, body, tail). With check_budget, a reply bigger than SMALL_REPLY
 * that would take the replies held past the budget gets 503 instead; alone, a reply is
 * always made (a profile must be obtainable, one client at a time). */
static void reply_parts(exchange_t *x, int status, const char *content_type,
                        const char *extra_headers, const void *body, size_t len,
                        const void *tail, size_t tail_len, bool check_budget) {
  if (check_budget && !x->head_only && len + tail_len > SMALL_REPLY) {
    uint64_t held = lw__reply_held(), budget = lw__reply_budget();
    if (held && held + len + tail_len > budget) {
      reply_busy(x, held, budget, len + tail_len);
      return;
    }
  }
  lw_buf_t *out = &x->connection->reply;
  char head[1024];
  size_t head_len = lw_fmt(head, sizeof head,
                           "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nX-Content-Type-Options: "
                           "nosniff\r\n%sContent-Length: %zu\r\nConnection: close\r\n\r\n",
                           status, lw_http_status_reason(status), content_type,
                           extra_headers ? extra_headers : "", len + tail_len);
  if (head_len >= sizeof head) {
    out->failed = true;
    return;
  }
  size_t total = head_len + (x->head_only ? 0 : len + tail_len);
  if (!out->cap) {
    /* The exact size, in one block: a reply held for its client costs what it says. */
    out->data = lw_alloc(out->allocator, total);
    if (!out->data) {
      out->failed = true;
      return;
    }
    out->cap = total;
  }
  lw_buf_append(out, head, head_len);
  if (!x->head_only) {
    lw_buf_append(out, body, len);
    lw_buf_append(out, tail, tail_len);
  }
}

static void reply(exchange_t *x, int status, const char *content_type, const char *extra_headers,
                  const void *body, size_t len) {
  reply_parts(x, status, content_type, extra_headers, body, len, NULL, 0, true);
}

static void reply_text(exchange_t *x, int status, const char *extra_headers, const char *text) {
  reply(x, status, "text/plain; charset=utf-8", extra_headers, text, strlen(text));
}

/* net/http/pprof's serveError: the status, one line, and X-Go-Pprof so pprof shows it. */
static void pprof_error(exchange_t *x, int status, const char *message) {
  char body[256];
  lw_fmt(body, sizeof body, "%s\n", message);
  reply_text(x, status, "X-Go-Pprof: 1\r\n", body);
}

static void reply_buffer(exchange_t *x, int status, const char *content_type,
                         const char *extra_headers, lw_buf_t *body) {
  if (lw_buf_failed(body))
    reply_text(x, 503, NULL, "out of memory\n");
  else
    reply(x, status, content_type, extra_headers, body->data, body->len);
  lw_buf_free(body);
}

/* ---- profiles ---------------------------------------------------------------------------- */

enum { WINDOW_HEAP = 1, WINDOW_ALLOCS = 2, MAX_SECONDS = 3600 };

typedef struct {
  exchange_t *x;
  const char *content_type;
  const char *headers;
  const lw_buf_t *tail; /* appended to a text profile (the stats lines), or NULL */
  bool check_budget;    /* false for text, already cut to the room left */
} profile_reply_t;

/* Sink of lw__export_profile_into: the profile goes from the export's scratch memory
 * straight into the reply, one copy. A window's snapshot, reply memory the profile no
 * longer reads once built, goes first, so the reply that replaces it has its room. */
static int profile_into_reply(const uint8_t *bytes, size_t len, void *context) {
  profile_reply_t *r = context;
  lw_connection_t *c = r->x->connection;
  if (c->snapshot) {
    lw__window_snapshot_release(c->snapshot, c->snapshot_count);
    c->snapshot = NULL;
  }
  reply_parts(r->x, 200, r->content_type, r->headers, bytes, len,
              r->tail ? r->tail->data : NULL, r->tail ? r->tail->len : 0, r->check_budget);
  return 0;
}

static void send_profile(exchange_t *x, const lw_export_options_t *options, const char *filename) {
  char disposition[96];
  lw_fmt(disposition, sizeof disposition, "Content-Disposition: attachment; filename=\"%s\"\r\n",
         filename);
  profile_reply_t r = {x, "application/octet-stream", disposition, NULL, true};
  if (lw__export_profile_into(options, 0, profile_into_reply, &r) < 0)
    pprof_error(x, 500, "could not build the profile: out of memory");
}

/* A text profile (?debug=1), cut to the room the reply budget leaves (the stats lines of
 * `tail` included); 503 when there is hardly any. */
static void send_profile_text(exchange_t *x, const lw_export_options_t *options,
                              const lw_buf_t *tail) {
  if (lw_buf_failed(tail)) {
    pprof_error(x, 500, "could not build the profile: out of memory");
    return;
  }
  uint64_t held = lw__reply_held(), budget = lw__reply_budget();
  uint64_t room = budget > held ? budget - held : 0;
  size_t limit = SMALL_REPLY; /* alone, at least this much */
  if (room > 2 * SMALL_REPLY + tail->len)
    limit = (size_t)(room - SMALL_REPLY - tail->len); /* the maps and the omission note */
  else if (held) {
    reply_busy(x, held, budget, 2 * SMALL_REPLY + tail->len);
    return;
  }
  profile_reply_t r = {x, "text/plain; charset=utf-8", NULL, tail, false};
  if (lw__export_profile_into(options, limit, profile_into_reply, &r) < 0)
    pprof_error(x, 500, "could not build the profile: out of memory");
}

/* End of a ?seconds=N window: Go's delta profile (p1 - p0, in-use included). */
static void finish_delta(lw_connection_t *c) {
  exchange_t x = {c, false};
  lw_export_options_t options = {
      .base = c->snapshot,
      .base_count = c->snapshot_count,
      .subtract_inuse = true,
      .duration_nanos = (int64_t)c->window_seconds * 1000000000,
      .alloc_default = c->window_kind == WINDOW_ALLOCS,
  };
  send_profile(&x, &options, c->window_kind == WINDOW_ALLOCS ? "allocs-delta" : "heap-delta");
}

/* A query parameter as an integer. Absent or empty (Go's FormValue returns "" for both)
 * is present = false and fine; malformed or not a number returns false. */
static bool query_int(lw_http_slice_t query, const char *name, long long *value, bool *present) {
  char text[32];
  int found = lw_http_query_param(query, name, text, sizeof text);
  *present = found > 0;
  if (found == -1 || found == 0)
    return true;
  if (found < 0)
    return false; /* malformed escape, or too long to be a number */
  char *p = text;
  bool negative = *p == '-';
  if (negative || *p == '+')
    p++;
  if (!*p)
    return false;
  long long v = 0;
  for (; *p; p++) {
    if (*p < '0' || *p > '9' || v > 1000000000000LL)
      return false;
    v = v * 10 + (*p - '0');
  }
  *value = negative ? -v : v;
  return true;
}

/* /debug/pprof/threadcreate and /debug/pprof/fd: exact counts of what is live now. */
static void serve_counts(exchange_t *x, const lw_http_request_t *r, lw_export_kind_t kind) {
  long long debug = 0, seconds = 0;
  bool has_debug, has_seconds;
  if (!query_int(r->query, "debug", &debug, &has_debug))
    debug = 0;
  if (!query_int(r->query, "seconds", &seconds, &has_seconds) || has_seconds) {
    pprof_error(x, 400, "\"seconds\" parameter is not supported for this profile type");
    return;
  }
  if (kind == LW_EXPORT_FDS && !lw__fd_tracking()) {
    pprof_error(x, 404, "fd profile: file descriptors are not tracked (LEAKWATCH_TRACK_FDS=1)");
    return;
  }
  lw_export_options_t options = {.kind = kind};
  const char *name = kind == LW_EXPORT_FDS ? "fd" : "threadcreate";
  if (debug > 0) {
    lw_buf_t none;
    lw_buf_init(&none, lw__transient_allocator);
    send_profile_text(x, &options, &none);
    return;
  }
  send_profile(x, &options, name);
}

/* /debug/pprof/goroutine: the threads by current stack (goroutine_export.c), read without
 * stopping or signalling them. No ?seconds= delta: a thread's stack is a moment, not a sum. */
static void serve_goroutine(exchange_t *x, const lw_http_request_t *r) {
  long long debug = 0, seconds = 0;
  bool has_debug, has_seconds;
  if (!query_int(r->query, "debug", &debug, &has_debug))
    debug = 0;
  if (!query_int(r->query, "seconds", &seconds, &has_seconds) || has_seconds) {
    pprof_error(x, 400, "\"seconds\" parameter is not supported for this profile type");
    return;
  }
  lw_buf_t body;
  lw_buf_init(&body, lw__transient_allocator);
  if (lw__goroutine_export(debug > 2 ? 2 : (int)debug, &body) != 0) {
    lw_buf_free(&body);
    pprof_error(x, 500, "could not read the threads' stacks");
    return;
  }
  if (debug > 0)
    reply_buffer(x, 200, "text/plain; charset=utf-8", NULL, &body);
  else
    reply_buffer(x, 200, "application/octet-stream",
                 "Content-Disposition: attachment; filename=\"goroutine\"\r\n", &body);
}

static void serve_heap(exchange_t *x, const lw_http_request_t *r, bool allocs) {
  long long debug = 0, seconds = 0;
  bool has_debug, has_seconds;
  bool debug_ok = query_int(r->query, "debug", &debug, &has_debug);
  if (!debug_ok)
    debug = 0; /* Go's strconv.Atoi failure leaves debug at 0 */
  bool seconds_ok = query_int(r->query, "seconds", &seconds, &has_seconds);
  if (has_seconds || !seconds_ok) {
    if (!seconds_ok || seconds <= 0) {
      pprof_error(x, 400, "invalid value for \"seconds\" - must be a positive integer");
      return;
    }
    if (seconds > MAX_SECONDS) {
      pprof_error(x, 400, "profile duration exceeds server's WriteTimeout");
      return;
    }
    if (debug != 0) {
      pprof_error(x, 400, "seconds and debug params are incompatible");
      return;
    }
    lw_connection_t *c = x->connection;
    int taken = lw__window_snapshot_take(&c->snapshot, &c->snapshot_count);
    if (taken == -EBUSY) { /* the window's snapshot is held like a reply, for its length */
      reply_busy(x, lw__reply_held(), lw__reply_budget(),
                 (size_t)lw__stacks_count() * sizeof(lw_stack_counters_t));
      return;
    }
    if (taken < 0) {
      pprof_error(x, 500, "could not take the profile: out of memory");
      return;
    }
    c->window_seconds = (uint64_t)seconds;
    c->window_kind = allocs ? WINDOW_ALLOCS : WINDOW_HEAP;
    lw__connection_wait(c, (uint64_t)seconds, finish_delta);
    return;
  }
  /* gc=1 asks Go to collect garbage first; a C heap has none to collect (malloc_trim
   * returns memory to the system but frees nothing): accepted and ignored. */
  lw_export_options_t options = {.alloc_default = allocs};
  if (debug > 0) {
    lw_buf_t stats_text;
    lw_buf_init(&stats_text, lw__transient_allocator);
    lw_stats_t s;
    lw_stats(&s, sizeof s);
    lw_buf_append_str(&stats_text, "\n# leakwatch stats\n");
#define LW_STATS_LINE(name, description) \
  lw_buf_printf(&stats_text, "# " #name " = %llu\n", (unsigned long long)s.name);
    LW_STATS_FIELDS(LW_STATS_LINE)
#undef LW_STATS_LINE
    send_profile_text(x, &options, &stats_text);
    lw_buf_free(&stats_text);
    return;
  }
  send_profile(x, &options, allocs ? "allocs" : "heap");
}

/* ---- /debug/pprof/symbol: pprof's remote symbolization protocol (FORMATS.md 2.3) -------- */

typedef struct {
  lw_buf_t *out;
} symbol_reply_t;

static void add_symbol_line(uint64_t address, const char *name, void *context) {
  symbol_reply_t *r = context;
  lw_buf_printf(r->out, "0x%llx %s\n", (unsigned long long)address, name);
}

static void serve_symbol(exchange_t *x, const char *input, size_t len) {
  enum { MAX_ADDRESSES = 8192 };
  static uint64_t addresses[MAX_ADDRESSES]; /* the agent thread is the only user */
  size_t n = 0;
  const char *p = input, *end = input + len;
  while (p < end && n < MAX_ADDRESSES) {
    const char *word_end = memchr(p, '+', (size_t)(end - p));
    if (!word_end)
      word_end = end;
    /* Go: strconv.ParseUint(word, 0, 64); unparseable or zero words are skipped. */
    uint64_t v = 0;
    bool ok = word_end > p;
    const char *q = p;
    unsigned base = 10;
    if (word_end - q > 2 && q[0] == '0' && (q[1] == 'x' || q[1] == 'X')) {
      base = 16;
      q += 2;
    }
    for (; ok && q < word_end; q++) {
      unsigned digit = (*q >= '0' && *q <= '9') ? (unsigned)(*q - '0')
                       : (*q >= 'a' && *q <= 'f') ? (unsigned)(*q - 'a' + 10)
                       : (*q >= 'A' && *q <= 'F') ? (unsigned)(*q - 'A' + 10)
                                                  : 99;
      if (digit >= base || v > (UINT64_MAX - digit) / base)
        ok = false;
      else
        v = v * base + digit;
    }
    if (ok && v)
      addresses[n++] = v;
    p = word_end + 1;
  }
  lw_buf_t body;
  lw_buf_init(&body, lw__transient_allocator);
  lw_buf_append_str(&body, "num_symbols: 1\n");
  symbol_reply_t r = {&body};
  if (n)
    lw__export_symbolize(addresses, n, add_symbol_line, &r);
  reply_buffer(x, 200, "text/plain; charset=utf-8", NULL, &body);
}

/* ---- small pages -------------------------------------------------------------------------- */

static void serve_cmdline(exchange_t *x) {
  char raw[8192];
  ssize_t n = lw_proc_read_path("/proc/self/cmdline", raw, sizeof raw);
  if (n > 0 && raw[n - 1] == '\0')
    n--; /* os.Args joined by NUL: no trailing NUL */
  reply(x, 200, "text/plain; charset=utf-8", NULL, raw, n > 0 ? (size_t)n : 0);
}

static void serve_index(exchange_t *x) {
  lw_stats_t s;
  lw_stats(&s, sizeof s);
  long threads = lw__thread_stacks_count() - 1; /* the agent's own thread is not shown */
  lw_buf_t page;
  lw_buf_init(&page, lw__transient_allocator);
  lw_buf_printf(&page,
                "<html>\n<head>\n<title>/debug/pprof/</title>\n</head>\n<body>\n/debug/pprof/<br>\n"
                "<br>\nTypes of profiles available:\n<table>\n"
                "<thead><td>Count</td><td>Profile</td></thead>\n"
                "<tr><td>%llu</td><td><a href='allocs?debug=1'>allocs</a></td></tr>\n"
                "<tr><td>0</td><td><a href='cmdline?debug=1'>cmdline</a></td></tr>\n"
                "<tr><td>%llu</td><td><a href='fd?debug=1'>fd</a></td></tr>\n"
                "<tr><td>%llu</td><td><a href='goroutine?debug=1'>goroutine</a></td></tr>\n"
                "<tr><td>%llu</td><td><a href='heap?debug=1'>heap</a></td></tr>\n"
                "<tr><td>%llu</td><td><a href='threadcreate?debug=1'>threadcreate</a></td></tr>\n"
                "</table>\n<p>\nProfile Descriptions:\n<ul>\n"
                "<li><div class=profile-name>allocs: </div> A sampling of all past memory "
                "allocations (leakwatch: estimated from samples every %llu bytes)</li>\n"
                "<li><div class=profile-name>cmdline: </div> The command line invocation of the "
                "current program</li>\n"
                "<li><div class=profile-name>fd: </div> Live file descriptors by the stack that "
                "created them (with LEAKWATCH_TRACK_FDS=1)</li>\n"
                "<li><div class=profile-name>goroutine: </div> Stack traces of all current "
                "threads (leakwatch: a goroutine is a thread; read without stopping it). Use "
                "debug=2 as a query parameter to export in the same format as an unrecovered "
                "panic.</li>\n"
                "<li><div class=profile-name>heap: </div> A sampling of memory allocations of "
                "live objects. The gc parameter is accepted; a C heap has nothing to collect."
                "</li>\n"
                "<li><div class=profile-name>threadcreate: </div> Stack traces that led to the "
                "creation of the threads still running</li>\n</ul>\n"
                "<p><a href='goroutine?debug=2'>full goroutine stack dump</a></p>\n"
                "<p>Also: <a href='/metrics'>/metrics</a> (Prometheus), "
                "<a href='/debug/vars'>/debug/vars</a> (counters as JSON).</p>\n"
                "</body>\n</html>\n",
                (unsigned long long)s.stacks, (unsigned long long)s.fds_live,
                (unsigned long long)(threads > 0 ? threads : 0), (unsigned long long)s.stacks,
                (unsigned long long)s.threads_live,
                (unsigned long long)s.sampling_rate);
  reply_buffer(x, 200, "text/html; charset=utf-8", NULL, &page);
}

/* ---- dispatch ----------------------------------------------------------------------------- */

static bool path_is(lw_http_slice_t path, const char *text) {
  size_t n = strlen(text);
  return path.len == n && memcmp(path.ptr, text, n) == 0;
}

bool lw__http_handle(lw_connection_t *c) {
  static const lw_http_limits_t limits = {
      .methods = LW_HTTP_GET | LW_HTTP_HEAD | LW_HTTP_POST,
      .max_target = 2048,
      .max_head = 8192,
      .max_fields = 64,
      .max_body = LW_REQUEST_LIMIT - 8192,
  };
  lw_http_request_t r;
  lw_http_result_t result = lw_http_parse_request(c->request, c->request_len, &limits, &r);
  exchange_t x = {c, false};
  if (result == LW_HTTP_INCOMPLETE) {
    if (c->request_len < LW_REQUEST_LIMIT)
      return false;
    result = LW_HTTP_HEADERS_TOO_LARGE;
  }
  if (result != LW_HTTP_OK) {
    int status = lw_http_result_status(result);
    char body[128];
    lw_fmt(body, sizeof body, "%d %s\n", status, lw_http_status_reason(status));
    reply_text(&x, status, result == LW_HTTP_METHOD_NOT_ALLOWED ? "Allow: GET, HEAD\r\n" : NULL,
               body);
    return true;
  }
  size_t body_len = r.has_content_length ? (size_t)r.content_length : 0;
  if (c->request_len < r.head_length + body_len)
    return false; /* the body is still coming (bounded by max_body and the deadline) */
  x.head_only = r.method == LW_HTTP_HEAD;
  bool symbol = path_is(r.path, "/debug/pprof/symbol");
  if (r.method == LW_HTTP_POST && !symbol) {
    reply_text(&x, 405, "Allow: GET, HEAD\r\n", "405 method not allowed\n");
    return true;
  }
  if (path_is(r.path, "/metrics")) {
    lw_buf_t text;
    lw_buf_init(&text, lw__transient_allocator);
    lw__metrics_prometheus(&text);
    reply_buffer(&x, 200, "text/plain; version=0.0.4; charset=utf-8", NULL, &text);
  } else if (path_is(r.path, "/debug/vars")) {
    lw_buf_t json;
    lw_buf_init(&json, lw__transient_allocator);
    lw__metrics_vars(&json);
    reply_buffer(&x, 200, "application/json; charset=utf-8", NULL, &json);
  } else if (path_is(r.path, "/debug/pprof/") || path_is(r.path, "/debug/pprof")) {
    serve_index(&x);
  } else if (path_is(r.path, "/debug/pprof/heap")) {
    serve_heap(&x, &r, false);
  } else if (path_is(r.path, "/debug/pprof/allocs")) {
    serve_heap(&x, &r, true);
  } else if (path_is(r.path, "/debug/pprof/threadcreate")) {
    serve_counts(&x, &r, LW_EXPORT_THREADS);
  } else if (path_is(r.path, "/debug/pprof/goroutine")) {
    serve_goroutine(&x, &r);
  } else if (path_is(r.path, "/debug/pprof/fd")) {
    serve_counts(&x, &r, LW_EXPORT_FDS);
  } else if (path_is(r.path, "/debug/pprof/cmdline")) {
    serve_cmdline(&x);
  } else if (symbol) {
    if (r.method == LW_HTTP_POST)
      serve_symbol(&x, c->request + r.head_length, body_len);
    else
      serve_symbol(&x, r.query.ptr, r.query.len);
  } else if (r.path.len > 13 && memcmp(r.path.ptr, "/debug/pprof/", 13) == 0) {
    pprof_error(&x, 404, "Unknown profile");
  } else {
    reply_text(&x, 404, NULL, "404 page not found\n");
  }
  return true;
}
