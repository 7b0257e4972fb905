/*
 * cmd_stats.c - `leakwatch stats PID`: the agent's MemStats-like counters next to the
 * process's /proc figures; with --interval, one line per interval showing growth since the
 * previous line (the "log MemStats every minute" habit, from outside).
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
#include "leakwatch.h"

static const lw_cli_option_t options[] = {
    {"json", 0, NULL, "print JSON (one object per line with --interval)"},
    {"interval", 'i', "DURATION", "print a line every DURATION (e.g. 10s, 1m) with changes"},
    {"count", 'c', "N", "with --interval: stop after N lines"},
    {NULL, 0, NULL, NULL},
};

static const lw_cli_spec_t spec = {
    "stats", "leakwatch stats PID [--json] [--interval DURATION [--count N]]",
    "Shows the agent's counters for process PID (exact call counts, bytes requested,\n"
    "estimated bytes and objects in use, allocator figures, the agent's own memory and drops)\n"
    "next to the process's RSS, anonymous memory, threads and file descriptors.",
    options, NULL};

typedef struct {
  lw_stats_t s;
  lw_process_figures_t process;
  char allocator[512]; /* the agent's "allocator" JSON object, or "null" */
  char raw[4096];
} snapshot_t;

static bool take(int pid, snapshot_t *out, char *error, size_t size) {
  lw_buf_t body;
  lw_buf_init(&body, &lw_libc_allocator);
  if (lw_control_call(pid, "stats", &body, 5000, error, size) < 0) {
    lw_buf_free(&body);
    return false;
  }
  lw_buf_append_byte(&body, 0);
  const char *json = (const char *)body.data;
  memset(out, 0, sizeof *out);
#define LW_STATS_READ(name, description) lw_json_lookup_uint(json, #name, &out->s.name);
  LW_STATS_FIELDS(LW_STATS_READ)
#undef LW_STATS_READ
  const char *allocator = strstr(json, "\"allocator\":");
  snprintf(out->allocator, sizeof out->allocator, "%s", allocator ? allocator + 12 : "null");
  size_t len = strlen(out->allocator);
  while (len && (out->allocator[len - 1] == '\n' || out->allocator[len - 1] == '}'))
    len--;
  out->allocator[len] = '\0';
  if (strcmp(out->allocator, "null") != 0 && len + 1 < sizeof out->allocator)
    strcat(out->allocator, "}");
  snprintf(out->raw, sizeof out->raw, "%s", json);
  lw_buf_free(&body);
  lw_process_figures_read(pid, &out->process);
  return true;
}

