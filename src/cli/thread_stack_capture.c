/*
 * thread_stack_capture.c - reads every thread of a live process for `leakwatch stack`
 * without the program noticing: one thread at a time is stopped, its registers and the top
 * of its stack are copied, and it runs again at once (thread_stack_unwind.c then works from
 * the copy). Pairs with thread_stack.h.
 *
 * Why not dwfl_linux_proc_attach: it uses PTRACE_ATTACH, which sends SIGSTOP - the parent
 * sees the stop (SIGCHLD, CLD_STOPPED), the whole process stops for as long as unwinding and
 * symbolizing take, and calls like epoll_wait return EINTR after it. Here each thread is
 * seized (PTRACE_SEIZE sends nothing) and stopped with PTRACE_INTERRUPT, a ptrace stop that
 * no signal handler and no parent sees.
 *
 * What an interrupt still does, and how it is undone:
 *  - A blocking call the kernel restarts by itself (read, accept, poll, nanosleep, futex:
 *    -ERESTARTSYS and friends) runs again when the thread resumes; nothing to do.
 *  - A call the kernel ends with EINTR after any stop (epoll_wait, epoll_pwait, semop,
 *    sigtimedwait, a socket with SO_RCVTIMEO...: signal(7), "Interruption of system calls
 *    ... by stop signals") shows rax = -EINTR in the stop. When the stop is our interrupt,
 *    no signal is pending for the thread, and the instruction before rip is `syscall`, the
 *    call is made to run again: rip back 2 bytes, rax = orig_rax, as the kernel itself does
 *    for -ERESTARTNOINTR. Its timeout, if relative, starts again.
 *  - A call that may return a short count when interrupted half-way (write, send, splice,
 *    recv with MSG_WAITALL on a pipe or socket) cannot be repaired, so a thread blocked in
 *    one is not stopped at all: its sp and pc come from /proc/PID/task/TID/syscall and its
 *    stack is copied while it sleeps; its scheduling count, read before and after, shows
 *    whether it stayed asleep (the copy is then exact).
 *  - A real signal that arrives while a thread is seized gives a signal-delivery stop; it is
 *    passed on at PTRACE_DETACH, so the handler runs as it would have.
 *
 * The CLI never calls ptrace on a thread it did not seize, and a thread that does not stop
 * within its deadline (uninterruptible sleep in the kernel) is skipped: the kernel detaches
 * it at the latest when the CLI exits.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/thread_stack.h"

/* The part of a stack copied during the stop. Most blocked threads use a few KiB; deeper
 * frames are read from the live process after it resumed (thread_stack_unwind.c), where
 * the callers' frames rarely change. 1,000 threads take 32 MiB; past 2,048 threads the
 * copies share 64 MiB (at least 4 KiB each). */
#define STACK_COPY_BYTES (32 * 1024)
#define STACK_COPY_TOTAL (64 * 1024 * 1024)
#define STACK_COPY_MIN (4 * 1024)

static size_t stack_copy_bytes = STACK_COPY_BYTES;
/* The id whose address space process_vm_readv reads (lw_thread_stacks_t.memory_pid). */
static int memory_pid;
/* How long a thread may take to reach its stop after the interrupt. A thread stops within
 * microseconds unless it sleeps uninterruptibly in the kernel or waits for a CPU. */
#define STOP_DEADLINE_MS 2000

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- small /proc reads (shared with thread_stack_refusal.c) ------------------------------- */

ssize_t lw_thread_stack_read_proc(const char *path, char *buf, size_t size) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  ssize_t n = read(fd, buf, size - 1);
  int saved = errno;
  close(fd);
  if (n < 0) {
    errno = saved;
    return -1;
  }
  buf[n] = '\0';
  return n;
}

const char *lw_thread_stack_status_field(const char *status, const char *name) {
  size_t len = strlen(name);
  for (const char *line = status; line && *line; line = strchr(line, '\n')) {
    if (*line == '\n')
      line++;
    if (strncmp(line, name, len) == 0 && line[len] == ':')
      return line + len + 1;
  }
  return NULL;
}

/* ---- the deadline for a thread to stop --------------------------------------------------- */

static void on_alarm(int signal_number) { (void)signal_number; }

/* Waits for `tid` to report a stop, or the deadline (SIGALRM, installed without SA_RESTART,
 * ends the blocking waitpid with EINTR). Returns the waitpid result. */
