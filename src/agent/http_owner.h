/*
 * http_owner.h - which process of a tree serves LEAKWATCH_HTTP, and who holds its port
 * (http_owner.c), for http_server.c's listener.
 */
#ifndef LW_AGENT_HTTP_OWNER_H
#define LW_AGENT_HTTP_OWNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "agent/agent.h"

/* Whether this program should serve the endpoint: it is the one LEAKWATCH_HTTP_PROGRAM
 * names, or, without it, not a wrapper that only runs another program. name receives this
 * program's name, for messages. */
bool lw__http_program_serves(char *name, size_t name_size);

typedef struct {
  uint64_t inode;   /* the listening socket's */
  unsigned uid;     /* its owner */
  int pid;          /* 0 when no process we may look into has it open */
  bool ancestor;    /* pid is this process's parent, grandparent, ... */
  char name[64];    /* pid's comm */
} lw_port_holder_t;

/* After bind failed with EADDRINUSE: the socket listening on address and, when found, the
 * process holding it. False when no listening socket was found. */
bool lw__http_port_holder(const struct sockaddr_storage *address, lw_port_holder_t *holder);

#endif
