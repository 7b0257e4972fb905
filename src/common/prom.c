/*
 * prom.c - Prometheus text exposition writer (see prom.h). No stdio, no direct malloc.
 */
#include "common/prom.h"

#include <errno.h>
#include <string.h>

#include "common/number_format.h"

static void set_error(lw_prom_writer_t *w, int error) {
  if (w->error == 0)
    w->error = error;
}

void lw_prom_init(lw_prom_writer_t *writer, lw_buf_t *out) {
  memset(writer, 0, sizeof *writer);
  writer->out = out;
}

static bool name_char(char c, bool first, bool colon) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_')
    return true;
  if (c == ':')
    return colon;
  return !first && c >= '0' && c <= '9';
}

static bool valid_name(const char *name, bool colon) {
  if (!name || !name[0] || (name[0] == '_' && name[1] == '_'))
    return false;
  for (size_t i = 0; name[i]; i++)
    if (!name_char(name[i], i == 0, colon))
      return false;
  return true;
}

bool lw_prom_valid_metric_name(const char *name) { return valid_name(name, true); }
bool lw_prom_valid_label_name(const char *name) { return valid_name(name, false); }

static uint64_t hash_name(const char *name) {
  uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
  for (; *name; name++) {
    h ^= (uint8_t)*name;
    h *= 0x100000001b3ull;
  }
  return h;
}

/* HELP text: backslash and newline escaped (the format allows nothing else to be). */
static void append_help(lw_buf_t *out, const char *help) {
  for (; *help; help++) {
    if (*help == '\\')
      lw_buf_append(out, "\\\\", 2);
    else if (*help == '\n')
      lw_buf_append(out, "\\n", 2);
    else
      lw_buf_append_byte(out, (uint8_t)*help);
  }
}

/* Length of the valid UTF-8 sequence at p (1-4), or 0 if invalid (overlong forms,
 * surrogates and code points above U+10FFFF are invalid, as Go's utf8.ValidString says). */
