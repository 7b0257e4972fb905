/*
 * profile_io.c - bounded, validating profile file reads and atomic writes (profile_io.h).
 */
#include "cli/profile_io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/inflate.h"
#include "cli/output.h"
#include "common/file.h"
#include "common/gzip.h"
#include "common/units.h"

static int fail(char *error, size_t error_size, const char *name, const char *problem) {
  if (error && error_size)
    snprintf(error, error_size, "'%s': %s", name, problem);
  return -1;
}

/* "is 2.00 GiB, more than the limit of 1.00 GiB" */
static void too_big(char *out, size_t size, const char *what, uint64_t bytes, uint64_t limit) {
  char have[32], max[32];
  lw_format_bytes(have, sizeof have, (double)bytes);
  lw_format_bytes(max, sizeof max, (double)limit);
  snprintf(out, size, "%s is %s, more than the limit of %s", what, have, max);
}

int lw_cli_load_profile_data(const char *name, const uint8_t *data, size_t len,
                             lw_profile_t *out, char *error, size_t error_size) {
  return lw_cli_load_profile_data_limited(name, data, len, LW_PROFILE_MAX_DECODED_BYTES, out,
                                          error, error_size);
}

/* ---- reading the input, refusing what cannot be a profile as early as possible ---------- */

typedef struct {
  size_t pos;      /* the next top-level field of a plain protobuf starts here */
  bool gzip;       /* gzip data: judged by the inflater as it goes */
  bool bad;        /* the bytes so far cannot begin a Profile */
} sniff_t;

/* A varint at data[*pos..len): 1 read, 0 needs more bytes, -1 too long to be one. */
static int scan_varint(const uint8_t *data, size_t len, size_t *pos, uint64_t *value) {
  uint64_t v = 0;
  for (size_t i = 0; i < 10; i++) {
    if (*pos + i >= len)
      return 0;
    v |= (uint64_t)(data[*pos + i] & 0x7f) << (7 * i);
    if (!(data[*pos + i] & 0x80)) {
      *pos += i + 1;
      *value = v;
      return 1;
    }
  }
  return -1;
}

/* Walks the top-level fields of a plain (not gzipped) Profile as its bytes arrive, with the
 * decoder's own rules (field 0, groups and wrong wire types for known fields are errors, and
 * no field can be longer than the input may be), so /dev/zero or random bytes are refused
 * after a few bytes, not after a gigabyte. One rule more than the decoder's: the first field
 * must be one of Profile's own (1-15). Encoders write fields in number order, so every
 * profile starts so; random bytes mostly do not, and could otherwise hold the reading on
 * an unknown field's length of up to a gigabyte. */
static void sniff(sniff_t *s, const uint8_t *data, size_t len) {
  if (s->bad || s->gzip)
    return;
  if (s->pos == 0 && len >= 2 && lw_is_gzip(data, len)) {
    s->gzip = true;
    return;
  }
  for (;;) {
    size_t pos = s->pos;
    uint64_t key, n;
    int rc = scan_varint(data, len, &pos, &key);
    if (rc == 0)
      return;
    uint64_t field = key >> 3;
    int wire = (int)(key & 7);
    /* Wire types of Profile's fields (profile.proto): 1-6 and 11 are messages or strings,
     * 7-10, 12 and 14 integers, 13 (comment) either, packed or not. */
    static const int8_t expected[15] = {-1, 2, 2, 2, 2, 2, 2, 0, 0, 0, 0, 2, 0, -2, 0};
    bool known_wire = wire == 0 || wire == 1 || wire == 2 || wire == 5;
    if (rc < 0 || field == 0 || field > 0x1fffffff || !known_wire ||
        (s->pos == 0 && field > 15) ||
        (field < 15 && expected[field] >= 0 && expected[field] != wire) ||
        (field == 13 && wire != 0 && wire != 2)) {
      s->bad = true;
      return;
    }
    if (wire == 0)
      rc = scan_varint(data, len, &pos, &n);
    else if (wire == 2 && (rc = scan_varint(data, len, &pos, &n)) > 0) {
      if (n > LW_PROFILE_MAX_DECODED_BYTES || n > LW_PROFILE_MAX_FILE_BYTES) {
        s->bad = true; /* longer than any input that is read */
        return;
      }
      pos += (size_t)n; /* may lie beyond what came so far */
    }
    else if (wire == 1 || wire == 5)
      pos += wire == 1 ? 8 : 4;
    if (rc < 0) {
      s->bad = true;
      return;
    }
    if (rc == 0)
      return;
    s->pos = pos;
    if (pos >= len)
      return;
  }
}

#define NOT_A_PROFILE_START "not a pprof profile (it does not start with a Profile field)"

