/*
 * profile.h - the pprof profile model (perftools.profiles.Profile, see ../shared/FORMATS.md
 * section 1) with a builder, an encoder and a validating decoder.
 *
 * Used by the agent to write heap profiles (with its arena allocator) and by the CLI to read,
 * symbolize, analyse and rewrite them. Variable-length parts (a sample's location ids,
 * values and labels; a location's lines) live in shared pools addressed by (first, n), so a
 * 200k-sample profile costs a handful of allocations, not a million.
 *
 * Strings are referenced by index into the string table, as on the wire; index 0 is "".
 * Ids of mappings, locations and functions are the wire ids (nonzero), the builder assigns
 * 1..n in order.
 */
#ifndef LW_COMMON_PROFILE_H
#define LW_COMMON_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/alloc.h"
#include "common/buf.h"

typedef struct lw_profile_value_type {
  int64_t type; /* string index, e.g. "inuse_space" */
  int64_t unit; /* string index, e.g. "bytes" */
} lw_profile_value_type_t;

typedef struct lw_profile_label {
  int64_t key;      /* string index */
  int64_t str;      /* string index, or 0 for a numeric label */
  int64_t num;
  int64_t num_unit; /* string index or 0 */
} lw_profile_label_t;

typedef struct lw_profile_sample {
  uint32_t first_location; /* into location_ids, leaf first */
  uint32_t n_locations;
  uint32_t first_value;    /* into values, n_sample_types of them */
  uint32_t n_values;
  uint32_t first_label;    /* into labels */
  uint32_t n_labels;
} lw_profile_sample_t;

typedef struct lw_profile_mapping {
  uint64_t id;
  uint64_t memory_start;
  uint64_t memory_limit;
  uint64_t file_offset;
  int64_t filename; /* string index */
  int64_t build_id; /* string index: hex of .note.gnu.build-id */
  bool has_functions;
  bool has_filenames;
  bool has_line_numbers;
  bool has_inline_frames;
} lw_profile_mapping_t;

typedef struct lw_profile_line {
  uint64_t function_id;
  int64_t line;
  int64_t column;
} lw_profile_line_t;

typedef struct lw_profile_location {
  uint64_t id;
  uint64_t mapping_id; /* 0 = unknown */
  uint64_t address;    /* return address - 1 for non-leaf frames */
  uint32_t first_line; /* into lines; line[0] is the innermost inlined callee */
  uint32_t n_lines;
  bool is_folded;
} lw_profile_location_t;

typedef struct lw_profile_function {
  uint64_t id;
  int64_t name;        /* string index: human-readable (demangled) */
  int64_t system_name; /* string index: as the linker knows it (mangled) */
  int64_t filename;    /* string index */
  int64_t start_line;
} lw_profile_function_t;

/* Declares a growable array: `type *name; size_t n_name, cap_name`. */
#define LW_PROFILE_ARRAY(type, name) \
  type *name;                        \
  size_t n_##name;                   \
  size_t cap_##name

typedef struct lw_profile {
  const lw_allocator_t *allocator;
  bool failed; /* sticky: an allocation failed while building */

  LW_PROFILE_ARRAY(lw_profile_value_type_t, sample_types);
  LW_PROFILE_ARRAY(lw_profile_sample_t, samples);
  LW_PROFILE_ARRAY(lw_profile_mapping_t, mappings);
  LW_PROFILE_ARRAY(lw_profile_location_t, locations);
  LW_PROFILE_ARRAY(lw_profile_function_t, functions);
  LW_PROFILE_ARRAY(int64_t, comments);
  /* Pools the samples and locations point into. */
  LW_PROFILE_ARRAY(uint64_t, location_ids);
  LW_PROFILE_ARRAY(int64_t, values);
  LW_PROFILE_ARRAY(lw_profile_label_t, labels);
  LW_PROFILE_ARRAY(lw_profile_line_t, lines);
  /* String table: bytes of all strings, each NUL-terminated, plus offsets and lengths. */
  LW_PROFILE_ARRAY(char, string_bytes);
  LW_PROFILE_ARRAY(uint32_t, string_offsets);
  LW_PROFILE_ARRAY(uint32_t, string_lengths);

  int64_t drop_frames; /* string index */
  int64_t keep_frames; /* string index */
  int64_t time_nanos;
  int64_t duration_nanos;
  lw_profile_value_type_t period_type;
  int64_t period;
  int64_t default_sample_type; /* string index */
  int64_t doc_url;             /* string index */

  /* Lookup structures, built on demand (interning, id -> index). */
  uint32_t *string_hash;
  size_t string_hash_cap;
  uint32_t *location_index; /* id -> index + 1, dense ids only */
  size_t location_index_len;
  uint32_t *function_index;
  size_t function_index_len;
  uint32_t *mapping_index;
  size_t mapping_index_len;
} lw_profile_t;

