/*
 * watch_sample_windows.c - one sample of a Windows process (see watch_sample.h and
 * watch_sample_windows.h): working set, private bytes, pagefile, page faults, handles by
 * type, threads, GDI/USER objects, I/O bytes and CPU, with rates against the previous
 * sample. Values come from src/platform/windows/win_counters.c.
 */
#include "cli/watch_sample.h"

#include <windows.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli/os_process.h"

int lw_watch_sampler_init(lw_watch_sampler_t *sampler, bool fd_types, bool smaps) {
  memset(sampler, 0, sizeof *sampler);
  sampler->fd_types = fd_types;
  sampler->smaps = smaps;
  sampler->smaps_every = 10;
  return 0;
}

void lw_watch_sampler_begin(lw_watch_sampler_t *sampler) { sampler->tick++; }

int lw_watch_target_open(lw_watch_sampler_t *sampler, lw_watch_target_t *target, int pid) {
  (void)sampler;
  memset(target, 0, sizeof *target);
  target->pid = pid;
  int error = 0;
  target->process = lw_win_process_open((uint32_t)pid, &target->can_dup, &error);
  target->opened = target->process != NULL;
  return target->opened ? 0 : error;
}

void lw_watch_target_close(lw_watch_target_t *target) {
  if (target->opened)
    lw_win_process_close(target->process);
  target->process = NULL;
  target->opened = false;
}

int lw_watch_sample(lw_watch_sampler_t *sampler, lw_watch_target_t *target,
                    const lw_watch_sample_t *prev, lw_watch_sample_t *out, unsigned *denied) {
  memset(out, 0, sizeof *out);
  *denied = 0;
  out->pid = target->pid;
  out->time_unix = lw_os_wall_now();
  out->time_mono = lw_os_mono_now();
  if (!target->opened)
    return -ESRCH;
  if (sampler->processes_tick != sampler->tick) {
    if (lw_win_process_list_read(&sampler->processes) == 0)
      sampler->processes_tick = sampler->tick;
  }
  const lw_win_process_entry_t *entry =
      sampler->processes_tick == sampler->tick
          ? lw_win_process_list_find(&sampler->processes, (uint32_t)target->pid)
          : NULL;
  if (entry) {
    snprintf(out->comm, sizeof out->comm, "%s", entry->name);
    lw_watch_set(out, LW_W_THREADS, entry->threads);
  } else if (prev) {
    snprintf(out->comm, sizeof out->comm, "%s", prev->comm);
  }

  lw_win_counters_t c;
  if (lw_win_counters_read(target->process, &c) != 0)
    return -ESRCH;
  if (c.has_memory) {
    lw_watch_set(out, LW_W_RSS, (double)c.working_set);
    lw_watch_set(out, LW_W_PEAK_RSS, (double)c.peak_working_set);
    lw_watch_set(out, LW_W_PRIVATE, (double)c.private_bytes);
    lw_watch_set(out, LW_W_PAGEFILE, (double)c.pagefile);
    lw_watch_set(out, LW_W_PEAK_PAGEFILE, (double)c.peak_pagefile);
    if (c.virtual_size)
      lw_watch_set(out, LW_W_VSIZE, (double)c.virtual_size);
    lw_watch_set(out, LW_W_PAGE_FAULTS, (double)c.page_faults);
  }
  if (c.has_gui) {
    lw_watch_set(out, LW_W_GDI_OBJECTS, (double)c.gdi_objects);
    lw_watch_set(out, LW_W_USER_OBJECTS, (double)c.user_objects);
  }
  if (c.has_io) {
    lw_watch_set(out, LW_W_READ_BYTES, (double)c.read_bytes);
    lw_watch_set(out, LW_W_WRITE_BYTES, (double)c.write_bytes);
  }
  if (c.has_times) {
    lw_watch_set(out, LW_W_CPU_SECONDS, c.cpu_seconds);
    lw_watch_set(out, LW_W_START_TIME, c.start_unix);
  }

  /* Handles: the system table gives the total and the types; GetProcessHandleCount (a
   * stub under wine) is the fallback for the total. */
  bool have_table = false;
  if (sampler->fd_types) {
    if (sampler->handles_tick != sampler->tick) {
      sampler->handles_error = lw_win_handle_table_read(&sampler->handles);
      sampler->handles_tick = sampler->tick;
    }
    have_table = sampler->handles_error == 0;
  }
  if (have_table) {
    uint64_t by_type[LW_HANDLE_TYPE_COUNT];
    uint64_t total = lw_win_handle_table_count(&sampler->handles, (uint32_t)target->pid,
                                               target->can_dup ? target->process : NULL, by_type);
    if (c.has_handle_count && c.handle_count > total)
      total = c.handle_count;
    lw_watch_set(out, LW_W_HANDLES, (double)total);
    for (int t = 0; t < LW_HANDLE_TYPE_COUNT; t++)
      lw_watch_set(out, LW_W_HANDLES_TYPE + t, (double)by_type[t]);
    if (!target->can_dup)
      *denied |= LW_DENIED_FDS;
  } else if (c.has_handle_count) {
    lw_watch_set(out, LW_W_HANDLES, (double)c.handle_count);
  }

  lw_watch_rate(out, prev, LW_W_PAGE_FAULTS, LW_W_PAGE_FAULTS_RATE, 1);
  lw_watch_rate(out, prev, LW_W_CPU_SECONDS, LW_W_CPU_PERCENT, 100);
  lw_watch_rate(out, prev, LW_W_READ_BYTES, LW_W_READ_RATE, 1);
  lw_watch_rate(out, prev, LW_W_WRITE_BYTES, LW_W_WRITE_RATE, 1);
  return 0;
}

void lw_watch_denied_text(unsigned denied, char *out, size_t size) {
  snprintf(out, size, "%s", denied & LW_DENIED_FDS ? "handle types (PROCESS_DUP_HANDLE)" : "");
}

const char *const lw_watch_denied_fix = "run as the process's user or as an administrator";

void lw_watch_denied_where(const lw_watch_target_t *target, char *out, size_t size) {
  snprintf(out, size, "process %d", target->pid);
}
