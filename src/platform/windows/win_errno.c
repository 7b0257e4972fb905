/*
 * win_errno.c - Win32 error codes as the negative errno values shared code reports, and
 * their text (see win_errno.h). In lw_common on Windows: file_windows.c needs it, and the
 * agent DLL links lw_common.
 */
#include "platform/windows/win_errno.h"

#include <windows.h>
#include <errno.h>
#include <stdio.h>

int lw_win_errno(unsigned long e) {
  switch (e) {
  case ERROR_ACCESS_DENIED:
  case ERROR_PRIVILEGE_NOT_HELD:
    return -EACCES;
  case ERROR_INVALID_PARAMETER: /* OpenProcess on a pid that does not exist */
  case ERROR_NOT_FOUND:
  case ERROR_FILE_NOT_FOUND:
  case ERROR_PATH_NOT_FOUND:
    return -ENOENT;
  case ERROR_NOT_ENOUGH_MEMORY:
  case ERROR_OUTOFMEMORY:
    return -ENOMEM;
  case ERROR_ALREADY_EXISTS:
  case ERROR_FILE_EXISTS:
  case ERROR_SERVICE_EXISTS:
    return -EEXIST;
  case ERROR_BAD_EXE_FORMAT:
    return -ENOEXEC;
  default:
    return -EIO;
  }
}

const char *lw_win_error_text(unsigned long e, char *out, size_t size) {
  DWORD n = FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL, e,
                           0, out, (DWORD)size, NULL);
  if (n == 0)
    snprintf(out, size, "Windows error %lu", e);
  else
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r' || out[n - 1] == '.'))
      out[--n] = '\0';
  return out;
}

