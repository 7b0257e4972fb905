/*
 * thread_stack.h - every thread's current stack in a live process, with or without the
 * agent (`leakwatch stack PID`). The program must not notice: each thread is stopped on its
 * own, for microseconds, only long enough to copy its registers and the top of its stack;
 * unwinding and symbolizing happen afterwards from the copy, while it runs on.
 *
 *   thread_stack_capture.c   finds the threads and stops, copies and resumes each one
 *                            (ptrace SEIZE + INTERRUPT, never SIGSTOP; see there for EINTR)
 *   thread_stack_unwind.c    unwinds the copies with libdwfl (our own thread callbacks) and
 *                            symbolizes the frames through symbolize.c
 *   thread_stack_refusal.c   why a process cannot be read, in one line
 *   thread_stack_syscalls.c  x86-64 system call numbers to names
 *   cmd_stack.c              groups identical stacks and prints them (text or JSON)
 *
 * x86-64 only, as the agent: the registers are the x86-64 user_regs_struct.
 */
#ifndef LW_CLI_THREAD_STACK_H
#define LW_CLI_THREAD_STACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* DWARF register numbers on x86-64 (System V psABI figure 3.36): rax rdx rcx rbx rsi rdi rbp
 * rsp r8..r15, then the return address column (rip). */
enum { LW_DWARF_RSP = 7, LW_DWARF_RIP = 16, LW_DWARF_REGISTERS = 17 };

typedef struct lw_stack_frame {
  const char *function; /* demangled; NULL when nothing names the address */
  const char *file;     /* NULL when there is no line information */
  int64_t line;
  bool inlined;         /* inlined into the frame that follows it */
  const char *module;   /* the mapped file's base name; NULL outside any file */
  bool main_program;    /* the module is the process's executable */
  uint64_t address;     /* the pc; for callers the return address - 1 */
} lw_stack_frame_t;

typedef enum lw_thread_capture {
  LW_CAPTURE_NONE,      /* not read: it exited meanwhile, or it could not be (problem says) */
  LW_CAPTURE_STOPPED,   /* stopped briefly, all registers read */
  LW_CAPTURE_UNSTOPPED, /* blocked in a call a stop could cut short: read without stopping,
                         * from /proc/PID/task/TID/syscall (sp and pc only) */
} lw_thread_capture_t;

typedef struct lw_thread_stack {
  int tid;
  char name[64];    /* comm */
  char state;       /* from /proc/PID/task/TID/stat: R S D T t Z X I */
  long syscall;     /* the system call it waits in, -1 when it is not in one */
  lw_thread_capture_t capture;
  char problem[160]; /* why it was not read, or why its stack ends early; "" when fine */
  uint64_t stop_ns;  /* from the interrupt to the resume: an upper bound on its pause */
  uint64_t held_ns;  /* from seeing it stopped to the resume: a lower bound */
  bool seized;       /* still ours: it never reached its stop (thread_stack_capture.c) */
  bool restarted;    /* its interrupted system call was made to run again (no EINTR) */
  int passed_signal; /* a signal that arrived while it was seized, passed on at detach */
  uint64_t registers[LW_DWARF_REGISTERS];
  bool all_registers; /* false: only rsp and rip are known */
  uint64_t stack_address; /* copy of [stack_address, stack_address + stack_len) */
  uint8_t *stack;
  size_t stack_len;
  uint64_t *pcs; /* after unwinding: innermost first, callers already minus 1 */
  size_t n_pcs;
  lw_stack_frame_t *frames; /* after symbolizing: inlined frames expanded */
  size_t n_frames;
} lw_thread_stack_t;

typedef struct lw_thread_stacks {
  int pid;
  int memory_pid; /* whose /proc and memory to read: pid, or a live thread's id when the
                   * main thread has exited (pthread_exit) and left a zombie behind */
  lw_thread_stack_t *threads;
  size_t n_threads;
  size_t n_stopped, n_unstopped, n_restarted, n_signals_passed;
  uint64_t max_stop_ns, total_stop_ns, max_held_ns, total_held_ns;
  uint64_t capture_ns, unwind_ns; /* wall time of each phase */
  void *symbols; /* owns the strings frames point to (an lw_profile_t) */
} lw_thread_stacks_t;

/* Stops, copies and resumes every thread of `pid` one after the other. Returns 0, or -1 with
 * a one-line reason in `error` (no such process, not permitted and why, exited meanwhile).
 * Threads that exit during the capture are left out; a thread that cannot be read is kept
 * with its problem. */
int lw_thread_stacks_capture(int pid, lw_thread_stacks_t *out, char *error, size_t error_size);

/* Unwinds every captured thread and names its frames (file:line, inlined frames, demangled
 * C++). Returns 0, or -1 with a reason in `error` (out of memory, libdwfl failed). */
int lw_thread_stacks_unwind(lw_thread_stacks_t *stacks, char *error, size_t error_size);

void lw_thread_stacks_free(lw_thread_stacks_t *stacks);
/* Detaches a thread that reached its stop only after its deadline, if it has by now. */
void lw_thread_release_late(lw_thread_stack_t *thread);

/* Shared by the thread_stack files. */
/* Reads a small /proc file whole and NUL-terminates it: its length, or -1 with errno. */
ssize_t lw_thread_stack_read_proc(const char *path, char *buf, size_t size);
/* The value after "Name:" in /proc/.../status text, or NULL. */
const char *lw_thread_stack_status_field(const char *status, const char *name);
/* False, with the reason in `error`, for a program that is not x86-64 (a 32-bit one). */
bool lw_thread_stack_x86_64(int pid, char *error, size_t error_size);
/* Why PTRACE_SEIZE failed with `error_number` on the first thread, in one line. */
void lw_thread_stack_explain_refusal(int pid, int error_number, char *error, size_t size);

/* "epoll_wait" for 232; NULL for a number this table does not know. */
const char *lw_syscall_name(long number);

#endif
