/*
 * view.c - a profile seen through one sample type, drop_frames, focus/ignore and a frame
 * granularity (see view.h for the pprof rules it follows).
 */
#include "cli/view.h"

#include <errno.h>
#include <inttypes.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/symbolize.h"
#include "common/units.h"

void lw_frame_list_free(lw_frame_list_t *list) {
  free(list->ids);
  free(list->inlined);
  list->ids = NULL;
  list->inlined = NULL;
  list->n = list->cap = 0;
}

size_t lw_format_value(const char *unit, int64_t value, char *out, size_t size) {
  if (value == 0)
    return (size_t)snprintf(out, size, "0");
  if (strcmp(unit, "bytes") == 0)
    return lw_format_bytes(out, size, (double)value);
  if (strcmp(unit, "count") == 0 || unit[0] == '\0')
    return (size_t)snprintf(out, size, "%" PRId64, value);
  return (size_t)snprintf(out, size, "%" PRId64 " %s", value, unit);
}

size_t lw_view_format_value(const lw_view_t *v, int64_t value, char *out, size_t size) {
  return lw_format_value(v->sample_unit, value, out, size);
}

int lw_view_sample_index(const lw_profile_t *p, const char *sample, char *error,
                         size_t error_size) {
  if (p->n_sample_types == 0) {
    snprintf(error, error_size, "the profile has no sample types");
    return -1;
  }
  if (!sample || !sample[0]) {
    if (p->default_sample_type) {
      int i = lw_profile_sample_type_index(p, lw_profile_str(p, p->default_sample_type));
      if (i >= 0)
        return i;
    }
    return (int)p->n_sample_types - 1;
  }
  char *end = NULL;
  errno = 0;
  long index = strtol(sample, &end, 10);
  if (end && end != sample && *end == '\0') {
    /* Said with the text given: strtol turns 18446744073709551616 into LONG_MAX. */
    if (errno == ERANGE || index < 0 || (size_t)index >= p->n_sample_types) {
      snprintf(error, error_size, "sample index '%s' is out of range (0 to %zu)", sample,
               p->n_sample_types - 1);
      return -1;
    }
    return (int)index;
  }
  /* pprof accepts "inuse_space" for profiles whose type is just "space". */
  const char *no_inuse = strncmp(sample, "inuse_", 6) == 0 ? sample + 6 : sample;
  for (size_t i = 0; i < p->n_sample_types; i++) {
    const char *type = lw_profile_str(p, p->sample_types[i].type);
    if (strcmp(type, sample) == 0 || strcmp(type, no_inuse) == 0)
      return (int)i;
  }
  size_t len = (size_t)snprintf(error, error_size, "no sample type '%s' (the profile has:",
                                sample);
  for (size_t i = 0; i < p->n_sample_types && len < error_size; i++)
    len += (size_t)snprintf(error + len, error_size - len, " %s",
                            lw_profile_str(p, p->sample_types[i].type));
  if (len < error_size)
    snprintf(error + len, error_size - len, ")");
  return -1;
}

/* pprof's simplifyFunc: the name up to its argument list, keeping the parentheses of
 * "(anonymous namespace)" and "operator()". */
static size_t simplified_length(const char *name) {
  static const char anon[] = "(anonymous namespace)";
  static const char call[] = "operator()";
  size_t i = 0;
  while (name[i]) {
    if (strncmp(name + i, anon, sizeof anon - 1) == 0)
      i += sizeof anon - 1;
    else if (strncmp(name + i, call, sizeof call - 1) == 0)
      i += sizeof call - 1;
    else if (name[i] == '(')
      return i;
    else
      i++;
  }
  return i;
}

static bool full_match(const regex_t *re, const char *text, size_t len) {
  char buf[4096];
  if (len >= sizeof buf)
    len = sizeof buf - 1;
  memcpy(buf, text, len);
  buf[len] = '\0';
  return regexec(re, buf, 0, NULL, 0) == 0;
}

