/*
 * thread_stack_unwind.c - turns the registers and stack copies thread_stack_capture.c took
 * into named frames, after every thread runs again. Pairs with thread_stack.h.
 *
 * Unwinding is libdwfl's (CFI from .eh_frame/.debug_frame, signal frames, the vDSO): the
 * modules come from dwfl_linux_proc_report, the thread state from our own callbacks given to
 * dwfl_attach_state - registers as captured, memory from the stack copy, and only past the
 * copy's end from the live process (process_vm_readv), where the outer callers' frames
 * rarely change. Naming is symbolize.c's, the same as for heap profiles: the unwound
 * addresses become locations of an in-memory profile whose mappings are the process's
 * modules, so file:line, inlined frames, split debug info and C++ demangling behave alike
 * in every command.
 */
#define _GNU_SOURCE
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "cli/symbolize.h"
#include "cli/thread_stack.h"
#include "common/alloc.h"
#include "common/profile.h"

/* Deeper stacks are cut (a runaway recursion would otherwise print thousands of frames). */
#define MAX_FRAMES 256

typedef struct unwinder {
  lw_thread_stacks_t *stacks;
  lw_thread_stack_t *current; /* the thread being unwound: memory_read has no thread argument */
  size_t next;                /* next_thread's position */
} unwinder_t;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- libdwfl's thread callbacks ------------------------------------------------------------ */

static pid_t next_thread(Dwfl *dwfl, void *arg, void **thread_arg) {
  (void)dwfl;
  unwinder_t *u = arg;
  while (u->next < u->stacks->n_threads) {
    lw_thread_stack_t *t = &u->stacks->threads[u->next++];
    if (t->capture != LW_CAPTURE_NONE) {
      *thread_arg = t;
      return t->tid;
    }
  }
  return 0;
}

static bool get_thread(Dwfl *dwfl, pid_t tid, void *arg, void **thread_arg) {
  (void)dwfl;
  unwinder_t *u = arg;
  for (size_t i = 0; i < u->stacks->n_threads; i++) {
    lw_thread_stack_t *t = &u->stacks->threads[i];
    if (t->tid == tid && t->capture != LW_CAPTURE_NONE) {
      *thread_arg = t;
      return true;
    }
  }
  return false;
}

static bool memory_read(Dwfl *dwfl, Dwarf_Addr address, Dwarf_Word *result, void *arg) {
  (void)dwfl;
  unwinder_t *u = arg;
  const lw_thread_stack_t *t = u->current;
  if (t && address >= t->stack_address && t->stack_len >= sizeof *result &&
      address - t->stack_address <= t->stack_len - sizeof *result) {
    memcpy(result, t->stack + (address - t->stack_address), sizeof *result);
    return true;
  }
  struct iovec local = {result, sizeof *result};
  struct iovec remote = {(void *)(uintptr_t)address, sizeof *result};
  return process_vm_readv(u->stacks->memory_pid, &local, 1, &remote, 1, 0) == sizeof *result;
}

static bool set_initial_registers(Dwfl_Thread *thread, void *arg) {
  const lw_thread_stack_t *t = arg;
  Dwarf_Word registers[LW_DWARF_REGISTERS];
  for (int i = 0; i < LW_DWARF_REGISTERS; i++)
    registers[i] = t->registers[i];
  if (t->all_registers)
    return dwfl_thread_state_registers(thread, 0, LW_DWARF_REGISTERS, registers);
  /* Read without stopping: only sp and pc are known; the callee-saved registers stay
   * undefined, which ends the unwind early only where a frame's CFA needs one of them. */
  return dwfl_thread_state_registers(thread, LW_DWARF_RSP, 1, &registers[LW_DWARF_RSP]) &&
         dwfl_thread_state_registers(thread, LW_DWARF_RIP, 1, &registers[LW_DWARF_RIP]);
}

static const Dwfl_Thread_Callbacks thread_callbacks = {
    .next_thread = next_thread,
    .get_thread = get_thread,
    .memory_read = memory_read,
    .set_initial_registers = set_initial_registers,
};

