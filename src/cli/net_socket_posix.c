/*
 * net_socket_posix.c - net_socket.h with BSD sockets (Linux).
 */
#define _GNU_SOURCE
#include "cli/net_socket.h"

#include <errno.h>
#include <poll.h>
#include <unistd.h>

int lw_net_init(void) { return 0; }

int lw_net_listen(const struct addrinfo *ai, int backlog) {
  int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
  if (fd < 0)
    return -errno;
  int one = 1;
  (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, backlog) != 0) {
    int err = errno;
    close(fd);
    return -err;
  }
  return fd;
}

int lw_net_accept(int listen_fd) {
  int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (fd < 0)
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? -EAGAIN : -errno;
  return fd;
}

int lw_net_wait(int fd, int events, int timeout_ms) {
  struct pollfd p = {fd, (short)((events & LW_NET_READ ? POLLIN : 0) |
                                 (events & LW_NET_WRITE ? POLLOUT : 0)), 0};
  int n = poll(&p, 1, timeout_ms);
  if (n < 0)
    return errno == EINTR ? 0 : -errno;
  return n > 0;
}

ssize_t lw_net_send(int fd, const void *data, size_t len) {
  ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
  if (n < 0)
    return errno == EWOULDBLOCK || errno == EINTR ? -EAGAIN : -errno;
  return n;
}

ssize_t lw_net_recv(int fd, void *data, size_t len) {
  ssize_t n = recv(fd, data, len, 0);
  if (n < 0)
    return errno == EWOULDBLOCK || errno == EINTR ? -EAGAIN : -errno;
  return n;
}

void lw_net_shutdown_write(int fd) { shutdown(fd, SHUT_WR); }

void lw_net_close(int fd) { close(fd); }
