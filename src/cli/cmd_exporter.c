/*
 * cmd_exporter.c - `leakwatch exporter`: a daemon serving Prometheus metrics for the
 * processes it is told to watch (--pid, --name/--cmdline patterns, or a config file).
 *
 * Behaviour a service manager relies on (contrib/leakwatch-exporter.service):
 *  - binds 127.0.0.1:9797 unless told otherwise (--listen or `listen` in the config);
 *  - SIGTERM/SIGINT: stops after answering the request in flight, exit status 0;
 *  - SIGHUP: re-reads the config file; a broken file is reported and the previous
 *    configuration stays (leakwatch_exporter_config_last_reload_successful says so);
 *  - logs one line per event on stderr (the journal), never per request.
 * On Windows the same runs in a console or, with --service, under the Service Control
 * Manager (exporter_loop_windows.c; `leakwatch service install` registers it).
 * Metrics are collected when scraped, as Prometheus exporters do: no background sampling.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/exporter_config.h"
#include "cli/exporter_loop.h"
#include "cli/exporter_metrics.h"
#include "cli/exporter_server.h"
#include "cli/net_socket.h"
#include "cli/os_process.h"
#include "cli/output.h"
#include "cli/proc_discovery.h"
#include "cli/watch_sample.h"
#include "common/file.h"
#include "common/prom.h"

#define DEFAULT_LISTEN "127.0.0.1:9797"
#define REQUEST_TIMEOUT_MS 10000

static const lw_cli_option_t options[] = {
    {"listen", 'l', "ADDR:PORT", "where to serve (default " DEFAULT_LISTEN "; ':9797' = all "
                                 "addresses; port 0 picks a free one)"},
    {"pid", 'p', "PID", "export this process (repeatable)"},
    {"name", 'n', "REGEX", "export processes whose name matches (repeatable)"},
    {"cmdline", 0, "REGEX", "export processes whose command line matches (repeatable)"},
    {"config", 'c', "FILE", "read settings from FILE (re-read on SIGHUP; see docs/WATCH.md)"},
    {"no-fd-types", 0, NULL, "count descriptors without telling their types (cheaper)"},
    {"no-smaps", 0, NULL, "skip smaps_rollup (no PSS/USS)"},
#ifdef _WIN32
    {"service", 0, NULL, "run under the Service Control Manager (as `leakwatch service install` "
                         "registers it)"},
    {"service-name", 0, "NAME", "with --service: the name it is installed under (default "
                                "leakwatch-exporter)"},
    {"log", 0, "FILE", "append log lines to FILE instead of stderr (services have no console)"},
#endif
    {NULL, 0, NULL, NULL},
};

static const lw_cli_spec_t spec = {
    "exporter",
    "leakwatch exporter [--listen ADDR:PORT] [--pid PID]... [--name REGEX]... [--config FILE]",
    "Serve Prometheus metrics at /metrics for the chosen processes: memory (RSS, PSS, USS,\n"
    "swap, virtual, data, peak), descriptors by type, threads, faults, CPU, I/O and the\n"
    "memory cgroup, as process_* metrics labelled with pid and comm, plus leakwatch_exporter_*\n"
    "about itself. Runs until SIGTERM; SIGHUP re-reads --config.",
    options,
    "Examples:\n"
    "  leakwatch exporter --pid 1234\n"
    "  leakwatch exporter --listen 127.0.0.1:9797 --name '^(nginx|postgres)$'\n"
    "  leakwatch exporter --config /etc/leakwatch/exporter.conf\n"
    "Alert rules for these metrics: leakwatch rules --prometheus FILE.",
};

typedef struct target {
  lw_watch_target_t t;
  bool by_pid;       /* named by pid (config or command line) */
  bool logged_denied;
} target_t;

