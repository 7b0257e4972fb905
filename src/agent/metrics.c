/*
 * metrics.c - the agent's counters as text: Prometheus exposition for /metrics, expvar-style
 * JSON for /debug/vars, and the periodic stats line (LEAKWATCH_LOG_INTERVAL).
 *
 * Everything comes from one lw_stats() snapshot plus /proc/self (process_* metrics, read
 * with src/common/procfs.c), so the three outputs can never disagree about a counter; the
 * reply budget's figures (export_reply.h) are read when /metrics is asked for.
 * Names follow Prometheus conventions (FORMATS.md 4.2): base units, _total on counters.
 * The stats line's file (LEAKWATCH_LOG) is one of the agent's descriptors (agent_fd.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent_fd.h"
#include "agent/connection.h"
#include "agent/export_reply.h"
#include "common/fmt.h"
#include "common/json_writer.h"
#include "common/procfs.h"
#include "common/prom.h"
#include "common/units.h"
#include "leakwatch.h"

typedef struct {
  bool ok;
  lw_proc_stat_t stat;
  lw_proc_status_t status;
  lw_proc_limits_t limits;
  uint64_t open_fds;
  uint64_t boot_time_seconds;
} process_figures_t;

/* /proc/stat's "btime": the machine's boot time, for process_start_time_seconds. */
static uint64_t boot_time(void) {
  char text[8192];
  ssize_t n = lw_proc_read_path("/proc/stat", text, sizeof text - 1);
  if (n <= 0)
    return 0;
  text[n] = '\0';
  const char *p = strstr(text, "\nbtime ");
  uint64_t v = 0;
  for (p = p ? p + 7 : ""; *p >= '0' && *p <= '9'; p++)
    v = v * 10 + (uint64_t)(*p - '0');
  return v;
}

static void read_process(process_figures_t *f) {
  memset(f, 0, sizeof *f);
  lw_proc_handle_t handle;
  if (lw_proc_open(&handle, "/proc", getpid(), false) < 0)
    return;
  char text[8192];
  ssize_t n = lw_proc_read(&handle, LW_PROC_STAT, text, sizeof text);
  f->ok = n > 0 && lw_procfs_parse_stat(text, (size_t)n, &f->stat) == 0;
  n = lw_proc_read(&handle, LW_PROC_STATUS, text, sizeof text);
  if (n > 0)
    lw_procfs_parse_status(text, (size_t)n, &f->status);
  n = lw_proc_read(&handle, LW_PROC_LIMITS, text, sizeof text);
  if (n > 0)
    lw_procfs_parse_limits(text, (size_t)n, &f->limits);
  lw_proc_fds_t fds;
  if (lw_proc_read_fds(&handle, false, text, sizeof text, &fds) == 0)
    f->open_fds = fds.total;
  lw_proc_close(&handle);
  f->boot_time_seconds = boot_time();
}

/* ---- /metrics ------------------------------------------------------------------------- */

typedef struct {
  const char *name;
  lw_prom_type_t type;
  const char *help;
  uint64_t value;
} metric_t;

