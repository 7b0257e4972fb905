"""memcached_client.py - drives memcached for the compatibility suite (run_compat.sh).

    memcached_client.py PORT

Four client threads, each on its own connection and its own keys, use the text protocol:
set, get, multi-get, incr, append, delete, and values from 10 bytes to 100 KB. Each thread
checks every reply against what it stored; the printed summary (counts and a digest of
every value read back, thread by thread) and the server's item counts afterwards do not
depend on scheduling, so a run with the agent in memcached prints exactly the same. Exits 1
when any reply was wrong, so a server that is wrong the same way twice still fails.
"""
import hashlib
import socket
import sys
import threading


class Client:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.buf = b""

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("server closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def exact(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("server closed the connection")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def store(self, verb, key, value):
        self.sock.sendall(b"%s %s 0 0 %d\r\n%s\r\n" % (verb, key, len(value), value))
        return self.line()

    def get(self, *keys):
        self.sock.sendall(b"get " + b" ".join(keys) + b"\r\n")
        found = {}
        while True:
            line = self.line()
            if line == b"END":
                return found
            _, key, _, size = line.split()
            found[key] = self.exact(int(size) + 2)[:-2]

    def command(self, text):
        self.sock.sendall(text + b"\r\n")
        return self.line()


def value_for(t, i):
    size = 10 + (i * 7919 + t * 104729) % (100000 if i % 50 == 0 else 2000)
    return (b"%d-%d:" % (t, i) * (size // 8 + 1))[:size]


def run_thread(port, t, results):
    c = Client(port)
    digest = hashlib.sha256()
    errors = 0
    for i in range(3000):
        key = b"t%d:k%d" % (t, i)
        if c.store(b"set", key, value_for(t, i)) != b"STORED":
            errors += 1
        if i % 3 == 0:
            got = c.get(key).get(key)
            errors += got != value_for(t, i)
            digest.update(got or b"")
        if i % 10 == 9:
            keys = [b"t%d:k%d" % (t, j) for j in range(i - 9, i + 1)]
            got = c.get(*keys)
            # Keys j % 11 == 0 were deleted, but key i only after this get.
            errors += len(got) != sum(1 for j in range(i - 9, i + 1) if j % 11 != 0 or j == i)
            for k in keys:
                digest.update(got.get(k, b""))
        if i % 7 == 0:
            errors += c.store(b"append", key, b"+tail") != b"STORED"
        if i % 11 == 0:
            errors += c.command(b"delete " + key) != b"DELETED"
    c.store(b"set", b"t%d:counter" % t, b"0")
    for n in range(1, 501):
        errors += c.command(b"incr t%d:counter 3" % t) != b"%d" % (3 * n)
    counter = c.get(b"t%d:counter" % t)[b"t%d:counter" % t]
    errors += counter != b"1500"
    results[t] = (errors, counter.decode(), digest.hexdigest())


def main():
    port = int(sys.argv[1])
    results = {}
    threads = [threading.Thread(target=run_thread, args=(port, t, results)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for t in sorted(results):
        errors, counter, digest = results[t]
        print("thread %d: errors %d counter %s digest %s" % (t, errors, counter, digest[:16]))
    c = Client(port)
    c.sock.sendall(b"stats\r\n")
    stats = {}
    while True:
        line = c.line()
        if line == b"END":
            break
        _, name, value = line.decode().split(" ", 2)
        stats[name] = value
    for name in ("curr_items", "total_items", "cmd_get", "cmd_set", "get_hits", "get_misses",
                 "delete_hits", "incr_hits"):
        print("%s %s" % (name, stats.get(name)))
    wrong = sum(errors for errors, _, _ in results.values())
    if wrong or len(results) != 4:
        sys.exit("memcached_client.py: %d wrong replies, %d of 4 threads finished"
                 % (wrong, len(results)))


if __name__ == "__main__":
    main()
