/*
 * profile_io.c - bounded, validating profile file reads and atomic writes (profile_io.h).
 */
#include "cli/profile_io.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

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

int lw_cli_load_profile(const char *path, lw_profile_t *out, char *error, size_t error_size) {
  lw_profile_init(out, &lw_libc_allocator);
  char problem[256];
  struct stat st;
  if (stat(path, &st) < 0)
    return fail(error, error_size, path, strerror(errno));
  if (S_ISDIR(st.st_mode))
    return fail(error, error_size, path, "is a directory, not a profile file");
  if (S_ISREG(st.st_mode)) {
    if ((uint64_t)st.st_size > LW_PROFILE_MAX_FILE_BYTES) {
      too_big(problem, sizeof problem, "the file", (uint64_t)st.st_size,
              LW_PROFILE_MAX_FILE_BYTES);
      return fail(error, error_size, path, problem);
    }
    if (st.st_size == 0)
      return fail(error, error_size, path, "empty file");
  }
  lw_buf_t raw;
  lw_buf_init(&raw, &lw_libc_allocator);
  /* Sized from stat so the read does not double the buffer on its way up. */
  if (S_ISREG(st.st_mode))
    lw_buf_reserve(&raw, (size_t)st.st_size + 65536);
  int rc = lw_read_file(path, &raw, LW_PROFILE_MAX_FILE_BYTES);
  if (rc < 0) {
    lw_buf_free(&raw);
    if (rc == -EFBIG) {
      char limit[32];
      lw_format_bytes(limit, sizeof limit, (double)LW_PROFILE_MAX_FILE_BYTES);
      snprintf(problem, sizeof problem, "the input is larger than the limit of %s", limit);
      return fail(error, error_size, path, problem);
    }
    return fail(error, error_size, path, strerror(-rc));
  }
  /* load_bytes initialises *out again: release the early initialisation (its string
   * table) first, or every load leaks it. */
  lw_profile_free(out);
  rc = load_bytes(path, raw.data, raw.len, &raw, LW_PROFILE_MAX_DECODED_BYTES, out, error,
                  error_size);
  lw_buf_free(&raw); /* no-op when load_bytes already released it */
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
