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

/* Whether an output file may be put at `path`: 0 when nothing is there or a regular file
 * is (it will be replaced), -EEXIST when something else is (a symlink, FIFO, device,
 * directory or socket: replacing it would destroy it, and writing through it would write
 * somewhere else), with *kind (if given) saying what it is ("a symbolic link", ...); other
 * lstat errors as a negative errno. */
int lw_output_path_check(const char *path, const char **kind);

/* The problem for "cannot write <what> '<path>': <problem>" after lw_write_file_atomic or
 * lw_create_file_replacing on `path` returned rc: "it is a symbolic link, not a regular file
 * (refusing to replace it)" for a refusal, else strerror. In output_problem.c (both
 * platforms); no stdio or malloc, so the agent uses it too. */
void lw_output_problem(const char *path, int rc, char *out, size_t size);

/* Writes `len` bytes to `path` so that readers see either the old file or the whole new
 * one: a temporary file beside it (created O_EXCL|O_NOFOLLOW, never following a planted
 * symlink, and given exactly `mode` whatever the umask) is written, then renamed over
 * `path`. A rename replaces a symlink, never its target, and `path` is refused up front
 * (-EEXIST, nothing written) when it is anything but a regular file or a new name. On
 * failure the temporary file is removed and nothing at `path` changes. Returns 0 or a
 * negative errno. */
int lw_write_file_atomic(const char *path, const void *data, size_t len, int mode);

/* For output that is streamed (watch --csv): the same checks and temporary file as
 * lw_write_file_atomic, renamed into place at once; the caller then appends to the
 * returned descriptor. A planted symlink is replaced, its target is never opened. Returns
 * the descriptor (O_WRONLY|O_CLOEXEC) or a negative errno; on failure `path` is unchanged. */
int lw_create_file_replacing(const char *path, int mode);

#endif