static struct {
  lw_exporter_config_t cli, active;
  const char *config_path;
  regex_t regex[LW_EXPORTER_MAX_PATTERNS];
  size_t n_regex;
  target_t *targets;
  size_t n_targets, cap_targets;
  lw_watch_sampler_t sampler;
  lw_watch_sample_t *samples;
  lw_exporter_stats_t stats;
  lw_http_server_stats_t http;
  char bound[300]; /* the address served, for the log */
} x;

static void log_text(const char *line) {
  FILE *out = lw_cli_diagnostics();
  fprintf(out, "leakwatch exporter: %s\n", line);
  fflush(out);
  lw_exporter_loop_syslog(line, false);
}

static void log_line(const char *format, ...) __attribute__((format(printf, 1, 2)));
static void log_line(const char *format, ...) {
  char line[1024];
  va_list args;
  va_start(args, format);
  vsnprintf(line, sizeof line, format, args);
  va_end(args);
  log_text(line);
}

static double wall_now(void) { return lw_os_wall_now(); }
static double mono_now(void) { return lw_os_mono_now(); }

static target_t *find_target(int pid) {
  for (size_t i = 0; i < x.n_targets; i++)
    if (x.targets[i].t.pid == pid)
      return &x.targets[i];
  return NULL;
}

static int add_target(int pid, bool by_pid) {
  target_t *have = find_target(pid);
  if (have) {
    have->by_pid |= by_pid;
    return 0;
  }
  if (x.n_targets == x.cap_targets) {
    size_t cap = x.cap_targets ? x.cap_targets * 2 : 16;
    target_t *grown = realloc(x.targets, cap * sizeof *grown);
    lw_watch_sample_t *samples = realloc(x.samples, cap * sizeof *samples);
    if (grown)
      x.targets = grown;
    if (samples)
      x.samples = samples;
    if (!grown || !samples)
      return -ENOMEM;
    x.cap_targets = cap;
  }
  target_t *t = &x.targets[x.n_targets];
  memset(t, 0, sizeof *t);
  int rc = lw_watch_target_open(&x.sampler, &t->t, pid);
  if (rc != 0)
    return rc;
  t->by_pid = by_pid;
  x.n_targets++;
  return 0;
}

static void remove_target(size_t i) {
  lw_watch_target_close(&x.targets[i].t);
  x.targets[i] = x.targets[--x.n_targets];
}

/* Makes `config` the active one: patterns compiled, sampler options, pid targets.
 * strict: a listed pid that does not exist is an error (start-up), else a warning. */
static int apply(const lw_exporter_config_t *config, bool strict) {
  regex_t compiled[LW_EXPORTER_MAX_PATTERNS];
  for (size_t i = 0; i < config->n_patterns; i++)
    if (regcomp(&compiled[i], config->patterns[i].regex, REG_EXTENDED | REG_NOSUB) != 0) {
      for (size_t j = 0; j < i; j++) /* validated when parsed; cannot happen */
        regfree(&compiled[j]);
      return -EINVAL;
    }
  for (size_t i = 0; i < x.n_regex; i++)
    regfree(&x.regex[i]);
  memcpy(x.regex, compiled, config->n_patterns * sizeof compiled[0]);
  x.n_regex = config->n_patterns;
  x.sampler.fd_types = config->fd_types != 0;
  x.sampler.smaps = config->smaps != 0;
  /* Pid targets no longer listed go; pattern matches are found again at the next scrape. */
  for (size_t i = x.n_targets; i-- > 0;)
    remove_target(i);
  for (size_t i = 0; i < config->n_pids; i++) {
    int rc = add_target(config->pids[i], true);
    if (rc == 0)
      continue;
    if (strict) {
      if (rc == -ENOENT)
        lw_cli_error("pid %d: no such process", config->pids[i]);
      else
        lw_cli_error("pid %d: %s", config->pids[i], strerror(-rc));
      return rc;
    }
    log_line("pid %d: %s; not exported", config->pids[i],
             rc == -ENOENT ? "no such process" : strerror(-rc));
  }
  x.active = *config;
  return 0;
}

