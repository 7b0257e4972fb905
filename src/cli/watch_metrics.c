/*
 * watch_metrics.c - the tables of watch_metrics.h for Linux (/proc and cgroups; the
 * Windows build has watch_metrics_windows.c instead). Adding a measurement means adding a
 * field to the enum and a line here in each table that should show it; the tests
 * (tests/unit/test_watch_metrics.c) check the tables stay consistent.
 */
#include "cli/watch_metrics.h"

static const char *fd_type_name(int type) { return lw_fd_type_name((lw_fd_type_t)type); }
static const lw_watch_breakdown_t fds_by_type = {LW_W_FDS_TYPE, LW_FD_TYPE_COUNT, fd_type_name};

#define FD_COLUMN(type, name)                                                            \
  {"fds_" name, LW_W_FDS_TYPE + type, false, false,                                      \
   "open descriptors of type " name " (from readlink of /proc/PID/fd/N)"}

const lw_watch_column_t lw_watch_columns[] = {
    {"rss_bytes", LW_W_RSS, true, false, "resident set size (status VmRSS), bytes"},
    {"pss_bytes", LW_W_PSS, true, false,
     "proportional set size (smaps_rollup Pss): private pages plus a share of shared ones, bytes"},
    {"uss_bytes", LW_W_USS, true, false,
     "unique set size (smaps_rollup Private_*): what exiting would free, bytes"},
    {"swap_bytes", LW_W_SWAP, true, false, "swapped out (status VmSwap), bytes"},
    {"vsize_bytes", LW_W_VSIZE, true, false, "virtual address space (stat vsize), bytes"},
    {"data_bytes", LW_W_DATA, true, false, "data + heap + anonymous mappings (status VmData), bytes"},
    {"peak_rss_bytes", LW_W_PEAK_RSS, true, false, "peak resident set size (status VmHWM), bytes"},
    {"fds", LW_W_FDS, false, false, "open file descriptors, count"},
    FD_COLUMN(LW_FD_FILE, "file"),
    FD_COLUMN(LW_FD_SOCKET, "socket"),
    FD_COLUMN(LW_FD_PIPE, "pipe"),
    FD_COLUMN(LW_FD_EVENTFD, "eventfd"),
    FD_COLUMN(LW_FD_TIMERFD, "timerfd"),
    FD_COLUMN(LW_FD_EPOLL, "epoll"),
    FD_COLUMN(LW_FD_SIGNALFD, "signalfd"),
    FD_COLUMN(LW_FD_INOTIFY, "inotify"),
    FD_COLUMN(LW_FD_ANON, "anon_inode"),
    FD_COLUMN(LW_FD_DEVICE, "device"),
    FD_COLUMN(LW_FD_OTHER, "other"),
    {"max_fds", LW_W_MAX_FDS, false, false, "soft limit on open files (limits), count"},
    {"threads", LW_W_THREADS, false, false, "threads, count"},
    {"minor_faults_per_second", LW_W_MINOR_FAULTS_RATE, false, true,
     "minor page faults (no I/O) per second over the last interval"},
    {"major_faults_per_second", LW_W_MAJOR_FAULTS_RATE, false, true,
     "major page faults (with I/O) per second over the last interval"},
    {"cpu_percent", LW_W_CPU_PERCENT, false, true,
     "CPU time (user + system) as percent of one CPU over the last interval; 100 = one core"},
    {"read_bytes_per_second", LW_W_READ_RATE, true, true,
     "bytes read by read(2)-family calls (files, sockets, pipes; io rchar) per second"},
    {"write_bytes_per_second", LW_W_WRITE_RATE, true, true,
     "bytes written by write(2)-family calls (io wchar) per second"},
    {"disk_read_bytes_per_second", LW_W_DISK_READ_RATE, true, true,
     "bytes fetched from storage (io read_bytes) per second"},
    {"disk_write_bytes_per_second", LW_W_DISK_WRITE_RATE, true, true,
     "bytes sent to storage (io write_bytes) per second"},
    {"cgroup_memory_current_bytes", LW_W_CG_CURRENT, true, false,
     "memory charged to the process's memory cgroup (v2 memory.current, v1 usage_in_bytes), bytes"},
    {"cgroup_memory_max_bytes", LW_W_CG_MAX, true, false,
     "the cgroup's memory limit (v2 memory.max, v1 limit_in_bytes), bytes; empty when unlimited"},
    {"cgroup_memory_peak_bytes", LW_W_CG_PEAK, true, false,
     "the cgroup's peak usage (v2 memory.peak, v1 max_usage_in_bytes), bytes"},
    {"cgroup_oom_kills", LW_W_CG_OOM_KILLS, false, false,
     "processes killed by the OOM killer in the cgroup, count"},
};
const size_t lw_watch_n_columns = sizeof lw_watch_columns / sizeof lw_watch_columns[0];

