/*
 * net_socket.h - the socket calls the exporter's HTTP server makes, with errors as
 * negative errno values on both systems: BSD sockets on Linux (net_socket_posix.c), Winsock
 * on Windows (net_socket_windows.c, where a SOCKET is carried in an int: Windows hands out
 * small handle values, and the exporter holds a handful at a time).
 *
 * Every socket returned is non-blocking and not inherited by child processes.
 */
#ifndef LW_CLI_NET_SOCKET_H
#define LW_CLI_NET_SOCKET_H

#include <stddef.h>
#include <sys/types.h>

#ifdef _WIN32
#include <winsock2.h>
#include <ws2tcpip.h>
#else
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#endif

enum { LW_NET_READ = 1, LW_NET_WRITE = 2 };

/* Once per process before any other call (Winsock's WSAStartup); 0 or a negative errno. */
int lw_net_init(void);
/* A bound, listening socket for one getaddrinfo result; fd or a negative errno. */
int lw_net_listen(const struct addrinfo *ai, int backlog);
/* Accepts one connection; fd, -EAGAIN when none is waiting, or a negative errno. */
int lw_net_accept(int listen_fd);
/* Waits up to timeout_ms (-1: forever) for `events` (LW_NET_READ/WRITE); 1 ready, 0 timed
 * out, or a negative errno. */
int lw_net_wait(int fd, int events, int timeout_ms);
/* send/recv: byte count, or a negative errno (-EAGAIN when it would block). send never
 * raises SIGPIPE. */
ssize_t lw_net_send(int fd, const void *data, size_t len);
ssize_t lw_net_recv(int fd, void *data, size_t len);
/* Half-closes the sending side (FIN). */
void lw_net_shutdown_write(int fd);
void lw_net_close(int fd);

#endif
