/*
 * open_profile.c - load + symbolize for the analysis commands (see open_profile.h).
 */
#include "cli/open_profile.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/profile_io.h"
#include "cli/symbolize.h"

bool lw_open_option(lw_open_options_t *o, const char *option, const char *value) {
  if (strcmp(option, "debug-dir") == 0) {
    if (o->n_debug_dirs == LW_OPEN_MAX_DEBUG_DIRS) {
      lw_cli_error("too many --debug-dir options (at most %d)", LW_OPEN_MAX_DEBUG_DIRS);
      exit(LW_EXIT_USAGE);
    }
    o->debug_dirs[o->n_debug_dirs++] = value;
    return true;
  }
  if (strcmp(option, "no-symbolize") == 0) {
    o->no_symbolize = true;
    return true;
  }
  return false;
}

int lw_profile_escape_strings(lw_profile_t *p) {
  size_t total = 0;
  bool any = false;
  for (size_t i = 0; i < p->n_string_offsets; i++) {
    size_t n = lw_escape_text(NULL, 0, p->string_bytes + p->string_offsets[i]);
    any = any || n != p->string_lengths[i];
    total += n + 1;
  }
  if (!any)
    return 0; /* the usual case: nothing to do, nothing allocated */
  if (total > UINT32_MAX)
    return -1;
  char *bytes = lw_alloc(p->allocator, total);
  if (!bytes)
    return -1;
  size_t at = 0;
  for (size_t i = 0; i < p->n_string_offsets; i++) {
    size_t n = lw_escape_text(bytes + at, total - at, p->string_bytes + p->string_offsets[i]);
    p->string_offsets[i] = (uint32_t)at;
    p->string_lengths[i] = (uint32_t)n;
    at += n + 1;
  }
  lw_release(p->allocator, p->string_bytes, p->cap_string_bytes);
  p->string_bytes = bytes;
  p->n_string_bytes = p->cap_string_bytes = total;
  /* The interning table hashed the old texts: drop it, it is rebuilt when next needed. */
  lw_release(p->allocator, p->string_hash, p->string_hash_cap * sizeof(uint32_t));
  p->string_hash = NULL;
  p->string_hash_cap = 0;
  return 0;
}

static int escape_or_fail(const char *path, lw_profile_t *p) {
  if (lw_profile_escape_strings(p) == 0)
    return 0;
  lw_cli_error("'%s': out of memory", path);
  lw_profile_free(p);
  return -1;
}

int lw_open_profile(const char *path, const lw_open_options_t *o, lw_profile_t *out) {
  char error[1024];
  if (lw_cli_load_profile(path, out, error, sizeof error) < 0) {
    lw_cli_error("%s", error);
    return -1;
  }
  if (o->no_symbolize || !lw_symbolize_needed(out))
    return escape_or_fail(path, out);
  lw_symbolize_options_t options;
  memset(&options, 0, sizeof options);
  options.debug_dirs = o->debug_dirs;
  options.n_debug_dirs = o->n_debug_dirs;
  if (lw_symbolize_profile(out, &options, NULL) < 0) {
    lw_cli_error("'%s': out of memory while symbolizing", path);
    lw_profile_free(out);
    return -1;
  }
  return escape_or_fail(path, out);
}

void lw_profile_time_text(const lw_profile_t *p, char *out, size_t size) {
  if (size)
    out[0] = '\0';
  if (p->time_nanos <= 0)
    return;
  time_t seconds = (time_t)(p->time_nanos / 1000000000);
  struct tm tm;
  if (gmtime_r(&seconds, &tm))
    strftime(out, size, "%b %d, %Y at %H:%M:%S UTC", &tm);
}

const char *lw_profile_main_file(const lw_profile_t *p) {
  if (p->n_mappings == 0)
    return "";
  const char *file = lw_profile_str(p, p->mappings[0].filename);
  const char *slash = strrchr(file, '/');
  return slash ? slash + 1 : file;
}
