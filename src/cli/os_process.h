/*
 * os_process.h - what the outside-watching commands need from the operating system besides
 * the counters: starting a command or a shell hook, waiting for it, stopping on Ctrl-C or a
 * termination request, sleeping until the next sample, the clocks. One interface, two
 * implementations: os_process_posix.c (fork/exec, signals) and os_process_windows.c
 * (CreateProcess, console control handlers), so cmd_watch.c is one file for both.
 *
 * Process ids are ints on both systems (Windows PIDs are DWORDs below 2^31 in practice).
 */
#ifndef LW_CLI_OS_PROCESS_H
#define LW_CLI_OS_PROCESS_H

#include <signal.h>
#include <stdbool.h>

/* How a child ended. */
typedef struct lw_os_exit {
  bool signaled;   /* killed by a signal (POSIX); Windows exit codes are always "exited" */
  int exit_status; /* exit status (Windows: the full exit code, e.g. 0xC0000005 as unsigned) */
  int signal;      /* with signaled */
} lw_os_exit_t;

/* Starts argv (argv[0] searched in PATH) as a child. Returns its pid, or a negative errno
 * (-ENOENT when the command does not exist). */
int lw_os_spawn(char **argv);
/* Starts `command` through the system shell (/bin/sh -c, or cmd.exe /c) asynchronously,
 * stdin from the null device, with `env` ("NAME=value" strings, NULL-terminated) added to
 * the environment. Returns its pid or a negative errno. */
int lw_os_spawn_shell(const char *command, const char *const *env);
/* Waits for child pid (started above). Returns 1 when it has ended (*out filled), 0 when it
 * still runs (only with block = false), or a negative errno (-ECHILD: not ours / reaped). */
int lw_os_wait(int pid, bool block, lw_os_exit_t *out);
/* Asks a child to stop: SIGINT with interrupt, else SIGTERM (Windows: terminates it). */
void lw_os_terminate(int pid, bool interrupt);

/* From now on Ctrl-C, termination requests and hangups set *flag to a nonzero reason (the
 * signal number) and interrupt lw_os_sleep_until; a closed pipe does not kill us. */
void lw_os_catch_stop(volatile sig_atomic_t *flag);
/* Sleeps until the monotonic clock reads `until` seconds, or until *stop becomes nonzero. */
void lw_os_sleep_until(double until, volatile sig_atomic_t *stop);
/* Monotonic and wall-clock seconds (wall: since the Unix epoch). */
double lw_os_mono_now(void);
double lw_os_wall_now(void);
/* Raises the limit on open descriptors to the hard limit, where there is one. */
void lw_os_raise_fd_limit(void);
/* "Terminated", "Interrupt" ... for a signal number. */
const char *lw_os_signal_text(int signal);
/* True when standard output is a terminal (the live table). */
bool lw_os_stdout_is_terminal(void);

#endif
