/*
 * thread_stacks.c - every thread's current stack, read from inside the process without
 * stopping or signalling anyone (see thread_stacks.h; docs/INTERNALS.md, "Thread stacks
 * without signals").
 *
 * The usual way to get another thread's registers is a signal whose handler unwinds (glibc's
 * backtrace in a handler, gperftools' profiler): a handler of the program's would run, and an
 * agent handler on a thread that is inside nanosleep, epoll_wait or poll makes that call
 * return EINTR, which those calls never restart (signal(7)). So no signal is ever sent. A
 * thread blocked in a system call is instead read from /proc/self/task/TID/syscall: the
 * kernel fills it only once the thread is off its CPU (task_current_syscall waits for that),
 * and it gives the user stack pointer and the pc after the `syscall` instruction. From those
 * two the agent's CFI unwinder steps outwards; every read of the other thread's stack goes
 * through process_vm_readv (a "checked" region), so a thread that wakes up, returns, or
 * exits and frees its stack meanwhile makes a read fail, never the agent fault. The file is
 * read again after the walk: if the thread moved, the walk is done again.
 *
 * What /proc does not give: the other registers. Code compiled with -O2 finds its frames from
 * rsp alone; a frame whose CFA is rbp-based (frame-pointer code, alloca) needs rbp, which is
 * known only if a callee saved it on the stack. Otherwise the frame's saved rbp and return
 * address are looked for just above its stack pointer (step_with_guessed_rbp), and if none
 * fits the walk stops there, marked truncated (unknown_register). A thread that is running
 * has nothing to read: it is retried for a few milliseconds and then reported as running,
 * without frames.
 *
 * Runs on the agent thread. /proc is read with raw system calls into stack buffers: no
 * malloc, no stdio, and no descriptor the program's fd wrappers would see.
 */
#define _GNU_SOURCE
#include "agent/thread_stacks.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "agent/raw_directory.h"
#include "agent/unwind_cfi.h"
#include "agent/unwind_stack_bounds.h"
#include "agent/unwind_step.h"
#include "common/fmt.h"

enum {
  RED_ZONE = 128,      /* x86-64: a leaf may keep data below rsp (see INTERNALS "Low end") */
  RUNNING_PASSES = 10, /* tries for a thread that is running, 1 ms apart */
  STABLE_TRIES = 4,    /* walks of a thread that keeps moving before it counts as running */
};

/* ---- /proc with raw system calls ------------------------------------------------------ */