/* Compiles `pattern` (anchored when `anchor`), reporting errors as "bad --<what> ...". */
static int compile(regex_t *re, const char *pattern, bool anchor, const char *what, char *error,
                   size_t error_size) {
  char anchored[4096];
  if (anchor)
    snprintf(anchored, sizeof anchored, "^(%s)$", pattern);
  int rc = regcomp(re, anchor ? anchored : pattern, REG_EXTENDED | REG_NOSUB);
  if (rc != 0) {
    char reason[256];
    regerror(rc, re, reason, sizeof reason);
    snprintf(error, error_size, "bad %s regular expression '%s': %s", what, pattern, reason);
    return -1;
  }
  return 0;
}

static const lw_profile_function_t *line_function(const lw_profile_t *p,
                                                  const lw_profile_line_t *line) {
  return lw_profile_function(p, line->function_id);
}

/* The frame name of line `j` of a location at the view's granularity. */
static void frame_name(const lw_view_t *v, lw_view_grain_t grain,
                       const lw_profile_location_t *l, uint32_t j, char *out, size_t size) {
  const lw_profile_t *p = v->profile;
  if (l->n_lines == 0) {
    lw_symbolize_address_name(p, l, out, size);
    return;
  }
  if (grain == LW_VIEW_LINES) {
    lw_symbolize_frame_name(p, l, j, out, size);
    return;
  }
  const lw_profile_function_t *f = line_function(p, &lw_location_lines(p, l)[j]);
  const char *name = f ? lw_profile_str(p, f->name) : "";
  if (!name[0] && f)
    name = lw_profile_str(p, f->system_name);
  if (name[0])
    lw_escape_text(out, size, name); /* for terminals: symbolize.h */
  else
    lw_symbolize_address_name(p, l, out, size);
}

static bool location_matches(const lw_profile_t *p, const lw_profile_location_t *l,
                             uint32_t first_line, const regex_t *re) {
  const lw_profile_line_t *lines = lw_location_lines(p, l);
  for (uint32_t j = first_line; j < l->n_lines; j++) {
    const lw_profile_function_t *f = line_function(p, &lines[j]);
    if (f && (regexec(re, lw_profile_str(p, f->name), 0, NULL, 0) == 0 ||
              regexec(re, lw_profile_str(p, f->filename), 0, NULL, 0) == 0))
      return true;
  }
  const lw_profile_mapping_t *m = l->mapping_id ? lw_profile_mapping(p, l->mapping_id) : NULL;
  return m && regexec(re, lw_profile_str(p, m->filename), 0, NULL, 0) == 0;
}

static uint64_t id_hash(uint64_t id) { return id * 0x9e3779b97f4a7c15ull; }

const lw_view_span_t *lw_view_span_sparse(const lw_view_t *v, uint64_t id) {
  size_t mask = v->n_spans - 1, slot = (id_hash(id) >> 16) & mask;
  while (v->span_keys[slot]) {
    if (v->span_keys[slot] == id)
      return &v->spans[slot];
    slot = (slot + 1) & mask;
  }
  return &v->spans[slot]; /* an empty slot: count 0 */
}

/* The slot for a location id while building (dense: the id itself). */
static lw_view_span_t *span_slot(lw_view_t *v, uint64_t id) {
  if (!v->span_keys)
    return &v->spans[id];
  size_t mask = v->n_spans - 1, slot = (id_hash(id) >> 16) & mask;
  while (v->span_keys[slot] && v->span_keys[slot] != id)
    slot = (slot + 1) & mask;
  v->span_keys[slot] = id;
  return &v->spans[slot];
}

static const lw_profile_location_t *location_at(const lw_view_t *v, uint64_t id, size_t *index) {
  const lw_view_span_t *span = lw_view_span(v, id);
  if (!span->count)
    return NULL;
  *index = span->index;
  return &v->profile->locations[span->index];
}

enum { PRUNE_NONE = 0, PRUNE_WHOLE = 1, PRUNE_BENEATH = 2 };

