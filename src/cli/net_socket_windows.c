/*
 * net_socket_windows.c - net_socket.h with Winsock 2: WSAGetLastError codes become errno
 * values, sockets are made non-blocking with ioctlsocket(FIONBIO) and non-inheritable with
 * SetHandleInformation, SO_EXCLUSIVEADDRUSE stands in for Linux's "address in use" rule
 * (Winsock's SO_REUSEADDR would let a second exporter steal the port).
 */
#include "cli/net_socket.h"

#include <windows.h>
#include <errno.h>
#include <stdbool.h>

static int net_errno(int e) {
  switch (e) {
  case WSAEWOULDBLOCK:
  case WSAEINTR:
    return -EAGAIN;
  case WSAEADDRINUSE:
    return -EADDRINUSE;
  case WSAEADDRNOTAVAIL:
    return -EADDRNOTAVAIL;
  case WSAEACCES:
    return -EACCES;
  case WSAECONNRESET:
    return -ECONNRESET;
  case WSAECONNABORTED:
    return -ECONNABORTED;
  case WSAEMFILE:
    return -EMFILE;
  case WSAENOBUFS:
    return -ENOBUFS;
  case WSAEAFNOSUPPORT:
    return -EAFNOSUPPORT;
  default:
    return -EIO;
  }
}

int lw_net_init(void) {
  static bool done;
  if (done)
    return 0;
  WSADATA data;
  int rc = WSAStartup(MAKEWORD(2, 2), &data);
  if (rc != 0)
    return net_errno(rc);
  done = true;
  return 0;
}

static void nonblocking(SOCKET s) {
  u_long on = 1;
  ioctlsocket(s, FIONBIO, &on);
  SetHandleInformation((HANDLE)s, HANDLE_FLAG_INHERIT, 0);
}

int lw_net_listen(const struct addrinfo *ai, int backlog) {
  SOCKET s = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
  if (s == INVALID_SOCKET)
    return net_errno(WSAGetLastError());
  BOOL one = TRUE;
  (void)setsockopt(s, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, (const char *)&one, sizeof one);
  if (bind(s, ai->ai_addr, (int)ai->ai_addrlen) != 0 || listen(s, backlog) != 0) {
    int err = WSAGetLastError();
    closesocket(s);
    return net_errno(err);
  }
  nonblocking(s);
  return (int)s;
}

int lw_net_accept(int listen_fd) {
  SOCKET s = accept((SOCKET)listen_fd, NULL, NULL);
  if (s == INVALID_SOCKET)
    return net_errno(WSAGetLastError());
  nonblocking(s);
  return (int)s;
}

int lw_net_wait(int fd, int events, int timeout_ms) {
  WSAPOLLFD p;
  p.fd = (SOCKET)fd;
  p.events = (SHORT)((events & LW_NET_READ ? POLLRDNORM : 0) | (events & LW_NET_WRITE ? POLLWRNORM : 0));
  p.revents = 0;
  int n = WSAPoll(&p, 1, timeout_ms);
  if (n < 0)
    return net_errno(WSAGetLastError());
  return n > 0;
}

ssize_t lw_net_send(int fd, const void *data, size_t len) {
  int n = send((SOCKET)fd, data, len > 1u << 30 ? 1 << 30 : (int)len, 0);
  return n < 0 ? net_errno(WSAGetLastError()) : n;
}

ssize_t lw_net_recv(int fd, void *data, size_t len) {
  int n = recv((SOCKET)fd, data, len > 1u << 30 ? 1 << 30 : (int)len, 0);
  return n < 0 ? net_errno(WSAGetLastError()) : n;
}

void lw_net_shutdown_write(int fd) { shutdown((SOCKET)fd, SD_SEND); }

void lw_net_close(int fd) { closesocket((SOCKET)fd); }
