/*
 * cmd_ps.c - `leakwatch ps`: the processes of this user (for root, of every user) running
 * with the agent, found by their control sockets (stale sockets of dead processes are
 * removed on the way).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/control_client.h"
#include "cli/json_lookup.h"
#include "cli/process_figures.h"
#include "common/units.h"

static const lw_cli_option_t options[] = {
    {"json", 0, NULL, "one JSON object per process, as an array"},
    {NULL, 0, NULL, NULL},
};

static const lw_cli_spec_t spec = {
    "ps", "leakwatch ps [--json]",
    "Lists this user's processes that run with the leakwatch agent (root: every user's):\n"
    "pid, command, uptime, sampling rate, estimated heap in use, resident memory and HTTP\n"
    "address, then the paths the HTTP endpoints answer (/debug/pprof/heap, goroutine, ...).",
    options, NULL};

typedef struct {
  bool json;
  int shown;
  bool any_http; /* some process serves HTTP: say which paths it answers */
} ps_t;

/* What an agent with LEAKWATCH_HTTP serves (src/agent/http_server.c, docs/LIVE.md). */
static const char *const http_paths[] = {
    "/debug/pprof/heap", "/debug/pprof/allocs",   "/debug/pprof/goroutine",
    "/debug/pprof/threadcreate", "/debug/pprof/fd", "/debug/pprof/symbol",
    "/debug/pprof/cmdline", "/metrics", "/debug/vars"};
enum { N_HTTP_PATHS = sizeof http_paths / sizeof http_paths[0] };

static void format_uptime(uint64_t seconds, char *out, size_t size) {
  if (seconds < 120)
    snprintf(out, size, "%llus", (unsigned long long)seconds);
  else if (seconds < 7200)
    snprintf(out, size, "%llum", (unsigned long long)(seconds / 60));
  else if (seconds < 172800)
    snprintf(out, size, "%lluh", (unsigned long long)(seconds / 3600));
  else
    snprintf(out, size, "%llud", (unsigned long long)(seconds / 86400));
}

static void show(int pid, const char *socket_path, void *context) {
  (void)socket_path;
  ps_t *ps = context;
  lw_buf_t body;
  lw_buf_init(&body, &lw_libc_allocator);
  char error[512];
  if (lw_control_call(pid, "info", &body, 5000, error, sizeof error) < 0) {
    lw_cli_warn("%s", error);
    lw_buf_free(&body);
    return;
  }
  lw_buf_append_byte(&body, 0);
  const char *json = (const char *)body.data;
  char command[256] = "?", http[96] = "";
  uint64_t uptime = 0, rate = 0, heap = 0;
  lw_json_lookup_string(json, "command", command, sizeof command);
  lw_json_lookup_string(json, "http", http, sizeof http);
  lw_json_lookup_uint(json, "uptime_seconds", &uptime);
  uint64_t attached_at = 0; /* `leakwatch attach` loaded the agent then (0: started with it) */
  lw_json_lookup_uint(json, "attached_at_unix", &attached_at);
  lw_json_lookup_uint(json, "sampling_rate", &rate);
  lw_json_lookup_uint(json, "inuse_bytes_estimate", &heap);
  lw_process_figures_t figures;
  lw_process_figures_read(pid, &figures);
  if (ps->json) {
    /* The agent's info object plus the /proc figures. */
    size_t len = strlen(json);
    while (len && (json[len - 1] == '\n' || json[len - 1] == '}'))
      len--;
    printf("%s  %.*s,\"rss_bytes\":%llu,\"threads\":%llu", ps->shown ? ",\n" : "", (int)len,
           json, (unsigned long long)figures.rss_bytes, (unsigned long long)figures.threads);
    if (http[0]) {
      printf(",\"http_paths\":[");
      for (int i = 0; i < N_HTTP_PATHS; i++)
        printf("%s\"%s\"", i ? "," : "", http_paths[i]);
      printf("]");
    }
    printf("}");
  } else {
    if (!ps->shown)
      printf("%-8s %-8s %-10s %10s %10s  %-21s %s\n", "PID", "UPTIME", "RATE", "HEAP(est)",
             "RSS", "HTTP", "COMMAND");
    char up[32], rate_text[32], heap_text[32], rss_text[32];
    format_uptime(uptime, up, sizeof up);
    if (rate <= 1)
      snprintf(rate_text, sizeof rate_text, "exact");
    else
      lw_format_bytes(rate_text, sizeof rate_text, (double)rate);
    lw_format_bytes(heap_text, sizeof heap_text, (double)heap);
    lw_format_bytes(rss_text, sizeof rss_text, (double)figures.rss_bytes);
    char attached[64] = "";
    time_t when = (time_t)attached_at;
    struct tm local;
    if (attached_at && localtime_r(&when, &local))
      strftime(attached, sizeof attached, "  (attached at %Y-%m-%d %H:%M:%S)", &local);
    printf("%-8d %-8s %-10s %10s %10s  %-21s %s%s\n", pid, up, rate_text, heap_text, rss_text,
           http[0] ? http : "-", command, attached);
    ps->any_http |= http[0] != '\0';
  }
  ps->shown++;
  lw_buf_free(&body);
}

int lw_cmd_ps(int argc, char **argv) {
  ps_t ps = {false, 0, false};
  lw_cli_parser_t parser;
  lw_cli_parser_init(&parser, &spec, argc, argv, false);
  const char *value;
  int option;
  while ((option = lw_cli_next(&parser, &value)) != LW_CLI_END)
    if (strcmp(options[option].long_name, "json") == 0)
      ps.json = true;
  int extra = parser.n_positionals;
  lw_cli_parser_free(&parser);
  if (extra)
    return lw_cli_usage_error(&spec, "ps takes no arguments");
  if (ps.json)
    printf("[\n");
  lw_control_list(show, &ps);
  if (ps.json)
    printf("%s]\n", ps.shown ? "\n" : "");
  else if (ps.any_http) {
    /* "/debug/pprof/{heap,allocs,...}, /metrics, /debug/vars": one line under the table. */
    printf("\nHTTP paths: /debug/pprof/{");
    for (int i = 0, n = 0; i < N_HTTP_PATHS; i++)
      if (strncmp(http_paths[i], "/debug/pprof/", 13) == 0)
        printf("%s%s", n++ ? "," : "", http_paths[i] + 13);
    printf("}");
    for (int i = 0; i < N_HTTP_PATHS; i++)
      if (strncmp(http_paths[i], "/debug/pprof/", 13) != 0)
        printf(", %s", http_paths[i]);
    printf("\n            goroutine?debug=2: every thread's stack, read without stopping it\n");
  } else if (!ps.shown)
    fprintf(stderr, "leakwatch: no processes of %s run with the agent\n",
            geteuid() == 0 ? "any user" : "this user");
  return LW_EXIT_OK;
}
