/*
 * exporter_loop.h - how the exporter waits: between connections it checks for stop and
 * reload requests, so a stop never cuts a scrape short. One interface, two loops:
 *  - exporter_loop_posix.c: SIGTERM/SIGINT stop, SIGHUP reloads, read from a signalfd
 *    polled beside the listening socket (what systemd sends);
 *  - exporter_loop_windows.c: Ctrl-C / console close stop it in a console; with `service`
 *    it runs under the Service Control Manager, reporting START_PENDING -> RUNNING, and
 *    SERVICE_CONTROL_STOP / SHUTDOWN stop it (STOP_PENDING -> STOPPED) after the scrape in
 *    flight, SERVICE_CONTROL_PARAMCHANGE reloads.
 * cmd_exporter.c owns what is served; this only decides when.
 */
#ifndef LW_CLI_EXPORTER_LOOP_H
#define LW_CLI_EXPORTER_LOOP_H

#include <stdbool.h>

typedef struct lw_exporter_loop {
  int listen_fd;
  void (*serve)(void *context);  /* a client is waiting: answer one connection */
  void (*reload)(void *context); /* re-read the configuration */
  void (*log)(const char *line); /* one event line, for wherever the exporter logs */
  void (*ready)(void *context);  /* stop requests are caught from now on: say it serves */
  void *context;
  bool service;                  /* Windows: run under the Service Control Manager */
  const char *service_name;      /* Windows: the name it was installed under */
} lw_exporter_loop_t;

/* Runs until asked to stop. Returns the exit status (0 after a requested stop). */
int lw_exporter_loop_run(const lw_exporter_loop_t *loop);

/* Copies a log line to the system's log where the platform has one the exporter should use
 * (Windows services: the Application event log); a no-op elsewhere. */
void lw_exporter_loop_syslog(const char *line, bool error);

#endif
