/*
 * fd_error_path.c - a descriptor not closed on an error path: each request opens the
 * template it names, reads it and checks it. When the check fails, load_template returns
 * the error at once and forgets the descriptor. One request in twenty names a damaged
 * template, so the process loses a descriptor a second until open() fails with "Too many
 * open files" - usually far from the code that leaked them.
 *
 * The bug is the early return in load_template. The fix (--fixed) sends every path through
 * one exit that closes the descriptor (the "goto out" shape).
 *
 *   fd_error_path [--fixed] [--seconds N] [--scale S]
 *
 * Load: 20 requests per (scaled) second. The templates are written to a temporary
 * directory at start and removed at exit.
 */
#include <errno.h>
#include <fcntl.h>

#include "classic_example.h"

enum { REQUESTS_PER_SECOND = 20, DAMAGED_EVERY = 20, TEMPLATES = 8 };

static char directory[] = "/tmp/fd_error_path-XXXXXX";

/* Reads template NUMBER into buffer; returns its length, or -1 if it is missing or damaged. */
__attribute__((noinline)) static ssize_t load_template(int number, char *buffer, size_t size,
                                                        bool fixed) {
  char path[64];
  snprintf(path, sizeof path, "%s/template-%d", directory, number);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  ssize_t length = read(fd, buffer, size - 1);
  if (length < 0 || length < 8 || memcmp(buffer, "TEMPLATE", 8) != 0) {
    if (fixed)
      goto out;
    return -1; /* THE LEAK: fd is still open here */
  }
  buffer[length] = '\0';
out:
  close(fd);
  return length >= 8 && memcmp(buffer, "TEMPLATE", 8) == 0 ? length : -1;
}

static int write_templates(void) {
  if (!mkdtemp(directory))
    return -1;
  for (int i = 0; i < TEMPLATES; i++) {
    char path[64];
    snprintf(path, sizeof path, "%s/template-%d", directory, i);
    FILE *f = fopen(path, "w");
    if (!f)
      return -1;
    /* template 0 is damaged: it lost its header */
    fprintf(f, "%sHello, {name}!\n", i == 0 ? "" : "TEMPLATE");
    if (fclose(f) != 0)
      return -1;
  }
  return 0;
}

static void remove_templates(void) {
  for (int i = 0; i < TEMPLATES; i++) {
    char path[64];
    snprintf(path, sizeof path, "%s/template-%d", directory, i);
    unlink(path);
  }
  rmdir(directory);
}

int main(int argc, char **argv) {
  example_options_t o = example_begin(argc, argv, 600,
      "A descriptor not closed on an error path; the fix: one exit path that closes.");
  if (write_templates() < 0) {
    fprintf(stderr, "fd_error_path: cannot write templates in %s: %s\n", directory,
            strerror(errno));
    return 1;
  }
  unsigned requests = 0, failed = 0;
  bool told = false;
  while (example_running(&o)) {
    unsigned due = (unsigned)(example_minutes(&o) * 60 * REQUESTS_PER_SECOND);
    for (; requests < due; requests++) {
      char buffer[256];
      /* every twentieth request names the damaged template */
      int number = requests % DAMAGED_EVERY == 0 ? 0 : 1 + (int)(requests % (TEMPLATES - 1));
      if (load_template(number, buffer, sizeof buffer, o.fixed) < 0) {
        failed++;
        if (errno == EMFILE && !told) { /* where a leak like this one ends */
          fprintf(stderr, "fd_error_path: request %u: %s\n", requests, strerror(errno));
          told = true;
        }
      }
    }
    example_sleep(&o, 0.1);
  }
  remove_templates();
  printf("fd_error_path: %u requests, %u failed\n", requests, failed);
  return 0;
}