static pid_t wait_for_stop(int tid, int *status) {
  struct itimerval timer = {{0, 0}, {STOP_DEADLINE_MS / 1000, (STOP_DEADLINE_MS % 1000) * 1000}};
  setitimer(ITIMER_REAL, &timer, NULL);
  pid_t r = waitpid(tid, status, __WALL);
  int saved = errno;
  struct itimerval off = {{0, 0}, {0, 0}};
  setitimer(ITIMER_REAL, &off, NULL);
  errno = saved;
  return r;
}

/* A thread that missed its deadline may have stopped since: let it go now rather than keep
 * it stopped until this command exits (the kernel would detach it then). */
void lw_thread_release_late(lw_thread_stack_t *t) {
  if (!t->seized)
    return;
  int status = 0;
  pid_t r = waitpid(t->tid, &status, __WALL | WNOHANG);
  if (r == t->tid && WIFSTOPPED(status)) {
    int event = status >> 16;
    int stop_signal = WSTOPSIG(status);
    int deliver = event == 0 ? stop_signal : 0;
    if (ptrace(PTRACE_DETACH, t->tid, NULL, (void *)(uintptr_t)deliver) == 0)
      t->seized = false;
  } else if (r == t->tid || (r < 0 && errno == ECHILD)) {
    t->seized = false; /* it exited */
  }
}

/* ---- one thread ------------------------------------------------------------------------------ */

static void registers_to_dwarf(const struct user_regs_struct *r, uint64_t *out) {
  const uint64_t in[LW_DWARF_REGISTERS] = {r->rax, r->rdx, r->rcx, r->rbx, r->rsi, r->rdi,
                                           r->rbp, r->rsp, r->r8,  r->r9,  r->r10, r->r11,
                                           r->r12, r->r13, r->r14, r->r15, r->rip};
  memcpy(out, in, sizeof in);
}

/* Copies the top of the stack at `sp`; a copy that ends at an unmapped page is shorter. */
static void copy_stack(lw_thread_stack_t *t, uint64_t sp) {
  t->stack_address = sp;
  t->stack_len = 0;
  struct iovec local = {t->stack, stack_copy_bytes};
  struct iovec remote = {(void *)(uintptr_t)sp, stack_copy_bytes};
  ssize_t n = process_vm_readv(memory_pid, &local, 1, &remote, 1, 0);
  if (n > 0)
    t->stack_len = (size_t)n;
}

/* True when the thread has a signal pending that it does not block and has a handler for:
 * then the EINTR may be the program's own, and must reach it. A pending signal without a
 * handler does not count: while the thread is seized the kernel queues even ignored
 * signals (a SIGCHLD), which would otherwise leave an EINTR the program never gets. */
static bool signal_pending(int pid, int tid) {
  char path[64], status[4096];
  snprintf(path, sizeof path, "/proc/%d/task/%d/status", pid, tid);
  if (lw_thread_stack_read_proc(path, status, sizeof status) < 0)
    return true; /* cannot tell: leave the call as the kernel ended it */
  const char *thread = lw_thread_stack_status_field(status, "SigPnd");
  const char *shared = lw_thread_stack_status_field(status, "ShdPnd");
  const char *blocked = lw_thread_stack_status_field(status, "SigBlk");
  const char *caught = lw_thread_stack_status_field(status, "SigCgt");
  if (!thread || !shared || !blocked || !caught)
    return true;
  uint64_t pending = strtoull(thread, NULL, 16) | strtoull(shared, NULL, 16);
  return (pending & ~strtoull(blocked, NULL, 16) & strtoull(caught, NULL, 16)) != 0;
}

/* Our interrupt ended a call with EINTR that the kernel would not restart: make it run
 * again (see the file comment). Returns true when it did. */
static bool restart_interrupted_call(int pid, int tid, struct user_regs_struct *regs) {
  if ((long long)regs->orig_rax < 0 || (long long)regs->rax != -EINTR)
    return false;
  uint8_t code[2];
  struct iovec local = {code, 2};
  struct iovec remote = {(void *)(uintptr_t)(regs->rip - 2), 2};
  if (process_vm_readv(memory_pid, &local, 1, &remote, 1, 0) != 2)
    return false;
  bool syscall_instruction = (code[0] == 0x0f && code[1] == 0x05) || /* syscall */
                             (code[0] == 0xcd && code[1] == 0x80);   /* int $0x80 */
  if (!syscall_instruction || signal_pending(pid, tid))
    return false;
  struct user_regs_struct again = *regs;
  again.rax = again.orig_rax;
  again.rip -= 2;
  return ptrace(PTRACE_SETREGS, tid, NULL, &again) == 0;
}

/* Stops `tid`, copies it and lets it go. Returns 0 (captured, or kept with its problem), 1
 * when the thread is gone, or -errno when PTRACE_SEIZE refused it. */
