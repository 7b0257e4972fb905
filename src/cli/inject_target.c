/*
 * inject_target.c - the checks `leakwatch attach/detach` makes on a running process before
 * touching it, and the addresses inject_call.c needs: its C library's dlopen, dlsym and
 * dlerror, the code a hijacked thread must not be in (loader, allocator), and room at the
 * end of an executable page for the self-restoring call.
 *
 * Everything comes from /proc/<pid>/{status,maps,exe,root} and the ELF files the process
 * mapped (their dynamic symbols: libc is stripped of the rest). Read-only: the process is
 * neither stopped nor written to here. Each refusal is one line that names its cause and,
 * where there is one, the way out.
 */
#include "cli/inject_target.h"

#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Reads a /proc file whole into buf (NUL-terminated). Returns its length or -1 (errno). */
static ssize_t read_text(const char *path, char *buf, size_t size) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  size_t used = 0;
  while (used + 1 < size) {
    ssize_t n = read(fd, buf + used, size - 1 - used);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    used += (size_t)n;
  }
  int saved = errno;
  close(fd);
  errno = saved;
  buf[used] = '\0';
  return (ssize_t)used;
}

/* The text after "Name:\t" in a status file, or NULL. */
static const char *status_field(const char *status, const char *name) {
  size_t len = strlen(name);
  for (const char *line = status; line && *line;) {
    if (strncmp(line, name, len) == 0 && line[len] == ':') {
      const char *value = line + len + 1;
      while (*value == ' ' || *value == '\t')
        value++;
      return value;
    }
    line = strchr(line, '\n');
    if (line)
      line++;
  }
  return NULL;
}

static bool has_cap_sys_ptrace(void) {
  char status[8192];
  if (read_text("/proc/self/status", status, sizeof status) < 0)
    return geteuid() == 0;
  const char *caps = status_field(status, "CapEff");
  return caps && (strtoull(caps, NULL, 16) & (1ull << 19)) != 0; /* CAP_SYS_PTRACE */
}

static int yama_scope(void) {
  char text[32];
  if (read_text("/proc/sys/kernel/yama/ptrace_scope", text, sizeof text) <= 0)
    return -1; /* no Yama */
  return atoi(text);
}

static const char *user_name(unsigned uid, char *buf, size_t size) {
  struct passwd *pw = getpwuid(uid);
  snprintf(buf, size, "%s", pw ? pw->pw_name : "?");
  return buf;
}

void lw_inject_explain_permission(int pid, char *error, size_t error_size) {
  char path[64], status[8192], name[64];
  snprintf(path, sizeof path, "/proc/%d/status", pid);
  bool cap = has_cap_sys_ptrace();
  unsigned uid = 0;
  if (read_text(path, status, sizeof status) > 0) {
    const char *tracer = status_field(status, "TracerPid");
    if (tracer && atoi(tracer) != 0) {
      snprintf(error, error_size,
               "pid %d is already traced by pid %d (a debugger or strace): detach it first",
               pid, atoi(tracer));
      return;
    }
    const char *uids = status_field(status, "Uid");
    if (uids)
      uid = (unsigned)strtoul(uids, NULL, 10);
  }
  if (!cap && uid != geteuid()) {
    if (geteuid() == 0)
      snprintf(error, error_size,
               "pid %d belongs to user %s (uid %u), and this root has no CAP_SYS_PTRACE (a "
               "container or a reduced capability set): run leakwatch as that user", pid,
               user_name(uid, name, sizeof name), uid);
    else
      snprintf(error, error_size,
               "pid %d belongs to user %s (uid %u): run leakwatch as that user or as root",
               pid, user_name(uid, name, sizeof name), uid);
    return;
  }
  int scope = yama_scope();
  if (scope == 3) {
    snprintf(error, error_size,
             "cannot trace pid %d: Yama ptrace_scope is 3 (no process may trace another "
             "until the next boot)", pid);
  } else if (scope >= 1 && !cap) {
    snprintf(error, error_size,
             "cannot trace pid %d: Yama ptrace_scope is %d, which lets only %s trace it; run "
             "as root (or with CAP_SYS_PTRACE), or 'sysctl kernel.yama.ptrace_scope=0'",
             pid, scope, scope == 1 ? "its parent or a process with CAP_SYS_PTRACE" :
                                      "a process with CAP_SYS_PTRACE");
  } else if (!cap) {
    snprintf(error, error_size,
             "cannot trace pid %d: permission denied (it may have made itself non-dumpable, "
             "or run with other groups); run as root or with CAP_SYS_PTRACE", pid);
  } else {
    snprintf(error, error_size,
             "cannot trace pid %d: permission denied even with CAP_SYS_PTRACE (a security "
             "module such as AppArmor or SELinux, or another user namespace)", pid);
  }
}

