/*
 * regex.h (Windows build only) - the POSIX regcomp/regexec subset leakwatch uses
 * (REG_EXTENDED, REG_NOSUB, REG_ICASE, REG_NEWLINE ignored), for mingw-w64, whose C library
 * has no <regex.h>. Implemented over C++ std::regex with its POSIX extended grammar
 * (regex_compat.cpp), so `--name REGEX` means the same thing on both systems.
 * This directory is on the include path of the Windows build only.
 */
#ifndef LW_WINDOWS_COMPAT_REGEX_H
#define LW_WINDOWS_COMPAT_REGEX_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  size_t re_nsub;
  void *impl; /* std::regex */
} regex_t;
typedef long regoff_t;
typedef struct {
  regoff_t rm_so, rm_eo;
} regmatch_t;

enum { REG_EXTENDED = 1, REG_ICASE = 2, REG_NOSUB = 4, REG_NEWLINE = 8 };
enum { REG_NOTBOL = 1, REG_NOTEOL = 2 };
enum { REG_NOMATCH = 1, REG_BADPAT = 2, REG_ESPACE = 12 };

int regcomp(regex_t *preg, const char *pattern, int cflags);
/* Matches anywhere in string (search, as POSIX regexec does); fills pmatch[0] only. */
int regexec(const regex_t *preg, const char *string, size_t nmatch, regmatch_t pmatch[],
            int eflags);
size_t regerror(int errcode, const regex_t *preg, char *errbuf, size_t errbuf_size);
void regfree(regex_t *preg);

#ifdef __cplusplus
}
#endif

#endif
