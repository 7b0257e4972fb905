/*
 * inject_call.c - borrows one thread of a running process to call dlopen, dlsym and an
 * entry point in it, leaving the program as it was whether or not leakwatch lives to see
 * the call end.
 *
 * The steps, each safe to be killed after (tests/integration/test_attach_kill.sh kills
 * leakwatch at every one):
 *  1. The call's code (trampoline below) goes into the unused end of an executable page of
 *     the process (past a segment's code: file padding nobody runs), through
 *     /proc/<pid>/mem, which copies the page for this process only. Nothing runs it yet.
 *  2. One thread, chosen from /proc while it runs (blocked in a plain system call, or in the
 *     program's own code), is seized and interrupted with ptrace; the others run on, so a
 *     lock another thread holds is released as usual. If the interrupt cut a system call
 *     short, its registers are set at once to re-issue it, as the kernel itself does for
 *     restartable calls: the program never sees an EINTR that it would not have seen.
 *  3. Its saved registers, the strings and the results go on its own stack, below the red
 *     zone, and its registers are changed once: to the trampoline, with the stack pointer
 *     under that block. Then ptrace lets it go.
 *  4. The thread saves its vector state, calls dlopen, dlsym and the entry point, marks the
 *     block done, restores every register and the flags and jumps back (or re-issues its
 *     system call). leakwatch reads the results from the block.
 *  5. Once the thread is seen blocked elsewhere, the page's bytes are put back.
 * The thread is stopped only during 2-3 (well under a millisecond of work).
 */
#define _GNU_SOURCE
#include "cli/inject_call.h"

#include <cpuid.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"

/* Where the trampoline finds its inputs and puts its outputs: offsets from the block's
 * start, which is also its stack pointer on entry (64-byte aligned, so calls see the ABI's
 * 16-byte alignment and xsave its 64). */
#define BLOCK_DLOPEN 0
#define BLOCK_DLSYM 8
#define BLOCK_DLERROR 16
#define BLOCK_PATH 24
#define BLOCK_FLAGS 32
#define BLOCK_SYMBOL 40
#define BLOCK_ARGUMENT0 48
#define BLOCK_ARGUMENT1 56
#define BLOCK_ARGUMENT2 64
#define BLOCK_USE_XSAVE 72
#define BLOCK_HANDLE 80
#define BLOCK_FUNCTION 88
#define BLOCK_RESULT 96
#define BLOCK_ERROR 104
#define BLOCK_DONE 112
#define BLOCK_REGISTERS 128 /* r15 r14 r13 r12 r11 r10 r9 r8 rbp rdi rsi rdx rcx rbx rax flags rsp */
#define BLOCK_READ 264      /* set by leakwatch once it has read the results */
#define WAIT_FOR_READ_NAPS 500
#define BLOCK_VECTOR_STATE 320 /* xsave/fxsave area */

#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)
#define AT(offset) STRINGIFY(offset) "(%rbx)"

/* The self-restoring call, assembled here and copied into the process (position
 * independent: only %rbx-relative data and its own return slot). Entered with %rsp at the
 * block; leaves with every register, the flags and the vector state as they were, jumping
 * to the address in its return slot. */
__asm__(".pushsection .text\n"
        ".balign 16\n"
        "lw_inject_trampoline_start:\n"
        "  mov %rsp, %rbx\n"
        "  mov $-1, %eax\n"
        "  mov $-1, %edx\n"
        "  cmpq $0, " AT(BLOCK_USE_XSAVE) "\n"
        "  je 1f\n"
        "  xsave64 " AT(BLOCK_VECTOR_STATE) "\n"
        "  jmp 2f\n"
        "1: fxsave64 " AT(BLOCK_VECTOR_STATE) "\n"
        "2: mov " AT(BLOCK_PATH) ", %rdi\n"
        "  mov " AT(BLOCK_FLAGS) ", %rsi\n"
        "  call *" AT(BLOCK_DLOPEN) "\n"
        "  mov %rax, " AT(BLOCK_HANDLE) "\n"
        "  test %rax, %rax\n"
        "  jz 3f\n"
        "  mov %rax, %rdi\n"
        "  mov " AT(BLOCK_SYMBOL) ", %rsi\n"
        "  call *" AT(BLOCK_DLSYM) "\n"
        "  mov %rax, " AT(BLOCK_FUNCTION) "\n"
        "  test %rax, %rax\n"
        "  jz 3f\n"
        "  mov " AT(BLOCK_ARGUMENT0) ", %rdi\n"
        "  mov " AT(BLOCK_ARGUMENT1) ", %rsi\n"
        "  mov " AT(BLOCK_ARGUMENT2) ", %rdx\n"
        "  call *%rax\n"
        "  mov %rax, " AT(BLOCK_RESULT) "\n"
        "  jmp 4f\n"
        "3: call *" AT(BLOCK_DLERROR) "\n"
        "  mov %rax, " AT(BLOCK_ERROR) "\n"
        "4: movq $1, " AT(BLOCK_DONE) "\n"
        /* The block is free stack once the thread returns, and its next calls would
         * overwrite the results: wait (1 ms naps, 0.5 s at most if leakwatch died) until
         * leakwatch has read them. */
        "  mov $" STRINGIFY(WAIT_FOR_READ_NAPS) ", %r12d\n"
        "7: cmpq $0, " AT(BLOCK_READ) "\n"
        "  jne 8f\n"
        /* poll(NULL, 0, 1), not nanosleep: nanosleep resets the thread's restart block,
         * which the restart_syscall it may return to needs. */
        "  xor %edi, %edi\n"
        "  xor %esi, %esi\n"
        "  mov $1, %edx\n"
        "  mov $7, %eax\n"
        "  syscall\n"
        "  dec %r12d\n"
        "  jnz 7b\n"
        "8: mov $-1, %eax\n"
        "  mov $-1, %edx\n"
        "  cmpq $0, " AT(BLOCK_USE_XSAVE) "\n"
        "  je 5f\n"
        "  xrstor64 " AT(BLOCK_VECTOR_STATE) "\n"
        "  jmp 6f\n"
        "5: fxrstor64 " AT(BLOCK_VECTOR_STATE) "\n"
        "6: lea " AT(BLOCK_REGISTERS) ", %rsp\n"
        "  pop %r15\n  pop %r14\n  pop %r13\n  pop %r12\n  pop %r11\n  pop %r10\n"
        "  pop %r9\n  pop %r8\n  pop %rbp\n  pop %rdi\n  pop %rsi\n  pop %rdx\n"
        "  pop %rcx\n  pop %rbx\n  pop %rax\n"
        "  popfq\n"
        "  pop %rsp\n"
        "  jmp *lw_inject_return_slot(%rip)\n"
        ".balign 8\n"
        "lw_inject_return_slot: .quad 0\n"
        "lw_inject_trampoline_end:\n"
        ".popsection\n");
