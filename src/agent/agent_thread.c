/*
 * agent_thread.c - the agent's own thread: serves the control socket and the optional HTTP
 * endpoint, writes the periodic stats line and takes the site history.
 *
 * One thread, one poll() loop, non-blocking sockets, and a deadline on every connection
 * state: a slow, silent or hostile client costs one slot for a bounded time and never
 * blocks another client or the host. Control and HTTP clients have separate slots, and
 * windowed requests (?seconds=N, heap-window) wait in at most half of their pool, the
 * oldest giving way to a new one, and are dropped when their client hangs up: the HTTP
 * port, which any local user can reach, can never starve the owner's control socket. The
 * thread keeps the agent guard up for good (anything it allocates through libc is passed
 * through untracked) and runs with every signal blocked (signals are the host's business).
 *
 * Its descriptors are the agent's own (agent_fd.c): high numbers, checked before every
 * poll, accept, read and write. One the program closed or replaced is abandoned and a
 * listener opened anew; poll wakes at least every second for that check, since a
 * descriptor closed while poll sleeps on it does not wake it.
 *
 * It is started from the agent's constructor, when the program's libraries are loaded, not
 * inside the first malloc; the listeners are made there, before main, so the program's own
 * first open() returns what it would without the agent. A fork child, where the thread does
 * not exist, starts its own at a sampled allocation a second or more after the fork (a
 * child about to exec never gets one). At exit the destructor asks it to stop and waits up
 * to 2 s. With LEAKWATCH_CONTROL=0 and neither HTTP nor the stats line there is no thread
 * at all (programs under a seccomp filter, or that unshare a user namespace); the history
 * is then taken once, at exit.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent_fd.h"
#include "agent/agent_stack.h"
#ifdef LW_ATTACH
#include "agent/attach.h"
#endif
#include "agent/connection.h"
#include "common/control_protocol.h"
#include "common/fmt.h"

enum {
  CONTROL_SLOTS = 8,
  HTTP_SLOTS = 16,
  MAX_CONNECTIONS = CONTROL_SLOTS + HTTP_SLOTS,
  READ_DEADLINE_MS = 5000,    /* a whole request must arrive within this */
  WRITE_DEADLINE_MS = 30000,  /* a reply must be taken within this */
  CHECK_INTERVAL_MS = 1000,   /* the listeners and the wake-up pipe are checked this often */
  FORK_CHILD_DELAY_MS = 1000, /* a fork child's thread starts no sooner after the fork */
  MAX_REOPENS = 16,           /* a listener the program keeps closing is given up after this */
  THREAD_STACK = 256 * 1024,  /* what the thread's own work needs */
  ACCEPT_PAUSE_MS = 250,      /* a listener accept() cannot serve is left alone this long */
  MAX_ACCEPTS_PER_WAKE = 32,  /* connections taken from one listener per turn of the loop */
};

typedef enum { THREAD_OFF, THREAD_RUNNING, THREAD_WANTED, THREAD_STARTING } thread_state_t;

typedef struct {
  lw_agent_fd_t fd;
  bool wanted;  /* opened once: reopened when the program takes its descriptor */
  int reopens;
  uint64_t lost_ms;         /* when its descriptor was found taken (0: it was not) */
  uint64_t paused_until_ms; /* accept failed for want of descriptors or memory */
} listener_t;

static struct {
  int state;               /* thread_state_t */
  lw_agent_fd_t wake_read; /* pipe: the destructor's stop request */
  lw_agent_fd_t wake_write;
  listener_t control;
  listener_t http;
  pid_t owner_pid;         /* the process the listeners belong to */
  pthread_t thread;
  int stop;                /* atomic: set by the destructor's thread, read by ours */
  uint64_t start_after_ms; /* a fork child's thread: not before this (lw__now_ms clock) */
  size_t static_tls;       /* bytes of static TLS glibc takes from every thread's stack */
  lw_connection_t connections[MAX_CONNECTIONS]; /* control slots first, then HTTP */
  uint64_t next_log_ms;
  uint64_t next_history_ms;
  uint64_t next_check_ms;  /* the listeners' periodic check */
  uint64_t wake_lost_ms;   /* when the wake-up pipe was found taken (0: it was not) */
} agent_thread = {.wake_read = {.fd = -1},
                  .wake_write = {.fd = -1},
                  .control = {.fd = {.fd = -1}},
                  .http = {.fd = {.fd = -1}}};

