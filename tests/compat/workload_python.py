"""workload_python.py - the python3 workload of the compatibility suite (run_compat.sh).

Dicts, lists, sets, strings, json, sorting and 8 threads sharing work through a queue; the
printed results do not depend on scheduling (every thread's output is collected, sorted
and summarised), so a run with the agent must print exactly what a run without it prints.
Run with PYTHONHASHSEED=0.
"""
import collections
import hashlib
import json
import queue
import threading


def word(i):
    return "w%x" % ((i * 2654435761) % 1000003)


def build_index(n):
    index = collections.defaultdict(list)
    for i in range(n):
        index[word(i)[:4]].append(i)
    return index


def worker(tasks, results, lock):
    while True:
        item = tasks.get()
        if item is None:
            return
        start, count = item
        counts = collections.Counter(word(i)[-2:] for i in range(start, start + count))
        data = {str(i): [i, i * i, word(i)] for i in range(start, start + count, 7)}
        text = json.dumps(data, sort_keys=True)
        digest = hashlib.sha256(text.encode()).hexdigest()
        with lock:
            results.append((start, digest, sum(counts.values()), len(counts)))


def main():
    index = build_index(120000)
    sizes = sorted(len(v) for v in index.values())
    print("index keys", len(index), "largest", sizes[-3:], "smallest", sizes[:3])

    items = [(word(i), i) for i in range(150000)]
    items.sort()
    print("sorted first", items[:2], "last", items[-1])
    uniq = set(w for w, _ in items)
    print("distinct words", len(uniq))

    tasks, results, lock = queue.Queue(), [], threading.Lock()
    threads = [threading.Thread(target=worker, args=(tasks, results, lock)) for _ in range(8)]
    for t in threads:
        t.start()
    for start in range(0, 160000, 4000):
        tasks.put((start, 4000))
    for _ in threads:
        tasks.put(None)
    for t in threads:
        t.join()
    results.sort()
    total = hashlib.sha256("".join(r[1] for r in results).encode()).hexdigest()
    print("thread results", len(results), "counted", sum(r[2] for r in results), "digest", total)

    grid = [[(x * y) % 17 for x in range(300)] for y in range(300)]
    print("grid sum", sum(map(sum, grid)), "max row", max(map(sum, grid)))
    text = " ".join(word(i) for i in range(40000))
    print("text", len(text), text.count("w1"), text.upper()[:20])


if __name__ == "__main__":
    main()