extern const unsigned char lw_inject_trampoline_start[], lw_inject_trampoline_end[],
    lw_inject_return_slot[];

enum {
  RED_ZONE_BYTES = 128,
  MESSAGE_BYTES = 512,
  MIN_STACK_BELOW = 64 * 1024, /* promised to the entry points (interface) */
  STACK_SCAN_BYTES = 32 * 1024,
  ERESTARTSYS_ = 512, ERESTARTNOINTR_ = 513, ERESTARTNOHAND_ = 514,
  ERESTART_RESTARTBLOCK_ = 516,
  SYS_RESTART_SYSCALL = 219,
  SYS_FUTEX = 202,
};

static double now_ms(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)now.tv_sec * 1e3 + (double)now.tv_nsec / 1e6;
}

static void sleep_ms(int ms) {
  struct timespec pause_time = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&pause_time, &pause_time) != 0 && errno == EINTR) {
  }
}

void lw_inject_stage(const char *stage) {
  const char *pause_at = getenv("LEAKWATCH_ATTACH_PAUSE_AT");
  size_t len = strlen(stage);
  if (!pause_at || strncmp(pause_at, stage, len) != 0 ||
      (pause_at[len] != '\0' && pause_at[len] != ':'))
    return;
  fprintf(stderr, "stage %s\n", stage);
  fflush(stderr);
  if (pause_at[len] == ':') { /* "<stage>:<seconds>": wait, then go on */
    sleep_ms(atoi(pause_at + len + 1) * 1000);
    return;
  }
  for (;;)
    pause();
}

static ssize_t read_text(const char *path, char *buf, size_t size) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  ssize_t n = read(fd, buf, size - 1);
  int saved = errno;
  close(fd);
  errno = saved;
  buf[n > 0 ? n : 0] = '\0';
  return n;
}

/* The process's memory through /proc/<pid>/mem (writes reach read-only mappings: the
 * kernel copies a private page for this process). */
static bool memory_read(int mem_fd, uint64_t address, void *out, size_t size) {
  return pread(mem_fd, out, size, (off_t)address) == (ssize_t)size;
}
static bool memory_write(int mem_fd, uint64_t address, const void *data, size_t size) {
  return pwrite(mem_fd, data, size, (off_t)address) == (ssize_t)size;
}

/* System calls a thread blocks in at the outside of its loop, holding no lock of libc or
 * the loader: the thread is safe to borrow while in them. futex is not among them (a lock
 * wait may sit under the allocator); it is tried last, after a stack check. */
static bool is_outer_blocking_syscall(long number) {
  static const long outer[] = {
      0 /* read */, 1 /* write */, 7 /* poll */, 17 /* pread64 */, 19 /* readv */,
      20 /* writev */, 23 /* select */, 34 /* pause */, 35 /* nanosleep */, 42 /* connect */,
      43 /* accept */, 44 /* sendto */, 45 /* recvfrom */, 46 /* sendmsg */, 47 /* recvmsg */,
      61 /* wait4 */, 70 /* msgrcv */, 128 /* rt_sigtimedwait */, 130 /* rt_sigsuspend */,
      208 /* io_getevents */, 230 /* clock_nanosleep */, 232 /* epoll_wait */,
      247 /* waitid */, 270 /* pselect6 */, 271 /* ppoll */, 281 /* epoll_pwait */,
      288 /* accept4 */, 299 /* recvmmsg */, 441 /* epoll_pwait2 */};
  for (size_t i = 0; i < sizeof outer / sizeof *outer; i++)
    if (outer[i] == number)
      return true;
  return false;
}

