/*
 * shared_ptr_cycle.cpp - a C++ shared_ptr cycle: a session owns its requests through
 * shared_ptr, and each request points back to its session through a shared_ptr too. When
 * the server drops the session, the session and its requests still own each other: their
 * reference counts never reach zero, no destructor runs, and the session's 16 KiB buffer
 * is lost with them. Smart pointers do not collect cycles.
 *
 * The bug is Request::session, a shared_ptr (an owning pointer) back to the owner. The fix
 * (--fixed) makes it a weak_ptr: it does not own, so dropping the session frees everything.
 *
 *   shared_ptr_cycle [--fixed] [--seconds N] [--scale S]
 *
 * Load: 10 sessions per (scaled) second, each with 3 requests: about 10 MiB a minute.
 */
#include <cstdio>
#include <memory>
#include <vector>

#include "classic_example.h"

namespace {

bool fixed_version;

struct Session;

struct Request {
  int number;
  std::shared_ptr<Session> session; // THE LEAK: owns its session, which owns this request
  std::weak_ptr<Session> owner;     // the fix: refers to its session without owning it
};

struct Session {
  unsigned id;
  std::vector<char> buffer = std::vector<char>(16 * 1024);
  std::vector<std::shared_ptr<Request>> requests;
};

__attribute__((noinline)) std::shared_ptr<Session> open_session(unsigned id) {
  auto session = std::make_shared<Session>();
  session->id = id;
  return session;
}

__attribute__((noinline)) void add_request(const std::shared_ptr<Session> &session, int number) {
  auto request = std::make_shared<Request>();
  request->number = number;
  if (fixed_version)
    request->owner = session;
  else
    request->session = session; // the cycle: session -> request -> session
  session->requests.push_back(request);
}

void serve(unsigned id) {
  std::shared_ptr<Session> session = open_session(id);
  for (int i = 0; i < 3; i++)
    add_request(session, i);
  // ... the requests are answered ...
} // the server's reference goes here; with the cycle, the session's count stays at 3

} // namespace

int main(int argc, char **argv) {
  example_options_t o = example_begin(argc, argv, 600,
      "A C++ shared_ptr cycle; the fix: a weak_ptr back-pointer.");
  fixed_version = o.fixed;
  unsigned sessions = 0;
  while (example_running(&o)) {
    unsigned due = (unsigned)(example_minutes(&o) * 60 * 10);
    for (; sessions < due; sessions++)
      serve(sessions);
    example_sleep(&o, 0.1);
  }
  std::printf("shared_ptr_cycle: %u sessions served\n", sessions);
  return 0;
}