static int on_frame(Dwfl_Frame *frame, void *arg) {
  lw_thread_stack_t *t = arg;
  Dwarf_Addr pc;
  bool activation = false;
  if (!dwfl_frame_pc(frame, &pc, &activation))
    return DWARF_CB_ABORT;
  /* A caller's pc is a return address: the call is the instruction before it. */
  t->pcs[t->n_pcs++] = activation ? pc : pc - 1;
  return t->n_pcs < MAX_FRAMES ? DWARF_CB_OK : DWARF_CB_ABORT;
}

/* ---- from addresses to named frames ----------------------------------------------------------- */

typedef struct module_range {
  uint64_t low, high;
  uint64_t mapping_id;
  Dwfl_Module *module;
} module_range_t;

typedef struct namer {
  lw_profile_t *profile;
  module_range_t *ranges;
  size_t n_ranges, cap_ranges;
  char executable[PATH_MAX];
  uint64_t *addresses; /* open addressing: address -> location id */
  uint64_t *location_ids;
  size_t cap_addresses;
  bool failed;
} namer_t;

static int add_module(Dwfl_Module *module, void **userdata, const char *name, Dwarf_Addr low,
                      void *arg) {
  (void)userdata;
  namer_t *n = arg;
  Dwarf_Addr high = 0;
  dwfl_module_info(module, NULL, NULL, &high, NULL, NULL, NULL, NULL);
  if (n->n_ranges == n->cap_ranges) {
    size_t cap = n->cap_ranges ? n->cap_ranges * 2 : 32;
    module_range_t *grown = realloc(n->ranges, cap * sizeof *grown);
    if (!grown) {
      n->failed = true;
      return DWARF_CB_ABORT;
    }
    n->ranges = grown;
    n->cap_ranges = cap;
  }
  /* A module reported from /proc/PID/maps starts at its file offset 0 (the ELF header is
   * mapped first), which is what symbolize.c needs to compute its load bias. */
  lw_profile_mapping_t mapping;
  memset(&mapping, 0, sizeof mapping);
  mapping.memory_start = low;
  mapping.memory_limit = high;
  mapping.file_offset = 0;
  mapping.filename = lw_profile_string(n->profile, name ? name : "");
  /* The build ID of what is mapped (libdwfl reads it from the file, or from memory for a
   * deleted one), so symbolize.c refuses a file replaced on disk since the process started
   * instead of naming frames from the wrong build, and can find its debug file by ID. */
  Dwarf_Addr bias;
  const unsigned char *bits = NULL;
  GElf_Addr bits_address;
  int n_bits = dwfl_module_getelf(module, &bias) ? dwfl_module_build_id(module, &bits, &bits_address)
                                                 : 0;
  if (n_bits > 0 && n_bits <= 64) {
    char hex[129];
    for (int i = 0; i < n_bits; i++)
      snprintf(hex + 2 * i, 3, "%02x", bits[i]);
    mapping.build_id = lw_profile_string(n->profile, hex);
  }
  module_range_t *r = &n->ranges[n->n_ranges++];
  r->low = low;
  r->high = high;
  r->module = module;
  r->mapping_id = lw_profile_add_mapping(n->profile, &mapping);
  return DWARF_CB_OK;
}

static const module_range_t *range_for(const namer_t *n, uint64_t address) {
  for (size_t i = 0; i < n->n_ranges; i++)
    if (address >= n->ranges[i].low && address < n->ranges[i].high)
      return &n->ranges[i];
  return NULL;
}

/* The location for an address, made on first sight with the ELF symbol libdwfl knows (kept
 * where symbolize.c finds nothing better: the vDSO, a deleted file). */