/* An ELF file the process maps, opened through /proc/<pid>/root so a process in a
 * container or chroot is read from its own files. */
typedef struct {
  int fd;
  Elf *elf;
  GElf_Ehdr header;
} elf_file_t;

static bool elf_file_open(int pid, const char *path, elf_file_t *file) {
  char rooted[PATH_MAX + 64];
  snprintf(rooted, sizeof rooted, "/proc/%d/root%s", pid, path);
  file->fd = open(rooted, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (file->fd < 0)
    file->fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (file->fd < 0)
    return false;
  elf_version(EV_CURRENT);
  file->elf = elf_begin(file->fd, ELF_C_READ_MMAP, NULL);
  if (!file->elf || elf_kind(file->elf) != ELF_K_ELF || !gelf_getehdr(file->elf, &file->header)) {
    elf_end(file->elf);
    close(file->fd);
    return false;
  }
  return true;
}

static void elf_file_close(elf_file_t *file) {
  elf_end(file->elf);
  close(file->fd);
}

/* The value and size of a defined dynamic symbol, or false. */
static bool elf_dynamic_symbol(elf_file_t *file, const char *name, uint64_t *value,
                               uint64_t *size) {
  Elf_Scn *section = NULL;
  while ((section = elf_nextscn(file->elf, section)) != NULL) {
    GElf_Shdr shdr;
    if (!gelf_getshdr(section, &shdr) || shdr.sh_type != SHT_DYNSYM || shdr.sh_entsize == 0)
      continue;
    Elf_Data *data = elf_getdata(section, NULL);
    size_t count = shdr.sh_size / shdr.sh_entsize;
    for (size_t i = 0; data && i < count; i++) {
      GElf_Sym symbol;
      if (!gelf_getsym(data, (int)i, &symbol) || symbol.st_shndx == SHN_UNDEF ||
          symbol.st_value == 0)
        continue;
      const char *symbol_name = elf_strptr(file->elf, shdr.sh_link, symbol.st_name);
      if (symbol_name && strcmp(symbol_name, name) == 0) {
        *value = symbol.st_value;
        *size = symbol.st_size;
        return true;
      }
    }
  }
  return false;
}

/* One line of /proc/<pid>/maps. */
typedef struct {
  uint64_t start, end, offset;
  char perms[5];
  const char *path; /* into the line; "" for anonymous */
} map_line_t;

static bool parse_map_line(char *line, map_line_t *out) {
  unsigned long long start, end, offset;
  char perms[5];
  int consumed = 0;
  if (sscanf(line, "%llx-%llx %4s %llx %*s %*s%n", &start, &end, perms, &offset, &consumed) < 4)
    return false;
  out->start = start;
  out->end = end;
  out->offset = offset;
  memcpy(out->perms, perms, sizeof perms);
  const char *path = line + consumed;
  while (*path == ' ')
    path++;
  out->path = path;
  return true;
}

static const char *base_name(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}

/* A mapped ELF object: where its file offset 0 is mapped, hence its load bias. */
typedef struct {
  char path[4096];
  uint64_t first_start; /* mapping of offset 0 */
  uint64_t code_start, code_end; /* its r-x mapping(s), merged */
  bool seen_code;
} module_t;

enum { MAX_MODULES = 64 };

typedef struct {
  module_t modules[MAX_MODULES];
  size_t n_modules;
} module_list_t;

static module_t *module_for(module_list_t *list, const char *path) {
  for (size_t i = 0; i < list->n_modules; i++)
    if (strcmp(list->modules[i].path, path) == 0)
      return &list->modules[i];
  if (list->n_modules == MAX_MODULES)
    return NULL;
  module_t *module = &list->modules[list->n_modules++];
  memset(module, 0, sizeof *module);
  snprintf(module->path, sizeof module->path, "%s", path);
  return module;
}

static int read_modules(int pid, module_list_t *list) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/maps", pid);
  FILE *maps = fopen(path, "re");
  if (!maps)
    return -1;
  list->n_modules = 0;
  char line[8192];
  while (fgets(line, sizeof line, maps)) {
    line[strcspn(line, "\n")] = '\0';
    map_line_t map;
    if (!parse_map_line(line, &map) || map.path[0] != '/')
      continue;
    module_t *module = module_for(list, map.path);
    if (!module)
      continue;
    if (map.offset == 0 && module->first_start == 0)
      module->first_start = map.start;
    if (strcmp(map.perms, "r-xp") == 0) {
      if (!module->seen_code || map.start < module->code_start)
        module->code_start = map.start;
      if (map.end > module->code_end)
        module->code_end = map.end;
      module->seen_code = true;
    }
  }
  fclose(maps);
  return 0;
}

