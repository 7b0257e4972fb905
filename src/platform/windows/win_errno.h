/*
 * win_errno.h - Win32 error codes for code that reports negative errno values.
 */
#ifndef LW_PLATFORM_WINDOWS_WIN_ERRNO_H
#define LW_PLATFORM_WINDOWS_WIN_ERRNO_H

#include <stddef.h>

/* A negative errno for a Win32 error code (ERROR_ACCESS_DENIED -> -EACCES ...; -EIO for
 * codes without a close errno). */
int lw_win_errno(unsigned long win32_error);
/* The system's text for a Win32 error code, without the trailing newline and period. */
const char *lw_win_error_text(unsigned long win32_error, char *out, size_t size);

#endif
