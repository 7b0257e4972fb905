# Toolchain file: cross-compile leakwatch for 64-bit Windows with Debian's mingw-w64
# (gcc-mingw-w64-x86-64-win32). Use it in its own build directory:
#   cmake -S . -B build-windows -DCMAKE_TOOLCHAIN_FILE=cmake/mingw-w64-x86_64.cmake
# Tests then run under wine64 (scripts/run-windows-tests.sh, docs/WINDOWS.md).
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)
set(LW_MINGW_PREFIX x86_64-w64-mingw32)
set(CMAKE_C_COMPILER ${LW_MINGW_PREFIX}-gcc)
set(CMAKE_CXX_COMPILER ${LW_MINGW_PREFIX}-g++)
set(CMAKE_RC_COMPILER ${LW_MINGW_PREFIX}-windres)
set(CMAKE_FIND_ROOT_PATH /usr/${LW_MINGW_PREFIX})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
