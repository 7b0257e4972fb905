/*
 * agent_harness.h - test helper: runs a fixture program with libleakwatch.so preloaded,
 * loads and symbolizes the profile it wrote, and answers "how much is live at function F"
 * and "is there a stack F <- G <- H". Also checks that `go tool pprof` reads a profile
 * without complaint.
 *
 * Header-only (static functions): each test binary is built from one .c file.
 */
#ifndef LW_TEST_AGENT_HARNESS_H
#define LW_TEST_AGENT_HARNESS_H

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/profile_io.h"
#include "cli/symbolize.h"
#include "common/profile.h"

#define HARNESS_AGENT LW_BUILD_DIR "/lib/libleakwatch.so"
#define HARNESS_FIXTURES LW_BUILD_DIR "/tests/fixtures/"

typedef struct fixture_run {
  int status;        /* waitpid status */
  char out[16384];   /* the fixture's stdout */
  char err[8192];    /* the start of its stderr (the agent's diagnostics) */
} fixture_run_t;

/* Runs fixture `name` with arguments args (NULL-terminated, may be NULL) under the agent.
 * env: extra "NAME=value" strings (NULL-terminated, may be NULL). Returns 0 or -1. */
static int harness_run(const char *name, const char *const *args, const char *rate,
                       const char *output, const char *const *env, fixture_run_t *run) {
  char path[4096];
  snprintf(path, sizeof path, "%s%s", HARNESS_FIXTURES, name);
  int pipe_fds[2];
  if (pipe(pipe_fds) < 0)
    return -1;
  /* stderr goes to an unlinked temporary file, read back once the fixture has exited. */
  char err_path[] = "/tmp/lw-harness-err-XXXXXX";
  int err_fd = mkstemp(err_path);
  if (err_fd < 0)
    return -1;
  unlink(err_path);
  pid_t child = fork();
  if (child < 0) {
    close(err_fd);
    return -1;
  }
  if (child == 0) {
    dup2(pipe_fds[1], STDOUT_FILENO);
    dup2(err_fd, STDERR_FILENO);
    close(err_fd);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    setenv("LD_PRELOAD", HARNESS_AGENT, 1);
    if (output)
      setenv("LEAKWATCH_OUTPUT", output, 1);
    if (rate)
      setenv("LEAKWATCH_RATE", rate, 1);
    char pid_text[16];
    snprintf(pid_text, sizeof pid_text, "%d", (int)getpid());
    setenv("LEAKWATCH_ROOT_PID", pid_text, 1);
    for (int i = 0; env && env[i]; i++)
      putenv((char *)env[i]);
    const char *argv[16] = {path};
    int argc = 1;
    for (int i = 0; args && args[i] && argc < 15; i++)
      argv[argc++] = args[i];
    argv[argc] = NULL;
    execv(path, (char *const *)argv);
    _exit(127);
  }
  close(pipe_fds[1]);
  size_t filled = 0;
  for (;;) {
    ssize_t n = read(pipe_fds[0], run->out + filled, sizeof run->out - 1 - filled);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    filled += (size_t)n;
    if (filled == sizeof run->out - 1)
      break;
  }
  run->out[filled] = '\0';
  close(pipe_fds[0]);
  while (waitpid(child, &run->status, 0) < 0)
    if (errno != EINTR) {
      close(err_fd);
      return -1;
    }
  ssize_t n = pread(err_fd, run->err, sizeof run->err - 1, 0);
  run->err[n > 0 ? n : 0] = '\0';
  close(err_fd);
  return 0;
}

static void harness_quiet(void *context, const char *message) {
  (void)context;
  (void)message;
}

/* Loads and symbolizes; fails the test with the loader's message on error. */
static void harness_load(const char *path, lw_profile_t *profile) {
  char error[512];
  if (lw_cli_load_profile(path, profile, error, sizeof error) < 0)
    fail_msg("cannot load profile: %s", error);
  lw_symbolize_options_t options = {NULL, 0, false, harness_quiet, NULL};
  lw_symbolize_result_t result;
  assert_int_equal(lw_symbolize_profile(profile, &options, &result), 0);
}

/* Function name matches: exact, or a C++ name whose part before '(' matches. */
static bool harness_name_is(const char *name, const char *wanted) {
  size_t n = strlen(wanted);
  return strncmp(name, wanted, n) == 0 && (name[n] == '\0' || name[n] == '(');
}

/* Frame names of a sample, leaf first, inline frames expanded. */
static int harness_frames(const lw_profile_t *p, const lw_profile_sample_t *s,
                          const char **names, int max) {
  int n = 0;
  for (uint32_t i = 0; i < s->n_locations && n < max; i++) {
    const lw_profile_location_t *l = lw_profile_location(p, lw_sample_locations(p, s)[i]);
    for (uint32_t j = 0; l && j < l->n_lines && n < max; j++) {
      const lw_profile_function_t *f =
          lw_profile_function(p, lw_location_lines(p, l)[j].function_id);
      names[n++] = f ? lw_profile_str(p, f->name) : "";
    }
    if (l && l->n_lines == 0 && n < max)
      names[n++] = "";
  }
  return n;
}

