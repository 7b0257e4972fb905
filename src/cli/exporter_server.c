/*
 * exporter_server.c - listening socket and one-connection-at-a-time HTTP handling for the
 * exporter (see exporter_server.h).
 */
#define _GNU_SOURCE
#include "cli/exporter_server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/net_socket.h"
#include "cli/os_process.h"

static const char *bind_reason(int err) {
  switch (err) {
  case EADDRINUSE:
    return "address already in use";
  case EACCES:
    return "permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)";
  case EADDRNOTAVAIL:
    return "address not available on this machine";
  default:
    return strerror(err);
  }
}

int lw_http_listen(const char *spec, char *bound, size_t bound_size) {
  char host[256];
  const char *port;
  if (spec[0] == '[') {
    const char *close = strchr(spec, ']');
    if (!close || close[1] != ':' || (size_t)(close - spec - 1) >= sizeof host) {
      snprintf(bound, bound_size, "expected [IPv6]:PORT");
      return -EINVAL;
    }
    memcpy(host, spec + 1, (size_t)(close - spec - 1));
    host[close - spec - 1] = '\0';
    port = close + 2;
  } else {
    const char *colon = strrchr(spec, ':');
    if (!colon || (size_t)(colon - spec) >= sizeof host) {
      snprintf(bound, bound_size, "expected HOST:PORT, e.g. 127.0.0.1:9797");
      return -EINVAL;
    }
    memcpy(host, spec, (size_t)(colon - spec));
    host[colon - spec] = '\0';
    port = colon + 1;
  }
  int init = lw_net_init();
  if (init != 0) {
    snprintf(bound, bound_size, "cannot start networking: %s", strerror(-init));
    return init;
  }
  char *end;
  long port_number = strtol(port, &end, 10);
  if (!*port || *end || port_number < 0 || port_number > 65535) {
    snprintf(bound, bound_size, "invalid port '%s' (0 to 65535)", port);
    return -EINVAL;
  }
  struct addrinfo hints, *list = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  int gai = getaddrinfo(host[0] ? host : NULL, port, &hints, &list);
  if (gai != 0) {
    snprintf(bound, bound_size, "cannot resolve '%s': %s", host, gai_strerror(gai));
    return -EINVAL;
  }
  int fd = -1, err = EADDRNOTAVAIL;
  for (struct addrinfo *ai = list; ai && fd < 0; ai = ai->ai_next) {
    fd = lw_net_listen(ai, 64);
    if (fd < 0) {
      err = -fd;
      fd = -1;
    }
  }
  freeaddrinfo(list);
  if (fd < 0) {
    snprintf(bound, bound_size, "%s", bind_reason(err));
    return -err;
  }
  struct sockaddr_storage addr;
  socklen_t len = sizeof addr;
  char text[INET6_ADDRSTRLEN] = "?";
  int actual = 0;
  if (getsockname(fd, (struct sockaddr *)&addr, &len) == 0) {
    if (addr.ss_family == AF_INET6) {
      struct sockaddr_in6 *a = (struct sockaddr_in6 *)&addr;
      inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof text);
      actual = ntohs(a->sin6_port);
      snprintf(bound, bound_size, "[%s]:%d", text, actual);
    } else {
      struct sockaddr_in *a = (struct sockaddr_in *)&addr;
      inet_ntop(AF_INET, &a->sin_addr, text, sizeof text);
      actual = ntohs(a->sin_port);
      snprintf(bound, bound_size, "%s:%d", text, actual);
    }
  }
  return fd;
}

static long long now_ms(void) { return (long long)(lw_os_mono_now() * 1000); }

/* Waits until fd is ready for `events` or the deadline passes; returns 1, 0 or -errno. */
static int wait_ready(int fd, int events, long long deadline) {
  for (;;) {
    long long left = deadline - now_ms();
    if (left <= 0)
      return 0;
    int n = lw_net_wait(fd, events, (int)left);
    if (n != 0)
      return n;
  }
}

