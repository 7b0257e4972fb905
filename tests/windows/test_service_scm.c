/*
 * test_service_scm.c - the exporter's life as a Windows service, driven through the SCM
 * API the way the Service Control Manager drives it (one user process does it all, which
 * also keeps wine's server alive: WINDOWS.md section 3):
 *   `leakwatch service install` -> StartService: START_PENDING -> RUNNING with a pid ->
 *   /metrics answers -> a scrape is in flight (request half sent) when ControlService(STOP)
 *   arrives -> the scrape still gets its whole answer -> STOPPED with exit code 0 -> the
 *   log says so -> `leakwatch service uninstall` removes it.
 * Also: `leakwatch exporter --service` started by hand fails with the SCM's error 1063.
 */
#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwtest_windows.h"

#define NAME "lw-test-exporter"
#define PORT 19798

static char leakwatch[MAX_PATH], log_path[MAX_PATH];

static int run(char **argv, char *out, size_t size) {
  int code = lw_test_run_capture(argv, NULL, out, size);
  printf("  $ %s %s ... -> %d\n%s", argv[1], argv[2], code, out);
  return code;
}

static SOCKET connect_local(void) {
  SOCKET s = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_port = htons(PORT);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(s, (struct sockaddr *)&a, sizeof a) != 0) {
    closesocket(s);
    return INVALID_SOCKET;
  }
  return s;
}

static size_t read_all(SOCKET s, char *buf, size_t size) {
  size_t len = 0;
  int n;
  while (len < size - 1 && (n = recv(s, buf + len, (int)(size - 1 - len), 0)) > 0)
    len += (size_t)n;
  buf[len] = '\0';
  return len;
}

static DWORD state_of(SC_HANDLE service, SERVICE_STATUS_PROCESS *st) {
  DWORD needed;
  if (!QueryServiceStatusEx(service, SC_STATUS_PROCESS_INFO, (BYTE *)st, sizeof *st, &needed))
    return 0;
  return st->dwCurrentState;
}

static DWORD wait_leave(SC_HANDLE service, DWORD pending, SERVICE_STATUS_PROCESS *st) {
  for (int i = 0; i < 150 && state_of(service, st) == pending; i++)
    Sleep(100);
  return st->dwCurrentState;
}

