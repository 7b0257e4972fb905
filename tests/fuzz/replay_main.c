/*
 * replay_main.c - runs a libFuzzer target's LLVMFuzzerTestOneInput over every file in a
 * corpus directory, so normal (gcc) builds and CI exercise the fuzz targets on their
 * seeds and on every crash input ever found (sqlite's fuzzcheck idea). Prints the
 * "N passed, N failed" line; a crash fails the ctest entry by itself.
 *   replay_<target> CORPUS_DIR
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  DIR *dir = opendir(argv[1]);
  if (!dir) {
    perror(argv[1]);
    return 1;
  }
  char *names[4096];
  size_t n = 0;
  struct dirent *e;
  while ((e = readdir(dir)) && n < sizeof names / sizeof *names)
    if (e->d_name[0] != '.' && strcmp(e->d_name, "README.md") != 0)
      names[n++] = strdup(e->d_name);
  closedir(dir);
  qsort(names, n, sizeof *names, by_name);
  int passed = 0, failed = 0;
  for (size_t i = 0; i < n; i++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", argv[1], names[i]);
    FILE *f = fopen(path, "rb");
    if (!f) {
      perror(path);
      failed++;
      continue;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *data = malloc(size > 0 ? (size_t)size : 1);
    if (!data || (size > 0 && fread(data, 1, (size_t)size, f) != (size_t)size)) {
      fprintf(stderr, "%s: cannot read\n", path);
      failed++;
    } else {
      LLVMFuzzerTestOneInput(data, (size_t)size);
      passed++;
    }
    free(data);
    fclose(f);
    free(names[i]);
  }
  printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 && passed > 0 ? 0 : 1;
}