int lw__control_listen(void);
bool lw__control_socket_file_intact(void);
int lw__http_listen(void);
void lw__control_close_listener(void);
void lw__stats_log_line(void);

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The slots of a protocol's pool: [*first, *end). */
static void pool_of(lw_protocol_t protocol, int *first, int *end) {
  *first = protocol == LW_PROTOCOL_CONTROL ? 0 : CONTROL_SLOTS;
  *end = protocol == LW_PROTOCOL_CONTROL ? CONTROL_SLOTS : MAX_CONNECTIONS;
}

static void close_connection(lw_connection_t *c) {
  lw__agent_fd_close(&c->sock); /* not if the program has taken the number */
  lw_buf_free(&c->reply);
  if (c->snapshot)
    lw__window_snapshot_release(c->snapshot, c->snapshot_count);
  uint32_t generation = c->generation;
  memset(c, 0, sizeof *c);
  c->generation = generation;
  c->sock = LW_AGENT_FD_NONE;
  c->state = LW_CONN_FREE;
}

static void start_writing(lw_connection_t *c) {
  if (lw_buf_failed(&c->reply)) {
    close_connection(c); /* out of memory for the reply: the client sees the connection end */
    return;
  }
  c->state = LW_CONN_WRITING;
  c->deadline_ms = now_ms() + WRITE_DEADLINE_MS;
}

/* A waiting connection that gave way to a newer one: it gets an error reply now. */
static void refuse_waiting(lw_connection_t *c) {
  if (c->snapshot)
    lw__window_snapshot_release(c->snapshot, c->snapshot_count);
  c->snapshot = NULL;
  static const char why[] = "too many profile windows waiting: this one gave way to a newer one";
  if (c->protocol == LW_PROTOCOL_CONTROL)
    lw_buf_printf(&c->reply, "%s ERROR %s\n", LW_CONTROL_MAGIC, why);
  else
    lw_buf_printf(&c->reply,
                  "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
                  "X-Go-Pprof: 1\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s\n",
                  sizeof why, why);
  start_writing(c);
}

void lw__connection_wait(lw_connection_t *c, uint64_t seconds, lw_resume_fn resume) {
  int first, end, waiting = 0;
  pool_of(c->protocol, &first, &end);
  lw_connection_t *oldest = NULL;
  for (int i = first; i < end; i++) {
    lw_connection_t *other = &agent_thread.connections[i];
    if (other == c || other->state != LW_CONN_WAITING)
      continue;
    waiting++;
    if (!oldest || other->waiting_since_ms < oldest->waiting_since_ms)
      oldest = other;
  }
  if (oldest && waiting >= (end - first) / 2)
    refuse_waiting(oldest);
  uint64_t now = now_ms();
  c->state = LW_CONN_WAITING;
  c->waiting_since_ms = now;
  c->deadline_ms = now + seconds * 1000;
  c->resume = resume;
}

/* The program closed or replaced a listener's descriptor: say so once, and start the
 * grace before a new one is opened (keep_listener). */
static void listener_lost(listener_t *listener, lw_protocol_t protocol, uint64_t now) {
  lw__log("the program closed or replaced the %s's descriptor: opening a new one",
          protocol == LW_PROTOCOL_CONTROL ? "control socket" : "HTTP endpoint");
  listener->lost_ms = now;
}