int main(int argc, char **argv) {
  (void)argc;
  WSADATA wsa;
  WSAStartup(MAKEWORD(2, 2), &wsa);
  snprintf(leakwatch, sizeof leakwatch, "%s", argv[0]);
  char *slash = strrchr(leakwatch, '\\') ? strrchr(leakwatch, '\\') : strrchr(leakwatch, '/');
  size_t dir_len = slash ? (size_t)(slash - leakwatch) : 0;
  snprintf(leakwatch + dir_len, sizeof leakwatch - dir_len, "\\..\\bin\\leakwatch.exe");
  char temp[MAX_PATH];
  GetTempPathA(sizeof temp, temp);
  snprintf(log_path, sizeof log_path, "%slw-test-exporter-%lu.log", temp, GetCurrentProcessId());
  DeleteFileA(log_path);
  char out[8192], pid_text[16], listen[32];
  snprintf(pid_text, sizeof pid_text, "%lu", GetCurrentProcessId());
  snprintf(listen, sizeof listen, "127.0.0.1:%d", PORT);

  /* Started by hand, --service is refused with the SCM's reason. */
  char *by_hand[] = {leakwatch, "exporter", "--service", "--pid", pid_text, NULL};
  CHECK(run(by_hand, out, sizeof out) == 1, "exit status 1");
  CHECK(strstr(out, "not started by the Service Control Manager") != NULL, "message: %s", out);

  char *install[] = {leakwatch, "service", "install", "--service-name", NAME, "--start", "demand",
                     "--log", log_path, "--", "--pid", pid_text, "--listen", listen, NULL};
  int rc = run(install, out, sizeof out);
  CHECK(rc == 0, "install exit %d", rc);
  char *again[] = {leakwatch, "service", "install", "--service-name", NAME, "--", "--pid",
                   pid_text, NULL};
  CHECK(run(again, out, sizeof out) == 1 && strstr(out, "already installed"), "second install");

  SC_HANDLE scm = OpenSCManagerW(NULL, NULL, SC_MANAGER_ALL_ACCESS);
  SC_HANDLE service = scm ? OpenServiceW(scm, L"" NAME, SERVICE_ALL_ACCESS) : NULL;
  CHECK(service != NULL, "OpenService: error %lu", GetLastError());
  if (!service)
    return lw_test_finish();
  SERVICE_STATUS_PROCESS st;
  CHECK(state_of(service, &st) == SERVICE_STOPPED, "installed and stopped");
  CHECK(StartServiceW(service, 0, NULL), "StartService: error %lu", GetLastError());
  DWORD first = state_of(service, &st);
  printf("  state right after StartService: %lu\n", first);
  CHECK(first == SERVICE_START_PENDING || first == SERVICE_RUNNING, "start pending or running");
  CHECK(wait_leave(service, SERVICE_START_PENDING, &st) == SERVICE_RUNNING, "running: state %lu",
        st.dwCurrentState);
  CHECK(st.dwProcessId != 0, "running with a pid");
  CHECK(st.dwControlsAccepted & SERVICE_ACCEPT_STOP, "accepts STOP");
  CHECK(st.dwControlsAccepted & SERVICE_ACCEPT_SHUTDOWN, "accepts SHUTDOWN");
  printf("  service pid %lu\n", st.dwProcessId);

  /* A whole scrape. */
  static char reply[1 << 20];
  SOCKET s = INVALID_SOCKET;
  for (int i = 0; i < 50 && s == INVALID_SOCKET; i++) {
    s = connect_local();
    if (s == INVALID_SOCKET)
      Sleep(100);
  }
  CHECK(s != INVALID_SOCKET, "connect to %s", listen);
  const char *request = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
  send(s, request, (int)strlen(request), 0);
  read_all(s, reply, sizeof reply);
  closesocket(s);
  CHECK(strncmp(reply, "HTTP/1.1 200", 12) == 0, "200: %.40s", reply);
  CHECK(strstr(reply, "process_open_handles_by_type{pid=\"") != NULL, "handles by type served");
  CHECK(strstr(reply, "leakwatch_exporter_scrapes_total 1") != NULL, "first scrape");

  /* A scrape in flight when STOP arrives still gets its answer. */
  s = connect_local();
  CHECK(s != INVALID_SOCKET, "second connect");
  send(s, "GET /metrics HTTP/1.1\r\n", 23, 0);
  Sleep(300); /* accepted, waiting for the rest of the head */
  SERVICE_STATUS plain;
  CHECK(ControlService(service, SERVICE_CONTROL_STOP, &plain), "ControlService(STOP): %lu",
        GetLastError());
  printf("  state after STOP: %lu\n", plain.dwCurrentState);
  CHECK(plain.dwCurrentState == SERVICE_STOP_PENDING || plain.dwCurrentState == SERVICE_STOPPED,
        "stop pending");
  Sleep(300);
  send(s, "Host: x\r\n\r\n", 11, 0);
  read_all(s, reply, sizeof reply);
  closesocket(s);
  CHECK(strncmp(reply, "HTTP/1.1 200", 12) == 0, "scrape in flight answered: %.40s", reply);
  CHECK(strstr(reply, "leakwatch_exporter_scrapes_total 2") != NULL, "the second scrape");
  CHECK(wait_leave(service, SERVICE_STOP_PENDING, &st) == SERVICE_STOPPED, "stopped: %lu",
        st.dwCurrentState);
  CHECK(st.dwWin32ExitCode == NO_ERROR, "exit code %lu", st.dwWin32ExitCode);
  CHECK(connect_local() == INVALID_SOCKET, "no longer listening");

  FILE *f = fopen(log_path, "rb");
  size_t n = f ? fread(out, 1, sizeof out - 1, f) : 0;
  out[n] = '\0';
  if (f)
    fclose(f);
  printf("  log:\n%s", out);
  CHECK(strstr(out, "listening on http://127.0.0.1:19798/metrics") != NULL, "log: listening");
  CHECK(strstr(out, "stopping on SERVICE_CONTROL_STOP") != NULL, "log: stop control");
  CHECK(strstr(out, "leakwatch exporter: stopped") != NULL, "log: stopped");

  CloseServiceHandle(service);
  char *uninstall[] = {leakwatch, "service", "uninstall", "--service-name", NAME, NULL};
  CHECK(run(uninstall, out, sizeof out) == 0, "uninstall");
  service = OpenServiceW(scm, L"" NAME, SERVICE_QUERY_STATUS);
  CHECK(!service && GetLastError() == ERROR_SERVICE_DOES_NOT_EXIST, "gone after uninstall");
  CloseServiceHandle(scm);
  DeleteFileA(log_path);
  return lw_test_finish();
}
