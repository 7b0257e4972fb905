/*
 * watch_metrics_windows.c - the tables of watch_metrics.h for Windows: Task Manager's,
 * PerfMon's and Process Explorer's counters (watch_sample_windows.c fills them). The Linux
 * build has watch_metrics.c. CSV/JSONL keys end with their unit as on Linux; exporter
 * families follow client_golang's process collector where it has a name (its Windows
 * collector also reports the working set as process_resident_memory_bytes).
 */
#include "cli/watch_metrics.h"

static const char *handle_type_key(int type) { return lw_handle_type_key((lw_handle_type_t)type); }
static const char *handle_type_name(int type) { return lw_handle_type_name((lw_handle_type_t)type); }
static const lw_watch_breakdown_t handles_by_key = {LW_W_HANDLES_TYPE, LW_HANDLE_TYPE_COUNT,
                                                    handle_type_key};
static const lw_watch_breakdown_t handles_by_name = {LW_W_HANDLES_TYPE, LW_HANDLE_TYPE_COUNT,
                                                     handle_type_name};

#define HANDLE_COLUMN(type, key)                                                         \
  {"handles_" key, LW_W_HANDLES_TYPE + type, false, false,                               \
   "open handles to objects of this type (system handle table), count"}

const lw_watch_column_t lw_watch_columns[] = {
    {"working_set_bytes", LW_W_RSS, true, false, "working set (WorkingSetSize), bytes"},
    {"peak_working_set_bytes", LW_W_PEAK_RSS, true, false,
     "peak working set (PeakWorkingSetSize), bytes"},
    {"private_bytes", LW_W_PRIVATE, true, false,
     "private bytes: memory committed to this process alone (PrivateUsage), bytes"},
    {"pagefile_bytes", LW_W_PAGEFILE, true, false, "pagefile usage (PagefileUsage), bytes"},
    {"peak_pagefile_bytes", LW_W_PEAK_PAGEFILE, true, false,
     "peak pagefile usage (PeakPagefileUsage), bytes"},
    {"virtual_bytes", LW_W_VSIZE, true, false, "virtual address space (VirtualSize), bytes"},
    {"handles", LW_W_HANDLES, false, false, "open handles, count"},
    HANDLE_COLUMN(LW_HANDLE_EVENT, "event"),
    HANDLE_COLUMN(LW_HANDLE_FILE, "file"),
    HANDLE_COLUMN(LW_HANDLE_KEY, "key"),
    HANDLE_COLUMN(LW_HANDLE_MUTANT, "mutant"),
    HANDLE_COLUMN(LW_HANDLE_SEMAPHORE, "semaphore"),
    HANDLE_COLUMN(LW_HANDLE_SECTION, "section"),
    HANDLE_COLUMN(LW_HANDLE_THREAD, "thread"),
    HANDLE_COLUMN(LW_HANDLE_PROCESS, "process"),
    HANDLE_COLUMN(LW_HANDLE_TOKEN, "token"),
    HANDLE_COLUMN(LW_HANDLE_TIMER, "timer"),
    HANDLE_COLUMN(LW_HANDLE_IO_COMPLETION, "io_completion"),
    HANDLE_COLUMN(LW_HANDLE_DIRECTORY, "directory"),
    HANDLE_COLUMN(LW_HANDLE_ALPC_PORT, "alpc_port"),
    HANDLE_COLUMN(LW_HANDLE_DESKTOP, "desktop"),
    HANDLE_COLUMN(LW_HANDLE_WINDOW_STATION, "window_station"),
    HANDLE_COLUMN(LW_HANDLE_OTHER, "other"),
    {"threads", LW_W_THREADS, false, false, "threads, count"},
    {"gdi_objects", LW_W_GDI_OBJECTS, false, false, "GDI objects (GetGuiResources), count"},
    {"user_objects", LW_W_USER_OBJECTS, false, false, "USER objects (GetGuiResources), count"},
    {"page_faults_per_second", LW_W_PAGE_FAULTS_RATE, false, true,
     "page faults (soft and hard, PageFaultCount) per second over the last interval"},
    {"cpu_percent", LW_W_CPU_PERCENT, false, true,
     "CPU time (user + kernel) as percent of one CPU over the last interval; 100 = one core"},
    {"read_bytes_per_second", LW_W_READ_RATE, true, true,
     "bytes read by I/O operations (ReadTransferCount) per second"},
    {"write_bytes_per_second", LW_W_WRITE_RATE, true, true,
     "bytes written by I/O operations (WriteTransferCount) per second"},
};
const size_t lw_watch_n_columns = sizeof lw_watch_columns / sizeof lw_watch_columns[0];

#define HANDLE_RULE(key, name)                                                           \
  {"handles_" key, LW_UNIT_COUNT, false, true, "process_open_handles_by_type{type=\"" name "\"}"}

