/*
 * profile.c - pprof profile builder, encoder and validating decoder (see profile.h).
 * Allocates only through the profile's lw_allocator_t, so the agent can use it.
 */
#include "common/profile.h"

#include <stdarg.h>
#include <string.h>

#include "common/fmt.h"
#include "common/pb.h"

/* ---- growable arrays ------------------------------------------------------------------ */

/* Ensures room for one more element; returns a pointer to it or NULL (profile->failed). */
static void *array_push(lw_profile_t *p, void **data, size_t *n, size_t *cap, size_t elem) {
  if (p->failed)
    return NULL;
  if (*n == *cap) {
    size_t new_cap = *cap ? *cap * 2 : 16;
    if (new_cap > UINT32_MAX) {
      p->failed = true;
      return NULL;
    }
    void *grown = *data ? lw_resize(p->allocator, *data, *cap * elem, new_cap * elem)
                        : lw_alloc(p->allocator, new_cap * elem);
    if (!grown) {
      p->failed = true;
      return NULL;
    }
    *data = grown;
    *cap = new_cap;
  }
  return (char *)*data + (*n)++ * elem;
}

#define PUSH(p, name) \
  ((__typeof__((p)->name))array_push((p), (void **)&(p)->name, &(p)->n_##name, \
                                     &(p)->cap_##name, sizeof *(p)->name))

#define FREE_ARRAY(p, name) \
  lw_release((p)->allocator, (p)->name, (p)->cap_##name * sizeof *(p)->name)

void lw_profile_init(lw_profile_t *profile, const lw_allocator_t *allocator) {
  memset(profile, 0, sizeof *profile);
  profile->allocator = allocator;
  lw_profile_string_n(profile, "", 0);
}

void lw_profile_free(lw_profile_t *p) {
  FREE_ARRAY(p, sample_types);
  FREE_ARRAY(p, samples);
  FREE_ARRAY(p, mappings);
  FREE_ARRAY(p, locations);
  FREE_ARRAY(p, functions);
  FREE_ARRAY(p, comments);
  FREE_ARRAY(p, location_ids);
  FREE_ARRAY(p, values);
  FREE_ARRAY(p, labels);
  FREE_ARRAY(p, lines);
  FREE_ARRAY(p, string_bytes);
  FREE_ARRAY(p, string_offsets);
  FREE_ARRAY(p, string_lengths);
  lw_release(p->allocator, p->string_hash, p->string_hash_cap * sizeof(uint32_t));
  lw_release(p->allocator, p->location_index, p->location_index_len * sizeof(uint32_t));
  lw_release(p->allocator, p->function_index, p->function_index_len * sizeof(uint32_t));
  lw_release(p->allocator, p->mapping_index, p->mapping_index_len * sizeof(uint32_t));
  const lw_allocator_t *allocator = p->allocator;
  memset(p, 0, sizeof *p);
  p->allocator = allocator;
}

/* ---- strings --------------------------------------------------------------------------- */

static uint32_t hash_bytes(const char *text, size_t len) {
  uint32_t h = 2166136261u; /* FNV-1a */
  for (size_t i = 0; i < len; i++)
    h = (h ^ (uint8_t)text[i]) * 16777619u;
  return h;
}

/* Appends a string to the table without interning; returns its index or -1. */
static int64_t append_string(lw_profile_t *p, const char *text, size_t len) {
  if (p->n_string_bytes + len + 1 > UINT32_MAX) {
    p->failed = true;
    return -1;
  }
  uint32_t offset = (uint32_t)p->n_string_bytes;
  for (size_t i = 0; i < len; i++) {
    char *c = PUSH(p, string_bytes);
    if (!c)
      return -1;
    *c = text[i];
  }
  char *nul = PUSH(p, string_bytes);
  uint32_t *off = PUSH(p, string_offsets);
  uint32_t *length = PUSH(p, string_lengths);
  if (!nul || !off || !length)
    return -1;
  *nul = '\0';
  *off = offset;
  *length = (uint32_t)len;
  return (int64_t)p->n_string_offsets - 1;
}

static bool string_equals(const lw_profile_t *p, uint32_t index, const char *text, size_t len) {
  return p->string_lengths[index] == len &&
         memcmp(p->string_bytes + p->string_offsets[index], text, len) == 0;
}

/* (Re)builds the intern hash with room for at least `want` strings at 50% load. */
static bool rehash_strings(lw_profile_t *p, size_t want) {
  size_t cap = 64;
  while (cap < want * 2)
    cap *= 2;
  uint32_t *table = lw_alloc(p->allocator, cap * sizeof(uint32_t));
  if (!table) {
    p->failed = true;
    return false;
  }
  memset(table, 0, cap * sizeof(uint32_t));
  for (size_t i = 0; i < p->n_string_offsets; i++) {
    uint32_t h = hash_bytes(p->string_bytes + p->string_offsets[i], p->string_lengths[i]);
    size_t slot = h & (cap - 1);
    while (table[slot]) {
      uint32_t other = table[slot] - 1;
      if (string_equals(p, other, p->string_bytes + p->string_offsets[i], p->string_lengths[i]))
        break; /* duplicates in a decoded table: keep the first */
      slot = (slot + 1) & (cap - 1);
    }
    if (!table[slot])
      table[slot] = (uint32_t)i + 1;
  }
  lw_release(p->allocator, p->string_hash, p->string_hash_cap * sizeof(uint32_t));
  p->string_hash = table;
  p->string_hash_cap = cap;
  return true;
}

int64_t lw_profile_string_n(lw_profile_t *p, const char *text, size_t len) {
  if (p->n_string_offsets == 0)
    return append_string(p, "", 0) < 0 ? 0 : (len == 0 ? 0 : lw_profile_string_n(p, text, len));
  if (len == 0 && p->string_lengths[0] == 0)
    return 0;
  if (p->string_hash_cap < (p->n_string_offsets + 1) * 2 &&
      !rehash_strings(p, p->n_string_offsets + 1))
    return 0;
  uint32_t h = hash_bytes(text, len);
  size_t slot = h & (p->string_hash_cap - 1);
  while (p->string_hash[slot]) {
    uint32_t index = p->string_hash[slot] - 1;
    if (string_equals(p, index, text, len))
      return index;
    slot = (slot + 1) & (p->string_hash_cap - 1);
  }
  int64_t index = append_string(p, text, len);
  if (index < 0)
    return 0;
  p->string_hash[slot] = (uint32_t)index + 1;
  return index;
}

int64_t lw_profile_string(lw_profile_t *p, const char *text) {
  return lw_profile_string_n(p, text ? text : "", text ? strlen(text) : 0);
}

const char *lw_profile_str(const lw_profile_t *p, int64_t index) {
  if (index < 0 || (uint64_t)index >= p->n_string_offsets)
    return "";
  return p->string_bytes + p->string_offsets[index];
}

/* ---- builder --------------------------------------------------------------------------- */

void lw_profile_add_sample_type(lw_profile_t *p, const char *type, const char *unit) {
  int64_t t = lw_profile_string(p, type);
  int64_t u = lw_profile_string(p, unit);
  lw_profile_value_type_t *vt = PUSH(p, sample_types);
  if (vt) {
    vt->type = t;
    vt->unit = u;
  }
}

void lw_profile_set_heap_layout(lw_profile_t *p, int64_t sampling_rate) {
  lw_profile_add_sample_type(p, "alloc_objects", "count");
  lw_profile_add_sample_type(p, "alloc_space", "bytes");
  lw_profile_add_sample_type(p, "inuse_objects", "count");
  lw_profile_add_sample_type(p, "inuse_space", "bytes");
  p->period_type.type = lw_profile_string(p, "space");
  p->period_type.unit = lw_profile_string(p, "bytes");
  p->period = sampling_rate;
}

uint64_t lw_profile_add_mapping(lw_profile_t *p, const lw_profile_mapping_t *mapping) {
  lw_profile_mapping_t *m = PUSH(p, mappings);
  if (!m)
    return 0;
  *m = *mapping;
  m->id = p->n_mappings;
  return m->id;
}

uint64_t lw_profile_add_function(lw_profile_t *p, int64_t name, int64_t system_name,
                                 int64_t filename, int64_t start_line) {
  lw_profile_function_t *f = PUSH(p, functions);
  if (!f)
    return 0;
  f->id = p->n_functions;
  f->name = name;
  f->system_name = system_name;
  f->filename = filename;
  f->start_line = start_line;
  return f->id;
}

static bool append_lines(lw_profile_t *p, const lw_profile_line_t *lines, size_t n,
                         uint32_t *first) {
  *first = (uint32_t)p->n_lines;
  for (size_t i = 0; i < n; i++) {
    lw_profile_line_t *line = PUSH(p, lines);
    if (!line)
      return false;
    *line = lines[i];
  }
  return true;
}

uint64_t lw_profile_add_location(lw_profile_t *p, uint64_t mapping_id, uint64_t address,
                                 const lw_profile_line_t *lines, size_t n_lines) {
  uint32_t first;
  if (!append_lines(p, lines, n_lines, &first))
    return 0;
  lw_profile_location_t *l = PUSH(p, locations);
  if (!l)
    return 0;
  memset(l, 0, sizeof *l);
  l->id = p->n_locations;
  l->mapping_id = mapping_id;
  l->address = address;
  l->first_line = first;
  l->n_lines = (uint32_t)n_lines;
  return l->id;
}

int lw_profile_set_lines(lw_profile_t *p, lw_profile_location_t *location,
                         const lw_profile_line_t *lines, size_t n_lines) {
  uint32_t first;
  if (!append_lines(p, lines, n_lines, &first))
    return -1;
  location->first_line = first;
  location->n_lines = (uint32_t)n_lines;
  return 0;
}

int lw_profile_add_sample(lw_profile_t *p, const uint64_t *location_ids, size_t n_locations,
                          const int64_t *values, size_t n_values,
                          const lw_profile_label_t *labels, size_t n_labels) {
  lw_profile_sample_t s = {(uint32_t)p->n_location_ids, (uint32_t)n_locations,
                           (uint32_t)p->n_values,       (uint32_t)n_values,
                           (uint32_t)p->n_labels,       (uint32_t)n_labels};
  for (size_t i = 0; i < n_locations; i++) {
    uint64_t *id = PUSH(p, location_ids);
    if (!id)
      return -1;
    *id = location_ids[i];
  }
  for (size_t i = 0; i < n_values; i++) {
    int64_t *v = PUSH(p, values);
    if (!v)
      return -1;
    *v = values[i];
  }
  for (size_t i = 0; i < n_labels; i++) {
    lw_profile_label_t *l = PUSH(p, labels);
    if (!l)
      return -1;
    *l = labels[i];
  }
  lw_profile_sample_t *slot = PUSH(p, samples);
  if (!slot)
    return -1;
  *slot = s;
  return 0;
}

void lw_profile_add_comment(lw_profile_t *p, const char *text) {
  int64_t index = lw_profile_string(p, text);
  int64_t *c = PUSH(p, comments);
  if (c)
    *c = index;
}

/* ---- id lookups ------------------------------------------------------------------------ */

/* Builds a dense id -> index+1 table when ids are small enough (they are 1..n from every
 * writer we know); sparse ids fall back to a linear scan in the lookups. */
#define BUILD_INDEX(p, items, index, len)                                             \
  do {                                                                               \
    lw_release((p)->allocator, (p)->index, (p)->len * sizeof(uint32_t));              \
    (p)->index = NULL;                                                               \
    (p)->len = 0;                                                                    \
    uint64_t max_id = 0;                                                             \
    for (size_t i_ = 0; i_ < (p)->n_##items; i_++)                                   \
      if ((p)->items[i_].id > max_id)                                                \
        max_id = (p)->items[i_].id;                                                  \
    if (max_id > 0 && max_id <= 4 * (uint64_t)(p)->n_##items + 1024) {               \
      (p)->index = lw_alloc((p)->allocator, (size_t)(max_id + 1) * sizeof(uint32_t)); \
      if (!(p)->index)                                                               \
        return -1;                                                                   \
      memset((p)->index, 0, (size_t)(max_id + 1) * sizeof(uint32_t));               \
      (p)->len = (size_t)max_id + 1;                                                 \
      for (size_t i_ = 0; i_ < (p)->n_##items; i_++)                                 \
        (p)->index[(p)->items[i_].id] = (uint32_t)i_ + 1;                            \
    }                                                                                \
  } while (0)

int lw_profile_build_index(lw_profile_t *p) {
  BUILD_INDEX(p, locations, location_index, location_index_len);
  BUILD_INDEX(p, functions, function_index, function_index_len);
  BUILD_INDEX(p, mappings, mapping_index, mapping_index_len);
  return 0;
}

#define LOOKUP(p, items, index, len, id)                       \
  do {                                                        \
    if ((id) == 0)                                            \
      return NULL;                                            \
    if ((p)->index) {                                         \
      if ((id) >= (p)->len || !(p)->index[(id)])              \
        return NULL;                                          \
      return &(p)->items[(p)->index[(id)] - 1];               \
    }                                                         \
    for (size_t i_ = 0; i_ < (p)->n_##items; i_++)            \
      if ((p)->items[i_].id == (id))                          \
        return &(p)->items[i_];                               \
    return NULL;                                              \
  } while (0)

const lw_profile_location_t *lw_profile_location(const lw_profile_t *p, uint64_t id) {
  LOOKUP(p, locations, location_index, location_index_len, id);
}
const lw_profile_function_t *lw_profile_function(const lw_profile_t *p, uint64_t id) {
  LOOKUP(p, functions, function_index, function_index_len, id);
}
const lw_profile_mapping_t *lw_profile_mapping(const lw_profile_t *p, uint64_t id) {
  LOOKUP(p, mappings, mapping_index, mapping_index_len, id);
}

int lw_profile_sample_type_index(const lw_profile_t *p, const char *type) {
  for (size_t i = 0; i < p->n_sample_types; i++)
    if (strcmp(lw_profile_str(p, p->sample_types[i].type), type) == 0)
      return (int)i;
  return -1;
}

/* ---- encoder --------------------------------------------------------------------------- */

static void encode_value_type(lw_buf_t *out, uint32_t field, const lw_profile_value_type_t *vt) {
  size_t mark = lw_pb_begin(out, field);
  lw_pb_int(out, 1, vt->type);
  lw_pb_int(out, 2, vt->unit);
  lw_pb_end(out, mark);
}

int lw_profile_encode(const lw_profile_t *p, lw_buf_t *out) {
  if (p->failed)
    return -1;
  for (size_t i = 0; i < p->n_sample_types; i++)
    encode_value_type(out, 1, &p->sample_types[i]);
  for (size_t i = 0; i < p->n_samples; i++) {
    const lw_profile_sample_t *s = &p->samples[i];
    size_t mark = lw_pb_begin(out, 2);
    lw_pb_repeated_uint(out, 1, lw_sample_locations(p, s), s->n_locations);
    lw_pb_repeated_int(out, 2, lw_sample_values(p, s), s->n_values);
    for (uint32_t j = 0; j < s->n_labels; j++) {
      const lw_profile_label_t *l = &lw_sample_labels(p, s)[j];
      size_t label_mark = lw_pb_begin(out, 3);
      lw_pb_int(out, 1, l->key);
      lw_pb_int(out, 2, l->str);
      lw_pb_int(out, 3, l->num);
      lw_pb_int(out, 4, l->num_unit);
      lw_pb_end(out, label_mark);
    }
    lw_pb_end(out, mark);
  }
  for (size_t i = 0; i < p->n_mappings; i++) {
    const lw_profile_mapping_t *m = &p->mappings[i];
    size_t mark = lw_pb_begin(out, 3);
    lw_pb_uint(out, 1, m->id);
    lw_pb_uint(out, 2, m->memory_start);
    lw_pb_uint(out, 3, m->memory_limit);
    lw_pb_uint(out, 4, m->file_offset);
    lw_pb_int(out, 5, m->filename);
    lw_pb_int(out, 6, m->build_id);
    lw_pb_uint(out, 7, m->has_functions);
    lw_pb_uint(out, 8, m->has_filenames);
    lw_pb_uint(out, 9, m->has_line_numbers);
    lw_pb_uint(out, 10, m->has_inline_frames);
    lw_pb_end(out, mark);
  }
  for (size_t i = 0; i < p->n_locations; i++) {
    const lw_profile_location_t *l = &p->locations[i];
    size_t mark = lw_pb_begin(out, 4);
    lw_pb_uint(out, 1, l->id);
    lw_pb_uint(out, 2, l->mapping_id);
    lw_pb_uint(out, 3, l->address);
    for (uint32_t j = 0; j < l->n_lines; j++) {
      const lw_profile_line_t *line = &lw_location_lines(p, l)[j];
      size_t line_mark = lw_pb_begin(out, 4);
      lw_pb_uint(out, 1, line->function_id);
      lw_pb_int(out, 2, line->line);
      lw_pb_int(out, 3, line->column);
      lw_pb_end(out, line_mark);
    }
    lw_pb_uint(out, 5, l->is_folded);
    lw_pb_end(out, mark);
  }
  for (size_t i = 0; i < p->n_functions; i++) {
    const lw_profile_function_t *f = &p->functions[i];
    size_t mark = lw_pb_begin(out, 5);
    lw_pb_uint(out, 1, f->id);
    lw_pb_int(out, 2, f->name);
    lw_pb_int(out, 3, f->system_name);
    lw_pb_int(out, 4, f->filename);
    lw_pb_int(out, 5, f->start_line);
    lw_pb_end(out, mark);
  }
  for (size_t i = 0; i < p->n_string_offsets; i++)
    lw_pb_bytes(out, 6, p->string_bytes + p->string_offsets[i], p->string_lengths[i]);
  lw_pb_int(out, 7, p->drop_frames);
  lw_pb_int(out, 8, p->keep_frames);
  lw_pb_int(out, 9, p->time_nanos);
  lw_pb_int(out, 10, p->duration_nanos);
  if (p->period_type.type || p->period_type.unit)
    encode_value_type(out, 11, &p->period_type);
  lw_pb_int(out, 12, p->period);
  if (p->n_comments) {
    /* Go writes comments unpacked; either form is accepted by every reader. */
    for (size_t i = 0; i < p->n_comments; i++) {
      lw_pb_key(out, 13, LW_PB_VARINT);
      lw_pb_varint(out, (uint64_t)p->comments[i]);
    }
  }
  lw_pb_int(out, 14, p->default_sample_type);
  lw_pb_int(out, 15, p->doc_url);
  return lw_buf_failed(out) ? -1 : 0;
}

/* ---- decoder --------------------------------------------------------------------------- */

typedef struct {
  lw_profile_t *p;
  char *error;
  size_t error_size;
} decoder_t;

static int fail(decoder_t *d, const char *format, ...) __attribute__((format(printf, 2, 3)));
static int fail(decoder_t *d, const char *format, ...) {
  va_list args;
  va_start(args, format);
  if (d->error && d->error_size)
    lw_vfmt(d->error, d->error_size, format, args);
  va_end(args);
  return -1;
}

#define MALFORMED(d, what) fail((d), "malformed protobuf in %s", (what))
#define OOM(d) fail((d), "out of memory while decoding")

/* Reads one element, or a packed run, of a repeated varint field into `push`. */
typedef bool (*push_varint_fn)(lw_profile_t *p, uint64_t value);

static bool push_location_id(lw_profile_t *p, uint64_t v) {
  uint64_t *slot = PUSH(p, location_ids);
  return slot && (*slot = v, true);
}
static bool push_value(lw_profile_t *p, uint64_t v) {
  int64_t *slot = PUSH(p, values);
  return slot && (*slot = (int64_t)v, true);
}
static bool push_comment(lw_profile_t *p, uint64_t v) {
  int64_t *slot = PUSH(p, comments);
  return slot && (*slot = (int64_t)v, true);
}

/* Grows the array a push function appends to so `extra` more fit. */
static bool reserve_array(lw_profile_t *p, void **data, size_t n, size_t *cap, size_t elem,
                          size_t extra) {
  if (n + extra <= *cap)
    return true;
  size_t new_cap = *cap ? *cap : 16;
  while (new_cap < n + extra)
    new_cap *= 2;
  if (new_cap > UINT32_MAX) {
    p->failed = true;
    return false;
  }
  void *grown = *data ? lw_resize(p->allocator, *data, *cap * elem, new_cap * elem)
                      : lw_alloc(p->allocator, new_cap * elem);
  if (!grown) {
    p->failed = true;
    return false;
  }
  *data = grown;
  *cap = new_cap;
  return true;
}

static bool push_reserve(lw_profile_t *p, push_varint_fn push, size_t extra) {
  if (push == push_location_id)
    return reserve_array(p, (void **)&p->location_ids, p->n_location_ids, &p->cap_location_ids,
                         sizeof *p->location_ids, extra);
  if (push == push_value)
    return reserve_array(p, (void **)&p->values, p->n_values, &p->cap_values, sizeof *p->values,
                         extra);
  return reserve_array(p, (void **)&p->comments, p->n_comments, &p->cap_comments,
                       sizeof *p->comments, extra);
}

static int read_repeated(decoder_t *d, lw_pb_reader_t *r, int wire_type, push_varint_fn push,
                         uint32_t *count, const char *what) {
  uint64_t v;
  if (wire_type == LW_PB_VARINT) {
    if (lw_pb_read_varint(r, &v) < 0)
      return MALFORMED(d, what);
    if (!push(d->p, v))
      return OOM(d);
    (*count)++;
    return 0;
  }
  if (wire_type != LW_PB_BYTES)
    return MALFORMED(d, what);
  const uint8_t *data;
  size_t len;
  if (lw_pb_read_bytes(r, &data, &len) < 0)
    return MALFORMED(d, what);
  /* Packed run: each varint ends in a byte with the top bit clear, so counting those
   * sizes the array once (a 200k-sample profile has millions of location ids). */
  size_t n_varints = 0;
  for (size_t i = 0; i < len; i++)
    n_varints += data[i] < 0x80;
  if (n_varints && !push_reserve(d->p, push, n_varints))
    return OOM(d);
  if (push == push_location_id) {
    /* The hot case (every sample's stack): decode straight into the reserved array. A
     * varint of more than 10 bytes, or one cut off at the end, is malformed. */
    lw_profile_t *p = d->p;
    const uint8_t *pos = data, *end = data + len;
    while (pos < end) {
      uint64_t value = 0;
      int shift = 0;
      for (;;) {
        if (pos == end || shift > 63)
          return MALFORMED(d, what);
        uint8_t byte = *pos++;
        if (shift == 63 && byte > 1)
          return MALFORMED(d, what); /* more than 64 bits, as lw_pb_read_varint says */
        value |= (uint64_t)(byte & 0x7f) << shift;
        if (byte < 0x80)
          break;
        shift += 7;
      }
      p->location_ids[p->n_location_ids++] = value;
      (*count)++;
    }
    return 0;
  }
  lw_pb_reader_t packed;
  lw_pb_reader_init(&packed, data, len);
  while (packed.pos < packed.end) {
    if (lw_pb_read_varint(&packed, &v) < 0)
      return MALFORMED(d, what);
    if (!push(d->p, v))
      return OOM(d);
    (*count)++;
  }
  return 0;
}

/* Reads a varint field value, checking the wire type. */
static int read_int(decoder_t *d, lw_pb_reader_t *r, int wire_type, uint64_t *out,
                    const char *what) {
  if (wire_type != LW_PB_VARINT || lw_pb_read_varint(r, out) < 0)
    return MALFORMED(d, what);
  return 0;
}

static int read_sub(decoder_t *d, lw_pb_reader_t *r, int wire_type, lw_pb_reader_t *sub,
                    const char *what) {
  const uint8_t *data;
  size_t len;
  if (wire_type != LW_PB_BYTES || lw_pb_read_bytes(r, &data, &len) < 0)
    return MALFORMED(d, what);
  lw_pb_reader_init(sub, data, len);
  return 0;
}

/* Iterates the fields of a sub-message; the body handles known fields and `continue`s. */
#define FOR_FIELDS(d, r, what)                                    \
  for (;;) {                                                      \
    uint32_t field;                                               \
    int wire_type;                                                \
    int got_ = lw_pb_next_field((r), &field, &wire_type);         \
    if (got_ < 0)                                                 \
      return MALFORMED((d), (what));                              \
    if (got_ == 0)                                                \
      break;
#define END_FIELDS(d, r, what)                                    \
  if (lw_pb_skip((r), wire_type) < 0)                             \
    return MALFORMED((d), (what));                                \
  }

static int decode_value_type(decoder_t *d, lw_pb_reader_t *r, lw_profile_value_type_t *vt) {
  uint64_t v;
  FOR_FIELDS(d, r, "value type")
  if (field == 1 || field == 2) {
    if (read_int(d, r, wire_type, &v, "value type") < 0)
      return -1;
    if (field == 1)
      vt->type = (int64_t)v;
    else
      vt->unit = (int64_t)v;
    continue;
  }
  END_FIELDS(d, r, "value type")
  return 0;
}

static int decode_label(decoder_t *d, lw_pb_reader_t *r, lw_profile_label_t *label) {
  uint64_t v;
  FOR_FIELDS(d, r, "label")
  if (field >= 1 && field <= 4) {
    if (read_int(d, r, wire_type, &v, "label") < 0)
      return -1;
    int64_t *slots[] = {&label->key, &label->str, &label->num, &label->num_unit};
    *slots[field - 1] = (int64_t)v;
    continue;
  }
  END_FIELDS(d, r, "label")
  return 0;
}

static int decode_line(decoder_t *d, lw_pb_reader_t *r, lw_profile_line_t *line) {
  uint64_t v;
  FOR_FIELDS(d, r, "line")
  if (field >= 1 && field <= 3) {
    if (read_int(d, r, wire_type, &v, "line") < 0)
      return -1;
    if (field == 1)
      line->function_id = v;
    else if (field == 2)
      line->line = (int64_t)v;
    else
      line->column = (int64_t)v;
    continue;
  }
  END_FIELDS(d, r, "line")
  return 0;
}

static int decode_sample(decoder_t *d, lw_pb_reader_t *r) {
  lw_profile_t *p = d->p;
  lw_profile_sample_t s = {(uint32_t)p->n_location_ids, 0, (uint32_t)p->n_values, 0,
                           (uint32_t)p->n_labels, 0};
  FOR_FIELDS(d, r, "sample")
  if (field == 1) {
    if (read_repeated(d, r, wire_type, push_location_id, &s.n_locations, "sample") < 0)
      return -1;
    continue;
  }
  if (field == 2) {
    if (read_repeated(d, r, wire_type, push_value, &s.n_values, "sample") < 0)
      return -1;
    continue;
  }
  if (field == 3) {
    lw_pb_reader_t sub;
    if (read_sub(d, r, wire_type, &sub, "label") < 0)
      return -1;
    lw_profile_label_t label = {0, 0, 0, 0};
    if (decode_label(d, &sub, &label) < 0)
      return -1;
    lw_profile_label_t *slot = PUSH(p, labels);
    if (!slot)
      return OOM(d);
    *slot = label;
    s.n_labels++;
    continue;
  }
  END_FIELDS(d, r, "sample")
  lw_profile_sample_t *slot = PUSH(p, samples);
  if (!slot)
    return OOM(d);
  *slot = s;
  return 0;
}

static int decode_mapping(decoder_t *d, lw_pb_reader_t *r) {
  lw_profile_mapping_t m;
  memset(&m, 0, sizeof m);
  uint64_t v;
  FOR_FIELDS(d, r, "mapping")
  if (field >= 1 && field <= 10) {
    if (read_int(d, r, wire_type, &v, "mapping") < 0)
      return -1;
    switch (field) {
    case 1: m.id = v; break;
    case 2: m.memory_start = v; break;
    case 3: m.memory_limit = v; break;
    case 4: m.file_offset = v; break;
    case 5: m.filename = (int64_t)v; break;
    case 6: m.build_id = (int64_t)v; break;
    case 7: m.has_functions = v != 0; break;
    case 8: m.has_filenames = v != 0; break;
    case 9: m.has_line_numbers = v != 0; break;
    default: m.has_inline_frames = v != 0; break;
    }
    continue;
  }
  END_FIELDS(d, r, "mapping")
  lw_profile_mapping_t *slot = PUSH(d->p, mappings);
  if (!slot)
    return OOM(d);
  *slot = m;
  return 0;
}

static int decode_location(decoder_t *d, lw_pb_reader_t *r) {
  lw_profile_t *p = d->p;
  lw_profile_location_t l;
  memset(&l, 0, sizeof l);
  l.first_line = (uint32_t)p->n_lines;
  uint64_t v;
  FOR_FIELDS(d, r, "location")
  if (field == 4) {
    lw_pb_reader_t sub;
    if (read_sub(d, r, wire_type, &sub, "line") < 0)
      return -1;
    lw_profile_line_t line = {0, 0, 0};
    if (decode_line(d, &sub, &line) < 0)
      return -1;
    lw_profile_line_t *slot = PUSH(p, lines);
    if (!slot)
      return OOM(d);
    *slot = line;
    l.n_lines++;
    continue;
  }
  if (field == 1 || field == 2 || field == 3 || field == 5) {
    if (read_int(d, r, wire_type, &v, "location") < 0)
      return -1;
    if (field == 1)
      l.id = v;
    else if (field == 2)
      l.mapping_id = v;
    else if (field == 3)
      l.address = v;
    else
      l.is_folded = v != 0;
    continue;
  }
  END_FIELDS(d, r, "location")
  lw_profile_location_t *slot = PUSH(p, locations);
  if (!slot)
    return OOM(d);
  *slot = l;
  return 0;
}

static int decode_function(decoder_t *d, lw_pb_reader_t *r) {
  lw_profile_function_t f;
  memset(&f, 0, sizeof f);
  uint64_t v;
  FOR_FIELDS(d, r, "function")
  if (field >= 1 && field <= 5) {
    if (read_int(d, r, wire_type, &v, "function") < 0)
      return -1;
    switch (field) {
    case 1: f.id = v; break;
    case 2: f.name = (int64_t)v; break;
    case 3: f.system_name = (int64_t)v; break;
    case 4: f.filename = (int64_t)v; break;
    default: f.start_line = (int64_t)v; break;
    }
    continue;
  }
  END_FIELDS(d, r, "function")
  lw_profile_function_t *slot = PUSH(d->p, functions);
  if (!slot)
    return OOM(d);
  *slot = f;
  return 0;
}

static int decode_fields(decoder_t *d, lw_pb_reader_t *r) {
  lw_profile_t *p = d->p;
  uint64_t v;
  FOR_FIELDS(d, r, "profile")
  lw_pb_reader_t sub;
  switch (field) {
  case 1: {
    lw_profile_value_type_t vt = {0, 0};
    if (read_sub(d, r, wire_type, &sub, "sample_type") < 0 || decode_value_type(d, &sub, &vt) < 0)
      return -1;
    lw_profile_value_type_t *slot = PUSH(p, sample_types);
    if (!slot)
      return OOM(d);
    *slot = vt;
    continue;
  }
  case 2:
    if (read_sub(d, r, wire_type, &sub, "sample") < 0 || decode_sample(d, &sub) < 0)
      return -1;
    continue;
  case 3:
    if (read_sub(d, r, wire_type, &sub, "mapping") < 0 || decode_mapping(d, &sub) < 0)
      return -1;
    continue;
  case 4:
    if (read_sub(d, r, wire_type, &sub, "location") < 0 || decode_location(d, &sub) < 0)
      return -1;
    continue;
  case 5:
    if (read_sub(d, r, wire_type, &sub, "function") < 0 || decode_function(d, &sub) < 0)
      return -1;
    continue;
  case 6: {
    const uint8_t *data;
    size_t len;
    if (wire_type != LW_PB_BYTES || lw_pb_read_bytes(r, &data, &len) < 0)
      return MALFORMED(d, "string table");
    if (append_string(p, (const char *)data, len) < 0)
      return OOM(d);
    continue;
  }
  case 11:
    if (read_sub(d, r, wire_type, &sub, "period_type") < 0 ||
        decode_value_type(d, &sub, &p->period_type) < 0)
      return -1;
    continue;
  case 13: {
    uint32_t ignored = 0;
    if (read_repeated(d, r, wire_type, push_comment, &ignored, "comment") < 0)
      return -1;
    continue;
  }
  case 7: case 8: case 9: case 10: case 12: case 14: case 15: {
    if (read_int(d, r, wire_type, &v, "profile") < 0)
      return -1;
    int64_t *slots[] = {&p->drop_frames, &p->keep_frames, &p->time_nanos, &p->duration_nanos,
                        NULL, &p->period, NULL, &p->default_sample_type, &p->doc_url};
    *slots[field - 7] = (int64_t)v;
    continue;
  }
  default:
    break;
  }
  END_FIELDS(d, r, "profile")
  return 0;
}

static bool string_ok(const lw_profile_t *p, int64_t index) {
  return index >= 0 && (uint64_t)index < p->n_string_offsets;
}

/* Checks the rules pprof's reader enforces (FORMATS.md 1.3), naming the first violation. */
static int validate(decoder_t *d) {
  lw_profile_t *p = d->p;
  if (p->n_string_offsets == 0)
    return fail(d, "no string table (not a pprof profile)");
  if (p->string_lengths[0] != 0)
    return fail(d, "string_table[0] is not empty (not a pprof profile)");
#define CHECK_STRING(index, what)                                                        \
  if (!string_ok(p, (index)))                                                            \
    return fail(d, "%s refers to string %lld but the table has %zu strings", (what),      \
                (long long)(index), p->n_string_offsets);
  for (size_t i = 0; i < p->n_sample_types; i++) {
    CHECK_STRING(p->sample_types[i].type, "a sample type");
    CHECK_STRING(p->sample_types[i].unit, "a sample type");
  }
  CHECK_STRING(p->period_type.type, "period_type");
  CHECK_STRING(p->period_type.unit, "period_type");
  CHECK_STRING(p->drop_frames, "drop_frames");
  CHECK_STRING(p->keep_frames, "keep_frames");
  CHECK_STRING(p->default_sample_type, "default_sample_type");
  CHECK_STRING(p->doc_url, "doc_url");
  for (size_t i = 0; i < p->n_comments; i++)
    CHECK_STRING(p->comments[i], "a comment");
  for (size_t i = 0; i < p->n_labels; i++) {
    CHECK_STRING(p->labels[i].key, "a label");
    CHECK_STRING(p->labels[i].str, "a label");
    CHECK_STRING(p->labels[i].num_unit, "a label");
  }
  for (size_t i = 0; i < p->n_mappings; i++) {
    CHECK_STRING(p->mappings[i].filename, "a mapping");
    CHECK_STRING(p->mappings[i].build_id, "a mapping");
  }
  for (size_t i = 0; i < p->n_functions; i++) {
    CHECK_STRING(p->functions[i].name, "a function");
    CHECK_STRING(p->functions[i].system_name, "a function");
    CHECK_STRING(p->functions[i].filename, "a function");
  }
#undef CHECK_STRING
  if (p->n_samples && !p->n_sample_types)
    return fail(d, "profile has samples but no sample types");
  if (lw_profile_build_index(p) < 0)
    return OOM(d);
  /* Ids: nonzero and unique per kind. */
#define CHECK_IDS(items, kind, lookup)                                                  \
  for (size_t i = 0; i < p->n_##items; i++) {                                          \
    if (p->items[i].id == 0)                                                           \
      return fail(d, "%s %zu has id 0", (kind), i);                                    \
    if (lookup(p, p->items[i].id) != &p->items[i])                                     \
      return fail(d, "%s id %llu is used twice", (kind),                               \
                  (unsigned long long)p->items[i].id);                                 \
  }
  CHECK_IDS(mappings, "mapping", lw_profile_mapping);
  CHECK_IDS(locations, "location", lw_profile_location);
  CHECK_IDS(functions, "function", lw_profile_function);
#undef CHECK_IDS
  for (size_t i = 0; i < p->n_locations; i++) {
    const lw_profile_location_t *l = &p->locations[i];
    if (l->mapping_id && !lw_profile_mapping(p, l->mapping_id))
      return fail(d, "location %llu refers to missing mapping %llu",
                  (unsigned long long)l->id, (unsigned long long)l->mapping_id);
    for (uint32_t j = 0; j < l->n_lines; j++) {
      uint64_t fid = lw_location_lines(p, l)[j].function_id;
      if (fid && !lw_profile_function(p, fid))
        return fail(d, "location %llu refers to missing function %llu",
                    (unsigned long long)l->id, (unsigned long long)fid);
    }
  }
  for (size_t i = 0; i < p->n_samples; i++) {
    const lw_profile_sample_t *s = &p->samples[i];
    if (s->n_values != p->n_sample_types)
      return fail(d, "sample %zu has %u values but there are %zu sample types", i,
                  s->n_values, p->n_sample_types);
    for (uint32_t j = 0; j < s->n_locations; j++) {
      uint64_t id = lw_sample_locations(p, s)[j];
      /* The dense index answers without a call; the lookup covers sparse ids. */
      if (p->location_index && id < p->location_index_len && p->location_index[id])
        continue;
      if (!lw_profile_location(p, id))
        return fail(d, "sample %zu refers to missing location %llu", i,
                    (unsigned long long)lw_sample_locations(p, s)[j]);
    }
  }
  return 0;
}

int lw_profile_decode(lw_profile_t *p, const uint8_t *data, size_t len, char *error,
                      size_t error_size) {
  decoder_t d = {p, error, error_size};
  /* Start from an empty string table: the wire carries its own, including "" at 0. */
  p->n_string_offsets = p->n_string_lengths = p->n_string_bytes = 0;
  lw_release(p->allocator, p->string_hash, p->string_hash_cap * sizeof(uint32_t));
  p->string_hash = NULL;
  p->string_hash_cap = 0;
  lw_pb_reader_t r;
  lw_pb_reader_init(&r, data, len);
  if (decode_fields(&d, &r) < 0)
    return -1;
  if (p->failed)
    return OOM(&d);
  return validate(&d);
}
