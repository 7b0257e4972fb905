/*
 * control_protocol.h - the control socket's wire protocol, version 1 (docs/CONTROL.md), and
 * where the sockets live. The agent parses requests with it, the CLI parses replies; both
 * sides compute socket paths the same way. Pure functions, no allocation: safe in the agent
 * and fuzzed (tests/fuzz).
 *
 *   request:  "LEAKWATCH/1 <command>[ <argument>]\n"            (at most 256 bytes)
 *   reply:    "LEAKWATCH/1 OK <content-type> <length>\n" + <length> bytes of body
 *          or "LEAKWATCH/1 ERROR <message>\n"
 */
#ifndef LW_COMMON_CONTROL_PROTOCOL_H
#define LW_COMMON_CONTROL_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LW_CONTROL_VERSION 1
#define LW_CONTROL_MAGIC "LEAKWATCH/1"
#define LW_CONTROL_MAX_REQUEST 256
#define LW_CONTROL_MAX_HEADER 512
/* What the agent answers a connection from another user before closing it. */
#define LW_CONTROL_REFUSAL LW_CONTROL_MAGIC " ERROR permission denied (the agent belongs to another user)\n"

typedef enum {
  LW_CONTROL_INFO,        /* JSON: pid, command line, uptime, rate, HTTP address */
  LW_CONTROL_STATS,       /* JSON: lw_stats fields, allocator figures */
  LW_CONTROL_HEAP,        /* gzipped pprof heap profile */
  LW_CONTROL_HEAP_WINDOW, /* argument seconds: allocations of the window still live at its end */
  LW_CONTROL_TRIM,        /* JSON: malloc_trim, RSS before and after */
  LW_CONTROL_HISTORY,     /* text: per-site live-bytes history; argument: "old" age in seconds */
  LW_CONTROL_FDS,         /* gzipped pprof: live file descriptors by creating stack */
  LW_CONTROL_THREADS,     /* gzipped pprof: live threads by creating stack (threadcreate) */
  LW_CONTROL_ALLOCATOR,   /* JSON: the allocator behind the agent, its own figures, soft limit */
} lw_control_command_t;

typedef struct lw_control_request {
  lw_control_command_t command;
  uint64_t argument; /* 0 when absent */
} lw_control_request_t;

/* Parses one request line (without or with its '\n'). Returns 0, or -1 with a one-line
 * reason in `error` (e.g. "unknown command 'x'", "unsupported protocol 'LEAKWATCH/2'"). */
int lw_control_parse_request(const char *line, size_t len, lw_control_request_t *out,
                             char *error, size_t error_size);
const char *lw_control_command_name(lw_control_command_t command);

typedef struct lw_control_reply {
  bool ok;
  char content_type[64];
  uint64_t length;     /* body bytes that follow (ok only) */
  char message[256];   /* the error text (not ok) */
} lw_control_reply_t;

/* Parses a reply header line. Returns 0 (ok or error reply), or -1 if the line is not a
 * reply of this protocol. */
int lw_control_parse_reply(const char *line, size_t len, lw_control_reply_t *out);

/* The directories sockets live in, in the order the CLI searches them:
 * "$XDG_RUNTIME_DIR/leakwatch" (when xdg_runtime_dir is set and absolute), then
 * "/tmp/leakwatch-<uid>". The agent uses the first. Returns how many were written (1-2). */
int lw_control_dirs(const char *xdg_runtime_dir, unsigned uid, char dirs[2][256]);

#endif