static int capture_stopped(int pid, lw_thread_stack_t *t) {
  int tid = t->tid;
  if (ptrace(PTRACE_SEIZE, tid, NULL, NULL) != 0)
    return errno == ESRCH ? 1 : -errno;
  uint64_t start = now_ns();
  if (ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) != 0) {
    int saved = errno;
    ptrace(PTRACE_DETACH, tid, NULL, NULL);
    return saved == ESRCH ? 1 : -saved;
  }
  int status = 0;
  pid_t r = wait_for_stop(tid, &status);
  if (r < 0) {
    if (errno == ECHILD)
      return 1;
    /* Not stopped within the deadline. It cannot be detached until it stops; the kernel
     * drops our pending interrupt when it detaches it at our exit. */
    snprintf(t->problem, sizeof t->problem, "did not stop within %d ms (state %c): not read",
             STOP_DEADLINE_MS, t->state);
    t->seized = true;
    return 0;
  }
  uint64_t stopped = now_ns();
  if (WIFEXITED(status) || WIFSIGNALED(status))
    return 1;
  int event = status >> 16;
  int stop_signal = WSTOPSIG(status);
  /* A signal-delivery stop (a real signal arrived first; our interrupt always reports as
   * PTRACE_EVENT_STOP) is passed on at detach, whatever the signal. */
  int deliver = event == 0 ? stop_signal : 0;
  struct user_regs_struct regs;
  int rc = 0;
  if (ptrace(PTRACE_GETREGS, tid, NULL, &regs) != 0) {
    if (errno == ESRCH)
      rc = 1;
    else
      snprintf(t->problem, sizeof t->problem, "cannot read its registers: %s", strerror(errno));
  } else {
    registers_to_dwarf(&regs, t->registers);
    t->all_registers = true;
    copy_stack(t, regs.rsp);
    t->capture = LW_CAPTURE_STOPPED;
    if (event == PTRACE_EVENT_STOP && stop_signal == SIGTRAP)
      t->restarted = restart_interrupted_call(pid, tid, &regs);
  }
  ptrace(PTRACE_DETACH, tid, NULL, (void *)(uintptr_t)deliver);
  t->passed_signal = deliver;
  uint64_t resumed = now_ns();
  t->stop_ns = resumed - start;
  t->held_ns = resumed - stopped;
  return rc;
}

/* System calls that can return a short count when a stop interrupts them half-way. */
static bool may_end_short(long number) {
  static const long calls[] = {1 /* write */,      18 /* pwrite64 */,  20 /* writev */,
                               40 /* sendfile */,  44 /* sendto */,    45 /* recvfrom */,
                               46 /* sendmsg */,   47 /* recvmsg */,   275 /* splice */,
                               276 /* tee */,      278 /* vmsplice */, 296 /* pwritev */,
                               299 /* recvmmsg */, 307 /* sendmmsg */, 328 /* pwritev2 */};
  for (size_t i = 0; i < sizeof calls / sizeof *calls; i++)
    if (calls[i] == number)
      return true;
  return false;
}

/* How many times the thread was scheduled in (/proc/.../schedstat, third field). */
static bool times_scheduled(int pid, int tid, uint64_t *out) {
  char path[64], text[128];
  snprintf(path, sizeof path, "/proc/%d/task/%d/schedstat", pid, tid);
  if (lw_thread_stack_read_proc(path, text, sizeof text) < 0)
    return false;
  unsigned long long run, wait, slices;
  if (sscanf(text, "%llu %llu %llu", &run, &wait, &slices) != 3)
    return false;
  *out = slices;
  return true;
}

/* Reads a thread blocked in a call a stop could cut short, without stopping it. */
static void capture_unstopped(int pid, lw_thread_stack_t *t, const char *syscall_line) {
  unsigned long long sp = 0, pc = 0;
  /* "nr arg1..arg6 sp pc" in a system call, "-1 sp pc" asleep outside one (a page fault) */
  bool parsed = t->syscall >= 0
                    ? sscanf(syscall_line, "%*s %*s %*s %*s %*s %*s %*s %llx %llx", &sp, &pc) == 2
                    : sscanf(syscall_line, "-1 %llx %llx", &sp, &pc) == 2;
  if (!parsed) {
    snprintf(t->problem, sizeof t->problem, "cannot tell where it waits (state %c): not read",
             t->state);
    return;
  }
  uint64_t before = 0, after = 0;
  bool counted = times_scheduled(pid, t->tid, &before);
  copy_stack(t, sp);
  memset(t->registers, 0, sizeof t->registers);
  t->registers[LW_DWARF_RSP] = sp;
  t->registers[LW_DWARF_RIP] = pc;
  t->all_registers = false;
  t->capture = LW_CAPTURE_UNSTOPPED;
  if (!counted || !times_scheduled(pid, t->tid, &after) || after != before)
    snprintf(t->problem, sizeof t->problem,
             "it ran while its stack was read without stopping it; the frames may be wrong");
}