static bool in_range(const lw_address_range_t *range, uint64_t address) {
  return address >= range->start && address < range->end;
}

static bool in_avoided_code(const lw_inject_target_t *target, uint64_t address) {
  for (size_t i = 0; i < target->n_avoid; i++)
    if (in_range(&target->avoid[i], address))
      return true;
  return false;
}

/* What /proc/<pid>/task/<tid>/syscall says about a thread without stopping it. */
typedef enum { THREAD_GONE, THREAD_RUNNING, THREAD_IN_SYSCALL, THREAD_BLOCKED_OTHER } thread_view_t;

static thread_view_t thread_view(int pid, int tid, long *number, uint64_t *sp, uint64_t *pc) {
  char path[96], text[512];
  snprintf(path, sizeof path, "/proc/%d/task/%d/syscall", pid, tid);
  if (read_text(path, text, sizeof text) <= 0)
    return THREAD_GONE;
  if (strncmp(text, "running", 7) == 0)
    return THREAD_RUNNING;
  /* "nr arg1 ... arg6 sp pc", or "-1 sp pc" when blocked outside a system call. */
  char *fields[9];
  int n = 0;
  for (char *save = NULL, *token = strtok_r(text, " \n", &save); token && n < 9;
       token = strtok_r(NULL, " \n", &save))
    fields[n++] = token;
  *number = n > 0 ? strtol(fields[0], NULL, 0) : -1;
  *pc = n > 1 ? strtoull(fields[n - 1], NULL, 0) : 0;
  *sp = n > 2 ? strtoull(fields[n - 2], NULL, 0) : 0;
  if (*number < 0 || n != 9)
    return THREAD_BLOCKED_OTHER;
  return THREAD_IN_SYSCALL;
}

static bool thread_named_leakwatch(int pid, int tid) {
  char path[96], name[64];
  snprintf(path, sizeof path, "/proc/%d/task/%d/comm", pid, tid);
  return read_text(path, name, sizeof name) > 0 && strncmp(name, "leakwatch", 9) == 0;
}

/* Signals pending for the thread that it neither blocks nor ignores: an EINTR it got is
 * then its own, to be kept. */
static bool has_deliverable_signal(int pid, int tid) {
  char path[96], text[4096];
  snprintf(path, sizeof path, "/proc/%d/task/%d/status", pid, tid);
  if (read_text(path, text, sizeof text) <= 0)
    return true;
  uint64_t pending = 0, blocked = 0, ignored = 0;
  for (char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
    if (strncmp(line, "SigPnd:", 7) == 0 || strncmp(line, "ShdPnd:", 7) == 0)
      pending |= strtoull(line + 7, NULL, 16);
    else if (strncmp(line, "SigBlk:", 7) == 0)
      blocked = strtoull(line + 7, NULL, 16);
    else if (strncmp(line, "SigIgn:", 7) == 0)
      ignored = strtoull(line + 7, NULL, 16);
  }
  return (pending & ~blocked & ~ignored) != 0;
}

/* The writable mapping that holds address: [start, end), and whether it is the main
 * stack (which grows down on demand). */
static bool stack_mapping(int pid, uint64_t address, uint64_t *start, uint64_t *end,
                          bool *main_stack) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/maps", pid);
  FILE *maps = fopen(path, "re");
  if (!maps)
    return false;
  char line[8192];
  bool found = false;
  unsigned long long previous_high = 0;
  char previous_perms[5] = "";
  while (!found && fgets(line, sizeof line, maps)) {
    unsigned long long low, high;
    char perms[5];
    int consumed = 0;
    if (sscanf(line, "%llx-%llx %4s %*s %*s %*s%n", &low, &high, perms, &consumed) < 3)
      continue;
    if (address < low || address >= high) {
      previous_high = high;
      memcpy(previous_perms, perms, sizeof perms);
      continue;
    }
    const char *name = line + consumed;
    while (*name == ' ')
      name++;
    *main_stack = strncmp(name, "[stack]", 7) == 0;
    /* The main stack, or a thread stack as pthread makes it: anonymous, read-write, with
     * its guard page (---p) right below. Anything else under the stack pointer (a
     * coroutine's or a goroutine's stack inside a heap mapping) is not somewhere to write
     * 64 KiB below. */
    bool anonymous = name[0] == '\n' || name[0] == '\0';
    bool guarded = previous_high == low && strncmp(previous_perms, "---", 3) == 0;
    found = perms[0] == 'r' && perms[1] == 'w' && (*main_stack || (anonymous && guarded));
    *start = low;
    *end = high;
  }
  fclose(maps);
  return found;
}

/* No return address into the loader or the allocator near the top of the thread's stack:
 * it is not somewhere below them (a conservative scan: stale words count too). */
static bool stack_is_clear(const lw_inject_target_t *target, int mem_fd, uint64_t sp,
                           uint64_t stack_end) {
  static uint64_t words[STACK_SCAN_BYTES / 8];
  uint64_t bytes = stack_end - sp < STACK_SCAN_BYTES ? stack_end - sp : STACK_SCAN_BYTES;
  bytes &= ~(uint64_t)7;
  if (!memory_read(mem_fd, sp, words, bytes))
    return false;
  for (uint64_t i = 0; i < bytes / 8; i++)
    if (in_avoided_code(target, words[i]))
      return false;
  return true;
}

