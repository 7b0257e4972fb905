/*
 * win_spawn.h - starting a program on Windows from a POSIX-style argv: the command line is
 * quoted so that the C runtime's parser (CommandLineToArgvW rules) gives the same argv
 * back, argv[0] is searched along PATH with ".exe" appended when missing, extra
 * environment variables are added to a copy of ours, and the child can be created
 * suspended (for injecting the agent before its first instruction).
 */
#ifndef LW_PLATFORM_WINDOWS_WIN_SPAWN_H
#define LW_PLATFORM_WINDOWS_WIN_SPAWN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct lw_win_child {
  void *process; /* HANDLE */
  void *thread;  /* HANDLE of the main thread (suspended when asked) */
  uint32_t pid;
} lw_win_child_t;

/* Returns 0, or a negative errno (-ENOENT: the program does not exist, -ENOEXEC: not a
 * program, -E2BIG: the command line exceeds 32767 characters). env may be NULL. */
int lw_win_spawn(char *const *argv, const char *const *env, bool suspended,
                 lw_win_child_t *child);

/* Appends argument `arg` to `out` (of `size` bytes, NUL-terminated) quoted for the C
 * runtime's parser, preceded by a space unless out is empty. Returns false when it does
 * not fit. Exposed for the unit test of the quoting rules. */
bool lw_win_quote_arg(char *out, size_t size, const char *arg);

#endif
