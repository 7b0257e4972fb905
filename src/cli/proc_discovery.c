/*
 * proc_discovery.c - /proc scan by name or command line, and a process's environment
 * variables (see proc_discovery.h).
 */
#include "cli/proc_discovery.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

bool lw_proc_match_text(int pid, bool full, char *text, size_t size) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/%s", pid, full ? "cmdline" : "comm");
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return false;
  ssize_t n = read(fd, text, size - 1);
  close(fd);
  if (n <= 0) /* kernel threads have an empty command line */
    return false;
  for (ssize_t i = 0; i < n; i++)
    if (text[i] == '\0')
      text[i] = ' ';
  while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == ' '))
    n--;
  text[n] = '\0';
  return true;
}

int lw_proc_find(const regex_t *regex, bool full, int *pids, size_t max) {
  DIR *dir = opendir("/proc");
  if (!dir)
    return -1;
  int self = (int)getpid();
  size_t n = 0;
  struct dirent *d;
  while (n < max && (d = readdir(dir)) != NULL) {
    char *end;
    long pid = strtol(d->d_name, &end, 10);
    if (*end || pid <= 0 || pid == self)
      continue;
    char text[4096];
    if (lw_proc_match_text((int)pid, full, text, sizeof text) &&
        regexec(regex, text, 0, NULL, 0) == 0)
      pids[n++] = (int)pid;
  }
  closedir(dir);
  return (int)n;
}

bool lw_proc_environ_value(int pid, const char *name, char *value, size_t size) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/environ", pid);
  FILE *f = fopen(path, "re");
  if (!f)
    return false;
  size_t name_len = strlen(name);
  char *entry = NULL;
  size_t cap = 0;
  bool found = false;
  while (!found && getdelim(&entry, &cap, '\0', f) > 0) {
    if (strncmp(entry, name, name_len) == 0 && entry[name_len] == '=') {
      found = strlen(entry + name_len + 1) < size;
      if (found)
        strcpy(value, entry + name_len + 1);
    }
  }
  free(entry);
  fclose(f);
  return found;
}
