/*
 * file.h - whole-file reads and crash-safe writes, with plain system calls (no stdio, no
 * malloc besides the lw_buf_t), so the agent and the CLI write output the same way.
 */
#ifndef LW_COMMON_FILE_H
#define LW_COMMON_FILE_H

#include <stddef.h>

#include "common/buf.h"

/* Appends the file's bytes to `out`. Returns 0, or a negative errno (-EFBIG when the file
 * is larger than max_bytes, -ENOMEM when the buffer cannot grow). */
int lw_read_file(const char *path, lw_buf_t *out, size_t max_bytes);

/* Writes `len` bytes to `path` so that readers see either the old file or the whole new
 * one: a temporary file beside it (created O_EXCL|O_NOFOLLOW, never following a planted
 * symlink) is written, then renamed over `path`. On failure the temporary file is removed
 * and nothing at `path` changes. Returns 0 or a negative errno. */
int lw_write_file_atomic(const char *path, const void *data, size_t len, int mode);

#endif