int lw__metrics_prometheus(lw_buf_t *out) {
  lw_stats_t s;
  lw_stats(&s, sizeof s);
  process_figures_t p;
  read_process(&p);
  lw_prom_writer_t w;
  lw_prom_init(&w, out);
  long ticks = sysconf(_SC_CLK_TCK);
  long page = sysconf(_SC_PAGESIZE);
  if (p.ok) {
    lw_prom_family(&w, "process_cpu_seconds_total", LW_PROM_COUNTER,
                   "Total user and system CPU time spent in seconds.");
    lw_prom_sample(&w, NULL, NULL, 0,
                   (double)(p.stat.utime_ticks + p.stat.stime_ticks) / (double)ticks);
    lw_prom_family(&w, "process_open_fds", LW_PROM_GAUGE, "Number of open file descriptors.");
    lw_prom_sample_u64(&w, NULL, NULL, 0, p.open_fds);
    lw_prom_family(&w, "process_max_fds", LW_PROM_GAUGE,
                   "Maximum number of open file descriptors.");
    lw_prom_sample_u64(&w, NULL, NULL, 0, p.limits.open_files_soft);
    lw_prom_family(&w, "process_virtual_memory_bytes", LW_PROM_GAUGE,
                   "Virtual memory size in bytes.");
    lw_prom_sample_u64(&w, NULL, NULL, 0, p.stat.vsize_bytes);
    lw_prom_family(&w, "process_virtual_memory_max_bytes", LW_PROM_GAUGE,
                   "Maximum amount of virtual memory available in bytes.");
    lw_prom_sample_u64(&w, NULL, NULL, 0, p.limits.address_space_soft);
    lw_prom_family(&w, "process_resident_memory_bytes", LW_PROM_GAUGE,
                   "Resident memory size in bytes.");
    lw_prom_sample_u64(&w, NULL, NULL, 0, p.stat.rss_pages * (uint64_t)page);
    lw_prom_family(&w, "process_start_time_seconds", LW_PROM_GAUGE,
                   "Start time of the process since unix epoch in seconds.");
    lw_prom_sample(&w, NULL, NULL, 0,
                   (double)p.boot_time_seconds + (double)p.stat.starttime_ticks / (double)ticks);
    lw_prom_family(&w, "process_threads", LW_PROM_GAUGE, "Number of OS threads in the process.");
    lw_prom_sample_u64(&w, NULL, NULL, 0, (uint64_t)p.stat.num_threads);
  }
  const metric_t metrics[] = {
      {"leakwatch_heap_inuse_bytes", LW_PROM_GAUGE,
       "Bytes in live heap allocations, estimated from samples.", s.inuse_bytes_estimate},
      {"leakwatch_heap_inuse_objects", LW_PROM_GAUGE,
       "Live heap allocations, estimated from samples.", s.inuse_objects_estimate},
      {"leakwatch_heap_live_objects", LW_PROM_GAUGE,
       "Live heap allocations, counted exactly (allocations minus frees).", s.live_objects},
      {"leakwatch_heap_allocs_total", LW_PROM_COUNTER,
       "Allocation calls (malloc family), counted exactly.", s.malloc_calls},
      {"leakwatch_heap_frees_total", LW_PROM_COUNTER, "Free calls, counted exactly.",
       s.free_calls},
      {"leakwatch_heap_requested_bytes_total", LW_PROM_COUNTER,
       "Bytes requested by allocation calls, counted exactly.", s.bytes_requested},
      {"leakwatch_heap_alloc_bytes_total", LW_PROM_COUNTER,
       "Bytes allocated, estimated from samples.", s.alloc_bytes_estimate},
      {"leakwatch_samples_total", LW_PROM_COUNTER, "Allocations sampled.", s.samples_total},
      {"leakwatch_samples_live", LW_PROM_GAUGE, "Sampled allocations still live.",
       s.samples_live},
      {"leakwatch_stacks", LW_PROM_GAUGE, "Distinct call stacks stored.", s.stacks},
      {"leakwatch_dropped_samples_total", LW_PROM_COUNTER,
       "Samples lost because the live table was full.", s.dropped_samples},
      {"leakwatch_dropped_stacks_total", LW_PROM_COUNTER,
       "Samples recorded without their stack because the stack table was full.",
       s.dropped_stacks},
      {"leakwatch_agent_memory_bytes", LW_PROM_GAUGE,
       "Memory the leakwatch agent has mapped for its own tables.", s.agent_memory_bytes},
      {"leakwatch_sampling_rate_bytes", LW_PROM_GAUGE,
       "Mean bytes between samples (1 = every allocation).", s.sampling_rate},
      {"leakwatch_sampling_enabled", LW_PROM_GAUGE,
       "1 while the agent samples, 0 after it stopped.", s.sampling_enabled},
      {"leakwatch_threads_live", LW_PROM_GAUGE,
       "Threads running now that the agent has seen (created or allocating).", s.threads_live},
      {"leakwatch_reply_held_bytes", LW_PROM_GAUGE,
       "Bytes held by replies (HTTP, control socket) not yet taken by their clients.",
       lw__reply_held()},
      {"leakwatch_reply_budget_bytes", LW_PROM_GAUGE,
       "Most bytes such replies may hold at once (LEAKWATCH_REPLY_MEMORY, RSS).",
       lw__reply_budget()},
      {"leakwatch_replies_refused_total", LW_PROM_COUNTER,
       "Replies refused because the replies held left no room (503 Retry-After).",
       lw__reply_refused()},
  };
  for (size_t i = 0; i < sizeof metrics / sizeof metrics[0]; i++) {
    lw_prom_family(&w, metrics[i].name, metrics[i].type, metrics[i].help);
    lw_prom_sample_u64(&w, NULL, NULL, 0, metrics[i].value);
  }
  if (lw__fd_tracking()) { /* absent, not 0, when nobody asked for descriptors to be tracked */
    lw_prom_family(&w, "leakwatch_fds_tracked", LW_PROM_GAUGE,
                   "Open file descriptors with a known creating stack.");
    lw_prom_sample_u64(&w, NULL, NULL, 0, s.fds_live);
  }
  return lw_prom_finish(&w);
}

/* ---- /debug/vars ---------------------------------------------------------------------- */

/* expvar's shape (FORMATS.md 3): sorted keys, "cmdline" as an array, "memstats" as an
 * object; the memstats fields are leakwatch's own names, not Go's. */
