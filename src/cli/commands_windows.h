/*
 * commands_windows.h - the subcommands of leakwatch.exe (included by commands.h in the
 * Windows build; same LW_DECLARE_COMMAND form, no include guard). The live-process
 * commands of Linux (ps, stats, heap, trim, leaks) need the agent's control socket, which
 * the Windows agent does not have; `service` exists only here.
 */
LW_DECLARE_COMMAND(watch, "watch processes from outside: memory, handles, threads, GDI/USER, trends, alerts")
LW_DECLARE_COMMAND(rules, "check alert rules, list their metrics, translate them for Prometheus")
LW_DECLARE_COMMAND(exporter, "serve Prometheus metrics for chosen processes (console, or a Windows service)")
LW_DECLARE_COMMAND(service, "install, start, stop or remove the exporter as a Windows service")
LW_DECLARE_COMMAND(run, "run a program with the agent DLL loaded and report what it leaked (or cap its memory)")