bool lw_cli_profile_refused_early(const uint8_t *data, size_t len, size_t piece) {
  sniff_t sn = {0, false, false};
  size_t have = 0;
  while (have < len && !sn.bad) {
    have = piece && len - have > piece ? have + piece : len;
    sniff(&sn, data, have);
  }
  return sn.bad;
}

/* The loader. `owner`, when given, holds `data` and is freed as soon as the data is
 * inflated, so a big gzipped file and its decoded bytes are not both held while the model
 * is built (that peak decides the memory `leakwatch top` needs). */
static int load_bytes(const char *name, const uint8_t *data, size_t len, lw_buf_t *owner,
                      uint64_t max_decoded, lw_profile_t *out, char *error, size_t error_size) {
  lw_profile_init(out, &lw_libc_allocator);
  if (len == 0)
    return fail(error, error_size, name, "empty file");
  char problem[512];
  lw_buf_t plain;
  lw_buf_init(&plain, &lw_libc_allocator);
  if (lw_is_gzip(data, len)) {
    /* The first 64 KiB inside say whether this can be a profile at all: a gzip bomb of
     * zeros (or gzipped text) is judged from them alone, before a gigabyte is inflated;
     * the decoder words why, as it would for the whole. Errors of the gzip data itself are
     * left to the full inflate below. */
    lw_gunzip(data, len, &plain, 65536, NULL, 0);
    sniff_t sn = {0, false, false};
    sniff(&sn, plain.data, plain.len);
    if (!sn.bad || sn.gzip)
      lw_buf_reset(&plain);
  }
  bool head_only = plain.len > 0;
  if (head_only) {
    data = plain.data; /* the head, refused by the decoder below */
    len = plain.len;
  } else if (lw_is_gzip(data, len)) {
    size_t hint = lw_gzip_size_hint(data, len);
    if (hint > 0 && hint <= max_decoded)
      lw_buf_reserve(&plain, hint + 1);
    if (lw_cli_gunzip(data, len, &plain, (size_t)max_decoded, problem, sizeof problem) < 0) {
      lw_buf_free(&plain);
      if (strstr(problem, "exceeds the limit")) {
        char limit[32];
        lw_format_bytes(limit, sizeof limit, (double)max_decoded);
        snprintf(problem, sizeof problem,
                 "decompresses to more than the limit of %s (not a heap profile, or a gzip bomb)",
                 limit);
      }
      return fail(error, error_size, name, problem);
    }
    if (owner)
      lw_buf_free(owner);
    data = plain.data;
    len = plain.len;
    if (len == 0) {
      lw_buf_free(&plain);
      return fail(error, error_size, name, "empty profile inside gzip data");
    }
  }
  int rc = lw_profile_decode(out, data, len, problem, sizeof problem);
  lw_buf_free(&plain);
  if (rc == 0 && head_only) { /* the decoder takes it: it failed the first-field rule */
    lw_profile_free(out);
    return fail(error, error_size, name, NOT_A_PROFILE_START);
  }
  if (rc < 0) {
    /* Structural failures mean "this is not a profile at all" (random bytes, gzipped text,
     * another protobuf); rule violations mean "a profile, but a broken one". */
    char message[640];
    static const char suffix[] = " (not a pprof profile)";
    size_t n = strlen(problem);
    if (n > sizeof suffix - 1 && strcmp(problem + n - (sizeof suffix - 1), suffix) == 0)
      snprintf(message, sizeof message, "not a pprof profile (%.*s)",
               (int)(n - (sizeof suffix - 1)), problem);
    else if (strncmp(problem, "malformed protobuf", 18) == 0)
      snprintf(message, sizeof message, "not a pprof profile (%s)", problem);
    else if (strncmp(problem, "out of memory", 13) == 0)
      snprintf(message, sizeof message, "%s", problem);
    else
      snprintf(message, sizeof message, "invalid profile: %s", problem);
    lw_profile_free(out);
    return fail(error, error_size, name, message);
  }
  return 0;
}

int lw_cli_load_profile_data_limited(const char *name, const uint8_t *data, size_t len,
                                     uint64_t max_decoded, lw_profile_t *out, char *error,
                                     size_t error_size) {
  return load_bytes(name, data, len, NULL, max_decoded, out, error, error_size);
}

#ifdef _WIN32
#define READ_FLAGS (O_RDONLY | O_BINARY)
#else
/* O_NOCTTY: a terminal named as input must not become this process's controlling one. */
#define READ_FLAGS (O_RDONLY | O_CLOEXEC | O_NOCTTY)
#endif

