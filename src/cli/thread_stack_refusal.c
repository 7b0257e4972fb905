/*
 * thread_stack_refusal.c - why `leakwatch stack` cannot read a process, in one line: the
 * ELF check that keeps it to x86-64 programs, and the causes behind a PTRACE_SEIZE refusal
 * (another user, Yama's ptrace_scope, capabilities, a process that is not dumpable, one
 * already traced, a kernel thread). Only called on the way out; thread_stack_capture.c
 * decides when.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/thread_stack.h"

/* The registers and their DWARF numbers here are x86-64's: a 32-bit program (or anything
 * else) is refused by its executable's ELF header. An executable that cannot be read (a
 * zombie main thread, no permission) is left for ptrace to judge. */
bool lw_thread_stack_x86_64(int pid, char *error, size_t error_size) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/exe", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return true;
  unsigned char header[20];
  ssize_t n = read(fd, header, sizeof header);
  close(fd);
  if (n != (ssize_t)sizeof header || memcmp(header, "\177ELF", 4) != 0)
    return true;
  int machine = header[18] | header[19] << 8;
  if (header[4] == 2 && machine == 62) /* ELFCLASS64, EM_X86_64 */
    return true;
  snprintf(error, error_size, "process %d runs a %s program: leakwatch stack reads x86-64 "
           "programs only", pid, header[4] == 1 && machine == 3 ? "32-bit (i386)"
                                  : header[4] == 1 ? "32-bit" : "non-x86-64");
  return false;
}

void lw_thread_stack_explain_refusal(int pid, int error_number, char *error, size_t size) {
  char path[64], status[4096];
  snprintf(path, sizeof path, "/proc/%d/status", pid);
  if (lw_thread_stack_read_proc(path, status, sizeof status) < 0) {
    snprintf(error, size, "process %d exited meanwhile", pid);
    return;
  }
  const char *tracer = lw_thread_stack_status_field(status, "TracerPid");
  long tracer_pid = tracer ? strtol(tracer, NULL, 10) : 0;
  if (tracer_pid > 0) {
    char comm[64] = "?";
    snprintf(path, sizeof path, "/proc/%ld/comm", tracer_pid);
    if (lw_thread_stack_read_proc(path, comm, sizeof comm) > 0)
      comm[strcspn(comm, "\n")] = '\0';
    snprintf(error, size,
             "process %d is already traced by process %ld (%s): only one tracer at a time; "
             "stop the debugger or strace first",
             pid, tracer_pid, comm);
    return;
  }
  const char *kernel_thread = lw_thread_stack_status_field(status, "Kthread");
  if (kernel_thread && strtol(kernel_thread, NULL, 10) == 1) {
    snprintf(error, size, "process %d is a kernel thread: it has no user-space stack", pid);
    return;
  }
  if (error_number != EPERM && error_number != EACCES) {
    snprintf(error, size, "cannot trace process %d: %s", pid, strerror(error_number));
    return;
  }
  const char *uid_field = lw_thread_stack_status_field(status, "Uid");
  unsigned long uid = uid_field ? strtoul(uid_field, NULL, 10) : 0;
  if (geteuid() != 0 && uid != geteuid()) {
    struct passwd *pw = getpwuid((uid_t)uid);
    snprintf(error, size,
             "process %d belongs to user %s (uid %lu): only that user or root "
             "(CAP_SYS_PTRACE) may read its stacks",
             pid, pw ? pw->pw_name : "?", uid);
    return;
  }
  char scope[16];
  if (geteuid() != 0 && lw_thread_stack_read_proc("/proc/sys/kernel/yama/ptrace_scope", scope, sizeof scope) > 0) {
    int value = atoi(scope);
    if (value == 1) {
      snprintf(error, size,
               "not permitted to trace process %d: Yama ptrace_scope is 1 (only a process's "
               "ancestors may trace it); run as root, or allow it with "
               "'sudo sysctl kernel.yama.ptrace_scope=0'",
               pid);
      return;
    }
    if (value >= 2) {
      snprintf(error, size,
               "not permitted to trace process %d: Yama ptrace_scope is %d (%s)", pid, value,
               value == 2 ? "only root with CAP_SYS_PTRACE may trace"
                          : "tracing is off until the next reboot");
      return;
    }
  }
  /* A process that is not dumpable (setuid, or prctl PR_SET_DUMPABLE 0) has /proc/PID
   * owned by root even when it runs as the caller. */
  snprintf(path, sizeof path, "/proc/%d", pid);
  struct stat st;
  if (geteuid() != 0 && stat(path, &st) == 0 && st.st_uid == 0 && uid == geteuid()) {
    snprintf(error, size,
             "not permitted to trace process %d: it is not dumpable (setuid, or it called "
             "prctl(PR_SET_DUMPABLE, 0)); only root may read its stacks",
             pid);
    return;
  }
  /* The kernel also refuses a tracer without CAP_SYS_PTRACE whose capabilities are not a
   * superset of the target's (cap_ptrace_access_check). */
  char own[4096];
  const char *target_caps = lw_thread_stack_status_field(status, "CapPrm");
  const char *own_caps = lw_thread_stack_read_proc("/proc/self/status", own, sizeof own) > 0
                             ? lw_thread_stack_status_field(own, "CapEff")
                             : NULL;
  const unsigned long long sys_ptrace = 1ull << 19; /* CAP_SYS_PTRACE */
  if (target_caps && own_caps) {
    unsigned long long theirs = strtoull(target_caps, NULL, 16);
    unsigned long long ours = strtoull(own_caps, NULL, 16);
    if (!(ours & sys_ptrace) && (theirs & ~ours)) {
      snprintf(error, size,
               "not permitted to trace process %d: it holds capabilities this command lacks "
               "(%llx) and CAP_SYS_PTRACE is missing",
               pid, theirs & ~ours);
      return;
    }
  }
  bool have_sys_ptrace = own_caps && (strtoull(own_caps, NULL, 16) & sys_ptrace);
  if (geteuid() == 0 || have_sys_ptrace) {
    snprintf(error, size,
             have_sys_ptrace
                 ? "not permitted to trace process %d although this command has CAP_SYS_PTRACE: "
                   "a security module (SELinux, AppArmor) or a sandbox refuses it"
                 : "not permitted to trace process %d although running as root: CAP_SYS_PTRACE "
                   "is missing (a container or user namespace?)",
             pid);
    return;
  }
  snprintf(error, size, "not permitted to trace process %d: %s", pid, strerror(error_number));
}