static void accept_from(listener_t *listener, lw_protocol_t protocol) {
  /* Bounded per wake-up: a flood of connections on one listener must not keep the thread
   * from the other listener and from the connections it already has. */
  for (int accepted = 0; accepted < MAX_ACCEPTS_PER_WAKE; accepted++) {
    if (!lw__agent_fd_check(&listener->fd)) {
      /* The program took it (poll says POLLNVAL once it is closed): the same grace as
       * when keep_listener notices it first. */
      listener_lost(listener, protocol, now_ms());
      return;
    }
    int raw = accept4(listener->fd.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (raw < 0 && errno == EINTR)
      continue;
    if (raw < 0) {
      /* EAGAIN: nothing more. Out of descriptors or memory, the connection stays queued
       * and poll would report it at once, again and again: wait a little instead. */
      if (errno != EAGAIN && errno != ECONNABORTED)
        listener->paused_until_ms = now_ms() + ACCEPT_PAUSE_MS;
      return;
    }
    lw_agent_fd_t sock;
    if (!lw__agent_fd_adopt(&sock, raw))
      continue;
    if (protocol == LW_PROTOCOL_CONTROL) {
      /* Only the same user (or root) may talk to the agent: the socket directory is
       * private already, this holds even if someone loosened its permissions. */
      struct ucred peer;
      socklen_t len = sizeof peer;
      if (getsockopt(sock.fd, SOL_SOCKET, SO_PEERCRED, &peer, &len) != 0 ||
          (peer.uid != geteuid() && peer.uid != 0)) {
        static const char refusal[] = LW_CONTROL_REFUSAL;
        ssize_t ignored = write(sock.fd, refusal, sizeof refusal - 1);
        (void)ignored;
        lw__agent_fd_close(&sock);
        continue;
      }
    }
    int first, end;
    pool_of(protocol, &first, &end);
    lw_connection_t *slot = NULL;
    for (int i = first; i < end && !slot; i++)
      if (agent_thread.connections[i].state == LW_CONN_FREE)
        slot = &agent_thread.connections[i];
    if (!slot) {
      /* Full: evict the connection that has waited longest for its request. Only clients
       * that are slow to send (or send nothing) are still reading, so slow clients cannot
       * keep a real one out; connections with work in progress are never evicted. */
      lw_connection_t *oldest = NULL;
      for (int i = first; i < end; i++) {
        lw_connection_t *c = &agent_thread.connections[i];
        if (c->state == LW_CONN_READING && (!oldest || c->deadline_ms < oldest->deadline_ms))
          oldest = c;
      }
      if (oldest) {
        close_connection(oldest);
        slot = oldest;
      }
    }
    if (!slot) {
      static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                                 "Connection: close\r\n\r\n";
      if (protocol == LW_PROTOCOL_HTTP) {
        ssize_t ignored = write(sock.fd, busy, sizeof busy - 1);
        (void)ignored;
      }
      lw__agent_fd_close(&sock);
      continue;
    }
    uint32_t generation = slot->generation + 1;
    memset(slot, 0, sizeof *slot);
    slot->generation = generation;
    slot->sock = sock;
    slot->protocol = protocol;
    slot->state = LW_CONN_READING;
    slot->deadline_ms = now_ms() + READ_DEADLINE_MS;
    lw_buf_init(&slot->reply, &lw__output_allocator);
  }
}

static void on_readable(lw_connection_t *c) {
  if (!lw__agent_fd_check(&c->sock)) {
    close_connection(c); /* the program closed or reused the number: only forgotten */
    return;
  }
  ssize_t n = read(c->sock.fd, c->request + c->request_len, LW_REQUEST_LIMIT - c->request_len);
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return;
  if (n <= 0 && c->request_len == 0) {
    close_connection(c);
    return;
  }
  if (n > 0)
    c->request_len += (size_t)n;
  c->request[c->request_len] = '\0';
  bool peer_done = n == 0;
  bool handled = c->protocol == LW_PROTOCOL_CONTROL ? lw__control_handle(c) : lw__http_handle(c);
  if (c->state == LW_CONN_WAITING)
    return;
  if (handled)
    start_writing(c);
  else if (peer_done || n < 0)
    close_connection(c); /* the client stopped before finishing its request */
}

static void on_writable(lw_connection_t *c) {
  while (c->reply_sent < c->reply.len) {
    if (!lw__agent_fd_check(&c->sock)) {
      close_connection(c);
      return;
    }
    ssize_t n = send(c->sock.fd, c->reply.data + c->reply_sent, c->reply.len - c->reply_sent,
                     MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && errno == EAGAIN)
      return;
    if (n <= 0) {
      close_connection(c);
      return;
    }
    c->reply_sent += (size_t)n;
  }
  if (lw__agent_fd_check(&c->sock))
    shutdown(c->sock.fd, SHUT_WR);
  close_connection(c);
}

/* ---- the descriptors the loop keeps ------------------------------------------------------ */

static bool open_wake_pipe(void) {
  int ends[2];
  if (pipe2(ends, O_CLOEXEC | O_NONBLOCK) != 0)
    return false;
  ends[0] = lw__agent_fd_raise(ends[0]);
  ends[1] = lw__agent_fd_raise(ends[1]);
  if (!lw__agent_fd_adopt(&agent_thread.wake_read, ends[0])) {
    close(ends[1]);
    return false;
  }
  if (!lw__agent_fd_adopt(&agent_thread.wake_write, ends[1])) {
    lw__agent_fd_close(&agent_thread.wake_read);
    return false;
  }
  return true;
}

static void open_listener(listener_t *listener, lw_protocol_t protocol) {
  int fd = protocol == LW_PROTOCOL_CONTROL ? lw__control_listen() : lw__http_listen();
  if (lw__agent_fd_adopt(&listener->fd, fd))
    listener->wanted = true;
}

/* A listener the program closed or replaced is opened anew, and so is a control socket
 * whose file was removed (at the same path, so `leakwatch ps` finds it again), at most
 * once per check interval; one that keeps being taken is given up. */
static void keep_listener(listener_t *listener, lw_protocol_t protocol, bool periodic,
                          uint64_t now) {
  if (!listener->wanted)
    return;
  const char *what = protocol == LW_PROTOCOL_CONTROL ? "control socket" : "HTTP endpoint";
  if (listener->fd.fd >= 0 && !lw__agent_fd_check(&listener->fd))
    listener_lost(listener, protocol, now);
  if (!periodic || (listener->lost_ms && now < listener->lost_ms + LW_AGENT_FD_REOPEN_GRACE_MS))
    return;
  if (listener->fd.fd >= 0) {
    if (protocol != LW_PROTOCOL_CONTROL || lw__control_socket_file_intact())
      return;
    lw__log("the control socket's file was removed or replaced: making a new one");
    lw__agent_fd_close(&listener->fd);
  }
  if (++listener->reopens > MAX_REOPENS) {
    lw__log("the %s keeps being taken away: giving it up", what);
    listener->wanted = false;
    return;
  }
  listener->lost_ms = 0;
  open_listener(listener, protocol);
}

/* Descriptors the program took are replaced only after a grace period (agent_fd.h). */
static void keep_descriptors(uint64_t now) {
  bool read_ok = lw__agent_fd_check(&agent_thread.wake_read);
  bool write_ok = lw__agent_fd_check(&agent_thread.wake_write);
  if ((!read_ok || !write_ok) && !agent_thread.wake_lost_ms) {
    lw__agent_fd_close(&agent_thread.wake_read);
    lw__agent_fd_close(&agent_thread.wake_write);
    agent_thread.wake_lost_ms = now; /* meanwhile a stop request is seen at the next check */
  }
  bool periodic = now >= agent_thread.next_check_ms;
  if (periodic)
    agent_thread.next_check_ms = now + CHECK_INTERVAL_MS;
  if (periodic && agent_thread.wake_lost_ms && now >= agent_thread.wake_lost_ms + LW_AGENT_FD_REOPEN_GRACE_MS)
    agent_thread.wake_lost_ms = open_wake_pipe() ? 0 : now;
  keep_listener(&agent_thread.control, LW_PROTOCOL_CONTROL, periodic, now);
  keep_listener(&agent_thread.http, LW_PROTOCOL_HTTP, periodic, now);
}

enum { ENTRY_WAKE, ENTRY_CONTROL, ENTRY_HTTP, ENTRY_CONNECTION };

static void run_loop(void) {
  struct pollfd fds[3 + MAX_CONNECTIONS];
  int kinds[3 + MAX_CONNECTIONS];
  lw_connection_t *owners[3 + MAX_CONNECTIONS];
  uint32_t generations[3 + MAX_CONNECTIONS];
  while (!__atomic_load_n(&agent_thread.stop, __ATOMIC_ACQUIRE)) {
    uint64_t now = now_ms();
    keep_descriptors(now);
    int n = 0;
    if (agent_thread.wake_read.fd >= 0) {
      fds[n] = (struct pollfd){agent_thread.wake_read.fd, POLLIN, 0};
      kinds[n++] = ENTRY_WAKE;
    }
    uint64_t next = agent_thread.next_check_ms;
    listener_t *listeners[2] = {&agent_thread.control, &agent_thread.http};
    for (int i = 0; i < 2; i++) {
      if (listeners[i]->fd.fd < 0)
        continue;
      if (now < listeners[i]->paused_until_ms) {
        if (listeners[i]->paused_until_ms < next)
          next = listeners[i]->paused_until_ms;
        continue;
      }
      fds[n] = (struct pollfd){listeners[i]->fd.fd, POLLIN, 0};
      kinds[n++] = i == 0 ? ENTRY_CONTROL : ENTRY_HTTP;
    }
    if (agent_thread.next_log_ms && agent_thread.next_log_ms < next)
      next = agent_thread.next_log_ms;
    if (agent_thread.next_history_ms && agent_thread.next_history_ms < next)
      next = agent_thread.next_history_ms;
    uint64_t snapshot_due = lw__snapshot_next_ms(); /* memory levels: checked often */
    if (snapshot_due && snapshot_due < next)
      next = snapshot_due;
    for (int i = 0; i < MAX_CONNECTIONS; i++) {
      lw_connection_t *c = &agent_thread.connections[i];
      if (c->state == LW_CONN_FREE)
        continue;
      if (c->deadline_ms < next)
        next = c->deadline_ms;
      if (!lw__agent_fd_check(&c->sock)) {
        close_connection(c);
        continue;
      }
      /* A waiting client is watched for hanging up: on TCP its FIN (POLLRDHUP, as Go's
       * server cancels the request's context on EOF); on the control socket only a full
       * close (POLLHUP), since a client that half-closes still waits for its reply. */
      short events = c->state == LW_CONN_READING   ? POLLIN
                     : c->state == LW_CONN_WRITING ? POLLOUT
                     : c->protocol == LW_PROTOCOL_HTTP ? POLLRDHUP
                                                       : 0;
      fds[n] = (struct pollfd){c->sock.fd, events, 0};
      owners[n] = c;
      generations[n] = c->generation;
      kinds[n++] = ENTRY_CONNECTION;
    }
    int timeout = next > now ? (int)(next - now) : 0;
    if (poll(fds, (nfds_t)n, timeout) < 0 && errno != EINTR && errno != ENOMEM)
      return;
    if (__atomic_load_n(&agent_thread.stop, __ATOMIC_ACQUIRE))
      return;
    for (int i = 0; i < n; i++) {
      if (!fds[i].revents)
        continue;
      if (kinds[i] == ENTRY_WAKE) {
        char drain[64];
        if (lw__agent_fd_check(&agent_thread.wake_read))
          while (read(agent_thread.wake_read.fd, drain, sizeof drain) > 0)
            ;
        continue;
      }
      if (kinds[i] == ENTRY_CONTROL) {
        accept_from(&agent_thread.control, LW_PROTOCOL_CONTROL);
        continue;
      }
      if (kinds[i] == ENTRY_HTTP) {
        accept_from(&agent_thread.http, LW_PROTOCOL_HTTP);
        continue;
      }
      lw_connection_t *c = owners[i];
      if (c->generation != generations[i])
        continue; /* the slot was closed and reused by an accept above */
      if (c->state == LW_CONN_READING)
        on_readable(c);
      else if (c->state == LW_CONN_WRITING)
        on_writable(c);
      else if (c->state == LW_CONN_WAITING)
        close_connection(c); /* hung up: nobody is left to take the profile */
    }
    now = now_ms();
    for (int i = 0; i < MAX_CONNECTIONS; i++) {
      lw_connection_t *c = &agent_thread.connections[i];
      if (c->state == LW_CONN_FREE || now < c->deadline_ms)
        continue;
      if (c->state == LW_CONN_WAITING) {
        c->resume(c);
        start_writing(c);
      } else {
        close_connection(c); /* too slow: reading or writing past its deadline */
      }
    }
    if (agent_thread.next_history_ms && now >= agent_thread.next_history_ms) {
      lw__history_snapshot();
      agent_thread.next_history_ms = now + lw__options.history_interval_ms;
    }
    if (agent_thread.next_log_ms && now >= agent_thread.next_log_ms) {
      lw__stats_log_line();
      agent_thread.next_log_ms = now + lw__options.log_interval_ms;
    }
    lw__snapshot_check(now);
    lw__soft_limit_check(now); /* poll wakes at least every CHECK_INTERVAL_MS */
#ifdef LW_ATTACH
    lw__got_patch_new_objects(); /* libraries loaded since the attach (attach.c) */
#endif
  }
}

static void *thread_main(void *argument) {
  (void)argument;
  lw__thread.guard = 1; /* for the thread's whole life */
  prctl(PR_SET_NAME, "leakwatch", 0, 0, 0);
  if (lw__options.log_interval_ms)
    agent_thread.next_log_ms = now_ms() + lw__options.log_interval_ms;
  if (lw__options.history_interval_ms)
    agent_thread.next_history_ms = now_ms() + lw__options.history_interval_ms;
  run_loop();
  for (int i = 0; i < MAX_CONNECTIONS; i++)
    if (agent_thread.connections[i].state != LW_CONN_FREE)
      close_connection(&agent_thread.connections[i]);
  return NULL;
}

/* ---- start and stop ------------------------------------------------------------------------ */

static int add_static_tls(struct dl_phdr_info *info, size_t size, void *context) {
  (void)size;
  for (int i = 0; i < info->dlpi_phnum; i++)
    if (info->dlpi_phdr[i].p_type == PT_TLS)
      *(size_t *)context += info->dlpi_phdr[i].p_memsz + info->dlpi_phdr[i].p_align;
  return 0;
}

/* glibc carves a thread's static TLS (the TLS blocks of the program and the libraries it
 * started with, hundreds of KiB in some C++ and Rust programs) out of the stack size it is
 * given, and refuses with EINVAL when it does not fit: the stack is that much larger. */
static int create_thread(void) {
  if (!agent_thread.static_tls)
    dl_iterate_phdr(add_static_tls, &agent_thread.static_tls);
  size_t stack = THREAD_STACK + ((agent_thread.static_tls + 65535) & ~(size_t)65535);
  pthread_attr_t attr;
  int result = pthread_attr_init(&attr);
  if (result != 0)
    return result;
  /* The estimate misses glibc's surplus and alignment: grown further if still refused. */
  for (int attempt = 0; attempt < 6; attempt++, stack *= 2) {
    result = pthread_attr_setstacksize(&attr, stack);
    if (result == 0)
      result = lw__real.pthread_create(&agent_thread.thread, &attr, thread_main, NULL);
    if (result != EINVAL)
      break;
  }
  pthread_attr_destroy(&attr);
  return result;
}

static void close_all(void) {
  lw__agent_fd_close(&agent_thread.control.fd);
  lw__agent_fd_close(&agent_thread.http.fd);
  lw__agent_fd_close(&agent_thread.wake_read);
  lw__agent_fd_close(&agent_thread.wake_write);
  agent_thread.control.wanted = agent_thread.http.wanted = false;
}

void lw__agent_thread_start(void) {
  if (agent_thread.state == THREAD_RUNNING || lw__agent_state != LW_AGENT_READY)
    return;
  int saved_errno = errno;
  lw_thread_state_t *t = &lw__thread;
  lw__guard_enter(t);
  agent_thread.state = THREAD_OFF;
  agent_thread.owner_pid = getpid();
  __atomic_store_n(&agent_thread.stop, 0, __ATOMIC_RELEASE);
  if (lw__options.control)
    open_listener(&agent_thread.control, LW_PROTOCOL_CONTROL);
  if (lw__options.http[0])
    open_listener(&agent_thread.http, LW_PROTOCOL_HTTP);
  /* LEAKWATCH_CONTROL=0 means no thread for the history alone (it is then taken once, at
   * exit); with the control socket wanted but impossible, the thread still takes it. */
  bool snapshots = lw__snapshot_wanted(); /* its levels read now: a mistake is said at start */
  bool work = agent_thread.control.fd.fd >= 0 || agent_thread.http.fd.fd >= 0 ||
              lw__options.log_interval_ms || lw__options.soft_limit || snapshots ||
              (lw__options.control && lw__options.history_interval_ms);
  if (work && open_wake_pipe()) {
    /* The thread inherits the creator's signal mask: block everything around creation. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int result = create_thread();
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (result == 0) {
      __atomic_store_n(&agent_thread.state, THREAD_RUNNING, __ATOMIC_RELEASE);
    } else {
      lw__log("cannot start the agent thread: %s; no control socket or HTTP endpoint",
              strerror(result));
      close_all();
      lw__control_close_listener(); /* no socket left that nobody answers */
    }
  } else if (work) {
    lw__log("cannot make the agent thread's wake-up pipe: %s; no control socket or HTTP "
            "endpoint", strerror(errno));
    close_all();
    lw__control_close_listener();
  }
  lw__guard_exit(t);
  errno = saved_errno;
}

