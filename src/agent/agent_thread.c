/*
 * agent_thread.c - the agent's own thread: serves the control socket and the optional HTTP
 * endpoint, and writes the periodic stats line.
 *
 * One thread, one poll() loop, non-blocking sockets, at most 16 connections at a time, and
 * a deadline on every connection state: a slow, silent or hostile client costs one slot for
 * a bounded time and never blocks another client or the host. The thread keeps the agent
 * guard up for good (anything it allocates through libc is passed through untracked) and
 * runs with every signal blocked (signals are the host's business).
 *
 * It is started from the agent's constructor, when the program's libraries are loaded, not
 * inside the first malloc; a fork child, where it does not exist, starts its own at its next
 * slow-path allocation. At exit the destructor asks it to stop and waits up to 2 s.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "agent/connection.h"
#include "common/control_protocol.h"
#include "common/fmt.h"

enum {
  MAX_CONNECTIONS = 16,
  READ_DEADLINE_MS = 5000,   /* a whole request must arrive within this */
  WRITE_DEADLINE_MS = 30000, /* a reply must be taken within this */
};

typedef enum { THREAD_OFF, THREAD_RUNNING, THREAD_WANTED } thread_state_t;

static struct {
  int state;               /* thread_state_t */
  int wake_fd;             /* eventfd: stop request */
  int control_fd;
  int http_fd;
  pid_t owner_pid;         /* the process the listeners belong to */
  pthread_t thread;
  int stop;                /* atomic: set by the destructor's thread, read by ours */
  lw_connection_t connections[MAX_CONNECTIONS];
  uint64_t next_log_ms;
  uint64_t next_history_ms;
} agent_thread = {.wake_fd = -1, .control_fd = -1, .http_fd = -1};

int lw__control_listen(void);
int lw__http_listen(void);
void lw__control_close_listener(void);
void lw__stats_log_line(void);

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void close_connection(lw_connection_t *c) {
  if (c->fd >= 0)
    close(c->fd);
  lw_buf_free(&c->reply);
  if (c->snapshot)
    lw__stack_counters_free(c->snapshot, c->snapshot_count);
  memset(c, 0, sizeof *c);
  c->fd = -1;
  c->state = LW_CONN_FREE;
}

void lw__connection_wait(lw_connection_t *c, uint64_t seconds, lw_resume_fn resume) {
  c->state = LW_CONN_WAITING;
  c->deadline_ms = now_ms() + seconds * 1000;
  c->resume = resume;
}

static void accept_from(int listen_fd, lw_protocol_t protocol) {
  for (;;) {
    int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
      return; /* EAGAIN: nothing more; other errors: try again on the next poll */
    if (protocol == LW_PROTOCOL_CONTROL) {
      /* Only the same user (or root) may talk to the agent: the socket directory is
       * private already, this holds even if someone loosened its permissions. */
      struct ucred peer;
      socklen_t len = sizeof peer;
      if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &len) != 0 ||
          (peer.uid != geteuid() && peer.uid != 0)) {
        static const char refusal[] = LW_CONTROL_REFUSAL;
        ssize_t ignored = write(fd, refusal, sizeof refusal - 1);
        (void)ignored;
        close(fd);
        continue;
      }
    }
    lw_connection_t *slot = NULL;
    for (int i = 0; i < MAX_CONNECTIONS && !slot; i++)
      if (agent_thread.connections[i].state == LW_CONN_FREE)
        slot = &agent_thread.connections[i];
    if (!slot) {
      /* Full: evict the connection that has waited longest for its request. Only clients
       * that are slow to send (or send nothing) are still reading, so slow clients cannot
       * keep a real one out; connections with work in progress are never evicted. */
      lw_connection_t *oldest = NULL;
      for (int i = 0; i < MAX_CONNECTIONS; i++) {
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
        ssize_t ignored = write(fd, busy, sizeof busy - 1);
        (void)ignored;
      }
      close(fd);
      continue;
    }
    memset(slot, 0, sizeof *slot);
    slot->fd = fd;
    slot->protocol = protocol;
    slot->state = LW_CONN_READING;
    slot->deadline_ms = now_ms() + READ_DEADLINE_MS;
    lw_buf_init(&slot->reply, &lw__output_allocator);
  }
}

static void start_writing(lw_connection_t *c) {
  if (lw_buf_failed(&c->reply)) {
    close_connection(c); /* out of memory for the reply: the client sees the connection end */
    return;
  }
  c->state = LW_CONN_WRITING;
  c->deadline_ms = now_ms() + WRITE_DEADLINE_MS;
}

static void on_readable(lw_connection_t *c) {
  ssize_t n = read(c->fd, c->request + c->request_len, LW_REQUEST_LIMIT - c->request_len);
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
  else if (peer_done)
    close_connection(c); /* the client stopped before finishing its request */
}