/* Load bias of a mapped object: where its first PT_LOAD's page landed minus its vaddr. */
static bool module_bias(elf_file_t *file, const module_t *module, uint64_t *bias) {
  size_t n_headers;
  if (elf_getphdrnum(file->elf, &n_headers) != 0)
    return false;
  for (size_t i = 0; i < n_headers; i++) {
    GElf_Phdr phdr;
    if (gelf_getphdr(file->elf, (int)i, &phdr) && phdr.p_type == PT_LOAD) {
      uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
      *bias = module->first_start - (phdr.p_vaddr & ~(page - 1));
      return true;
    }
  }
  return false;
}

/* Room past the code of the object's executable segments, in their last mapped page. */
static void add_slack(lw_inject_target_t *target, elf_file_t *file, const module_t *module,
                      uint64_t bias) {
  size_t n_headers;
  if (elf_getphdrnum(file->elf, &n_headers) != 0)
    return;
  uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
  for (size_t i = 0; i < n_headers && target->n_slack < LW_INJECT_MAX_MODULES; i++) {
    GElf_Phdr phdr;
    if (!gelf_getphdr(file->elf, (int)i, &phdr) || phdr.p_type != PT_LOAD ||
        !(phdr.p_flags & PF_X) || phdr.p_memsz != phdr.p_filesz)
      continue;
    uint64_t code_end = bias + phdr.p_vaddr + phdr.p_filesz;
    uint64_t start = (code_end + 15) & ~(uint64_t)15;
    uint64_t page_end = (code_end + page - 1) & ~(page - 1);
    if (start < page_end && page_end <= module->code_end && start >= module->code_start)
      target->slack[target->n_slack++] = (lw_inject_slack_t){start, page_end - start};
  }
}

/* libc functions a thread must not be inside (or below, on its stack) when it is made to
 * call dlopen: they hold the loader's or an allocator arena's lock. */
static const char *const lock_holding_functions[] = {
    "malloc", "free", "calloc", "realloc", "reallocarray", "memalign", "posix_memalign",
    "aligned_alloc", "valloc", "pvalloc", "malloc_trim", "malloc_usable_size", "malloc_info",
    "malloc_stats", "mallinfo", "mallinfo2", "mallopt", "dlopen", "dlclose", "dlsym", "dlvsym",
    "dlmopen", "dladdr", "dladdr1", "dlinfo", "dl_iterate_phdr", "fork", "_Fork",
    "pthread_create", "__libc_dlopen_mode", "__libc_dlsym", "__libc_dlclose"};

static void add_avoid(lw_inject_target_t *target, uint64_t start, uint64_t end) {
  if (target->n_avoid < LW_INJECT_MAX_AVOID && end > start)
    target->avoid[target->n_avoid++] = (lw_address_range_t){start, end};
}

static int refuse(char *error, size_t size, const char *format, ...)
    __attribute__((format(printf, 3, 4)));
static int refuse(char *error, size_t size, const char *format, ...) {
  va_list args;
  va_start(args, format);
  vsnprintf(error, size, format, args);
  va_end(args);
  return -1;
}

/* The first refusal that status shows: exiting, stopped, setuid, traced, seccomp, another
 * user, Yama. */
