/*
 * bench_proc_reads.c - the cost of each read the outside watcher makes for one process and
 * sample, so the total in docs/PERFORMANCE.md can be explained and extrapolated to bigger
 * processes: every /proc/<pid> file through a kept-open descriptor (pread), the fd listing
 * with and without types, the memory cgroup's files, and the parsers.
 *
 *   build/bench/bench_proc_reads [PID] [ITERATIONS]
 * Without a PID it starts `sleep` and measures that. Prints microseconds per call.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/cgroup.h"
#include "common/procfs.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  pid_t child = 0;
  int pid = argc > 1 ? atoi(argv[1]) : 0;
  int iterations = argc > 2 ? atoi(argv[2]) : 20000;
  if (pid <= 0) {
    child = fork();
    if (child == 0) {
      execl("/bin/sleep", "sleep", "1000", (char *)NULL);
      _exit(127);
    }
    pid = child;
    usleep(100000);
  }
  lw_proc_handle_t h;
  if (lw_proc_open(&h, "/proc", pid, true) != 0) {
    fprintf(stderr, "bench_proc_reads: no process %d\n", pid);
    return 1;
  }
  static char buf[65536], scratch[32768];
  printf("pid %d, %d iterations, microseconds per call\n", pid, iterations);
  for (int f = 0; f < LW_PROC_FILE_COUNT; f++) {
    double t = now();
    for (int i = 0; i < iterations; i++)
      (void)lw_proc_read(&h, (lw_proc_file_t)f, buf, sizeof buf);
    printf("  pread %-13s %8.2f\n", lw_proc_file_name((lw_proc_file_t)f),
           (now() - t) / iterations * 1e6);
  }
  lw_proc_fds_t fds;
  double t = now();
  for (int i = 0; i < iterations; i++)
    (void)lw_proc_read_fds(&h, true, scratch, sizeof scratch, &fds);
  printf("  fd/ with types      %8.2f  (%llu descriptors)\n", (now() - t) / iterations * 1e6,
         (unsigned long long)fds.total);
  t = now();
  for (int i = 0; i < iterations; i++)
    (void)lw_proc_read_fds(&h, false, scratch, sizeof scratch, &fds);
  printf("  fd/ count only      %8.2f\n", (now() - t) / iterations * 1e6);

  ssize_t n = lw_proc_read(&h, LW_PROC_STATUS, buf, sizeof buf);
  lw_proc_status_t status;
  t = now();
  for (int i = 0; i < iterations; i++)
    (void)lw_procfs_parse_status(buf, n > 0 ? (size_t)n : 0, &status);
  printf("  parse status        %8.2f\n", (now() - t) / iterations * 1e6);
  n = lw_proc_read(&h, LW_PROC_STAT, buf, sizeof buf);
  lw_proc_stat_t st;
  t = now();
  for (int i = 0; i < iterations; i++)
    (void)lw_procfs_parse_stat(buf, n > 0 ? (size_t)n : 0, &st);
  printf("  parse stat          %8.2f\n", (now() - t) / iterations * 1e6);

  lw_cgroup_mounts_t mounts;
  char v2[LW_CGROUP_PATH_MAX], v1[LW_CGROUP_PATH_MAX];
  lw_cgroup_t cg;
  n = lw_proc_read(&h, LW_PROC_CGROUP, buf, sizeof buf);
  if (lw_cgroup_detect(&mounts) == 0 && n > 0 &&
      lw_procfs_parse_cgroup(buf, (size_t)n, v2, sizeof v2, v1, sizeof v1) == 0 &&
      lw_cgroup_resolve(&mounts, v2, v1, &cg) == 0) {
    lw_cgroup_memory_t mem;
    int k = iterations / 10;
    t = now();
    for (int i = 0; i < k; i++)
      (void)lw_cgroup_read_memory(&cg, &mem);
    printf("  cgroup v%d memory    %8.2f  (once per group and round)\n", cg.version,
           (now() - t) / k * 1e6);
  }
  lw_proc_close(&h);
  if (child > 0) {
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
  }
  return 0;
}
