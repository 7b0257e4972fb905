/*
 * exporter_server.h - the exporter's small HTTP/1.x server: listen on an address, accept
 * one connection at a time, parse the request with the bounded parser (http_request.h),
 * call a handler for valid GET/HEAD requests, answer errors (400, 405, 413, 414, 431, 501,
 * 505, 408) itself, and close the connection.
 *
 * One connection at a time is a choice: an exporter is scraped by one or two Prometheus
 * servers every few seconds, and serial handling means a SIGTERM only has to wait for the
 * scrape in flight. Each connection has a deadline, so a slow client cannot hold the
 * server for longer than that.
 */
#ifndef LW_CLI_EXPORTER_SERVER_H
#define LW_CLI_EXPORTER_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/http_request.h"

/* Parses "127.0.0.1:9797", "[::1]:9797", "localhost:9797" or ":9797" (all addresses) and
 * binds and listens. A port of 0 picks a free one. On success returns the listening fd and
 * writes the bound address ("127.0.0.1:40123") into bound; on failure returns a negative
 * errno and writes a one-line reason into bound (e.g. "address already in use"). */
int lw_http_listen(const char *spec, char *bound, size_t bound_size);

typedef struct lw_http_response {
  int status;               /* 200, 404 ... */
  const char *content_type; /* NULL: text/plain; charset=utf-8 */
  const char *allow;        /* for 405 answers: "GET, HEAD" */
  lw_buf_t *body;           /* the handler appends the body here */
} lw_http_response_t;

/* Called for each valid request; fills the response. */
typedef void (*lw_http_handler_t)(void *context, const lw_http_request_t *request,
                                  lw_http_response_t *response);

typedef struct lw_http_server_stats {
  uint64_t requests;
  uint64_t by_status[6]; /* 2xx, 3xx, 4xx, 5xx index 2..5 */
} lw_http_server_stats_t;

/* Accepts and answers one connection (waits for at most timeout_ms for the request).
 * Returns 0 when a connection was handled (whatever its status), -EAGAIN when none was
 * waiting, or another negative errno. */
int lw_http_serve_one(int listen_fd, int timeout_ms, lw_http_handler_t handler, void *context,
                      lw_http_server_stats_t *stats);

#endif