static void print_json(int pid, const snapshot_t *n) {
  printf("{\"pid\":%d,\"time_unix\":%lld,\"stats\":{", pid, (long long)time(NULL));
  bool first = true;
#define LW_STATS_PRINT(name, description) \
  printf("%s\"" #name "\":%llu", first ? "" : ",", (unsigned long long)n->s.name); \
  first = false;
  LW_STATS_FIELDS(LW_STATS_PRINT)
#undef LW_STATS_PRINT
  printf("},\"allocator\":%s,\"process\":{\"rss_bytes\":%llu,\"anon_bytes\":%llu,"
         "\"threads\":%llu,\"fds\":%llu}}\n",
         n->allocator, (unsigned long long)n->process.rss_bytes,
         (unsigned long long)n->process.anon_bytes, (unsigned long long)n->process.threads,
         (unsigned long long)n->process.fds);
}

static const char *bytes(double value, char *buf) {
  lw_format_bytes(buf, 32, value);
  return buf;
}

static void print_text(int pid, const snapshot_t *n) {
  char a[32], b[32], c[32], d[32];
  const lw_stats_t *s = &n->s;
  printf("pid %d: %s, agent memory %s%s\n", pid,
         s->sampling_rate <= 1 ? "every allocation recorded (exact)" : "sampled", bytes((double)s->agent_memory_bytes, a),
         s->sampling_enabled ? "" : " (SAMPLING STOPPED: see the process's stderr)");
  if (s->attached_at_unix) {
    /* leakwatch attach: every figure counts from then on (docs/LIVE.md, "After attach"). */
    time_t when = (time_t)s->attached_at_unix;
    struct tm local;
    char text[64] = "?";
    if (localtime_r(&when, &local))
      strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", &local);
    printf("  since attach at        %s (allocations made before it are not seen)\n", text);
  }
  if (s->sampling_rate > 1)
    printf("  sampling rate          one sample per %s allocated\n", bytes((double)s->sampling_rate, a));
  printf("  heap in use (est.)     %s in %llu objects\n", bytes((double)s->inuse_bytes_estimate, a),
         (unsigned long long)s->inuse_objects_estimate);
  printf("  live objects (%s   %llu\n",
         s->attached_at_unix && s->sampling_rate > 1 ? "est.) " : "exact)",
         (unsigned long long)s->live_objects);
  printf("  calls (exact)          %llu allocations, %llu frees\n",
         (unsigned long long)s->malloc_calls, (unsigned long long)s->free_calls);
  printf("  bytes requested        %s in total\n", bytes((double)s->bytes_requested, a));
  printf("  samples                %llu taken, %llu live, %llu stacks\n",
         (unsigned long long)s->samples_total, (unsigned long long)s->samples_live,
         (unsigned long long)s->stacks);
  printf("  dropped                %llu samples, %llu stacks\n",
         (unsigned long long)s->dropped_samples, (unsigned long long)s->dropped_stacks);
  printf("  threads seen running   %llu (leakwatch threads PID: by creating stack)\n",
         (unsigned long long)s->threads_live);
  if (s->fds_live)
    printf("  fds with known stacks  %llu (leakwatch fds PID: by creating stack)\n",
           (unsigned long long)s->fds_live);
  uint64_t in_use = 0, free_bytes = 0, mmap_bytes = 0, releasable = 0;
  if (lw_json_lookup_uint(n->allocator, "in_use_bytes", &in_use)) {
    lw_json_lookup_uint(n->allocator, "free_bytes", &free_bytes);
    lw_json_lookup_uint(n->allocator, "mmap_bytes", &mmap_bytes);
    lw_json_lookup_uint(n->allocator, "releasable_bytes", &releasable);
    printf("  allocator (glibc)      %s in use, %s free in arenas, %s mmapped, %s releasable\n",
           bytes((double)in_use, a), bytes((double)free_bytes, b), bytes((double)mmap_bytes, c),
           bytes((double)releasable, d));
  }
  if (n->process.ok)
    printf("  process                rss %s (anonymous %s), %llu threads, %llu fds\n",
           bytes((double)n->process.rss_bytes, a), bytes((double)n->process.anon_bytes, b),
           (unsigned long long)n->process.threads, (unsigned long long)n->process.fds);
}

static void signed_bytes(double change, char *out) {
  char magnitude[32];
  lw_format_bytes(magnitude, sizeof magnitude, change < 0 ? -change : change);
  snprintf(out, 40, "%c%s", change < 0 ? '-' : '+', magnitude);
}

static void print_line(const snapshot_t *n, const snapshot_t *p, double seconds, bool header) {
  if (header)
    printf("%-8s %12s %12s %12s %10s %12s %12s %12s\n", "TIME", "HEAP(est)", "CHANGE", "OBJECTS",
           "CHANGE", "ALLOC/s", "RSS", "CHANGE");
  char heap[32], dheap[40], alloc[32], rss[32], drss[40];
  lw_format_bytes(heap, sizeof heap, (double)n->s.inuse_bytes_estimate);
  signed_bytes((double)n->s.inuse_bytes_estimate - (double)p->s.inuse_bytes_estimate, dheap);
  lw_format_bytes(alloc, sizeof alloc,
                  seconds > 0 ? (double)(n->s.bytes_requested - p->s.bytes_requested) / seconds : 0);
  lw_format_bytes(rss, sizeof rss, (double)n->process.rss_bytes);
  signed_bytes((double)n->process.rss_bytes - (double)p->process.rss_bytes, drss);
  time_t now = time(NULL);
  struct tm local;
  localtime_r(&now, &local);
  char clock[16];
  strftime(clock, sizeof clock, "%H:%M:%S", &local);
  printf("%-8s %12s %12s %12llu %+10lld %12s %12s %12s\n", clock, heap, dheap,
         (unsigned long long)n->s.live_objects,
         (long long)n->s.live_objects - (long long)p->s.live_objects, alloc, rss, drss);
  fflush(stdout);
}

int lw_cmd_stats(int argc, char **argv) {
  bool json = false;
  uint64_t interval_ms = 0, count = 0;
  lw_cli_parser_t parser;
  lw_cli_parser_init(&parser, &spec, argc, argv, false);
  const char *value;
  int option;
  while ((option = lw_cli_next(&parser, &value)) != LW_CLI_END) {
    const char *name = options[option].long_name;
    if (strcmp(name, "json") == 0)
      json = true;
    else if (strcmp(name, "interval") == 0) {
      if (!lw_cli_parse_duration_ms(&spec, name, value, &interval_ms))
        return LW_EXIT_USAGE;
      if (interval_ms < 100)
        return lw_cli_usage_error(&spec, "--interval must be at least 100ms");
    } else if (strcmp(name, "count") == 0) {
      if (!lw_cli_parse_uint(&spec, name, value, 1, UINT32_MAX, &count))
        return LW_EXIT_USAGE;
    }
  }
  int pid = 0;
  int pid_status = lw_cli_take_pid(&parser, &spec, &pid);
  if (pid_status != 0)
    return pid_status;
  if (count && !interval_ms)
    return lw_cli_usage_error(&spec, "--count goes with --interval");
  char error[512];
  snapshot_t previous, next;
  if (!take(pid, &previous, error, sizeof error)) {
    lw_cli_error("%s", error);
    return LW_EXIT_FAILURE;
  }
  if (!interval_ms) {
    if (json)
      print_json(pid, &previous);
    else
      print_text(pid, &previous);
    return LW_EXIT_OK;
  }
  if (json)
    print_json(pid, &previous);
  else
    print_line(&previous, &previous, 0, true);
  for (uint64_t lines = 1; !count || lines < count; lines++) {
    struct timespec pause = {(time_t)(interval_ms / 1000), (long)(interval_ms % 1000) * 1000000};
    nanosleep(&pause, NULL);
    if (!take(pid, &next, error, sizeof error)) {
      lw_cli_error("%s", error);
      return LW_EXIT_FAILURE;
    }
    if (json)
      print_json(pid, &next);
    else
      print_line(&next, &previous, (double)interval_ms / 1000.0, false);
    previous = next;
  }
  return LW_EXIT_OK;
}
