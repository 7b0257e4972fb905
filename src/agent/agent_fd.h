/*
 * agent_fd.h - the descriptors the agent keeps open (listening sockets, client connections,
 * the agent thread's wake-up pipe), kept out of the host program's way (agent_fd.c).
 *
 * The numbers belong to the program: it may close them (a daemon closing 0..1023), put its
 * own files there (`exec 4>x.log`, dup2) or expect them free (its first open() returns 3).
 * So each one is moved high at once, and checked before every use: a descriptor the
 * program closed or replaced is abandoned, never read, written or closed by the agent again.
 */
#ifndef LW_AGENT_AGENT_FD_H
#define LW_AGENT_AGENT_FD_H

#include <stdbool.h>
#include <sys/types.h>

typedef struct lw_agent_fd {
  int fd; /* -1: none (never opened, closed, or abandoned) */
  dev_t dev;
  ino_t ino;
  mode_t type; /* st_mode & S_IFMT */
} lw_agent_fd_t;

#define LW_AGENT_FD_NONE ((lw_agent_fd_t){.fd = -1})

/* A descriptor the program took is replaced no sooner than this: a program that closes
 * every descriptor (a daemon closing 0..1023) opens its own right after, and new ones of
 * the agent's made meanwhile would take the low numbers it expects for a moment. */
#define LW_AGENT_FD_REOPEN_GRACE_MS 1000

/* Moves a descriptor the agent has just created to a high number (close-on-exec) and
 * closes the low one; returns the new number, or fd itself when none is free up there (or
 * fd < 0). Called right after socket()/pipe2(), before anything slow, so the low number is
 * the agent's for as short a time as possible. */
int lw__agent_fd_raise(int fd);
/* Takes a descriptor the agent has just created: moves it to a high number (close-on-exec,
 * the low one closed) and remembers what it is. False (and fd closed) if it cannot be
 * identified; when no high number is free it stays where it is, still checked. */
bool lw__agent_fd_adopt(lw_agent_fd_t *out, int fd);
/* True when a->fd is still the descriptor the agent adopted. Otherwise the program closed
 * or replaced it: a->fd becomes -1 and the number is left alone. */
bool lw__agent_fd_check(lw_agent_fd_t *a);
/* Closes it if it is still the agent's (else only forgets it); a->fd becomes -1. */
void lw__agent_fd_close(lw_agent_fd_t *a);

#endif
