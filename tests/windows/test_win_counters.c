/*
 * test_win_counters.c - the Windows counters move when a process allocates, leaks handles
 * and starts threads (fixtures/handle_leaker.exe), read the way `leakwatch watch` reads
 * them (win_counters.h). Counters wine leaves at zero (page faults, GDI/USER objects, I/O
 * bytes, GetProcessHandleCount) are asserted only on real Windows; under wine the test says
 * so and why.
 */
#include <windows.h>
#include <stdio.h>
#include <string.h>

#include "lwtest_windows.h"
#include "platform/windows/win_counters.h"
#include "platform/windows/win_spawn.h"

typedef struct {
  lw_win_counters_t c;
  uint64_t handles, by_type[LW_HANDLE_TYPE_COUNT];
  uint32_t threads;
} snapshot_t;

static void take(HANDLE process, uint32_t pid, snapshot_t *s) {
  memset(s, 0, sizeof *s);
  CHECK(lw_win_counters_read(process, &s->c) == 0, "counters of pid %u", pid);
  lw_win_handle_table_t table = {0};
  CHECK(lw_win_handle_table_read(&table) == 0, "system handle table");
  s->handles = lw_win_handle_table_count(&table, pid, process, s->by_type);
  lw_win_handle_table_free(&table);
  lw_win_process_list_t list = {0};
  CHECK(lw_win_process_list_read(&list) == 0, "process snapshot");
  const lw_win_process_entry_t *e = lw_win_process_list_find(&list, pid);
  CHECK(e != NULL, "pid %u in the snapshot", pid);
  if (e) {
    s->threads = e->threads;
    CHECK(strcmp(e->name, "handle_leaker.exe") == 0, "name is %s", e->name);
  }
  lw_win_process_list_free(&list);
}

int main(int argc, char **argv) {
  const char *wine_version = NULL;
  bool wine = lw_win_is_wine(&wine_version);
  printf("running on %s%s\n", wine ? "wine " : "Windows", wine ? wine_version : "");
  char fixture[MAX_PATH];
  snprintf(fixture, sizeof fixture, "%s", argv[0]);
  char *slash = strrchr(fixture, '\\') ? strrchr(fixture, '\\') : strrchr(fixture, '/');
  snprintf(slash ? slash + 1 : fixture, sizeof fixture - (size_t)(slash ? slash + 1 - fixture : 0),
           "fixtures\\handle_leaker.exe");
  (void)argc;
  /* 2 steps with time to sample before and after, then linger. */
  char *child_argv[] = {fixture, "3", "600", "8000", NULL};
  lw_win_child_t child;
  int rc = lw_win_spawn(child_argv, NULL, false, &child);
  CHECK(rc == 0, "start %s: %d", fixture, rc);
  if (rc != 0)
    return lw_test_finish();
  Sleep(150); /* inside step 1 */
  bool can_dup;
  int error;
  HANDLE process = lw_win_process_open(child.pid, &can_dup, &error);
  CHECK(process != NULL && can_dup, "open pid %u: %d", child.pid, error);
  snapshot_t before, after;
  take(process, child.pid, &before);
  Sleep(2200); /* all 3 steps done */
  take(process, child.pid, &after);

  printf("working set %llu -> %llu, private %llu -> %llu, pagefile %llu -> %llu\n",
         (unsigned long long)before.c.working_set, (unsigned long long)after.c.working_set,
         (unsigned long long)before.c.private_bytes, (unsigned long long)after.c.private_bytes,
         (unsigned long long)before.c.pagefile, (unsigned long long)after.c.pagefile);
  printf("handles %llu -> %llu (event %llu -> %llu, file %llu -> %llu), threads %u -> %u\n",
         (unsigned long long)before.handles, (unsigned long long)after.handles,
         (unsigned long long)before.by_type[LW_HANDLE_EVENT],
         (unsigned long long)after.by_type[LW_HANDLE_EVENT],
         (unsigned long long)before.by_type[LW_HANDLE_FILE],
         (unsigned long long)after.by_type[LW_HANDLE_FILE], before.threads, after.threads);
  const uint64_t step_bytes = 8u << 20;
  CHECK(after.c.working_set >= before.c.working_set + step_bytes, "working set grew by >= 8 MiB");
  CHECK(after.c.peak_working_set >= after.c.working_set, "peak >= current");
  CHECK(after.c.private_bytes >= before.c.private_bytes + step_bytes, "private bytes grew");
  CHECK(after.c.pagefile >= before.c.pagefile + step_bytes, "pagefile usage grew");
  CHECK(after.by_type[LW_HANDLE_EVENT] >= before.by_type[LW_HANDLE_EVENT] + 400,
        "400 more events (2 steps of 200)");
  CHECK(after.by_type[LW_HANDLE_EVENT] >= 600, "600 events in all");
  CHECK(after.by_type[LW_HANDLE_FILE] >= before.by_type[LW_HANDLE_FILE] + 40, "40 more files");
  CHECK(after.by_type[LW_HANDLE_THREAD] >= before.by_type[LW_HANDLE_THREAD] + 4, "thread handles");
  CHECK(after.handles >= before.handles + 444, "total handles grew with them");
  CHECK(after.threads >= before.threads + 4 && after.threads >= 7, "threads %u", after.threads);
  CHECK(after.c.has_times && after.c.start_unix > 1.5e9, "start time %f", after.c.start_unix);
  if (wine) {
    const char *why = "wine 8 stubs it";
    SKIP_CHECK("page faults grow: PageFaultCount is always 0 under wine (%s)", why);
    SKIP_CHECK("GDI/USER objects: GetGuiResources is a stub returning 0 under wine");
    SKIP_CHECK("I/O bytes: GetProcessIoCounters reports 0 under wine");
    SKIP_CHECK("GetProcessHandleCount: returns TRUE and 0 under wine (the total comes from the "
               "system handle table instead)");
  } else {
    CHECK(after.c.page_faults > before.c.page_faults + 2048, "page faults from touching 16 MiB");
    CHECK(after.c.has_handle_count && after.c.handle_count >= after.handles - 10,
          "GetProcessHandleCount %llu agrees", (unsigned long long)after.c.handle_count);
    CHECK(after.c.has_io, "I/O counters readable");
    CHECK(after.c.has_gui, "GUI counters readable");
  }
  TerminateProcess(child.process, 0);
  WaitForSingleObject(child.process, 5000);
  lw_win_counters_t gone;
  CHECK(lw_win_counters_read(process, &gone) == -ESRCH, "an exited process reads as gone");
  lw_win_process_close(process);
  CloseHandle(child.process);
  CloseHandle(child.thread);
  return lw_test_finish();
}