/* Command-line settings, then the config file's. Returns 0 or -1 (message in err). */
static int load(lw_exporter_config_t *out, char *err, size_t err_size) {
  *out = x.cli;
  if (!x.config_path)
    return 0;
  lw_buf_t text;
  lw_buf_init(&text, &lw_libc_allocator);
  int rc = lw_read_file(x.config_path, &text, 1 << 20);
  if (rc != 0) {
    snprintf(err, err_size, "%s: %s", x.config_path, strerror(-rc));
    lw_buf_free(&text);
    return -1;
  }
  char why[400];
  rc = lw_exporter_config_parse((const char *)text.data, text.len, out, why, sizeof why);
  lw_buf_free(&text);
  if (rc != 0) {
    snprintf(err, err_size, "%s: %s", x.config_path, why);
    return -1;
  }
  if (x.cli.listen[0]) /* the command line wins */
    snprintf(out->listen, sizeof out->listen, "%s", x.cli.listen);
  if (x.cli.fd_types >= 0)
    out->fd_types = x.cli.fd_types;
  if (x.cli.smaps >= 0)
    out->smaps = x.cli.smaps;
  return 0;
}

static void reload(void) {
  lw_exporter_config_t *next = malloc(sizeof *next);
  char err[600];
  if (!next) {
    x.stats.reloads_failed++;
    x.stats.last_reload_ok = 0;
    log_line("reload failed: out of memory");
    return;
  }
  if (load(next, err, sizeof err) != 0) {
    x.stats.reloads_failed++;
    x.stats.last_reload_ok = 0;
    log_line("reload failed: %s; keeping the previous configuration", err);
    free(next);
    return;
  }
  if (strcmp(next->listen[0] ? next->listen : DEFAULT_LISTEN,
             x.active.listen[0] ? x.active.listen : DEFAULT_LISTEN) != 0)
    log_line("listen address changes need a restart; still serving on the old one");
  apply(next, false);
  x.stats.reloads_ok++;
  x.stats.last_reload_ok = 1;
  log_line("reloaded %s: %zu pids, %zu patterns", x.config_path ? x.config_path : "(no file)",
           x.active.n_pids, x.active.n_patterns);
  free(next);
}

/* Samples every target (after adding new pattern matches) into x.samples. */
static size_t collect(void) {
  lw_watch_sampler_begin(&x.sampler);
  for (size_t r = 0; r < x.n_regex; r++) {
    static int found[4096];
    int n = lw_proc_find(&x.regex[r], x.active.patterns[r].full, found, 4096);
    for (int i = 0; i < n; i++)
      if (!find_target(found[i]) && add_target(found[i], false) == -ENOMEM)
        log_line("out of memory adding pid %d", found[i]);
  }
  size_t n = 0;
  x.stats.partial_processes = 0;
  for (size_t i = 0; i < x.n_targets;) {
    target_t *t = &x.targets[i];
    unsigned denied = 0;
    int rc = lw_watch_sample(&x.sampler, &t->t, NULL, &x.samples[n], &denied);
    if (rc != 0) {
      if (t->by_pid)
        log_line("pid %d exited; no longer exported", t->t.pid);
      x.stats.exited_processes++;
      remove_target(i);
      continue;
    }
    if (denied) {
      x.stats.partial_processes++;
      if (!t->logged_denied) {
        char what[256], where[128];
        lw_watch_denied_text(denied, what, sizeof what);
        lw_watch_denied_where(&t->t, where, sizeof where);
        log_line("pid %d (%s): permission denied reading %s of %s; those metrics are "
                 "not exported (%s)",
                 t->t.pid, x.samples[n].comm, what, where, lw_watch_denied_fix);
        t->logged_denied = true;
      }
    }
    n++;
    i++;
  }
  return n;
}

