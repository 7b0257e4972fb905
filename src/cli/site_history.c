/*
 * site_history.c - parser for the agent's history text (see site_history.h).
 */
#include "cli/site_history.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool parse_u64(const char **p, uint64_t *out) {
  const char *s = *p;
  if (*s < '0' || *s > '9')
    return false;
  uint64_t v = 0;
  for (; *s >= '0' && *s <= '9'; s++) {
    if (v > (UINT64_MAX - 9) / 10)
      return false;
    v = v * 10 + (uint64_t)(*s - '0');
  }
  *p = s;
  *out = v;
  return true;
}

/* "name t:b:o t:b:o ..." into a fresh array. */
static bool parse_points(const char *p, lw_history_point_t **out, size_t *n) {
  size_t capacity = 16;
  *out = malloc(capacity * sizeof **out);
  *n = 0;
  if (!*out)
    return false;
  while (*p == ' ') {
    p++;
    lw_history_point_t point;
    if (!parse_u64(&p, &point.t_ms) || *p++ != ':' || !parse_u64(&p, &point.bytes) ||
        *p++ != ':' || !parse_u64(&p, &point.objects))
      return false;
    if (*n == capacity) {
      capacity *= 2;
      lw_history_point_t *grown = realloc(*out, capacity * sizeof **out);
      if (!grown)
        return false;
      *out = grown;
    }
    (*out)[(*n)++] = point;
  }
  return *p == '\0';
}

static bool parse_frames(const char *p, uint64_t **out, size_t *n) {
  size_t capacity = 16;
  *out = malloc(capacity * sizeof **out);
  *n = 0;
  if (!*out)
    return false;
  while (*p == ' ') {
    p++;
    char *end;
    unsigned long long v = strtoull(p, &end, 16);
    if (end == p)
      return false;
    p = end;
    if (*n == capacity) {
      capacity *= 2;
      uint64_t *grown = realloc(*out, capacity * sizeof **out);
      if (!grown)
        return false;
      *out = grown;
    }
    (*out)[(*n)++] = v;
  }
  return *p == '\0';
}

void lw_history_free(lw_history_t *h) {
  for (size_t i = 0; i < h->n_sites; i++) {
    free(h->sites[i].frames);
    free(h->sites[i].fine);
    free(h->sites[i].coarse);
  }
  free(h->sites);
  memset(h, 0, sizeof *h);
}

/* The optional tail of a site line: " kind heap|fds|threads" and, for fds, " type NAME". */
static bool parse_site_kind(const char *tail, lw_history_site_t *site) {
  static const char *const names[] = {"heap", "fds", "threads"};
  site->kind = LW_HISTORY_HEAP;
  if (!*tail)
    return true; /* histories from before descriptors and threads were tracked */
  char kind[16] = "", type[16] = "";
  int fields = sscanf(tail, " kind %15s type %15s", kind, type);
  if (fields < 1)
    return false;
  bool known = false;
  for (int k = 0; k < 3; k++)
    if (strcmp(kind, names[k]) == 0) {
      site->kind = (lw_history_kind_t)k;
      known = true;
    }
  memcpy(site->fd_type, type, sizeof site->fd_type);
  return known;
}

int lw_history_parse(const char *text, size_t len, lw_history_t *h, char *error,
                     size_t error_size) {
  memset(h, 0, sizeof *h);
  char *copy = malloc(len + 1);
  if (!copy) {
    snprintf(error, error_size, "out of memory");
    return -1;
  }
  memcpy(copy, text, len);
  copy[len] = '\0';
  size_t capacity = 0;
  int line_number = 0;
  bool header = false, ended = false;
  const char *problem = NULL;
  char *save = NULL;
  for (char *line = strtok_r(copy, "\n", &save); line && !problem;
       line = strtok_r(NULL, "\n", &save)) {
    line_number++;
    const char *p;
    uint64_t v;
    lw_history_site_t *site = h->n_sites ? &h->sites[h->n_sites - 1] : NULL;
    if (line_number == 1) {
      header = strcmp(line, "leakwatch-history 1") == 0;
      if (!header)
        problem = "not a leakwatch history (version 1)";
    } else if (strncmp(line, "site ", 5) == 0) {
      if (h->n_sites == capacity) {
        capacity = capacity ? capacity * 2 : 64;
        lw_history_site_t *grown = realloc(h->sites, capacity * sizeof *grown);
        if (!grown) {
          problem = "out of memory";
          break;
        }
        h->sites = grown;
      }
      site = &h->sites[h->n_sites++];
      memset(site, 0, sizeof *site);
      unsigned stack, truncated, epoch;
      unsigned long long live, old, oldest;
      int used = 0;
      if (sscanf(line, "site %u truncated %u epoch %u live %llu old %llu oldest_ms %llu%n", &stack,
                 &truncated, &epoch, &live, &old, &oldest, &used) != 6 ||
          !parse_site_kind(line + used, site))
        problem = "malformed site line";
      site->stack_id = stack;
      site->truncated = truncated != 0;
      site->live = live;
      site->old = old;
      site->oldest_ms = oldest;
    } else if (strncmp(line, "frames", 6) == 0) {
      if (!site || !parse_frames(line + 6, &site->frames, &site->n_frames))
        problem = "malformed frames line";
    } else if (strncmp(line, "fine", 4) == 0) {
      if (!site || !parse_points(line + 4, &site->fine, &site->n_fine))
        problem = "malformed fine line";
    } else if (strncmp(line, "coarse", 6) == 0) {
      if (!site || !parse_points(line + 6, &site->coarse, &site->n_coarse))
        problem = "malformed coarse line";
    } else if (strcmp(line, "end") == 0) {
      ended = true;
    } else {
      static const struct {
        const char *name;
        size_t offset;
      } fields[] = {
          {"pid ", 0},          {"interval_ms ", offsetof(lw_history_t, interval_ms)},
          {"now_ms ", offsetof(lw_history_t, now_ms)}, {"rate ", offsetof(lw_history_t, rate)},
          {"old_after_ms ", offsetof(lw_history_t, old_after_ms)},
          {"snapshots ", offsetof(lw_history_t, snapshots)},
          {"first_snapshot_ms ", offsetof(lw_history_t, first_snapshot_ms)},
          {"untracked_sites_held_nothing ", offsetof(lw_history_t, untracked_sites_held_nothing)},
          {"exit_began_ms ", offsetof(lw_history_t, exit_began_ms)},
      };
      bool known = false;
      for (size_t i = 0; i < sizeof fields / sizeof fields[0] && !known; i++) {
        size_t n = strlen(fields[i].name);
        if (strncmp(line, fields[i].name, n) != 0)
          continue;
        known = true;
        p = line + n;
        if (!parse_u64(&p, &v) || *p)
          problem = "malformed number";
        else if (i == 0)
          h->pid = (int)v;
        else
          *(uint64_t *)((char *)h + fields[i].offset) = v;
      }
      (void)known; /* unknown lines are newer fields: skipped */
    }
  }
  if (!problem && !header)
    problem = "empty history";
  if (!problem && !ended)
    problem = "history cut short (no 'end' line)";
  if (problem)
    snprintf(error, error_size, "line %d: %s", line_number, problem);
  free(copy);
  return problem ? -1 : 0;
}