static int check_status(int pid, char *error, size_t size) {
  char path[64], status[16384];
  snprintf(path, sizeof path, "/proc/%d/status", pid);
  if (read_text(path, status, sizeof status) <= 0) {
    if (errno == ENOENT || errno == ESRCH)
      return refuse(error, size, "pid %d: no such process", pid);
    return refuse(error, size, "cannot read %s: %s", path, strerror(errno));
  }
  const char *state = status_field(status, "State");
  if (state && (*state == 'Z' || *state == 'X'))
    return refuse(error, size, "pid %d is exiting (state %c)", pid, *state);
  const char *tracer = status_field(status, "TracerPid");
  if (tracer && atoi(tracer) != 0)
    return refuse(error, size,
                  "pid %d is already traced by pid %d (a debugger or strace): detach it first",
                  pid, atoi(tracer));
  if (state && *state == 'T')
    return refuse(error, size, "pid %d is stopped (state T): resume it first (kill -CONT %d)",
                  pid, pid);
  unsigned uid[4] = {0}, gid[4] = {0};
  const char *uids = status_field(status, "Uid"), *gids = status_field(status, "Gid");
  if (!uids || !gids || sscanf(uids, "%u %u %u %u", &uid[0], &uid[1], &uid[2], &uid[3]) != 4 ||
      sscanf(gids, "%u %u %u %u", &gid[0], &gid[1], &gid[2], &gid[3]) != 4)
    return refuse(error, size, "cannot read the user of pid %d from %s", pid, path);
  if (uid[0] != uid[1] || uid[0] != uid[2] || gid[0] != gid[1] || gid[0] != gid[2])
    return refuse(error, size,
                  "pid %d runs setuid/setgid (real uid %u, effective %u; real gid %u, "
                  "effective %u): leakwatch does not enter such programs (docs/SECURITY.md)",
                  pid, uid[0], uid[1], gid[0], gid[1]);
  bool cap = has_cap_sys_ptrace();
  if (!cap && uid[0] != geteuid()) {
    lw_inject_explain_permission(pid, error, size);
    return -1;
  }
  int scope = yama_scope();
  if (scope == 3)
    return refuse(error, size,
                  "cannot trace pid %d: Yama ptrace_scope is 3 (no process may trace another "
                  "until the next boot)", pid);
  if (scope >= 1 && !cap) {
    lw_inject_explain_permission(pid, error, size);
    return -1;
  }
  const char *seccomp = status_field(status, "Seccomp");
  if (seccomp && atoi(seccomp) != 0)
    return refuse(error, size,
                  "pid %d runs under a seccomp %s (Seccomp: %d), which could kill it for the "
                  "agent's system calls (socket, a thread, mmap)", pid,
                  atoi(seccomp) == 1 ? "strict mode" : "filter", atoi(seccomp));
  return 0;
}

/* The program's ELF class and machine must be the agent's (64-bit x86). */
static int check_executable(int pid, char *error, size_t size) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/exe", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT || errno == ESRCH)
      return refuse(error, size, "pid %d: no such process (or it is a kernel thread)", pid);
    if (errno == EACCES || errno == EPERM) {
      lw_inject_explain_permission(pid, error, size);
      return -1;
    }
    return refuse(error, size, "cannot open %s: %s", path, strerror(errno));
  }
  unsigned char ident[20];
  ssize_t n = pread(fd, ident, sizeof ident, 0);
  close(fd);
  if (n != (ssize_t)sizeof ident || memcmp(ident, ELFMAG, SELFMAG) != 0)
    return refuse(error, size, "pid %d: its executable is not an ELF file", pid);
  unsigned machine = ident[EI_DATA] == ELFDATA2LSB ? ident[18] | (unsigned)ident[19] << 8
                                                   : (unsigned)ident[18] << 8 | ident[19];
  if (ident[EI_CLASS] == ELFCLASS32)
    return refuse(error, size,
                  "pid %d is a 32-bit program%s: the agent is a 64-bit x86 library", pid,
                  machine == EM_386 ? " (i386)" : "");
  if (machine != EM_X86_64)
    return refuse(error, size,
                  "pid %d is built for another architecture (ELF machine %u): the agent is a "
                  "64-bit x86 library", pid, machine);
  return 0;
}

/* dlopen, dlsym and dlerror: in libc.so.6 since glibc 2.34, in libdl.so.2 before. */
static bool resolve_dl(int pid, const module_t *module, lw_inject_target_t *target) {
  elf_file_t file;
  if (!elf_file_open(pid, module->path, &file))
    return false;
  uint64_t bias, dlopen_value, dlsym_value, dlerror_value, size;
  bool ok = module_bias(&file, module, &bias) &&
            elf_dynamic_symbol(&file, "dlopen", &dlopen_value, &size) &&
            elf_dynamic_symbol(&file, "dlsym", &dlsym_value, &size) &&
            elf_dynamic_symbol(&file, "dlerror", &dlerror_value, &size);
  if (ok) {
    target->dlopen_address = bias + dlopen_value;
    target->dlsym_address = bias + dlsym_value;
    target->dlerror_address = bias + dlerror_value;
  }
  elf_file_close(&file);
  return ok;
}