static void on_writable(lw_connection_t *c) {
  while (c->reply_sent < c->reply.len) {
    ssize_t n = send(c->fd, c->reply.data + c->reply_sent, c->reply.len - c->reply_sent,
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
  shutdown(c->fd, SHUT_WR);
  close_connection(c);
}

static void run_loop(void) {
  struct pollfd fds[3 + MAX_CONNECTIONS];
  lw_connection_t *owners[3 + MAX_CONNECTIONS];
  while (!__atomic_load_n(&agent_thread.stop, __ATOMIC_ACQUIRE)) {
    int n = 0;
    fds[n] = (struct pollfd){agent_thread.wake_fd, POLLIN, 0};
    owners[n++] = NULL;
    if (agent_thread.control_fd >= 0) {
      fds[n] = (struct pollfd){agent_thread.control_fd, POLLIN, 0};
      owners[n++] = NULL;
    }
    if (agent_thread.http_fd >= 0) {
      fds[n] = (struct pollfd){agent_thread.http_fd, POLLIN, 0};
      owners[n++] = NULL;
    }
    uint64_t now = now_ms();
    uint64_t next = agent_thread.next_log_ms ? agent_thread.next_log_ms : now + 60000;
    if (agent_thread.next_history_ms && agent_thread.next_history_ms < next)
      next = agent_thread.next_history_ms;
    for (int i = 0; i < MAX_CONNECTIONS; i++) {
      lw_connection_t *c = &agent_thread.connections[i];
      if (c->state == LW_CONN_FREE)
        continue;
      if (c->deadline_ms < next)
        next = c->deadline_ms;
      if (c->state == LW_CONN_WAITING)
        continue;
      fds[n] = (struct pollfd){c->fd, (short)(c->state == LW_CONN_READING ? POLLIN : POLLOUT), 0};
      owners[n++] = c;
    }
    int timeout = next > now ? (int)(next - now) : 0;
    if (poll(fds, (nfds_t)n, timeout) < 0 && errno != EINTR)
      return;
    if (__atomic_load_n(&agent_thread.stop, __ATOMIC_ACQUIRE))
      return;
    for (int i = 0; i < n; i++) {
      if (!fds[i].revents)
        continue;
      if (fds[i].fd == agent_thread.control_fd && !owners[i])
        accept_from(agent_thread.control_fd, LW_PROTOCOL_CONTROL);
      else if (fds[i].fd == agent_thread.http_fd && !owners[i])
        accept_from(agent_thread.http_fd, LW_PROTOCOL_HTTP);
      else if (owners[i] && owners[i]->state == LW_CONN_READING)
        on_readable(owners[i]);
      else if (owners[i] && owners[i]->state == LW_CONN_WRITING)
        on_writable(owners[i]);
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

void lw__agent_thread_start(void) {
  if (agent_thread.state == THREAD_RUNNING || lw__agent_state != LW_AGENT_READY)
    return;
  lw_thread_state_t *t = &lw__thread;
  lw__guard_enter(t);
  agent_thread.state = THREAD_OFF;
  agent_thread.owner_pid = getpid();
  __atomic_store_n(&agent_thread.stop, 0, __ATOMIC_RELEASE);
  if (lw__options.control)
    agent_thread.control_fd = lw__control_listen();
  if (lw__options.http[0])
    agent_thread.http_fd = lw__http_listen();
  bool work = agent_thread.control_fd >= 0 || agent_thread.http_fd >= 0 ||
              lw__options.log_interval_ms || lw__options.history_interval_ms;
  if (work)
    agent_thread.wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (work && agent_thread.wake_fd >= 0) {
    /* The thread inherits the creator's signal mask: block everything around creation. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    if (lw__real.pthread_create(&agent_thread.thread, &attr, thread_main, NULL) == 0)
      agent_thread.state = THREAD_RUNNING;
    else
      lw__log("cannot start the agent thread: %s; no control socket", strerror(errno));
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
  }
  lw__guard_exit(t);
}

void lw__agent_thread_maybe_start(void) {
  if (LW_UNLIKELY(__atomic_load_n(&agent_thread.state, __ATOMIC_RELAXED) == THREAD_WANTED))
    lw__agent_thread_start();
}

void lw__agent_thread_stop(void) {
  if (agent_thread.state != THREAD_RUNNING || agent_thread.owner_pid != getpid())
    return;
  __atomic_store_n(&agent_thread.stop, 1, __ATOMIC_RELEASE);
  uint64_t one = 1;
  ssize_t ignored = write(agent_thread.wake_fd, &one, sizeof one);
  (void)ignored;
  struct timespec limit;
  clock_gettime(CLOCK_REALTIME, &limit);
  limit.tv_sec += 2;
  if (pthread_timedjoin_np(agent_thread.thread, NULL, &limit) == 0)
    agent_thread.state = THREAD_OFF;
  lw__control_close_listener();
}

/* The child of a fork has no agent thread, and the listeners and connections it inherited
 * are its parent's: close them here, start its own later. */
void lw__agent_thread_postfork_child(void) {
  if (agent_thread.state != THREAD_RUNNING)
    return;
  for (int i = 0; i < MAX_CONNECTIONS; i++) {
    lw_connection_t *c = &agent_thread.connections[i];
    if (c->state != LW_CONN_FREE)
      close(c->fd);
    c->fd = -1;
    c->state = LW_CONN_FREE; /* buffers belong to the parent's state: left alone */
  }
  if (agent_thread.control_fd >= 0)
    close(agent_thread.control_fd);
  if (agent_thread.http_fd >= 0)
    close(agent_thread.http_fd);
  if (agent_thread.wake_fd >= 0)
    close(agent_thread.wake_fd);
  agent_thread.control_fd = agent_thread.http_fd = agent_thread.wake_fd = -1;
  __atomic_store_n(&agent_thread.state, THREAD_WANTED, __ATOMIC_RELAXED);
}
