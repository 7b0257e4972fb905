/*
 * replay.c - runs a libFuzzer entry point over corpus files without libFuzzer, so every
 * normal (gcc) build replays the seed corpora under ctest (sqlite's fuzzcheck idea).
 *
 *   replay_<target> DIR_OR_FILE...
 * Prints one line per input that crashes (the signal handler names it) and a summary.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *current = "(none)";

static void on_crash(int sig) {
  char msg[600];
  int n = snprintf(msg, sizeof msg, "replay: signal %d while running %s\n", sig, current);
  (void)!write(2, msg, (size_t)(n > 0 ? n : 0));
  _exit(1);
}

static int run_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "replay: cannot open %s\n", path);
    return -1;
  }
  static uint8_t data[1 << 20];
  size_t n = fread(data, 1, sizeof data, f);
  fclose(f);
  current = path;
  LLVMFuzzerTestOneInput(data, n);
  return 0;
}

int main(int argc, char **argv) {
  signal(SIGSEGV, on_crash);
  signal(SIGILL, on_crash);
  signal(SIGABRT, on_crash);
  signal(SIGBUS, on_crash);
  signal(SIGFPE, on_crash);
  int files = 0, errors = 0;
  for (int i = 1; i < argc; i++) {
    struct stat st;
    if (stat(argv[i], &st) != 0) {
      fprintf(stderr, "replay: %s: no such file or directory\n", argv[i]);
      return 1;
    }
    if (!S_ISDIR(st.st_mode)) {
      errors += run_file(argv[i]) != 0;
      files++;
      continue;
    }
    struct dirent **list;
    int n = scandir(argv[i], &list, NULL, alphasort);
    for (int j = 0; j < n; j++) {
      if (list[j]->d_name[0] != '.') {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", argv[i], list[j]->d_name);
        errors += run_file(path) != 0;
        files++;
      }
      free(list[j]);
    }
    free(list);
  }
  printf("replay: %d inputs, %d unreadable\n", files, errors);
  return files > 0 && errors == 0 ? 0 : 1;
}
