/*
 * bench_fd_churn.c - descriptor create/close pairs, for the cost of fd tracking
 * (LEAKWATCH_TRACK_FDS=1, issue 6: <= 100 ns added per pair). Run by bench/leaks.sh with no
 * agent, the agent with tracking off, and with tracking on, in one go.
 *
 *   bench_fd_churn [--pairs N] [--kind eventfd|open|socket|pipe]
 *
 * The calls are made at stack depth 5 from -O2 code without frame pointers (the creating
 * stack is unwound on every create). Prints "pairs=N kind=K seconds=S ns_per_pair=X".
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char *kind = "eventfd";
volatile int sink;

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One create/close pair of the chosen kind; pipes make two descriptors (counted as one pair
 * of calls: pipe + two closes). */
__attribute__((noinline)) static void pair(void) {
  int fds[2] = {-1, -1};
  if (kind[0] == 'e')
    fds[0] = eventfd(0, EFD_CLOEXEC);
  else if (kind[0] == 'o')
    fds[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
  else if (kind[0] == 's')
    fds[0] = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  else if (pipe(fds) != 0)
    fds[0] = -1;
  if (fds[0] < 0) {
    perror(kind);
    exit(1);
  }
  close(fds[0]);
  if (fds[1] >= 0)
    close(fds[1]);
  sink++;
}

__attribute__((noinline)) static void depth3(long n) {
  for (long i = 0; i < n; i++)
    pair();
  sink++;
}
__attribute__((noinline)) static void depth2(long n) { depth3(n); sink++; }
__attribute__((noinline)) static void depth1(long n) { depth2(n); sink++; }

int main(int argc, char **argv) {
  long pairs = 1000000;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--pairs") == 0 && i + 1 < argc)
      pairs = atol(argv[++i]);
    else if (strcmp(argv[i], "--kind") == 0 && i + 1 < argc)
      kind = argv[++i];
    else {
      fprintf(stderr, "usage: bench_fd_churn [--pairs N] [--kind eventfd|open|socket|pipe]\n");
      return 2;
    }
  }
  depth1(10000); /* warm: the unwinder's cache, the fd table's pages */
  double start = now_seconds();
  depth1(pairs);
  double seconds = now_seconds() - start;
  printf("pairs=%ld kind=%s seconds=%.3f ns_per_pair=%.1f\n", pairs, kind, seconds,
         seconds * 1e9 / (double)pairs);
  return 0;
}