static int vector_state_bytes(bool *use_xsave) {
  unsigned eax, ebx, ecx, edx;
  *use_xsave = __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & (1u << 27)); /* OSXSAVE */
  if (*use_xsave && __get_cpuid_count(0xd, 0, &eax, &ebx, &ecx, &edx) && ebx >= 576)
    return (int)((ebx + 63) & ~63u);
  *use_xsave = false;
  return 512;
}

/* Beside the trampoline's code, in the same page (written by leakwatch only): which
 * thread a run was handed to and when, so that a later leakwatch does not rewrite the
 * return slot while that thread may still run the code (a killed leakwatch's thread naps
 * up to 0.5 s in it), and which it clears when the thread is seen out. */
typedef struct {
  uint64_t magic;
  uint64_t tid;
  uint64_t released_ns; /* CLOCK_MONOTONIC (one clock for all processes) */
  uint64_t read_ns;     /* when leakwatch read the results: the thread leaves right after */
} lease_t;
#define LEASE_MAGIC 0x657361656c2d776cull /* "lw-lease" */

typedef struct {
  uint64_t address;         /* where the trampoline went */
  size_t code_size;
  uint64_t lease_address;
  size_t size;              /* code and lease */
  unsigned char saved[512]; /* what was there */
} placed_code_t;