static size_t utf8_sequence(const uint8_t *p) {
  uint8_t c = p[0];
  if (c < 0x80)
    return 1;
  size_t n;
  uint32_t cp;
  if ((c & 0xE0) == 0xC0) {
    n = 2;
    cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3;
    cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  for (size_t i = 1; i < n; i++) {
    if ((p[i] & 0xC0) != 0x80) /* also stops at the NUL terminator */
      return 0;
    cp = (cp << 6) | (p[i] & 0x3F);
  }
  static const uint32_t min_for_length[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < min_for_length[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return n;
}

void lw_prom_escape_label_value(lw_buf_t *out, const char *value) {
  const uint8_t *p = (const uint8_t *)value;
  while (*p) {
    if (*p == '\\') {
      lw_buf_append(out, "\\\\", 2);
      p++;
    } else if (*p == '"') {
      lw_buf_append(out, "\\\"", 2);
      p++;
    } else if (*p == '\n') {
      lw_buf_append(out, "\\n", 2);
      p++;
    } else {
      size_t n = utf8_sequence(p);
      if (n == 0) {
        lw_buf_append(out, "\xEF\xBF\xBD", 3); /* U+FFFD REPLACEMENT CHARACTER */
        p++;
      } else {
        lw_buf_append(out, p, n);
        p += n;
      }
    }
  }
}

int lw_prom_family(lw_prom_writer_t *writer, const char *name, lw_prom_type_t type,
                   const char *help) {
  writer->in_family = false;
  if (writer->error)
    return writer->error;
  size_t len = name ? strlen(name) : 0;
  if (!lw_prom_valid_metric_name(name) || len >= sizeof writer->family) {
    set_error(writer, -EINVAL);
    return writer->error;
  }
  uint64_t h = hash_name(name);
  for (size_t i = 0; i < writer->n_seen; i++)
    if (writer->seen[i] == h) {
      set_error(writer, -EEXIST);
      return writer->error;
    }
  if (writer->n_seen >= LW_PROM_MAX_FAMILIES) {
    set_error(writer, -E2BIG);
    return writer->error;
  }
  writer->seen[writer->n_seen++] = h;
  memcpy(writer->family, name, len + 1);
  writer->type = type;
  writer->in_family = true;
  static const char *types[] = {"counter", "gauge", "untyped", "histogram", "summary"};
  lw_buf_t *out = writer->out;
  lw_buf_append_str(out, "# HELP ");
  lw_buf_append_str(out, name);
  lw_buf_append_byte(out, ' ');
  append_help(out, help ? help : "");
  lw_buf_append_str(out, "\n# TYPE ");
  lw_buf_append_str(out, name);
  lw_buf_append_byte(out, ' ');
  lw_buf_append_str(out, types[(unsigned)type <= LW_PROM_SUMMARY ? type : LW_PROM_UNTYPED]);
  lw_buf_append_byte(out, '\n');
  return 0;
}

static bool suffix_allowed(lw_prom_type_t type, const char *suffix) {
  if (!suffix || !suffix[0])
    return true;
  if (strcmp(suffix, "_sum") == 0 || strcmp(suffix, "_count") == 0)
    return type == LW_PROM_HISTOGRAM || type == LW_PROM_SUMMARY;
  if (strcmp(suffix, "_bucket") == 0)
    return type == LW_PROM_HISTOGRAM;
  return false;
}

/* Writes "name{labels} " and returns false (error set) if the sample is not allowed. */
static bool sample_head(lw_prom_writer_t *w, const char *suffix, const lw_prom_label_t *labels,
                        size_t n_labels) {
  if (w->error)
    return false;
  if (!w->in_family) {
    set_error(w, -EPROTO);
    return false;
  }
  if (!suffix_allowed(w->type, suffix)) {
    set_error(w, -EINVAL);
    return false;
  }
  for (size_t i = 0; i < n_labels; i++)
    if (!lw_prom_valid_label_name(labels[i].name) || !labels[i].value) {
      set_error(w, -EINVAL);
      return false;
    }
  lw_buf_t *out = w->out;
  lw_buf_append_str(out, w->family);
  if (suffix)
    lw_buf_append_str(out, suffix);
  if (n_labels) {
    lw_buf_append_byte(out, '{');
    for (size_t i = 0; i < n_labels; i++) {
      if (i)
        lw_buf_append_byte(out, ',');
      lw_buf_append_str(out, labels[i].name);
      lw_buf_append(out, "=\"", 2);
      lw_prom_escape_label_value(out, labels[i].value);
      lw_buf_append_byte(out, '"');
    }
    lw_buf_append_byte(out, '}');
  }
  lw_buf_append_byte(out, ' ');
  w->n_samples++;
  return true;
}

void lw_prom_sample(lw_prom_writer_t *writer, const char *suffix, const lw_prom_label_t *labels,
                    size_t n_labels, double value) {
  if (!sample_head(writer, suffix, labels, n_labels))
    return;
  char text[LW_NUMBER_MAX];
  size_t n = lw_format_double(text, sizeof text, value);
  lw_buf_append(writer->out, text, n);
  lw_buf_append_byte(writer->out, '\n');
}

void lw_prom_sample_u64(lw_prom_writer_t *writer, const char *suffix,
                        const lw_prom_label_t *labels, size_t n_labels, uint64_t value) {
  if (!sample_head(writer, suffix, labels, n_labels))
    return;
  char text[LW_NUMBER_MAX];
  size_t n = lw_format_u64(text, sizeof text, value);
  lw_buf_append(writer->out, text, n);
  lw_buf_append_byte(writer->out, '\n');
}

int lw_prom_finish(lw_prom_writer_t *writer) {
  if (writer->error)
    return writer->error;
  return lw_buf_failed(writer->out) ? -ENOMEM : 0;
}
