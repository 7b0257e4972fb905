/*
 * commands.h - the subcommand list, one line each: LW_DECLARE_COMMAND(name, summary).
 * Included twice (declarations in cli.h, the dispatch table in main.c); no include guard.
 * Each command lives in cmd_<name>.c and defines int lw_cmd_<name>(int argc, char **argv).
 * The Windows build has its own list (commands_windows.h): no agent control socket there.
 */
#ifdef _WIN32
#include "cli/commands_windows.h"
#else
LW_DECLARE_COMMAND(run, "run a command with the agent preloaded and report what it leaked")
LW_DECLARE_COMMAND(ps, "list this user's processes running with the agent")
LW_DECLARE_COMMAND(stats, "show a live process's heap counters (once, or every interval)")
LW_DECLARE_COMMAND(heap, "take a heap profile of a live process (now, or over a window)")
LW_DECLARE_COMMAND(fds, "list a live process's open file descriptors by the stack that opened them")
LW_DECLARE_COMMAND(threads, "list a live process's threads by the stack that started them")
LW_DECLARE_COMMAND(stack, "print every thread's current stack in any process (no agent needed)")
LW_DECLARE_COMMAND(trim, "return a live process's free heap memory to the system")
LW_DECLARE_COMMAND(explain, "say why a process is big: leak, allocator retention, memory outside the heap, a cache")
LW_DECLARE_COMMAND(top, "show which functions hold the memory in a heap profile")
LW_DECLARE_COMMAND(traces, "print every stack of a heap profile with its values, largest first")
LW_DECLARE_COMMAND(flame, "draw a heap profile as an interactive flame graph (SVG) or folded stacks")
LW_DECLARE_COMMAND(diff, "compare two heap profiles per allocation site, largest growth first")
LW_DECLARE_COMMAND(list, "show a function's source with the memory attributed to each line")
LW_DECLARE_COMMAND(report, "write a self-contained HTML report: top table, flame graph, memory over time")
LW_DECLARE_COMMAND(leaks, "judge which allocation sites of a live process leak (growth over time)")
LW_DECLARE_COMMAND(watch, "watch processes from outside: memory, fds, threads, trends, alerts")
LW_DECLARE_COMMAND(rules, "check alert rules, list their metrics, translate them for Prometheus")
LW_DECLARE_COMMAND(exporter, "serve Prometheus metrics for chosen processes (a daemon)")
LW_DECLARE_COMMAND(attach, "load the agent into a running process not started with it")
LW_DECLARE_COMMAND(detach, "stop an agent that 'attach' loaded (the library stays mapped)")
#endif
