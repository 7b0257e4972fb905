/*
 * fmt.h - a small vsnprintf that never allocates, takes no locks and ignores locale.
 *
 * The agent formats log lines, file names and HTTP replies inside someone else's process,
 * possibly from a malloc hook or a fork child, where libc stdio may allocate or deadlock.
 * Supports: flags '-' '0' '+' ' ', width and precision (also '*'), length hh h l ll z j t,
 * conversions d i u x X o c s p f %. Unknown conversions are copied through.
 */
#ifndef LW_COMMON_FMT_H
#define LW_COMMON_FMT_H

#include <stdarg.h>
#include <stddef.h>

/* Like vsnprintf: writes at most size bytes including the terminating NUL (when size > 0)
 * and returns the length the full output would have had. */
size_t lw_vfmt(char *out, size_t size, const char *format, va_list args);
size_t lw_fmt(char *out, size_t size, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

/* Formats and writes to a file descriptor with write(2), retrying on EINTR; output longer
 * than 1 KiB is cut. Used for agent diagnostics. */
void lw_fdprintf(int fd, const char *format, ...) __attribute__((format(printf, 2, 3)));

#endif
