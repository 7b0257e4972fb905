/*
 * file_windows.c - src/common/file.h on Windows (the Linux build has src/common/file.c):
 * whole-file reads, and atomic replacement by writing a temporary file beside the target
 * and MoveFileExW(MOVEFILE_REPLACE_EXISTING), Windows' rename-over. No C runtime heap and
 * no stdio, so the agent DLL writes its profile with it too.
 */
#include "common/file.h"

#include <windows.h>
#include <errno.h>
#include <fcntl.h>
#include <io.h>
#include <stdint.h>

#include "common/fmt.h"
#include "platform/windows/win_errno.h"

static bool widen(const char *path, WCHAR *out, int size) {
  return MultiByteToWideChar(CP_UTF8, 0, path, -1, out, size) > 0;
}

int lw_read_file(const char *path, lw_buf_t *out, size_t max_bytes) {
  WCHAR wide[MAX_PATH * 2];
  if (!widen(path, wide, MAX_PATH * 2))
    return -ENAMETOOLONG;
  HANDLE h = CreateFileW(wide, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                         NULL, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
  if (h == INVALID_HANDLE_VALUE)
    return lw_win_errno(GetLastError());
  int result = 0;
  size_t start = out->len;
  for (;;) {
    if (!lw_buf_reserve(out, 65536)) {
      result = -ENOMEM;
      break;
    }
    DWORD want = out->cap - out->len > 1u << 30 ? 1u << 30 : (DWORD)(out->cap - out->len);
    DWORD n = 0;
    if (!ReadFile(h, out->data + out->len, want, &n, NULL)) {
      result = lw_win_errno(GetLastError());
      break;
    }
    if (n == 0)
      break;
    out->len += n;
    if (out->len - start > max_bytes) {
      result = -EFBIG;
      break;
    }
  }
  CloseHandle(h);
  return result;
}

int lw_write_file_atomic(const char *path, const void *data, size_t len, int mode) {
  (void)mode; /* Windows files inherit their directory's ACL */
  int refused = lw_output_path_check(path, NULL);
  if (refused < 0)
    return refused;
  char temp[4096];
  if (lw_fmt(temp, sizeof temp, "%s.tmp.%lu.%lx", path, (unsigned long)GetCurrentProcessId(),
             (unsigned long)GetTickCount()) >= sizeof temp)
    return -ENAMETOOLONG;
  WCHAR wide_temp[MAX_PATH * 2], wide_path[MAX_PATH * 2];
  if (!widen(temp, wide_temp, MAX_PATH * 2) || !widen(path, wide_path, MAX_PATH * 2))
    return -ENAMETOOLONG;
  HANDLE h = CreateFileW(wide_temp, GENERIC_WRITE, 0, NULL, CREATE_NEW, FILE_ATTRIBUTE_NORMAL,
                         NULL);
  if (h == INVALID_HANDLE_VALUE)
    return lw_win_errno(GetLastError());
  int result = 0;
  const char *p = data;
  while (len > 0 && result == 0) {
    DWORD chunk = len > 1u << 30 ? 1u << 30 : (DWORD)len, n = 0;
    if (!WriteFile(h, p, chunk, &n, NULL))
      result = lw_win_errno(GetLastError());
    p += n;
    len -= n;
  }
  if (!CloseHandle(h) && result == 0)
    result = lw_win_errno(GetLastError());
  if (result == 0 && !MoveFileExW(wide_temp, wide_path, MOVEFILE_REPLACE_EXISTING))
    result = lw_win_errno(GetLastError());
  if (result < 0)
    DeleteFileW(wide_temp);
  return result;
}

int lw_output_path_check(const char *path, const char **kind) {
  if (kind)
    *kind = "";
  WCHAR wide[MAX_PATH * 2];
  if (!widen(path, wide, MAX_PATH * 2))
    return -ENAMETOOLONG;
  DWORD attributes = GetFileAttributesW(wide);
  if (attributes == INVALID_FILE_ATTRIBUTES) {
    DWORD error = GetLastError();
    return error == ERROR_FILE_NOT_FOUND || error == ERROR_PATH_NOT_FOUND ? 0
                                                                           : lw_win_errno(error);
  }
  const char *what = (attributes & FILE_ATTRIBUTE_REPARSE_POINT) ? "a symbolic link"
                     : (attributes & FILE_ATTRIBUTE_DIRECTORY)   ? "a directory"
                     : (attributes & FILE_ATTRIBUTE_DEVICE)      ? "a device"
                                                                 : NULL;
  if (!what)
    return 0;
  if (kind)
    *kind = what;
  return -EEXIST;
}

int lw_create_file_replacing(const char *path, int mode) {
  (void)mode; /* Windows files inherit their directory's ACL */
  /* Windows cannot rename over a file another handle holds open, so the stream is created
   * in place, after the same refusal of anything that is not a regular file. */
  int rc = lw_output_path_check(path, NULL);
  if (rc < 0)
    return rc;
  WCHAR wide[MAX_PATH * 2];
  if (!widen(path, wide, MAX_PATH * 2))
    return -ENAMETOOLONG;
  HANDLE h = CreateFileW(wide, GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_DELETE, NULL,
                         CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
  if (h == INVALID_HANDLE_VALUE)
    return lw_win_errno(GetLastError());
  int fd = _open_osfhandle((intptr_t)h, _O_WRONLY | _O_BINARY);
  if (fd < 0) {
    CloseHandle(h);
    return -EMFILE;
  }
  return fd;
}