typedef struct site_values {
  int64_t alloc_objects, alloc_space, inuse_objects, inuse_space;
  int samples;
} site_values_t;

/* Sums the four values over samples with a frame named `function`. */
static site_values_t harness_site(const lw_profile_t *p, const char *function) {
  site_values_t v = {0, 0, 0, 0, 0};
  for (size_t i = 0; i < p->n_samples; i++) {
    const char *names[256];
    int n = harness_frames(p, &p->samples[i], names, 256);
    for (int f = 0; f < n; f++) {
      if (!harness_name_is(names[f], function))
        continue;
      const int64_t *values = lw_sample_values(p, &p->samples[i]);
      v.alloc_objects += values[0];
      v.alloc_space += values[1];
      v.inuse_objects += values[2];
      v.inuse_space += values[3];
      v.samples++;
      break;
    }
  }
  return v;
}

/* Sums the values of samples with a frame named `function` whose string label `key` has
 * `value` (e.g. reachability=definitely_lost). */
static site_values_t harness_site_labelled(const lw_profile_t *p, const char *function,
                                           const char *key, const char *value) {
  site_values_t v = {0, 0, 0, 0, 0};
  for (size_t i = 0; i < p->n_samples; i++) {
    const lw_profile_sample_t *s = &p->samples[i];
    bool labelled = false;
    for (uint32_t l = 0; l < s->n_labels; l++) {
      const lw_profile_label_t *label = &lw_sample_labels(p, s)[l];
      if (strcmp(lw_profile_str(p, label->key), key) == 0 &&
          strcmp(lw_profile_str(p, label->str), value) == 0)
        labelled = true;
    }
    if (!labelled)
      continue;
    const char *names[256];
    int n = harness_frames(p, s, names, 256);
    for (int f = 0; f < n; f++) {
      if (!harness_name_is(names[f], function))
        continue;
      const int64_t *values = lw_sample_values(p, s);
      v.alloc_objects += values[0];
      v.alloc_space += values[1];
      v.inuse_objects += values[2];
      v.inuse_space += values[3];
      v.samples++;
      break;
    }
  }
  return v;
}

/* True if some sample's stack has these functions, each a direct caller of the previous
 * (leaf first), starting anywhere in the stack. */
static bool harness_has_chain(const lw_profile_t *p, const char *const *chain, int length) {
  for (size_t i = 0; i < p->n_samples; i++) {
    const char *names[256];
    int n = harness_frames(p, &p->samples[i], names, 256);
    for (int start = 0; start + length <= n; start++) {
      int k = 0;
      while (k < length && harness_name_is(names[start + k], chain[k]))
        k++;
      if (k == length)
        return true;
    }
  }
  return false;
}

static int64_t harness_total_inuse(const lw_profile_t *p) {
  int64_t total = 0;
  for (size_t i = 0; i < p->n_samples; i++)
    total += lw_sample_values(p, &p->samples[i])[3];
  return total;
}

/* go tool pprof -raw, -top and -traces read the profile: exit 0, nothing on stderr. */
static void harness_pprof_reads(const char *profile_path) {
  static const char *const reports[] = {"-raw", "-top -sample_index=inuse_space", "-traces"};
  char dir[] = "/tmp/lw-pprof-XXXXXX";
  if (!mkdtemp(dir))
    fail_msg("mkdtemp: %s", strerror(errno));
  for (size_t i = 0; i < sizeof reports / sizeof reports[0]; i++) {
    char command[8192];
    snprintf(command, sizeof command,
             "HOME=%s PPROF_TMPDIR=%s go tool pprof %s '%s' >%s/out.txt 2>%s/err.txt", dir, dir,
             reports[i], profile_path, dir, dir);
    int status = system(command);
    char err_path[4096], err[4096] = "";
    snprintf(err_path, sizeof err_path, "%s/err.txt", dir);
    FILE *f = fopen(err_path, "r");
    if (f) {
      size_t n = fread(err, 1, sizeof err - 1, f);
      err[n] = '\0';
      fclose(f);
    }
    if (status != 0 || err[0])
      fail_msg("go tool pprof %s %s: status %d, stderr: %s", reports[i], profile_path, status,
               err);
  }
  char cleanup[4200];
  snprintf(cleanup, sizeof cleanup, "rm -rf %s", dir);
  if (system(cleanup) != 0)
    fail_msg("cannot remove %s", dir);
}

/* A fresh scratch directory for a test's profiles. */
static void harness_temp_dir(char *dir, size_t size) {
  snprintf(dir, size, "/tmp/lw-test-XXXXXX");
  if (!mkdtemp(dir))
    fail_msg("mkdtemp: %s", strerror(errno));
}

#endif