static void handle(void *context, const lw_http_request_t *request,
                   lw_http_response_t *response) {
  (void)context;
  lw_http_slice_t path = request->path;
  if (path.len == 8 && memcmp(path.ptr, "/metrics", 8) == 0) {
    double start = mono_now();
    size_t n = collect();
    x.stats.scrapes++;
    x.stats.last_collect_seconds = mono_now() - start;
    int rc = lw_exporter_render(response->body, x.samples, n, &x.stats, LW_VERSION);
    if (rc != 0) {
      log_line("cannot render metrics: %s", strerror(-rc));
      lw_buf_reset(response->body);
      response->status = 500;
      lw_buf_append_str(response->body, "metrics could not be rendered\n");
      return;
    }
    response->content_type = LW_PROM_CONTENT_TYPE;
  } else if (path.len == 1 && path.ptr[0] == '/') {
    response->content_type = "text/html; charset=utf-8";
    lw_buf_append_str(response->body,
                      "<html><head><title>leakwatch exporter</title></head><body>"
                      "<h1>leakwatch exporter</h1><p><a href=\"/metrics\">Metrics</a></p>"
                      "</body></html>\n");
  } else if (path.len == 10 && memcmp(path.ptr, "/-/healthy", 10) == 0) {
    lw_buf_append_str(response->body, "OK\n");
  } else {
    response->status = 404;
    lw_buf_append_str(response->body, "404 Not Found: metrics are at /metrics\n");
  }
}

static void free_all(void) {
  for (size_t i = 0; i < x.n_targets; i++)
    lw_watch_target_close(&x.targets[i].t);
  for (size_t i = 0; i < x.n_regex; i++)
    regfree(&x.regex[i]);
  free(x.targets);
  free(x.samples);
}

static void ready_callback(void *context) {
  (void)context;
  log_line("listening on http://%s/metrics (%zu pids, %zu patterns)", x.bound, x.active.n_pids,
           x.active.n_patterns);
}

static void reload_callback(void *context) {
  (void)context;
  reload();
}

/* One waiting client; the errors worth a line are logged, running out of descriptors
 * pauses briefly instead of spinning. */
static void serve_callback(void *context) {
  int listen_fd = *(const int *)context;
  int rc = lw_http_serve_one(listen_fd, REQUEST_TIMEOUT_MS, handle, NULL, &x.http);
  if (rc != 0 && rc != -EAGAIN && rc != -ECONNABORTED && rc != -EMFILE && rc != -ENFILE)
    log_line("accept: %s", strerror(-rc));
  if (rc == -EMFILE || rc == -ENFILE) {
    volatile sig_atomic_t never = 0;
    lw_os_sleep_until(lw_os_mono_now() + 0.1, &never);
  }
}