static uint64_t monotonic_ns(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

/* True when a word of the thread's stack near sp points into [low, high). */
static bool stack_points_into(int pid, int mem_fd, uint64_t sp, uint64_t low, uint64_t high) {
  uint64_t stack_low, stack_end;
  bool main_stack;
  if (!stack_mapping(pid, sp, &stack_low, &stack_end, &main_stack))
    return false;
  static uint64_t words[STACK_SCAN_BYTES / 8];
  uint64_t bytes = stack_end - sp < STACK_SCAN_BYTES ? stack_end - sp : STACK_SCAN_BYTES;
  bytes &= ~(uint64_t)7;
  if (!memory_read(mem_fd, sp, words, bytes))
    return true; /* cannot tell: assume the worst */
  for (uint64_t i = 0; i < bytes / 8; i++)
    if (words[i] >= low && words[i] < high)
      return true;
  return false;
}

/* Waits (3 s at most) until the thread an earlier run was handed to is out of the code. */
static int wait_for_earlier_run(int pid, int mem_fd, const placed_code_t *code, char *error,
                                size_t error_size) {
  double start = now_ms();
  for (;;) {
    lease_t lease;
    if (!memory_read(mem_fd, code->lease_address, &lease, sizeof lease) ||
        lease.magic != LEASE_MAGIC)
      return 0;
    if (lease.read_ns && monotonic_ns() - lease.read_ns > 100 * 1000000ull)
      return 0;
    long number;
    uint64_t sp = 0, pc = 0;
    thread_view_t view = thread_view(pid, (int)lease.tid, &number, &sp, &pc);
    if (view == THREAD_GONE)
      return 0;
    if (view != THREAD_RUNNING && (pc < code->address || pc >= code->address + code->size) &&
        !stack_points_into(pid, mem_fd, sp, code->address, code->address + code->size))
      return 0;
    if (now_ms() - start > 3000) {
      snprintf(error, error_size,
               "pid %d: an earlier attach or detach is still finishing in it (thread %d); "
               "try again", pid, (int)lease.tid);
      return -1;
    }
    sleep_ms(10);
  }
}

/* Writes the trampoline into the first slack that is free (zeros) or holds a trampoline an
 * earlier leakwatch left, once no thread runs that one any more. */
static int place_code(const lw_inject_target_t *target, int mem_fd, placed_code_t *code,
                      char *error, size_t error_size) {
  size_t code_size = (size_t)(lw_inject_trampoline_end - lw_inject_trampoline_start);
  size_t lease_offset = (code_size + 7) & ~(size_t)7;
  size_t size = lease_offset + sizeof(lease_t);
  size_t slot = (size_t)(lw_inject_return_slot - lw_inject_trampoline_start);
  for (size_t i = 0; i < target->n_slack; i++) {
    if (target->slack[i].size < size || size > sizeof code->saved)
      continue;
    if (!memory_read(mem_fd, target->slack[i].start, code->saved, size))
      continue;
    bool zeros = true;
    for (size_t j = 0; j < size && zeros; j++)
      zeros = code->saved[j] == 0;
    bool ours = memcmp(code->saved, lw_inject_trampoline_start, slot) == 0;
    if (!zeros && !ours)
      continue;
    code->address = target->slack[i].start;
    code->code_size = code_size;
    code->lease_address = code->address + lease_offset;
    code->size = size;
    if (ours && wait_for_earlier_run(target->pid, mem_fd, code, error, error_size) < 0) {
      code->size = 0; /* nothing of ours to put back: the earlier run's code stays */
      return -1;
    }
    if (!memory_write(mem_fd, code->address, lw_inject_trampoline_start, code_size)) {
      snprintf(error, error_size, "cannot write into pid %d's memory: %s", target->pid,
               strerror(errno));
      return -1;
    }
    memset(code->saved, 0, size); /* what is put back: the page's zeros, never a leftover */
    return 0;
  }
  snprintf(error, error_size,
           "pid %d: no room at the end of its C library's or program's code pages for the "
           "call", target->pid);
  return -1;
}

static void restore_code(int mem_fd, const placed_code_t *code) {
  memory_write(mem_fd, code->address, code->saved, code->size);
}

/* Stops tid (seized, then interrupted). Returns 1 when stopped by our interrupt, 0 when
 * the thread is gone or a signal came first (it is let go with it), -1 with error on a
 * permission problem. */
static int stop_thread(int pid, int tid, char *error, size_t error_size) {
  if (ptrace(PTRACE_SEIZE, tid, 0, 0) != 0) {
    int seize_error = errno;
    if (seize_error == ESRCH)
      return 0;
    char path[96], status[4096];
    snprintf(path, sizeof path, "/proc/%d/task/%d/status", pid, tid);
    const char *tracer =
        read_text(path, status, sizeof status) > 0 ? strstr(status, "TracerPid:") : NULL;
    if (seize_error == EPERM && tracer && atoi(tracer + 10) != 0)
      return 0; /* another tool (leakwatch stack) has this thread for a moment: try another */
    errno = seize_error;
    if (errno == EPERM || errno == EACCES)
      lw_inject_explain_permission(pid, error, error_size);
    else
      snprintf(error, error_size, "cannot trace thread %d of pid %d: %s", tid, pid,
               strerror(errno));
    return -1;
  }
  if (ptrace(PTRACE_INTERRUPT, tid, 0, 0) != 0) {
    ptrace(PTRACE_DETACH, tid, 0, 0);
    return 0;
  }
  for (;;) {
    int status;
    pid_t waited = waitpid(tid, &status, __WALL);
    if (waited < 0 && errno == EINTR)
      continue;
    if (waited < 0 || !WIFSTOPPED(status))
      return 0; /* exited */
    if ((status >> 16) == PTRACE_EVENT_STOP && WSTOPSIG(status) == SIGTRAP)
      return 1;
    /* A signal for the thread, or a group stop (SIGSTOP to the process): let it be. */
    int signal_number = (status >> 16) == 0 ? WSTOPSIG(status) : 0;
    ptrace(PTRACE_DETACH, tid, 0, (void *)(long)signal_number);
    return 0;
  }
}

typedef enum { VERDICT_USE, VERDICT_SKIP, VERDICT_GONE } verdict_t;

/* Decides from a stopped thread's registers whether it may make the call, and sets its
 * registers to re-issue a system call the interrupt cut short (so that, if leakwatch dies
 * now, the thread just blocks again). *resume gets the registers the thread must go back
 * to. */
static verdict_t judge_stopped(const lw_inject_target_t *target, int mem_fd, int tid,
                               bool allow_futex, struct user_regs_struct *resume,
                               uint64_t *stack_low, bool *main_stack) {
  struct user_regs_struct regs;
  if (ptrace(PTRACE_GETREGS, tid, 0, &regs) != 0)
    return VERDICT_GONE;
  *resume = regs;
  long error = -(long)regs.rax;
  bool in_syscall = (long)regs.orig_rax >= 0 &&
                    (error == EINTR || error == ERESTARTSYS_ || error == ERESTARTNOINTR_ ||
                     error == ERESTARTNOHAND_ || error == ERESTART_RESTARTBLOCK_);
  if (in_syscall) {
    bool restart = error != EINTR || !has_deliverable_signal(target->pid, tid);
    if (restart) {
      resume->rip -= 2; /* the 2-byte syscall instruction */
      resume->rax = error == ERESTART_RESTARTBLOCK_ ? SYS_RESTART_SYSCALL : regs.orig_rax;
    }
    resume->orig_rax = (unsigned long long)-1; /* no restart by the kernel on top */
    if (ptrace(PTRACE_SETREGS, tid, 0, resume) != 0)
      return VERDICT_GONE;
  }
  long number = in_syscall ? (long)regs.orig_rax : -1;
  bool safe_place = in_syscall ? (is_outer_blocking_syscall(number) ||
                                  (allow_futex && number == SYS_FUTEX)) &&
                                     !in_avoided_code(target, regs.rip)
                               : !in_range(&target->libc_code, regs.rip) &&
                                     !in_avoided_code(target, regs.rip);
  uint64_t stack_end;
  if (!safe_place || !stack_mapping(target->pid, regs.rsp, stack_low, &stack_end, main_stack))
    return VERDICT_SKIP;
  return stack_is_clear(target, mem_fd, regs.rsp, stack_end) ? VERDICT_USE : VERDICT_SKIP;
}

/* Threads in the order they are tried: blocked in an outer system call first, then
 * running, then sleeping, then (second round) waiting on a futex. */
static int candidate_threads(int pid, bool allow_futex, int *tids, int max) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/task", pid);
  DIR *dir = opendir(path);
  if (!dir)
    return -1;
  int blocked[256], running[256], sleeping[256], futex[256];
  int n_blocked = 0, n_running = 0, n_sleeping = 0, n_futex = 0;
  /* Tests only: LEAKWATCH_ATTACH_THREAD=<tid> borrows that thread and no other, so a test
   * can make a computing thread or one in a given system call do the call. */
  const char *only = getenv("LEAKWATCH_ATTACH_THREAD");
  struct dirent *entry;
  while ((entry = readdir(dir)) != NULL) {
    int tid = atoi(entry->d_name);
    if (tid <= 0 || thread_named_leakwatch(pid, tid) || (only && atoi(only) != tid))
      continue;
    long number = -1;
    uint64_t sp = 0, pc = 0;
    thread_view_t view = thread_view(pid, tid, &number, &sp, &pc);
    /* A sleep is re-issued with restart_syscall, which anything that resets the thread's
     * restart block before it returns (a nanosleep in dlopen, a signal) turns into EINTR:
     * sleepers come after running threads. */
    if (view == THREAD_IN_SYSCALL && (number == 35 || number == 230) && n_sleeping < 256)
      sleeping[n_sleeping++] = tid;
    else if (view == THREAD_IN_SYSCALL && is_outer_blocking_syscall(number) && n_blocked < 256)
      blocked[n_blocked++] = tid;
    else if (view == THREAD_RUNNING && n_running < 256)
      running[n_running++] = tid;
    else if (view == THREAD_IN_SYSCALL && number == SYS_FUTEX && allow_futex && n_futex < 256)
      futex[n_futex++] = tid;
  }
  closedir(dir);
  int n = 0;
  for (int i = 0; i < n_blocked && n < max; i++)
    tids[n++] = blocked[i];
  for (int i = 0; i < n_running && n < max; i++)
    tids[n++] = running[i];
  for (int i = 0; i < n_sleeping && n < max; i++)
    tids[n++] = sleeping[i];
  for (int i = 0; i < n_futex && n < max; i++)
    tids[n++] = futex[i];
  return n;
}