static int send_all(int fd, const void *data, size_t len, long long deadline) {
  const char *p = data;
  while (len > 0) {
    ssize_t n = lw_net_send(fd, p, len);
    if (n < 0) {
      if (n != -EAGAIN)
        return (int)n;
      int ready = wait_ready(fd, LW_NET_WRITE, deadline);
      if (ready <= 0)
        return ready < 0 ? ready : -ETIMEDOUT;
      continue;
    }
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

static void respond(int fd, const lw_http_response_t *r, bool head, long long deadline,
                    lw_http_server_stats_t *stats) {
  char header[512];
  const lw_buf_t *body = r->body;
  int n = snprintf(header, sizeof header,
                   "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                   "Connection: close\r\n%s%s%s\r\n",
                   r->status, lw_http_status_reason(r->status),
                   r->content_type ? r->content_type : "text/plain; charset=utf-8",
                   body ? body->len : 0, r->allow ? "Allow: " : "", r->allow ? r->allow : "",
                   r->allow ? "\r\n" : "");
  if (stats) {
    stats->requests++;
    int cls = r->status / 100;
    if (cls >= 2 && cls <= 5)
      stats->by_status[cls]++;
  }
  if (n < 0 || (size_t)n >= sizeof header)
    return;
  if (send_all(fd, header, (size_t)n, deadline) != 0)
    return;
  if (!head && body && body->len)
    (void)send_all(fd, body->data, body->len, deadline);
}

static void respond_error(int fd, int status, long long deadline, lw_http_server_stats_t *stats) {
  lw_buf_t body;
  lw_buf_init(&body, &lw_libc_allocator);
  lw_buf_printf(&body, "%d %s\n", status, lw_http_status_reason(status));
  lw_http_response_t r = {status, NULL, status == 405 ? "GET, HEAD" : NULL, &body};
  respond(fd, &r, false, deadline, stats);
  lw_buf_free(&body);
}

/* Closes a connection without losing the answer: closing a socket that still has unread
 * input makes the kernel send a reset, which can destroy the response before the client
 * reads it (an error is often answered before the whole request arrived). So: send FIN,
 * read and drop what the client still sends for a short while, then close (Apache's
 * "lingering close"). */
static void close_gently(int fd) {
  lw_net_shutdown_write(fd);
  long long deadline = now_ms() + 200;
  char sink[4096];
  size_t drained = 0;
  while (drained < (1 << 20)) {
    ssize_t n = lw_net_recv(fd, sink, sizeof sink);
    if (n > 0) {
      drained += (size_t)n;
      continue;
    }
    if (n == -EAGAIN && wait_ready(fd, LW_NET_READ, deadline) > 0)
      continue;
    break; /* EOF, error, or the client keeps its end open: give up */
  }
  lw_net_close(fd);
}

int lw_http_serve_one(int listen_fd, int timeout_ms, lw_http_handler_t handler, void *context,
                      lw_http_server_stats_t *stats) {
  int fd = lw_net_accept(listen_fd);
  if (fd < 0)
    return fd;
  long long deadline = now_ms() + timeout_ms;
  lw_http_limits_t limits = lw_http_default_limits();
  char buffer[9216]; /* the head limit (8 KiB) and some room to see that it is exceeded */
  size_t len = 0;
  lw_http_request_t request;
  lw_http_result_t result = LW_HTTP_INCOMPLETE;
  while (result == LW_HTTP_INCOMPLETE) {
    ssize_t n = lw_net_recv(fd, buffer + len, sizeof buffer - len);
    if (n > 0) {
      len += (size_t)n;
      result = lw_http_parse_request(buffer, len, &limits, &request);
      continue;
    }
    if (n == 0 || n != -EAGAIN) { /* the client went away, or an error: nothing to answer */
      lw_net_close(fd);
      return 0;
    }
    int ready = wait_ready(fd, LW_NET_READ, deadline);
    if (ready <= 0) {
      respond_error(fd, 408, now_ms() + 1000, stats);
      close_gently(fd);
      return 0;
    }
  }
  if (result != LW_HTTP_OK) {
    respond_error(fd, lw_http_result_status(result), deadline + 1000, stats);
    close_gently(fd);
    return 0;
  }
  lw_buf_t body;
  lw_buf_init(&body, &lw_libc_allocator);
  lw_http_response_t response = {200, NULL, NULL, &body};
  handler(context, &request, &response);
  if (lw_buf_failed(&body))
    respond_error(fd, 500, deadline + 1000, stats);
  else
    respond(fd, &response, request.method == LW_HTTP_HEAD, deadline + 1000, stats);
  lw_buf_free(&body);
  close_gently(fd);
  return 0;
}
