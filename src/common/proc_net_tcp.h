/*
 * proc_net_tcp.h - one line of /proc/net/tcp{,6}: a listening socket's owner and inode
 * (proc_net_tcp.c).
 */
#ifndef LW_COMMON_PROC_NET_TCP_H
#define LW_COMMON_PROC_NET_TCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Whether [line, end) describes a socket in the LISTEN state on `port` whose local address
 * is `address` (the hex text the kernel prints, address_len characters) or the wildcard
 * (all zeros). If so, sets *inode (never 0) and *uid. Reads nothing outside [line, end). */
bool lw_proc_net_tcp_listener(const char *line, const char *end, unsigned port,
                              const char *address, size_t address_len, uint64_t *inode,
                              unsigned *uid);

#endif