/* Fills name, state and the system call it waits in; returns false when it is gone. The
 * text of /proc/.../syscall is left in `syscall_line`. */
static bool describe(int pid, lw_thread_stack_t *t, char *syscall_line, size_t size) {
  char path[96], text[1024];
  snprintf(path, sizeof path, "/proc/%d/task/%d/comm", pid, t->tid);
  if (lw_thread_stack_read_proc(path, t->name, sizeof t->name) < 0)
    return false;
  t->name[strcspn(t->name, "\n")] = '\0';
  snprintf(path, sizeof path, "/proc/%d/task/%d/stat", pid, t->tid);
  if (lw_thread_stack_read_proc(path, text, sizeof text) < 0)
    return false;
  const char *close_paren = strrchr(text, ')'); /* comm may hold spaces and parentheses */
  t->state = close_paren && close_paren[1] == ' ' ? close_paren[2] : '?';
  t->syscall = -1;
  syscall_line[0] = '\0';
  snprintf(path, sizeof path, "/proc/%d/task/%d/syscall", pid, t->tid);
  if (lw_thread_stack_read_proc(path, syscall_line, size) > 0 && syscall_line[0] >= '0' &&
      syscall_line[0] <= '9')
    t->syscall = strtol(syscall_line, NULL, 10);
  return true;
}

/* ---- the process ------------------------------------------------------------------------------ */

static int list_threads(int pid, int **out, size_t *n_out) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/task", pid);
  DIR *dir = opendir(path);
  if (!dir)
    return -1;
  size_t n = 0, cap = 64;
  int *tids = malloc(cap * sizeof *tids);
  struct dirent *entry;
  while (tids && (entry = readdir(dir)) != NULL) {
    if (entry->d_name[0] < '0' || entry->d_name[0] > '9')
      continue;
    if (n == cap) {
      int *grown = realloc(tids, cap * 2 * sizeof *tids);
      if (!grown) {
        free(tids);
        tids = NULL;
        break;
      }
      tids = grown;
      cap *= 2;
    }
    tids[n++] = atoi(entry->d_name);
  }
  closedir(dir);
  if (!tids) {
    errno = ENOMEM;
    return -1;
  }
  *out = tids;
  *n_out = n;
  return 0;
}

