"""nginx_client.py - drives nginx for the compatibility suite (run_compat.sh).

    nginx_client.py PORT WWW_DIR [REQUESTS_PER_THREAD]

Four threads, each on its own keep-alive connection, send a fixed cycle of requests: static
files (small, 800 KB text with and without gzip, 1 MB binary), a byte range, HEAD, a
directory listing, a redirect, a missing file and a POST nginx refuses. Every reply is
checked against what the file on disk says it must be; the summary printed (one line per
kind of request: count, status, digest of the bodies) does not depend on scheduling, so a
run with the agent in nginx prints exactly the same. Exits 1 when any reply was wrong.
"""
import gzip
import hashlib
import http.client
import os
import sys
import threading

# (method, path, extra headers, expected status)
REQUESTS = [
    ("GET", "/index.html", {}, 200),
    ("GET", "/data.txt", {}, 200),
    ("GET", "/data.txt", {"Accept-Encoding": "gzip"}, 200),
    ("GET", "/blob.bin", {}, 200),
    ("GET", "/blob.bin", {"Range": "bytes=1000-1999"}, 206),
    ("HEAD", "/data.txt", {}, 200),
    ("GET", "/listing/", {}, 200),
    ("GET", "/redirect", {}, 301),
    ("GET", "/missing.html", {}, 404),
    ("POST", "/index.html", {"Content-Type": "text/plain"}, 405),
]


def expected_body(www, method, path, headers):
    """The body a correct server sends, or None where only the status is checked."""
    if method != "GET" or path in ("/listing/", "/redirect", "/missing.html"):
        return b"" if method == "HEAD" else None
    with open(os.path.join(www, path.lstrip("/")), "rb") as f:
        data = f.read()
    if "Range" in headers:
        return data[1000:2000]
    return data


def send(conn, method, path, headers):
    body_out = b"x" * 100 if method == "POST" else None
    conn.request(method, path, body=body_out, headers=headers)
    reply = conn.getresponse()
    return reply, reply.read()


def run_thread(port, www, t, count, results):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    tally = {}
    errors = 0
    for i in range(count):
        k = (i + t) % len(REQUESTS)
        method, path, headers, status = REQUESTS[k]
        try:
            reply, body = send(conn, method, path, headers)
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            # A worker retiring after a reload closes its idle keep-alive connections: send
            # again on a new one, as HTTP clients do. A failure there is an error.
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            reply, body = send(conn, method, path, headers)
        if reply.getheader("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        want = expected_body(www, method, path, headers)
        errors += reply.status != status or (want is not None and body != want)
        n, digest = tally.get(k, (0, hashlib.sha256()))
        digest.update(b"%d:" % reply.status + body)
        tally[k] = (n + 1, digest)
        if reply.getheader("Connection", "").lower() == "close":
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    results[t] = (errors, tally)


def main():
    port, www = int(sys.argv[1]), sys.argv[2]
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 400
    results = {}
    threads = [threading.Thread(target=run_thread, args=(port, www, t, count, results))
               for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    # Per kind of request, over all threads: each thread's digest, in thread order.
    for k, (method, path, headers, status) in enumerate(REQUESTS):
        n = sum(results[t][1][k][0] for t in sorted(results) if k in results[t][1])
        digest = hashlib.sha256()
        for t in sorted(results):
            if k in results[t][1]:
                digest.update(results[t][1][k][1].digest())
        extra = ",".join("%s=%s" % kv for kv in sorted(headers.items()))
        print("%s %s %s: %d requests, status %d, digest %s"
              % (method, path, extra or "-", n, status, digest.hexdigest()[:16]))
    wrong = sum(errors for errors, _ in results.values())
    if wrong or len(results) != 4:
        sys.exit("nginx_client.py: %d wrong replies, %d of 4 threads finished"
                 % (wrong, len(results)))


if __name__ == "__main__":
    main()