int lw_view_build(lw_view_t *v, const lw_profile_t *p, const lw_view_options_t *o, char *error,
                  size_t error_size) {
  memset(v, 0, sizeof *v);
  v->profile = p;
  lw_intern_init(&v->frames);
  int index = lw_view_sample_index(p, o->sample, error, error_size);
  if (index < 0)
    return -1;
  v->sample_index = index;
  v->sample_type = lw_profile_str(p, p->sample_types[index].type);
  v->sample_unit = lw_profile_str(p, p->sample_types[index].unit);

  regex_t drop, keep, focus, ignore;
  bool have_drop = false, have_keep = false, have_focus = false, have_ignore = false;
  int result = -1;
  uint8_t *prune = NULL, *matched = NULL;
  uint32_t *first_line = NULL;

  /* A profile's own drop_frames that we cannot compile is not the user's fault: ignore it,
   * as an unknown extension would be. */
  char ignored[256];
  const char *drop_text = lw_profile_str(p, p->drop_frames);
  if (drop_text[0] && compile(&drop, drop_text, true, "drop_frames", ignored, sizeof ignored) == 0) {
    have_drop = true;
    const char *keep_text = lw_profile_str(p, p->keep_frames);
    if (keep_text[0] &&
        compile(&keep, keep_text, true, "keep_frames", ignored, sizeof ignored) == 0)
      have_keep = true;
  }
  if (o->focus && o->focus[0]) {
    if (compile(&focus, o->focus, false, "--focus", error, error_size) < 0)
      goto out;
    have_focus = true;
  }
  if (o->ignore && o->ignore[0]) {
    if (compile(&ignore, o->ignore, false, "--ignore", error, error_size) < 0)
      goto out;
    have_ignore = true;
  }

  size_t n_loc = p->n_locations;
  prune = calloc(n_loc + 1, 1);
  matched = calloc(n_loc + 1, 1); /* bit 0: focus, bit 1: ignore */
  first_line = calloc(n_loc + 1, sizeof *first_line);
  v->sample_skip = calloc(p->n_samples + 1, sizeof *v->sample_skip);
  v->sample_kept = calloc(p->n_samples + 1, 1);
  if (!prune || !matched || !first_line || !v->sample_skip || !v->sample_kept)
    goto oom;

  /* Spans by id: a plain array when ids are dense (1..n from every writer we know), else
   * an open-addressing table at <= 50% load. Slot 0 / empty slots have count 0. */
  uint64_t max_id = 0;
  for (size_t i = 0; i < n_loc; i++)
    if (p->locations[i].id > max_id)
      max_id = p->locations[i].id;
  if (max_id <= 4 * (uint64_t)n_loc + 1024) {
    v->n_spans = (size_t)max_id + 1;
  } else {
    v->n_spans = 1024;
    while (v->n_spans < 2 * n_loc)
      v->n_spans *= 2;
    v->span_keys = calloc(v->n_spans, sizeof *v->span_keys);
    if (!v->span_keys)
      goto oom;
  }
  v->spans = calloc(v->n_spans, sizeof *v->spans);
  if (!v->spans)
    goto oom;

  /* Per location: drop_frames trimming, focus/ignore matching, frame names. */
  size_t n_frames = 0, cap_frames = 0;
  for (size_t i = 0; i < n_loc; i++) {
    const lw_profile_location_t *l = &p->locations[i];
    const lw_profile_line_t *lines = lw_location_lines(p, l);
    if (have_drop) {
      /* The outermost line whose function matches decides (pprof's Prune). */
      for (int64_t j = (int64_t)l->n_lines - 1; j >= 0; j--) {
        const lw_profile_function_t *f = line_function(p, &lines[j]);
        const char *name = f ? lw_profile_str(p, f->name) : "";
        if (!name[0])
          continue;
        size_t len = simplified_length(name);
        if (full_match(&drop, name, len) && !(have_keep && full_match(&keep, name, len))) {
          if (j == (int64_t)l->n_lines - 1) {
            prune[i] = PRUNE_WHOLE;
          } else {
            prune[i] = PRUNE_BENEATH;
            first_line[i] = (uint32_t)j + 1;
          }
          break;
        }
      }
    }
    if (have_focus && location_matches(p, l, first_line[i], &focus))
      matched[i] |= 1;
    if (have_ignore && location_matches(p, l, first_line[i], &ignore))
      matched[i] |= 2;

    uint32_t count = l->n_lines > first_line[i] ? l->n_lines - first_line[i] : 0;
    if (l->n_lines == 0)
      count = 1;
    if (l->id != 0)
      *span_slot(v, l->id) = (lw_view_span_t){(uint32_t)n_frames, count, (uint32_t)i};
    if (n_frames + count > cap_frames) {
      size_t cap = cap_frames ? cap_frames * 2 : 1024;
      while (cap < n_frames + count)
        cap *= 2;
      uint32_t *grown = realloc(v->loc_frames, cap * sizeof *grown);
      if (!grown)
        goto oom;
      v->loc_frames = grown;
      cap_frames = cap;
    }
    for (uint32_t k = 0; k < count; k++) {
      char name[2048];
      frame_name(v, o->grain, l, first_line[i] + k, name, sizeof name);
      uint32_t id = lw_intern(&v->frames, name);
      if (id == UINT32_MAX)
        goto oom;
      v->loc_frames[n_frames++] = id;
    }
  }

  /* Per sample: drop_frames cut, focus/ignore verdict, the total. */
  for (size_t s = 0; s < p->n_samples; s++) {
    const lw_profile_sample_t *sample = &p->samples[s];
    const uint64_t *ids = lw_sample_locations(p, sample);
    if (have_drop) {
      bool found_user = false;
      for (int64_t k = (int64_t)sample->n_locations - 1; k >= 0; k--) {
        size_t li;
        if (!location_at(v, ids[k], &li))
          continue;
        if (prune[li] == PRUNE_NONE) {
          found_user = true;
          continue;
        }
        if (!found_user)
          continue;
        v->sample_skip[s] = (uint32_t)(prune[li] == PRUNE_WHOLE ? k + 1 : k);
        break;
      }
    }
    bool focused = !have_focus, ignored_sample = false;
    for (uint32_t k = v->sample_skip[s]; (have_focus || have_ignore) && k < sample->n_locations;
         k++) {
      size_t li;
      if (!location_at(v, ids[k], &li))
        continue;
      if (matched[li] & 2) {
        ignored_sample = true;
        break;
      }
      if (matched[li] & 1)
        focused = true;
    }
    v->sample_kept[s] = focused && !ignored_sample;
    v->n_kept += v->sample_kept[s];
    int64_t value = lw_view_value(v, s);
    v->total += value < 0 ? -value : value;
  }
  result = 0;
  goto out;
oom:
  snprintf(error, error_size, "out of memory while analysing the profile");
out:
  if (have_drop)
    regfree(&drop);
  if (have_keep)
    regfree(&keep);
  if (have_focus)
    regfree(&focus);
  if (have_ignore)
    regfree(&ignore);
  free(prune);
  free(matched);
  free(first_line);
  if (result < 0)
    lw_view_free(v);
  return result;
}