int lw_thread_stacks_capture(int pid, lw_thread_stacks_t *out, char *error, size_t error_size) {
  memset(out, 0, sizeof *out);
  out->pid = pid;
  char path[64], status[4096];
  snprintf(path, sizeof path, "/proc/%d/status", pid);
  if (lw_thread_stack_read_proc(path, status, sizeof status) < 0) {
    snprintf(error, error_size, "no process %d", pid);
    return -1;
  }
  const char *tgid = lw_thread_stack_status_field(status, "Tgid");
  if (tgid && strtol(tgid, NULL, 10) != pid) {
    snprintf(error, error_size, "%d is a thread of process %ld: ask for the process", pid,
             strtol(tgid, NULL, 10));
    return -1;
  }
  if (pid == getpid()) {
    snprintf(error, error_size, "process %d is this leakwatch command itself", pid);
    return -1;
  }
  if (!lw_thread_stack_x86_64(pid, error, error_size))
    return -1;
  int *tids = NULL;
  size_t n_tids = 0;
  if (list_threads(pid, &tids, &n_tids) < 0) {
    snprintf(error, error_size, errno == ENOENT ? "process %d exited meanwhile"
                                                : "cannot list the threads of process %d: %s",
             pid, strerror(errno));
    return -1;
  }
  /* A main thread that ended with pthread_exit is a zombie with no memory of its own: read
   * the process through a live thread. */
  out->memory_pid = pid;
  char state_path[64], stat_text[1024];
  snprintf(state_path, sizeof state_path, "/proc/%d/stat", pid);
  const char *leader_state = lw_thread_stack_read_proc(state_path, stat_text, sizeof stat_text) > 0
                                 ? strrchr(stat_text, ')')
                                 : NULL;
  if (leader_state && leader_state[1] == ' ' && leader_state[2] == 'Z') {
    for (size_t i = 0; i < n_tids; i++) {
      snprintf(state_path, sizeof state_path, "/proc/%d/task/%d/stat", pid, tids[i]);
      const char *state = lw_thread_stack_read_proc(state_path, stat_text, sizeof stat_text) > 0
                              ? strrchr(stat_text, ')')
                              : NULL;
      if (state && state[1] == ' ' && state[2] != 'Z' && state[2] != 'X') {
        out->memory_pid = tids[i];
        break;
      }
    }
  }
  memory_pid = out->memory_pid;
  out->threads = calloc(n_tids ? n_tids : 1, sizeof *out->threads);
  if (!out->threads) {
    free(tids);
    snprintf(error, error_size, "out of memory for %zu threads", n_tids);
    return -1;
  }
  stack_copy_bytes = STACK_COPY_BYTES;
  if (n_tids > STACK_COPY_TOTAL / STACK_COPY_BYTES)
    stack_copy_bytes = STACK_COPY_TOTAL / n_tids > STACK_COPY_MIN
                           ? (STACK_COPY_TOTAL / n_tids) & ~(size_t)4095
                           : STACK_COPY_MIN;
  /* Ctrl-C (or a TERM) waits until the thread in hand runs again and its interrupted call
   * is repaired: the kernel would resume it at our exit, but not repair an EINTR. */
  sigset_t deferred, previous_mask;
  sigemptyset(&deferred);
  int deferred_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGTSTP};
  for (size_t i = 0; i < sizeof deferred_signals / sizeof *deferred_signals; i++)
    sigaddset(&deferred, deferred_signals[i]);
  sigprocmask(SIG_BLOCK, &deferred, &previous_mask);
  struct sigaction alarm_action, previous;
  memset(&alarm_action, 0, sizeof alarm_action);
  alarm_action.sa_handler = on_alarm; /* no SA_RESTART: the deadline ends waitpid */
  sigemptyset(&alarm_action.sa_mask);
  sigaction(SIGALRM, &alarm_action, &previous);

  int rc = 0;
  uint64_t start = now_ns();
  for (size_t i = 0; i < n_tids; i++) {
    lw_thread_stack_t *t = &out->threads[out->n_threads];
    memset(t, 0, sizeof *t);
    t->tid = tids[i];
    char syscall_line[512];
    if (!describe(pid, t, syscall_line, sizeof syscall_line))
      continue; /* exited meanwhile */
    t->stack = malloc(stack_copy_bytes);
    if (!t->stack) {
      snprintf(error, error_size, "out of memory for the stack copies of %zu threads", n_tids);
      rc = -1;
      break;
    }
    int r;
    if (t->state == 'Z' || t->state == 'X') {
      /* A thread that has exited (a main thread that called pthread_exit stays a zombie
       * while the others run): nothing to read, and ptrace refuses it. */
      r = 0;
    } else if ((t->syscall >= 0 && may_end_short(t->syscall)) || t->state == 'D') {
      /* In uninterruptible sleep a thread would reach its stop only when the sleep ends
       * (a slow disk, NFS): read it where it sleeps instead. */
      capture_unstopped(pid, t, syscall_line);
      r = 0;
    } else {
      r = capture_stopped(pid, t);
    }
    if (r == 1) { /* exited meanwhile */
      free(t->stack);
      continue;
    }
    if (r < 0) {
      if (out->n_stopped == 0 && out->n_unstopped == 0) { /* the process's, not one thread's */
        lw_thread_stack_explain_refusal(pid, -r, error, error_size);
        free(t->stack);
        rc = -1;
        break;
      }
      snprintf(t->problem, sizeof t->problem, "cannot trace it: %s", strerror(-r));
    }
    if (t->capture == LW_CAPTURE_STOPPED) {
      out->n_stopped++;
      out->total_stop_ns += t->stop_ns;
      out->total_held_ns += t->held_ns;
      if (t->stop_ns > out->max_stop_ns)
        out->max_stop_ns = t->stop_ns;
      if (t->held_ns > out->max_held_ns)
        out->max_held_ns = t->held_ns;
    } else if (t->capture == LW_CAPTURE_UNSTOPPED) {
      out->n_unstopped++;
    }
    out->n_restarted += t->restarted;
    out->n_signals_passed += t->passed_signal != 0;
    out->n_threads++;
  }
  out->capture_ns = now_ns() - start;
  sigaction(SIGALRM, &previous, NULL);
  sigprocmask(SIG_SETMASK, &previous_mask, NULL);
  for (size_t i = 0; i < out->n_threads; i++)
    lw_thread_release_late(&out->threads[i]);
  free(tids);
  if (rc == 0 && out->n_threads == 0) {
    snprintf(error, error_size, "process %d exited meanwhile", pid);
    rc = -1;
  }
  if (rc < 0)
    lw_thread_stacks_free(out);
  return rc;
}
