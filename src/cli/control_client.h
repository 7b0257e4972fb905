/*
 * control_client.h - the CLI's end of the control socket: finding a process's agent,
 * sending one request, reading the reply, and listing every agent of this user.
 *
 * Errors are one line naming the PID and what is wrong: no such process, a process without
 * the agent, another user's process, an agent that stopped answering.
 */
#ifndef LW_CLI_CONTROL_CLIENT_H
#define LW_CLI_CONTROL_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/* Sends `request` (e.g. "info", "heap-window 10") to the agent of pid and stores the reply
 * body in *body (libc allocator). timeout_ms bounds the whole exchange. Returns 0, or -1
 * with a one-line message in `error`. */
int lw_control_call(int pid, const char *request, lw_buf_t *body, int timeout_ms, char *error,
                    size_t error_size);

/* Calls fn(pid, socket_path) for each live agent of this user, sorted by pid; removes
 * sockets of processes that no longer exist. Returns the number of agents. */
int lw_control_list(void (*fn)(int pid, const char *socket_path, void *context), void *context);

#endif
