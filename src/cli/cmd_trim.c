/*
 * cmd_trim.c - `leakwatch trim PID`: asks the process's allocator to return free memory to
 * the system (malloc_trim) and reports RSS before and after: the nearest thing a C program
 * has to Go's forced GC, and a quick way to tell "freed but kept by the allocator" from
 * "still allocated".
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/control_client.h"
#include "cli/json_lookup.h"
#include "common/units.h"

static const lw_cli_option_t options[] = {
    {"json", 0, NULL, "print the agent's JSON reply"},
    {NULL, 0, NULL, NULL},
};

static const lw_cli_spec_t spec = {
    "trim", "leakwatch trim PID [--json]",
    "Asks the allocator inside process PID (which must run with the agent) to return the free\n"
    "memory it holds to the system, the way that allocator does it - malloc_trim(0) for glibc,\n"
    "a purge of every arena for jemalloc, ReleaseFreeMemory for tcmalloc - and reports its\n"
    "resident memory before and after. A large drop means the memory was freed but kept by\n"
    "the allocator (fragmentation), not leaked; `leakwatch explain PID` says how much to expect.",
    options, NULL};

int lw_cmd_trim(int argc, char **argv) {
  bool json = false;
  lw_cli_parser_t parser;
  lw_cli_parser_init(&parser, &spec, argc, argv, false);
  const char *value;
  int option;
  while ((option = lw_cli_next(&parser, &value)) != LW_CLI_END)
    if (strcmp(options[option].long_name, "json") == 0)
      json = true;
  int pid = 0;
  int pid_status = lw_cli_take_pid(&parser, &spec, &pid);
  if (pid_status != 0)
    return pid_status;
  lw_buf_t body;
  lw_buf_init(&body, &lw_libc_allocator);
  char error[512];
  if (lw_control_call(pid, "trim", &body, 30000, error, sizeof error) < 0) {
    lw_cli_error("%s", error);
    lw_buf_free(&body);
    return LW_EXIT_FAILURE;
  }
  lw_buf_append_byte(&body, 0);
  const char *reply = (const char *)body.data;
  if (json) {
    fputs(reply, stdout);
  } else {
    uint64_t before = 0, after = 0, micros = 0;
    lw_json_lookup_uint(reply, "rss_before_bytes", &before);
    lw_json_lookup_uint(reply, "rss_after_bytes", &after);
    char b[32], a[32], d[32], method[96] = "malloc_trim(0)";
    lw_json_lookup_string(reply, "method", method, sizeof method); /* absent: an older agent */
    bool timed = lw_json_lookup_uint(reply, "duration_us", &micros);
    lw_format_bytes(b, sizeof b, (double)before);
    lw_format_bytes(a, sizeof a, (double)after);
    lw_format_bytes(d, sizeof d, before > after ? (double)(before - after) : 0);
    printf("pid %d: rss %s -> %s (%s returned to the system by %s", pid, b, a, d, method);
    if (timed)
      printf(" in %.1f ms", (double)micros / 1000.0);
    printf(")\n");
  }
  lw_buf_free(&body);
  return LW_EXIT_OK;
}
