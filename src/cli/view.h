/*
 * view.h - what every analysis command looks at: a profile seen through one sample type,
 * with drop_frames applied, samples filtered by --focus/--ignore, and each stack as a list
 * of frame ids at a chosen granularity (function names, or "function file:line").
 *
 * The semantics follow `go tool pprof` (FORMATS.md 1.9 and pprof's profile/prune.go,
 * filter.go, index.go), so `leakwatch top` agrees with `go tool pprof -top`:
 *  - default sample type: default_sample_type if set, else the last one; --sample takes a
 *    type name (an "inuse_" prefix may be left off or added, as pprof allows) or an index;
 *  - drop_frames/keep_frames are full-match regexps on function names without arguments;
 *    a matching frame and everything toward the leaf is removed, unless nothing but such
 *    frames would remain;
 *  - a location matches --focus/--ignore when any of its functions' names or files, or its
 *    mapping's file, matches (unanchored); a sample is kept when some location matches focus
 *    (or there is no focus) and none matches ignore;
 *  - the total that percentages refer to is taken before focusing: sum of |value|.
 * Unlike pprof, which merges every unresolved address of a binary into "[libfoo.so]", each
 * unresolved address stays its own frame "[libfoo.so+0x1a2b]".
 *
 * Regular expressions are POSIX extended (regcomp), close to Go's RE2 for what people write
 * in practice ("malloc|operator new", "^std::", "leak.*").
 */
#ifndef LW_CLI_VIEW_H
#define LW_CLI_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli/intern.h"
#include "common/profile.h"

typedef enum {
  LW_VIEW_FUNCTIONS, /* one frame per function name (pprof's default granularity) */
  LW_VIEW_LINES,     /* "function file.c:123": one frame per source line */
} lw_view_grain_t;

typedef struct lw_view_options {
  const char *sample; /* sample type name or 0-based index; NULL = the profile's default */
  lw_view_grain_t grain;
  const char *focus;  /* regexp or NULL */
  const char *ignore; /* regexp or NULL */
} lw_view_options_t;

typedef struct lw_view_span {
  uint32_t first;  /* into loc_frames */
  uint32_t count;  /* 0: no such location */
  uint32_t index;  /* into profile->locations */
} lw_view_span_t;

typedef struct lw_view {
  const lw_profile_t *profile;
  int sample_index;
  const char *sample_type; /* "inuse_space" */
  const char *sample_unit; /* "bytes" */
  int64_t total;           /* sum of |value| over all samples, before focus */
  size_t n_kept;           /* samples that pass focus/ignore */
  lw_intern_t frames;      /* frame id -> display name */
  /* Per location: its frame ids (innermost first) are loc_frames[first .. first+count). */
  lw_view_span_t *spans;   /* by location id when ids are dense, else hashed (span_slots) */
  size_t n_spans;
  uint64_t *span_keys;     /* sparse ids only: open addressing, key id, 0 = empty */
  uint32_t *loc_frames;
  uint32_t *sample_skip;   /* per sample: leaf-side locations dropped by drop_frames */
  uint8_t *sample_kept;    /* per sample: 1 when it passes focus/ignore */
} lw_view_t;

/* Builds the view. Returns 0, or -1 with a one-line reason in `error` (unknown sample
 * type, bad regexp, out of memory). The profile must outlive the view. */
int lw_view_build(lw_view_t *view, const lw_profile_t *profile, const lw_view_options_t *options,
                  char *error, size_t error_size);
void lw_view_free(lw_view_t *view);

static inline int64_t lw_view_value(const lw_view_t *v, size_t sample) {
  const lw_profile_sample_t *s = &v->profile->samples[sample];
  return lw_sample_values(v->profile, s)[v->sample_index];
}
static inline bool lw_view_kept(const lw_view_t *v, size_t sample) {
  return v->sample_kept[sample] != 0;
}
static inline const char *lw_view_frame_name(const lw_view_t *v, uint32_t frame) {
  return lw_intern_str(&v->frames, frame);
}

/* The span of a location id (count 0 when the id is unknown). Hot path: the analysis loops
 * call it once per stack frame, so dense ids (every writer we know) cost one array read. */
const lw_view_span_t *lw_view_span_sparse(const lw_view_t *view, uint64_t id);
static inline const lw_view_span_t *lw_view_span(const lw_view_t *v, uint64_t id) {
  if (!v->span_keys)
    return id < v->n_spans ? &v->spans[id] : &v->spans[0];
  return lw_view_span_sparse(v, id);
}

/* A sample's locations after drop_frames, leaf first. */
static inline const uint64_t *lw_view_sample_ids(const lw_view_t *v, size_t sample,
                                                 size_t *n) {
  const lw_profile_sample_t *s = &v->profile->samples[sample];
  uint32_t skip = v->sample_skip[sample] < s->n_locations ? v->sample_skip[sample] : s->n_locations;
  *n = s->n_locations - skip;
  return lw_sample_locations(v->profile, s) + skip;
}

/* A growable list of frame ids, with for each whether it is an inlined frame (not the
 * outermost line of its location). */
typedef struct lw_frame_list {
  uint32_t *ids;
  uint8_t *inlined;
  size_t n, cap;
} lw_frame_list_t;
void lw_frame_list_free(lw_frame_list_t *list);

/* The frames of a sample, leaf first (ids[0] is where the memory was allocated).
 * Returns 0 or -1 when out of memory. */
int lw_view_stack(const lw_view_t *view, size_t sample, lw_frame_list_t *out);

/* Picks the sample type index as pprof does; -1 with a reason when there is none. */
int lw_view_sample_index(const lw_profile_t *profile, const char *sample, char *error,
                         size_t error_size);

/* Formats a value in the view's unit: "12.2 MiB" for bytes, "1234" for counts, "5 ms"
 * otherwise. */
size_t lw_view_format_value(const lw_view_t *view, int64_t value, char *out, size_t size);
size_t lw_format_value(const char *unit, int64_t value, char *out, size_t size);

#endif