static bool process_alive(int pid) {
  char path[64], status[512];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  if (read_text(path, status, sizeof status) <= 0)
    return false;
  const char *close_paren = strrchr(status, ')');
  return close_paren && close_paren[1] == ' ' && close_paren[2] != 'Z' &&
         close_paren[2] != 'X';
}

static bool process_stopped(int pid) {
  char path[64], status[512];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  if (read_text(path, status, sizeof status) <= 0)
    return false;
  const char *close_paren = strrchr(status, ')');
  return close_paren && close_paren[1] == ' ' && close_paren[2] == 'T';
}

/* The block as the process will see it at `base`. */
typedef struct {
  unsigned char *bytes;
  size_t size;
  uint64_t path_address, symbol_address, options_address, message_address;
} block_t;

static int build_block(block_t *block, uint64_t base, const lw_inject_target_t *target,
                       const lw_inject_request_t *request, int vector_bytes, bool use_xsave,
                       const struct user_regs_struct *resume) {
  size_t path_size = strlen(request->library) + 1, symbol_size = strlen(request->symbol) + 1;
  size_t options_size = request->options ? request->options_size : 0;
  size_t strings = BLOCK_VECTOR_STATE + (size_t)vector_bytes;
  block->size = (strings + path_size + symbol_size + options_size + MESSAGE_BYTES + 63) & ~(size_t)63;
  block->bytes = calloc(1, block->size);
  if (!block->bytes)
    return -1;
  block->path_address = base + strings;
  block->symbol_address = block->path_address + path_size;
  block->options_address = block->symbol_address + symbol_size;
  block->message_address = block->options_address + options_size;
  memcpy(block->bytes + strings, request->library, path_size);
  memcpy(block->bytes + strings + path_size, request->symbol, symbol_size);
  if (options_size)
    memcpy(block->bytes + strings + path_size + symbol_size, request->options, options_size);
  uint64_t *words = (uint64_t *)block->bytes;
  words[BLOCK_DLOPEN / 8] = target->dlopen_address;
  words[BLOCK_DLSYM / 8] = target->dlsym_address;
  words[BLOCK_DLERROR / 8] = target->dlerror_address;
  words[BLOCK_PATH / 8] = block->path_address;
  words[BLOCK_FLAGS / 8] = (uint64_t)request->dlopen_flags;
  words[BLOCK_SYMBOL / 8] = block->symbol_address;
  if (request->options) {
    words[BLOCK_ARGUMENT0 / 8] = block->options_address;
    words[BLOCK_ARGUMENT1 / 8] = block->message_address;
    words[BLOCK_ARGUMENT2 / 8] = MESSAGE_BYTES;
  } else {
    words[BLOCK_ARGUMENT0 / 8] = block->message_address;
    words[BLOCK_ARGUMENT1 / 8] = MESSAGE_BYTES;
  }
  words[BLOCK_USE_XSAVE / 8] = use_xsave;
  const unsigned long long saved[] = {
      resume->r15, resume->r14, resume->r13, resume->r12, resume->r11, resume->r10,
      resume->r9,  resume->r8,  resume->rbp, resume->rdi, resume->rsi, resume->rdx,
      resume->rcx, resume->rbx, resume->rax, resume->eflags, resume->rsp};
  for (size_t i = 0; i < sizeof saved / sizeof *saved; i++)
    words[BLOCK_REGISTERS / 8 + i] = saved[i];
  return 0;
}

