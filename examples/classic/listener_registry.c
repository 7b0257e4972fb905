/*
 * listener_registry.c - a listener registry holding large contexts: each client connection
 * subscribes to configuration changes with a callback and its connection context, which
 * owns a 64 KiB send buffer. When the connection closes, the context is marked closed but
 * never unsubscribed, so the registry - a global, reachable array - keeps every context
 * and buffer of every connection there ever was. No exit-time leak checker calls this
 * memory lost: the registry still points to it.
 *
 * The bug is in connection_close, which forgets bus_unsubscribe. leakwatch names
 * connection_open, where the growing memory is allocated; the registry that holds it is the
 * place to look (GUIDE.md). The fix (--fixed) unsubscribes on close and frees the context.
 *
 *   listener_registry [--fixed] [--seconds N] [--scale S]
 *
 * Load: 2 connections open per (scaled) second and live 1 to 3 seconds: about 7.5 MiB a
 * minute while leaking.
 */
#include "classic_example.h"

enum { CONNECTIONS_PER_SECOND = 2, SEND_BUFFER_BYTES = 64 * 1024, OPEN_MAX = 64 };

typedef void (*listener_fn)(void *context, int config_version);

typedef struct {
  listener_fn callback;
  void *context;
} listener_t;

static struct { /* the event bus: who is told when the configuration changes */
  listener_t *listeners;
  size_t n, capacity;
} bus;

typedef struct {
  unsigned id;
  bool closed;
  int config_version;
  char send_buffer[SEND_BUFFER_BYTES];
} connection_t;

static int bus_subscribe(listener_fn callback, void *context) {
  if (bus.n == bus.capacity) {
    size_t capacity = bus.capacity ? bus.capacity * 2 : 16;
    listener_t *grown = realloc(bus.listeners, capacity * sizeof *grown);
    if (!grown)
      return -1;
    bus.listeners = grown;
    bus.capacity = capacity;
  }
  bus.listeners[bus.n++] = (listener_t){callback, context};
  return 0;
}

static void bus_unsubscribe(void *context) {
  for (size_t i = 0; i < bus.n; i++)
    if (bus.listeners[i].context == context) {
      bus.listeners[i] = bus.listeners[--bus.n];
      return;
    }
}

static void bus_publish(int config_version) {
  for (size_t i = 0; i < bus.n; i++)
    bus.listeners[i].callback(bus.listeners[i].context, config_version);
}

static void on_config_change(void *context, int config_version) {
  connection_t *c = context;
  if (!c->closed) /* the leaking version keeps calling listeners of dead connections */
    c->config_version = config_version;
}

__attribute__((noinline)) static connection_t *connection_open(unsigned id) {
  connection_t *c = malloc(sizeof *c);
  if (!c)
    return NULL;
  c->id = id;
  c->closed = false;
  c->config_version = 0;
  memset(c->send_buffer, 0, sizeof c->send_buffer);
  if (bus_subscribe(on_config_change, c) < 0) {
    free(c);
    return NULL;
  }
  return c;
}

static void connection_close(connection_t *c, bool fixed) {
  c->closed = true;
  if (fixed) { /* the fix */
    bus_unsubscribe(c);
    free(c);
  }
  /* THE LEAK (without --fixed): the bus still holds c, and with it its send buffer */
}

int main(int argc, char **argv) {
  example_options_t o = example_begin(argc, argv, 600,
      "A listener registry holding large contexts; the fix: unsubscribe on close.");
  connection_t *open_now[OPEN_MAX] = {0};
  double closes_at[OPEN_MAX] = {0};
  unsigned opened = 0;
  int config_version = 0;
  while (example_running(&o)) {
    double now = example_minutes(&o) * 60;
    for (int i = 0; i < OPEN_MAX; i++) /* connections whose client went away */
      if (open_now[i] && now >= closes_at[i]) {
        connection_close(open_now[i], o.fixed);
        open_now[i] = NULL;
      }
    unsigned due = (unsigned)(now * CONNECTIONS_PER_SECOND);
    for (; opened < due; opened++)
      for (int i = 0; i < OPEN_MAX; i++)
        if (!open_now[i]) {
          open_now[i] = connection_open(opened);
          closes_at[i] = now + 1 + opened % 3; /* clients stay 1 to 3 seconds */
          break;
        }
    if ((int)now / 5 != config_version) /* the configuration changes every 5 seconds */
      bus_publish(config_version = (int)now / 5);
    example_sleep(&o, 0.1);
  }
  if (o.fixed) /* a clean shutdown */
    for (int i = 0; i < OPEN_MAX; i++)
      if (open_now[i])
        connection_close(open_now[i], true);
  printf("listener_registry: %u connections, %zu listeners registered at exit\n", opened, bus.n);
  return 0;
}