const lw_alert_metric_t lw_watch_rule_metrics[] = {
    {"working_set", LW_UNIT_BYTES, false, true, "process_resident_memory_bytes"},
    {"peak_working_set", LW_UNIT_BYTES, false, true, "process_resident_memory_max_bytes"},
    {"private_bytes", LW_UNIT_BYTES, false, true, "process_private_memory_bytes"},
    {"pagefile", LW_UNIT_BYTES, false, true, "process_pagefile_bytes"},
    {"virtual", LW_UNIT_BYTES, false, true, "process_virtual_memory_bytes"},
    {"handles", LW_UNIT_COUNT, false, true, "process_open_handles"},
    HANDLE_RULE("event", "Event"),
    HANDLE_RULE("file", "File"),
    HANDLE_RULE("key", "Key"),
    HANDLE_RULE("mutant", "Mutant"),
    HANDLE_RULE("semaphore", "Semaphore"),
    HANDLE_RULE("section", "Section"),
    HANDLE_RULE("thread", "Thread"),
    HANDLE_RULE("process", "Process"),
    HANDLE_RULE("token", "Token"),
    HANDLE_RULE("timer", "Timer"),
    HANDLE_RULE("io_completion", "IoCompletion"),
    HANDLE_RULE("directory", "Directory"),
    HANDLE_RULE("alpc_port", "ALPC Port"),
    HANDLE_RULE("desktop", "Desktop"),
    HANDLE_RULE("window_station", "WindowStation"),
    HANDLE_RULE("other", "Other"),
    {"threads", LW_UNIT_COUNT, false, true, "process_threads"},
    {"gdi_objects", LW_UNIT_COUNT, false, true, "process_gdi_objects"},
    {"user_objects", LW_UNIT_COUNT, false, true, "process_user_objects"},
    {"cpu", LW_UNIT_PERCENT, false, false, "rate(process_cpu_seconds_total[1m]) * 100"},
    {"page_faults", LW_UNIT_COUNT, true, true, "process_page_faults_total"},
    {"read_bytes", LW_UNIT_BYTES, true, true, "process_read_bytes_total"},
    {"write_bytes", LW_UNIT_BYTES, true, true, "process_write_bytes_total"},
};
const lw_watch_field_t lw_watch_rule_fields[] = {
    LW_W_RSS,
    LW_W_PEAK_RSS,
    LW_W_PRIVATE,
    LW_W_PAGEFILE,
    LW_W_VSIZE,
    LW_W_HANDLES,
    LW_W_HANDLES_TYPE + LW_HANDLE_EVENT,
    LW_W_HANDLES_TYPE + LW_HANDLE_FILE,
    LW_W_HANDLES_TYPE + LW_HANDLE_KEY,
    LW_W_HANDLES_TYPE + LW_HANDLE_MUTANT,
    LW_W_HANDLES_TYPE + LW_HANDLE_SEMAPHORE,
    LW_W_HANDLES_TYPE + LW_HANDLE_SECTION,
    LW_W_HANDLES_TYPE + LW_HANDLE_THREAD,
    LW_W_HANDLES_TYPE + LW_HANDLE_PROCESS,
    LW_W_HANDLES_TYPE + LW_HANDLE_TOKEN,
    LW_W_HANDLES_TYPE + LW_HANDLE_TIMER,
    LW_W_HANDLES_TYPE + LW_HANDLE_IO_COMPLETION,
    LW_W_HANDLES_TYPE + LW_HANDLE_DIRECTORY,
    LW_W_HANDLES_TYPE + LW_HANDLE_ALPC_PORT,
    LW_W_HANDLES_TYPE + LW_HANDLE_DESKTOP,
    LW_W_HANDLES_TYPE + LW_HANDLE_WINDOW_STATION,
    LW_W_HANDLES_TYPE + LW_HANDLE_OTHER,
    LW_W_THREADS,
    LW_W_GDI_OBJECTS,
    LW_W_USER_OBJECTS,
    LW_W_CPU_PERCENT,
    LW_W_PAGE_FAULTS,
    LW_W_READ_BYTES,
    LW_W_WRITE_BYTES,
};
const size_t lw_watch_n_rule_metrics = sizeof lw_watch_rule_metrics / sizeof lw_watch_rule_metrics[0];

const lw_watch_trended_t lw_watch_trended[LW_WATCH_N_TRENDED] = {
    {"working_set", LW_W_RSS, true}, {"private_bytes", LW_W_PRIVATE, true},
    {"pagefile", LW_W_PAGEFILE, true}, {"virtual", LW_W_VSIZE, true},
    {"handles", LW_W_HANDLES, false}, {"threads", LW_W_THREADS, false},
    {"gdi_objects", LW_W_GDI_OBJECTS, false}, {"user_objects", LW_W_USER_OBJECTS, false},
};
const size_t lw_watch_n_trended = sizeof lw_watch_trended / sizeof lw_watch_trended[0];

