/*
 * connection.h - one client connection of the agent thread (agent_thread.c), shared with
 * the protocol handlers (control_server.c, http_server.c).
 *
 * A connection reads one request into a fixed buffer, then either gets its reply at once or
 * waits (a profile over a window of N seconds) and is resumed by the event loop; the reply
 * is written without blocking and the connection closed. Every state has a deadline, so a
 * slow or silent client holds one slot for a bounded time and never the others. Control
 * and HTTP clients have slots of their own, so the HTTP port (open to every local user)
 * can never take the owner's control socket's slots.
 */
#ifndef LW_AGENT_CONNECTION_H
#define LW_AGENT_CONNECTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/agent.h"
#include "agent/agent_fd.h"
#include "common/buf.h"

/* A request (HTTP head and body, or a control line) fits in this. 64 KiB lets pprof POST a
 * few thousand addresses to /debug/pprof/symbol. */
enum { LW_REQUEST_LIMIT = 65536 };

typedef enum { LW_PROTOCOL_CONTROL, LW_PROTOCOL_HTTP } lw_protocol_t;
typedef enum { LW_CONN_FREE, LW_CONN_READING, LW_CONN_WAITING, LW_CONN_WRITING } lw_conn_state_t;

typedef struct lw_connection lw_connection_t;
typedef void (*lw_resume_fn)(lw_connection_t *connection);

struct lw_connection {
  lw_agent_fd_t sock;   /* checked before every read and write (agent_fd.h) */
  uint32_t generation;  /* tells a reused slot from the connection it held before */
  lw_protocol_t protocol;
  lw_conn_state_t state;
  uint64_t deadline_ms; /* reading/writing: give up; waiting: resume */
  uint64_t waiting_since_ms; /* the oldest waiting one is dropped for a new one past the cap */
  char request[LW_REQUEST_LIMIT + 1];
  size_t request_len;
  lw_buf_t reply;       /* lw__output_allocator */
  size_t reply_sent;
  lw_resume_fn resume;
  /* State of a window being waited for. */
  lw_stack_counters_t *snapshot;
  uint32_t snapshot_count;
  uint64_t window_start_ms;
  uint64_t window_seconds;
  int window_kind;      /* handler-specific */
};

/* Handlers: called when request bytes arrived. They return false to wait for more bytes;
 * otherwise they have filled connection->reply (or called lw__connection_wait). */
bool lw__control_handle(lw_connection_t *connection);
bool lw__http_handle(lw_connection_t *connection);

/* Parks the connection until `seconds` from now, then calls resume (which fills the
 * reply). Only so many connections of a protocol wait at once: past that, the one that has
 * waited longest gets an error reply now. A waiting client that hangs up is dropped. */
void lw__connection_wait(lw_connection_t *connection, uint64_t seconds, lw_resume_fn resume);

/* The control socket's path for this process (empty when there is none). */
const char *lw__control_socket_path(void);
/* The HTTP listener's address as "host:port" (empty when there is none). */
const char *lw__http_address(void);

#endif