static int open_task_directory(void) {
  long fd = syscall(SYS_openat, AT_FDCWD, "/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  return fd < 0 ? -errno : (int)fd;
}

/* Reads a small file of one thread (relative to /proc/self/task) into buf, NUL-terminated.
 * Returns the length, or a negative errno (-ENOENT/-ESRCH: the thread is gone). */
static long read_task_file(int task_directory, pid_t tid, const char *file, char *buf,
                           size_t size) {
  char path[48];
  lw_fmt(path, sizeof path, "%d/%s", (int)tid, file);
  long fd = syscall(SYS_openat, task_directory, path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  long n;
  do
    n = syscall(SYS_read, fd, buf, size - 1);
  while (n < 0 && errno == EINTR);
  long result = n < 0 ? -errno : n;
  syscall(SYS_close, fd);
  buf[n > 0 ? n : 0] = '\0';
  return result;
}

/* Calls fn(tid) for each entry of /proc/self/task; returns how many, or a negative errno. */
typedef struct {
  void (*fn)(pid_t tid, void *context);
  void *context;
  long count;
} task_visit_t;

static bool visit_task(const char *name, void *context) {
  task_visit_t *visit = context;
  long tid = lw__directory_number(name);
  if (tid > 0) { /* not "." or ".." */
    visit->count++;
    if (visit->fn)
      visit->fn((pid_t)tid, visit->context);
  }
  return true;
}

static long for_each_task(int task_directory, void (*fn)(pid_t tid, void *context),
                          void *context) {
  if (lseek(task_directory, 0, SEEK_SET) < 0)
    return -errno;
  task_visit_t visit = {fn, context, 0};
  int result = lw__directory_for_each(task_directory, visit_task, &visit);
  return result < 0 ? result : visit.count;
}

long lw__thread_stacks_count(void) {
  int dir = open_task_directory();
  if (dir < 0)
    return dir;
  long n = for_each_task(dir, NULL, NULL);
  syscall(SYS_close, dir);
  return n;
}

/* What /proc/self/task/TID/syscall says: "running", "-1 sp pc" (asleep outside a system
 * call) or "nr arg1 .. arg6 sp pc" (kernel: proc_pid_syscall). */
typedef struct {
  uint8_t where; /* lw_thread_where_t */
  int32_t nr;
  uint64_t sp, pc;
} syscall_state_t;

static uint64_t parse_hex(const char **text) {
  const char *p = *text;
  while (*p == ' ')
    p++;
  if (p[0] == '0' && p[1] == 'x')
    p += 2;
  uint64_t v = 0;
  for (;; p++) {
    int digit = (*p >= '0' && *p <= '9')   ? *p - '0'
                : (*p >= 'a' && *p <= 'f') ? *p - 'a' + 10
                                           : -1;
    if (digit < 0)
      break;
    v = v << 4 | (uint64_t)digit;
  }
  *text = p;
  return v;
}

static void read_syscall_state(int task_directory, pid_t tid, syscall_state_t *out) {
  char text[256];
  long n = read_task_file(task_directory, tid, "syscall", text, sizeof text);
  *out = (syscall_state_t){.where = LW_THREAD_RUNNING, .nr = -1};
  if (n == -ENOENT || n == -ESRCH) {
    out->where = LW_THREAD_GONE;
    return;
  }
  if (n <= 0 || (text[0] != '-' && (text[0] < '0' || text[0] > '9')))
    return; /* "running", or unreadable: nothing to walk */
  const char *p = text;
  bool negative = *p == '-';
  if (negative)
    p++;
  long nr = 0;
  for (; *p >= '0' && *p <= '9' && nr < 100000; p++)
    nr = nr * 10 + (*p - '0');
  int words = negative ? 2 : 8; /* the arguments, then sp and pc */
  uint64_t values[8] = {0};
  for (int i = 0; i < words; i++) {
    if (*p != ' ')
      return;
    values[i] = parse_hex(&p);
  }
  out->where = negative ? LW_THREAD_BLOCKED : LW_THREAD_IN_SYSCALL;
  out->nr = negative ? -1 : (int32_t)nr;
  out->sp = values[words - 2];
  out->pc = values[words - 1];
}

/* ---- the walk ------------------------------------------------------------------------- */

/* True when the bytes before `address` end in a call instruction: E8 rel32, or FF /2 (an
 * indirect call through a register or memory, 2 to 7 bytes with prefixes and displacement).
 * Read through the kernel: code can be unmapped by a dlclose meanwhile. */
static bool follows_call(uint64_t address) {
  uint64_t before;
  if (address < 8 || !lw__stack_read_checked((uintptr_t)address - 8, &before))
    return false;
  uint8_t b[8];
  memcpy(b, &before, sizeof b); /* b[8 - n] is the byte at address - n */
  if (b[3] == 0xe8)
    return true;
  for (int n = 2; n <= 7; n++)
    if (b[8 - n] == 0xff && ((b[8 - n + 1] >> 3) & 7) == 2)
      return true;
  return false;
}

/* How a walk ended. */
enum walk_end { WALK_STOPPED, WALK_NO_CFI, WALK_OUTERMOST };
static enum walk_end walk_from(lw_thread_stack_t *t, lw_unwind_registers_t *registers,
                               lw_stack_region_t *region, bool return_address, bool may_guess);

/* The frame at this pc finds its CFA from rbp (frame-pointer code: the agent's own
 * wrappers, -fno-omit-frame-pointer builds, alloca), and rbp is still in the register the
 * kernel saved where no one can read it. Frame-pointer code keeps, at rbp, the caller's
 * rbp and above it the return address, somewhere above its stack pointer; but its locals
 * lie in between and may hold stale return addresses of calls made earlier. So a candidate
 * (a word that follows a call instruction in code with CFI, within SCAN_BYTES above sp) is
 * taken only if the walk from there goes on through at least two more frames to a proper
 * end: a frame whose CFI says it is the outermost (thread start, _start), or the depth
 * limit; a walk that ends in code without CFI does not count. The registers are stepped past the frame
 * with it. Returns false when no candidate passes (the walk then stops there). */
enum { SCAN_BYTES = 4096, MIN_FRAMES_AFTER_GUESS = 2 };
static bool step_with_guessed_rbp(const lw_cfi_row_t *row, lw_unwind_registers_t *registers,
                                  const lw_stack_region_t *region) {
  if (row->cfa_kind != LW_CFI_CFA_REGISTER_OFFSET || row->cfa_register != LW_REG_RBP ||
      row->cfa_offset < 16 || row->cfa_offset > 64)
    return false;
  uint64_t sp = registers->value[LW_REG_RSP];
  for (uint64_t candidate = sp; candidate < sp + SCAN_BYTES; candidate += 8) {
    uint64_t cfa = candidate + (uint64_t)row->cfa_offset, return_address;
    if (!lw__stack_read(region, (uintptr_t)(cfa - 8), &return_address))
      return false; /* past the readable stack */
    if (return_address < 4096)
      continue;
    lw_cfi_row_t caller;
    if (lw__cfi_find_row((uintptr_t)return_address - 1, &caller) != 0 ||
        !follows_call(return_address))
      continue;
    lw_unwind_registers_t trial_registers = *registers;
    trial_registers.value[LW_REG_RBP] = candidate;
    trial_registers.known |= LW_REGISTER_BIT(LW_REG_RBP);
    if (lw__unwind_step_row(row, &trial_registers, region) != LW_STEP_DONE ||
        trial_registers.value[LW_REG_RSP] <= sp)
      continue;
    lw_thread_stack_t trial;
    memset(&trial, 0, offsetof(lw_thread_stack_t, frames));
    lw_unwind_registers_t walked = trial_registers;
    lw_stack_region_t trial_region = *region;
    enum walk_end end = walk_from(&trial, &walked, &trial_region, true, false);
    if (trial.depth >= MIN_FRAMES_AFTER_GUESS &&
        (end == WALK_OUTERMOST || trial.depth == LW_THREAD_STACK_DEPTH)) {
      *registers = trial_registers;
      return true;
    }
  }
  return false;
}

/* Unwinds another thread from its sp and pc alone. Like unwind.c's slow path, but every
 * register except rsp and the pc starts unknown and every stack read is checked. */
static void walk(lw_thread_stack_t *t, uint64_t sp, uint64_t pc, bool pc_is_after_instruction) {
  lw_unwind_registers_t registers;
  memset(&registers, 0, sizeof registers);
  registers.value[LW_REG_RSP] = sp;
  registers.value[LW_REG_RA] = pc;
  registers.known = LW_REGISTER_BIT(LW_REG_RSP) | LW_REGISTER_BIT(LW_REG_RA);
  lw_stack_region_t region = {.high = UINTPTR_MAX, .checked = true};
  lw__stack_region_set_low(&region, sp > RED_ZONE ? sp - RED_ZONE : 0);
  t->depth = 0;
  t->truncated = false;
  t->unknown_register = false;
  /* The pc after a `syscall` is looked up (and recorded) at pc - 1, inside that
   * instruction, exactly as a return address is: the same function, line and CFI row. */
  walk_from(t, &registers, &region, pc_is_after_instruction, true);
}

/* Appends frames to t from *registers until the outermost frame, code without CFI, or a
 * stop (t->truncated). */
static enum walk_end walk_from(lw_thread_stack_t *t, lw_unwind_registers_t *registers,
                               lw_stack_region_t *region, bool return_address, bool may_guess) {
  for (;;) {
    uint64_t pc = registers->value[LW_REG_RA];
    if (pc == 0)
      return WALK_NO_CFI; /* the end by convention, but stale stack words are often 0 */
    if (t->depth == LW_THREAD_STACK_DEPTH) {
      t->truncated = true;
      return WALK_STOPPED;
    }
    uintptr_t lookup = return_address ? (uintptr_t)pc - 1 : (uintptr_t)pc;
    lw_cfi_row_t row;
    int status = lw__cfi_find_row(lookup, &row);
    bool trampoline = status == 0 && row.signal_frame;
    t->frames[t->depth++] = trampoline ? pc : lookup;
    if (status == -ESRCH || status == -ENOENT)
      return WALK_NO_CFI; /* the end, as far as anyone knows: no object, or no FDE */
    if (status != 0) {
      t->truncated = true;
      return WALK_STOPPED;
    }
    uint64_t old_sp = registers->value[LW_REG_RSP];
    lw_unwind_registers_t before = *registers;
    int result = lw__unwind_step_row(&row, registers, region);
    if (result == LW_STEP_UNKNOWN_REGISTER && may_guess &&
        !(before.known & LW_REGISTER_BIT(LW_REG_RBP)) &&
        step_with_guessed_rbp(&row, &before, region)) {
      *registers = before;
      result = LW_STEP_DONE;
    }
    if (result == LW_STEP_OUTERMOST)
      return WALK_OUTERMOST;
    if (result != LW_STEP_DONE) {
      t->truncated = true;
      t->unknown_register = result == LW_STEP_UNKNOWN_REGISTER;
      return WALK_STOPPED;
    }
    uint64_t new_sp = registers->value[LW_REG_RSP];
    if (trampoline) {
      /* The interrupted code may be on another stack (a handler on a sigaltstack). */
      lw__stack_region_set_low(region, new_sp > RED_ZONE ? new_sp - RED_ZONE : 0);
    } else if (new_sp <= old_sp) {
      t->truncated = true; /* a caller's frame lies above its callee's: else stop */
      return WALK_STOPPED;
    }
    return_address = !trampoline;
  }
}

/* Reads one thread: its state, and its stack when it is asleep. A thread that moved while
 * it was walked (its sp or pc changed) is walked again. */
static void capture_one(int task_directory, lw_thread_stack_t *t) {
  syscall_state_t before, after;
  for (int attempt = 0; attempt < STABLE_TRIES; attempt++) {
    read_syscall_state(task_directory, t->tid, &before);
    t->where = before.where;
    t->syscall = before.nr;
    t->depth = 0;
    t->truncated = false;
    t->unknown_register = false;
    if (before.where == LW_THREAD_RUNNING || before.where == LW_THREAD_GONE)
      return;
    walk(t, before.sp, before.pc, before.where == LW_THREAD_IN_SYSCALL);
    read_syscall_state(task_directory, t->tid, &after);
    if (after.where == before.where && after.nr == before.nr && after.sp == before.sp &&
        after.pc == before.pc)
      return;
  }
  t->where = LW_THREAD_RUNNING; /* never still long enough to be read */
  t->syscall = -1;
  t->depth = 0;
}

/* ---- all threads ---------------------------------------------------------------------- */

typedef struct {
  lw_thread_stack_t *out;
  size_t max, filled, seen;
  pid_t self;
} capture_t;

static void note_task(pid_t tid, void *context) {
  capture_t *c = context;
  if (tid == c->self)
    return;
  c->seen++;
  if (c->filled == c->max)
    return;
  lw_thread_stack_t *t = &c->out[c->filled++];
  memset(t, 0, offsetof(lw_thread_stack_t, frames));
  t->tid = tid;
  t->syscall = -1;
  t->where = LW_THREAD_RUNNING;
}

long lw__thread_stacks_capture(lw_thread_stack_t *out, size_t max, size_t *seen) {
  int dir = open_task_directory();
  if (dir < 0)
    return dir;
  capture_t c = {out, max, 0, 0, (pid_t)syscall(SYS_gettid)};
  long listed = for_each_task(dir, note_task, &c);
  if (listed < 0) {
    syscall(SYS_close, dir);
    return listed;
  }
  for (size_t i = 0; i < c.filled; i++) {
    lw_thread_stack_t *t = &out[i];
    char name[32];
    long n = read_task_file(dir, t->tid, "comm", name, sizeof name);
    while (n > 0 && name[n - 1] == '\n')
      name[--n] = '\0';
    lw_fmt(t->name, sizeof t->name, "%s", n > 0 ? name : "");
    capture_one(dir, t);
  }
  /* Running threads often block a moment later (a worker between two reads): look again
   * a few times before saying "running". */
  for (int pass = 0; pass < RUNNING_PASSES; pass++) {
    bool any = false;
    for (size_t i = 0; i < c.filled && !any; i++)
      any = out[i].where == LW_THREAD_RUNNING;
    if (!any)
      break;
    struct timespec pause = {0, 1000000};
    nanosleep(&pause, NULL); /* the agent thread's own sleep: its signals are blocked */
    for (size_t i = 0; i < c.filled; i++)
      if (out[i].where == LW_THREAD_RUNNING)
        capture_one(dir, &out[i]);
  }
  syscall(SYS_close, dir);
  /* Threads that exited meanwhile are left out. */
  size_t kept = 0;
  for (size_t i = 0; i < c.filled; i++)
    if (out[i].where != LW_THREAD_GONE) {
      if (kept != i)
        memcpy(&out[kept], &out[i], sizeof out[i]);
      kept++;
    }
  c.seen -= c.filled - kept;
  c.filled = kept;
  if (seen)
    *seen = c.seen;
  return (long)c.filled;
}

/* ---- system call names ---------------------------------------------------------------- */

#if defined(__x86_64__)
/* x86-64 system call numbers 0..450 (asm/unistd_64.h, Linux 6.1); "" for unused numbers. */
static const char *const syscall_names[] = {
    "read", "write", "open", "close", "stat", "fstat", "lstat", "poll", "lseek", "mmap",
    "mprotect", "munmap", "brk", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "ioctl",
    "pread64", "pwrite64", "readv", "writev", "access", "pipe", "select", "sched_yield",
    "mremap", "msync", "mincore", "madvise", "shmget", "shmat", "shmctl", "dup", "dup2",
    "pause", "nanosleep", "getitimer", "alarm", "setitimer", "getpid", "sendfile", "socket",
    "connect", "accept", "sendto", "recvfrom", "sendmsg", "recvmsg", "shutdown", "bind",
    "listen", "getsockname", "getpeername", "socketpair", "setsockopt", "getsockopt", "clone",
    "fork", "vfork", "execve", "exit", "wait4", "kill", "uname", "semget", "semop", "semctl",
    "shmdt", "msgget", "msgsnd", "msgrcv", "msgctl", "fcntl", "flock", "fsync", "fdatasync",
    "truncate", "ftruncate", "getdents", "getcwd", "chdir", "fchdir", "rename", "mkdir",
    "rmdir", "creat", "link", "unlink", "symlink", "readlink", "chmod", "fchmod", "chown",
    "fchown", "lchown", "umask", "gettimeofday", "getrlimit", "getrusage", "sysinfo", "times",
    "ptrace", "getuid", "syslog", "getgid", "setuid", "setgid", "geteuid", "getegid", "setpgid",
    "getppid", "getpgrp", "setsid", "setreuid", "setregid", "getgroups", "setgroups",
    "setresuid", "getresuid", "setresgid", "getresgid", "getpgid", "setfsuid", "setfsgid",
    "getsid", "capget", "capset", "rt_sigpending", "rt_sigtimedwait", "rt_sigqueueinfo",
    "rt_sigsuspend", "sigaltstack", "utime", "mknod", "uselib", "personality", "ustat",
    "statfs", "fstatfs", "sysfs", "getpriority", "setpriority", "sched_setparam",
    "sched_getparam", "sched_setscheduler", "sched_getscheduler", "sched_get_priority_max",
    "sched_get_priority_min", "sched_rr_get_interval", "mlock", "munlock", "mlockall",
    "munlockall", "vhangup", "modify_ldt", "pivot_root", "_sysctl", "prctl", "arch_prctl",
    "adjtimex", "setrlimit", "chroot", "sync", "acct", "settimeofday", "mount", "umount2",
    "swapon", "swapoff", "reboot", "sethostname", "setdomainname", "iopl", "ioperm",
    "create_module", "init_module", "delete_module", "get_kernel_syms", "query_module",
    "quotactl", "nfsservctl", "getpmsg", "putpmsg", "afs_syscall", "tuxcall", "security",
    "gettid", "readahead", "setxattr", "lsetxattr", "fsetxattr", "getxattr", "lgetxattr",
    "fgetxattr", "listxattr", "llistxattr", "flistxattr", "removexattr", "lremovexattr",
    "fremovexattr", "tkill", "time", "futex", "sched_setaffinity", "sched_getaffinity",
    "set_thread_area", "io_setup", "io_destroy", "io_getevents", "io_submit", "io_cancel",
    "get_thread_area", "lookup_dcookie", "epoll_create", "epoll_ctl_old", "epoll_wait_old",
    "remap_file_pages", "getdents64", "set_tid_address", "restart_syscall", "semtimedop",
    "fadvise64", "timer_create", "timer_settime", "timer_gettime", "timer_getoverrun",
    "timer_delete", "clock_settime", "clock_gettime", "clock_getres", "clock_nanosleep",
    "exit_group", "epoll_wait", "epoll_ctl", "tgkill", "utimes", "vserver", "mbind",
    "set_mempolicy", "get_mempolicy", "mq_open", "mq_unlink", "mq_timedsend", "mq_timedreceive",
    "mq_notify", "mq_getsetattr", "kexec_load", "waitid", "add_key", "request_key", "keyctl",
    "ioprio_set", "ioprio_get", "inotify_init", "inotify_add_watch", "inotify_rm_watch",
    "migrate_pages", "openat", "mkdirat", "mknodat", "fchownat", "futimesat", "newfstatat",
    "unlinkat", "renameat", "linkat", "symlinkat", "readlinkat", "fchmodat", "faccessat",
    "pselect6", "ppoll", "unshare", "set_robust_list", "get_robust_list", "splice", "tee",
    "sync_file_range", "vmsplice", "move_pages", "utimensat", "epoll_pwait", "signalfd",
    "timerfd_create", "eventfd", "fallocate", "timerfd_settime", "timerfd_gettime", "accept4",
    "signalfd4", "eventfd2", "epoll_create1", "dup3", "pipe2", "inotify_init1", "preadv",
    "pwritev", "rt_tgsigqueueinfo", "perf_event_open", "recvmmsg", "fanotify_init",
    "fanotify_mark", "prlimit64", "name_to_handle_at", "open_by_handle_at", "clock_adjtime",
    "syncfs", "sendmmsg", "setns", "getcpu", "process_vm_readv", "process_vm_writev", "kcmp",
    "finit_module", "sched_setattr", "sched_getattr", "renameat2", "seccomp", "getrandom",
    "memfd_create", "kexec_file_load", "bpf", "execveat", "userfaultfd", "membarrier", "mlock2",
    "copy_file_range", "preadv2", "pwritev2", "pkey_mprotect", "pkey_alloc", "pkey_free",
    "statx", "io_pgetevents", "rseq", "", "", "", "", "", "", "", "", "", "", "", "", "", "",
    "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "",
    "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "",
    "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "",
    "", "", "", "", "", "", "pidfd_send_signal", "io_uring_setup", "io_uring_enter",
    "io_uring_register", "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick",
    "pidfd_open", "clone3", "close_range", "openat2", "pidfd_getfd", "faccessat2",
    "process_madvise", "epoll_pwait2", "mount_setattr", "quotactl_fd",
    "landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self", "memfd_secret",
    "process_mrelease", "futex_waitv", "set_mempolicy_home_node",
};
#endif

const char *lw__syscall_name(long number) {
#if defined(__x86_64__)
  if (number >= 0 && (size_t)number < sizeof syscall_names / sizeof syscall_names[0] &&
      syscall_names[number][0])
    return syscall_names[number];
#else
  (void)number;
#endif
  return NULL;
}