/* Reads the input into raw, never holding more than `limit` + one read of it, and stops as
 * soon as the bytes so far cannot be a profile. Returns 0 or -1 with the problem. */
static int read_input(const char *path, lw_buf_t *raw, bool *stopped, char *problem,
                      size_t problem_size) {
  *stopped = false;
  int fd = open(path, READ_FLAGS);
  if (fd < 0) {
    snprintf(problem, problem_size, "%s", strerror(errno));
    return -1;
  }
  struct stat st;
  int result = -1;
  if (fstat(fd, &st) < 0) {
    snprintf(problem, problem_size, "%s", strerror(errno));
    goto out;
  }
  if (S_ISDIR(st.st_mode)) {
    snprintf(problem, problem_size, "is a directory, not a profile file");
    goto out;
  }
  const uint64_t limit = LW_PROFILE_MAX_FILE_BYTES;
  if (S_ISREG(st.st_mode)) {
    if ((uint64_t)st.st_size > limit) {
      too_big(problem, problem_size, "the file", (uint64_t)st.st_size, limit);
      goto out;
    }
    /* Sized from stat so the read does not double the buffer on its way up. */
    lw_buf_reserve(raw, (size_t)st.st_size + 1);
  }
  sniff_t sn = {0, false, false};
  for (;;) {
    size_t room = (size_t)(limit + 1 - raw->len); /* one byte past the limit says "too big" */
    size_t chunk = room < (1u << 20) ? room : (1u << 20);
    /* Grown only when full: a regular file is read into the buffer sized from stat. */
    if (raw->cap == raw->len && !lw_buf_reserve(raw, chunk)) {
      snprintf(problem, problem_size, "out of memory while reading");
      goto out;
    }
    size_t want = raw->cap - raw->len < room ? raw->cap - raw->len : room;
    ssize_t n = read(fd, raw->data + raw->len, want);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      snprintf(problem, problem_size, "%s", strerror(errno));
      goto out;
    }
    if (n == 0)
      break;
    raw->len += (size_t)n;
    sniff(&sn, raw->data, raw->len);
    if (sn.bad) {
      *stopped = true;
      break; /* what came so far is enough for the decoder to say why */
    }
    if (raw->len > limit) {
      char max[32];
      lw_format_bytes(max, sizeof max, (double)limit);
      snprintf(problem, problem_size, "the input is larger than the limit of %s", max);
      goto out;
    }
  }
  if (raw->len == 0) {
    snprintf(problem, problem_size, "empty file");
    goto out;
  }
  result = 0;
out:
  close(fd);
  return result;
}

int lw_cli_load_profile(const char *path, lw_profile_t *out, char *error, size_t error_size) {
  lw_profile_init(out, &lw_libc_allocator);
  char problem[256];
  lw_buf_t raw;
  lw_buf_init(&raw, &lw_libc_allocator);
  bool stopped;
  if (read_input(path, &raw, &stopped, problem, sizeof problem) < 0) {
    lw_buf_free(&raw);
    return fail(error, error_size, path, problem);
  }
  /* load_bytes initialises *out again: release the early initialisation (its string
   * table) first, or every load leaks it. */
  lw_profile_free(out);
  int rc = load_bytes(path, raw.data, raw.len, &raw, LW_PROFILE_MAX_DECODED_BYTES, out, error,
                      error_size);
  lw_buf_free(&raw); /* no-op when load_bytes already released it */
  if (rc == 0 && stopped) { /* the decoder takes it: it failed the first-field rule */
    lw_profile_free(out);
    return fail(error, error_size, path, NOT_A_PROFILE_START);
  }
  return rc;
}

int lw_cli_save_profile(const char *path, const lw_profile_t *profile, char *error,
                        size_t error_size) {
  lw_buf_t wire, gz;
  lw_buf_init(&wire, &lw_libc_allocator);
  lw_buf_init(&gz, &lw_libc_allocator);
  int result = -1;
  if (lw_profile_encode(profile, &wire) < 0 || lw_buf_failed(&wire)) {
    fail(error, error_size, path, "out of memory while encoding the profile");
    goto out;
  }
  if (lw_gzip_compress(wire.data, wire.len, &gz, 1) < 0 || lw_buf_failed(&gz)) {
    fail(error, error_size, path, "cannot compress the profile (out of memory)");
    goto out;
  }
  int rc = lw_write_file_atomic(path, gz.data, gz.len, LW_OUTPUT_FILE_MODE);
  if (rc < 0) {
    char problem[256];
    lw_output_problem(path, rc, problem, sizeof problem);
    fail(error, error_size, path, problem);
    goto out;
  }
  result = 0;
out:
  lw_buf_free(&wire);
  lw_buf_free(&gz);
  return result;
}