int lw_cmd_exporter(int argc, char **argv) {
  memset(&x, 0, sizeof x);
  lw_exporter_config_init(&x.cli);
  lw_cli_parser_t parser;
  lw_cli_parser_init(&parser, &spec, argc, argv, false);
  const char *value;
  int opt, rc = 0;
  char err[600];
  lw_exporter_loop_t loop = {0};
  loop.service_name = "leakwatch-exporter";
  const char *log_path = NULL;
  while (rc == 0 && (opt = lw_cli_next(&parser, &value)) != LW_CLI_END) {
    const char *name = options[opt].long_name;
    if (strcmp(name, "service") == 0)
      loop.service = true;
    else if (strcmp(name, "service-name") == 0)
      loop.service_name = value;
    else if (strcmp(name, "log") == 0)
      log_path = value;
    if (strcmp(name, "listen") == 0) {
      snprintf(x.cli.listen, sizeof x.cli.listen, "%s", value);
    } else if (strcmp(name, "pid") == 0) {
      if (lw_exporter_config_add_pid(&x.cli, value, err, sizeof err) != 0)
        rc = lw_cli_usage_error(&spec, "--pid: %s", err);
    } else if (strcmp(name, "name") == 0 || strcmp(name, "cmdline") == 0) {
      if (lw_exporter_config_add_pattern(&x.cli, value, name[0] == 'c', err, sizeof err) != 0)
        rc = lw_cli_usage_error(&spec, "--%s: %s", name, err);
    } else if (strcmp(name, "config") == 0) {
      x.config_path = value;
    } else if (strcmp(name, "no-fd-types") == 0) {
      x.cli.fd_types = 0;
    } else if (strcmp(name, "no-smaps") == 0) {
      x.cli.smaps = 0;
    }
  }
  int extra = parser.n_positionals;
  lw_cli_parser_free(&parser);
  if (rc != 0)
    return rc;
  if (extra)
    return lw_cli_usage_error(&spec, "unexpected argument; use --pid PID");
  /* A service has no console (and no usable stderr stream): its lines go to the log file
   * (and the event log, exporter_loop_windows.c). */
  FILE *log_file = NULL;
  if (log_path) {
    /* Appended to, like the agent's LEAKWATCH_LOG: private when created, and never through
     * a symlink planted at the name or into a FIFO or device (refused, one line). */
    if (lw_output_check_path(log_path, "log") != 0)
      return LW_EXIT_FAILURE;
    int fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
                  LW_OUTPUT_FILE_MODE);
    log_file = fd >= 0 ? fdopen(fd, "a") : NULL;
    if (!log_file) {
      lw_cli_error("cannot write log '%s': %s", log_path, strerror(errno));
      if (fd >= 0)
        close(fd);
      return LW_EXIT_FAILURE;
    }
    lw_cli_set_diagnostics(log_file);
  }

  lw_exporter_config_t *config = malloc(sizeof *config);
  if (!config) {
    lw_cli_error("out of memory");
    return LW_EXIT_FAILURE;
  }
  if (load(config, err, sizeof err) != 0) {
    lw_cli_error("%s", err);
    free(config);
    return LW_EXIT_USAGE;
  }
  if (config->n_pids == 0 && config->n_patterns == 0) {
    free(config);
    return lw_cli_usage_error(&spec, "nothing to export: give --pid, --name, --cmdline or "
                                     "--config with pid/name/cmdline lines");
  }
  if ((rc = lw_watch_sampler_init(&x.sampler, true, true)) != 0) {
    lw_cli_error("/proc: %s", strerror(-rc));
    free(config);
    return LW_EXIT_FAILURE;
  }
  x.sampler.smaps_every = 1; /* scrapes are seconds apart: read PSS/USS fresh each time */
  lw_os_raise_fd_limit();
  if (apply(config, true) != 0) {
    free(config);
    free_all();
    return LW_EXIT_FAILURE;
  }
  free(config);
  x.stats.start_time_unix = wall_now();
  x.stats.last_reload_ok = 1;
  x.stats.http = &x.http;

  const char *listen_spec = x.active.listen[0] ? x.active.listen : DEFAULT_LISTEN;
  char bound[300];
  int listen_fd = lw_http_listen(listen_spec, bound, sizeof bound);
  if (listen_fd < 0) {
    lw_cli_error("%s: %s", listen_spec, bound);
    free_all();
    return LW_EXIT_FAILURE;
  }
  /* Stop and reload requests are taken between connections, never in the middle of one:
   * that is what makes "finish the scrape in flight" hold (exporter_loop.h). */
  loop.listen_fd = listen_fd;
  loop.serve = serve_callback;
  loop.reload = reload_callback;
  loop.log = log_text;
  loop.ready = ready_callback;
  loop.context = &loop.listen_fd;
  snprintf(x.bound, sizeof x.bound, "%s", bound);
  int status = lw_exporter_loop_run(&loop);
  lw_net_close(listen_fd);
  free_all();
  if (log_file) {
    lw_cli_set_diagnostics(NULL);
    fclose(log_file);
  }
  return status;
}