static void start_from_allocation(void *unused) {
  (void)unused;
  lw__agent_thread_start();
}

void lw__agent_thread_maybe_start(void) {
  if (LW_UNLIKELY(__atomic_load_n(&agent_thread.state, __ATOMIC_RELAXED) == THREAD_WANTED) &&
      lw__now_ms() >= agent_thread.start_after_ms) {
    int wanted = THREAD_WANTED;
    /* One of the child's threads starts it. */
    if (__atomic_compare_exchange_n(&agent_thread.state, &wanted, THREAD_STARTING, false,
                                    __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
      lw__on_agent_stack(start_from_allocation, NULL); /* the caller's stack may be small */
  }
}

void lw__agent_thread_stop(void) {
  if (__atomic_load_n(&agent_thread.state, __ATOMIC_ACQUIRE) != THREAD_RUNNING ||
      agent_thread.owner_pid != getpid())
    return;
  int saved_errno = errno;
  lw_thread_state_t *t = &lw__thread;
  lw__guard_enter(t); /* the agent's own close and write: not the program's to track */
  __atomic_store_n(&agent_thread.stop, 1, __ATOMIC_RELEASE);
  /* Written only if the pipe is still ours (the program may have reused the number, as
   * `exec 4>x.log` in bash does); otherwise the thread sees the flag within a second. */
  lw_agent_fd_t wake = agent_thread.wake_write;
  if (lw__agent_fd_check(&wake)) {
    char one = 1;
    ssize_t ignored = write(wake.fd, &one, 1);
    (void)ignored;
  }
  struct timespec limit;
  clock_gettime(CLOCK_REALTIME, &limit);
  limit.tv_sec += 2;
  if (pthread_timedjoin_np(agent_thread.thread, NULL, &limit) == 0) {
    agent_thread.state = THREAD_OFF;
    close_all();
  }
  lw__control_close_listener();
  lw__guard_exit(t);
  errno = saved_errno;
}

/* The child of a fork has no agent thread, and the listeners and connections it inherited
 * are its parent's: close them here (those still the agent's), start its own later. So
 * does the child of a child that had not started its own yet. */
void lw__agent_thread_postfork_child(void) {
  if (agent_thread.state == THREAD_OFF)
    return; /* none wanted (or it could not start): none in the child either */
  int saved_errno = errno;
  for (int i = 0; i < MAX_CONNECTIONS; i++) {
    lw_connection_t *c = &agent_thread.connections[i];
    if (c->state != LW_CONN_FREE)
      lw__agent_fd_close(&c->sock);
    c->sock = LW_AGENT_FD_NONE;
    c->state = LW_CONN_FREE; /* buffers belong to the parent's state: left alone */
  }
  close_all();
  agent_thread.control.reopens = agent_thread.http.reopens = 0;
  agent_thread.control.lost_ms = agent_thread.http.lost_ms = agent_thread.wake_lost_ms = 0;
  agent_thread.start_after_ms = lw__now_ms() + FORK_CHILD_DELAY_MS;
  __atomic_store_n(&agent_thread.state, THREAD_WANTED, __ATOMIC_RELAXED);
  errno = saved_errno;
}