const lw_watch_family_t lw_watch_families[] = {
    {"process_resident_memory_bytes", false, "Working set size in bytes.", LW_W_RSS, NULL},
    {"process_resident_memory_max_bytes", false, "Peak working set size in bytes.",
     LW_W_PEAK_RSS, NULL},
    {"process_private_memory_bytes", false,
     "Private bytes: memory committed to the process alone (PrivateUsage).", LW_W_PRIVATE, NULL},
    {"process_pagefile_bytes", false, "Pagefile usage in bytes.", LW_W_PAGEFILE, NULL},
    {"process_pagefile_max_bytes", false, "Peak pagefile usage in bytes.", LW_W_PEAK_PAGEFILE,
     NULL},
    {"process_virtual_memory_bytes", false, "Virtual memory size in bytes.", LW_W_VSIZE, NULL},
    {"process_open_handles", false, "Number of open handles.", LW_W_HANDLES, NULL},
    {"process_open_handles_by_type", false,
     "Open handles by object type (Event, File, Key, Mutant, Section, Thread, ...).",
     LW_W_HANDLES_TYPE, &handles_by_name},
    {"process_threads", false, "Number of threads.", LW_W_THREADS, NULL},
    {"process_gdi_objects", false, "GDI objects in use.", LW_W_GDI_OBJECTS, NULL},
    {"process_user_objects", false, "USER objects in use.", LW_W_USER_OBJECTS, NULL},
    {"process_cpu_seconds_total", true, "Total user and kernel CPU time spent in seconds.",
     LW_W_CPU_SECONDS, NULL},
    {"process_page_faults_total", true, "Page faults, soft and hard (PageFaultCount).",
     LW_W_PAGE_FAULTS, NULL},
    {"process_read_bytes_total", true, "Bytes read by I/O operations (ReadTransferCount).",
     LW_W_READ_BYTES, NULL},
    {"process_write_bytes_total", true, "Bytes written by I/O operations (WriteTransferCount).",
     LW_W_WRITE_BYTES, NULL},
    {"process_start_time_seconds", false, "Start time of the process since unix epoch in seconds.",
     LW_W_START_TIME, NULL},
};
const size_t lw_watch_n_families = sizeof lw_watch_families / sizeof lw_watch_families[0];

const lw_watch_view_item_t lw_watch_table_columns[] = {
    {"WS", LW_W_RSS, 8, 'b', NULL},         {"PRIVATE", LW_W_PRIVATE, 8, 'b', NULL},
    {"PAGEFILE", LW_W_PAGEFILE, 8, 'b', NULL}, {"PEAK-WS", LW_W_PEAK_RSS, 8, 'b', NULL},
    {"HANDLES", LW_W_HANDLES, 7, 'n', NULL}, {"THR", LW_W_THREADS, 5, 'n', NULL},
    {"GDI", LW_W_GDI_OBJECTS, 5, 'n', NULL}, {"USER", LW_W_USER_OBJECTS, 5, 'n', NULL},
    {"PF/s", LW_W_PAGE_FAULTS_RATE, 8, 'r', NULL}, {"CPU%", LW_W_CPU_PERCENT, 6, 'p', NULL},
    {"READ/s", LW_W_READ_RATE, 8, 'B', NULL}, {"WRITE/s", LW_W_WRITE_RATE, 8, 'B', NULL},
};
const size_t lw_watch_n_table_columns =
    sizeof lw_watch_table_columns / sizeof lw_watch_table_columns[0];

const lw_watch_view_item_t lw_watch_line_items[] = {
    {"ws", LW_W_RSS, 0, 'b', NULL},          {"private", LW_W_PRIVATE, 0, 'b', NULL},
    {"pagefile", LW_W_PAGEFILE, 0, 'b', NULL}, {"peak_ws", LW_W_PEAK_RSS, 0, 'b', NULL},
    {"virtual", LW_W_VSIZE, 0, 'b', NULL},
    {"handles", LW_W_HANDLES, 0, 'n', &handles_by_key},
    {"threads", LW_W_THREADS, 0, 'n', NULL}, {"gdi", LW_W_GDI_OBJECTS, 0, 'n', NULL},
    {"user", LW_W_USER_OBJECTS, 0, 'n', NULL}, {"pf/s", LW_W_PAGE_FAULTS_RATE, 0, 'r', NULL},
    {"cpu", LW_W_CPU_PERCENT, 0, 'p', NULL}, {"read/s", LW_W_READ_RATE, 0, 'b', NULL},
    {"write/s", LW_W_WRITE_RATE, 0, 'b', NULL},
};
const size_t lw_watch_n_line_items = sizeof lw_watch_line_items / sizeof lw_watch_line_items[0];