/* Reads a NUL-terminated string of the process into out ("" if unreadable). */
static void read_string(int mem_fd, uint64_t address, char *out, size_t size) {
  out[0] = '\0';
  if (!address)
    return;
  ssize_t n = pread(mem_fd, out, size - 1, (off_t)address);
  out[n > 0 ? n : 0] = '\0';
  out[strcspn(out, "\n")] = '\0';
}

/* Puts the code page's bytes back once the thread is seen blocked outside the trampoline
 * (or gone); a thread that keeps running is not stopped again for it: the bytes past a
 * segment's end are then left (nothing ever jumps there). */
static void restore_when_left(int pid, int tid, int mem_fd, const placed_code_t *code) {
  for (int i = 0; i < 25; i++) {
    long number;
    uint64_t sp = 0, pc = 0;
    thread_view_t view = thread_view(pid, tid, &number, &sp, &pc);
    if (view == THREAD_GONE ||
        ((view == THREAD_IN_SYSCALL || view == THREAD_BLOCKED_OTHER) &&
         (pc < code->address || pc >= code->address + code->size))) {
      restore_code(mem_fd, code); /* the lease too: the place is free */
      return;
    }
    sleep_ms(2);
  }
}

/* One try at tid: 1 the call ran, 0 skip this thread, -1 stop with error. */
static int call_on_thread(const lw_inject_target_t *target, const lw_inject_request_t *request,
                          int mem_fd, int tid, bool allow_futex, const placed_code_t *code,
                          lw_inject_result_t *result, char *error, size_t error_size) {
  int stopped = stop_thread(target->pid, tid, error, error_size);
  if (stopped <= 0)
    return stopped;
  double stop_start = now_ms(); /* the thread stands still from about here */
  struct user_regs_struct resume;
  uint64_t stack_low;
  bool main_stack;
  verdict_t verdict = judge_stopped(target, mem_fd, tid, allow_futex, &resume, &stack_low,
                                    &main_stack);
  if (getenv("LEAKWATCH_ATTACH_DEBUG"))
    fprintf(stderr, "debug: tid %d verdict %d rip %#llx rax %lld orig_rax %lld\n", tid,
            (int)verdict, resume.rip, (long long)resume.rax, (long long)resume.orig_rax);
  if (verdict != VERDICT_USE) {
    ptrace(PTRACE_DETACH, tid, 0, 0);
    return 0;
  }
  lw_inject_stage("stopped");
  bool use_xsave;
  int vector_bytes = vector_state_bytes(&use_xsave);
  /* Size the block first, then place it under the red zone, 64-aligned. */
  block_t block;
  if (build_block(&block, 0, target, request, vector_bytes, use_xsave, &resume) < 0) {
    ptrace(PTRACE_DETACH, tid, 0, 0);
    snprintf(error, error_size, "out of memory");
    return -1;
  }
  uint64_t base = (resume.rsp - RED_ZONE_BYTES - block.size - 256) & ~(uint64_t)63;
  free(block.bytes);
  if (!main_stack && (base < stack_low || base - stack_low < MIN_STACK_BELOW + 4096)) {
    ptrace(PTRACE_DETACH, tid, 0, 0);
    return 0; /* too little stack left below */
  }
  if (build_block(&block, base, target, request, vector_bytes, use_xsave, &resume) < 0) {
    ptrace(PTRACE_DETACH, tid, 0, 0);
    snprintf(error, error_size, "out of memory");
    return -1;
  }
  uint64_t return_address = resume.rip;
  size_t slot = (size_t)(lw_inject_return_slot - lw_inject_trampoline_start);
  lease_t lease = {LEASE_MAGIC, (uint64_t)tid, monotonic_ns(), 0};
  bool written = memory_write(mem_fd, base, block.bytes, block.size) &&
                 memory_write(mem_fd, code->address + slot, &return_address, 8) &&
                 memory_write(mem_fd, code->lease_address, &lease, sizeof lease);
  free(block.bytes);
  struct user_regs_struct redirected = resume;
  redirected.rip = code->address;
  redirected.rsp = base;
  redirected.orig_rax = (unsigned long long)-1;
  if (!written || ptrace(PTRACE_SETREGS, tid, 0, &redirected) != 0) {
    int saved = errno;
    ptrace(PTRACE_DETACH, tid, 0, 0);
    if (!process_alive(target->pid)) {
      snprintf(error, error_size, "pid %d exited during the attach", target->pid);
      return -1;
    }
    snprintf(error, error_size, "cannot set up the call in pid %d: %s", target->pid,
             strerror(saved));
    return -1;
  }
  lw_inject_stage("redirected");
  ptrace(PTRACE_DETACH, tid, 0, 0);
  double released = now_ms();
  result->tid = tid;
  result->stopped_ms = released - stop_start;
  lw_inject_stage("running");
  uint64_t words[BLOCK_DONE / 8 + 1];
  for (;;) {
    if (!memory_read(mem_fd, base, words, sizeof words) || !process_alive(target->pid)) {
      snprintf(error, error_size, "pid %d exited during the attach", target->pid);
      return -1;
    }
    if (words[BLOCK_DONE / 8])
      break;
    if (process_stopped(target->pid)) {
      snprintf(error, error_size,
               "pid %d was stopped (SIGSTOP or a terminal) during the attach; the call "
               "completes when it is resumed (kill -CONT %d)", target->pid, target->pid);
      return -1;
    }
    if (now_ms() - released > request->timeout_ms) {
      snprintf(error, error_size,
               "the call in pid %d (thread %d) has not returned after %d s; the thread "
               "resumes by itself when it does", target->pid, tid, request->timeout_ms / 1000);
      return -1;
    }
    nanosleep(&(struct timespec){0, 200 * 1000}, NULL);
  }
  result->call_ms = now_ms() - released;
  if (getenv("LEAKWATCH_ATTACH_DEBUG"))
    fprintf(stderr, "debug: tid %d base %#llx handle %#llx function %#llx result %lld error %#llx\n",
            tid, (unsigned long long)base, (unsigned long long)words[BLOCK_HANDLE / 8],
            (unsigned long long)words[BLOCK_FUNCTION / 8], (long long)words[BLOCK_RESULT / 8],
            (unsigned long long)words[BLOCK_ERROR / 8]);
  result->loaded = words[BLOCK_HANDLE / 8] != 0;
  result->found = words[BLOCK_FUNCTION / 8] != 0;
  result->status = (int)words[BLOCK_RESULT / 8];
  if (result->found)
    read_string(mem_fd, block.message_address, result->message, sizeof result->message);
  else
    read_string(mem_fd, words[BLOCK_ERROR / 8], result->message, sizeof result->message);
  uint64_t read_flag = 1;
  memory_write(mem_fd, base + BLOCK_READ, &read_flag, sizeof read_flag);
  lease.read_ns = monotonic_ns();
  memory_write(mem_fd, code->lease_address, &lease, sizeof lease);
  lw_inject_stage("returned");
  restore_when_left(target->pid, tid, mem_fd, code);
  return 1;
}