static uint64_t location_for(namer_t *n, uint64_t address) {
  size_t mask = n->cap_addresses - 1;
  size_t slot = (size_t)((address * 0x9e3779b97f4a7c15u) >> 20) & mask;
  while (n->location_ids[slot] && n->addresses[slot] != address)
    slot = (slot + 1) & mask;
  if (n->location_ids[slot])
    return n->location_ids[slot];
  const module_range_t *r = range_for(n, address);
  lw_profile_line_t line = {0, 0, 0};
  size_t n_lines = 0;
  const char *symbol = r ? dwfl_module_addrname(r->module, address) : NULL;
  if (symbol) {
    int64_t name = lw_profile_string(n->profile, symbol);
    line.function_id = lw_profile_add_function(n->profile, name, name, 0, 0);
    n_lines = line.function_id ? 1 : 0;
  }
  uint64_t id = lw_profile_add_location(n->profile, r ? r->mapping_id : 0, address, &line,
                                        n_lines);
  if (!id)
    n->failed = true;
  n->addresses[slot] = address;
  n->location_ids[slot] = id;
  return id;
}

static const char *base_name(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}

/* Expands one thread's addresses into frames, inlined ones included. */
static int name_frames(namer_t *n, lw_thread_stack_t *t, const uint64_t *location_ids) {
  const lw_profile_t *p = n->profile;
  size_t count = 0;
  for (size_t i = 0; i < t->n_pcs; i++) {
    const lw_profile_location_t *l = lw_profile_location(p, location_ids[i]);
    count += l && l->n_lines ? l->n_lines : 1;
  }
  t->frames = calloc(count ? count : 1, sizeof *t->frames);
  if (!t->frames)
    return -1;
  for (size_t i = 0; i < t->n_pcs; i++) {
    const lw_profile_location_t *l = lw_profile_location(p, location_ids[i]);
    const lw_profile_mapping_t *m = l && l->mapping_id ? lw_profile_mapping(p, l->mapping_id)
                                                       : NULL;
    const char *module_path = m ? lw_profile_str(p, m->filename) : "";
    const lw_profile_line_t *lines = l ? lw_location_lines(p, l) : NULL;
    uint32_t n_lines = l ? l->n_lines : 0;
    for (uint32_t k = 0; k < (n_lines ? n_lines : 1); k++) {
      lw_stack_frame_t *f = &t->frames[t->n_frames++];
      f->address = t->pcs[i];
      f->module = module_path[0] ? base_name(module_path) : NULL;
      f->main_program = module_path[0] && strcmp(module_path, n->executable) == 0;
      if (!n_lines)
        continue;
      const lw_profile_function_t *fn = lw_profile_function(p, lines[k].function_id);
      const char *name = fn ? lw_profile_str(p, fn->name) : "";
      const char *file = fn ? lw_profile_str(p, fn->filename) : "";
      f->function = name[0] ? name : NULL;
      f->file = file[0] ? file : NULL;
      f->line = lines[k].line;
      f->inlined = k + 1 < n_lines; /* line[0] is the innermost inlined callee */
    }
  }
  return 0;
}

static int name_all(Dwfl *dwfl, lw_thread_stacks_t *stacks, char *error, size_t error_size) {
  lw_profile_t *profile = calloc(1, sizeof *profile);
  if (!profile) {
    snprintf(error, error_size, "out of memory naming the frames");
    return -1;
  }
  lw_profile_init(profile, &lw_libc_allocator);
  stacks->symbols = profile;
  namer_t n;
  memset(&n, 0, sizeof n);
  n.profile = profile;
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/exe", stacks->memory_pid);
  ssize_t len = readlink(path, n.executable, sizeof n.executable - 1);
  n.executable[len > 0 ? len : 0] = '\0';

  size_t total = 0;
  for (size_t i = 0; i < stacks->n_threads; i++)
    total += stacks->threads[i].n_pcs;
  n.cap_addresses = 64;
  while (n.cap_addresses < total * 2)
    n.cap_addresses *= 2;
  n.addresses = calloc(n.cap_addresses, sizeof *n.addresses);
  n.location_ids = calloc(n.cap_addresses, sizeof *n.location_ids);
  uint64_t *ids = calloc(total ? total : 1, sizeof *ids);
  int rc = 0;
  if (!n.addresses || !n.location_ids || !ids) {
    n.failed = true;
  } else {
    dwfl_getmodules(dwfl, add_module, &n, 0);
    size_t k = 0;
    for (size_t i = 0; i < stacks->n_threads && !n.failed; i++)
      for (size_t j = 0; j < stacks->threads[i].n_pcs; j++)
        ids[k++] = location_for(&n, stacks->threads[i].pcs[j]);
  }
  if (!n.failed && lw_symbolize_profile(profile, NULL, NULL) < 0)
    n.failed = true;
  if (!n.failed && lw_profile_build_index(profile) < 0)
    n.failed = true;
  size_t k = 0;
  for (size_t i = 0; i < stacks->n_threads && !n.failed; i++) {
    if (name_frames(&n, &stacks->threads[i], ids + k) < 0)
      n.failed = true;
    k += stacks->threads[i].n_pcs;
  }
  if (n.failed) {
    snprintf(error, error_size, "out of memory naming the frames");
    rc = -1;
  }
  free(ids);
  free(n.addresses);
  free(n.location_ids);
  free(n.ranges);
  return rc;
}

