# windows.cmake - the Windows build (mingw-w64 cross-compile; cmake/mingw-w64-x86_64.cmake).
# Included from the top-level CMakeLists.txt when WIN32; the Linux build never reads it.
#
# The same modules as on Linux where they are portable (src/common's formats and maths,
# the watcher's tables, output, trends and alerts, the CLI's option parser and commands),
# plus the Windows platform layer (src/platform/windows) and the *_windows.c halves of the
# CLI. Linux-only files (/proc, cgroups, ELF, signals, the LD_PRELOAD agent) are left out
# by name below, so a new shared file is picked up by both builds.
# zlib linked statically: a Windows machine has no zlib1.dll (wine happens to ship one).
find_library(ZLIB_LIBRARY NAMES libz.a REQUIRED)
find_package(ZLIB REQUIRED)   # libz-mingw-w64-dev

set(LW_WIN ${CMAKE_SOURCE_DIR}/src/platform/windows)
# Windows 8.1 API level (GetSystemTimePreciseAsFileTime, PROCESS_QUERY_LIMITED_INFORMATION);
# WIN32_LEAN_AND_MEAN keeps <windows.h> from pulling the old winsock.h before winsock2.h.
add_compile_definitions(_WIN32_WINNT=0x0603 WINVER=0x0603 UNICODE _UNICODE WIN32_LEAN_AND_MEAN
  __USE_MINGW_ANSI_STDIO=1)
include_directories(BEFORE ${LW_WIN}/compat)
# Format checks: gcc checks format(printf) attributes against the Microsoft printf here and
# rejects %zu/%lld, which __USE_MINGW_ANSI_STDIO's printf does support. The Linux build
# checks the same calls with -Wformat=2.
add_compile_options(-Wno-format)
add_compile_options($<$<COMPILE_LANGUAGE:C>:-include$<SEMICOLON>${LW_WIN}/compat/lw_posix_compat.h>)
# Static C/C++ runtime pieces: the exe and DLL run on a bare Windows (and a fresh wine
# prefix) without libgcc/libstdc++ DLLs beside them.
add_link_options(-static-libgcc -static-libstdc++ -static)

# ---- src/common: everything but the Linux readers -------------------------------------
file(GLOB LW_COMMON_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/common/*.c)
list(REMOVE_ITEM LW_COMMON_SOURCES
  ${CMAKE_SOURCE_DIR}/src/common/procfs.c     # /proc
  ${CMAKE_SOURCE_DIR}/src/common/cgroup.c     # cgroups
  ${CMAKE_SOURCE_DIR}/src/common/file.c)      # -> platform/windows/file_windows.c
add_library(lw_common STATIC ${LW_COMMON_SOURCES} ${LW_WIN}/file_windows.c ${LW_WIN}/win_errno.c)
target_link_libraries(lw_common PUBLIC ZLIB::ZLIB)

# ---- src/platform/windows: the OS layer --------------------------------------------
add_library(lw_platform STATIC ${LW_WIN}/win_counters.c ${LW_WIN}/win_spawn.c
  ${LW_WIN}/win_inject.c ${LW_WIN}/win_job.c
  ${LW_WIN}/regex_compat.cpp)
target_link_libraries(lw_platform PUBLIC lw_common psapi ntdll)

# ---- the CLI: shared commands + Windows halves ------------------------------------
set(LW_CLI_DIR ${CMAKE_SOURCE_DIR}/src/cli)
set(LW_CLI_WINDOWS_SOURCES
  cli_options.c
  cmd_watch.c cmd_rules.c cmd_exporter.c cmd_service.c
  exporter_config.c exporter_metrics.c exporter_server.c
  exporter_loop_windows.c net_socket_windows.c
  watch_csv.c watch_output.c
  watch_metrics_windows.c watch_sample_windows.c proc_discovery_windows.c os_process_windows.c
  cmd_run_windows.c memory_cap_windows.c leak_report.c profile_io.c inflate.c json.c output_path.c
  symbolize_names.c symbolize_windows.c)
list(TRANSFORM LW_CLI_WINDOWS_SOURCES PREPEND ${LW_CLI_DIR}/)
add_library(lw_cli_core STATIC ${LW_CLI_WINDOWS_SOURCES})
target_compile_definitions(lw_cli_core PUBLIC LW_VERSION="${PROJECT_VERSION}")
target_link_libraries(lw_cli_core PUBLIC lw_platform lw_common ws2_32 advapi32)
add_executable(leakwatch ${LW_CLI_DIR}/main.c)
target_link_libraries(leakwatch PRIVATE lw_cli_core)

# ---- the agent DLL: shared sampler and tables + the Windows platform layer ----------------
set(LW_AGENT_DIR ${CMAKE_SOURCE_DIR}/src/agent)
add_library(leakwatch_agent SHARED
  ${LW_AGENT_DIR}/sampler.c ${LW_AGENT_DIR}/stack_table.c ${LW_AGENT_DIR}/live_table.c
  ${LW_AGENT_DIR}/record.c ${LW_AGENT_DIR}/options.c ${LW_AGENT_DIR}/log.c
  ${LW_AGENT_DIR}/windows/dllmain.c ${LW_AGENT_DIR}/windows/hooks_windows.c
  ${LW_AGENT_DIR}/windows/iat_patch.c ${LW_AGENT_DIR}/windows/memory_windows.c
  ${LW_AGENT_DIR}/windows/modules_windows.c ${LW_AGENT_DIR}/windows/thread_windows.c
  ${LW_AGENT_DIR}/windows/unwind_windows.c ${LW_AGENT_DIR}/windows/export_windows.c)
set_target_properties(leakwatch_agent PROPERTIES OUTPUT_NAME leakwatch_agent PREFIX "")
target_compile_definitions(leakwatch_agent PRIVATE LW_AGENT_VERSION="${PROJECT_VERSION}")
# -Wno-attributes: ELF symbol visibility (agent.h's LW_HIDDEN) has no PE meaning; a DLL
# exports only what is marked dllexport.
target_compile_options(leakwatch_agent PRIVATE -fno-omit-frame-pointer -fno-stack-protector
  -Wno-attributes)
target_link_libraries(leakwatch_agent PRIVATE lw_common psapi pthread)

# ---- tests (run under wine by scripts/run-windows-tests.sh) ---------------------------
# ctest runs each test .exe through wine with a time limit.
set(CMAKE_CROSSCOMPILING_EMULATOR ${CMAKE_SOURCE_DIR}/scripts/wine-run.sh)
add_subdirectory(${CMAKE_SOURCE_DIR}/tests/windows ${CMAKE_BINARY_DIR}/tests)