/* Starts an empty profile whose string table holds "" at index 0. */
void lw_profile_init(lw_profile_t *profile, const lw_allocator_t *allocator);
void lw_profile_free(lw_profile_t *profile);

/* Interns a string and returns its index (0 for "" and on allocation failure). */
int64_t lw_profile_string(lw_profile_t *profile, const char *text);
int64_t lw_profile_string_n(lw_profile_t *profile, const char *text, size_t len);
/* The string at an index; "" when out of range. */
const char *lw_profile_str(const lw_profile_t *profile, int64_t index);

void lw_profile_add_sample_type(lw_profile_t *profile, const char *type, const char *unit);
/* Go's heap profile layout: alloc_objects, alloc_space, inuse_objects, inuse_space, with
 * period type space/bytes and the sampling rate as period (what pprof scales by). */
void lw_profile_set_heap_layout(lw_profile_t *profile, int64_t sampling_rate);
/* Appends a copy of *mapping with id = count + 1 and returns the id (0 on failure). */
uint64_t lw_profile_add_mapping(lw_profile_t *profile, const lw_profile_mapping_t *mapping);
uint64_t lw_profile_add_function(lw_profile_t *profile, int64_t name, int64_t system_name,
                                 int64_t filename, int64_t start_line);
uint64_t lw_profile_add_location(lw_profile_t *profile, uint64_t mapping_id, uint64_t address,
                                 const lw_profile_line_t *lines, size_t n_lines);
/* Replaces the lines of an existing location (used when symbolizing). */
int lw_profile_set_lines(lw_profile_t *profile, lw_profile_location_t *location,
                         const lw_profile_line_t *lines, size_t n_lines);
int lw_profile_add_sample(lw_profile_t *profile, const uint64_t *location_ids,
                          size_t n_locations, const int64_t *values, size_t n_values,
                          const lw_profile_label_t *labels, size_t n_labels);
void lw_profile_add_comment(lw_profile_t *profile, const char *text);

/* Accessors for a sample's pooled parts. The arrays stay NULL while empty, and NULL + 0 is
 * undefined: an element with no locations, values, labels or lines gets NULL, which its
 * count of zero never dereferences. */
static inline const uint64_t *lw_sample_locations(const lw_profile_t *p,
                                                  const lw_profile_sample_t *s) {
  return p->location_ids ? p->location_ids + s->first_location : NULL;
}
static inline const int64_t *lw_sample_values(const lw_profile_t *p,
                                              const lw_profile_sample_t *s) {
  return p->values ? p->values + s->first_value : NULL;
}
static inline const lw_profile_label_t *lw_sample_labels(const lw_profile_t *p,
                                                         const lw_profile_sample_t *s) {
  return p->labels ? p->labels + s->first_label : NULL;
}
static inline const lw_profile_line_t *lw_location_lines(const lw_profile_t *p,
                                                         const lw_profile_location_t *l) {
  return p->lines ? p->lines + l->first_line : NULL;
}

/* Id lookups; NULL when absent. lw_profile_build_index must have run after the last add
 * (decode runs it). */
int lw_profile_build_index(lw_profile_t *profile);
const lw_profile_location_t *lw_profile_location(const lw_profile_t *p, uint64_t id);
const lw_profile_function_t *lw_profile_function(const lw_profile_t *p, uint64_t id);
const lw_profile_mapping_t *lw_profile_mapping(const lw_profile_t *p, uint64_t id);
/* Index of the sample type named `type`, or -1. */
int lw_profile_sample_type_index(const lw_profile_t *p, const char *type);

/* Serializes to protobuf (not gzipped). Returns 0, or -1 if the buffer ran out of memory. */
int lw_profile_encode(const lw_profile_t *profile, lw_buf_t *out);

/* Parses and validates a protobuf profile (not gzipped) into an initialised, empty profile.
 * Returns 0, or -1 with a one-line reason in `error` (e.g. "string_table[0] is not empty",
 * "sample 3 has 3 values but there are 4 sample types"). Checks what pprof's reader checks:
 * string indexes in range, nonzero unique ids, value counts, referenced ids exist. */
int lw_profile_decode(lw_profile_t *profile, const uint8_t *data, size_t len, char *error,
                      size_t error_size);

#endif
