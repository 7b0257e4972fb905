/*
 * profile_io.h - reading and writing pprof profile files for the CLI.
 *
 * Every command that takes a profile goes through lw_cli_load_profile, so bad input gets the
 * same treatment everywhere: the file is read with a size bound (a 2 GB file is refused from
 * its size alone, never read), gunzipped when it starts with the gzip magic (plain protobuf
 * is accepted too, as pprof does), decoded and validated. Errors are one line that names the
 * file: "'x.pb.gz': truncated gzip data (unexpected end of file)".
 *
 * Pairs with src/common/profile.h (the model and decoder) and src/common/gzip.h.
 */
#ifndef LW_CLI_PROFILE_IO_H
#define LW_CLI_PROFILE_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/profile.h"

/* Refused above these sizes: far beyond any real heap profile (Go's are kilobytes to a few
 * megabytes), and small enough that a corrupt or hostile file cannot exhaust memory. */
#define LW_PROFILE_MAX_FILE_BYTES ((uint64_t)1 << 30)
#define LW_PROFILE_MAX_DECODED_BYTES ((uint64_t)1 << 30)

/* Loads the profile at `path` into *out, which this function initialises (libc allocator).
 * Returns 0, or -1 with a one-line message "'<path>': <problem>" in `error`; on failure *out
 * is left initialised and empty, so lw_profile_free is always safe. */
int lw_cli_load_profile(const char *path, lw_profile_t *out, char *error, size_t error_size);

/* The same from bytes already in memory (tests, the fuzz target); `name` is only used in
 * messages. The data may be gzipped or plain. */
int lw_cli_load_profile_data(const char *name, const uint8_t *data, size_t len,
                             lw_profile_t *out, char *error, size_t error_size);

/* As lw_cli_load_profile_data with a chosen limit on the decompressed size (tests use a
 * small one to check the refusal without inflating a gigabyte). */
int lw_cli_load_profile_data_limited(const char *name, const uint8_t *data, size_t len,
                                     uint64_t max_decoded, lw_profile_t *out, char *error,
                                     size_t error_size);

/* The early check lw_cli_load_profile makes while reading, over `data` arriving in pieces
 * of `piece` bytes (0: all at once): true when reading would stop there, the bytes so far
 * being no possible start of a Profile (zeros, random bytes, text). It keeps the decoder's
 * rules plus one: the first field must be one of Profile's (1-15), as encoders write fields
 * in number order. So it refuses nothing lw_profile_decode accepts but a protobuf that
 * starts with an unknown field (the fuzz target checks). */
bool lw_cli_profile_refused_early(const uint8_t *data, size_t len, size_t piece);

/* Encodes, gzips at level 1 (what Go uses) and writes atomically: on failure nothing at
 * `path` changes. Returns 0, or -1 with "'<path>': <problem>" in `error`. */
int lw_cli_save_profile(const char *path, const lw_profile_t *profile, char *error,
                        size_t error_size);

#endif