/* ---- the whole pass ------------------------------------------------------------------------- */

int lw_thread_stacks_unwind(lw_thread_stacks_t *stacks, char *error, size_t error_size) {
  uint64_t start = now_ns();
  static char *debuginfo_path = NULL;
  static const Dwfl_Callbacks proc_callbacks = {
      .find_elf = dwfl_linux_proc_find_elf,
      .find_debuginfo = dwfl_standard_find_debuginfo,
      .debuginfo_path = &debuginfo_path,
  };
  Dwfl *dwfl = dwfl_begin(&proc_callbacks);
  if (!dwfl) {
    snprintf(error, error_size, "libdwfl: %s", dwfl_errmsg(-1));
    return -1;
  }
  dwfl_report_begin(dwfl);
  int r = dwfl_linux_proc_report(dwfl, stacks->memory_pid);
  dwfl_report_end(dwfl, NULL, NULL);
  if (r != 0) {
    snprintf(error, error_size, "cannot read the mappings of process %d: %s", stacks->pid,
             r > 0 ? strerror(r) : dwfl_errmsg(-1));
    dwfl_end(dwfl);
    return -1;
  }
  unwinder_t u = {stacks, NULL, 0};
  if (!dwfl_attach_state(dwfl, NULL, stacks->pid, &thread_callbacks, &u)) {
    snprintf(error, error_size, "libdwfl cannot unwind process %d: %s", stacks->pid,
             dwfl_errmsg(-1));
    dwfl_end(dwfl);
    return -1;
  }
  for (size_t i = 0; i < stacks->n_threads; i++) {
    lw_thread_stack_t *t = &stacks->threads[i];
    if (t->capture == LW_CAPTURE_NONE)
      continue;
    t->pcs = malloc(MAX_FRAMES * sizeof *t->pcs);
    if (!t->pcs) {
      snprintf(error, error_size, "out of memory unwinding %zu threads", stacks->n_threads);
      dwfl_end(dwfl);
      return -1;
    }
    u.current = t;
    int result = dwfl_getthread_frames(dwfl, t->tid, on_frame, t);
    /* libdwfl reports the end of most stacks (the outermost frame's return address is
     * undefined) as success; an error after a single frame means the unwind failed. */
    if (result == -1 && t->n_pcs <= 1 && !t->problem[0])
      snprintf(t->problem, sizeof t->problem, "its stack could not be unwound: %s",
               dwfl_errmsg(-1));
    if (t->n_pcs >= MAX_FRAMES && !t->problem[0])
      snprintf(t->problem, sizeof t->problem, "deeper than %d frames: cut", MAX_FRAMES);
    u.current = NULL;
  }
  int rc = name_all(dwfl, stacks, error, error_size);
  dwfl_end(dwfl);
  stacks->unwind_ns = now_ns() - start;
  return rc;
}

void lw_thread_stacks_free(lw_thread_stacks_t *stacks) {
  for (size_t i = 0; i < stacks->n_threads; i++) {
    lw_thread_release_late(&stacks->threads[i]);
    free(stacks->threads[i].stack);
    free(stacks->threads[i].pcs);
    free(stacks->threads[i].frames);
  }
  free(stacks->threads);
  if (stacks->symbols) {
    lw_profile_free(stacks->symbols);
    free(stacks->symbols);
  }
  memset(stacks, 0, sizeof *stacks);
}