#define FD_RULE(name) {"fds_" name, LW_UNIT_COUNT, false, true, "process_open_fds_by_type{type=\"" name "\"}"}

const lw_alert_metric_t lw_watch_rule_metrics[] = {
    {"rss", LW_UNIT_BYTES, false, true, "process_resident_memory_bytes"},
    {"pss", LW_UNIT_BYTES, false, true, "process_proportional_memory_bytes"},
    {"uss", LW_UNIT_BYTES, false, true, "process_unique_memory_bytes"},
    {"swap", LW_UNIT_BYTES, false, true, "process_swap_bytes"},
    {"vsize", LW_UNIT_BYTES, false, true, "process_virtual_memory_bytes"},
    {"data", LW_UNIT_BYTES, false, true, "process_data_memory_bytes"},
    {"peak_rss", LW_UNIT_BYTES, false, true, "process_resident_memory_max_bytes"},
    {"fds", LW_UNIT_COUNT, false, true, "process_open_fds"},
    FD_RULE("file"),
    FD_RULE("socket"),
    FD_RULE("pipe"),
    FD_RULE("eventfd"),
    FD_RULE("timerfd"),
    FD_RULE("epoll"),
    FD_RULE("signalfd"),
    FD_RULE("inotify"),
    FD_RULE("anon_inode"),
    FD_RULE("device"),
    FD_RULE("other"),
    {"max_fds", LW_UNIT_COUNT, false, true, "process_max_fds"},
    {"threads", LW_UNIT_COUNT, false, true, "process_threads"},
    {"cpu", LW_UNIT_PERCENT, false, false, "rate(process_cpu_seconds_total[1m]) * 100"},
    {"minor_faults", LW_UNIT_COUNT, true, true, "process_minor_page_faults_total"},
    {"major_faults", LW_UNIT_COUNT, true, true, "process_major_page_faults_total"},
    {"read_bytes", LW_UNIT_BYTES, true, true, "process_read_bytes_total"},
    {"write_bytes", LW_UNIT_BYTES, true, true, "process_write_bytes_total"},
    {"disk_read_bytes", LW_UNIT_BYTES, true, true, "process_disk_read_bytes_total"},
    {"disk_write_bytes", LW_UNIT_BYTES, true, true, "process_disk_write_bytes_total"},
    {"cgroup_memory", LW_UNIT_BYTES, false, true, "process_cgroup_memory_current_bytes"},
    {"cgroup_memory_max", LW_UNIT_BYTES, false, true, "process_cgroup_memory_max_bytes"},
    {"cgroup_oom_kills", LW_UNIT_COUNT, true, true, "process_cgroup_oom_kills_total"},
};
const lw_watch_field_t lw_watch_rule_fields[] = {
    LW_W_RSS,
    LW_W_PSS,
    LW_W_USS,
    LW_W_SWAP,
    LW_W_VSIZE,
    LW_W_DATA,
    LW_W_PEAK_RSS,
    LW_W_FDS,
    LW_W_FDS_TYPE + LW_FD_FILE,
    LW_W_FDS_TYPE + LW_FD_SOCKET,
    LW_W_FDS_TYPE + LW_FD_PIPE,
    LW_W_FDS_TYPE + LW_FD_EVENTFD,
    LW_W_FDS_TYPE + LW_FD_TIMERFD,
    LW_W_FDS_TYPE + LW_FD_EPOLL,
    LW_W_FDS_TYPE + LW_FD_SIGNALFD,
    LW_W_FDS_TYPE + LW_FD_INOTIFY,
    LW_W_FDS_TYPE + LW_FD_ANON,
    LW_W_FDS_TYPE + LW_FD_DEVICE,
    LW_W_FDS_TYPE + LW_FD_OTHER,
    LW_W_MAX_FDS,
    LW_W_THREADS,
    LW_W_CPU_PERCENT,
    LW_W_MINOR_FAULTS,
    LW_W_MAJOR_FAULTS,
    LW_W_READ_BYTES,
    LW_W_WRITE_BYTES,
    LW_W_DISK_READ_BYTES,
    LW_W_DISK_WRITE_BYTES,
    LW_W_CG_CURRENT,
    LW_W_CG_MAX,
    LW_W_CG_OOM_KILLS,
};
const size_t lw_watch_n_rule_metrics = sizeof lw_watch_rule_metrics / sizeof lw_watch_rule_metrics[0];