int lw_inject_call(const lw_inject_target_t *target, const lw_inject_request_t *request,
                   lw_inject_result_t *result, char *error, size_t error_size) {
  memset(result, 0, sizeof *result);
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/mem", target->pid);
  int mem_fd = open(path, O_RDWR | O_CLOEXEC);
  if (mem_fd < 0) {
    if (errno == EACCES || errno == EPERM)
      lw_inject_explain_permission(target->pid, error, error_size);
    else
      snprintf(error, error_size, "cannot open %s: %s", path, strerror(errno));
    return -1;
  }
  /* One leakwatch at a time per process: they would share the return slot. The lock is on
   * the process's mem file (one inode while open), so it dies with its holder. */
  double lock_start = now_ms();
  while (flock(mem_fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK && errno != EINTR)
      break; /* no locking here: go on without */
    if (now_ms() - lock_start > 10000) {
      snprintf(error, error_size,
               "pid %d: another leakwatch attach or detach has been running on it for 10 s",
               target->pid);
      close(mem_fd);
      return -1;
    }
    sleep_ms(20);
  }
  placed_code_t code = {0};
  int rc = place_code(target, mem_fd, &code, error, error_size);
  if (rc == 0)
    lw_inject_stage("written");
  /* A thread in the trampoline (an earlier run's) is never borrowed for this one. */
  static lw_inject_target_t local;
  local = *target;
  if (rc == 0 && local.n_avoid < LW_INJECT_MAX_AVOID)
    local.avoid[local.n_avoid++] = (lw_address_range_t){code.address, code.address + code.size};
  target = &local;
  /* About two seconds: a thread that is briefly inside malloc is out of it a moment
   * later. Futex waiters are tried only in the second half. */
  double start = now_ms();
  int attempt = 0;
  while (rc == 0) {
    bool allow_futex = now_ms() - start > 1000;
    int tids[512];
    int n = candidate_threads(target->pid, allow_futex, tids, 512);
    if (n < 0 || !process_alive(target->pid)) {
      snprintf(error, error_size, "pid %d exited during the attach", target->pid);
      rc = -1;
      break;
    }
    for (int i = 0; i < n && rc == 0; i++) {
      int outcome = call_on_thread(target, request, mem_fd, tids[i], allow_futex, &code,
                                   result, error, error_size);
      if (outcome < 0)
        rc = -1;
      else if (outcome > 0)
        goto out;
    }
    if (rc == 0 && now_ms() - start > 2000) {
      snprintf(error, error_size,
               "pid %d: none of its threads could be borrowed safely in 2 s (each was inside "
               "the allocator or the dynamic loader, or waiting on a lock); try again",
               target->pid);
      rc = -1;
    }
    if (rc == 0)
      sleep_ms(++attempt < 10 ? 10 : 50);
  }
  if (rc < 0 && result->tid == 0 && code.size > 0)
    restore_code(mem_fd, &code); /* no thread was sent there */
out:
  close(mem_fd);
  return rc;
}
