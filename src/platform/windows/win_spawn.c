/*
 * win_spawn.c - CreateProcessW from an argv (see win_spawn.h).
 *
 * Quoting follows the rules the Microsoft C runtime uses to split a command line: an
 * argument with a space, tab or quote (or an empty one) is put in quotes; backslashes are
 * literal unless they precede a quote, in which case they are doubled, and the quote is
 * escaped with one more backslash.
 */
#include "platform/windows/win_spawn.h"

#include <windows.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "platform/windows/win_counters.h"

bool lw_win_quote_arg(char *out, size_t size, const char *arg) {
  size_t len = strlen(out);
  char *p = out + len;
  char *end = out + size - 1; /* room for the NUL */
#define PUT(c)                                                                           \
  do {                                                                                   \
    if (p >= end)                                                                        \
      return false;                                                                      \
    *p++ = (c);                                                                          \
  } while (0)
  if (len)
    PUT(' ');
  bool quote = !*arg || strpbrk(arg, " \t\n\v\"") != NULL;
  if (!quote) {
    for (const char *a = arg; *a; a++)
      PUT(*a);
    *p = '\0';
    return true;
  }
  PUT('"');
  for (const char *a = arg;; a++) {
    size_t slashes = 0;
    while (*a == '\\') {
      slashes++;
      a++;
    }
    if (!*a) { /* before the closing quote: double them */
      for (size_t i = 0; i < slashes * 2; i++)
        PUT('\\');
      break;
    }
    if (*a == '"') {
      for (size_t i = 0; i < slashes * 2 + 1; i++)
        PUT('\\');
      PUT('"');
    } else {
      for (size_t i = 0; i < slashes; i++)
        PUT('\\');
      PUT(*a);
    }
  }
  PUT('"');
  *p = '\0';
  return true;
#undef PUT
}

static WCHAR *widen(const char *text) {
  int n = MultiByteToWideChar(CP_UTF8, 0, text, -1, NULL, 0);
  WCHAR *w = n > 0 ? malloc((size_t)n * sizeof *w) : NULL;
  if (w)
    MultiByteToWideChar(CP_UTF8, 0, text, -1, w, n);
  return w;
}

/* argv[0] as a path CreateProcess accepts: SearchPath along PATH, with .exe added. */
static bool find_program(const char *name, WCHAR *out, DWORD size) {
  WCHAR *wide = widen(name);
  if (!wide)
    return false;
  DWORD n = SearchPathW(NULL, wide, L".exe", size, out, NULL);
  free(wide);
  return n > 0 && n < size;
}

/* A copy of our environment with `env` ("NAME=value") added or replacing. */
static WCHAR *environment_block(const char *const *env) {
  WCHAR *ours = GetEnvironmentStringsW();
  if (!ours)
    return NULL;
  size_t ours_len = 0;
  while (ours[ours_len] || ours[ours_len + 1])
    ours_len++;
  ours_len += 2;
  size_t extra = 0;
  for (size_t i = 0; env[i]; i++)
    extra += strlen(env[i]) + 1;
  WCHAR *block = malloc((ours_len + extra + 2) * sizeof *block);
  if (!block) {
    FreeEnvironmentStringsW(ours);
    return NULL;
  }
  size_t at = 0;
  for (const WCHAR *s = ours; *s; s += wcslen(s) + 1) {
    bool replaced = false;
    for (size_t i = 0; env[i] && !replaced; i++) {
      const char *eq = strchr(env[i], '=');
      size_t name_len = eq ? (size_t)(eq - env[i]) : strlen(env[i]);
      replaced = wcslen(s) > name_len && s[name_len] == L'=';
      for (size_t k = 0; replaced && k < name_len; k++)
        replaced = towupper(s[k]) == towupper((WCHAR)(unsigned char)env[i][k]);
    }
    if (replaced)
      continue;
    size_t n = wcslen(s) + 1;
    memcpy(block + at, s, n * sizeof *block);
    at += n;
  }
  FreeEnvironmentStringsW(ours);
  for (size_t i = 0; env[i]; i++) {
    int n = MultiByteToWideChar(CP_UTF8, 0, env[i], -1, block + at, (int)(strlen(env[i]) + 1));
    at += n > 0 ? (size_t)n : 0;
  }
  block[at] = L'\0';
  return block;
}

int lw_win_spawn(char *const *argv, const char *const *env, bool suspended,
                 lw_win_child_t *child) {
  static char line[32768];
  line[0] = '\0';
  for (size_t i = 0; argv[i]; i++)
    if (!lw_win_quote_arg(line, sizeof line, argv[i]))
      return -E2BIG;
  WCHAR program[MAX_PATH];
  if (!find_program(argv[0], program, MAX_PATH))
    return -ENOENT;
  WCHAR *wide_line = widen(line);
  WCHAR *block = env ? environment_block(env) : NULL;
  if (!wide_line || (env && !block)) {
    free(wide_line);
    free(block);
    return -ENOMEM;
  }
  STARTUPINFOW si;
  memset(&si, 0, sizeof si);
  si.cb = sizeof si;
  PROCESS_INFORMATION pi;
  DWORD flags = CREATE_UNICODE_ENVIRONMENT | (suspended ? CREATE_SUSPENDED : 0);
  BOOL ok = CreateProcessW(program, wide_line, NULL, NULL, TRUE, flags, block, NULL, &si, &pi);
  DWORD err = GetLastError();
  free(wide_line);
  free(block);
  if (!ok)
    return lw_win_errno(err);
  child->process = pi.hProcess;
  child->thread = pi.hThread;
  child->pid = pi.dwProcessId;
  return 0;
}
