/*
 * bench_watch.c - what watching processes from outside costs: starts N sleeping processes,
 * runs `leakwatch watch --interval 1s` on all of them for a fixed time, and reports the
 * watcher's CPU use (user + system from wait4) as percent of one core, median of several
 * runs. The bar: 100 processes every second for at most 1% of one core.
 *
 *   build/bench/bench_watch [--processes N] [--seconds S] [--runs R] [--interval D]
 *                           [--leakwatch PATH] [-- EXTRA WATCH OPTIONS...]
 * Defaults: 100 processes, 60 s, 3 runs, 1s. Prints the exact watch command and a table.
 * Output goes to /dev/null (plain lines); add e.g. `-- --csv /tmp/w.csv` to include a file.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int compare(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* leakwatch beside this binary: build/bench/.. -> build/bin/leakwatch */
static void default_leakwatch(char *out, size_t size) {
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) {
    snprintf(out, size, "leakwatch");
    return;
  }
  self[n] = '\0';
  char *slash = strrchr(self, '/');
  if (slash)
    *slash = '\0';
  snprintf(out, size, "%s/../bin/leakwatch", self);
}

int main(int argc, char **argv) {
  int processes = 100, seconds = 60, runs = 3;
  const char *interval = "1s";
  char leakwatch[PATH_MAX + 32];
  default_leakwatch(leakwatch, sizeof leakwatch);
  int extra = argc;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--") == 0) {
      extra = i + 1;
      break;
    }
    if (i + 1 >= argc) {
      fprintf(stderr, "bench_watch: %s needs a value\n", argv[i]);
      return 2;
    }
    if (strcmp(argv[i], "--processes") == 0)
      processes = atoi(argv[++i]);
    else if (strcmp(argv[i], "--seconds") == 0)
      seconds = atoi(argv[++i]);
    else if (strcmp(argv[i], "--runs") == 0)
      runs = atoi(argv[++i]);
    else if (strcmp(argv[i], "--interval") == 0)
      interval = argv[++i];
    else if (strcmp(argv[i], "--leakwatch") == 0)
      snprintf(leakwatch, sizeof leakwatch, "%s", argv[++i]);
    else {
      fprintf(stderr, "bench_watch: unknown option %s (see the file header)\n", argv[i]);
      return 2;
    }
  }
  if (processes < 1 || processes > 4000 || seconds < 1 || runs < 1 || runs > 50) {
    fprintf(stderr, "bench_watch: out of range\n");
    return 2;
  }
  if (access(leakwatch, X_OK) != 0) {
    fprintf(stderr, "bench_watch: %s: %s (build first, or --leakwatch PATH)\n", leakwatch,
            strerror(errno));
    return 1;
  }

  pid_t *sleepers = calloc((size_t)processes, sizeof *sleepers);
  char **watch_argv = calloc((size_t)(processes + argc + 16), sizeof *watch_argv);
  if (!sleepers || !watch_argv)
    return 1;
  for (int i = 0; i < processes; i++) {
    sleepers[i] = fork();
    if (sleepers[i] == 0) {
      execl("/bin/sleep", "sleep", "100000", (char *)NULL);
      _exit(127);
    }
    if (sleepers[i] < 0) {
      fprintf(stderr, "bench_watch: fork: %s\n", strerror(errno));
      return 1;
    }
  }
  usleep(200 * 1000); /* let them exec */

  char duration[32];
  snprintf(duration, sizeof duration, "%ds", seconds);
  int a = 0;
  watch_argv[a++] = leakwatch;
  watch_argv[a++] = "watch";
  watch_argv[a++] = "--interval";
  watch_argv[a++] = (char *)interval;
  watch_argv[a++] = "--duration";
  watch_argv[a++] = duration;
  watch_argv[a++] = "--plain";
  for (int i = extra; i < argc; i++)
    watch_argv[a++] = argv[i];
  char (*pid_text)[16] = calloc((size_t)processes, sizeof *pid_text);
  for (int i = 0; i < processes; i++) {
    snprintf(pid_text[i], sizeof pid_text[i], "%d", (int)sleepers[i]);
    watch_argv[a++] = pid_text[i];
  }
  watch_argv[a] = NULL;

  printf("command: leakwatch watch --interval %s --duration %s --plain", interval, duration);
  for (int i = extra; i < argc; i++)
    printf(" %s", argv[i]);
  printf(" <%d sleeping pids> > /dev/null\n", processes);
  printf("%-5s %10s %10s %10s %12s %14s\n", "run", "wall s", "user s", "sys s", "% of a core",
         "ms per sample");
  double *percent = calloc((size_t)runs, sizeof *percent);
  int status_all = 0;
  for (int r = 0; r < runs; r++) {
    double start = now();
    pid_t pid = fork();
    if (pid == 0) {
      int null = open("/dev/null", O_WRONLY);
      if (null >= 0)
        dup2(null, STDOUT_FILENO);
      execv(leakwatch, watch_argv);
      _exit(127);
    }
    int status;
    struct rusage usage;
    if (pid < 0 || wait4(pid, &status, 0, &usage) != pid) {
      fprintf(stderr, "bench_watch: cannot run leakwatch\n");
      return 1;
    }
    double wall = now() - start;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      fprintf(stderr, "bench_watch: leakwatch exited with status %d\n", status);
      status_all = 1;
    }
    double user = (double)usage.ru_utime.tv_sec + (double)usage.ru_utime.tv_usec / 1e6;
    double sys = (double)usage.ru_stime.tv_sec + (double)usage.ru_stime.tv_usec / 1e6;
    percent[r] = (user + sys) / wall * 100;
    /* One sample of all processes per interval (interval assumed 1s unless given). */
    double samples = wall / (strcmp(interval, "1s") == 0 ? 1.0 : atof(interval));
    printf("%-5d %10.2f %10.3f %10.3f %12.3f %14.3f\n", r + 1, wall, user, sys, percent[r],
           (user + sys) / (samples > 0 ? samples : 1) * 1000);
    fflush(stdout);
  }
  qsort(percent, (size_t)runs, sizeof *percent, compare);
  printf("median: %.3f%% of one core for %d processes every %s\n", percent[runs / 2],
         processes, interval);
  for (int i = 0; i < processes; i++)
    kill(sleepers[i], SIGKILL);
  for (int i = 0; i < processes; i++)
    waitpid(sleepers[i], NULL, 0);
  free(sleepers);
  free(watch_argv);
  free(pid_text);
  free(percent);
  return status_all;
}