const lw_watch_trended_t lw_watch_trended[LW_WATCH_N_TRENDED] = {
    {"rss", LW_W_RSS, true},     {"pss", LW_W_PSS, true},           {"uss", LW_W_USS, true},
    {"swap", LW_W_SWAP, true},   {"vsize", LW_W_VSIZE, true},       {"data", LW_W_DATA, true},
    {"fds", LW_W_FDS, false},    {"threads", LW_W_THREADS, false},
    {"cgroup_memory", LW_W_CG_CURRENT, true},
};
const size_t lw_watch_n_trended = sizeof lw_watch_trended / sizeof lw_watch_trended[0];

/* Names follow client_golang's process collector where it has one (FORMATS.md 4.3). */
const lw_watch_family_t lw_watch_families[] = {
    {"process_resident_memory_bytes", false, "Resident memory size in bytes (VmRSS).", LW_W_RSS, NULL},
    {"process_proportional_memory_bytes", false,
     "Proportional set size in bytes (smaps_rollup Pss).", LW_W_PSS, NULL},
    {"process_unique_memory_bytes", false,
     "Unique set size in bytes: private pages (smaps_rollup Private_*).", LW_W_USS, NULL},
    {"process_swap_bytes", false, "Swapped-out memory in bytes (VmSwap).", LW_W_SWAP, NULL},
    {"process_virtual_memory_bytes", false, "Virtual memory size in bytes.", LW_W_VSIZE, NULL},
    {"process_data_memory_bytes", false, "Data, heap and anonymous mappings in bytes (VmData).",
     LW_W_DATA, NULL},
    {"process_resident_memory_max_bytes", false, "Peak resident memory size in bytes (VmHWM).",
     LW_W_PEAK_RSS, NULL},
    {"process_open_fds", false, "Number of open file descriptors.", LW_W_FDS, NULL},
    {"process_open_fds_by_type", false,
     "Open file descriptors by type (file, socket, pipe, eventfd, timerfd, epoll, signalfd, "
     "inotify, anon_inode, device, other).",
     LW_W_FDS_TYPE, &fds_by_type},
    {"process_max_fds", false, "Maximum number of open file descriptors.", LW_W_MAX_FDS, NULL},
    {"process_threads", false, "Number of threads.", LW_W_THREADS, NULL},
    {"process_cpu_seconds_total", true, "Total user and system CPU time spent in seconds.",
     LW_W_CPU_SECONDS, NULL},
    {"process_minor_page_faults_total", true, "Minor page faults (no I/O needed).",
     LW_W_MINOR_FAULTS, NULL},
    {"process_major_page_faults_total", true, "Major page faults (I/O needed).",
     LW_W_MAJOR_FAULTS, NULL},
    {"process_read_bytes_total", true,
     "Bytes read by read(2)-family system calls, any file type (io rchar).", LW_W_READ_BYTES, NULL},
    {"process_write_bytes_total", true,
     "Bytes written by write(2)-family system calls, any file type (io wchar).",
     LW_W_WRITE_BYTES, NULL},
    {"process_disk_read_bytes_total", true, "Bytes fetched from storage (io read_bytes).",
     LW_W_DISK_READ_BYTES, NULL},
    {"process_disk_write_bytes_total", true, "Bytes sent to storage (io write_bytes).",
     LW_W_DISK_WRITE_BYTES, NULL},
    {"process_start_time_seconds", false, "Start time of the process since unix epoch in seconds.",
     LW_W_START_TIME, NULL},
    {"process_cgroup_memory_current_bytes", false,
     "Memory charged to the process's memory cgroup in bytes (v2 memory.current, v1 "
     "memory.usage_in_bytes).",
     LW_W_CG_CURRENT, NULL},
    {"process_cgroup_memory_max_bytes", false,
     "Memory limit of the process's memory cgroup in bytes; absent when unlimited.", LW_W_CG_MAX, NULL},
    {"process_cgroup_memory_peak_bytes", false,
     "Peak memory usage of the process's memory cgroup in bytes.", LW_W_CG_PEAK, NULL},
    {"process_cgroup_oom_kills_total", true,
     "Processes killed by the OOM killer in the process's memory cgroup.", LW_W_CG_OOM_KILLS, NULL},
};
const size_t lw_watch_n_families = sizeof lw_watch_families / sizeof lw_watch_families[0];