void lw_view_free(lw_view_t *v) {
  lw_intern_free(&v->frames);
  free(v->spans);
  free(v->span_keys);
  free(v->loc_frames);
  free(v->sample_skip);
  free(v->sample_kept);
  const lw_profile_t *p = v->profile;
  memset(v, 0, sizeof *v);
  v->profile = p;
}

int lw_view_stack(const lw_view_t *v, size_t sample, lw_frame_list_t *out) {
  size_t n;
  const uint64_t *ids = lw_view_sample_ids(v, sample, &n);
  out->n = 0;
  for (size_t k = 0; k < n; k++) {
    const lw_view_span_t *span = lw_view_span(v, ids[k]);
    if (out->n + span->count > out->cap) {
      size_t cap = out->cap ? out->cap * 2 : 64;
      while (cap < out->n + span->count)
        cap *= 2;
      uint32_t *grown = realloc(out->ids, cap * sizeof *grown);
      if (!grown)
        return -1;
      out->ids = grown;
      uint8_t *flags = realloc(out->inlined, cap);
      if (!flags)
        return -1;
      out->inlined = flags;
      out->cap = cap;
    }
    const uint32_t *frames = v->loc_frames + span->first;
    for (uint32_t j = 0; j < span->count; j++) {
      out->ids[out->n] = frames[j];
      out->inlined[out->n++] = j + 1 < span->count;
    }
  }
  return 0;
}