void lw__metrics_vars(lw_buf_t *out) {
  lw_stats_t s;
  lw_stats(&s, sizeof s);
  lw_buf_append_str(out, "{\n\"cmdline\": [");
  char raw[8192];
  ssize_t n = lw_proc_read_path("/proc/self/cmdline", raw, sizeof raw);
  for (ssize_t start = 0, i = 0; n > 0 && i < n; i++) {
    if (raw[i] != '\0')
      continue;
    if (start)
      lw_buf_append_byte(out, ',');
    lw_json_string_n(out, raw + start, (size_t)(i - start));
    start = i + 1;
  }
  lw_buf_append_str(out, "],\n\"memstats\": {");
  bool first = true;
#define LW_STATS_VAR(name, description)                                       \
  lw_buf_printf(out, "%s\"" #name "\":%llu", first ? "" : ",", (unsigned long long)s.name); \
  first = false;
  LW_STATS_FIELDS(LW_STATS_VAR)
#undef LW_STATS_VAR
  lw_buf_append_str(out, "}\n}\n");
}

/* ---- the periodic stats line ------------------------------------------------------------- */

static struct {
  bool have_previous;
  lw_stats_t previous;
  uint64_t previous_rss;
  lw_agent_fd_t file; /* LEAKWATCH_LOG, adopted (agent_fd.h): high, checked before a write */
  bool opened;        /* it was open once: losing it later means the program took it */
  uint64_t lost_ms;   /* when the program took it (0: not lost) */
  bool use_stderr;    /* LEAKWATCH_LOG unset, or it could not be opened */
} log_state = {.file = {.fd = -1}};

static uint64_t monotonic_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Where this stats line goes. LEAKWATCH_LOG is opened at the first line and kept at a high
 * number, as the program owns the low ones: a daemon may close it, `exec 3>x` or dup2 may
 * put the program's own file on its number. Checked before each line, so such a line never
 * lands in the program's file; the log is then opened again (stderr if it cannot be) after
 * the same grace as the agent's sockets, its lines skipped meanwhile (-1). */
static int log_fd(void) {
  if (log_state.use_stderr || !lw__options.log_path[0])
    return lw__stderr_fd();
  if (lw__agent_fd_check(&log_state.file))
    return log_state.file.fd;
  if (log_state.opened) {
    uint64_t now = monotonic_ms();
    if (!log_state.lost_ms)
      log_state.lost_ms = now;
    if (now < log_state.lost_ms + LW_AGENT_FD_REOPEN_GRACE_MS)
      return -1;
  }
  int fd = open(lw__options.log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW,
                0600);
  if (fd >= 0 && lw__agent_fd_adopt(&log_state.file, fd)) {
    log_state.opened = true;
    log_state.lost_ms = 0;
    return log_state.file.fd;
  }
  lw__log("cannot open LEAKWATCH_LOG '%s': %s; writing stats to stderr", lw__options.log_path,
          strerror(errno));
  log_state.use_stderr = true;
  return lw__stderr_fd();
}

static void append_change(char *out, size_t size, const char *label, uint64_t now,
                          uint64_t before, bool bytes, bool first) {
  char value[32], delta[32];
  int64_t change = (int64_t)(now - before);
  if (bytes) {
    lw_format_bytes(value, sizeof value, (double)now);
    lw_format_bytes(delta, sizeof delta, (double)(change < 0 ? -change : change));
  } else {
    lw_fmt(value, sizeof value, "%llu", (unsigned long long)now);
    lw_fmt(delta, sizeof delta, "%lld", (long long)(change < 0 ? -change : change));
  }
  size_t len = strlen(out);
  lw_fmt(out + len, size - len, "%s%s %s (%c%s)", first ? "" : ", ", label, value,
         change < 0 ? '-' : '+', delta);
}

void lw__stats_log_line(void) {
  lw_stats_t s;
  lw_stats(&s, sizeof s);
  process_figures_t p;
  read_process(&p);
  uint64_t rss = p.stat.rss_pages * (uint64_t)sysconf(_SC_PAGESIZE);
  const lw_stats_t *b = log_state.have_previous ? &log_state.previous : &s;
  uint64_t rss_before = log_state.have_previous ? log_state.previous_rss : rss;
  char line[512] = "";
  append_change(line, sizeof line, "heap", s.inuse_bytes_estimate, b->inuse_bytes_estimate, true,
                true);
  append_change(line, sizeof line, "objects", s.live_objects, b->live_objects, false, false);
  append_change(line, sizeof line, "allocated", s.bytes_requested, b->bytes_requested, true,
                false);
  append_change(line, sizeof line, "rss", rss, rss_before, true, false);
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  struct tm utc;
  gmtime_r(&now.tv_sec, &utc);
  int fd = log_fd();
  if (fd >= 0)
    lw_fdprintf(fd, "leakwatch[%d] %04d-%02d-%02dT%02d:%02d:%02dZ: %s\n", (int)getpid(),
                utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min,
                utc.tm_sec, line);
  log_state.previous = s;
  log_state.previous_rss = rss;
  log_state.have_previous = true;
}