const lw_watch_view_item_t lw_watch_table_columns[] = {
    {"RSS", LW_W_RSS, 8, 'b', NULL},          {"PSS", LW_W_PSS, 8, 'b', NULL},
    {"USS", LW_W_USS, 8, 'b', NULL},          {"SWAP", LW_W_SWAP, 7, 'b', NULL},
    {"VSIZE", LW_W_VSIZE, 8, 'b', NULL},      {"DATA", LW_W_DATA, 8, 'b', NULL},
    {"PEAK", LW_W_PEAK_RSS, 8, 'b', NULL},    {"FDS", LW_W_FDS, 6, 'n', NULL},
    {"THR", LW_W_THREADS, 5, 'n', NULL},      {"MINFLT/s", LW_W_MINOR_FAULTS_RATE, 9, 'r', NULL},
    {"MAJFLT/s", LW_W_MAJOR_FAULTS_RATE, 9, 'r', NULL}, {"CPU%", LW_W_CPU_PERCENT, 6, 'p', NULL},
    {"READ/s", LW_W_READ_RATE, 8, 'B', NULL}, {"WRITE/s", LW_W_WRITE_RATE, 8, 'B', NULL},
    {"CGROUP", LW_W_CG_CURRENT, 8, 'b', NULL}, {"CG-MAX", LW_W_CG_MAX, 8, 'b', NULL},
    {"OOM", LW_W_CG_OOM_KILLS, 4, 'n', NULL},
};
const size_t lw_watch_n_table_columns =
    sizeof lw_watch_table_columns / sizeof lw_watch_table_columns[0];

const lw_watch_view_item_t lw_watch_line_items[] = {
    {"rss", LW_W_RSS, 0, 'b', NULL},        {"pss", LW_W_PSS, 0, 'b', NULL},       {"uss", LW_W_USS, 0, 'b', NULL},
    {"swap", LW_W_SWAP, 0, 'b', NULL},      {"vsize", LW_W_VSIZE, 0, 'b', NULL},   {"data", LW_W_DATA, 0, 'b', NULL},
    {"peak", LW_W_PEAK_RSS, 0, 'b', NULL},
    {"fds", LW_W_FDS, 0, 'n', &fds_by_type},
    {"threads", LW_W_THREADS, 0, 'n', NULL},
    {"minflt/s", LW_W_MINOR_FAULTS_RATE, 0, 'r', NULL}, {"majflt/s", LW_W_MAJOR_FAULTS_RATE, 0, 'r', NULL},
    {"cpu", LW_W_CPU_PERCENT, 0, 'p', NULL}, {"read/s", LW_W_READ_RATE, 0, 'b', NULL},
    {"write/s", LW_W_WRITE_RATE, 0, 'b', NULL}, {"cgroup", LW_W_CG_CURRENT, 0, 'c', NULL},
    {"oom_kills", LW_W_CG_OOM_KILLS, 0, 'n', NULL},
};
const size_t lw_watch_n_line_items = sizeof lw_watch_line_items / sizeof lw_watch_line_items[0];