int lw_inject_target_inspect(int pid, const char *attach_name, lw_inject_target_t *target,
                             char *error, size_t error_size) {
  memset(target, 0, sizeof *target);
  target->pid = pid;
  if (check_status(pid, error, error_size) < 0 || check_executable(pid, error, error_size) < 0)
    return -1;
  static module_list_t list;
  if (read_modules(pid, &list) < 0) {
    if (errno == ENOENT || errno == ESRCH)
      return refuse(error, error_size, "pid %d exited", pid);
    if (errno == EACCES || errno == EPERM) {
      lw_inject_explain_permission(pid, error, error_size);
      return -1;
    }
    return refuse(error, error_size, "cannot read /proc/%d/maps: %s", pid, strerror(errno));
  }
  const module_t *libc = NULL, *loader = NULL, *libdl = NULL, *executable = NULL;
  char exe_link[64], exe_path[4096];
  snprintf(exe_link, sizeof exe_link, "/proc/%d/exe", pid);
  ssize_t exe_len = readlink(exe_link, exe_path, sizeof exe_path - 1);
  exe_path[exe_len > 0 ? exe_len : 0] = '\0';
  for (size_t i = 0; i < list.n_modules; i++) {
    const module_t *module = &list.modules[i];
    const char *name = base_name(module->path);
    if (strcmp(name, "libc.so.6") == 0)
      libc = module;
    else if (strcmp(name, "libc.so.6 (deleted)") == 0)
      return refuse(error, error_size,
                    "pid %d: its C library was replaced on disk after it started (%s): its "
                    "addresses cannot be read from the new file; restart it to attach", pid,
                    module->path);
    else if (strncmp(name, "ld-linux", 8) == 0 || strncmp(name, "ld-musl", 7) == 0)
      loader = module;
    else if (strcmp(name, "libdl.so.2") == 0)
      libdl = module;
    else if (strcmp(name, "libleakwatch.so") == 0)
      target->preloaded = true;
    else if (strcmp(name, attach_name) == 0)
      snprintf(target->attached_library, sizeof target->attached_library, "%s", module->path);
    if (strcmp(module->path, exe_path) == 0)
      executable = module;
  }
  if (!libc && !loader)
    return refuse(error, error_size,
                  "pid %d is statically linked: there is no dynamic loader in it to load the "
                  "agent", pid);
  if (!libc)
    return refuse(error, error_size,
                  "pid %d does not use glibc (its loader is %s): the agent needs glibc", pid,
                  loader->path);
  snprintf(target->libc_path, sizeof target->libc_path, "%s", libc->path);
  target->libc_code = (lw_address_range_t){libc->code_start, libc->code_end};
  if (!resolve_dl(pid, libc, target) && !(libdl && resolve_dl(pid, libdl, target)))
    return refuse(error, error_size,
                  "pid %d: its glibc is older than 2.34 and has not loaded libdl.so.2, so "
                  "dlopen cannot be reached in it", pid);
  if (loader && loader->seen_code)
    add_avoid(target, loader->code_start, loader->code_end);
  elf_file_t file;
  uint64_t bias;
  if (elf_file_open(pid, libc->path, &file)) {
    if (module_bias(&file, libc, &bias)) {
      for (size_t i = 0; i < sizeof lock_holding_functions / sizeof *lock_holding_functions;
           i++) {
        uint64_t value, size;
        if (elf_dynamic_symbol(&file, lock_holding_functions[i], &value, &size) && size > 0)
          add_avoid(target, bias + value, bias + value + size);
      }
      add_slack(target, &file, libc, bias);
    }
    elf_file_close(&file);
  }
  /* The executable's own segments as a second choice (libc's may be full to the page),
   * then the other libraries'. */
  if (executable && elf_file_open(pid, executable->path, &file)) {
    if (module_bias(&file, executable, &bias))
      add_slack(target, &file, executable, bias);
    elf_file_close(&file);
  }
  for (size_t i = 0; i < list.n_modules && target->n_slack < LW_INJECT_MAX_MODULES; i++) {
    const module_t *module = &list.modules[i];
    if (module == libc || module == executable || module == loader || !module->seen_code ||
        !elf_file_open(pid, module->path, &file))
      continue;
    if (module_bias(&file, module, &bias))
      add_slack(target, &file, module, bias);
    elf_file_close(&file);
  }
  return 0;
}
