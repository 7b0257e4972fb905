/*
 * commands.h - the subcommand list, one line each: LW_DECLARE_COMMAND(name, summary).
 * Included twice (declarations in cli.h, the dispatch table in main.c); no include guard.
 * Each command lives in cmd_<name>.c and defines int lw_cmd_<name>(int argc, char **argv).
 */
LW_DECLARE_COMMAND(run, "run a command with the agent preloaded and report what it leaked")
LW_DECLARE_COMMAND(ps, "list this user's processes running with the agent")
LW_DECLARE_COMMAND(stats, "show a live process's heap counters (once, or every interval)")
LW_DECLARE_COMMAND(heap, "take a heap profile of a live process (now, or over a window)")
LW_DECLARE_COMMAND(trim, "return a live process's free heap memory to the system")
LW_DECLARE_COMMAND(watch, "watch processes from outside: memory, fds, threads, trends, alerts")
LW_DECLARE_COMMAND(rules, "check alert rules, list their metrics, translate them for Prometheus")
LW_DECLARE_COMMAND(exporter, "serve Prometheus metrics for chosen processes (a daemon)")
