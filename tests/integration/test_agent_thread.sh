#!/usr/bin/env bash
# test_agent_thread.sh - the agent's thread and who can take it (issue 13): with
# LEAKWATCH_CONTROL=0 there is no thread at all, so a program under a strict seccomp filter
# (its own system calls plus those docs/OPTIONS.md lists) runs and writes its exit
# profile; a program with a large static TLS still gets its thread; and HTTP clients
# waiting on ?seconds= windows, hung up or not, never starve the owner's control socket.
# Each runs at the default rate and at rate 1. LW_TEST_AGENT=path/to/libleakwatch.so runs
# the same checks against another agent (an older build, to see them fail).
. "$(dirname "$0")/lib.sh"
lw_test_begin agent-thread
AGENT=${LW_TEST_AGENT:-$AGENT}

threads_of() { ls /proc/"$1"/task 2>/dev/null | wc -l; }
socket_fds() { find /proc/"$1"/fd -lname 'socket:*' 2>/dev/null | wc -l; }

# Waits (20 s at most) until `leakwatch stats PID` answers.
stats_answers() {
  for _ in $(seq 100); do
    "$LW" stats "$1" >stats.out 2>stats.err && return 0
    kill -0 "$1" 2>/dev/null || break
    sleep 0.2
  done
  echo "leakwatch stats $1: $(cat stats.err)" >&2
  return 1
}

for rate in 512k 1; do
  export LEAKWATCH_RATE=$rate
  # ---- LEAKWATCH_CONTROL=0: no thread, even with the history on ------------------------
  LD_PRELOAD="$AGENT" LEAKWATCH_CONTROL=0 LEAKWATCH_HISTORY_INTERVAL=1s "$FIX/live_service" 20 \
    >nothread.out 2>nothread.err &
  svc=$!
  pids+=("$svc")
  for _ in $(seq 100); do grep -q ready nothread.out 2>/dev/null && break; sleep 0.05; done
  sleep 1.5
  check "rate $rate: LEAKWATCH_CONTROL=0: one thread, the program's ($(threads_of "$svc"))" \
    test "$(threads_of "$svc")" = 1
  kill "$svc" 2>/dev/null
  wait "$svc" 2>/dev/null

  # ---- a strict seccomp filter (TSYNC) and LEAKWATCH_CONTROL=0 --------------------------
  if "$FIX/seccomp_strict" 0.1 >seccomp.plain 2>&1; then
    rm -f seccomp.pb.gz
    LD_PRELOAD="$AGENT" LEAKWATCH_CONTROL=0 LEAKWATCH_HISTORY_INTERVAL=1s \
      LEAKWATCH_OUTPUT=seccomp.pb.gz "$FIX/seccomp_strict" 3 >seccomp.out 2>seccomp.err &
    sc=$!
    lw_wait_exit "$sc" 120
    check "rate $rate: under a strict seccomp filter the program exits 0 (status $status: $(tail -c 200 seccomp.err))" \
      test "$status" = 0
    check "rate $rate: ... having run to its end" grep -qx done seccomp.out
    check "rate $rate: ... and its exit profile is written and readable" \
      quiet "$LW" top seccomp.pb.gz
  else
    echo "SKIP: seccomp filters are not available here: $(cat seccomp.plain)"
  fi

  # ---- a static TLS of 768 KiB per thread: the agent's thread still starts -------------
  LD_PRELOAD="$AGENT" "$FIX/big_tls" 30 >tls.out 2>tls.err &
  tls=$!
  pids+=("$tls")
  check "rate $rate: big static TLS: the control socket answers" stats_answers "$tls"
  check "rate $rate: big static TLS: no complaint on stderr ($(head -c 200 tls.err))" \
    test ! -s tls.err
  kill "$tls" 2>/dev/null
  wait "$tls" 2>/dev/null

  # ---- HTTP windows cannot take the control socket's slots -------------------------------
  rm -f http.err
  LD_PRELOAD="$AGENT" LEAKWATCH_HTTP=127.0.0.1:0 "$FIX/live_service" 120 >http.out 2>http.err &
  svc=$!
  pids+=("$svc")
  if lw_wait_http http.err http.out; then
    sockets_before=$(socket_fds "$svc")
    # Sixteen clients ask for an hour-long window and hang up after a second.
    hung=()
    for _ in $(seq 16); do
      curl -s --max-time 1 -o /dev/null "http://$addr/debug/pprof/heap?seconds=3600" &
      hung+=($!)
    done
    wait "${hung[@]}" 2>/dev/null
    check "rate $rate: after 16 hung-up window requests the owner's stats answers" stats_answers "$svc"
    check "rate $rate: ... and /metrics too" \
      test "$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "http://$addr/metrics")" = 200
    dropped=0
    for _ in $(seq 50); do
      [ "$(socket_fds "$svc")" -le "$sockets_before" ] && { dropped=1; break; }
      sleep 0.1
    done
    check "rate $rate: ... and the hung-up windows are dropped ($(socket_fds "$svc") sockets, $sockets_before before)" \
      test "$dropped" = 1
    # Sixteen clients ask for an hour-long window and stay: at most half the HTTP slots
    # wait, the oldest give way with a 503, and the owner and /metrics are still served.
    held=()
    for i in $(seq 16); do
      (printf 'GET /debug/pprof/heap?seconds=3600 HTTP/1.1\r\nHost: x\r\n\r\n'; sleep 20) 2>/dev/null |
        socat -t 20 - "TCP:$addr" >"held.$i" 2>/dev/null &
      held+=($!)
      pids+=($!)
    done
    refused=0
    for _ in $(seq 100); do
      refused=$(grep -l '^HTTP/1.1 503' held.* 2>/dev/null | wc -l)
      [ "$refused" -ge 8 ] && break
      sleep 0.1
    done
    check "rate $rate: 16 waiting windows: the 8 oldest gave way with a 503 ($refused)" test "$refused" -ge 8
    check "rate $rate: ... the owner's stats answers" stats_answers "$svc"
    check "rate $rate: ... /metrics answers" \
      test "$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "http://$addr/metrics")" = 200
    check "rate $rate: ... leakwatch ps lists it" bash -c "'$LW' ps --json | grep -q '\"pid\":$svc[,}]'"
    # A control client that shuts down its sending side (socat does) still gets its window.
    printf 'LEAKWATCH/1 heap-window 1\n' |
      socat -t 15 - "UNIX-CONNECT:$XDG_RUNTIME_DIR/leakwatch/$svc.sock" 2>/dev/null |
      head -c 100 >halfclose.out
    check "rate $rate: a half-closed control client gets its heap-window ($(head -1 halfclose.out))" \
      grep -qa '^LEAKWATCH/1 OK application/x-pprof-gzip' halfclose.out
    for p in "${held[@]}"; do kill "$p" 2>/dev/null; done
  else
    check "rate $rate: the HTTP endpoint starts ($(head -c 200 http.err))" false
  fi
  kill "$svc" 2>/dev/null
  wait "$svc" 2>/dev/null
done

lw_test_end
