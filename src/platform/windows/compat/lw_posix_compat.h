/*
 * lw_posix_compat.h (Windows build only, force-included by cmake/windows.cmake) - the few
 * POSIX spellings shared code uses that mingw-w64's C runtime lacks, mapped to their
 * Windows meaning rather than stubbed:
 *  - O_CLOEXEC: not inherited by child processes (_O_NOINHERIT). Files are also opened in
 *    binary mode (_O_BINARY) so CSV/JSONL/profiles are byte-for-byte what Linux writes
 *    (text mode would turn "\n" into "\r\n").
 *  - O_NOFOLLOW: Windows has no symlink-follow flag for _open; 0.
 *  - localtime_r/gmtime_r: mingw-w64's <time.h> provides them (over localtime_s) when
 *    _POSIX_THREAD_SAFE_FUNCTIONS is defined before it is included.
 *  - CLOCK_MONOTONIC_COARSE (Linux's cheap clock): winpthreads' monotonic clock.
 *  - environ: the C runtime's _environ (set up before any DLL that imports it attaches).
 */
#ifndef LW_WINDOWS_POSIX_COMPAT_H
#define LW_WINDOWS_POSIX_COMPAT_H

#ifndef _POSIX_THREAD_SAFE_FUNCTIONS
#define _POSIX_THREAD_SAFE_FUNCTIONS 200112L
#endif

#include <fcntl.h>
#include <stdlib.h>
#include <time.h>

#ifndef O_CLOEXEC
#define O_CLOEXEC (_O_NOINHERIT | _O_BINARY)
#endif
#ifndef CLOCK_MONOTONIC_COARSE
#define CLOCK_MONOTONIC_COARSE CLOCK_MONOTONIC
#endif
#ifndef environ
#define environ _environ
#endif
#ifndef O_NOFOLLOW
#define O_NOFOLLOW 0
#endif

#endif
